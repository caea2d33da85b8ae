"""`targetwise demo` end to end."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from targetwise.cli import app
from targetwise.io.runs import RunStore
from targetwise.io.workspace import Workspace
from targetwise.pipeline.stages import STAGES  # every stage the pipeline has: each must run in the demo


@pytest.mark.slow
def test_demo_synthetic_end_to_end(synthetic_demo: Workspace) -> None:
    """Small synthetic shop: every stage runs, including uplift (it has a randomised campaign)."""
    ws, ws_path = synthetic_demo, synthetic_demo.path
    active = RunStore(ws).active()
    assert active is not None
    assert {s: rec["status"] for s, rec in active.manifest["stages"].items()} == dict.fromkeys(STAGES, "ok")
    for output in ("features/customer_features.parquet", "segments/customer_segments.parquet", "clv/customer_clv.parquet",
                   "propensity/scores.parquet", "recommendations/recommendations.parquet", "uplift/uplift.parquet"):
        assert active.has(output), output
    customers = active.read_table("features/customer_features.parquet")["customer_id"]
    scores = active.read_table("propensity/scores.parquet")
    assert set(scores["customer_id"]) == set(customers)
    assert scores["p_purchase_30d"].between(0, 1).all()
    # nobody who objected to profiling appears in any output
    with ws.connect(read_only=True) as con:
        objected = {r[0] for r in con.execute(
            "SELECT customer_id FROM consent WHERE purpose='profiling' QUALIFY row_number() OVER "
            "(PARTITION BY customer_id ORDER BY recorded_at DESC) = 1 AND status IN ('denied','revoked')").fetchall()}
    assert objected, "the synthetic shop plants profiling objections"
    assert not objected & set(customers)
    assert not objected & set(active.read_table("recommendations/recommendations.parquet")["customer_id"])
    assert (ws_path / "artifacts" / "reports" / "profile.html").exists()


@pytest.mark.slow
def test_demo_command_prints_where_everything_is(tmp_path: Path) -> None:
    r = CliRunner().invoke(
        app, ["demo", "--workspace", str(tmp_path / "d"), "--data", "synthetic", "--n-customers", "120"], env={"COLUMNS": "200"}
    )
    assert r.exit_code == 0, r.output
    assert "demo workspace ready" in r.output and "stages run: ingest, profile, features, segments, clv" in r.output
    assert str(tmp_path / "d" / "artifacts" / "reports" / "profile.html") in r.output.replace("\n", "")
    assert f"targetwise serve --workspace {tmp_path / 'd'}" in r.output.replace("\n", "")
    # the two sample audiences are saved before the report, which lists them
    from targetwise.config import get_settings
    from targetwise.io.audiences import AudienceStore

    store = AudienceStore(Workspace.open(tmp_path / "d", get_settings(workspace=tmp_path / "d")))
    sizes = {a.id: a.size for a in store.list()}
    assert set(sizes) == {"top-tenth-by-clv-v1", "like-the-top-tenth-by-clv-v1"}
    for audience_id, size in sizes.items():
        assert f"sample audience {audience_id}: {size:,} customers" in r.output
    report = (tmp_path / "d" / "artifacts" / "reports" / "report.html").read_text()
    assert all(f'data-audience="{a}"' in report for a in sizes) and 'id="send-times"' in report and 'id="offers"' in report
    # the key printed once works against the service
    from fastapi.testclient import TestClient

    from targetwise.io.keys import PREFIX
    from targetwise.service.app import create_app

    token = next(line.strip() for line in r.output.splitlines() if line.strip().startswith(PREFIX))
    client = TestClient(create_app(get_settings(workspace=tmp_path / "d")))
    assert client.get("/v1/runs", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    assert client.get("/v1/runs", headers={"Authorization": "Bearer wrong"}).status_code == 401


def test_demo_refuses_to_overwrite_a_foreign_folder(tmp_path: Path) -> None:
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "keep.txt").write_text("x")
    r = CliRunner().invoke(app, ["demo", "--workspace", str(tmp_path / "mine")])
    assert r.exit_code == 1 and "will not overwrite" in r.output
    assert (tmp_path / "mine" / "keep.txt").exists()


def test_demo_rejects_unknown_data(tmp_path: Path) -> None:
    r = CliRunner().invoke(app, ["demo", "--workspace", str(tmp_path / "x"), "--data", "mars"])
    assert r.exit_code == 1 and "unknown demo data 'mars'" in r.output


@pytest.mark.slow
def test_demo_on_the_bundled_online_retail_data(online_retail_demo: Workspace) -> None:
    """`make demo`'s job: real data through every stage (uplift is skipped: the data has no campaign).

    The session's ``online_retail_demo`` fixture is ``run_demo(path, settings, data="online-retail")`` without the
    sample audiences (tests/conftest.py), built once per test session; building it again here cost 95 s of a 2-core CI box.
    """
    run = RunStore(online_retail_demo).active()
    statuses = {s: rec["status"] for s, rec in run.manifest["stages"].items()}
    assert statuses == {**dict.fromkeys(STAGES, "ok"), "uplift": "skipped",
                        "sendtime": "skipped"}  # Online Retail has no engagement log
    assert run.manifest["stages"]["propensity"]["metrics"]["purchase_30d"]["roc_auc"] > 0.7
    assert set(run.manifest["stages"]["propensity"]["metrics"]) == {"purchase_30d", "churn_90d", "next_order_90d"}
    report = online_retail_demo.reports_dir / "report.html"
    assert report.stat().st_size > 100_000
    assert run.run_id in report.read_text(encoding="utf-8")
