# ruff: noqa: F811  (pytest fixtures imported from service_fixtures)
"""The REST API in process: exact JSON for known customers of a hand-made run, errors, auth, audit."""

from __future__ import annotations

import hashlib
import io

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from service_fixtures import Keys, client, keys, make_run, run_a, service_ws  # noqa: F401
from targetwise.campaigns.planner import plan_campaign
from targetwise.io.runs import RunInfo, RunStore
from targetwise.io.workspace import Workspace
from targetwise.service.app import create_app


def get(client: TestClient, path: str, token: str, **kw):
    return client.get(path, headers=Keys.header(token), **kw)


def test_customer_exact_json(client: TestClient, keys: Keys, run_a: RunInfo) -> None:
    r = get(client, "/v1/customers/C1", keys.read)
    assert r.status_code == 200
    body = r.json()
    summary = body.pop("summary")  # the customer in words, from these very values (tests/test_assist_explain.py)
    assert (summary["engine"], summary["check"]) == ("template", None)
    assert "Customer lifetime value over the next 365 days: £380.00 (between £300.00 and £460.00)" in summary["text"]
    assert body == {
        "run_id": run_a.run_id,
        "as_of": "2011-12-09",
        "customer_id": "C1",
        "features": {
            "recency_days": 3.0, "frequency": 12, "monetary_total": 1200.0, "monetary_mean": 100.0,
            "tenure_days": 700.0, "orders_90d": 4, "distinct_products": 30, "returns_rate": 0.05, "top_category": "home",
        },
        "segment": {"rfm_score": "555", "rfm_segment": "Champions", "cluster": 0, "cluster_name": "Big spenders",
                    "reason": "bought 12 times, last 3 days ago"},
        "clv": {"p_alive": 0.98, "expected_purchases": 4.0, "expected_spend": 400.0, "clv": 380.0,
                "clv_lower": 300.0, "clv_upper": 460.0, "horizon": 365, "time_unit": "D"},
        "propensity": {
            "p_purchase_30d": 0.7,
            "p_churn_90d": 0.1,
            "drivers": [  # top 3 of 4, in the stored order
                {"feature": "recency_days", "value": 3.0, "contribution": 0.31, "text": "bought 3 days ago"},
                {"feature": "frequency", "value": 12, "contribution": 0.22, "text": "12 orders so far"},
                {"feature": "orders_90d", "value": 4, "contribution": 0.1, "text": "4 orders in the last 90 days"},
            ],
            "expected_days_to_next_order": 12.5,
        },
        "send_time": None,  # the run has no engagement log, so no send-time stage
        "unavailable": {},
    }
    # nulls stay nulls: C2 has no top category, no next-order estimate; C4 has no drivers at all
    c2 = get(client, "/v1/customers/C2", keys.read).json()
    assert c2["features"]["top_category"] is None and c2["propensity"]["expected_days_to_next_order"] is None
    assert get(client, "/v1/customers/C4", keys.read).json()["propensity"]["drivers"] == []


def test_missing_stage_is_a_clear_404_or_a_null_section(service_ws: Workspace, keys: Keys) -> None:
    info = make_run(service_ws, skip=("clv", "recommendations", "segments"))
    RunStore(service_ws).promote(info.run_id)
    with TestClient(create_app(service_ws.settings, workspace=service_ws), base_url="http://127.0.0.1") as c:
        body = get(c, "/v1/customers/C1", keys.read).json()
        assert body["clv"] is None and body["segment"] is None and body["propensity"]["p_purchase_30d"] == 0.7
        assert body["unavailable"] == {
            "segment": f"stage 'segments' did not run in run {info.run_id}",
            "clv": f"stage 'clv' did not run in run {info.run_id}",
        }
        r = get(c, "/v1/customers/C1/recommendations", keys.read)
        assert r.status_code == 404
        error = r.json()["error"]
        assert error["code"] == "not_found"
        assert error["message"] == (
            f"run {info.run_id} has no recommendations/recommendations.parquet: its 'recommendations' stage "
            "has status 'skipped' (not requested)"
        )
        assert error["details"]["stage"] == "recommendations"
        assert get(c, "/v1/segments", keys.read).json()["error"]["details"]["output"] == "segments/profiles.json"


