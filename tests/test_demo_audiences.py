"""What `make demo` shows beyond the models (issue 22): send times and channels, next-best offers and a saved
lookalike audience, the same on the API, the UI and the report.

On a copy of the shared synthetic demo (built without its sample audiences), the demo's own audience step
(:func:`targetwise.pipeline.demo.save_demo_audiences`, which `run_demo` calls before writing the report) saves
the top tenth by CLV and its lookalike; every surface then answers with the same ids and sizes.
"""

from __future__ import annotations

import re
import shutil

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from service_fixtures import Keys
from targetwise.config import get_settings
from targetwise.io import outputs as out
from targetwise.io.audiences import AudienceStore
from targetwise.io.consent import opted_out
from targetwise.io.runs import RunStore
from targetwise.io.workspace import Workspace
from targetwise.pipeline.demo import save_demo_audiences
from targetwise.reports.report import render_report
from targetwise.service.app import create_app
from targetwise.usecases.runs import active_run
from targetwise.usecases.sendtime import send_time_summary

SEED, LIKE = "top-tenth-by-clv-v1", "like-the-top-tenth-by-clv-v1"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture(scope="module")
def shop(synthetic_demo: Workspace, tmp_path_factory: pytest.TempPathFactory) -> tuple[Workspace, dict[str, int]]:
    root = tmp_path_factory.mktemp("demo-audiences") / "ws"
    shutil.copytree(synthetic_demo.path, root)
    ws = Workspace.open(root, get_settings(workspace=root, duckdb_threads=2, api_rate_limit_per_minute=100_000))
    return ws, save_demo_audiences(ws, RunStore(ws).active())


def test_the_seed_is_the_top_tenth_by_clv_and_the_lookalike_lies_outside_it(shop) -> None:
    ws, saved = shop
    assert list(saved) == [SEED, LIKE]
    run = active_run(ws)
    clv = run.table(out.CLV).set_index("customer_id")["clv"]
    store = AudienceStore(ws)
    seed = store.get(SEED)
    threshold = seed.definition[0]["value"]
    assert seed.definition == [{"field": "clv", "op": ">=", "value": round(float(clv.quantile(0.9)), 2)}]
    expected = set(clv.index[clv >= threshold].astype(str)) - opted_out(ws, "profiling")
    assert set(store.members(SEED)) == expected and saved[SEED] == len(expected) > 0
    assert abs(len(expected) / clv.notna().sum() - 0.1) < 0.03
    like = store.get(LIKE)
    members = set(store.members(LIKE))
    assert like.source["kind"] == "lookalike" and like.source["seed"] == SEED and like.size == saved[LIKE] == seed.size
    assert not members & expected and not members & opted_out(ws, "profiling")
    assert 0 < like.source["expected_similarity"] <= 1


def test_the_api_and_the_ui_list_both_audiences(shop) -> None:
    ws, saved = shop
    keys = Keys(ws)
    with TestClient(create_app(ws.settings, workspace=ws), base_url="http://127.0.0.1") as client:
        listed = client.get("/v1/audiences", headers=Keys.header(keys.read))
        assert listed.status_code == 200, listed.text
        sizes = {a["id"]: a["size"] for a in listed.json()["audiences"]}
        assert sizes == saved
        like = client.get(f"/v1/audiences/{LIKE}", headers=Keys.header(keys.read)).json()
        assert like["source"]["kind"] == "lookalike" and like["source"]["seed"] == SEED
        token = _CSRF.search(client.get("/ui/login").text).group(1)  # type: ignore[union-attr]
        login = client.post("/ui/login", data={"api_key": keys.read, "next": "/ui/audiences", "csrf_token": token},
                            headers={"Origin": "http://127.0.0.1"}, follow_redirects=False)
        assert login.status_code == 303
        page = client.get("/ui/audiences")
        assert page.status_code == 200 and SEED in page.text and LIKE in page.text
        detail = client.get(f"/ui/audiences/{LIKE}")
        assert detail.status_code == 200 and f"{saved[LIKE]:,}" in detail.text and SEED in detail.text


def test_the_report_shows_send_times_offers_and_the_audiences(shop) -> None:
    ws, saved = shop
    run = active_run(ws)
    html = render_report(ws, RunStore(ws).active())
    for anchor in ('id="send-times"', 'id="offers"', 'id="audiences"', 'href="#send-times"', 'href="#audiences"'):
        assert anchor in html, anchor
    summary = send_time_summary(run)
    assert summary is not None
    table = run.table(out.SEND_TIMES)
    assert summary["customers"] == len(table) and sum(summary["by_channel"].values()) == len(table)
    assert sum(map(sum, summary["weekday_band"])) == len(table)
    monday_evening = int(((table["best_weekday"] == 0) & table["best_hour"].between(20, 23)).sum())
    assert summary["weekday_band"][0][5] == monday_evening
    for channel, n in summary["by_channel"].items():
        assert re.search(rf'data-channel="{channel}"><td>{channel}</td><td class="num">{n:,}</td>', html), channel
    counts = table["source"].value_counts()
    for source, n in counts.items():
        assert re.search(rf'data-source="{source}">.*?<td class="num">{n:,}</td>', html), source
    for audience_id, size in saved.items():
        row = re.search(rf'<tr data-audience="{audience_id}">(.*?)</tr>', html, re.S)
        assert row is not None and f'<td class="num">{size:,}</td>' in row.group(1), audience_id
    assert "lookalike of <code>top-tenth-by-clv-v1</code>" in html
    evaluated = pd.Series(re.findall(r'data-policy="(\w+)" data-estimator="(\w+)"', html)).tolist()
    assert ("learned", "dr") in evaluated and ("uniform", "dr") in evaluated
    assert 'alt="Regret per decision by round: the bandit against uniform random (simulation)"' in html
    assert "on a simulated shop with 4 offers" in html  # the demo's four live offers
