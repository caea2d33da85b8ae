"""Drift and decay between a run and the previous promoted run, and the optional signed alert webhook.

:func:`compare_runs` takes two :class:`RunSnapshot` (what a run holds that drift reads: features,
scores, segments and the models' out-of-time metrics) and returns a :class:`DriftReport`: the PSI
of every numeric feature and score (formula: :mod:`targetwise.features.drift`), the share of
customers changing RFM segment and cluster, each model's metric then and now, and the breaches of
the thresholds in :class:`~targetwise.runconfig.DriftConfig`. The pipeline's ``drift`` stage
writes it into the run (``drift/drift.json``) with one note per breach; :func:`run_drift` reads it
back for the CLI, the API, the UI banner and the report.

:func:`post_drift_alert` POSTs the alerts (aggregates only: variable names, PSI values, shares and
metrics; never a customer id) as JSON signed like the sync webhook
(:func:`targetwise.destinations.webhook.sign_webhook`: ``X-Targetwise-Timestamp`` and
``X-Targetwise-Signature: sha256=<hex HMAC-SHA256 of timestamp + "." + body>``).
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
import numpy as np
import pandas as pd

from targetwise.destinations.webhook import sign_webhook
from targetwise.errors import ConfigError, NotFoundError
from targetwise.features.drift import metric_change, psi, psi_level, segment_change_share
from targetwise.io import outputs as out
from targetwise.io.runs import RunInfo, RunStore
from targetwise.io.workspace import Workspace
from targetwise.runconfig import DriftConfig

__all__ = ["DriftReport", "RunSnapshot", "compare_runs", "post_drift_alert", "run_drift", "snapshot_of_run"]

_log = logging.getLogger(__name__)

#: the segmentations whose changes are counted (columns of the segments output)
SEGMENTATIONS = ("rfm_segment", "cluster_name")
#: CLV columns whose distribution is compared (the others derive from them)
CLV_SCORES = ("clv", "p_alive")


@dataclass
class RunSnapshot:
    """What drift reads of one run; any part may be missing (its stage did not run or failed)."""

    run_id: str
    as_of: str | None
    features: pd.DataFrame | None = None  # one row per customer, customer_id a column
    scores: dict[str, pd.Series] = field(default_factory=dict)  # name -> values (propensity p_*, clv, p_alive)
    segments: pd.DataFrame | None = None  # customer_id + SEGMENTATIONS
    stage_metrics: dict[str, dict[str, Any]] = field(default_factory=dict)  # stage -> its manifest metrics


def _numeric_columns(frame: pd.DataFrame) -> list[str]:
    return [c for c in frame.columns if c != "customer_id" and pd.api.types.is_numeric_dtype(frame[c])]


def scores_of(propensity: pd.DataFrame | None, clv: pd.DataFrame | None) -> dict[str, pd.Series]:
    """The score columns compared: every numeric propensity column and CLV's ``clv`` and ``p_alive``."""
    scores: dict[str, pd.Series] = {}
    if propensity is not None:
        for col in _numeric_columns(propensity):
            scores[col] = propensity[col].astype(float)
    if clv is not None:
        for col in CLV_SCORES:
            if col in clv.columns:
                scores[col] = clv[col].astype(float)
    return scores


def snapshot_of_run(info: RunInfo) -> RunSnapshot:
    """Read what drift compares from a committed run."""
    def table(output: out.Output) -> pd.DataFrame | None:
        return info.read_table(output) if info.has(output) else None

    segments = table(out.SEGMENTS)
    return RunSnapshot(
        run_id=info.run_id,
        as_of=info.as_of,
        features=table(out.FEATURES),
        scores=scores_of(table(out.PROPENSITY), table(out.CLV)),
        segments=None if segments is None else segments[["customer_id", *[c for c in SEGMENTATIONS if c in segments]]],
        stage_metrics={name: rec.metrics for name, rec in info.stages().items() if rec.status == "ok"},
    )


@dataclass
class DriftReport:
    """This run against the previous one: PSI rows, segment changes, metric changes, breaches."""

    run_id: str
    compared_with: str | None
    as_of: str | None
    previous_as_of: str | None
    thresholds: dict[str, float]
    features: list[dict[str, Any]] = field(default_factory=list)  # name, psi, level
    scores: list[dict[str, Any]] = field(default_factory=list)
    segments: list[dict[str, Any]] = field(default_factory=list)  # segmentation, share_changed, customers_in_both
    metrics: list[dict[str, Any]] = field(default_factory=list)  # model, metric, previous, current, worse_by, breach
    breaches: list[dict[str, Any]] = field(default_factory=list)  # kind, name, level, value, threshold, text
    skipped: list[str] = field(default_factory=list)  # what could not be compared, in words

    @property
    def alerts(self) -> list[dict[str, Any]]:
        return [b for b in self.breaches if b["level"] == "alert"]

    def to_dict(self) -> dict[str, Any]:
        """What ``drift/drift.json`` holds: everything but the run's own id (the folder's; readers add it), so
        identical reruns against the same previous run write identical files."""
        return {
            "compared_with": self.compared_with, "as_of": self.as_of,
            "previous_as_of": self.previous_as_of, "thresholds": self.thresholds, "features": self.features,
            "scores": self.scores, "segments": self.segments, "metrics": self.metrics, "breaches": self.breaches,
            "skipped": self.skipped,
        }


