# ruff: noqa: F811  (pytest fixtures imported from service_fixtures)
"""Privacy over the API: DELETE /v1/customers/{id} (admin), POST /v1/consent, GET .../consent.

The hand-made workspace of ``service_fixtures``: C1..C4 in one run; C1 has personal
data and no consent record; C3 revoked ads, C2 e-mail, C4 objected to profiling.
"""

from __future__ import annotations

import hashlib
import io

import pandas as pd
from fastapi.testclient import TestClient

from service_fixtures import Keys, client, keys, make_run, run_a, service_ws  # noqa: F401
from targetwise.io.audit import AuditLog
from targetwise.io.erasure import erasure_log
from targetwise.io.runs import RunInfo, RunStore
from targetwise.io.workspace import Workspace


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def test_delete_customer_scopes_not_found_then_erased(
    client: TestClient, keys: Keys, run_a: RunInfo, service_ws: Workspace
) -> None:
    assert client.get("/v1/customers/C1", headers=Keys.header(keys.read)).status_code == 200  # now cached
    assert client.delete("/v1/customers/C1").status_code == 401
    for token in (keys.read, keys.write):
        r = client.delete("/v1/customers/C1", headers=Keys.header(token))
        assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"
    unknown = client.delete("/v1/customers/NOBODY", headers=Keys.header(keys.admin))
    assert unknown.status_code == 404
    assert set(unknown.json()) == {"error"} and unknown.json()["error"]["code"] == "not_found"

    r = client.delete("/v1/customers/C1", headers=Keys.header(keys.admin))
    assert r.status_code == 200, r.text
    body = r.json()
    run = f"artifacts/runs/{run_a.run_id}"
    assert body["subject"] == f"customer:{AuditLog(service_ws).pseudonym('C1')}"
    assert body["tables"] == {"customer_pii": 1}
    assert body["files"] == {
        f"{run}/clv/customer_clv.parquet": 1,
        f"{run}/features/customer_features.parquet": 1,
        f"{run}/propensity/scores.parquet": 1,
        f"{run}/recommendations/recommendations.parquet": 3,
        f"{run}/segments/customer_segments.parquet": 1,
        f"{run}/uplift/uplift.parquet": 1,
    }
    assert body["rows_removed"] == 9 and body["runs_rewritten"] == [run_a.run_id]

    # the served run was rewritten: reads of C1 are 404 at once, other customers unchanged
    gone = client.get("/v1/customers/C1", headers=Keys.header(keys.read))
    assert gone.status_code == 404 and gone.json()["error"]["code"] == "not_found"
    assert client.get("/v1/customers/C2", headers=Keys.header(keys.read)).json()["clv"]["clv"] == 7.5
    recs = client.get("/v1/customers/C1/recommendations", headers=Keys.header(keys.read)).json()
    assert recs["source"] == "popular"  # no personal recommendations left
    assert client.delete("/v1/customers/C1", headers=Keys.header(keys.admin)).status_code == 404
    info = RunStore(service_ws).get(run_a.run_id)
    assert "C1" not in set(info.read_table("features/customer_features.parquet")["customer_id"])
    with service_ws.connect(read_only=True) as con:
        assert con.execute("SELECT count(*) FROM customer_pii WHERE customer_id = 'C1'").fetchone() == (0,)
        assert con.execute("SELECT count(*) FROM customer_pii").fetchone() == (3,)
    (logged,) = erasure_log(service_ws)
    assert logged["actor"] == f"key:{keys.admin_key.id}" and logged["subject"] == body["subject"]
    audit = client.get("/v1/audit", headers=Keys.header(keys.admin), params={"action": "delete_customer"}).json()
    statuses = sorted(e["status"] for e in audit["entries"])
    assert statuses == [200, 403, 403, 404, 404]
    raw = (service_ws.artifacts / "audit" / "audit.jsonl").read_text() + (
        service_ws.artifacts / "audit" / "erasures.jsonl"
    ).read_text()
    assert '"C1"' not in raw and "ann.lee" not in raw.lower() and "7031" not in raw


