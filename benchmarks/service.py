"""Benchmark: REST service latency and throughput on loopback, next to a trivial endpoint.

The server (uvicorn, one worker, one process) serves a synthetic run of
``--customers`` customers (every contract output: features, segments, CLV,
propensity, recommendations). A separate client process (this one) sends
requests **open-loop at a fixed rate** (each request is sent at its scheduled
time whether or not earlier ones finished) for ``--seconds`` per case, so
queueing shows up in the latency instead of being hidden. Latency is measured
from the scheduled send time to the complete response.

Cases: ``trivial`` (a FastAPI endpoint returning a constant: the limit of the
stack), ``customer`` (GET /v1/customers/{id}: key check, rate limit, audit
entry, run lookup) and ``recommendations`` (GET .../recommendations?n=10), at
each rate of ``--rates``. Customer ids are drawn at random (seeded).

Usage::

    .venv/bin/python benchmarks/service.py [--customers 50000] [--rates 100 300] [--seconds 10]

Goal (issue 9): p99 <= 20 ms at 300 requests/s for customer lookup on 2 cores.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _machine import describe, wait_until_serving

MAX_REQUESTS_PER_CASE = 20_000


def build_workspace(root: Path, n_customers: int, seed: int = 0) -> tuple[str, list[str]]:
    """A workspace with one promoted synthetic run and an admin key; returns (key, customer ids)."""
    import pandas as pd

    from targetwise.config import get_settings
    from targetwise.io.keys import KeyStore
    from targetwise.io.runs import RunStore
    from targetwise.io.workspace import Workspace

    rng = np.random.default_rng(seed)
    settings = get_settings(workspace=root / "ws", duckdb_threads=1)
    ws = Workspace.init(settings.workspace, settings)
    ids = [f"C{i:07d}" for i in range(n_customers)]
    n_products = 2000
    writer = RunStore(ws).begin(as_of="2024-01-01", parameters={"benchmark": True})
    writer.write_table("features/customer_features.parquet", pd.DataFrame({
        "customer_id": ids, "recency_days": rng.exponential(60, n_customers), "frequency": rng.integers(1, 30, n_customers),
        "monetary_total": rng.gamma(2, 200, n_customers), "monetary_mean": rng.gamma(2, 40, n_customers),
        "tenure_days": rng.uniform(0, 900, n_customers), "orders_90d": rng.integers(0, 5, n_customers),
        "distinct_products": rng.integers(1, 80, n_customers), "returns_rate": rng.uniform(0, 0.2, n_customers),
        "top_category": rng.choice(["home", "garden", "kitchen"], n_customers)}))
    names = np.array(["Big spenders", "Regulars", "Lapsed", "New"])
    cluster = rng.integers(0, 4, n_customers)
    writer.write_table("segments/customer_segments.parquet", pd.DataFrame({
        "customer_id": ids, "rfm_score": rng.choice(["555", "333", "111"], n_customers),
        "rfm_segment": rng.choice(["Champions", "Loyal", "At Risk"], n_customers), "cluster": cluster,
        "cluster_name": names[cluster], "reason": "bought often, recently"}))
    writer.write_json("segments/profiles.json", [
        {"name": str(n), "cluster": i, "size": int((cluster == i).sum()), "share": float((cluster == i).mean()),
         "revenue_share": 0.25, "description": "synthetic", "features": {}} for i, n in enumerate(names)])
    clv = rng.gamma(2, 100, n_customers)
    writer.write_table("clv/customer_clv.parquet", pd.DataFrame({
        "customer_id": ids, "p_alive": rng.uniform(0, 1, n_customers), "expected_purchases": rng.gamma(1, 2, n_customers),
        "expected_spend": clv * 1.05, "clv": clv, "clv_lower": clv * 0.7, "clv_upper": clv * 1.4}))
    drivers = json.dumps([{"feature": "recency_days", "value": 3.0, "contribution": 0.3, "text": "bought 3 days ago"},
                          {"feature": "frequency", "value": 12, "contribution": 0.2, "text": "12 orders so far"},
                          {"feature": "orders_90d", "value": 2, "contribution": 0.1, "text": "2 orders in 90 days"}])
    writer.write_table("propensity/scores.parquet", pd.DataFrame({
        "customer_id": ids, "p_purchase_30d": rng.uniform(0, 1, n_customers), "p_churn_90d": rng.uniform(0, 1, n_customers),
        "drivers_purchase_30d": drivers, "expected_days_to_next_order": rng.gamma(2, 20, n_customers)}))
    per = 10
    writer.write_table("recommendations/recommendations.parquet", pd.DataFrame({
        "customer_id": np.repeat(ids, per), "rank": np.tile(np.arange(1, per + 1), n_customers),
        "product_id": [f"P{p:05d}" for p in rng.integers(0, n_products, n_customers * per)],
        "score": rng.uniform(0, 1, n_customers * per), "reason": "bought with what you bought"}))
    writer.write_table("recommendations/popular.parquet", pd.DataFrame({
        "rank": np.arange(1, 51), "product_id": [f"P{p:05d}" for p in range(50)], "score": np.linspace(100, 1, 50)}))
    RunStore(ws).promote(writer.commit().run_id)
    _, token = KeyStore(ws).create(scope="admin", name="benchmark")
    return token, ids


def serve(workspace: str, port: int) -> None:
    """Server process: the targetwise app plus a trivial endpoint, uvicorn with one worker."""
    import uvicorn

    from targetwise.config import get_settings
    from targetwise.io.workspace import Workspace
    from targetwise.service.app import create_app

    settings = get_settings(workspace=workspace, duckdb_threads=1, api_rate_limit_per_minute=10_000_000)
    app = create_app(settings, workspace=Workspace.open(workspace, settings))

    @app.get("/bench/trivial", include_in_schema=False)
    def trivial() -> dict[str, str]:
        return {"status": "ok"}

    uvicorn.run(app, host="127.0.0.1", port=port, workers=1, log_level="warning", access_log=False)


class _Connection:
    """One keep-alive HTTP/1.1 connection: a raw asyncio stream (far cheaper than a client library)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    async def get(self, path: str, host: str, token: str) -> int:
        self.writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nX-API-Key: {token}\r\n\r\n".encode())
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        length = 0
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":", 1)[1])
        await self.reader.readexactly(length)
        return status