def test_recommendations_personal_then_popular_cold_start(client: TestClient, keys: Keys, run_a: RunInfo) -> None:
    r = get(client, "/v1/customers/C1/recommendations", keys.read, params={"n": 2})
    assert r.json() == {
        "run_id": run_a.run_id, "as_of": "2011-12-09", "customer_id": "C1", "source": "personal",
        "items": [
            {"rank": 1, "product_id": "P2", "name": "Blue plate", "score": 0.9, "reason": "bought with P1"},
            {"rank": 2, "product_id": "P3", "name": "Garden gnome", "score": 0.5, "reason": "similar to P2"},
        ],
    }
    cold = get(client, "/v1/customers/NEW-9/recommendations", keys.read, params={"n": 2}).json()
    assert cold["source"] == "popular"
    assert cold["items"] == [
        {"rank": 1, "product_id": "P3", "name": "Garden gnome", "score": 120.0, "reason": "popular"},
        {"rank": 2, "product_id": "P1", "name": "Red mug", "score": 80.0, "reason": "popular"},
    ]
    similar = get(client, "/v1/products/P1/similar", keys.read).json()
    assert similar["items"] == [
        {"rank": 1, "product_id": "P2", "name": "Blue plate", "score": 0.8},
        {"rank": 2, "product_id": "P3", "name": "Garden gnome", "score": 0.3},
    ]
    assert get(client, "/v1/products/P9/similar", keys.read).status_code == 404


def test_segments_and_paged_members(client: TestClient, keys: Keys) -> None:
    names = [s["name"] for s in get(client, "/v1/segments", keys.read).json()["segments"]]
    assert names == ["Big spenders", "Lapsed"]
    page = get(client, "/v1/segments/Big spenders", keys.read, params={"limit": 1, "offset": 1}).json()
    assert page["profile"]["revenue_share"] == 0.94
    assert page["members"] == {
        "total": 2, "limit": 1, "offset": 1,
        "items": [{"customer_id": "C3", "rfm_segment": "Champions", "cluster": 0, "reason": "bought 5 times, last 10 days ago"}],
    }
    r = get(client, "/v1/segments/Nobody", keys.read)
    assert r.status_code == 404 and "Big spenders, Lapsed" in r.json()["error"]["fix"]


def test_rfm_segments_are_browsable_next_to_the_clusters(client: TestClient, keys: Keys) -> None:
    """Issue 19: /v1/segments/Champions answered 404 (only clusters had pages)."""
    listing = get(client, "/v1/segments", keys.read).json()
    assert [s["name"] for s in listing["segments"]] == ["Big spenders", "Lapsed"]
    assert {s["kind"] for s in listing["segments"]} == {"cluster"}
    # standard RFM order (Champions first), sizes from the run's segments table
    assert [(s["name"], s["kind"], s["size"]) for s in listing["rfm_segments"]] == [
        ("Champions", "rfm", 2), ("At Risk", "rfm", 1), ("Hibernating", "rfm", 1)]
    champions = get(client, "/v1/segments/Champions", keys.read, params={"limit": 10}).json()
    assert champions["profile"]["kind"] == "rfm" and champions["profile"]["cluster"] is None
    assert [m["customer_id"] for m in champions["members"]["items"]] == ["C1", "C3"]
    # C1 and C3 bought 12 and 5 times; the median of all four customers is 3.5
    frequency = champions["profile"]["features"]["frequency"]
    assert frequency == {"mean": 8.5, "median": 8.5, "vs_overall": pytest.approx(8.5 / 3.5)}
    assert champions["profile"]["revenue_share"] == pytest.approx(1600 / (1200 + 80 + 400 + 15.5))
    # the grid: rows R=5..1, columns FM=1..5; 555 and 544 in R=5 (FM 5 and 4), 212 in R=2 FM=2, 111 in R=1 FM=1
    grid = listing["rfm_grid"]
    assert grid["recency"] == [5, 4, 3, 2, 1] and grid["fm"] == [1, 2, 3, 4, 5] and grid["total"] == 4
    counts = {(c["r"], c["fm"]): (c["count"], c["segment"]) for row in grid["cells"] for c in row if c["count"]}
    assert counts == {(5, 5): (1, "Champions"), (5, 4): (1, "Champions"), (2, 2): (1, "At Risk"),
                      (1, 1): (1, "Hibernating")}
    missing = get(client, "/v1/segments/Nobody", keys.read).json()["error"]["fix"]
    assert "Big spenders, Lapsed" in missing and "Champions, At Risk, Hibernating" in missing


