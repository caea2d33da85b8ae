"""Stage ``propensity``: every configured task trained on point-in-time snapshots, scored at as_of."""

from __future__ import annotations

from targetwise.io import outputs as out
from targetwise.io.runs import StageRecord
from targetwise.pipeline.context import RunContext, Stage
from targetwise.usecases.propensity import train_propensity


def run(ctx: RunContext, record: StageRecord) -> None:
    record.rows_in(ctx.data.lines_before(ctx.as_of))  # every training cutoff lies before as_of
    result = train_propensity(
        ctx.data, ctx.require_features(), as_of=ctx.as_of, config=ctx.config.propensity, random_state=ctx.random_state,
        currency=ctx.settings.currency_symbol,
    )
    for note in result.notes:
        record.note(note)
    for key, task in result.tasks.items():
        record.metrics[key] = {**task.metrics, **task.baselines}
        if not task.feature_importance.empty:
            ctx.writer.write_table(out.IMPORTANCE.at(key), task.feature_importance)
        ctx.writer.write_table(out.BACKTEST.at(key), task.test_predictions)
        if task.fitted is not None:
            ctx.writer.write_model(out.PROPENSITY_MODEL.at(key), task.fitted)
    ctx.results["propensity"] = result.scores
    ctx.writer.write_table(out.PROPENSITY, result.scores)
    ctx.writer.write_json(out.MODEL_CARDS, result.model_cards)
    record.model_cards = list(result.model_cards)


STAGE = Stage(
    "propensity", run, needs=("features",), config_section="propensity",
    outputs=(out.PROPENSITY, out.MODEL_CARDS, out.IMPORTANCE, out.BACKTEST, out.PROPENSITY_MODEL),
    description="purchase, churn and next-order models, validated out of time",
)
