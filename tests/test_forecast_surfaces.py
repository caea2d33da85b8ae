"""Demand forecasts over a real workspace: planted weekly sales (returns, postage, a guest order and a
profiling objector), point in time, and the same rows and sentences from the stage, the CLI, the API,
the UI and the report."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from targetwise.cli import app
from targetwise.config import get_settings
from targetwise.io import outputs as out
from targetwise.io.consent import record_consent
from targetwise.io.ingest import ingest
from targetwise.io.keys import KeyStore
from targetwise.io.modeldata import open_model_data
from targetwise.io.runs import RunStore
from targetwise.io.workspace import Workspace
from targetwise.pipeline.run import run_pipeline
from targetwise.runconfig import ForecastConfig, RunConfig
from targetwise.usecases.forecast import forecast_at

runner = CliRunner()
WEEKS = 50
START = pd.Timestamp("2023-01-02")  # a Monday
AS_OF = "2023-12-18"  # Monday of week 50: weeks 0..49 are whole
TOYS = 100.0 + 5.0 * np.arange(WEEKS)  # toys grow by 5 a week
# few candidates and two backtest windows keep the test quick; the CLI reads the same [forecast] section
RUN_TOML = """[forecast]
horizon = 4
models = ["seasonal_naive", "naive", "auto_ets", "lightgbm", "ensemble"]
backtest_windows = 2
lightgbm_estimators = 50
"""
GARDEN = np.where(np.arange(WEEKS) % 4 == 0, 80.0, 40.0)  # garden: a four-week cycle


def _lines() -> pd.DataFrame:
    rows = []
    for week in range(WEEKS):
        day = START + pd.Timedelta(weeks=week, hours=10)  # Mondays: the first week is whole
        customer = f"C{week % 5}"
        rows.append((customer, f"t{week}", day, "TOY", 1, TOYS[week]))
        rows.append((customer, f"t{week}", day, "POST", 1, 7.0))  # postage: never sales
        rows.append((f"C{(week + 2) % 5}", f"g{week}", day + pd.Timedelta(days=1), "GAR", 2, GARDEN[week] / 2))
        rows.append(("D", f"d{week}", day, "TOY", 1, 1000.0))  # D objects to profiling: never seen
    rows.append(("C1", "Cg3", START + pd.Timedelta(weeks=3, days=4), "GAR", -1, 10.0))  # a return: -10 in week 3
    rows.append(("", "anon", START + pd.Timedelta(weeks=5, days=1), "TOY", 1, 30.0))  # a guest order: not in any series
    rows.append(("C2", "late", pd.Timestamp(AS_OF) + pd.Timedelta(days=1), "TOY", 1, 5000.0))  # after the cutoff
    frame = pd.DataFrame(rows, columns=["customer_id", "order_id", "ordered_at", "product_id", "quantity", "unit_price"])
    frame["ordered_at"] = frame["ordered_at"].dt.strftime("%Y-%m-%d %H:%M:%S")
    return frame


def _expected_total() -> np.ndarray:
    total = TOYS + GARDEN
    total[3] -= 10.0
    return total


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    path = tmp_path_factory.mktemp("forecast") / "ws"
    settings = get_settings(workspace=path, duckdb_threads=2, business_timezone="UTC",
                            api_rate_limit_per_minute=100_000)
    ws = Workspace.init(path, settings)
    lines, products = path.parent / "lines.csv", path.parent / "products.csv"
    _lines().to_csv(lines, index=False)
    pd.DataFrame({"product_id": ["TOY", "GAR"], "name": ["toy", "spade"], "category": ["toys", "garden"]}).to_csv(
        products, index=False)
    ingest(ws, "products", products)
    ingest(ws, "transactions", lines)
    record_consent(ws, "D", purpose="profiling", status="denied", source="test objection")
    (path.parent / "run.toml").write_text(RUN_TOML, encoding="utf-8")
    config = RunConfig.load(path.parent / "run.toml")
    run_pipeline(ws, settings, as_of=AS_OF, stages=["features", "forecast"], config=config)
    return ws


def test_stage_history_is_the_planted_net_sales_and_forecasts_continue_it(shop: Workspace) -> None:
    run = RunStore(shop).active()
    assert run is not None and run.stage("forecast").status == "ok"
    history = run.read_table(out.FORECAST_HISTORY)
    total = history[history["level"] == "total"].sort_values("period_start")
    assert list(total["period_start"]) == list(pd.date_range(START, periods=WEEKS, freq="W-MON"))
    # postage, the guest order, the objector and the line after the cutoff are left out; the return counts
    np.testing.assert_allclose(total["y"], _expected_total())
    toys = history[(history["level"] == "category") & (history["series"] == "toys")].sort_values("period_start")
    np.testing.assert_allclose(toys["y"], TOYS)
    forecasts = run.read_table(out.FORECASTS)
    assert set(forecasts["level"]) == {"total", "category", "segment"}
    assert list(forecasts.columns[:8]) == ["series", "level", "measure", "period_start", "forecast", "lo_80", "hi_80",
                                           "model"]
    assert (forecasts["lo_80"] <= forecasts["forecast"]).all() and (forecasts["forecast"] <= forecasts["hi_80"]).all()
    toys_next = forecasts[forecasts["series"] == "toys"].sort_values("period_start")
    assert list(toys_next["period_start"]) == list(pd.date_range(AS_OF, periods=4, freq="W-MON"))
    # a straight line of +5 a week: the chosen model continues it (345 .. 360) within 5%
    np.testing.assert_allclose(toys_next["forecast"], 100.0 + 5.0 * np.arange(50, 54), rtol=0.05)
    scores = run.read_table(out.FORECAST_SCORES)
    chosen = scores[scores["chosen"]].set_index(["level", "series"])
    assert chosen.loc[("category", "toys"), "mase"] < scores[
        (scores["series"] == "toys") & (scores["model"] == "naive")]["mase"].iloc[0]


def test_forecasts_are_point_in_time(shop: Workspace, tmp_path: Path) -> None:
    config = ForecastConfig(horizon=4, levels=("total", "category"), models=("naive", "auto_theta", "lightgbm"),
                            backtest_windows=1)
    with open_model_data(shop) as data:
        before = forecast_at(data, AS_OF, config)
    copy = tmp_path / "ws"
    shutil.copytree(shop.path, copy)
    changed = Workspace.open(copy, get_settings(workspace=copy, duckdb_threads=2, business_timezone="UTC"))
    later = tmp_path / "later.csv"
    pd.DataFrame({"customer_id": ["C1", "C3"], "order_id": ["x1", "x2"],
                  "ordered_at": ["2023-12-18 00:00:00", "2024-01-20 10:00:00"], "product_id": ["TOY", "GAR"],
                  "quantity": [3, 9], "unit_price": [999.0, 77.0]}).to_csv(later, index=False)
    ingest(changed, "transactions", later)
    with open_model_data(changed) as data:
        after = forecast_at(data, AS_OF, config)
        moved = forecast_at(data, "2024-01-29", config)
    pd.testing.assert_frame_equal(before.forecasts, after.forecasts)
    pd.testing.assert_frame_equal(before.history, after.history)
    assert not moved.history["y"].eq(0).all() and len(moved.history) > len(before.history)


@pytest.mark.slow
def test_cli_api_ui_and_report_show_the_same_forecasts(shop: Workspace, tmp_path: Path) -> None:
    from targetwise.reports.report import render_report
    from targetwise.service.app import create_app

    target = tmp_path / "forecast.csv"
    result = runner.invoke(app, ["forecast", "--horizon", "4", "--by", "category", "--as-of", AS_OF, "--out",
                                 str(target), "--config", str(shop.path.parent / "run.toml"), "--workspace",
                                 str(shop.path)], env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    cli_rows = pd.read_csv(target, parse_dates=["period_start"])
    assert set(cli_rows["level"]) == {"total", "category"}

    _, token = KeyStore(shop).create(scope="read", name="forecasts")
    client = TestClient(create_app(shop.settings, workspace=shop))
    headers = {"Authorization": f"Bearer {token}"}
    body = client.get("/v1/forecasts", headers=headers).json()
    assert body["as_of"] == AS_OF and body["freq"] == "W" and body["horizon"] == 4
    api_rows = pd.DataFrame(body["rows"])
    api_rows["period_start"] = pd.to_datetime(api_rows["period_start"])
    api_rows = api_rows[api_rows["level"].isin(["total", "category"])].reset_index(drop=True)
    pd.testing.assert_frame_equal(cli_rows, api_rows, check_dtype=False)
    one = client.get("/v1/forecasts", params={"level": "category", "series": "toys"}, headers=headers).json()
    assert {r["series"] for r in one["rows"]} == {"toys"} and len(one["rows"]) == 4
    (summary,) = one["summaries"]
    assert summary["forecast_total"] == pytest.approx(sum(r["forecast"] for r in one["rows"]))
    assert summary["last_total"] == pytest.approx(float((TOYS[-4:]).sum()))
    assert re.fullmatch(r"Category toys is forecast to grow \d+% over the next 4 weeks, 80% interval -?\d+% to \d+% "
                        r"\(£[\d,]+ against £1,350 in the last 4 weeks\)\.", summary["text"]), summary["text"]
    # the same sentence on the terminal (rich may wrap it)
    assert summary["text"] in " ".join(result.output.split())
    bad = client.get("/v1/forecasts", params={"level": "country"}, headers=headers)
    assert bad.status_code == 422 and client.get("/v1/forecasts").status_code == 401

    origin = {"Origin": "http://testserver"}
    login = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/ui/login").text).group(1)  # type: ignore[union-attr]
    client.post("/ui/login", data={"api_key": token, "next": "/ui/forecasts", "csrf_token": login}, headers=origin)
    page = client.get("/ui/forecasts").text
    assert summary["text"] in page and 'id="forecast-chart-category-toys"' in page
    html = render_report(shop, RunStore(shop).active())
    assert 'id="forecasts"' in html and summary["text"] in html
