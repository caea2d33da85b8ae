"""Benchmark: POST /v1/events under 20 concurrent clients, grouped commits vs one post at a time.

A fresh workspace holding the bundled UCI Online Retail data (541,909 lines: ~400k stored, ~8k
quarantined) is served by uvicorn (one worker) in its own process, started by this script; the
clients (threads, one keep-alive ``httpx.Client`` each, closed loop) run in this process on
loopback. Each client posts batches of ``--lines`` new transaction lines back to back for
``--seconds``; a 503 is retried after its ``Retry-After`` with the same content (idempotent).
Afterwards the workspace is opened and the stored lines counted: **lost** = lines acknowledged
(201, ``rows_loaded``) minus lines stored; it must be 0, and nothing refused may be stored.

Cases (each on its own copy of the workspace):

* ``one-at-a-time``: the path before group commit (each post one ``ingest_arrow`` with its own
  connection, serialised by the service's database lock), kept here as the baseline;
* ``grouped``: the events writer (``targetwise.io.event_writer``) with the default settings;
* ``backpressure``: grouped with ``TARGETWISE_EVENTS_QUEUE_MAX_POSTS=--bound`` below the number of
  clients: some posts are refused at once with 503 + Retry-After, and retried.

Also the floor on this machine: one transaction of ``--lines`` lines on a kept connection.

Usage::

    .venv/bin/python benchmarks/events_load.py [--clients 20] [--seconds 20] [--lines 5] [--bound 8]

Goal (issue 20): >= 50 posts/s of 5 lines with 20 clients, p99 <= 500 ms, 0 lost.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _machine import describe, wait_until_serving

HOST = "127.0.0.1"  # never anything else
CASES = ("one-at-a-time", "grouped", "backpressure")


def build_workspace(path: Path) -> str:
    """A workspace with the bundled Online Retail transactions and a write key; returns the key."""
    from targetwise.config import get_settings
    from targetwise.io.ingest import ingest
    from targetwise.io.keys import KeyStore
    from targetwise.io.workspace import Workspace
    from targetwise.pipeline.demo import bundled_online_retail

    ws = Workspace.init(path, get_settings(workspace=path))
    csv, mapping = bundled_online_retail()
    ingest(ws, "transactions", csv, mapping=mapping)
    _, token = KeyStore(ws).create(scope="write", name="bench")
    return token


def serve(workspace: Path, port: int, case: str) -> None:
    """The server process: ``targetwise serve``'s app; for ``one-at-a-time`` with the writer swapped
    for the path before group commit (one ingest per post under the database lock)."""
    import uvicorn

    from targetwise.config import get_settings
    from targetwise.io.ingest import ingest_arrow
    from targetwise.io.workspace import Workspace
    from targetwise.service.app import create_app
    from targetwise.service.logs import uvicorn_options

    ws = Workspace.open(workspace, get_settings(workspace=workspace))
    app = create_app(ws.settings, workspace=ws)
    state = app.state.service
    if case == "one-at-a-time":
        state.events.submit = lambda source: state.when_free(  # type: ignore[method-assign]
            lambda: ingest_arrow(ws, "transactions", source), wait_seconds=10.0)
    server = uvicorn.Server(uvicorn.Config(app, host=HOST, port=port, workers=1, log_level="warning",
                                           **uvicorn_options(ws.settings)))
    # uvicorn re-raises SIGTERM after its graceful shutdown; stop it ourselves so the figures get printed
    server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign]
    signal.signal(signal.SIGTERM, lambda *_: setattr(server, "should_exit", True))
    server.run()
    print(json.dumps({"writer": vars(state.events.stats)}), flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def load(url: str, token: str, *, clients: int, seconds: float, lines: int) -> dict[str, Any]:
    """``clients`` threads posting ``lines``-line batches back to back for ``seconds``."""
    import httpx

    latencies: list[float] = []
    refused_latencies: list[float] = []
    statuses: dict[int, int] = {}
    acked_lines = 0
    retry_after: set[str] = set()
    lock = threading.Lock()
    start = time.perf_counter()
    stop_at = start + seconds

    def client(c: int) -> None:
        nonlocal acked_lines
        with httpx.Client(base_url=url, headers={"X-API-Key": token}, timeout=120) as http:
            b = 0
            while time.perf_counter() < stop_at:
                body = {"transactions": [
                    {"customer_id": f"BENCH{c:03d}", "order_id": f"BENCH-{c}-{b}-{j}", "ordered_at": "2011-12-09 12:00:00",
                     "product_id": "85123A", "quantity": j + 1, "unit_price": 2.55} for j in range(lines)]}
                while True:
                    t0 = time.perf_counter()
                    r = http.post("/v1/events", json=body)
                    elapsed = time.perf_counter() - t0
                    with lock:
                        statuses[r.status_code] = statuses.get(r.status_code, 0) + 1
                        if r.status_code == 201:
                            latencies.append(elapsed)
                            acked_lines += r.json()["rows_loaded"]
                        elif r.status_code == 503:
                            refused_latencies.append(elapsed)
                            retry_after.add(r.headers.get("Retry-After", "missing"))
                    if r.status_code != 503:
                        break
                    time.sleep(float(r.headers.get("Retry-After", "1")))
                b += 1

    threads = [threading.Thread(target=client, args=(c,)) for c in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - start
    return {"elapsed": elapsed, "latencies": latencies, "refused_latencies": refused_latencies, "statuses": statuses,
            "acked_lines": acked_lines, "retry_after": sorted(retry_after)}


def stored_lines(workspace: Path) -> int:
    from targetwise.config import get_settings
    from targetwise.io.workspace import Workspace

    ws = Workspace.open(workspace, get_settings(workspace=workspace))
    with ws.connect(read_only=True) as con:
        return int(con.execute("SELECT count(*) FROM transactions WHERE order_id LIKE 'BENCH-%'").fetchone()[0])  # type: ignore[index]


def run_case(template: Path, token: str, case: str, args: argparse.Namespace) -> dict[str, Any]:
    workspace = template.parent / f"ws-{case}"
    shutil.copytree(template, workspace)
    port = free_port()
    env = {**os.environ, "TARGETWISE_API_RATE_LIMIT_PER_MINUTE": "100000000"}
    if case == "backpressure":
        env["TARGETWISE_EVENTS_QUEUE_MAX_POSTS"] = str(args.bound)
    # the server's output goes to a file: a pipe nobody reads fills up (64 KiB of access log) and blocks it
    log_path = template.parent / f"server-{case}.log"
    log_file = log_path.open("w")
    server = subprocess.Popen([sys.executable, __file__, "--serve", str(workspace), str(port), case],
                              env=env, stdout=log_file, stderr=subprocess.STDOUT, text=True)
    try:
        wait_until_serving(f"http://{HOST}:{port}", server, log=log_path)
        result = load(f"http://{HOST}:{port}", token, clients=args.clients, seconds=args.seconds, lines=args.lines)
    finally:
        server.terminate()
        server.wait(timeout=60)
        log_file.close()
    writer = [json.loads(x) for x in log_path.read_text().splitlines() if x.startswith('{"writer"')]
    result["writer"] = writer[-1]["writer"] if writer else {}
    result["stored"] = stored_lines(workspace)
    shutil.rmtree(workspace)
    return result


def floor(template: Path, lines: int, repeats: int = 50) -> dict[str, float]:
    """Median cost of one commit of ``lines`` lines on a kept connection, and of one open + close."""
    from targetwise.config import get_settings
    from targetwise.io.workspace import Workspace

    workspace = template.parent / "ws-floor"
    shutil.copytree(template, workspace)
    ws = Workspace.open(workspace, get_settings(workspace=workspace))
    opens = []
    for _ in range(10):
        t0 = time.perf_counter()
        with ws.connect() as con:
            con.execute("SELECT 1")
        opens.append(time.perf_counter() - t0)
    commits = []
    with ws.connect() as con:
        for i in range(repeats):
            t0 = time.perf_counter()
            con.execute("BEGIN TRANSACTION")
            con.execute(
                "INSERT INTO transactions (customer_id, order_id, ordered_at, product_id, quantity, unit_price, load_id, "
                "source_row) SELECT 'FLOOR', 'FLOOR-' || ? || '-' || r, TIMESTAMP '2011-12-09 12:00:00', '85123A', r + 1, "
                "2.55, 0, r + 1 FROM range(?) t(r)", [i, lines])
            con.execute("COMMIT")
            commits.append(time.perf_counter() - t0)
    shutil.rmtree(workspace)
    return {"commit_ms": float(np.median(commits) * 1000), "open_close_ms": float(np.median(opens) * 1000)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=20.0, help="per case")
    parser.add_argument("--lines", type=int, default=5, help="transaction lines per post")
    parser.add_argument("--bound", type=int, default=8, help="TARGETWISE_EVENTS_QUEUE_MAX_POSTS of the backpressure case")
    parser.add_argument("--cases", nargs="+", choices=CASES, default=list(CASES))
    parser.add_argument("--serve", nargs=3, metavar=("WORKSPACE", "PORT", "CASE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(Path(args.serve[0]), int(args.serve[1]), args.serve[2])
        return
    print(describe())
    with tempfile.TemporaryDirectory() as tmp:
        template = Path(tmp) / "ws"
        t0 = time.perf_counter()
        token = build_workspace(template)
        print(f"workspace: bundled Online Retail ingested in {time.perf_counter() - t0:.1f} s")
        results = {case: run_case(template, token, case, args) for case in args.cases}
        cost = floor(template, args.lines)
    print(f"\nPOST /v1/events: {args.clients} clients (closed loop, httpx, keep-alive) x {args.seconds:g} s per case, "
          f"{args.lines} lines per post, uvicorn (1 worker) on {HOST}")
    header = (f"{'case':<15}{'posts':>7}{'posts/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}{'503s':>6}"
              f"{'503 p99 ms':>11}{'acked':>8}{'stored':>8}{'lost':>6}{'groups':>8}{'posts/group':>12}")
    print(header)
    print("-" * len(header))
    for case, r in results.items():
        ms = np.array(r["latencies"]) * 1000
        refused = np.array(r["refused_latencies"]) * 1000
        w = r["writer"]
        groups = w.get("groups", 0)
        per_group = f"{w['grouped_posts'] / groups:.1f}" if groups else "-"
        print(f"{case:<15}{len(ms):>7}{len(ms) / r['elapsed']:>9.1f}{np.percentile(ms, 50):>9.1f}{np.percentile(ms, 99):>9.1f}"
              f"{ms.max():>9.1f}{len(refused):>6}{(np.percentile(refused, 99) if len(refused) else float('nan')):>11.1f}"
              f"{r['acked_lines']:>8}{r['stored']:>8}{r['acked_lines'] - r['stored']:>6}{groups or '-':>8}{per_group:>12}")
        others = {s: n for s, n in r["statuses"].items() if s not in (201, 503)}
        if others or r["retry_after"]:
            print(f"  {case}: other statuses {others or 'none'}; Retry-After on 503: {r['retry_after'] or '-'}; "
                  f"writer {w}")
    print(f"\nfloor on this machine: one transaction of {args.lines} lines on a kept connection {cost['commit_ms']:.1f} ms "
          f"(median of 50); opening + closing the workspace database {cost['open_close_ms']:.1f} ms")


if __name__ == "__main__":
    main()