def test_consent_post_and_get(client: TestClient, keys: Keys) -> None:
    body = {"customer_id": "C1", "purpose": "ads", "status": "revoked", "source": "call centre"}
    assert client.post("/v1/consent", json=body).status_code == 401
    assert client.post("/v1/consent", headers=Keys.header(keys.read), json=body).status_code == 403
    r = client.post("/v1/consent", headers=Keys.header(keys.write), json=body)
    assert r.status_code == 201, r.text
    assert (r.json()["table"], r.json()["rows_loaded"], r.json()["rows_quarantined"]) == ("consent", 1, 0)
    shown = client.get("/v1/customers/C1/consent", headers=Keys.header(keys.read)).json()
    assert shown["status"] == {"profiling": "granted", "email": "granted", "sms": "granted", "ads": "revoked"}
    (decision,) = shown["history"]
    assert (decision["purpose"], decision["status"]) == ("ads", "revoked")
    assert decision["source"] == f"call centre (key {keys.write_key.id})"
    c4 = client.get("/v1/customers/C4/consent", headers=Keys.header(keys.read)).json()
    assert c4["status"]["profiling"] == "denied" and c4["history"][0]["recorded_at"] == "2011-12-10T00:00:00"
    bad = client.post("/v1/consent", headers=Keys.header(keys.write), json={**body, "purpose": "postal"})
    assert bad.status_code == 422 and set(bad.json()) == {"error"}
    assert bad.json()["error"]["code"] == "validation_error"


def test_consent_change_applies_to_the_next_ads_export(client: TestClient, keys: Keys) -> None:
    """Google export: C3 (ads revoked) and C4 (profiling) out; after C1 revokes ads via the API, C1 too."""
    everyone = client.post("/v1/audiences", headers=Keys.header(keys.write), json={"name": "all", "conditions": []})
    audience = everyone.json()["id"]

    def google() -> tuple[list[dict[str, str]], str]:
        r = client.get(f"/v1/audiences/{audience}/export", headers=Keys.header(keys.write),
                       params={"destination": "google"})
        rows = pd.read_csv(io.StringIO(r.text), dtype=str, keep_default_na=False).to_dict("records")
        return rows, r.headers["x-excluded-opt-out"]

    rows, excluded = google()
    assert excluded == "1" and {r["Email"] for r in rows} == {_sha("annlee@gmail.com"), _sha("bob@example.com")}
    client.post("/v1/consent", headers=Keys.header(keys.write),
                json={"customer_id": "C1", "purpose": "ads", "status": "revoked"})
    rows, excluded = google()
    assert excluded == "2" and rows == [{"Email": _sha("bob@example.com"), "Phone": "", "First Name": "", "Last Name": "", "Country": "", "Zip": ""}]
    # an e-mail revocation does not touch ad exports; a later ads grant (newest wins) restores C1
    for purpose, status in (("email", "revoked"), ("ads", "granted")):
        client.post("/v1/consent", headers=Keys.header(keys.write),
                    json={"customer_id": "C1", "purpose": purpose, "status": status})
    rows, excluded = google()
    assert excluded == "1" and len(rows) == 2


def test_erasure_by_another_process_shows_at_once(client: TestClient, keys: Keys, service_ws: Workspace) -> None:
    """The CLI erases while the service has the run in memory: the rewritten manifest makes it reload."""
    from targetwise.io.erasure import erase_customer

    assert client.get("/v1/customers/C3", headers=Keys.header(keys.read)).status_code == 200
    erase_customer(Workspace.open(service_ws.path, service_ws.settings), "C3", actor="cli:test")
    gone = client.get("/v1/customers/C3", headers=Keys.header(keys.read))
    assert gone.status_code == 404 and "C3" in gone.json()["error"]["message"]
    segment = client.get("/v1/segments/Big spenders", headers=Keys.header(keys.read)).json()
    assert [m["customer_id"] for m in segment["members"]["items"]] == ["C1"]
