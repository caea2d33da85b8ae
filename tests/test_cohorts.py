"""Acquisition-month cohorts: a hand-computed shop, an independent pandas computation on Online Retail,
point in time, the profiling objection, and the same rows from the stage, the CLI, the API, the UI and
the report."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from conftest import ONLINE_RETAIL_MAPPING, ONLINE_RETAIL_SAMPLE
from targetwise.cli import app
from targetwise.config import get_settings
from targetwise.errors import DataValidationError
from targetwise.features.cohorts import COHORT_COLUMNS
from targetwise.io import outputs as out
from targetwise.io.consent import record_consent
from targetwise.io.ingest import ingest
from targetwise.io.keys import KeyStore
from targetwise.io.mapping import load_mapping
from targetwise.io.modeldata import open_model_data
from targetwise.io.workspace import Workspace
from targetwise.pipeline.run import run_pipeline
from targetwise.usecases.cohorts import cohorts_at

runner = CliRunner()

# customer, order, time (UTC), product, quantity, unit price
_LINES = [
    ("A", "o1", "2024-01-05 12:00", "P1", 2, 10.0),
    ("A", "o1", "2024-01-05 12:00", "P2", 1, 5.0),
    ("A", "C3", "2024-02-02 12:00", "P1", -1, 10.0),  # a return alone: revenue -10, not active
    ("A", "o2", "2024-03-10 12:00", "P1", 1, 10.0),
    ("B", "o4", "2024-01-20 12:00", "P3", 1, 30.0),
    ("B", "o5", "2024-02-15 12:00", "P3", 1, 30.0),
    ("B", "o5", "2024-02-15 12:00", "POST", 1, 3.0),  # postage: not revenue
    ("C", "C7", "2024-01-15 12:00", "P9", -1, 8.0),  # returned before C's first purchase: not counted
    ("C", "o6", "2024-02-01 12:00", "P1", 3, 10.0),
    ("D", "o8", "2024-01-10 12:00", "P1", 1, 10.0),  # D objects to profiling
    ("E", "o9", "2024-04-02 12:00", "P1", 1, 10.0),  # after as_of
    ("", "o10", "2024-01-11 12:00", "P1", 1, 10.0),  # no customer id: anonymous
]
AS_OF = "2024-04-01"

# Worked by hand from _LINES. January cohort = A, B; February cohort = C.
EXPECTED = pd.DataFrame(
    [
        ("2024-01", 0, 2, 2, 1.0, 55.0, 27.5),   # A 25 + B 30
        ("2024-01", 1, 2, 1, 0.5, 20.0, 37.5),   # A's return -10, B 30 (B active only)
        ("2024-01", 2, 2, 1, 0.5, 10.0, 42.5),   # A 10
        ("2024-02", 0, 1, 1, 1.0, 30.0, 30.0),   # C 30 (January's return not counted)
        ("2024-02", 1, 1, 0, 0.0, 0.0, 30.0),    # nothing in March
    ],
    columns=list(COHORT_COLUMNS),
)


@pytest.fixture(scope="module")
def tiny_shop(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    """The hand-computed shop with a promoted run of the cohorts stage."""
    path = tmp_path_factory.mktemp("cohorts") / "ws"
    settings = get_settings(workspace=path, duckdb_threads=2, business_timezone="UTC",
                            api_rate_limit_per_minute=100_000)
    ws = Workspace.init(path, settings)
    csv = path.parent / "lines.csv"
    frame = pd.DataFrame(_LINES, columns=["customer_id", "order_id", "ordered_at", "product_id", "quantity",
                                          "unit_price"])
    frame.to_csv(csv, index=False)
    summary = ingest(ws, "transactions", csv)
    assert (summary.rows_loaded, summary.rows_anonymous, summary.rows_quarantined) == (11, 1, 0)
    record_consent(ws, "D", purpose="profiling", status="denied", source="test objection")
    run_pipeline(ws, settings, as_of=AS_OF, stages=["cohorts"])
    return ws


def test_hand_computed_cohorts(tiny_shop: Workspace) -> None:
    with open_model_data(tiny_shop) as data:
        table = cohorts_at(data, AS_OF).table
    pd.testing.assert_frame_equal(table, EXPECTED, check_dtype=False)


def test_cohorts_are_point_in_time(tiny_shop: Workspace) -> None:
    """Before 2024-03-01 only January and February exist: A's March order and March's row are gone."""
    with open_model_data(tiny_shop) as data:
        table = cohorts_at(data, "2024-03-01").table
    expected = EXPECTED[EXPECTED["months_since_first"] + (EXPECTED["cohort_month"] == "2024-02") < 2]
    pd.testing.assert_frame_equal(table, expected.reset_index(drop=True), check_dtype=False)
    with open_model_data(tiny_shop) as data, pytest.raises(DataValidationError, match="no line lies before it"):
        cohorts_at(data, "2023-12-01")


def _pandas_cohorts(lines: pd.DataFrame, as_of: str) -> pd.DataFrame:
    """An independent computation with pandas periods (not the engine code) of the documented definitions."""
    cutoff = pd.Timestamp(as_of)
    lines = lines[(lines["ordered_at"] < cutoff) & ~lines["is_non_product"].astype(bool)].copy()
    lines["month"] = lines["ordered_at"].dt.to_period("M")
    lines["amount"] = lines["quantity"] * lines["unit_price"]
    first = lines[~lines["is_return"].astype(bool)].groupby("customer_id")["month"].min().rename("cohort")
    lines = lines.join(first, on="customer_id", how="inner")
    lines = lines[lines["month"] >= lines["cohort"]]
    last = (cutoff - pd.Timedelta(microseconds=1)).to_period("M")
    rows = []
    for cohort, members in first.groupby(first):
        mine = lines[lines["cohort"] == cohort]
        cumulative = 0.0
        for since in range((last - cohort).n + 1):
            month = mine[mine["month"] == cohort + since]
            revenue = round(month["amount"].sum(), 6)
            cumulative += revenue
            active = month.loc[~month["is_return"].astype(bool), "customer_id"].nunique()
            rows.append((str(cohort), since, len(members), active, active / len(members), revenue,
                         cumulative / len(members)))
    return pd.DataFrame(rows, columns=list(COHORT_COLUMNS))


def test_online_retail_cohorts_equal_an_independent_pandas_computation(tmp_path: Path) -> None:
    settings = get_settings(workspace=tmp_path / "ws", duckdb_threads=2)
    ws = Workspace.init(settings.workspace, settings)
    ingest(ws, "transactions", ONLINE_RETAIL_SAMPLE,
           mapping=load_mapping(ONLINE_RETAIL_MAPPING, table="transactions"))
    with open_model_data(ws) as data:
        objector = str(data.transactions()["customer_id"].iloc[0])
    record_consent(ws, objector, purpose="profiling", status="denied", source="test objection")
    with open_model_data(ws) as data:
        lines = data.transactions()
        assert objector not in set(lines["customer_id"])
        for as_of in ("2011-06-15", "2011-12-10"):
            engine = cohorts_at(data, as_of).table
            expected = _pandas_cohorts(lines, as_of)
            assert len(engine) == len(expected) > 20
            pd.testing.assert_frame_equal(engine, expected, check_dtype=False, rtol=1e-9, atol=1e-6)
    with ws.connect(read_only=True) as con:
        all_customers = con.execute("SELECT count(DISTINCT customer_id) FROM transactions WHERE quantity > 0").fetchone()[0]
    month0 = engine[engine["months_since_first"] == 0]
    assert month0["customers"].sum() == all_customers - 1  # every buyer in exactly one cohort, but the objector


def test_stage_cli_api_ui_and_report_show_the_same_rows(tiny_shop: Workspace, tmp_path: Path) -> None:
    from targetwise.io.runs import RunStore
    from targetwise.reports.report import render_report
    from targetwise.service.app import create_app

    run = RunStore(tiny_shop).active()
    assert run is not None
    stored = run.read_table(out.COHORTS)
    pd.testing.assert_frame_equal(stored, EXPECTED, check_dtype=False)
    assert run.stage("cohorts").metrics["retention_month_1"] == pytest.approx(1 / 3)  # (1 + 0) of (2 + 1)

    target = tmp_path / "cohorts.csv"
    result = runner.invoke(app, ["cohorts", "--as-of", AS_OF, "--out", str(target), "--workspace",
                                 str(tiny_shop.path)], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "2 monthly cohorts, 3 customers, as of 2024-04-01; 33.3% bought again" in result.output
    assert re.search(r"2024-01\s*│\s*2\s*│\s*100%\s*│\s*50%\s*│\s*50%", result.output), result.output
    pd.testing.assert_frame_equal(pd.read_csv(target), EXPECTED, check_dtype=False)
    default = runner.invoke(app, ["cohorts", "--workspace", str(tiny_shop.path)], env={"COLUMNS": "200"})
    # by default up to the day after the last order: E (April) is a third cohort
    assert "3 monthly cohorts, 4 customers, as of 2024-04-03" in default.output, default.output
    bad = runner.invoke(app, ["cohorts", "--as-of", "04/01/2024", "--workspace", str(tiny_shop.path)],
                        env={"COLUMNS": "300"})
    assert bad.exit_code == 2 and "'04/01/2024' is not a date in the form YYYY-MM-DD" in " ".join(
        bad.output.replace("│", " ").split())

    _, token = KeyStore(tiny_shop).create(scope="read", name="cohorts")
    client = TestClient(create_app(tiny_shop.settings, workspace=tiny_shop))
    body = client.get("/v1/cohorts", headers={"Authorization": f"Bearer {token}"}).json()
    assert body["as_of"] == AS_OF and (body["cohorts"], body["customers"]) == (2, 3)
    assert body["retention_month_1"] == pytest.approx(1 / 3) and body["retention_month_3"] is None
    pd.testing.assert_frame_equal(pd.DataFrame(body["rows"]), EXPECTED, check_dtype=False)
    assert client.get("/v1/cohorts").status_code == 401

    origin = {"Origin": "http://testserver"}
    login = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/ui/login").text).group(1)  # type: ignore[union-attr]
    client.post("/ui/login", data={"api_key": token, "next": "/ui/cohorts", "csrf_token": login}, headers=origin)
    page = client.get("/ui/cohorts").text
    retention = page[page.index('id="cohort-retention"'):page.index('id="cohort-revenue"')]
    cells = re.findall(r'class="cell shade-(\d)"[^>]*>([^<]+)</td>', retention)
    # month 1 and 2 of January (50%) are the top of the scale; February's month 1 (0%) is unshaded
    assert cells == [("5", "100%"), ("5", "50%"), ("5", "50%"), ("5", "100%"), ("0", "0%")]
    revenue = page[page.index('id="cohort-revenue"'):]
    # the API's cumulative revenue per customer, with the shop's currency; shaded against the largest (42.50)
    assert re.findall(r'class="cell shade-(\d)"[^>]*>([^<]+)</td>', revenue) == [
        ("4", "£27.50"), ("5", "£37.50"), ("5", "£42.50"), ("4", "£30.00"), ("4", "£30.00")]
    html = render_report(tiny_shop, run)
    assert 'id="cohorts"' in html and "3 customers in 2 monthly cohorts" in html and "33.3%" in html