def test_segment_moves_since_the_previous_run(client: TestClient, keys: Keys, service_ws: Workspace) -> None:
    first = get(client, "/v1/segments", keys.read).json()["moves"]
    assert [m["by"] for m in first] == ["rfm", "cluster"]
    assert first[0]["previous_run_id"] is None and first[0]["moves"] == [] and "no earlier run" in first[0]["explanation"]
    # a second run: C1 Champions -> Loyal, C2 At Risk -> Lost, C3 stays, C4 left, C5 is new
    writer = RunStore(service_ws).begin(as_of="2012-01-09", parameters={})
    writer.write_table("segments/customer_segments.parquet", pd.DataFrame({
        "customer_id": ["C1", "C2", "C3", "C5"], "rfm_score": ["444", "111", "555", "511"],
        "rfm_segment": ["Loyal", "Lost", "Champions", "New"], "cluster": [0, 1, 0, 1],
        "cluster_name": ["Big spenders", "Lapsed", "Big spenders", "Lapsed"], "reason": ["r"] * 4,
    }))
    writer.write_json("segments/profiles.json", [{"name": "Big spenders", "cluster": 0, "size": 2},
                                                 {"name": "Lapsed", "cluster": 1, "size": 2}])
    second = writer.commit()
    previous = get(client, "/v1/runs", keys.read).json()["active"]
    RunStore(service_ws).promote(second.run_id)
    rfm, cluster = get(client, "/v1/segments", keys.read).json()["moves"]
    assert (rfm["previous_run_id"], rfm["previous_as_of"]) == (previous, "2011-12-09")
    assert rfm["moves"] == [{"from": "At Risk", "to": "Lost", "count": 1}, {"from": "Champions", "to": "Champions", "count": 1},
                            {"from": "Champions", "to": "Loyal", "count": 1}]
    assert (rfm["compared"], rfm["stayed"], rfm["joined"], rfm["left"]) == (3, 1, 1, 1)
    assert cluster["moves"] == [{"from": "Big spenders", "to": "Big spenders", "count": 2},
                                {"from": "Lapsed", "to": "Lapsed", "count": 1}]


def test_error_shape_is_one_shape(client: TestClient, keys: Keys) -> None:
    """404 (route and resource), 401, 403, 405, 422 (query and body) all answer {"error": {...}}."""
    cases = [
        (client.get("/v1/nowhere", headers=Keys.header(keys.read)), 404, "not_found"),
        (get(client, "/v1/customers/NOPE", keys.read), 404, "not_found"),
        (client.get("/v1/customers/C1"), 401, "unauthorized"),
        (client.get("/v1/customers/C1", headers={"X-API-Key": "tw_00000000_guess"}), 401, "unauthorized"),
        (client.get("/v1/customers/C1", headers={"X-API-Key": "not-a-key"}), 401, "unauthorized"),
        (get(client, "/v1/customers/C1", keys.revoked), 401, "unauthorized"),
        (get(client, "/v1/audit", keys.write), 403, "forbidden"),
        (client.put("/v1/customers/C1", headers=Keys.header(keys.read)), 405, "method_not_allowed"),
        (get(client, "/v1/customers/C1/recommendations", keys.read, params={"n": 0}), 422, "validation_error"),
        (client.post("/v1/audiences", headers=Keys.header(keys.write), json={"name": "x", "conditions": [{"field": "clv", "op": "~", "value": 1}]}), 422, "validation_error"),
        (client.post("/v1/audiences", headers=Keys.header(keys.write), content=b"{not json"), 422, "validation_error"),
    ]
    for response, status, code in cases:
        assert response.status_code == status, response.text
        body = response.json()
        assert set(body) == {"error"}
        assert set(body["error"]) == {"code", "message", "fix", "location", "details"}
        assert body["error"]["code"] == code and body["error"]["message"]
    revoked = get(client, "/v1/customers/C1", keys.revoked).json()["error"]["message"]
    assert revoked == f"API key {keys.revoked.split('_')[1]} was revoked"
    assert get(client, "/v1/audit", keys.write).json()["error"]["message"] == (
        f"API key {keys.write_key.id} has scope 'write'; this needs 'admin'"
    )
    # the key may come as X-API-Key too; health needs none
    assert client.get("/v1/customers/C1", headers={"X-API-Key": keys.read}).status_code == 200
    assert client.get("/v1/health").json()["status"] == "ok"


