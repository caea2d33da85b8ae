# ruff: noqa: F811  (pytest fixtures imported from service_fixtures)
"""The web UI's campaign planner on the hand-made run (issue 19).

A response probability is never shown as incremental lift: a ranking of expected responders
with no profit, and why and how to get an uplift model when the run has none. Bad numbers
answer 422 naming the field and the fix. The channel and the audience can be chosen, the
assignments downloaded (CSV, escaped), the consent exclusions are stated as the CLI states
them, and the profit curve has axes.
"""

from __future__ import annotations

import html
import io
import re

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from service_fixtures import Keys, client, keys, make_run, run_a, service_ws  # noqa: F401
from targetwise.io.runs import RunStore
from targetwise.io.workspace import Workspace
from targetwise.service.app import create_app
from targetwise.usecases.audiences import create_audience
from targetwise.usecases.runs import active_run

BASE = "http://127.0.0.1"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def ui_login(client: TestClient, token: str) -> str:
    """Log in through the login form; returns the session's CSRF token (from the planner page)."""
    login = _CSRF.search(client.get("/ui/login").text).group(1)  # type: ignore[union-attr]
    r = client.post("/ui/login", data={"api_key": token, "next": "/ui/campaigns", "csrf_token": login},
                    headers={"Origin": BASE}, follow_redirects=False)
    assert r.status_code == 303
    return _CSRF.findall(client.get("/ui/campaigns").text)[-1]


def text_of(page: str, element_id: str) -> str:
    found = re.search(rf'<(\w+)[^>]*\bid="{element_id}"[^>]*>(.*?)</\1>', page, re.S)
    assert found, f"no #{element_id}"
    return " ".join(html.unescape(re.sub(r"<[^>]+>", "", found.group(2))).split())


def plan(client: TestClient, csrf: str, **fields: str):
    return client.post("/ui/campaigns", data={"csrf_token": csrf, **fields}, headers={"Origin": BASE})


def download(client: TestClient, page: str) -> tuple[str, pd.DataFrame]:
    href = html.unescape(re.search(r'href="(/ui/campaigns/assignments\.csv\?[^"]*)"', page).group(1))  # type: ignore[union-attr]
    r = client.get(href)
    assert r.status_code == 200 and r.headers["content-disposition"].startswith("attachment;")
    return r.text, pd.read_csv(io.StringIO(r.text), dtype={"customer_id": str})


RESPONDERS = {"score": "p_purchase_30d", "contact_cost": "1", "budget": "2", "holdout_fraction": "0", "channel": "sms"}


def test_a_response_score_is_a_ranking_of_expected_responders_with_no_profit(client: TestClient, keys: Keys) -> None:
    csrf = ui_login(client, keys.read)
    r = plan(client, csrf, **RESPONDERS)
    assert r.status_code == 200
    page = r.text
    summary = text_of(page, "plan-summary")
    # C4 objected to profiling; C1 0.7 and C3 0.4 fit a budget of 2 at 1 each
    assert summary == ("Contact 2 customers (plus 0 held out at random) for £2.00: "
                       "1.1 expected responders (not caused by the campaign).")
    plan_text = text_of(page, "plan")
    assert "profit" not in plan_text.replace("no profit are claimed", "") and "incremental conversions (" not in plan_text
    assert "not the effect of contacting them" in text_of(page, "not-incremental")
    assert text_of(page, "consent") == "considered 3 customers; excluded by consent (sms or profiling): 1"
    assert text_of(page, "decisions") == "decisions: contact 2, over_budget 1"
    body, frame = download(client, page)
    assert body.splitlines()[0] == "customer_id,action,arm,reason,rank,response_probability"
    assert frame.set_index("customer_id")["action"].to_dict() == {"C1": "treatment", "C2": "not_contacted", "C3": "treatment"}
    # the chart: expected responders by customers contacted, with axis titles and ticks
    chart = page[page.index('<svg class="chart"'):page.index("</svg>")]
    assert "expected responders (not caused by the campaign)</text>" in chart
    assert "customers contacted, best first (before the holdout)</text>" in chart
    assert re.findall(r'class="tick x"[^>]*>([^<]*)<', chart) == ["0", "1", "2", "3"]
    assert re.findall(r'class="tick y"[^>]*>([^<]*)<', chart) == ["0", "0.5", "1", "1.5"]


def test_an_uplift_plan_shows_the_api_numbers_and_a_profit_curve_with_axes(client: TestClient, keys: Keys) -> None:
    csrf = ui_login(client, keys.read)
    fields = {"score": "uplift", "contact_cost": "1", "value_per_conversion": "50", "holdout_fraction": "0",
              "channel": "sms"}
    page = plan(client, csrf, **fields).text
    api = client.post("/v1/campaigns/plan", headers=Keys.header(keys.read), json={
        "score": "uplift", "contact_cost": 1.0, "value_per_conversion": 50.0, "holdout_fraction": 0.0, "channel": "sms"}).json()
    summary = text_of(page, "plan-summary")
    assert f"expected {api['expected_incremental_conversions']:,.1f} incremental conversions" in summary
    assert f"incremental profit £{api['expected_profit']:,.2f}" in summary == (
        "Contact 2 customers (plus 0 held out at random) for £2.00: expected 0.2 incremental conversions "
        "(0.1 to 0.2) and incremental profit £5.50 (£3.00 to £8.00).")
    chart = page[page.index('<svg class="chart"'):page.index("</svg>")]
    assert "expected incremental profit (GBP)</text>" in chart and "chosen: 2</text>" in chart
    assert re.findall(r'class="tick y"[^>]*>([^<]*)<', chart) == ["£0", "£2", "£4", "£6"]
    _, frame = download(client, page)
    assert list(frame.columns) == ["customer_id", "action", "arm", "reason", "rank", "predicted_uplift", "expected_profit"]


