# ruff: noqa: F811  (pytest fixtures imported from service_fixtures)
"""GET /v1/audiences/{id}/export: chosen columns, vendor templates, warnings and the no-identifier refusal.

On the hand-made service workspace (tests/service_fixtures.py): C4 objected to
profiling, C3 revoked ads consent, C2 revoked e-mail consent; run "a" is served.
"""

from __future__ import annotations

import hashlib
import io
import shutil

import pandas as pd
from fastapi.testclient import TestClient

from service_fixtures import Keys, client, keys, make_run, run_a, service_ws  # noqa: F401
from targetwise.io.audiences import AudienceStore
from targetwise.io.runs import RunInfo, RunStore
from targetwise.io.workspace import Workspace
from targetwise.usecases.audiences import export_audience

ALL_COLUMNS = "segment,clv,scores,recommendations"


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _everyone(client: TestClient, keys: Keys) -> str:
    r = client.post("/v1/audiences", headers=Keys.header(keys.write), json={"name": "all", "conditions": []})
    assert r.status_code == 201 and r.json()["size"] == 3  # C4 objected to profiling
    return r.json()["id"]


def _export(client: TestClient, keys: Keys, audience_id: str, **params: object):
    return client.get(f"/v1/audiences/{audience_id}/export", headers=Keys.header(keys.write), params=params)


def test_csv_with_chosen_columns_reads_the_audiences_run(client: TestClient, keys: Keys) -> None:
    audience = _everyone(client, keys)
    r = _export(client, keys, audience, destination="csv", columns=ALL_COLUMNS, top_n=2)
    assert r.status_code == 200, r.text
    assert r.text.splitlines() == [
        "customer_id,cluster_name,rfm_segment,clv,clv_lower,clv_upper,p_purchase_30d,p_churn_90d,recommended_products",
        "C1,Big spenders,Champions,380.0,300.0,460.0,0.7,0.1,P2|P3",  # top 2 of P2, P3, P1
        "C2,Lapsed,At Risk,7.5,2.0,15.0,0.05,0.8,P1",
        "C3,Big spenders,Champions,115.0,90.0,140.0,0.4,0.3,",  # no recommendations for C3
    ]
    assert "x-warning" not in r.headers and r.headers["x-exported-rows"] == "3"
    only_segment = _export(client, keys, audience, columns="Segment")  # names are case-insensitive
    assert only_segment.text.splitlines()[:2] == ["customer_id,cluster_name,rfm_segment", "C1,Big spenders,Champions"]
    parquet = _export(client, keys, audience, destination="parquet", columns="clv,recommendations")
    frame = pd.read_parquet(io.BytesIO(parquet.content))
    assert frame["clv_upper"].tolist() == [460.0, 15.0, 140.0]
    assert frame["recommended_products"].tolist()[:2] == ["P2|P3|P1", "P1"]  # top 5 by default


def test_the_library_and_the_api_write_the_same_file(client: TestClient, keys: Keys, service_ws: Workspace) -> None:
    audience = _everyone(client, keys)
    api = _export(client, keys, audience, columns="scores,segment", channel="email")
    direct = export_audience(service_ws, audience, destination="csv", columns="scores,segment", channel="email")
    assert api.content == direct.data  # what `audience export --columns` writes, with no served run at hand
    assert api.text.splitlines()[0] == "customer_id,p_purchase_30d,p_churn_90d,cluster_name,rfm_segment"
    assert [line.split(",")[0] for line in api.text.splitlines()[1:]] == ["C1", "C3"]  # C2 revoked e-mail


def test_columns_follow_the_audiences_run_and_fall_back_with_a_warning(
    client: TestClient, keys: Keys, service_ws: Workspace, run_a: RunInfo
) -> None:
    audience = _everyone(client, keys)
    run_b = make_run(service_ws, scale=10.0)
    RunStore(service_ws).promote(run_b.run_id)
    same = _export(client, keys, audience, columns="clv")
    assert same.text.splitlines()[1] == "C1,380.0,300.0,460.0"  # run a's values (the audience's), not run b's 3800
    assert "x-warning" not in same.headers
    shutil.rmtree(RunStore(service_ws).root / run_a.run_id)
    gone = _export(client, keys, audience, columns="clv")
    assert gone.status_code == 200 and gone.text.splitlines()[1] == "C1,3800.0,3000.0,4600.0"
    assert gone.headers["x-warning"] == (
        f"the audience was selected from run {run_a.run_id}, which is no longer stored: "
        f"the extra columns come from run {run_b.run_id}"
    )


