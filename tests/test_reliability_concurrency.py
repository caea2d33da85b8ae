# ruff: noqa: F811  (pytest fixtures imported from service_fixtures)
"""The service under mixed load: lookups keep answering while another process ingests, runs and promotes;
event posts racing with lookups and with another writer lose nothing.

Extends ``test_service_concurrency.py`` (promotion switch under lookups; 24
parallel clean event posts) with real ``targetwise ingest`` / ``targetwise run``
processes holding the workspace, and with posts of partly invalid lines that
are retried on 503 the way a client should.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from service_fixtures import Keys, client, keys, run_a, service_ws  # noqa: F401
from targetwise.io.runs import RunInfo, RunStore
from targetwise.io.workspace import Workspace

CLI = [sys.executable, "-c", "from targetwise.cli import main; main()"]
ENV = {**os.environ, "TARGETWISE_DUCKDB_THREADS": "1", "OMP_NUM_THREADS": "1"}


def _shop_csv(path: Path, *, n_lines: int, seed: int) -> Path:
    """Transactions of 600 customers (C1..C600, so the fixture's C1 is among them) over 2011."""
    rng = np.random.default_rng(seed)
    customers = rng.integers(1, 601, n_lines)
    days = rng.integers(0, 340, n_lines)
    frame = pd.DataFrame({
        "customer_id": [f"C{c}" for c in customers],
        "order_id": [f"O{c}-{d}" for c, d in zip(customers, days, strict=True)],
        "ordered_at": [str(np.datetime64("2011-01-01") + int(d)) + " 12:00" for d in days],
        "product_id": [f"P{p}" for p in rng.integers(1, 4, n_lines)],
        "quantity": rng.integers(1, 6, n_lines),
        "unit_price": np.round(rng.uniform(1, 30, n_lines), 2),
    })
    frame.to_csv(path, index=False)
    return path


class Hammer:
    """Threads that GET a customer and their recommendations until stopped; records every answer."""

    def __init__(self, client: TestClient, token: str, customer: str, threads: int = 3) -> None:
        self.client, self.token, self.customer = client, token, customer
        self.stop = threading.Event()
        self.seen: list[tuple[float, int, str | None, float | None]] = []  # (time, status, run_id, monetary_total)
        self.recommendations: list[tuple[float, int, str | None, None]] = []
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._loop, daemon=True) for _ in range(threads)]

    def _loop(self) -> None:
        while not self.stop.is_set():
            r = self.client.get(f"/v1/customers/{self.customer}", headers=Keys.header(self.token))
            body = r.json()
            money = body.get("features", {}).get("monetary_total") if r.status_code == 200 else None
            rec = self.client.get(f"/v1/customers/{self.customer}/recommendations?n=3", headers=Keys.header(self.token))
            rec_body = rec.json()
            rec_run = rec_body.get("run_id") or rec_body.get("error", {}).get("details", {}).get("run_id")
            with self._lock:
                self.seen.append((time.monotonic(), r.status_code, body.get("run_id"), money))
                self.recommendations.append((time.monotonic(), rec.status_code, rec_run, None))
            time.sleep(0.005)

    def __enter__(self) -> Hammer:
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for t in self._threads:
            t.join(timeout=30)

    def between(self, start: float, end: float) -> list[tuple[float, int, str | None, float | None]]:
        with self._lock:
            return [s for s in self.seen if start <= s[0] <= end]