def test_internal_error_is_generic_without_traceback(client: TestClient, keys: Keys, monkeypatch: pytest.MonkeyPatch) -> None:
    from targetwise.service import views

    def boom(run, customer_id):
        raise RuntimeError("secret internal detail /etc/passwd")

    monkeypatch.setattr(views, "customer_view", boom)
    r = get(client, "/v1/customers/C1", keys.read)
    assert r.status_code == 500
    assert r.json()["error"]["code"] == "internal_error"
    assert "secret" not in r.text and "Traceback" not in r.text


def test_rate_limit_429_with_retry_after(service_ws: Workspace, run_a: RunInfo, keys: Keys) -> None:
    settings = service_ws.settings.model_copy(update={"api_rate_limit_per_minute": 3})
    with TestClient(create_app(settings, workspace=service_ws), base_url="http://127.0.0.1") as c:
        codes = [get(c, "/v1/customers/C1", keys.read).status_code for _ in range(4)]
        assert codes == [200, 200, 200, 429]
        r = get(c, "/v1/customers/C1", keys.read)
        assert r.status_code == 429 and r.headers["Retry-After"] == "20"  # 3/min: one token per 20 s
        assert r.json()["error"]["code"] == "rate_limited"
        assert r.json()["error"]["details"] == {"retry_after_seconds": 20, "limit_per_minute": 3}
        assert get(c, "/v1/customers/C1", keys.write).status_code == 200  # per key


