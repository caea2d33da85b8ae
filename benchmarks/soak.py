"""Soak test: a mixed load against `targetwise serve` on 127.0.0.1 for N minutes.

The server is the real command line (``targetwise serve``, one uvicorn worker)
over a synthetic run of ``--customers`` customers (built by
``benchmarks/service.py``). This process sends requests **open-loop** at
``--rate`` per second for ``--minutes`` (bounded: at most ``--max-requests``,
and it stops by itself ``--minutes`` + 2 minutes after the start whatever
happens): event posts of 5 transaction lines each (``--events-share``, default
5 %; every order id unique), the rest customer lookups and recommendations 7:2. It reports requests,
errors (any status other than the expected 200/201, or no answer; goal 0), p50/p99
latency per kind, events acknowledged vs stored in the workspace afterwards
(goal equal) and the server's resident memory (RSS) at start, every 30 s and at
the end.

Only ever talks to 127.0.0.1.

Usage::

    .venv/bin/python benchmarks/soak.py [--minutes 5] [--rate 50] [--events-share 0.05] [--customers 50000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _machine import describe, wait_until_serving
from service import build_workspace

HOST = "127.0.0.1"  # never anything else
LINES_PER_POST = 5


def rss_mib(pid: int) -> float:
    """Resident set size of a process in MiB (Linux /proc)."""
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


class Connection:
    """One keep-alive HTTP/1.1 connection over a raw asyncio stream (cheap on the client side)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, token: str) -> None:
        self.reader, self.writer, self.token = reader, writer, token

    async def request(self, method: str, path: str, body: bytes = b"") -> tuple[int, bytes]:
        head = (f"{method} {path} HTTP/1.1\r\nHost: {HOST}\r\nX-API-Key: {self.token}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n")
        self.writer.write(head.encode() + body)
        raw = await self.reader.readuntil(b"\r\n\r\n")
        status = int(raw.split(b" ", 2)[1])
        length = 0
        for line in raw.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":", 1)[1])
        return status, await self.reader.readexactly(length)


def mix(events_share: float) -> tuple[tuple[str, float], ...]:
    """Request kinds and their shares: lookups and recommendations 7:2, events ``events_share``."""
    rest = 1.0 - events_share
    return (("customer", rest * 7 / 9), ("recommendations", rest * 2 / 9), ("events", events_share))


async def soak(port: int, token: str, ids: list[str], *, rate: float, seconds: float, max_requests: int,
               server_pid: int, seed: int, events_share: float, connections: int = 32) -> dict:
    shares = mix(events_share)
    rng = np.random.default_rng(seed)
    n = min(int(rate * seconds), max_requests)
    kinds = rng.choice([k for k, _ in shares], size=n, p=[p for _, p in shares])
    customers = rng.integers(0, len(ids), n)
    pool: asyncio.Queue[Connection] = asyncio.Queue()
    for _ in range(connections):
        pool.put_nowait(Connection(*await asyncio.open_connection(HOST, port), token))
    latencies: dict[str, list[float]] = {k: [] for k, _ in shares}
    errors: dict[str, int] = {}
    acked = posted = 0
    rss = [(0.0, rss_mib(server_pid))]
    start = time.perf_counter() + 0.1

    async def sample_rss() -> None:
        while True:
            await asyncio.sleep(30)
            rss.append((time.perf_counter() - start, rss_mib(server_pid)))

    async def one(i: int) -> None:
        nonlocal acked, posted
        scheduled = start + i / rate
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        kind = str(kinds[i])
        customer = ids[int(customers[i])]
        conn = await pool.get()
        expected = 200
        try:
            if kind == "customer":
                status, _ = await conn.request("GET", f"/v1/customers/{customer}")
            elif kind == "recommendations":
                status, _ = await conn.request("GET", f"/v1/customers/{customer}/recommendations?n=10")
            else:
                expected = 201
                lines = [{"customer_id": customer, "order_id": f"SOAK-{i}-{j}", "ordered_at": "2023-12-30 10:00:00",
                          "product_id": f"P{j:05d}", "quantity": j + 1, "unit_price": 2.5} for j in range(LINES_PER_POST)]
                posted += LINES_PER_POST
                status, body = await conn.request("POST", "/v1/events", json.dumps({"transactions": lines}).encode())
                if status == 201:
                    acked += json.loads(body)["rows_loaded"]
            if status != expected:
                errors[f"{kind}:{status}"] = errors.get(f"{kind}:{status}", 0) + 1
        except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
            errors[f"{kind}:{type(exc).__name__}"] = errors.get(f"{kind}:{type(exc).__name__}", 0) + 1
        finally:
            pool.put_nowait(conn)
        latencies[kind].append(time.perf_counter() - scheduled)

    sampler = asyncio.create_task(sample_rss())
    await asyncio.gather(*(one(i) for i in range(n)))
    elapsed = time.perf_counter() - start
    sampler.cancel()
    rss.append((elapsed, rss_mib(server_pid)))
    while not pool.empty():
        pool.get_nowait().writer.close()
    return {"requests": n, "elapsed": elapsed, "errors": errors, "latencies": latencies, "rss": rss,
            "events_posted": posted, "events_acked": acked}


