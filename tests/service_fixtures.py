"""A small hand-made workspace for the service tests: two runs following the run output contract.

Customers C1..C4, products P1..P3. C4 objected to profiling (after the run was
made, so the run still holds C4: audiences and exports must drop it); C3
revoked ads consent (google/meta exports must drop it). Run "b" has every
money value x10 and probabilities shifted, so a response can be matched to its run.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from targetwise.config import get_settings
from targetwise.io.ingest import ingest
from targetwise.io.keys import KeyStore
from targetwise.io.runs import RunInfo, RunStore
from targetwise.io.workspace import Workspace
from targetwise.service.app import create_app

IDS = ["C1", "C2", "C3", "C4"]


def _drivers(*pairs: tuple[str, float, float, str]) -> str:
    return json.dumps([{"feature": f, "value": v, "contribution": c, "text": t} for f, v, c, t in pairs])


def make_run(ws: Workspace, *, scale: float = 1.0, shift: float = 0.0, skip: tuple[str, ...] = ()) -> RunInfo:
    """Write one run with every contract output (minus ``skip`` folders) and return it (not promoted)."""
    writer = RunStore(ws).begin(as_of="2011-12-09", parameters={"fixture": True, "scale": scale})
    if "features" not in skip:
        writer.write_table(
            "features/customer_features.parquet",
            pd.DataFrame(
                {
                    "customer_id": IDS,
                    "recency_days": [3.0, 200.0, 10.0, 400.0],
                    "frequency": [12, 2, 5, 1],
                    "monetary_total": [1200.0 * scale, 80.0 * scale, 400.0 * scale, 15.5 * scale],
                    "monetary_mean": [100.0 * scale, 40.0 * scale, 80.0 * scale, 15.5 * scale],
                    "tenure_days": [700.0, 500.0, 300.0, 400.0],
                    "orders_90d": [4, 0, 2, 0],
                    "distinct_products": [30, 3, 12, 1],
                    "returns_rate": [0.05, 0.0, 0.1, 0.0],
                    "top_category": ["home", None, "garden", "home"],
                }
            ),
        )
        writer.stage_record("features").status = "ok"
    if "segments" not in skip:
        writer.write_table(
            "segments/customer_segments.parquet",
            pd.DataFrame(
                {
                    "customer_id": IDS,
                    "rfm_score": ["555", "212", "544", "111"],
                    "rfm_segment": ["Champions", "At Risk", "Champions", "Hibernating"],
                    "cluster": [0, 1, 0, 1],
                    "cluster_name": ["Big spenders", "Lapsed", "Big spenders", "Lapsed"],
                    "reason": [
                        "bought 12 times, last 3 days ago",
                        "no order for 200 days",
                        "bought 5 times, last 10 days ago",
                        "one order 400 days ago",
                    ],
                }
            ),
        )
        writer.write_json(
            "segments/profiles.json",
            [
                {"name": "Big spenders", "cluster": 0, "size": 2, "share": 0.5, "revenue_share": 0.94,
                 "description": "frequent, recent, high spend",
                 "features": {"frequency": {"mean": 8.5, "median": 8.5, "overall_mean": 5.0}}},
                {"name": "Lapsed", "cluster": 1, "size": 2, "share": 0.5, "revenue_share": 0.06,
                 "description": "long gone",
                 "features": {"frequency": {"mean": 1.5, "median": 1.5, "overall_mean": 5.0}}},
            ],
        )
        writer.stage_record("segments").status = "ok"
    if "clv" not in skip:
        writer.write_table(
            "clv/customer_clv.parquet",
            pd.DataFrame(
                {
                    "customer_id": IDS,
                    "p_alive": [0.98, 0.3, 0.9, 0.1],
                    "expected_purchases": [4.0, 0.2, 1.5, 0.05],
                    "expected_spend": [400.0 * scale, 8.0 * scale, 120.0 * scale, 0.8 * scale],
                    "clv": [380.0 * scale, 7.5 * scale, 115.0 * scale, 0.75 * scale],
                    "clv_lower": [300.0 * scale, 2.0 * scale, 90.0 * scale, 0.1 * scale],
                    "clv_upper": [460.0 * scale, 15.0 * scale, 140.0 * scale, 2.0 * scale],
                }
            ),
        )
        record = writer.stage_record("clv")
        record.status = "ok"
        record.params = {"horizon": 365, "time_unit": "D"}
    if "propensity" not in skip:
        writer.write_table(
            "propensity/scores.parquet",
            pd.DataFrame(
                {
                    "customer_id": IDS,
                    "p_purchase_30d": [0.7 - shift, 0.05, 0.4 - shift, 0.01],
                    "p_churn_90d": [0.1, 0.8, 0.3, 0.95],
                    "drivers_purchase_30d": [
                        _drivers(("recency_days", 3.0, 0.31, "bought 3 days ago"),
                                 ("frequency", 12, 0.22, "12 orders so far"),
                                 ("orders_90d", 4, 0.1, "4 orders in the last 90 days"),
                                 ("returns_rate", 0.05, -0.01, "few returns")),
                        _drivers(("recency_days", 200.0, -0.4, "no order for 200 days")),
                        _drivers(),
                        None,
                    ],
                    "expected_days_to_next_order": [12.5, None, 40.0, None],
                }
            ),
        )
        writer.stage_record("propensity").status = "ok"
    if "recommendations" not in skip:
        writer.write_table(
            "recommendations/recommendations.parquet",
            pd.DataFrame(
                {
                    "customer_id": ["C1", "C1", "C1", "C2"],
                    "rank": [1, 2, 3, 1],
                    "product_id": ["P2", "P3", "P1", "P1"],
                    "score": [0.9, 0.5, 0.25, 0.6],
                    "reason": ["bought with P1", "similar to P2", "you bought it before", "popular in Lapsed"],
                }
            ),
        )
        writer.write_table(
            "recommendations/similar_products.parquet",
            pd.DataFrame(
                {"product_id": ["P1", "P1", "P2"], "rank": [1, 2, 1], "similar_product_id": ["P2", "P3", "P1"],
                 "score": [0.8, 0.3, 0.8]}
            ),
        )
        writer.write_table(
            "recommendations/popular.parquet",
            pd.DataFrame({"rank": [1, 2, 3], "product_id": ["P3", "P1", "P2"], "score": [120.0, 80.0, 10.0]}),
        )
        writer.stage_record("recommendations").status = "ok"
    if "uplift" not in skip:
        writer.write_table(
            "uplift/uplift.parquet",
            pd.DataFrame({"customer_id": IDS, "uplift_email": [0.10, 0.02, 0.05, -0.03]}),
        )
        writer.stage_record("uplift").status = "ok"
    for stage in skip:
        writer.skip(stage, "not requested")
    return writer.commit()


def load_workspace_tables(ws: Workspace, folder: Path) -> None:
    """Products (names), personal data and consent decisions for C1..C4."""
    products = folder / "products.csv"
    products.write_text("product_id,name\nP1,Red mug\nP2,Blue plate\nP3,Garden gnome\n")
    ingest(ws, "products", products)
    pii = folder / "pii.csv"
    pii.write_text(
        "customer_id,email,phone\n"
        "C1, Ann.Lee+shop@GMail.com ,+44 20 7031 3000\n"
        "C2,bob@example.com,\n"
        "C3,cat@example.com,+1 650 555 1212\n"
        "C4,dan@example.com,\n"
    )
    ingest(ws, "customer_pii", pii)
    consent = folder / "consent.csv"
    consent.write_text(
        "customer_id,purpose,status,recorded_at\n"
        "C4,profiling,denied,2011-12-10\n"
        "C3,ads,revoked,2011-12-10\n"
        "C2,email,revoked,2011-12-10\n"
    )
    ingest(ws, "consent", consent)


class Keys:
    """Plaintext keys of each scope, plus a revoked one."""

    def __init__(self, ws: Workspace) -> None:
        store = KeyStore(ws)
        self.read_key, self.read = store.create(scope="read", name="analyst")
        self.write_key, self.write = store.create(scope="write", name="crm")
        self.admin_key, self.admin = store.create(scope="admin", name="ops")
        revoked_key, self.revoked = store.create(scope="admin", name="old")
        store.revoke(revoked_key.id)

    @staticmethod
    def header(token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def service_ws(tmp_path: Path) -> Workspace:
    settings = get_settings(workspace=tmp_path / "ws", duckdb_threads=1, api_rate_limit_per_minute=100_000)
    ws = Workspace.init(settings.workspace, settings)
    load_workspace_tables(ws, tmp_path)
    return ws


@pytest.fixture
def run_a(service_ws: Workspace) -> RunInfo:
    info = make_run(service_ws)
    RunStore(service_ws).promote(info.run_id)
    return info


@pytest.fixture
def keys(service_ws: Workspace) -> Keys:
    return Keys(service_ws)


@pytest.fixture
def client(service_ws: Workspace, run_a: RunInfo, keys: Keys) -> TestClient:
    app = create_app(service_ws.settings, workspace=service_ws)
    with TestClient(app, raise_server_exceptions=False, base_url="http://127.0.0.1") as test_client:
        yield test_client
