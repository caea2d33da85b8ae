"""Next-best offers on the web UI page and in the HTML report (issue 22): the same numbers as the use case,
``GET /v1/offers/evaluate`` and ``targetwise offers evaluate --json``, on a copy of the synthetic demo with the
planted offer log of tests/offers_fixtures.py.

Known answers: every (policy, estimator) value, interval and row count on the page and in the report is the
use case's rounded to the 4 decimals shown; the catalogue shows the planted offers with their eligibility and
windows (A, B, C live; X ended, F not yet started); an assignment from the page logs exactly the decisions it
reports; a workspace without offers shows one line on how to add them and the report has no offers section.
"""

from __future__ import annotations

import html
import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from offers_fixtures import clear_offer_tables, offers_frame, plant_offer_log
from service_fixtures import Keys
from targetwise.cli.app import app
from targetwise.config import get_settings
from targetwise.io.ingest import ingest
from targetwise.io.offers import offer_log
from targetwise.io.runs import RunStore
from targetwise.io.workspace import Workspace
from targetwise.reports.report import render_report
from targetwise.service.app import create_app
from targetwise.usecases.audiences import create_audience
from targetwise.usecases.offers import evaluate_offers
from targetwise.usecases.runs import active_run

_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
_ROW = re.compile(r'<tr data-policy="(\w+)" data-estimator="(\w+)">.*?<td class="num">(-?[\d.]+)</td>'
                  r'<td class="num">(-?[\d.]+) to (-?[\d.]+)</td><td class="num">([\d,]+)</td></tr>', re.S)
ORIGIN = {"Origin": "http://127.0.0.1"}


def _settings(root: Path):
    return get_settings(workspace=root, duckdb_threads=2, api_rate_limit_per_minute=100_000)


