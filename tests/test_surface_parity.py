"""The CLI and the API give the same answer for the same inputs: one use case behind both.

On a copy of the synthetic demo (a real run with segments, CLV, propensity,
recommendations and uplift): the campaign plan, a saved audience and a customer's
recommendations, each asked of ``targetwise`` (CLI) and of ``/v1`` (API), must agree
exactly. Before the application layer the two plans disagreed (CLV x margin and the
default channel), so these tests fail on that code.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pandas as pd
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from targetwise.cli import app
from targetwise.config import get_settings
from targetwise.io.audiences import AudienceStore
from targetwise.io.keys import KeyStore
from targetwise.io.runs import RunStore
from targetwise.io.workspace import Workspace
from targetwise.service.app import create_app

pytestmark = pytest.mark.slow
runner = CliRunner()


@pytest.fixture
def shop(synthetic_demo: Workspace, tmp_path: Path) -> tuple[Workspace, TestClient, dict[str, str]]:
    path = tmp_path / "ws"
    shutil.copytree(synthetic_demo.path, path)
    settings = get_settings(workspace=path, duckdb_threads=2, api_rate_limit_per_minute=100_000)
    ws = Workspace.open(path, settings)
    _, token = KeyStore(ws).create(scope="write", name="parity")
    return ws, TestClient(create_app(settings, workspace=ws)), {"Authorization": f"Bearer {token}"}


def cli(ws: Workspace, *args: object) -> str:
    result = runner.invoke(app, [*map(str, args), "--workspace", str(ws.path)], env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    return result.output


@pytest.mark.parametrize(
    ("cli_value", "api_value"),
    [
        (["--value-per-conversion", "30"], {"value_per_conversion": 30.0}),
        (["--value-from-clv", "--margin", "0.25"], {"value_per_conversion": "clv", "margin": 0.25}),
    ],
    ids=["fixed-value", "clv-times-margin"],
)
def test_campaign_plan_is_the_same_from_cli_and_api(shop, tmp_path: Path, cli_value, api_value) -> None:
    ws, client, auth = shop
    out = tmp_path / "plan.csv"
    # the 300-customer demo's uplift model is flat, so plan on a score column (the same on both surfaces)
    text = cli(ws, "campaign", "plan", "--score", "p_purchase_30d", "--contact-cost", "0.5", *cli_value,
               "--budget", "60", "--channel", "email", "--out", out)
    body = {"score": "p_purchase_30d", "contact_cost": 0.5, "budget": 60.0, "channel": "email",
            "random_state": ws.settings.random_state, **api_value}
    response = client.post("/v1/campaigns/plan", headers=auth, json=body)
    assert response.status_code == 200, response.text
    plan = response.json()
    assignments = pd.read_csv(out, dtype={"customer_id": str})
    assert (assignments["action"] == "treatment").sum() == plan["n_contacted"] > 0
    assert (assignments["reason"] == "holdout").sum() == plan["n_holdout"]
    assert len(assignments) == plan["customers_considered"]
    assert f"contact {plan['n_contacted']:,} customers, hold out {plan['n_holdout']:,}" in text
    assert f"cost {plan['total_cost']:,.2f}" in text
    assert f"expected profit {plan['expected_profit']:,.2f}" in text
    assert f"excluded by consent (email or profiling): {plan['excluded_opt_out']:,}" in text
    counts = assignments["reason"].value_counts().sort_index()
    assert {str(k): int(v) for k, v in counts.items()} == plan["by_reason"]


def test_audience_is_the_same_from_cli_and_api(shop) -> None:
    ws, client, auth = shop
    text = cli(ws, "audience", "create", "From CLI", "--where", "clv.clv >= 50", "--where", "segments.rfm_segment != Lost")
    conditions = [{"field": "clv.clv", "op": ">=", "value": 50}, {"field": "segments.rfm_segment", "op": "!=", "value": "Lost"}]
    created = client.post("/v1/audiences", headers=auth, json={"name": "From API", "conditions": conditions})
    assert created.status_code == 201, created.text
    store = AudienceStore(ws)
    cli_id = re.search(r"audience (\S+): ", text).group(1)  # type: ignore[union-attr]
    cli_members, api_members = store.members(cli_id), store.members(created.json()["id"])
    assert cli_members == api_members and len(api_members) > 0
    size = client.post("/v1/audiences/preview", headers=auth, json={"conditions": conditions}).json()
    assert size["size"] == len(api_members)
    # the members meet the conditions, and nobody who objected to profiling is among them
    run = RunStore(ws).active()
    clv = run.read_table("clv/customer_clv.parquet").set_index("customer_id")["clv"]
    seg = run.read_table("segments/customer_segments.parquet").set_index("customer_id")["rfm_segment"]
    assert (clv.reindex(api_members) >= 50).all() and (seg.reindex(api_members) != "Lost").all()


def test_recommendations_are_the_same_from_cli_and_api(shop) -> None:
    ws, client, auth = shop
    recs = RunStore(ws).active().read_table("recommendations/recommendations.parquet")
    customer = sorted(recs["customer_id"].unique())[3]
    api = client.get(f"/v1/customers/{customer}/recommendations", params={"n": 5}, headers=auth).json()
    text = cli(ws, "recommend", "--customer", customer, "-n", "5")
    expected = recs[recs["customer_id"] == customer].sort_values("rank")["product_id"].head(5).tolist()
    assert [item["product_id"] for item in api["items"]] == expected and api["source"] == "personal"
    rows = [line for line in text.splitlines() if re.match(r"^\W*\d+\W", line)]
    cli_products = [next(p for p in expected if p in row) for row in rows if any(p in row for p in expected)]
    assert cli_products == expected
    for item in api["items"]:
        assert item["reason"] in text
    # an unknown customer gets the popular list on both surfaces
    api_new = client.get("/v1/customers/NEW-1/recommendations", params={"n": 3}, headers=auth).json()
    text_new = cli(ws, "recommend", "--customer", "NEW-1", "-n", "3")
    assert api_new["source"] == "popular" and "popular recommendations for NEW-1" in text_new
    for item in api_new["items"]:
        assert item["product_id"] in text_new
