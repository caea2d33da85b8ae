"""Event posts committed in groups (targetwise.io.event_writer): nothing lost, each post answered for itself,
a group stores exactly what the same posts ingested one by one store, backpressure past the queue bound."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from browser_fixtures import serving
from service_fixtures import Keys
from targetwise.config import get_settings
from targetwise.errors import DataValidationError, TargetwiseError
from targetwise.io import event_writer
from targetwise.io.erasure import erase_customer
from targetwise.io.event_writer import EventWriter
from targetwise.io.ingest import IngestSummary, ingest
from targetwise.io.workspace import Workspace
from targetwise.service.app import create_app
from targetwise.service.schemas import EventIn
from targetwise.usecases.events import load_events

COLUMNS = list(EventIn.model_fields)
SOURCE = "api:events:test"


def line(customer: str | None, order: str, *, product: str = "P1", quantity: Any = 1, price: Any = 1.25,
         at: str = "2011-12-01 10:00:00", channel: str | None = None) -> dict[str, Any]:
    """One line as the API hands it on (EventIn.model_dump: every field, None where not given)."""
    return {"customer_id": customer, "order_id": order, "ordered_at": at, "product_id": product,
            "quantity": quantity, "unit_price": price, "channel": channel, "store": None, "currency": None}


def base_workspace(path: Path, **overrides: Any) -> Workspace:
    """Three stored lines (S1 twice, E1 once) and E1 erased since: a later post of E1 is suppressed."""
    settings = get_settings(workspace=path, duckdb_threads=1, api_rate_limit_per_minute=1_000_000, **overrides)
    ws = Workspace.init(path, settings)
    shop = path.parent / f"{path.name}-shop.csv"
    shop.write_text(
        "customer_id,order_id,ordered_at,product_id,quantity,unit_price\n"
        "S1,O1,2011-11-01 09:00:00,P1,2,3.0\n"
        "S1,O2,2011-11-02 09:00:00,P2,1,5.0\n"
        "E1,O3,2011-11-03 09:00:00,P1,1,2.0\n"
    )
    ingest(ws, "transactions", shop)
    erase_customer(ws, "E1", actor="test")
    return ws


def copy_of(ws: Workspace, path: Path) -> Workspace:
    shutil.copytree(ws.path, path)
    return Workspace.open(path, get_settings(workspace=path, duckdb_threads=1))


# Posts in queue order; what each exercises. A group must give each the outcome it gets one by one.
PRE = [line("K99", "PRE-1"), line("K99", "PRE-2", quantity=2)]  # loaded before the group
POSTS: list[list[dict[str, Any]]] = [
    [line("K0", f"K0-{i}", quantity=i, at=f"2011-12-01 10:0{i}:00") for i in range(1, 6)],  # 0 clean
    [line("K1", "K1-1"), line("K1", "K1-2", quantity=2), line("K1", "K1-3", quantity=3), line("K1", "K1-4", quantity=4),
     line("K1", "K1-5", price="abc"), line("K1", "K1-6", quantity=0)],  # 1 two bad values among good ones
    [line("K2", "K2-1"), line("K2", "K2-1"), line("K2", "K2-2")],  # 2 duplicate within the post
    [line("K0", "K0-1", quantity=1, at="2011-12-01 10:01:00"), line("K3", "K3-1")],  # 3 repeats a line of post 0
    [line("S1", "O1", quantity=2, price=3.0, at="2011-11-01 09:00:00"), line("S1", "S1-9")],  # 4 repeats a stored line
    [line("K0", "C-K0", quantity=-1, at="2011-12-02 10:00:00"),  # 5 returns: of post 0's purchase, of a stored one
     line("S1", "C-S1", product="P2", quantity=-1, price=5.0, at="2011-12-02 11:00:00")],
    [line("K6", "C-K6", quantity=-1, at="2011-12-05 10:00:00")],  # 6 a return whose purchase comes in a later post
    [line("K6", "K6-1", at="2011-12-01 10:00:00")],  # 7 that purchase: post 6 stays unlinked, as one by one
    [line(None, "A-1"), line(None, "A-2", quantity=2), line("K8", "K8-1")],  # 8 anonymous lines
    [line("K9", "K9-1", channel="web"), line("K9", "K9-2", channel="web")],  # 9 other columns: a pass of its own
    [line("K0", f"K0-{i}", quantity=i, at=f"2011-12-01 10:0{i}:00") for i in range(1, 6)],  # 10 = post 0
    [line("K11", "K11-1", price=-1), line("K11", "K11-2", price=-1), line("K11", "K11-3")],  # 11 over the reject fraction
    [line("E1", "E1-1", at="2011-12-03 10:00:00")],  # 12 an erased customer comes back: suppressed
    [line("K13", "K13-1", product="POST", price=18.0), line("K13", "K13-2")],  # 13 a non-product line
    [line("K14", "K14-1", at="2999-01-01 00:00:00"), line("K14", "K14-2")],  # 14 a future timestamp
    [line(None, "A-3"), line(None, "A-4")],  # 15 only anonymous lines (customer_id all null)
    list(PRE),  # 16 loaded before the group
    [line("K11", "K11-3")],  # 17 a valid line of post 11, which stored nothing: loads
]


Outcome = dict[str, Any]


def outcome(call: Callable[[], IngestSummary]) -> Outcome:
    try:
        return {"summary": asdict(call())}
    except TargetwiseError as exc:
        return {"error": (type(exc).__name__, exc.to_dict())}


class HeldWriter:
    """Posts submitted one after another into a queue the writer cannot take yet (its lock is held), so
    that on :meth:`release` it takes them all, in submission order, as one group."""

    def __init__(self, writer: EventWriter, lock: threading.RLock) -> None:
        self.writer, self.lock = writer, lock
        self.results: list[Outcome] = []
        self._threads: list[threading.Thread] = []
        lock.acquire()

    def add(self, rows: list[dict[str, Any]]) -> None:
        index, before = len(self.results), self.writer.in_flight
        self.results.append({})

        def submit() -> None:
            self.results[index] = outcome(lambda: load_events(
                self.writer.workspace, rows, columns=COLUMNS, source=SOURCE, writer=self.writer))

        thread = threading.Thread(target=submit)
        self._threads.append(thread)
        thread.start()
        for _ in range(100_000):  # queued before the next one is submitted: a known order
            if self.writer.in_flight > before:
                break
            threading.Event().wait(0.001)
        assert self.writer.in_flight == before + 1

    def release(self) -> list[Outcome]:
        self.lock.release()
        for thread in self._threads:
            thread.join(timeout=60)
        return self.results


def labelled(ws: Workspace, outcomes: list[Outcome]) -> dict[str, Any]:
    """Every table an events post writes, with load ids replaced by the post that made the load."""
    labels: dict[int, str] = {}
    for k, out in enumerate(outcomes):
        summary = out.get("summary")
        if summary and not summary["already_loaded"]:
            labels[summary["load_id"]] = f"post {k}"

    def label(load_id: Any) -> Any:
        return labels.get(load_id, f"load {load_id}")

    tables = {}
    with ws.connect(read_only=True) as con:
        for table, drop in (("transactions", ()), ("anonymous_transactions", ()), ("quarantine", ()),
                            ("loads", ("started_at", "finished_at")), ("load_columns", ()), ("consent", ())):
            frame = con.execute(f"SELECT * FROM {table}").df().drop(columns=list(drop))
            frame["load_id"] = frame["load_id"].map(label)
            tables[table] = sorted(tuple(str(v) for v in row) for row in frame.itertuples(index=False))
    summaries = []
    for out in outcomes:
        if "summary" in out:
            out = {"summary": {**out["summary"], "load_id": label(out["summary"]["load_id"])}}
        summaries.append(out)
    return {"tables": tables, "outcomes": summaries}


def test_a_group_stores_exactly_what_the_posts_store_one_by_one(tmp_path: Path) -> None:
    base = base_workspace(tmp_path / "base")
    load_events(base, PRE, columns=COLUMNS, source=SOURCE)
    serial, grouped = copy_of(base, tmp_path / "serial"), copy_of(base, tmp_path / "grouped")

    one_by_one = [outcome(lambda rows=rows: load_events(serial, rows, columns=COLUMNS, source=SOURCE)) for rows in POSTS]

    lock = threading.RLock()
    writer = EventWriter(grouped, lock=lock, max_posts=100, max_group_lines=1000)
    held = HeldWriter(writer, lock)
    for rows in POSTS:
        held.add(rows)
    together = held.release()

    # one transaction for the group; post 11 (over the reject fraction) ingested on its own after it
    assert (writer.stats.groups, writer.stats.largest_group, writer.stats.alone_posts) == (1, len(POSTS), 1)
    assert labelled(grouped, together) == labelled(serial, one_by_one)

    # what that is, post by post (the same for both, by the assertion above)
    s = [out.get("summary") for out in together]
    assert [(x["rows_loaded"], x["rows_quarantined"]) for x in s[:5]] == [(5, 0), (4, 2), (2, 1), (1, 1), (1, 1)]
    assert s[1]["reasons"] == {"invalid_number": 1, "zero_quantity": 1}
    assert s[2]["reasons"] == s[3]["reasons"] == s[4]["reasons"] == {"duplicate_line": 1}
    assert (s[5]["return_lines"], s[5]["returns_linked"], s[6]["returns_linked"]) == (2, 2, 0)
    assert (s[8]["rows_loaded"], s[8]["rows_anonymous"], s[15]["rows_anonymous"]) == (1, 2, 2)
    assert s[10]["already_loaded"] and s[10]["load_id"] == s[0]["load_id"]
    assert s[16]["already_loaded"] and s[16]["warnings"] == [f"this content was already loaded as load {s[16]['load_id']}; nothing added"]
    assert "error" in together[11] and together[11]["error"][0] == DataValidationError.__name__
    assert together[11]["error"][1]["error"]["code"] == "data_validation_error"
    assert "2 of 3 rows of api:events:test are invalid" in together[11]["error"][1]["error"]["message"]
    assert any("erased earlier" in w for w in s[12]["warnings"])
    assert (s[13]["non_product_lines"], s[14]["reasons"]) == (1, {"future_timestamp": 1})
    assert (s[17]["rows_loaded"], s[17]["rows_quarantined"]) == (1, 0)
    assert len({x["load_id"] for k, x in enumerate(s) if x and k not in (10, 16)}) == len(POSTS) - 3
    with grouped.connect(read_only=True) as con:
        rows = con.execute(
            "SELECT source_row, reason_code, value FROM quarantine WHERE load_id IN (?, ?, ?) ORDER BY load_id, source_row",
            [s[1]["load_id"], s[2]["load_id"], s[3]["load_id"]],
        ).fetchall()
        links = dict(con.execute("SELECT order_id, linked_order_id FROM transactions WHERE quantity < 0").fetchall())
    assert rows == [(5, "invalid_number", "abc"), (6, "zero_quantity", "0"), (2, "duplicate_line", "same as row 1"),
                    (1, "duplicate_line", "already stored")]
    assert links == {"C-K0": "K0-5", "C-S1": "O2", "C-K6": None}


def test_a_group_whose_transaction_fails_is_committed_post_by_post(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ws = base_workspace(tmp_path / "ws")

    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("the group pass failed")

    monkeypatch.setattr(event_writer, "ingest_group", broken)
    lock = threading.RLock()
    writer = EventWriter(ws, lock=lock, max_posts=100, max_group_lines=1000)
    held = HeldWriter(writer, lock)
    for rows in (POSTS[0], POSTS[1], POSTS[11]):
        held.add(rows)
    results = held.release()
    assert [(r["summary"]["rows_loaded"], r["summary"]["rows_quarantined"]) for r in results[:2]] == [(5, 0), (4, 2)]
    assert results[2]["error"][0] == DataValidationError.__name__
    assert (writer.stats.groups, writer.stats.alone_posts) == (0, 3)
    with ws.connect(read_only=True) as con:
        assert con.execute("SELECT count(*) FROM transactions WHERE customer_id IN ('K0', 'K1')").fetchone() == (9,)


def _post(client: httpx.Client | TestClient, token: str, rows: list[dict[str, Any]]) -> httpx.Response:
    return client.post("/v1/events", headers=Keys.header(token), json={"transactions": rows})


def test_twenty_concurrent_posters_lose_nothing_and_each_gets_its_own_summary(tmp_path: Path) -> None:
    ws = base_workspace(tmp_path / "ws")
    token = Keys(ws).write
    n_posters, batches, per_batch = 20, 4, 5

    def poster(p: int) -> list[tuple[int, list[str], dict[str, Any]]]:
        answers = []
        with httpx.Client(base_url=url, timeout=60) as client:
            for b in range(batches):
                orders = [f"P{p}-B{b}-{i}" for i in range(per_batch)]
                rows = [line(f"W{p}", o, quantity=i + 1) for i, o in enumerate(orders)]
                if p % 5 == 0 and b == 1:  # now and then a bad line: quarantined, the rest of the post loads
                    rows[-1] = line(f"W{p}", orders[-1], price="n/a")
                r = _post(client, token, rows)
                answers.append((r.status_code, orders, r.json()))
        return answers

    with serving(ws) as url, ThreadPoolExecutor(max_workers=n_posters) as pool:
        answers = [a for per_poster in pool.map(poster, range(n_posters)) for a in per_poster]

    assert {status for status, _, _ in answers} == {201}
    bad_posts = n_posters // 5
    assert sum(body["rows_loaded"] for _, _, body in answers) == n_posters * batches * per_batch - bad_posts
    assert sum(body["rows_quarantined"] for _, _, body in answers) == bad_posts
    with ws.connect(read_only=True) as con:
        stored = con.execute("SELECT count(*), count(DISTINCT load_id) FROM transactions WHERE customer_id LIKE 'W%'").fetchone()
        by_load = {load: sorted(orders) for load, orders in con.execute(
            "SELECT load_id, list(order_id) FROM transactions WHERE customer_id LIKE 'W%' GROUP BY 1").fetchall()}
        quarantined = con.execute("SELECT load_id, json_extract_string(raw, '$.order_id') FROM quarantine").fetchall()
    assert stored == (n_posters * batches * per_batch - bad_posts, n_posters * batches)
    for _, orders, body in answers:  # each answer names its own load, which holds exactly its own lines
        kept = orders[:-1] if body["rows_quarantined"] else orders
        assert (body["rows_read"], body["rows_loaded"], body["already_loaded"]) == (per_batch, len(kept), False)
        assert by_load[body["load_id"]] == sorted(kept)
        if body["rows_quarantined"]:
            assert body["reasons"] == {"invalid_number": 1}
            assert (body["load_id"], orders[-1]) in quarantined


@pytest.fixture
def app_client(tmp_path: Path) -> Iterator[tuple[TestClient, Workspace, str]]:
    ws = base_workspace(tmp_path / "ws", events_queue_max_posts=1)
    token = Keys(ws).write
    with TestClient(create_app(ws.settings, workspace=ws), raise_server_exceptions=False,
                    base_url="http://127.0.0.1") as client:
        yield client, ws, token


def test_a_duplicate_post_adds_nothing(app_client: tuple[TestClient, Workspace, str]) -> None:
    client, ws, token = app_client
    first = _post(client, token, POSTS[0]).json()
    again = _post(client, token, POSTS[0])
    assert again.status_code == 201
    assert again.json() == {**first, "rows_loaded": 0, "already_loaded": True, "reasons": {},
                            "warnings": [f"this content was already loaded as load {first['load_id']}; nothing added"]}
    with ws.connect(read_only=True) as con:
        assert con.execute("SELECT count(*), count(DISTINCT load_id) FROM transactions WHERE customer_id = 'K0'").fetchone() == (5, 1)


def test_past_the_queue_bound_a_post_gets_503_with_retry_after(app_client: tuple[TestClient, Workspace, str]) -> None:
    client, ws, token = app_client
    state = client.app.state.service  # type: ignore[attr-defined]
    assert state.events.max_posts == 1
    with ThreadPoolExecutor(max_workers=1) as pool:
        with state.db_lock:  # the writer cannot commit: the first post stays in flight
            first = pool.submit(_post, client, token, POSTS[0])
            for _ in range(100_000):
                if state.events.in_flight == 1:
                    break
                threading.Event().wait(0.001)
            refused = _post(client, token, POSTS[2])
        assert first.result(timeout=60).status_code == 201
    assert refused.status_code == 503 and refused.headers["Retry-After"] == "1"
    error = refused.json()["error"]
    assert error["code"] == "queue_full" and error["details"] == {"retry_after_seconds": 1, "in_flight": 1, "limit": 1}
    assert "TARGETWISE_EVENTS_QUEUE_MAX_POSTS = 1" in error["message"] and "nothing was stored" in error["message"]
    with ws.connect(read_only=True) as con:  # the refused post stored nothing; posted again, it loads
        assert con.execute("SELECT count(*) FROM transactions WHERE customer_id = 'K2'").fetchone() == (0,)
    assert _post(client, token, POSTS[2]).json()["rows_loaded"] == 2
    assert state.events.stats.refused_posts == 1