@pytest.fixture(scope="module")
def planted(synthetic_demo: Workspace, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo with the planted offers and log, and an audience of everyone."""
    folder = tmp_path_factory.mktemp("offers-surfaces")
    root = folder / "ws"
    shutil.copytree(synthetic_demo.path, root)
    ws = Workspace.open(root, _settings(root))
    plant_offer_log(ws, folder)
    create_audience(ws, active_run(ws), name="everyone", conditions=[], created_by="test")
    return root


def _copy(source: Path, tmp_path: Path) -> Workspace:
    root = tmp_path / "ws"
    shutil.copytree(source, root)
    return Workspace.open(root, _settings(root))


def _login(client: TestClient, token: str) -> None:
    login = _CSRF.search(client.get("/ui/login").text).group(1)  # type: ignore[union-attr]
    answer = client.post("/ui/login", data={"api_key": token, "next": "/ui/offers", "csrf_token": login},
                         headers=ORIGIN, follow_redirects=False)
    assert answer.status_code == 303, answer.text


@pytest.fixture()
def served(planted: Path, tmp_path: Path) -> Iterator[tuple[TestClient, Keys, Workspace]]:
    ws = _copy(planted, tmp_path)
    keys = Keys(ws)
    with TestClient(create_app(ws.settings, workspace=ws), base_url="http://127.0.0.1") as client:
        yield client, keys, ws


def _shown(values: list[dict]) -> list[tuple[str, str, str, str, str, str]]:
    """What the page and the report show of each value: 4 decimals, the row count with separators."""
    return [(v["policy"], v["estimator"], f"{v['value']:.4f}", f"{v['low']:.4f}", f"{v['high']:.4f}",
             f"{v['n_rows']:,}") for v in values]


def test_the_page_shows_the_use_cases_and_the_apis_numbers(served) -> None:
    client, keys, ws = served
    api = client.get("/v1/offers/evaluate", headers=Keys.header(keys.read))
    assert api.status_code == 200, api.text
    body = api.json()
    direct = evaluate_offers(ws, active_run(ws))
    assert body == json.loads(json.dumps(direct.to_dict()))  # the API answers the use case
    cli = CliRunner().invoke(app, ["offers", "evaluate", "--json", "--workspace", str(ws.path)])
    assert cli.exit_code == 0, cli.output
    assert json.loads(cli.output) == body  # and so does `targetwise offers evaluate --json`

    _login(client, keys.read)
    page = client.get("/ui/offers")
    assert page.status_code == 200, page.text
    text = page.text
    table = text[text.index('id="offer-evaluation"'):text.index("</table>", text.index('id="offer-evaluation"'))]
    rows = _ROW.findall(table)
    assert len(rows) == len(body["values"]) == 7  # logging on-policy; learned and uniform by ipw, snipw, dr
    assert rows == _shown(body["values"])
    # the page's numbers, parsed back, are the API's to the shown precision
    for (policy, estimator, value, low, high, _), v in zip(rows, body["values"], strict=True):
        assert (policy, estimator) == (v["policy"], v["estimator"])
        assert float(value) == pytest.approx(v["value"], abs=5e-5) and float(low) <= float(value) <= float(high)
    gains = body["gains"]
    assert re.search(r'id="gain-over-logging">([^<]+)<', text).group(1) == f"{gains['over_logging']:+.4f}"  # type: ignore[union-attr]
    assert re.search(r'id="gain-over-uniform">([^<]+)<', text).group(1) == f"{gains['over_uniform']:+.4f}"  # type: ignore[union-attr]
    learned_dr = next(v for v in body["values"] if (v["policy"], v["estimator"]) == ("learned", "dr"))["value"]
    logging = next(v for v in body["values"] if v["policy"] == "logging")["value"]
    assert gains["over_logging"] == pytest.approx(learned_dr - logging)
    summary = html.unescape(re.sub(r"<[^>]+>", "", re.search(r'id="evaluation-summary">(.*?)</p>', text, re.S).group(1)))  # type: ignore[union-attr]
    assert f"{body['evaluated']:,} rewarded decisions of {body['decisions']:,} logged" in summary
    assert "reward: conversion" in summary and "estimated expected reward per decision" in summary
    assert "not an incremental effect" in summary
    assert body["notes"] and all(note in html.unescape(text) for note in body["notes"])

    # the catalogue: the planted offers, eligibility as a condition, windows, live now or not
    planted = offers_frame().set_index("offer_id")
    for offer_id, row in planted.iterrows():
        match = re.search(rf'<tr id="offer-{offer_id}">(.*?)</tr>', text, re.S)
        assert match, offer_id
        cells = [html.unescape(re.sub(r"<[^>]+>", "", c)).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", match.group(1), re.S)]
        assert cells[:3] == [offer_id, row["name"], row["channel"]]
        assert cells[3:5] == [f"£{row['cost']:.2f}", f"£{row['value']:.2f}"]
        assert cells[5] == ("frequency >= 10" if offer_id == "C" else "everyone")
        assert cells[7] == ("yes" if offer_id in ("A", "B", "C") else "no")
    assert "2026-01-01 to 2099-01-01" in text and "2025-01-01 to 2026-01-01" in text and "from 2099-01-01" in text

    # the query picks the learned policy's method and the reward kind, as GET /v1/offers/evaluate's does
    api_ucb = client.get("/v1/offers/evaluate", params={"method": "linucb", "reward_kind": "conversion"},
                         headers=Keys.header(keys.read)).json()
    ucb = client.get("/ui/offers", params={"method": "linucb", "reward_kind": "conversion"}).text
    assert _ROW.findall(ucb) == _shown(api_ucb["values"]) and api_ucb["values"] != body["values"]
    bad = client.get("/ui/offers", params={"method": "greedy"})
    assert bad.status_code == 422 and "unknown method &#39;greedy&#39;" in bad.text and "offer-evaluation" not in bad.text


def test_assigning_from_the_page_logs_the_decisions_it_reports(served) -> None:
    client, keys, ws = served
    before = len(offer_log(ws))
    _login(client, keys.read)
    csrf = _CSRF.findall(client.get("/ui/offers").text)[-1]
    form = {"csrf_token": csrf, "audience_id": "everyone-v1", "holdout": "0.25", "method": "thompson"}
    refused = client.post("/ui/offers/assign", data=form, headers=ORIGIN)
    assert refused.status_code == 403 and "needs &#39;write&#39;" in refused.text  # a read key may not log decisions
    assert len(offer_log(ws)) == before

    _login(client, keys.write)
    csrf = _CSRF.findall(client.get("/ui/offers").text)[-1]
    no_token = client.post("/ui/offers/assign", data=form | {"csrf_token": "forged"}, headers=ORIGIN)
    assert no_token.status_code == 403 and len(offer_log(ws)) == before
    posted = client.post("/ui/offers/assign", data=form | {"csrf_token": csrf}, headers=ORIGIN, follow_redirects=False)
    # post/redirect/get: the result is on the offers page the post redirects to, once
    assert (posted.status_code, posted.headers["location"]) == (303, "/ui/offers"), posted.text
    made = client.get("/ui/offers")
    assert made.status_code == 200 and 'id="assignment-summary"' in made.text
    assert 'id="assignment-summary"' not in client.get("/ui/offers").text  # a reload shows (and logs) nothing again
    summary = html.unescape(re.sub(r"<[^>]+>", "", re.search(r'id="assignment-summary">(.*?)</p>', made.text, re.S).group(1)))  # type: ignore[union-attr]
    found = re.match(r"([\d,]+) of ([\d,]+) members of everyone-v1 got an offer \(thompson, ([\d,]+) uniform holdout "
                     r"decisions\), logged as load (\d+) at (\S+) UTC", summary)
    assert found, summary
    assigned, size, holdouts = (int(found.group(i).replace(",", "")) for i in (1, 2, 3))
    log = offer_log(ws)
    new = log[log["decided_at"] == log["decided_at"].max()]  # one decision time for the whole assignment
    assert len(log) == before + assigned and len(new) == assigned
    assert assigned == size  # everyone in the demo has a live offer (A and B have no conditions)
    assert int(new["holdout"].sum()) == holdouts and 0 < holdouts < assigned
    by_offer = dict(re.findall(r"<tr><td><code>(\w)</code></td><td class=\"num\">([\d,]+)</td></tr>",
                               made.text[made.text.index('id="assignment-by-offer"'):]))
    assert {k: int(v) for k, v in by_offer.items() if int(v)} == new["offer_id"].value_counts().to_dict()
    assert set(by_offer) == {"A", "B", "C"}  # only the live offers
    bad = client.post("/ui/offers/assign", data=form | {"csrf_token": csrf, "holdout": "2"}, headers=ORIGIN)
    assert bad.status_code == 422 and "holdout &#39;2&#39; is not a share between 0 and 1" in bad.text
    assert len(offer_log(ws)) == before + assigned


def test_without_offers_the_page_says_how_to_add_them(synthetic_demo: Workspace, tmp_path: Path) -> None:
    ws = _copy(synthetic_demo.path, tmp_path)
    clear_offer_tables(ws)  # a shop without offers (the synthetic demo has its own)
    keys = Keys(ws)
    with TestClient(create_app(ws.settings, workspace=ws), base_url="http://127.0.0.1") as client:
        _login(client, keys.read)
        page = client.get("/ui/offers")
        assert page.status_code == 200
        line = html.unescape(re.sub(r"<[^>]+>", "", re.search(r'<p id="no-offers">(.*?)</p>', page.text, re.S).group(1)))  # type: ignore[union-attr]
        assert line.startswith("No offers yet: add them with targetwise ingest offers offers.csv")
        assert "offers-catalogue" not in page.text and "offer-evaluation" not in page.text
        assert '<a href="/ui/offers">Offers</a>' in page.text  # in the nav
        # offers but no decision yet: the catalogue, and why there is no evaluation (the use case's words)
        offers_csv = tmp_path / "offers.csv"
        offers_frame().to_csv(offers_csv, index=False)
        ingest(ws, "offers", offers_csv)
        page = client.get("/ui/offers")
        assert page.status_code == 200 and 'id="offer-A"' in page.text and "offer-evaluation" not in page.text
        assert "the offer log has no rewarded decision to evaluate with" in page.text
        # an offer whose eligibility is JSON but no list of conditions is still listed, with what is wrong
        bad_csv = tmp_path / "bad_offer.csv"
        bad_csv.write_text("offer_id,name,channel,cost,value,eligibility,starts_at,ends_at\nZ,Broken,web,1,2,5,,\n")
        ingest(ws, "offers", bad_csv)
        page = client.get("/ui/offers")
        assert page.status_code == 200 and 'id="offer-A"' in page.text
        row = html.unescape(re.search(r'<tr id="offer-Z">(.*?)</tr>', page.text, re.S).group(1))  # type: ignore[union-attr]
        assert "offer 'Z' has eligibility 5, not a list of conditions" in row and "write a JSON list of conditions" in row
    assert 'id="offers"' not in render_report(ws, RunStore(ws).active())  # no decisions: no section


def test_the_report_shows_the_use_cases_evaluation(planted: Path, tmp_path: Path) -> None:
    ws = _copy(planted, tmp_path)
    direct = evaluate_offers(ws, active_run(ws)).to_dict()
    report = render_report(ws, RunStore(ws).active())
    start = report.index('<h2 id="offers">')
    section = report[start:report.index("<h2", start + 10)]
    assert _ROW.findall(section) == _shown(direct["values"])
    assert f"{direct['gains']['over_logging']:+.4f}" in section and f"{direct['gains']['over_uniform']:+.4f}" in section
    assert "expected reward per decision" in section and "not an incremental effect" in section
    assert '<a href="#offers">' in report


def test_an_evaluation_is_computed_once_per_state_of_its_inputs(planted: Path, tmp_path: Path) -> None:
    """The service keeps the evaluation until the run, the offers, the log or consent change: a reload gets the
    same object; a new rewarded decision or a profiling objection gives a new evaluation counting it."""
    import pandas as pd

    from targetwise.io.consent import record_consent
    from targetwise.io.offers import record_decisions
    from targetwise.service.state import ServiceState

    ws = _copy(planted, tmp_path)
    state = ServiceState(settings=ws.settings, workspace=ws)
    run = active_run(ws)
    first = state.offer_evaluation(run)
    assert state.offer_evaluation(run) is first  # kept
    assert state.offer_evaluation(run, method="linucb") is not first  # another method: its own evaluation
    assert first.to_dict() == evaluate_offers(ws, run).to_dict()
    customer = str(first.rows["customer_id"].iloc[0])
    record_decisions(ws, pd.DataFrame({
        "customer_id": [customer], "offer_id": ["B"], "decided_at": [pd.Timestamp("2026-06-01 10:00", tz="UTC")],
        "propensity": [0.2], "reward": [1.0], "reward_kind": ["conversion"],
        "observed_at": [pd.Timestamp("2026-06-02 10:00", tz="UTC")],
    }), source="one more reward")
    second = state.offer_evaluation(run)
    assert second is not first and second.evaluated == first.evaluated + 1
    assert state.offer_evaluation(run) is second
    record_consent(ws, customer, purpose="profiling", status="revoked", source="test")
    third = state.offer_evaluation(run)
    assert third is not second and customer not in set(third.rows["customer_id"].astype(str))
