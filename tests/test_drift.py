"""Drift and decay: PSI known answers, segment change share, metric decay, and a planted shift in a real run
that raises an alert (noted in the manifest, posted to a signed webhook, shown by the CLI, API, UI and report)
while an unshifted rerun raises none."""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import re
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import ClassVar

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from conftest import ONLINE_RETAIL_MAPPING, ONLINE_RETAIL_SAMPLE
from targetwise.cli import app
from targetwise.config import get_settings
from targetwise.errors import DataValidationError
from targetwise.features.drift import decile_edges, metric_change, psi, psi_level, segment_change_share
from targetwise.io import outputs as out
from targetwise.io.ingest import ingest
from targetwise.io.keys import KeyStore
from targetwise.io.runs import RunStore
from targetwise.io.workspace import Workspace
from targetwise.pipeline.run import run_pipeline
from targetwise.runconfig import DriftConfig, RunConfig
from targetwise.usecases.drift import RunSnapshot, compare_runs

runner = CliRunner()
STAGES = ["features", "segments", "drift"]
SECRET = "drift-test-secret"


# --- PSI known answers (targetwise.features.drift's formula, worked by hand) ---------------------------

def test_psi_is_zero_for_identical_distributions() -> None:
    values = np.arange(100, dtype=float)
    result = psi(values, values)
    assert result.value == 0.0
    assert result.expected == pytest.approx((0.1,) * 10 + (0.0,))  # ten deciles and the (empty) missing bin


def test_psi_two_bins_by_hand() -> None:
    # previous [1,1,2,2]: median edge 1.5, shares e = (0.5, 0.5); this run [1,2,2,2]: a = (0.25, 0.75)
    # PSI = (0.25-0.5) ln(0.25/0.5) + (0.75-0.5) ln(0.75/0.5) = 0.173287 + 0.101366 = 0.274653
    result = psi([1, 1, 2, 2], [1, 2, 2, 2], n_bins=2)
    assert result.edges == (1.5,)
    assert result.value == pytest.approx(0.25 * math.log(2) + 0.25 * math.log(1.5), abs=1e-12)
    assert result.value == pytest.approx(0.274653, abs=1e-6)


def test_psi_empty_bins_take_epsilon_and_missing_values_are_a_bin() -> None:
    # previous [1,2,3,4]: edge 2.5, e = (0.5, 0.5, missing 0 -> 1e-4); this run [1, 4, nan, nan]: a = (0.25, 0.25, 0.5)
    # PSI = 2 x (0.25-0.5) ln(0.5) + (0.5-1e-4) ln(0.5/1e-4) = 0.346574 + 4.257744 = 4.604318
    result = psi([1, 2, 3, 4], [1, 4, np.nan, np.nan], n_bins=2)
    assert result.actual == (0.25, 0.25, 0.5)
    assert result.value == pytest.approx(0.5 * math.log(2) + (0.5 - 1e-4) * math.log(0.5 / 1e-4), abs=1e-12)
    assert result.value == pytest.approx(4.604318, abs=1e-6)


def test_psi_everything_in_the_top_decile() -> None:
    # deciles of 0..99 hold 10% each; all of this run in the top bin: 9 empty bins take 1e-4
    # PSI = 9 x (1e-4 - 0.1) ln(1e-4/0.1) + (1 - 0.1) ln(1/0.1) = 6.210763 + 2.072327 = 8.283089
    result = psi(np.arange(100), np.full(50, 95.0))
    assert decile_edges(np.arange(100)) == pytest.approx([9.9, 19.8, 29.7, 39.6, 49.5, 59.4, 69.3, 79.2, 89.1])
    assert result.value == pytest.approx(9 * (1e-4 - 0.1) * math.log(1e-3) + 0.9 * math.log(10), abs=1e-9)
    assert result.value == pytest.approx(8.283089, abs=1e-6)


def test_psi_ties_collapse_bins_and_bad_input_is_refused() -> None:
    # a 0/1 flag, 70% zeros: deciles 1-6 are 0, the 7th interpolates (0.3), 8-9 are 1 -> edges (0, 0.3, 1);
    # the bins (0, 0.3] and (1, inf) are empty in both runs and add nothing
    flag = [0] * 70 + [1] * 30
    assert psi(flag, flag).edges == pytest.approx((0.0, 0.3, 1.0))
    # 70/30 -> 40/60: (0.4-0.7) ln(0.4/0.7) + (0.6-0.3) ln(0.6/0.3) = 0.167887 + 0.207944
    assert psi(flag, [0] * 40 + [1] * 60).value == pytest.approx(0.3 * math.log(0.7 / 0.4) + 0.3 * math.log(2))
    with pytest.raises(DataValidationError, match="PSI needs values in both runs"):
        psi([], [1.0])
    with pytest.raises(DataValidationError, match="actual holds infinite values"):
        psi([1.0, 2.0], [np.inf])
    with pytest.raises(DataValidationError, match="n_bins must be at least 2"):
        psi([1.0, 2.0], [1.0], n_bins=1)


