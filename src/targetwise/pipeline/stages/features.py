"""Stage ``features``: point-in-time customer features at as_of (objectors are not in the data)."""

from __future__ import annotations

from targetwise.features._inputs import DataGap, data_gap
from targetwise.io import outputs as out
from targetwise.io.runs import StageRecord
from targetwise.pipeline.context import RunContext, Stage
from targetwise.usecases.features import features_at


def run(ctx: RunContext, record: StageRecord) -> None:
    frame = features_at(ctx.data, ctx.as_of)
    record.rows_in(ctx.data.lines_before(ctx.as_of))
    ctx.features = frame
    ctx.writer.write_table(out.FEATURES, frame)
    record.metrics.update(
        {"customers": len(frame), "columns": len(frame.columns), "excluded_profiling_objection": ctx.data.excluded()}
    )
    gap = data_gap_after(ctx)
    if gap is not None:
        record.metrics["days_after_last_order"] = gap.days
        note = gap.note()
        if note is not None:
            record.note(note)


def data_gap_after(ctx: RunContext) -> DataGap | None:
    """How far as_of lies after the last order (a nightly run after days without orders)."""
    last = ctx.workspace.last_ordered_at()
    if last is None:
        return None
    return data_gap(ctx.as_of, last, stale_after_days=ctx.settings.stale_data_days)


STAGE = Stage("features", run, outputs=(out.FEATURES,), description="customer features at as_of")