def stored_events(workspace: Path) -> int:
    from targetwise.config import get_settings
    from targetwise.io.workspace import Workspace

    ws = Workspace.open(workspace, get_settings(workspace=workspace, duckdb_threads=1))
    with ws.connect(read_only=True) as con:
        return int(con.execute("SELECT count(*) FROM transactions WHERE order_id LIKE 'SOAK-%'").fetchone()[0])  # type: ignore[index]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--rate", type=float, default=50.0, help="requests per second (open loop)")
    parser.add_argument("--events-share", type=float, default=0.05, help="fraction of requests that post events")
    parser.add_argument("--customers", type=int, default=50_000)
    parser.add_argument("--max-requests", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print(describe())
    cli = shutil.which("targetwise", path=str(Path(sys.executable).parent)) or "targetwise"
    with tempfile.TemporaryDirectory() as tmp:
        token, ids = build_workspace(Path(tmp), args.customers)
        workspace = Path(tmp) / "ws"
        with socket.socket() as s:
            s.bind((HOST, 0))
            port = s.getsockname()[1]
        env = {**os.environ, "TARGETWISE_API_RATE_LIMIT_PER_MINUTE": "100000000", "TARGETWISE_DUCKDB_THREADS": "1"}
        server = subprocess.Popen([cli, "serve", "--workspace", str(workspace), "--host", HOST, "--port", str(port)],
                                  env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            import httpx

            wait_until_serving(f"http://{HOST}:{port}", server)
            for c in ids[:20]:  # warm-up: load the run's tables before measuring memory
                httpx.get(f"http://{HOST}:{port}/v1/customers/{c}/recommendations", headers={"X-API-Key": token})
            result = asyncio.run(asyncio.wait_for(
                soak(port, token, ids, rate=args.rate, seconds=args.minutes * 60, max_requests=args.max_requests,
                     server_pid=server.pid, seed=args.seed, events_share=args.events_share),
                timeout=args.minutes * 60 + 120,  # stops by itself whatever happens
            ))
        finally:
            server.terminate()
            server.wait(timeout=30)
        stored = stored_events(workspace)
    print(f"\nsoak: {args.minutes:g} min open-loop at {args.rate:g} req/s ({args.events_share:.0%} event posts) against `targetwise serve` "
          f"(1 worker) on {HOST}, {args.customers:,} customers, client in a separate process")
    header = f"{'kind':<17}{'requests':>9}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}"
    print(header)
    print("-" * len(header))
    for kind, values in result["latencies"].items():
        ms = np.array(values) * 1000
        print(f"{kind:<17}{len(ms):>9}{np.percentile(ms, 50):>9.2f}{np.percentile(ms, 99):>9.2f}{ms.max():>9.1f}")
    every = np.concatenate([np.array(v) for v in result["latencies"].values()]) * 1000
    print(f"{'all':<17}{len(every):>9}{np.percentile(every, 50):>9.2f}{np.percentile(every, 99):>9.2f}{every.max():>9.1f}")
    print(f"\nrequests {result['requests']:,} in {result['elapsed']:.0f} s ({result['requests'] / result['elapsed']:.1f}/s); "
          f"errors {sum(result['errors'].values())} {result['errors'] or ''}")
    print(f"event lines posted {result['events_posted']:,}, acknowledged {result['events_acked']:,}, "
          f"stored {stored:,} ({'equal' if stored == result['events_acked'] else 'MISMATCH'})")
    rss = result["rss"]
    print("server RSS MiB: " + ", ".join(f"{t:.0f}s={m:.0f}" for t, m in rss)
          + f"; growth {rss[-1][1] - rss[0][1]:+.0f} MiB")


if __name__ == "__main__":
    main()
