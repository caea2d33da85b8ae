"""The CLI and the API give the same answer for the same inputs: one use case behind both.

On a copy of the synthetic demo (a real run with segments, CLV, propensity,
recommendations and uplift): the campaign plan, a saved audience and a customer's
recommendations, each asked of ``targetwise`` (CLI) and of ``/v1`` (API), must agree
exactly. Before the application layer the two plans disagreed (CLV x margin and the
default channel), so these tests fail on that code. A plan on a response score is a
ranking of expected responders on both surfaces, with no profit claimed (issue 19).
"""

from __future__ import annotations

import html
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
    """An uplift plan (the demo has a randomised campaign): the same contacts, cost and profit on both."""
    ws, client, auth = shop
    out = tmp_path / "plan.csv"
    text = cli(ws, "campaign", "plan", "--score", "uplift", "--contact-cost", "0.2", *cli_value,
               "--budget", "60", "--channel", "email", "--out", out)
    body = {"score": "uplift", "contact_cost": 0.2, "budget": 60.0, "channel": "email",
            "random_state": ws.settings.random_state, **api_value}
    response = client.post("/v1/campaigns/plan", headers=auth, json=body)
    assert response.status_code == 200, response.text
    plan = response.json()
    assert plan["kind"] == "incremental"
    assignments = pd.read_csv(out, dtype={"customer_id": str})
    assert (assignments["action"] == "treatment").sum() == plan["n_contacted"]
    assert (assignments["reason"] == "holdout").sum() == plan["n_holdout"]
    assert len(assignments) == plan["customers_considered"]
    assert f"contact {plan['n_contacted']:,} customers, hold out {plan['n_holdout']:,}" in text
    assert f"cost {plan['total_cost']:,.2f}" in text
    assert f"expected profit {plan['expected_profit']:,.2f}" in text
    assert f"excluded by consent (email or profiling): {plan['excluded_opt_out']:,}" in text
    counts = assignments["reason"].value_counts().sort_index()
    assert {str(k): int(v) for k, v in counts.items()} == plan["by_reason"]
    assert "negative_uplift" in plan["by_reason"]  # sleeping dogs are left alone on both surfaces


def test_a_response_score_ranking_is_the_same_from_cli_and_api_and_claims_no_profit(shop, tmp_path: Path) -> None:
    """Issue 19: a response probability is a ranking of expected responders, never incremental profit."""
    ws, client, auth = shop
    out = tmp_path / "ranking.csv"
    text = cli(ws, "campaign", "plan", "--score", "p_purchase_30d", "--contact-cost", "0.5", "--budget", "60",
               "--channel", "email", "--out", out)
    body = {"score": "p_purchase_30d", "contact_cost": 0.5, "budget": 60.0, "channel": "email",
            "random_state": ws.settings.random_state}
    response = client.post("/v1/campaigns/plan", headers=auth, json=body)
    assert response.status_code == 200, response.text
    plan = response.json()
    # no incremental or profit claim anywhere
    assert plan["kind"] == "responders"
    assert plan["expected_profit"] is None and plan["expected_incremental_conversions"] is None
    assert plan["profit_interval"] is None and plan["profit_curve"] == []
    assert "expected profit" not in text and "expected incremental" not in text  # the claims an uplift plan prints
    assert "no incremental conversions or profit are claimed" in " ".join(text.split())
    # the same ranking: 60 / 0.5 = 120 most likely buyers, 10% held out at random
    assignments = pd.read_csv(out, dtype={"customer_id": str})
    assert "expected_profit" not in assignments.columns
    ranked = assignments.dropna(subset=["rank"]).sort_values("rank")
    assert ranked["response_probability"].is_monotonic_decreasing
    chosen = ranked.head(plan["chosen_depth"])
    assert plan["chosen_depth"] == 120 and set(chosen["reason"]) == {"contact", "holdout"}
    contacted = assignments[assignments["action"] == "treatment"]
    assert len(contacted) == plan["n_contacted"] == 120 - plan["n_holdout"] and plan["n_holdout"] == 12
    assert contacted["response_probability"].sum() == pytest.approx(plan["expected_responders"])
    curve = {p["depth"]: p["expected_responders"] for p in plan["responder_curve"]}
    cumulative = ranked["response_probability"].cumsum().to_numpy()
    assert all(value == pytest.approx(cumulative[depth - 1]) for depth, value in curve.items() if depth)
    assert f"expected responders (not caused by the campaign) {plan['expected_responders']:,.1f}" in text
    assert f"contact {plan['n_contacted']:,} customers, hold out {plan['n_holdout']:,}" in text
    assert f"excluded by consent (email or profiling): {plan['excluded_opt_out']:,}" in text
    counts = assignments["reason"].value_counts().sort_index()
    assert {str(k): int(v) for k, v in counts.items()} == plan["by_reason"]
    # the web UI: the same figures, and its download is the CLI's file byte for byte
    page = ui_plan(client, ws, {"score": "p_purchase_30d", "contact_cost": "0.5", "budget": "60", "channel": "email",
                                "holdout_fraction": "0.1"})
    assert f"Contact {plan['n_contacted']:,} customers (plus {plan['n_holdout']:,} held out at random)" in page
    assert f"{plan['expected_responders']:,.1f} expected responders (not caused by the campaign)" in page
    assert f"excluded by consent (email or profiling): {plan['excluded_opt_out']:,}" in page
    href = html.unescape(re.search(r'href="(/ui/campaigns/assignments\.csv\?[^"]*)"', page).group(1))  # type: ignore[union-attr]
    assert client.get(href).content == out.read_bytes()


def ui_plan(client: TestClient, ws: Workspace, fields: dict[str, str]) -> str:
    """Log in to the web UI with a fresh read key and post the planner form; the page's text."""
    _, token = KeyStore(ws).create(scope="read", name="ui")
    origin = {"Origin": "http://testserver"}
    login = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/ui/login").text).group(1)  # type: ignore[union-attr]
    client.post("/ui/login", data={"api_key": token, "next": "/ui/campaigns", "csrf_token": login}, headers=origin)
    csrf = re.findall(r'name="csrf_token" value="([^"]+)"', client.get("/ui/campaigns").text)[-1]
    response = client.post("/ui/campaigns", data={"csrf_token": csrf, **fields}, headers=origin)
    assert response.status_code == 200, response.text
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<(?!a )[^>]+>", "", response.text)))


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


def test_audience_export_with_columns_is_the_same_from_cli_and_api(shop, tmp_path: Path) -> None:
    ws, client, auth = shop
    conditions = [{"field": "clv.clv", "op": ">=", "value": 50}]
    audience_id = client.post("/v1/audiences", headers=auth, json={"name": "Export", "conditions": conditions}).json()["id"]
    out = tmp_path / "export.csv"
    text = cli(ws, "audience", "export", audience_id, "--out", out, "--columns", "segment,clv,recommendations",
               "--top-n", "3")
    api = client.get(f"/v1/audiences/{audience_id}/export", headers=auth,
                     params={"destination": "csv", "columns": "segment,clv,recommendations", "top_n": 3})
    assert api.status_code == 200, api.text
    assert out.read_bytes() == api.content
    frame = pd.read_csv(out, dtype=str)
    assert list(frame.columns)[:1] == ["customer_id"]
    assert {"cluster_name", "rfm_segment", "clv", "recommended_products"} <= set(frame.columns)
    assert frame["recommended_products"].str.count(r"\|").max() == 2  # three products joined by |
    assert f"exported {len(frame):,} of" in text
