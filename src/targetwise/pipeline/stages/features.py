"""Stage ``features``: point-in-time customer features at as_of (objectors are not in the data)."""

from __future__ import annotations

from targetwise.io import outputs as out
from targetwise.io.runs import StageRecord
from targetwise.pipeline.context import RunContext, Stage
from targetwise.usecases.features import features_at


def run(ctx: RunContext, record: StageRecord) -> None:
    frame = features_at(ctx.data, ctx.as_of)
    ctx.features = frame
    ctx.writer.write_table(out.FEATURES, frame)
    record.metrics.update(
        {"customers": len(frame), "columns": len(frame.columns), "excluded_profiling_objection": ctx.data.excluded()}
    )


STAGE = Stage("features", run, outputs=(out.FEATURES,), description="customer features at as_of")