def test_audience_filter_consent_and_exports(client: TestClient, keys: Keys, run_a: RunInfo) -> None:
    body = {"name": "Lapsed low CLV", "conditions": [{"field": "cluster_name", "op": "==", "value": "Lapsed"},
                                                     {"field": "clv.clv", "op": "<", "value": 10}]}
    preview = client.post("/v1/audiences/preview", headers=Keys.header(keys.read), json={"conditions": body["conditions"]})
    assert preview.json() == {"run_id": run_a.run_id, "as_of": "2011-12-09", "size": 1, "excluded": {"profiling_objection": 1}}
    r = client.post("/v1/audiences", headers=Keys.header(keys.write), json=body)
    assert r.status_code == 201
    created = r.json()
    assert {k: created[k] for k in ("id", "name", "version", "size", "run_id", "excluded", "created_by")} == {
        "id": "lapsed-low-clv-v1", "name": "Lapsed low CLV", "version": 1, "size": 1, "run_id": run_a.run_id,
        "excluded": {"profiling_objection": 1}, "created_by": keys.write_key.id,  # C4 objected to profiling
    }
    again = client.post("/v1/audiences", headers=Keys.header(keys.write), json=body).json()
    assert again["id"] == "lapsed-low-clv-v2"
    csv = client.get("/v1/audiences/lapsed-low-clv-v1/export", headers=Keys.header(keys.write), params={"destination": "csv"})
    assert csv.text == "customer_id\nC2\n"
    assert csv.headers["content-disposition"] == 'attachment; filename="lapsed-low-clv-v1-csv.csv"'
    # C2 revoked e-mail consent: an e-mail channel export leaves them out
    email = client.get("/v1/audiences/lapsed-low-clv-v1/export", headers=Keys.header(keys.write),
                       params={"destination": "csv", "channel": "email"})
    assert email.text == "customer_id\n" and email.headers["x-excluded-opt-out"] == "1"
    assert email.headers["x-warning"] == "all 1 members opted out of this channel or of profiling: the file has a header only"
    assert client.get("/v1/audiences/lapsed-low-clv-v1/export", headers=Keys.header(keys.read)).status_code == 403

    everyone = client.post("/v1/audiences", headers=Keys.header(keys.write), json={"name": "all", "conditions": []}).json()
    assert everyone["size"] == 3  # C4 objected to profiling
    google = client.get(f"/v1/audiences/{everyone['id']}/export", headers=Keys.header(keys.write), params={"destination": "google"})
    rows = pd.read_csv(io.StringIO(google.text), dtype=str, keep_default_na=False)
    sha = lambda text: hashlib.sha256(text.encode()).hexdigest()  # noqa: E731
    # C1: Gmail dots and +suffix dropped for Google; C3 revoked ads consent; no customer ids leave
    assert list(rows.columns) == ["Email", "Phone", "First Name", "Last Name", "Country", "Zip"]
    assert rows[["Email", "Phone"]].to_dict("records") == [
        {"Email": sha("annlee@gmail.com"), "Phone": sha("+442070313000")},
        {"Email": sha("bob@example.com"), "Phone": ""},
    ]
    assert google.headers["x-excluded-opt-out"] == "1"
    meta = client.get(f"/v1/audiences/{everyone['id']}/export", headers=Keys.header(keys.write), params={"destination": "meta"})
    assert meta.text.splitlines()[:2] == ["email,phone,fn,ln,country,zip", f"{sha('ann.lee+shop@gmail.com')},{sha('442070313000')},,,,"]
    listed = [a["id"] for a in get(client, "/v1/audiences", keys.read).json()["audiences"]]
    assert sorted(listed) == ["all-v1", "lapsed-low-clv-v1", "lapsed-low-clv-v2"]
    bad = client.post("/v1/audiences", headers=Keys.header(keys.write),
                      json={"name": "x", "conditions": [{"field": "__import__('os').system('id')", "op": "==", "value": 1}]})
    assert bad.status_code == 422 and "unknown field" in bad.json()["error"]["message"]
    assert get(client, "/v1/audiences/nope-v1/export", keys.write).status_code == 404


def test_campaign_plan_matches_the_planner(client: TestClient, keys: Keys) -> None:
    body = {"score": "uplift", "contact_cost": 1.0, "value_per_conversion": 50.0, "holdout_fraction": 0.0,
            "channel": "sms"}
    # the channel defaults to email (as in the CLI): C2 revoked e-mail, C4 objected to profiling
    by_email = client.post("/v1/campaigns/plan", headers=Keys.header(keys.read), json={**body, "channel": None})
    assert by_email.status_code == 422
    default = {k: v for k, v in body.items() if k != "channel"}
    by_email = client.post("/v1/campaigns/plan", headers=Keys.header(keys.read), json=default).json()
    assert by_email["customers_considered"] == 2 and by_email["excluded_opt_out"] == 2
    plan = client.post("/v1/campaigns/plan", headers=Keys.header(keys.read), json=body).json()
    # by SMS: C4 objected to profiling: planned over C1..C3 only
    expected = plan_campaign(pd.DataFrame({"email": [0.10, 0.02, 0.05]}, index=["C1", "C2", "C3"]),
                             contact_cost=1.0, value_per_conversion=50.0, holdout_fraction=0.0, random_state=0)
    assert plan["customers_considered"] == 3 and plan["excluded_opt_out"] == 1
    assert plan["n_contacted"] == expected.n_contacted == 2  # C2: 0.02 * 50 = 1 = cost, not profitable
    assert plan["expected_profit"] == pytest.approx(expected.expected_profit) == pytest.approx(0.15 * 50 - 2)
    assert plan["by_reason"] == {"contact": 2, "unprofitable": 1}
    assert plan["kind"] == "incremental" and plan["expected_responders"] is None and plan["responder_curve"] == []
    bad = client.post("/v1/campaigns/plan", headers=Keys.header(keys.read), json={**body, "score": "nope"})
    assert bad.status_code == 422 and "p_purchase_30d" in bad.json()["error"]["fix"]