@pytest.mark.parametrize(
    ("field", "value", "message", "fix"),
    [
        ("contact_cost", "abc", "Cost per contact: 'abc' is not a number", "enter an amount of 0 or more"),
        ("budget", "-5", "Budget: input should be greater than or equal to 0", "leave it empty for no limit"),
        ("holdout_fraction", "0,5", "Holdout share: '0,5' is not a number (write decimals with a point: 0.5)",
         "between 0 and 0.9"),
        ("max_contacts", "2.5", "Maximum contacts: '2.5' is not a whole number", "whole number"),
        ("budget", "", "Budget: a ranking by a response score needs a budget or a maximum number of contacts",
         "cannot say where contacting stops paying"),
    ],
)
def test_bad_numbers_are_a_422_naming_the_field_and_the_fix(client: TestClient, keys: Keys, field, value, message, fix) -> None:
    csrf = ui_login(client, keys.read)
    r = plan(client, csrf, **{**RESPONDERS, field: value})
    assert r.status_code == 422
    problem = text_of(r.text, "problem")
    assert problem.startswith(message + ". Fix: ") and fix in problem
    assert '{"error"' not in r.text and "Traceback" not in r.text
    marked = re.search(rf'<input id="{field}"[^>]*>', r.text).group(0)  # type: ignore[union-attr]
    assert 'aria-invalid="true"' in marked and f'value="{html.escape(value)}"' in marked  # kept for correcting


def test_channel_and_audience_are_chosen_and_consent_stated(client: TestClient, keys: Keys, service_ws: Workspace) -> None:
    everyone = create_audience(service_ws, active_run(service_ws), name="Champions only",
                               conditions=[{"field": "rfm_segment", "op": "==", "value": "Champions"}], created_by=None)
    csrf = ui_login(client, keys.read)
    form = client.get("/ui/campaigns").text
    assert re.findall(r'<select id="channel".*?</select>', form, re.S) and '<option value="ads"' in form
    assert f'<option value="{everyone.id}"' in form
    # by e-mail: C2 revoked e-mail and C4 objected to profiling
    page = plan(client, csrf, **{**RESPONDERS, "channel": "email", "budget": "10"}).text
    assert text_of(page, "consent") == "considered 2 customers; excluded by consent (email or profiling): 2"
    # the Champions audience (C1, C3) by SMS
    page = plan(client, csrf, **{**RESPONDERS, "audience_id": everyone.id, "budget": "10"}).text
    assert text_of(page, "consent") == "considered 2 customers; excluded by consent (sms or profiling): 0"
    _, frame = download(client, page)
    assert sorted(frame["customer_id"]) == ["C1", "C3"]


def test_without_an_uplift_model_the_ui_says_why_and_how(service_ws: Workspace, keys: Keys) -> None:
    info = make_run(service_ws, skip=("uplift",))
    RunStore(service_ws).promote(info.run_id)
    with TestClient(create_app(service_ws.settings, workspace=service_ws), base_url=BASE) as c:
        csrf = ui_login(c, keys.read)
        page = c.get("/ui/campaigns").text
        options = re.findall(r'<option value="([^"]*)"', re.search(r'<select id="score".*?</select>', page, re.S).group(0))  # type: ignore[union-attr]
        assert options == ["p_alive", "p_churn_90d", "p_purchase_30d"]  # no "uplift" to pick
        notice = text_of(page, "no-uplift")
        assert f"run {info.run_id} has no uplift model: its uplift stage skipped (not requested)" in notice
        for step in ("randomised campaign", "random holdout", "ingest campaign_exposures", "ingest responses",
                     "targetwise run"):
            assert step in notice, step
        # asking for uplift anyway: a readable refusal with the same how-to, not a raw error
        r = plan(c, csrf, **{**RESPONDERS, "score": "uplift", "value_per_conversion": "50"})
        assert r.status_code == 404 and '{"error"' not in r.text
        assert "has no uplift model" in text_of(r.text, "problem") and "ingest campaign_exposures" in text_of(r.text, "problem")


def test_assignments_download_is_escaped_for_spreadsheets(service_ws: Workspace, keys: Keys) -> None:
    writer = RunStore(service_ws).begin(as_of="2011-12-09", parameters={})
    writer.write_table("propensity/scores.parquet",
                       pd.DataFrame({"customer_id": ["=HYPERLINK(\"http://x\")", "C2"], "p_purchase_30d": [0.9, 0.1]}))
    RunStore(service_ws).promote(writer.commit().run_id)
    with TestClient(create_app(service_ws.settings, workspace=service_ws), base_url=BASE) as c:
        csrf = ui_login(c, keys.read)
        page = plan(c, csrf, **{**RESPONDERS, "budget": "5"}).text
        body, frame = download(c, page)
        assert "'=HYPERLINK" in body and not any(line.startswith("=") for line in body.splitlines())
        assert frame["action"].tolist() == ["treatment", "treatment"]
