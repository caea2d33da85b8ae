# ruff: noqa: F811  (pytest fixtures imported from service_fixtures)
"""Atomic promotion under concurrent requests; concurrent event posts lose nothing."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

from fastapi.testclient import TestClient

from service_fixtures import Keys, client, keys, make_run, run_a, service_ws  # noqa: F401
from targetwise.io.runs import RunInfo, RunStore
from targetwise.io.workspace import Workspace


def test_promotion_switches_atomically_under_load(client: TestClient, keys: Keys, service_ws: Workspace, run_a: RunInfo) -> None:
    b = make_run(service_ws, scale=10, shift=0.2)
    expected = {  # every value of a response must come from the run it names
        run_a.run_id: (1200.0, 380.0, 0.7, "P2"),
        b.run_id: (12000.0, 3800.0, 0.7 - 0.2, "P2"),
    }
    store = RunStore(service_ws)
    stop = threading.Event()
    seen: list[tuple[str, tuple]] = []
    lock = threading.Lock()

    def hammer() -> None:
        while not stop.is_set():
            body = client.get("/v1/customers/C1", headers=Keys.header(keys.read)).json()
            values = (body["features"]["monetary_total"], body["clv"]["clv"], body["propensity"]["p_purchase_30d"], "P2")
            with lock:
                seen.append((body["run_id"], values))

    threads = [threading.Thread(target=hammer) for _ in range(4)]
    for t in threads:
        t.start()
    promotions = 0
    while promotions < 400 and (promotions < 20 or len(seen) < 200):  # bounded in count
        store.promote(b.run_id if promotions % 2 == 0 else run_a.run_id)
        promotions += 1
        time.sleep(0.005)
    stop.set()
    for t in threads:
        t.join()
    assert len(seen) >= 200
    assert {run for run, _ in seen} == {run_a.run_id, b.run_id}
    for run, values in seen:
        assert values == expected[run]


def test_concurrent_event_posts_lose_nothing(client: TestClient, keys: Keys, service_ws: Workspace) -> None:
    def post(batch: int) -> int:
        lines = [
            {"customer_id": f"K{batch}", "order_id": f"B{batch}-{i}", "ordered_at": "2011-12-01 10:00:00",
             "product_id": "P1", "quantity": i + 1, "unit_price": 1.25}
            for i in range(5)
        ]
        r = client.post("/v1/events", headers=Keys.header(keys.write), json={"transactions": lines})
        assert r.status_code == 201, r.text
        return r.json()["rows_loaded"]

    with ThreadPoolExecutor(max_workers=8) as pool:
        loaded = list(pool.map(post, range(24)))
    assert loaded == [5] * 24
    with service_ws.connect(read_only=True) as con:
        stored, loads = con.execute(
            "SELECT count(*), count(DISTINCT load_id) FROM transactions WHERE customer_id LIKE 'K%'"
        ).fetchone()
    assert (stored, loads) == (120, 24)