def test_a_response_score_ranks_expected_responders_and_claims_no_profit(client: TestClient, keys: Keys) -> None:
    """Issue 19: p_purchase_30d used to be planned as if it were incremental lift (conversions, profit)."""
    body = {"score": "p_purchase_30d", "contact_cost": 1.0, "budget": 2.0, "holdout_fraction": 0.0, "channel": "sms"}
    r = client.post("/v1/campaigns/plan", headers=Keys.header(keys.read), json=body)
    assert r.status_code == 200, r.text
    plan = r.json()
    # C4 objected to profiling; C1 0.7, C3 0.4, C2 0.05: a budget of 2 contacts C1 and C3
    assert plan["kind"] == "responders" and plan["customers_considered"] == 3 and plan["excluded_opt_out"] == 1
    assert (plan["n_contacted"], plan["total_cost"]) == (2, 2.0)
    assert plan["expected_responders"] == pytest.approx(0.7 + 0.4)
    assert plan["by_reason"] == {"contact": 2, "over_budget": 1}
    for claim in ("expected_incremental_conversions", "incremental_conversions_interval", "expected_profit",
                  "profit_interval", "interval_method", "confidence"):
        assert plan[claim] is None, claim
    assert plan["profit_curve"] == []
    assert [(p["depth"], p["cost"], p["feasible"]) for p in plan["responder_curve"]] == [
        (0, 0.0, True), (1, 1.0, True), (2, 2.0, True), (3, 3.0, False)]
    assert [p["expected_responders"] for p in plan["responder_curve"]] == pytest.approx([0, 0.7, 1.1, 1.15])
    assert "not caused by the campaign" in plan["notes"][0]
    # a value per conversion changes nothing (no profit is claimed) and says so
    valued = client.post("/v1/campaigns/plan", headers=Keys.header(keys.read), json={**body, "value_per_conversion": 50}).json()
    assert valued["expected_responders"] == plan["expected_responders"] and valued["expected_profit"] is None
    assert any("not used" in n for n in valued["notes"])
    # at most one contact; the 10% holdout of 2 rounds to 0, of 10 would be 1
    capped = client.post("/v1/campaigns/plan", headers=Keys.header(keys.read),
                         json={**body, "budget": None, "max_contacts": 1}).json()
    assert (capped["n_contacted"], capped["expected_responders"], capped["by_reason"]) == (
        1, pytest.approx(0.7), {"contact": 1, "over_max_contacts": 2})
    unlimited = client.post("/v1/campaigns/plan", headers=Keys.header(keys.read), json={**body, "budget": None})
    assert unlimited.status_code == 422 and "--budget" in unlimited.json()["error"]["fix"]
    money = client.post("/v1/campaigns/plan", headers=Keys.header(keys.read), json={**body, "score": "monetary_total"})
    assert money.status_code == 422 and "not a probability" in money.json()["error"]["message"]


def test_no_uplift_model_refuses_incremental_plans_and_says_how_to_get_one(service_ws: Workspace, keys: Keys) -> None:
    info = make_run(service_ws, skip=("uplift",))
    RunStore(service_ws).promote(info.run_id)
    with TestClient(create_app(service_ws.settings, workspace=service_ws), base_url="http://127.0.0.1") as c:
        r = c.post("/v1/campaigns/plan", headers=Keys.header(keys.read),
                   json={"score": "uplift", "contact_cost": 1.0, "value_per_conversion": 50.0})
        assert r.status_code == 404
        error = r.json()["error"]
        assert f"run {info.run_id} has no uplift model: its uplift stage skipped (not requested)" in error["message"]
        for step in ("randomised campaign", "holdout", "ingest campaign_exposures", "ingest responses", "targetwise run"):
            assert step in error["fix"], step
        assert error["details"]["stage"] == "uplift"
        # a response ranking is still possible, and claims nothing incremental
        ranked = c.post("/v1/campaigns/plan", headers=Keys.header(keys.read),
                        json={"score": "p_purchase_30d", "contact_cost": 1.0, "max_contacts": 2}).json()
        assert ranked["kind"] == "responders" and ranked["expected_profit"] is None


