"""Stage ``forecast``: demand forecasts of net sales and orders (total, categories, RFM segments)."""

from __future__ import annotations

from targetwise.io import outputs as out
from targetwise.io.runs import StageRecord
from targetwise.pipeline.context import RunContext, Stage
from targetwise.usecases.features import features_at
from targetwise.usecases.forecast import forecast_at, rfm_segments


def run(ctx: RunContext, record: StageRecord) -> None:
    config = ctx.config.forecast
    segments = None
    if "segment" in config.levels and ctx.features is not None:
        segments = rfm_segments(ctx.features)
    result = forecast_at(ctx.data, ctx.as_of, config, segments=segments, random_state=ctx.random_state,
                         segments_at=lambda cutoff: rfm_segments(features_at(ctx.data, cutoff)))
    record.rows_in(result.lines)
    for note in result.notes:
        record.note(note)
    if result.forecasts.empty:
        record.skip("no series has enough whole periods of history to forecast: " + "; ".join(result.notes[-1:]))
        return
    ctx.writer.write_table(out.FORECASTS, result.forecasts)
    ctx.writer.write_table(out.FORECAST_HISTORY, result.history)
    ctx.writer.write_table(out.FORECAST_SCORES, result.scores)
    record.params.update({"freq": config.freq, "horizon": config.horizon})
    chosen = result.scores[result.scores["chosen"].astype(bool)]
    record.metrics.update({
        "lines": result.lines,
        "series": int(chosen.groupby(["measure", "level", "series"]).ngroups),
        "models_chosen": {str(k): int(v) for k, v in chosen["model"].value_counts().sort_index().items()},
        "median_mase": None if chosen.empty else float(chosen["mase"].median()),
        "mean_coverage": None if chosen.empty else float(chosen["coverage"].mean()),
    })


STAGE = Stage(
    "forecast", run, outputs=(out.FORECASTS, out.FORECAST_HISTORY, out.FORECAST_SCORES), config_section="forecast",
    description="demand forecasts of net sales and orders in total, by category and by segment",
)
