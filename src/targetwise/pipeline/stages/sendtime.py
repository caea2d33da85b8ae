"""Stage ``sendtime``: the best send time and channel per customer (skipped without engagements)."""

from __future__ import annotations

from targetwise.io import outputs as out
from targetwise.io.runs import StageRecord
from targetwise.pipeline.context import RunContext, Stage
from targetwise.usecases.forecast import rfm_segments
from targetwise.usecases.sendtime import send_times_at


def run(ctx: RunContext, record: StageRecord) -> None:
    if not ctx.data.has("engagements"):
        record.skip("the workspace has no engagements table (ingest one: targetwise ingest engagements FILE)")
        return
    segments = rfm_segments(ctx.features) if ctx.features is not None else None
    result = send_times_at(ctx.data, ctx.as_of, timezone=ctx.settings.business_timezone, config=ctx.config.sendtime,
                           segments=segments, random_state=ctx.random_state)
    if result.sends == 0:
        record.skip("the engagement log has no sends before the as-of date")
        return
    record.rows_in(result.sends)
    ctx.writer.write_table(out.SEND_TIMES, result.table)
    record.metrics.update(result.metrics)
    if segments is None:
        record.notes.append("no features: estimates shrink toward the shop's pattern only (no segment level)")


STAGE = Stage(
    "sendtime", run, outputs=(out.SEND_TIMES,), needs=("features",), config_section="sendtime",
    description="best send time (weekday, hour in shop time) and channel per customer from the engagement log",
)