def _thresholds(config: DriftConfig) -> dict[str, float]:
    if config.psi_warn >= config.psi_alert:
        raise ConfigError(
            f"drift.psi_warn ({config.psi_warn}) must be below drift.psi_alert ({config.psi_alert})",
            fix="e.g. psi_warn = 0.1 and psi_alert = 0.25",
        )
    return {"psi_warn": config.psi_warn, "psi_alert": config.psi_alert,
            "segment_change_alert": config.segment_change_alert, "auc_drop_alert": config.auc_drop_alert,
            "r2_drop_alert": config.r2_drop_alert, "clv_error_rise_alert": config.clv_error_rise_alert}


def _psi_rows(kind: str, before: dict[str, pd.Series], after: dict[str, pd.Series], config: DriftConfig,
              report: DriftReport) -> list[dict[str, Any]]:
    rows = []
    for name in sorted(set(before) & set(after)):
        b, a = before[name].to_numpy(dtype=float), after[name].to_numpy(dtype=float)
        if b.size == 0 or a.size == 0 or np.isinf(b).any() or np.isinf(a).any():
            report.skipped.append(f"{kind} {name}: empty or infinite values in one run")
            continue
        value = psi(b, a, n_bins=config.n_bins, epsilon=config.epsilon).value
        level = psi_level(value, warn=config.psi_warn, alert=config.psi_alert)
        rows.append({"name": name, "psi": value, "level": level})
        if level != "ok":
            limit = config.psi_alert if level == "alert" else config.psi_warn
            report.breaches.append({
                "kind": kind, "name": name, "level": level, "value": value, "threshold": limit,
                "text": f"{kind} {name}: PSI {value:.3f} (>= {limit:g}, {level}) against run {report.compared_with}",
            })
    for name in sorted(set(before) ^ set(after)):
        report.skipped.append(f"{kind} {name}: only in {'the previous' if name in before else 'this'} run")
    return sorted(rows, key=lambda r: -r["psi"])


def _columns(frame: pd.DataFrame | None) -> dict[str, pd.Series]:
    return {} if frame is None else {c: frame[c].astype(float) for c in _numeric_columns(frame)}


def _model_metrics(metrics: dict[str, dict[str, Any]]) -> dict[tuple[str, str], float]:
    """(model, metric) -> value: each propensity task's ROC AUC or R², and CLV's holdout relative error."""
    found: dict[tuple[str, str], float] = {}
    for task, values in (metrics.get("propensity") or {}).items():
        if isinstance(values, dict):
            for metric in ("roc_auc", "r2"):
                value = values.get(metric)
                if isinstance(value, int | float) and math.isfinite(value):
                    found[(f"propensity.{task}", metric)] = float(value)
    check = (metrics.get("clv") or {}).get("holdout_check") or {}
    actual, predicted = check.get("actual_repeat_purchases"), check.get("predicted_repeat_purchases")
    if isinstance(actual, int | float) and isinstance(predicted, int | float) and actual > 0:
        found[("clv", "relative_error")] = abs(float(predicted) - float(actual)) / float(actual)
    return found