@pytest.mark.slow
def test_lookups_keep_answering_during_ingest_run_and_promotion(
    client: TestClient, keys: Keys, service_ws: Workspace, run_a: RunInfo, tmp_path: Path
) -> None:
    shop = _shop_csv(tmp_path / "shop.csv", n_lines=20_000, seed=7)
    ws = str(service_ws.path)
    # warm the product-name cache, so no request of ours opens the database while the CLI holds it
    assert client.get("/v1/customers/C1/recommendations", headers=Keys.header(keys.read)).status_code == 200
    with Hammer(client, keys.read, "C1") as hammer:
        time.sleep(0.3)
        t0 = time.monotonic()
        ingest = subprocess.run([*CLI, "ingest", "transactions", str(shop), "--workspace", ws],
                                capture_output=True, text=True, env=ENV, timeout=180)
        t1 = time.monotonic()
        assert ingest.returncode == 0, ingest.stderr
        run = subprocess.run([*CLI, "run", "--workspace", ws, "--stage", "features", "--stage", "segments"],
                             capture_output=True, text=True, env=ENV, timeout=300)
        t2 = time.monotonic()
        assert run.returncode == 0, run.stderr
        time.sleep(0.5)  # requests after the promotion
    new = RunStore(service_ws).active()
    assert new is not None and new.run_id != run_a.run_id
    c1_new = float(new.read_table("features/customer_features.parquet").set_index("customer_id").loc["C1", "monetary_total"])
    expected_money = {run_a.run_id: 1200.0, new.run_id: c1_new}

    during_ingest, during_run = hammer.between(t0, t1), hammer.between(t1, t2)
    assert len(during_ingest) >= 10 and len(during_run) >= 10  # it kept answering ...
    assert {s[1] for s in hammer.seen} == {200}  # ... every request, with no error
    assert {s[2] for s in hammer.seen} == {run_a.run_id, new.run_id}  # old run, then the promoted one
    for _, _, run_id, money in hammer.seen:
        if money is not None:
            assert money == pytest.approx(expected_money[run_id])  # each answer comes from the run it names
    assert {s[2] for s in hammer.seen if s[0] > t2} == {new.run_id}
    # recommendations: served from run a; the new run did not run that stage, so it says so (404, naming it)
    assert {(status, run_id) for _, status, run_id, _ in hammer.recommendations} == {
        (200, run_a.run_id), (404, new.run_id)}
    with service_ws.connect(read_only=True) as con:
        assert con.execute("SELECT count(*) FROM loads WHERE source = ?", [str(shop)]).fetchone()[0] == 1


def _hold_database(path: Path, seconds: float) -> subprocess.Popen[str]:
    """Another process holding the workspace database read-write for ``seconds`` (like `targetwise ingest`)."""
    code = ("import duckdb, sys, time; con = duckdb.connect(sys.argv[1]); con.execute('SELECT 1'); "
            "print('held', flush=True); time.sleep(float(sys.argv[2]))")
    proc = subprocess.Popen([sys.executable, "-c", code, str(path), str(seconds)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    return proc


@pytest.mark.slow
def test_event_posts_racing_lookups_and_another_writer_lose_nothing(
    client: TestClient, keys: Keys, service_ws: Workspace
) -> None:
    n_posts, valid_per_post, invalid_per_post = 40, 4, 1
    busy_answers = 0

    def post(batch: int) -> tuple[int, int]:
        nonlocal busy_answers
        lines = [{"customer_id": f"M{batch}", "order_id": f"M{batch}-{i}", "ordered_at": "2011-11-01 10:00:00",
                  "product_id": "P1", "quantity": i + 1, "unit_price": 1.5} for i in range(valid_per_post)]
        lines += [{"customer_id": f"M{batch}", "order_id": f"M{batch}-bad", "ordered_at": "2011-11-01 10:00:00",
                   "product_id": "P1", "quantity": 1, "unit_price": 0.0}] * invalid_per_post  # quarantined
        for _attempt in range(60):  # a well-behaved client: retry after Retry-After on 503
            r = client.post("/v1/events", headers=Keys.header(keys.write), json={"transactions": lines})
            if r.status_code != 503:
                break
            assert r.json()["error"]["code"] == "workspace_busy" and r.headers["Retry-After"] == "2"
            busy_answers += 1
            time.sleep(0.2)
        assert r.status_code == 201, r.text
        return r.json()["rows_loaded"], r.json()["rows_quarantined"]

    with Hammer(client, keys.read, "C2", threads=2) as hammer:
        holder = _hold_database(service_ws.db_path, 14.0)  # 4 s longer than the service waits (10 s): some 503s, also on a loaded box
        with ThreadPoolExecutor(max_workers=8) as pool:
            results = list(pool.map(post, range(n_posts)))
        holder.wait(timeout=60)
    assert results == [(valid_per_post, invalid_per_post)] * n_posts
    assert busy_answers >= 1  # the other writer really was in the way
    assert len(hammer.seen) >= 20 and {s[1] for s in hammer.seen} == {200}  # lookups never waited on it
    with service_ws.connect(read_only=True) as con:
        stored, loads, distinct = con.execute(
            "SELECT count(*), count(DISTINCT load_id), count(DISTINCT order_id) FROM transactions WHERE customer_id LIKE 'M%'"
        ).fetchone()
        quarantined = con.execute("SELECT count(*) FROM quarantine WHERE customer_id LIKE 'M%'").fetchone()[0]
    assert (stored, loads, distinct) == (n_posts * valid_per_post, n_posts, n_posts * valid_per_post)
    assert quarantined == n_posts * invalid_per_post  # count in == stored + quarantined