def test_events_are_validated_like_ingest(client: TestClient, keys: Keys, service_ws: Workspace) -> None:
    line = {"customer_id": "C9", "order_id": "E1", "ordered_at": "2011-12-09 10:00:00", "product_id": "P1",
            "quantity": 2, "unit_price": 3.5}
    bad = {**line, "order_id": "E2", "unit_price": -1}
    r = client.post("/v1/events", headers=Keys.header(keys.write), json={"transactions": [line, bad]})
    assert r.status_code == 201
    summary = r.json()
    assert (summary["rows_read"], summary["rows_loaded"], summary["rows_quarantined"]) == (2, 1, 1)
    assert summary["reasons"] == {"non_positive_price": 1}
    again = client.post("/v1/events", headers=Keys.header(keys.write), json={"transactions": [line, bad]}).json()
    assert again["already_loaded"] is True and again["load_id"] == summary["load_id"]
    with service_ws.connect(read_only=True) as con:
        assert con.execute("SELECT count(*), sum(line_amount) FROM transactions WHERE customer_id='C9'").fetchone() == (1, 7.0)
    assert client.post("/v1/events", headers=Keys.header(keys.read), json={"transactions": [line]}).status_code == 403
    extra = client.post("/v1/events", headers=Keys.header(keys.write), json={"transactions": [{**line, "colour": "red"}]})
    assert extra.status_code == 422


def test_audit_log_admin_only_and_pseudonymous(client: TestClient, keys: Keys, service_ws: Workspace) -> None:
    get(client, "/v1/customers/C1", keys.read)
    get(client, "/v1/customers/C3", keys.write)
    get(client, "/v1/customers/C1", keys.revoked)  # refused: no key id to record
    log = get(client, "/v1/audit", keys.admin, params={"customer_id": "C1"}).json()
    assert log["total"] == 1
    entry = log["entries"][0]
    assert (entry["key_id"], entry["action"], entry["route"], entry["status"]) == (
        keys.read_key.id, "get_customer", "/v1/customers/{customer_id}", 200
    )
    assert entry["subject"].startswith("customer:") and "C1" not in entry["subject"]
    assert get(client, "/v1/audit", keys.admin, params={"key_id": keys.write_key.id}).json()["total"] == 1
    raw = (service_ws.artifacts / "audit" / "audit.jsonl").read_text()
    assert '"C1"' not in raw and "/customers/C1" not in raw and keys.read not in raw
    assert get(client, "/v1/audit", keys.read).status_code == 403


def test_runs_listing_and_admin_promotion(client: TestClient, keys: Keys, service_ws: Workspace, run_a: RunInfo) -> None:
    b = make_run(service_ws, scale=10)
    runs = get(client, "/v1/runs", keys.read).json()
    assert runs["active"] == run_a.run_id and [r["run_id"] for r in runs["runs"]] == sorted([run_a.run_id, b.run_id])
    assert client.post(f"/v1/runs/{b.run_id}/promote", headers=Keys.header(keys.write)).status_code == 403
    assert client.post(f"/v1/runs/{b.run_id}/promote", headers=Keys.header(keys.admin)).json()["active"] is True
    c1 = get(client, "/v1/customers/C1", keys.read).json()
    assert (c1["run_id"], c1["clv"]["clv"]) == (b.run_id, 3800.0)
    assert client.post("/v1/runs/nope/promote", headers=Keys.header(keys.admin)).status_code == 404