async def drive(base: str, paths: list[str], token: str, rate: float, seconds: float, connections: int = 64) -> dict[str, float]:
    host, port = base.removeprefix("http://").split(":")
    n = min(int(rate * seconds), MAX_REQUESTS_PER_CASE)
    pool: asyncio.Queue[_Connection] = asyncio.Queue()
    for _ in range(connections):
        pool.put_nowait(_Connection(*await asyncio.open_connection(host, int(port))))
    latencies: list[float] = []
    errors = 0
    for path in paths[:20]:  # warm-up: load the run's tables
        conn = await pool.get()
        await conn.get(path, host, token)
        pool.put_nowait(conn)
    start = time.perf_counter() + 0.05

    async def one(i: int) -> None:
        nonlocal errors
        scheduled = start + i / rate
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        conn = await pool.get()  # waiting for a free connection counts as latency
        try:
            if await conn.get(paths[i % len(paths)], host, token) != 200:
                errors += 1
        except (OSError, asyncio.IncompleteReadError, ValueError):
            errors += 1
        finally:
            pool.put_nowait(conn)
        latencies.append(time.perf_counter() - scheduled)

    await asyncio.gather(*(one(i) for i in range(n)))
    elapsed = time.perf_counter() - start
    while not pool.empty():
        pool.get_nowait().writer.close()
    ms = np.array(latencies) * 1000
    return {"requests": n, "errors": errors, "throughput": n / elapsed, "p50": float(np.percentile(ms, 50)),
            "p95": float(np.percentile(ms, 95)), "p99": float(np.percentile(ms, 99)), "mean": float(statistics.fmean(ms))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=50_000)
    parser.add_argument("--rates", type=float, nargs="+", default=[100, 300])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--serve", nargs=2, metavar=("WORKSPACE", "PORT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve[0], int(args.serve[1]))
        return
    print(describe())
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        token, ids = build_workspace(Path(tmp), args.customers)
        print(f"synthetic run: {args.customers:,} customers, 10 recommendations each ({time.perf_counter() - t0:.1f} s to build)")
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        server = subprocess.Popen([sys.executable, __file__, "--serve", str(Path(tmp) / "ws"), str(port)],
                                  env={**os.environ, "PYTHONUNBUFFERED": "1"})
        base = f"http://127.0.0.1:{port}"
        try:

            wait_until_serving(base, server)
            rng = np.random.default_rng(1)
            sample = [ids[i] for i in rng.integers(0, len(ids), 5000)]
            cases = {
                "trivial": ["/bench/trivial"],
                "customer": [f"/v1/customers/{c}" for c in sample],
                "recommendations": [f"/v1/customers/{c}/recommendations?n=10" for c in sample],
            }
            print(f"\nopen-loop, {args.seconds:.0f} s per case, uvicorn 1 worker, client in a separate process")
            header = f"{'case':<16}{'rate/s':>8}{'requests':>10}{'errors':>8}{'achieved/s':>12}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}"
            print(header)
            print("-" * len(header))
            for rate in args.rates:
                for name, paths in cases.items():
                    r = asyncio.run(drive(base, paths, token, rate, args.seconds))
                    print(f"{name:<16}{rate:>8.0f}{r['requests']:>10}{r['errors']:>8}{r['throughput']:>12.1f}"
                          f"{r['p50']:>9.2f}{r['p95']:>9.2f}{r['p99']:>9.2f}")
        finally:
            server.terminate()
            server.wait(timeout=20)


if __name__ == "__main__":
    main()