def test_bad_columns_are_refused_with_the_fix(client: TestClient, keys: Keys, service_ws: Workspace) -> None:
    audience = _everyone(client, keys)
    unknown = _export(client, keys, audience, columns="segment,email")
    assert unknown.status_code == 422
    assert unknown.json()["error"]["message"] == "unknown export column 'email'"
    assert unknown.json()["error"]["fix"] == "choose from segment, clv, scores, recommendations (comma-separated)"
    google = _export(client, keys, audience, destination="google", columns="segment")
    assert google.status_code == 422 and "destination=csv" in google.json()["error"]["fix"]
    assert _export(client, keys, audience, columns="recommendations", top_n=0).status_code == 422
    # a run without the stage: 404 naming it
    lean = make_run(service_ws, skip=("recommendations",))
    RunStore(service_ws).promote(lean.run_id)
    on_lean = _everyone(client, keys)
    missing = _export(client, keys, on_lean, columns="recommendations")
    assert missing.status_code == 404 and missing.json()["error"]["details"]["stage"] == "recommendations"


def test_google_and_meta_files_have_their_template_headers(client: TestClient, keys: Keys) -> None:
    audience = _everyone(client, keys)
    google = _export(client, keys, audience, destination="google")
    rows = pd.read_csv(io.StringIO(google.text), dtype=str, keep_default_na=False)
    assert list(rows.columns) == ["Email", "Phone", "First Name", "Last Name", "Country", "Zip"]
    assert rows[["Email", "Phone"]].to_dict("records") == [  # C3 revoked ads consent
        {"Email": _sha("annlee@gmail.com"), "Phone": _sha("+442070313000")},
        {"Email": _sha("bob@example.com"), "Phone": ""},
    ]
    meta = _export(client, keys, audience, destination="meta")
    assert meta.text.splitlines() == [
        "email,phone,fn,ln,country,zip",
        f"{_sha('ann.lee+shop@gmail.com')},{_sha('442070313000')},,,,",
        f"{_sha('bob@example.com')},,,,,",
    ]
    assert "x-warning" not in meta.headers


def test_exports_warn_about_members_without_identifiers_and_refuse_when_nobody_has_one(
    client: TestClient, keys: Keys, service_ws: Workspace, run_a: RunInfo
) -> None:
    store = AudienceStore(service_ws)

    def save(slug: str, members: list[str]) -> str:
        return store.save(slug=slug, name=slug, members=members, run_id=run_a.run_id, definition=[], excluded={},
                          created_by=None).id

    partly = _export(client, keys, save("partly", ["C1", "C9"]), destination="google")
    assert partly.status_code == 200 and len(partly.text.splitlines()) == 2
    assert partly.headers["x-without-identifier"] == "1" and partly.headers["x-exported-rows"] == "1"
    assert partly.headers["x-warning"] == (
        "1 of 2 members who may be contacted have no usable e-mail or phone and are not in the file"
    )
    nobody = _export(client, keys, save("no-pii", ["C8", "C9"]), destination="meta")
    assert nobody.status_code == 422
    error = nobody.json()["error"]
    assert error["code"] == "data_validation_error"
    assert error["message"].startswith("none of the 2 members who may be contacted has a usable e-mail address")
    assert "customer_pii" in error["fix"]
    assert error["details"] == {"members": 2, "excluded_opt_out": 0, "without_identifier": 2, "invalid_identifiers": 0}
    # everyone opted out of the channel: the empty file is the answer, and the warning says why
    emailed = _export(client, keys, save("lapsed", ["C2"]), destination="csv", channel="email")
    assert emailed.status_code == 200 and emailed.text == "customer_id\n"
    assert emailed.headers["x-warning"] == (
        "all 1 members opted out of this channel or of profiling: the file has a header only"
    )
