"""The service over a real `targetwise run` on the Online Retail sample (features stage)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from conftest import ONLINE_RETAIL_MAPPING, ONLINE_RETAIL_SAMPLE
from targetwise.features import compute_features
from targetwise.io.ingest import ingest
from targetwise.io.keys import KeyStore
from targetwise.io.workspace import Workspace
from targetwise.pipeline.run import run_pipeline
from targetwise.service.app import create_app


def test_customer_features_served_from_a_real_run(workspace: Workspace) -> None:
    ingest(workspace, "transactions", ONLINE_RETAIL_SAMPLE, mapping=ONLINE_RETAIL_MAPPING)
    info = run_pipeline(workspace, workspace.settings, stages=["features"])
    _, token = KeyStore(workspace).create(scope="read")
    features = compute_features(workspace.db_path, "2011-12-09").set_index("customer_id")
    customer = str(features["frequency"].idxmax())  # the most frequent buyer of the sample
    expected = features.loc[customer]
    with TestClient(create_app(workspace.settings, workspace=workspace), base_url="http://127.0.0.1") as client:
        body = client.get(f"/v1/customers/{customer}", headers={"X-API-Key": token}).json()
        assert (body["run_id"], body["as_of"]) == (info.run_id, "2011-12-09")
        assert body["features"]["frequency"] == int(expected["frequency"]) > 1
        assert body["features"]["monetary_total"] == pytest.approx(float(expected["monetary_total"]))
        assert body["features"]["recency_days"] == pytest.approx(float(expected["recency_days"]))
        # only the features stage ran: the other sections say so
        assert body["segment"] is None and body["clv"] is None
        assert body["unavailable"]["clv"] == f"stage 'clv' did not run in run {info.run_id}"
        # 12605 only ever returned an item: not in the run, a clear 404
        missing = client.get("/v1/customers/12605", headers={"X-API-Key": token})
        assert missing.status_code == 404 and "is not in run" in missing.json()["error"]["message"]
