"""Summaries in words of a segment and a customer: the template's known text, the model's rephrasing kept only
when its numbers are the facts', and no customer id or contact value in any prompt (the scrubber enforces it)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from llm_server import LLMServer
from service_fixtures import load_workspace_tables, make_run
from targetwise.assist.facts import unknown_numbers
from targetwise.config import get_settings
from targetwise.io.audit import AuditLog
from targetwise.io.ingest import ingest
from targetwise.io.runs import RunStore
from targetwise.io.workspace import Workspace
from targetwise.usecases.explain import OBJECTED, customer_summary, segment_summary
from targetwise.usecases.runs import active_run

PERSONAL = re.compile(r"\bC[1-4]\b|@|example\.com|7031|555 1212")
C1_TEXT = (
    "In RFM segment Champions and behavioural cluster Big spenders (bought 12 times, last 3 days ago). 12 orders, "
    "£1,200.00 spent in total, last order 3 days ago. Customer lifetime value over the next 365 days: £380.00 "
    "(between £300.00 and £460.00); probability still active 98%. Chance of buying in the next 30 days: 70%, mainly "
    "because: bought 3 days ago; 12 orders so far; 4 orders in the last 90 days. Churn risk over 90 days: 10%. "
    "Recommended next: Blue plate, Garden gnome, Red mug."
)
LAPSED_TEXT = (
    "Lapsed has 2 customers (50.0% of all customers, 6.0% of revenue). Long gone. Median customer lifetime value "
    "£4.12; the middle half of its members lie between £2.44 and £5.81. Most recommended to its members: Red mug."
)


@pytest.fixture(scope="module")
def ws_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("explain")
    settings = get_settings(workspace=root / "ws", duckdb_threads=1)
    ws = Workspace.init(settings.workspace, settings)
    load_workspace_tables(ws, root)
    RunStore(ws).promote(make_run(ws).run_id)
    return root / "ws"


def open_ws(path: Path, server: LLMServer | None = None) -> Workspace:
    extra = {} if server is None else {"llm_base_url": server.base_url, "llm_model": "recorded-model"}
    return Workspace.open(path, get_settings(workspace=path, duckdb_threads=1, llm_max_retries=0, **extra))


def test_the_template_writes_the_facts_and_only_them(ws_path: Path) -> None:
    ws = open_ws(ws_path)
    run = active_run(ws)
    c1 = customer_summary(ws, run, "C1")
    assert (c1.text, c1.engine, c1.check) == (C1_TEXT, "template", None)
    assert "C1" not in str(c1.facts.to_dict())  # the id is never a fact
    lapsed = segment_summary(ws, run, "Lapsed")  # CLV 7.5 and 0.75: median 4.125, quartiles 2.4375 and 5.8125 (pence below £10)
    assert lapsed.text == LAPSED_TEXT
    champions = segment_summary(ws, run, "Champions")  # an RFM segment: its profile's features set it apart
    assert champions.text.startswith("Champions has 2 customers (50.0% of all customers, 94.4% of revenue).")
    assert "What sets it apart: days since last order: median 6.5 days, 0.06x the median of all customers" \
        in champions.text
    for summary in (c1, lapsed, champions, *(customer_summary(ws, run, c) for c in ("C2", "C3", "C4"))):
        assert unknown_numbers(summary.text, summary.facts.numbers()) == []  # the check the model must pass


def test_the_models_text_is_kept_when_its_numbers_are_the_facts_and_nothing_personal_is_sent(ws_path: Path) -> None:
    rephrased = ("A Champion and Big spender: 12 orders and £1,200.00 in total, the last 3 days ago. Lifetime value "
                 "£380.00 over the next 365 days (£300.00 to £460.00); a 70% chance of buying in the next 30 days.")
    with LLMServer() as server:
        ws = open_ws(ws_path, server)
        run = active_run(ws)
        server.reply(rephrased)
        first = customer_summary(ws, run, "C1", key_id="key-9")
        again = customer_summary(ws, run, "C1")  # kept with the run: the same text on every surface, no new call
    assert (first.text, first.engine, first.check) == (rephrased, "llm", "passed") and again == first
    assert len(server.requests) == 1 and server.protocol_errors == []
    sent = server.sent_text()
    assert "bought 12.0 times, last 3.0 days ago" in sent and "£1200.00" in sent  # the customer's own figures
    assert not PERSONAL.search(sent)  # never the id, an e-mail or a phone number
    _, entries = AuditLog(ws).query(action="llm_call")
    assert entries[0].details["purpose"] == "customer summary" and entries[0].key_id == "key-9"


def test_a_number_not_in_the_facts_falls_back_to_the_template_and_is_logged(ws_path: Path) -> None:
    with LLMServer() as server:
        ws = open_ws(ws_path, server)
        run = active_run(ws)
        server.reply("Lapsed: 2 customers, half of all, worth about £5 each.").reply("Lapsed has twelve customers.")
        lapsed = segment_summary(ws, run, "Lapsed")
        c2 = customer_summary(ws, run, "C2")
    assert (lapsed.text, lapsed.engine) == (LAPSED_TEXT, "template")
    assert lapsed.check == "the model's text states £5, not in the facts: the template text is shown"
    assert c2.engine == "template" and c2.check.startswith("the model's text states twelve")
    _, checks = AuditLog(ws).query(action="llm_check")
    assert [e.details["outcome"] for e in reversed(checks)][-2:] == [lapsed.check, c2.check]
    assert checks[0].subject == f"customer:{AuditLog(ws).pseudonym('C2')}"  # a pseudonym, never the id


def test_the_scrubber_refuses_a_prompt_holding_an_id_and_the_template_is_shown(ws_path: Path, tmp_path: Path) -> None:
    renamed = tmp_path / "products.csv"
    renamed.write_text("product_id,name\nP1,Mug for C3\n")  # a catalogue name that is a customer id of the workspace
    with LLMServer() as server:
        ws = open_ws(ws_path, server)
        ingest(ws, "products", renamed)
        try:
            c2 = customer_summary(ws, active_run(ws), "C2")  # recommended P1
        finally:
            restore = tmp_path / "restore.csv"
            restore.write_text("product_id,name\nP1,Red mug\n")
            ingest(ws, "products", restore)
    assert server.requests == []  # nothing was sent
    assert c2.engine == "template" and "Recommended next: Mug for C3." in c2.text
    assert c2.check.startswith("not sent: the message 2 of the customer summary prompt was not sent to the model "
                               "endpoint: it contains a customer id or contact value from the workspace")


def test_an_endpoint_failure_shows_the_template_and_asks_again_next_time(ws_path: Path) -> None:
    with LLMServer() as server:
        ws = open_ws(ws_path, server)
        run = active_run(ws)
        server.fail(500, "overloaded")
        failed = customer_summary(ws, run, "C3")
        server.reply("Champions, 5 orders, last 10 days ago.")
        later = customer_summary(ws, run, "C3")
    assert failed.engine == "template" and failed.check.startswith("model endpoint failed:")
    assert (later.engine, later.text) == ("llm", "Champions, 5 orders, last 10 days ago.")


def test_a_profiling_objectors_figures_go_to_no_model(ws_path: Path) -> None:
    with LLMServer() as server:
        ws = open_ws(ws_path, server)
        server.reply("Hibernating, 1 order.")
        c4 = customer_summary(ws, active_run(ws), "C4")  # C4 objected to profiling after the run was made
    assert server.requests == []
    assert (c4.engine, c4.check) == ("template", OBJECTED)
    assert c4.text.startswith("In RFM segment Hibernating and behavioural cluster Lapsed (one order 400 days ago).")
