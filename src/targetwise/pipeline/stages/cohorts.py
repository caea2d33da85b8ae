"""Stage ``cohorts``: acquisition-month cohorts (retention and revenue by month since the first order)."""

from __future__ import annotations

from targetwise.io import outputs as out
from targetwise.io.runs import StageRecord
from targetwise.pipeline.context import RunContext, Stage
from targetwise.usecases.cohorts import cohort_summary, cohorts_at


def run(ctx: RunContext, record: StageRecord) -> None:
    cohorts = cohorts_at(ctx.data, ctx.as_of)
    record.rows_in(cohorts.lines)
    ctx.writer.write_table(out.COHORTS, cohorts.table)
    summary = cohort_summary(cohorts.table)
    record.metrics.update({
        "lines": cohorts.lines, "cohorts": summary.cohorts, "customers": summary.customers,
        "retention_month_1": summary.retention_month_1, "retention_month_3": summary.retention_month_3,
    })


STAGE = Stage(
    "cohorts", run, outputs=(out.COHORTS,),
    description="acquisition-month cohorts: retention and revenue by month since the first order",
)