def compare_runs(current: RunSnapshot, previous: RunSnapshot, config: DriftConfig) -> DriftReport:
    """Compare ``current`` with ``previous`` (see the module docstring); breaches are in ``report.breaches``."""
    report = DriftReport(current.run_id, previous.run_id, current.as_of, previous.as_of, _thresholds(config))
    report.features = _psi_rows("feature", _columns(previous.features), _columns(current.features), config, report)
    report.scores = _psi_rows("score", previous.scores, current.scores, config, report)
    if previous.segments is not None and current.segments is not None:
        for col in SEGMENTATIONS:
            if col not in previous.segments or col not in current.segments:
                continue
            share, both = segment_change_share(previous.segments.set_index("customer_id")[col],
                                               current.segments.set_index("customer_id")[col])
            if both == 0:
                report.skipped.append(f"segments {col}: no customer in both runs")
                continue
            breach = share >= config.segment_change_alert
            report.segments.append({"segmentation": col, "share_changed": share, "customers_in_both": both,
                                    "level": "alert" if breach else "ok"})
            if breach:
                report.breaches.append({
                    "kind": "segments", "name": col, "level": "alert", "value": share,
                    "threshold": config.segment_change_alert,
                    "text": f"segments {col}: {share:.1%} of {both} customers changed segment "
                            f"(>= {config.segment_change_alert:.0%}) since run {previous.run_id}",
                })
    limits = {"roc_auc": config.auc_drop_alert, "r2": config.r2_drop_alert,
              "relative_error": config.clv_error_rise_alert}
    before, after = _model_metrics(previous.stage_metrics), _model_metrics(current.stage_metrics)
    for model, metric in sorted(set(before) & set(after)):
        change = metric_change(model, metric, before[(model, metric)], after[(model, metric)],
                               threshold=limits[metric])
        report.metrics.append({"model": model, "metric": metric, "previous": change.previous,
                               "current": change.current, "worse_by": change.worse_by, "breach": change.breach})
        if change.breach:
            report.breaches.append({
                "kind": "metric", "name": f"{model} {metric}", "level": "alert", "value": change.worse_by,
                "threshold": limits[metric],
                "text": f"model {model}: out-of-time {metric} {change.previous:.3f} -> {change.current:.3f} "
                        f"(worse by {change.worse_by:.3f} > {limits[metric]:g}) since run {previous.run_id}",
            })
    return report


def run_drift(ws: Workspace, run_id: str | None = None) -> dict[str, Any]:
    """The drift record of ``run_id`` (default: the served run), as the drift stage wrote it."""
    store = RunStore(ws)
    info = store.get(run_id) if run_id else store.active()
    if info is None:
        raise NotFoundError("no run is served yet", fix="run `targetwise run` first")
    if not info.has(out.DRIFT):
        record = info.stage("drift")
        why = f"its drift stage {record.status}" if record is not None else "it ran without the drift stage"
        raise NotFoundError(f"run {info.run_id} has no drift record: {why}",
                            fix="run `targetwise run` (every stage, or include --stage drift)")
    return {"run_id": info.run_id, **info.read_json(out.DRIFT)}


def alert_payload(report: DriftReport) -> dict[str, Any]:
    """The webhook's JSON: the run, the run compared with, and the alerts (aggregates only)."""
    return {"event": "drift_alert", "run_id": report.run_id, "compared_with": report.compared_with,
            "as_of": report.as_of, "alerts": report.alerts}


def post_drift_alert(report: DriftReport, config: DriftConfig, *, timeout_seconds: float = 10.0) -> str | None:
    """POST the alerts to ``config.alert_url`` signed with the secret in ``config.alert_secret_env``.

    Returns one line for the run's notes (what was sent and the answer) or None when there was
    nothing to send; a failure to post is that line, never an exception: the run goes on.
    """
    if not config.alert_url or not report.alerts:
        return None
    env = config.alert_secret_env
    secret = os.environ.get(env) if env else None
    if not secret:
        return (f"drift alert not sent: the secret environment variable {env or '(drift.alert_secret_env unset)'} "
                "is not set")
    body = json.dumps(alert_payload(report), separators=(",", ":"), sort_keys=True).encode()
    timestamp = int(time.time())
    headers = {"Content-Type": "application/json", "X-Targetwise-Timestamp": str(timestamp),
               "X-Targetwise-Signature": sign_webhook(secret.encode(), timestamp, body)}
    host = httpx.URL(config.alert_url).host
    try:
        response = httpx.post(config.alert_url, content=body, headers=headers, timeout=timeout_seconds)
    except httpx.HTTPError as exc:
        _log.warning("drift alert to %s failed: %s", host, exc)
        return f"drift alert to {host} failed: {type(exc).__name__}"
    if response.status_code >= 300:
        _log.warning("drift alert to %s answered HTTP %s", host, response.status_code)
        return f"drift alert to {host} answered HTTP {response.status_code}"
    return f"drift alert sent to {host} ({len(report.alerts)} alert(s), HTTP {response.status_code})"


def drift_banner(info: RunInfo | None) -> dict[str, Any] | None:
    """What the UI banner and the report say about a run's drift: None when there is nothing to flag.

    ``{"run_id", "compared_with", "alerts", "warnings", "lines"}``: the counts of alert and warn
    breaches and one line per breach, alerts first (the notes the run's manifest holds).
    """
    if info is None or not info.has(out.DRIFT):
        return None
    record = info.read_json(out.DRIFT)
    breaches = sorted(record.get("breaches", []), key=lambda b: b["level"] != "alert")
    if not breaches:
        return None
    alerts = sum(1 for b in breaches if b["level"] == "alert")
    return {"run_id": info.run_id, "compared_with": record["compared_with"], "alerts": alerts,
            "warnings": len(breaches) - alerts, "lines": [b["text"] for b in breaches]}