def test_psi_levels_at_the_default_thresholds() -> None:
    assert [psi_level(v, warn=0.1, alert=0.25) for v in (0.0, 0.0999, 0.1, 0.2499, 0.25, 3.0)] == [
        "ok", "ok", "warn", "warn", "alert", "alert"]


def test_segment_change_share_counts_customers_in_both_runs_only() -> None:
    before = {"a": "Champions", "b": "Loyal", "c": "At risk", "d": "Champions"}  # d left
    after = {"a": "Champions", "b": "Champions", "c": "At risk", "e": "Loyal"}  # e is new
    assert segment_change_share(before, after) == (pytest.approx(1 / 3), 3)  # a, b, c in both; b changed
    share, both = segment_change_share({"a": "x"}, {"z": "x"})
    assert math.isnan(share) and both == 0


def test_metric_change_direction_and_threshold() -> None:
    auc = metric_change("propensity.purchase_30d", "roc_auc", 0.80, 0.70, threshold=0.05)
    assert auc.worse_by == pytest.approx(0.10) and auc.breach
    err = metric_change("clv", "relative_error", 0.20, 0.25, threshold=0.1)
    assert err.worse_by == pytest.approx(0.05) and not err.breach
    better = metric_change("clv", "relative_error", 0.30, 0.05, threshold=0.1)
    assert better.worse_by == pytest.approx(-0.25) and not better.breach
    with pytest.raises(DataValidationError, match="unknown metric 'accuracy'"):
        metric_change("m", "accuracy", 1, 0, threshold=0.1)


def test_compare_runs_on_hand_made_snapshots() -> None:
    ids = [f"c{i}" for i in range(100)]
    features = pd.DataFrame({"customer_id": ids, "spend": np.arange(100.0), "orders": np.ones(100)})
    shifted = features.assign(spend=np.full(100, 95.0))  # all in the top decile: PSI 8.283089 (above)
    segments = pd.DataFrame({"customer_id": ids, "rfm_segment": ["A"] * 100, "cluster_name": ["k"] * 100})
    moved = segments.assign(rfm_segment=["B"] * 40 + ["A"] * 60)  # 40% change RFM segment, nobody changes cluster
    metrics_then = {"propensity": {"purchase_30d": {"roc_auc": 0.80}},
                    "clv": {"holdout_check": {"actual_repeat_purchases": 100, "predicted_repeat_purchases": 110}}}
    metrics_now = {"propensity": {"purchase_30d": {"roc_auc": 0.72}},  # -0.08 > 0.05: alert
                   "clv": {"holdout_check": {"actual_repeat_purchases": 100, "predicted_repeat_purchases": 85}}}
    then = RunSnapshot("R1", "2024-01-01", features, {"p_purchase_30d": pd.Series(np.linspace(0, 1, 100))},
                       segments, metrics_then)
    now = RunSnapshot("R2", "2024-02-01", shifted, {"p_purchase_30d": pd.Series(np.linspace(0, 1, 100))},
                      moved, metrics_now)
    report = compare_runs(now, then, DriftConfig())
    assert {r["name"]: round(r["psi"], 6) for r in report.features} == {"spend": 8.283089, "orders": 0.0}
    assert report.scores == [{"name": "p_purchase_30d", "psi": 0.0, "level": "ok"}]
    assert {s["segmentation"]: s["share_changed"] for s in report.segments} == {"rfm_segment": 0.4, "cluster_name": 0.0}
    clv = next(m for m in report.metrics if m["model"] == "clv")
    assert (clv["previous"], clv["current"]) == (pytest.approx(0.10), pytest.approx(0.15))  # |110-100|/100, |85-100|/100
    assert not clv["breach"]  # 0.05 < 0.1
    assert [(b["kind"], b["name"]) for b in report.alerts] == [
        ("feature", "spend"), ("segments", "rfm_segment"), ("metric", "propensity.purchase_30d roc_auc")]
    assert report.breaches[0]["text"] == "feature spend: PSI 8.283 (>= 0.25, alert) against run R1"
    unchanged = compare_runs(then, then, DriftConfig())
    assert unchanged.breaches == [] and all(r["psi"] == 0.0 for r in unchanged.features)


