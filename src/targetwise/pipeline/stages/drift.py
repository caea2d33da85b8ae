"""Stage ``drift``: this run's features, scores, segments and model metrics against the previous promoted run.

Runs last and needs no stage: it compares whatever the earlier stages produced with the run being
served (the previous promoted run), writes ``drift/drift.json``, puts one note per breach of the
``drift`` thresholds in the manifest and, with ``drift.alert_url``, posts the alerts to a signed
webhook. It never fails the run: an error while comparing or posting becomes a note.
"""

from __future__ import annotations

import logging

from targetwise.io import outputs as out
from targetwise.io.runs import RunStore, StageRecord
from targetwise.pipeline.context import RunContext, Stage
from targetwise.usecases.drift import RunSnapshot, compare_runs, post_drift_alert, scores_of, snapshot_of_run

_log = logging.getLogger(__name__)


def _current(ctx: RunContext) -> RunSnapshot:
    segments = ctx.results.get("segments")
    customers = None if segments is None else segments.customers
    return RunSnapshot(
        run_id=ctx.writer.run_id,
        as_of=str(ctx.as_of),
        features=ctx.features,
        scores=scores_of(ctx.results.get("propensity"), ctx.results.get("clv")),
        segments=customers,
        stage_metrics={name: rec.metrics for name, rec in ctx.writer.records.items() if rec.status == "ok"},
    )


def run(ctx: RunContext, record: StageRecord) -> None:
    try:
        previous = RunStore(ctx.workspace).active()
        if previous is None:
            record.note("no previous promoted run to compare with: drift starts from this run")
            ctx.writer.write_json(out.DRIFT, {"compared_with": None, "as_of": str(ctx.as_of), "breaches": []})
            record.metrics.update({"compared_with": None, "breaches": 0, "alerts": 0})
            return
        report = compare_runs(_current(ctx), snapshot_of_run(previous), ctx.config.drift)
        ctx.writer.write_json(out.DRIFT, report.to_dict())
        for breach in report.breaches:
            record.note(breach["text"])
        record.metrics.update({
            "compared_with": previous.run_id, "breaches": len(report.breaches), "alerts": len(report.alerts),
            "max_feature_psi": max((r["psi"] for r in report.features), default=None),
            "max_score_psi": max((r["psi"] for r in report.scores), default=None),
        })
        sent = post_drift_alert(report, ctx.config.drift)
        if sent:
            record.note(sent)
    except Exception as exc:  # drift informs; it never fails the run (the run's models are fine without it)
        _log.warning("drift not computed: %s", exc, exc_info=True)
        record.note(f"drift not computed: {type(exc).__name__}: {exc}")


STAGE = Stage(
    "drift", run, outputs=(out.DRIFT,), config_section="drift",
    description="PSI of features and scores, segment changes and model decay against the previous promoted run",
)
