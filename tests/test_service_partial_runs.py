"""POST /v1/runs/{id}/promote and a run with a failed stage: 409 partial_run unless partial=true."""

from __future__ import annotations

# ruff: noqa: F811  (pytest fixtures imported from service_fixtures)
import pandas as pd
from fastapi.testclient import TestClient

from service_fixtures import Keys, client, keys, run_a, service_ws  # noqa: F401
from targetwise.io import outputs as out
from targetwise.io.runs import RunStore
from targetwise.io.workspace import Workspace


def test_a_partial_run_is_promoted_only_when_asked(client: TestClient, keys: Keys, service_ws: Workspace) -> None:
    store = RunStore(service_ws)
    before = store.active_id()
    writer = store.begin(as_of="2011-12-10", parameters={})
    with writer.stage("features"):
        writer.write_table(out.FEATURES, pd.DataFrame({"customer_id": ["C1", "C2"]}))
    writer.stage_record("clv").fail(RuntimeError("boom"))
    info = writer.commit()
    assert info.failed_stages() == ["clv"]
    admin = Keys.header(keys.admin)
    refused = client.post(f"/v1/runs/{info.run_id}/promote", headers=admin)
    assert refused.status_code == 409
    body = refused.json()["error"]
    assert body["code"] == "partial_run" and "--partial" in body["fix"] and body["details"]["failed_stages"] == ["clv"]
    assert store.active_id() == before
    done = client.post(f"/v1/runs/{info.run_id}/promote", params={"partial": "true"}, headers=admin)
    assert done.status_code == 200 and done.json()["stages"] == {"features": "ok", "clv": "failed"}
    assert store.active_id() == info.run_id
    # the served partial run answers for what completed and names the failed stage for the rest
    clv = client.get("/v1/customers/C1", headers=Keys.header(keys.read)).json()
    assert clv["clv"] is None and "clv" in clv["unavailable"]