# --- a planted shift in real runs -----------------------------------------------------------------------

class _Receiver(BaseHTTPRequestHandler):
    received: ClassVar[list[tuple[dict[str, str], bytes]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append(({k: v for k, v in self.headers.items()}, body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def receiver():
    _Receiver.received = []
    server = HTTPServer(("127.0.0.1", 0), _Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()


@pytest.fixture(scope="module")
def shifted(tmp_path_factory: pytest.TempPathFactory, receiver: HTTPServer) -> dict[str, object]:
    """Run 1 (nothing to compare), run 2 on the same data (no drift), then a planted shift: a second load
    repeating every order at 20x the price, so spend features move far out of the previous deciles."""
    path = tmp_path_factory.mktemp("drift") / "ws"
    settings = get_settings(workspace=path, duckdb_threads=2, api_rate_limit_per_minute=100_000)
    ws = Workspace.init(path, settings)
    ingest(ws, "transactions", ONLINE_RETAIL_SAMPLE, mapping=ONLINE_RETAIL_MAPPING)
    config = RunConfig.parse({"random_state": 0, "segments": {"n_clusters": 3}, "drift": {
        "alert_url": f"http://127.0.0.1:{receiver.server_port}/hook", "alert_secret_env": "TW_DRIFT_TEST_SECRET"}})
    mp = pytest.MonkeyPatch()
    mp.setenv("TW_DRIFT_TEST_SECRET", SECRET)
    first = run_pipeline(ws, settings, stages=STAGES, config=config)
    same = run_pipeline(ws, settings, stages=STAGES, config=config, as_of=first.as_of)
    sent_before_shift = len(_Receiver.received)
    lines = pd.read_csv(ONLINE_RETAIL_SAMPLE, dtype=str)
    lines["InvoiceNo"] = "S" + lines["InvoiceNo"]
    lines["UnitPrice"] = (lines["UnitPrice"].astype(float) * 20).round(2).astype(str)
    planted = path.parent / "shifted.csv"
    lines.to_csv(planted, index=False)
    ingest(ws, "transactions", planted, mapping=ONLINE_RETAIL_MAPPING)
    drifted = run_pipeline(ws, settings, stages=STAGES, config=config, as_of=first.as_of)
    mp.undo()
    return {"ws": ws, "first": first, "same": same, "drifted": drifted, "sent_before_shift": sent_before_shift}


def test_first_run_has_nothing_to_compare(shifted: dict) -> None:
    first = shifted["first"]
    record = first.stage("drift")
    assert record.status == "ok"
    assert record.notes == ["no previous promoted run to compare with: drift starts from this run"]
    assert first.read_json(out.DRIFT)["compared_with"] is None


def test_unshifted_rerun_raises_no_alert(shifted: dict) -> None:
    first, same = shifted["first"], shifted["same"]
    drift = same.read_json(out.DRIFT)
    assert drift["compared_with"] == first.run_id
    assert drift["breaches"] == [] and same.stage("drift").notes == []
    assert drift["features"] and all(row["psi"] == 0.0 for row in drift["features"])  # the same data, the same features
    assert {s["segmentation"]: s["share_changed"] for s in drift["segments"]} == {"rfm_segment": 0.0, "cluster_name": 0.0}
    assert shifted["sent_before_shift"] == 0  # no alert, no webhook call


def test_planted_shift_raises_alerts_in_the_manifest_and_the_signed_webhook(shifted: dict) -> None:
    same, drifted = shifted["same"], shifted["drifted"]
    drift = drifted.read_json(out.DRIFT)
    assert drift["compared_with"] == same.run_id
    by_name = {row["name"]: row for row in drift["features"]}
    assert by_name["monetary_mean"]["level"] == "alert" and by_name["monetary_mean"]["psi"] >= 0.25
    # the planted lines repeat each order on the same day with the same quantities: those features do not move
    assert by_name["recency_days"]["psi"] == 0.0 and by_name["basket_size_mean"]["psi"] == 0.0
    record = drifted.stage("drift")
    assert record.status == "ok" and RunStore(shifted["ws"]).active_id() == drifted.run_id
    notes = [n for n in record.notes if n.startswith("feature monetary_mean: PSI")]
    assert notes and notes[0].endswith(f"(>= 0.25, alert) against run {same.run_id}")
    assert record.notes[-1].startswith("drift alert sent to 127.0.0.1")
    (headers, body), = _Receiver.received
    timestamp = headers["X-Targetwise-Timestamp"]
    expected = hmac.new(SECRET.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    assert headers["X-Targetwise-Signature"] == f"sha256={expected}"
    payload = json.loads(body)
    assert payload["run_id"] == drifted.run_id and payload["compared_with"] == same.run_id
    assert {a["name"] for a in payload["alerts"]} >= {"monetary_mean", "monetary_total"}
    assert all(a["level"] == "alert" for a in payload["alerts"])
    ids = set(pd.read_csv(ONLINE_RETAIL_SAMPLE, dtype=str)["CustomerID"].dropna())
    assert not any(customer in body.decode() for customer in ids)  # aggregates only: no customer id leaves


def test_a_drift_failure_never_fails_the_run(tmp_path: Path, shifted: dict) -> None:
    ws = shifted["ws"]
    bad = RunConfig.parse({"drift": {"psi_warn": 0.5, "psi_alert": 0.25}})  # warn above alert: refused inside drift
    info = run_pipeline(ws, ws.settings, stages=["features", "drift"], config=bad, as_of=shifted["first"].as_of,
                        promote=False)
    record = info.stage("drift")
    assert record.status == "ok" and info.failed_stages() == []
    assert record.notes == [
        "drift not computed: ConfigError: drift.psi_warn (0.5) must be below drift.psi_alert (0.25). "
        "Fix: e.g. psi_warn = 0.1 and psi_alert = 0.25"]


def test_drift_on_the_cli_api_ui_and_report_says_the_same(shifted: dict) -> None:
    from targetwise.reports.report import render_report
    from targetwise.service.app import create_app

    ws, drifted, same = shifted["ws"], shifted["drifted"], shifted["same"]
    record = drifted.read_json(out.DRIFT)
    as_json = runner.invoke(app, ["drift", drifted.run_id, "--json", "--workspace", str(ws.path)])
    assert as_json.exit_code == 0, as_json.output
    assert json.loads(as_json.output) == {"run_id": drifted.run_id, **record}
    text = runner.invoke(app, ["drift", "--workspace", str(ws.path)])  # the served run: the drifted one
    assert text.exit_code == 0, text.output
    alerts = [b for b in record["breaches"] if b["level"] == "alert"]
    flat = " ".join(text.output.split())
    assert f"{len(alerts)} alert(s)" in flat and f"against run {same.run_id}" in flat
    psi_shown = f"{next(r['psi'] for r in record['features'] if r['name'] == 'monetary_mean'):.3f}"
    assert re.search(rf"monetary_mean\W+{re.escape(psi_shown)}\W+alert", flat), flat  # the table row
    missing = runner.invoke(app, ["drift", "R-nope", "--workspace", str(ws.path)])
    assert missing.exit_code == 1 and "run 'R-nope' not found" in missing.output

    _, token = KeyStore(ws).create(scope="read", name="drift")
    client = TestClient(create_app(ws.settings, workspace=ws))
    headers = {"Authorization": f"Bearer {token}"}
    body = client.get(f"/v1/runs/{drifted.run_id}/drift", headers=headers).json()
    assert body == {"run_id": drifted.run_id, **record}
    first = client.get(f"/v1/runs/{shifted['first'].run_id}/drift", headers=headers).json()
    assert first["compared_with"] is None and first["breaches"] == []
    nope = client.get("/v1/runs/R-nope/drift", headers=headers)
    assert nope.status_code == 404 and "R-nope" in nope.text
    assert client.get(f"/v1/runs/{drifted.run_id}/drift").status_code == 401

    origin = {"Origin": "http://testserver"}
    login = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/ui/login").text).group(1)  # type: ignore[union-attr]
    client.post("/ui/login", data={"api_key": token, "next": "/ui/", "csrf_token": login}, headers=origin)
    page = client.get("/ui/").text
    banner = re.search(r'<div class="notice" id="drift-banner".*?</div>', page, re.S).group(0)  # type: ignore[union-attr]
    assert f"Drift: {len(alerts)} alerts" in banner and same.run_id in banner
    assert alerts[0]["text"] in banner.replace("&gt;", ">")

    html = render_report(ws, drifted)
    assert 'id="drift-banner"' in html and f"Drift: {len(alerts)} alerts" in html
    assert alerts[0]["text"] in html.replace("&gt;", ">")
    assert 'id="drift-banner"' not in render_report(ws, same)  # the unshifted run: nothing to flag
