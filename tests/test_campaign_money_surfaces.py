"""Issue 24 on every surface: the value-uplift plan (money with per-customer costs), the CUPED readout and
the power planner give the same numbers from the CLI, the API and the UI, with labels that say what they are."""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterator

import pandas as pd
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from targetwise.cli import app
from targetwise.config import get_settings
from targetwise.io.keys import KeyStore
from targetwise.io.runs import RunStore
from targetwise.io.workspace import Workspace
from targetwise.presentation import money
from targetwise.service.app import create_app
from test_cuped_power import _ingest_campaign
from test_ui_planner import text_of, ui_login

runner = CliRunner()
IDS = [f"C{i:04d}" for i in range(6)]
# incremental revenue per customer, and the revenue expected if contacted (what the discount scales with)
VALUE = [20.0, 12.0, 6.0, 4.0, -2.0, 1.0]
BASKET = [40.0, 20.0, 10.0, 60.0, 80.0, 5.0]
# margin 0.5, 1.00 per contact, 10 % discount: margin 10, 6, 3, 2, -1, 0.5; cost 5, 3, 2, 7, 9, 1.5;
# expected profit 5, 3, 1, -5, (no positive margin), -1: contact C0000-C0002 for margin 19, cost 10, profit 9
PLAN = {"score": "value_uplift", "contact_cost": 1.0, "margin": 0.5, "discount_rate": 0.1, "holdout_fraction": 0.0}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Workspace, TestClient, dict[str, str], str]]:
    path = tmp_path_factory.mktemp("money") / "ws"
    settings = get_settings(workspace=path, duckdb_threads=2, api_rate_limit_per_minute=100_000)
    ws = Workspace.init(path, settings)
    _ingest_campaign(ws)
    writer = RunStore(ws).begin(as_of="2024-01-01", parameters={})
    writer.write_table("uplift/uplift.parquet", pd.DataFrame({
        "customer_id": IDS, "uplift_treatment": [0.05] * 6, "value_uplift_treatment": VALUE,
        "revenue_if_contacted_treatment": BASKET,
    }))  # fmt: skip
    RunStore(ws).promote(writer.commit().run_id)
    _, token = KeyStore(ws).create(scope="write", name="money")
    with TestClient(create_app(settings, workspace=ws), base_url="http://127.0.0.1") as client:
        yield ws, client, {"Authorization": f"Bearer {token}"}, token


def cli(ws: Workspace, *args: object) -> str:
    result = runner.invoke(app, [*map(str, args), "--workspace", str(ws.path)], env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    return " ".join(result.output.split())


def test_value_plan_is_the_same_money_on_cli_api_and_ui(served) -> None:
    ws, client, auth, token = served
    api = client.post("/v1/campaigns/plan", json=PLAN, headers=auth).json()
    assert api["kind"] == "incremental" and api["outcome"] == "margin"
    assert api["expected_incremental_conversions"] is None and api["incremental_conversions_interval"] is None
    assert (api["n_contacted"], api["expected_incremental_margin"], api["total_cost"], api["expected_profit"]) == (
        3, pytest.approx(19.0), pytest.approx(10.0), pytest.approx(9.0))
    assert api["by_reason"] == {"contact": 3, "negative_uplift": 1, "unprofitable": 2}
    assert "expected incremental profit = incremental margin - contact cost - discount 0.1" in api["notes"][0]
    assert all(p["incremental_conversions"] is None for p in api["profit_curve"])
    out = cli(ws, "campaign", "plan", "--score", "value_uplift", "--contact-cost", "1", "--margin", "0.5",
              "--discount", "0.1", "--holdout", "0")
    lo, hi = api["incremental_margin_interval"]
    assert f"expected incremental margin {api['expected_incremental_margin']:,.2f} ({lo:,.2f} to {hi:,.2f})" in out
    assert f"expected profit {api['expected_profit']:,.2f}" in out and "incremental conversions" not in out
    csrf = ui_login(client, token)
    page = client.post("/ui/campaigns", data={"csrf_token": csrf, "score": "value_uplift", "contact_cost": "1",
                                              "margin": "0.5", "discount_rate": "0.1", "holdout_fraction": "0",
                                              "budget": ""}, headers={"Origin": "http://127.0.0.1"})
    assert page.status_code == 200, page.text
    summary = text_of(page.text, "plan-summary")
    assert "expected incremental margin £19.00" in summary and "incremental profit £9.00" in summary
    assert "incremental conversions" not in summary
    # a discount on a conversion-uplift plan is refused with one line naming the fix
    bad = client.post("/v1/campaigns/plan", json={**PLAN, "score": "uplift", "value_per_conversion": 5}, headers=auth)
    assert bad.status_code == 400 or bad.status_code == 422
    assert "a discount rate needs a value-uplift plan" in bad.json()["error"]["message"]


def test_readout_is_the_same_on_cli_api_and_ui(served) -> None:
    ws, client, auth, token = served
    shown = json.loads(runner.invoke(app, ["campaign", "report", "K1", "--json", "-w", str(ws.path)]).output)
    api = client.get("/v1/campaigns/K1/report", headers=auth)
    assert api.status_code == 200 and api.json() == shown
    row = next(r for r in shown["results"] if r["metric"] == "revenue_per_customer" and r["segment"] == "all")
    ui_login(client, token)
    page = client.get("/ui/campaigns/K1/report").text
    cells = [html.unescape(re.sub(r"<[^>]+>", "", c)).strip()
             for c in re.findall(r"<td[^>]*>(.*?)</td>", page[page.index('id="readout"'):], re.S)]
    def shown_as(e: dict[str, float]) -> str:
        return f"{money(e['effect'], decimals=2)} ({money(e['ci_low'], decimals=2)} to {money(e['ci_high'], decimals=2)})"

    assert shown_as(row["unadjusted"]) in cells and shown_as(row["cuped"]) in cells
    assert f"{row['variance_reduction']:.0%}" in cells
    assert client.get("/v1/campaigns/nope/report", headers=auth).status_code == 404


def test_power_is_the_same_on_cli_api_and_ui(served) -> None:
    _, client, auth, token = served
    body = {"baseline_rate": 0.1, "mde": 0.02, "cuped_r2": 0.3}
    api = client.post("/v1/campaigns/power", json=body, headers=auth)
    assert api.status_code == 200
    shown = json.loads(runner.invoke(app, ["campaign", "power", "--baseline-rate", "0.1", "--mde", "0.02",
                                           "--cuped-r2", "0.3", "--json"]).output)
    assert api.json() == shown and shown["n_per_arm"] == 2689 and shown["n_per_arm_unadjusted"] == 3841
    bad = client.post("/v1/campaigns/power", json={"baseline_rate": 1.5, "mde": 0.02}, headers=auth)
    assert bad.status_code == 422 and "baseline_rate" in json.dumps(bad.json())
    ui_login(client, token)
    page = client.get("/ui/campaigns/power", params={"baseline_rate": "0.1", "mde": "0.02", "cuped_r2": "0.3"}).text
    assert text_of(page, "power-result").startswith("2,689 customers per arm (treated and holdout each; 5,378 in all)")
    refused = client.get("/ui/campaigns/power", params={"baseline_rate": "ten", "mde": "0.02"})
    assert refused.status_code == 422
    assert text_of(refused.text, "power-problem") == (
        "Holdout conversion rate: 'ten' is not a number. Fix: enter a rate between 0 and 1, e.g. 0.1")
