"""Stage ``uplift``: campaign uplift from the latest randomised campaign (skipped without one)."""

from __future__ import annotations

from targetwise.io import outputs as out
from targetwise.io.runs import StageRecord
from targetwise.pipeline.context import RunContext, Stage
from targetwise.usecases.uplift import fit_uplift


def run(ctx: RunContext, record: StageRecord) -> None:
    result = fit_uplift(
        ctx.data, ctx.require_features(), as_of=ctx.as_of, config=ctx.config.uplift, random_state=ctx.random_state
    )
    if result.skipped is not None:
        record.skip(result.skipped)
        return
    record.rows_in(result.trained_on)  # the campaign's exposed customers it learned from
    for note in result.notes:
        record.note(note)
    if result.qini is not None:
        ctx.writer.write_table(out.QINI, result.qini)
    if result.holdout_check is not None:
        record.metrics["holdout_check"] = result.holdout_check
    if result.value_holdout_check is not None:
        record.metrics["value_holdout_check"] = result.value_holdout_check
    assert result.uplift is not None
    ctx.results["uplift"] = result.uplift
    ctx.writer.write_table(out.UPLIFT, result.uplift)
    record.metrics.update(
        {
            "campaign_id": result.campaign_id,
            "trained_on": result.trained_on,
            "conversion_rate_by_arm": result.conversion_rate_by_arm,
            "value_learner": result.value_learner,  # the value learner fitted (value_holdout_check: why)
            "mean_predicted_uplift": {
                c: float(result.uplift[c].mean()) for c in result.uplift.columns if c.startswith("uplift_")
            },
            "mean_predicted_value_uplift": {
                c: float(result.uplift[c].mean()) for c in result.uplift.columns if c.startswith("value_uplift_")
            },
        }
    )


STAGE = Stage(
    "uplift", run, needs=("features",), config_section="uplift", outputs=(out.UPLIFT, out.QINI),
    description="incremental effect of the latest randomised campaign",
)
