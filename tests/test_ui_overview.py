# ruff: noqa: F811  (pytest fixtures imported from service_fixtures)
"""The web UI's overview and customer page read like marketing (issue 19): the key figures come from
``usecases.overview.run_overview`` (the report's numbers) with the workspace currency, and feature
columns carry plain labels with their definition as a tooltip, not code names."""

from __future__ import annotations

import html
import re

from fastapi.testclient import TestClient

from service_fixtures import Keys, client, keys, run_a, service_ws  # noqa: F401
from targetwise.io.workspace import Workspace
from targetwise.presentation import Currency, money
from targetwise.usecases.overview import run_overview
from targetwise.usecases.runs import active_run
from test_ui_planner import text_of, ui_login


def test_overview_figures_are_the_run_overview_in_the_workspace_currency(
    client: TestClient, keys: Keys, service_ws: Workspace
) -> None:
    ui_login(client, keys.read)
    page = client.get("/ui/").text
    kpis = [" ".join(html.unescape(re.sub(r"<[^>]+>", " ", k)).split())
            for k in re.findall(r'<div class="kpi"[^>]*>(.*?)</div>', page, re.S)]
    figures = run_overview(active_run(service_ws))
    currency = Currency.from_settings(service_ws.settings)
    # 1,200 + 80 + 400 + 15.50 of net spend; CLV 380 + 7.50 + 115 + 0.75, median of 7.50 and 115
    assert (figures.net_revenue, figures.total_clv, figures.median_clv) == (1695.5, 503.25, 61.25)
    assert kpis == [
        "4 customers", f"{money(1695.5, currency)} net revenue", "£503 total CLV over 365 days", "£61.25 median CLV",
        "2 behavioural clusters",
    ]
    assert money(1695.5, currency) == "£1,696"
    assert figures.net_revenue_definition in html.unescape(page)  # the KPI's tooltip says what it counts
    assert text_of(page, "clv-interval") == figures.clv_interval_note


def test_customer_features_have_plain_labels_and_definitions(client: TestClient, keys: Keys) -> None:
    ui_login(client, keys.read)
    page = client.get("/ui/customers", params={"customer_id": "C1"}).text
    behaviour = text_of(page, "behaviour")
    assert "Days since last order3 days" in behaviour and "recency_days" not in behaviour
    assert "Net spend£1,200" in behaviour
    assert 'title="Days from the customer&#39;s last order to the as-of date."' in page
