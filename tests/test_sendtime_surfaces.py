"""Send time on every surface (issue 22): the run stage, GET /v1/customers/{id} and the UI customer page
show the same numbers as the use case; the stage is skipped in words without engagements."""

from __future__ import annotations

import html
import re
from pathlib import Path

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from service_fixtures import Keys
from targetwise.config import get_settings
from targetwise.io import outputs as out
from targetwise.io.ingest import ingest_arrow
from targetwise.io.modeldata import open_model_data
from targetwise.io.readers import source_from_frame
from targetwise.io.runs import RunStore
from targetwise.io.workspace import Workspace
from targetwise.pipeline.run import run_pipeline
from targetwise.service.app import create_app
from targetwise.synthetic import generate_retailer
from targetwise.usecases.features import features_at
from targetwise.usecases.forecast import rfm_segments
from targetwise.usecases.sendtime import send_times_at

BASE = "http://127.0.0.1"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture(scope="module")
def shop_ws(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    path = tmp_path_factory.mktemp("sendtime-surfaces") / "ws"
    settings = get_settings(workspace=path, duckdb_threads=2, business_timezone="Europe/London",
                            api_rate_limit_per_minute=100_000)
    ws = Workspace.init(path, settings)
    shop = generate_retailer(150, random_state=3)
    for table in ("customers", "transactions", "engagements"):
        ingest_arrow(ws, table, source_from_frame(getattr(shop, table), name=f"synthetic:{table}"))
    return ws


@pytest.mark.slow
def test_stage_api_and_ui_show_the_use_cases_numbers(shop_ws: Workspace) -> None:
    info = run_pipeline(shop_ws, shop_ws.settings, as_of="2023-12-01", stages=["features", "sendtime"])
    record = info.stage("sendtime")
    assert record.status == "ok" and record.metrics["timezone"] == "Europe/London"
    table = info.read_table(out.SEND_TIMES.path)
    with open_model_data(shop_ws) as data:
        direct = send_times_at(data, "2023-12-01", timezone="Europe/London",
                               segments=rfm_segments(features_at(data, "2023-12-01")),
                               random_state=shop_ws.settings.random_state).table
    pd.testing.assert_frame_equal(table.reset_index(drop=True), direct.reset_index(drop=True), check_dtype=False)
    assert record.metrics["sends"] > 0 and set(table["source"]) <= {"personal", "segment"}

    RunStore(shop_ws).promote(info.run_id)
    keys = Keys(shop_ws)
    row = table.sort_values("confidence").iloc[-1]
    cid = str(row["customer_id"])
    with TestClient(create_app(shop_ws.settings, workspace=shop_ws), base_url=BASE) as client:
        body = client.get(f"/v1/customers/{cid}", headers=Keys.header(keys.read)).json()
        login = _CSRF.search(client.get("/ui/login").text).group(1)  # type: ignore[union-attr]
        client.post("/ui/login", data={"api_key": keys.read, "next": "/ui/", "csrf_token": login},
                    headers={"Origin": BASE}, follow_redirects=False)
        page = html.unescape(client.get("/ui/customers", params={"customer_id": cid}).text)
    sent = body["send_time"]
    assert (sent["best_weekday"], sent["best_hour"], sent["best_channel"], sent["source"]) == (
        int(row["best_weekday"]), int(row["best_hour"]), row["best_channel"], row["source"])
    assert sent["confidence"] == pytest.approx(float(row["confidence"]))
    weekday = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")[int(row["best_weekday"])]
    section = re.search(r'<div id="send-time">(.*?)</div>', page, re.S).group(1)  # type: ignore[union-attr]
    assert f"{row['best_channel']}</strong>, {weekday} at {int(row['best_hour']):02d}:00" in section
    assert f"Confidence {float(row['confidence']):.0%}" in section and f"the {row['source']} pattern" in section

    # the planner's send schedule: contacted customers only, each at the run's best slot for them
    from targetwise.campaigns.planner import HOLDOUT, NOT_CONTACTED
    from targetwise.usecases.runs import active_run
    from targetwise.usecases.sendtime import plan_schedule

    others = [str(c) for c in table["customer_id"] if str(c) != cid][:2]
    assignments = pd.DataFrame({"action": ["treatment", HOLDOUT, NOT_CONTACTED]}, index=[cid, *others])
    plan = plan_schedule(active_run(shop_ws), assignments, week_of="2024-01-03", timezone="Europe/London")
    assert list(plan["customer_id"]) == [cid] and plan["action"].tolist() == ["treatment"]
    local = pd.Timestamp("2024-01-08") + pd.Timedelta(days=int(row["best_weekday"]), hours=int(row["best_hour"]))
    assert plan["send_at_local"].iloc[0] == local and plan["send_at_utc"].iloc[0] == local  # GMT in January
    assert plan["best_channel"].iloc[0] == row["best_channel"]


def test_the_stage_is_skipped_in_words_without_engagements(tmp_path: Path) -> None:
    settings = get_settings(workspace=tmp_path / "ws", duckdb_threads=2)
    ws = Workspace.init(settings.workspace, settings)
    shop = generate_retailer(60, random_state=1, engagements=False)
    ingest_arrow(ws, "transactions", source_from_frame(shop.transactions, name="tx"))
    info = run_pipeline(ws, settings, as_of="2023-12-01", stages=["features", "sendtime"])
    record = info.stage("sendtime")
    assert record.status == "skipped"
    assert "no sends before the as-of date" in " ".join([*record.notes, record.error or ""])
