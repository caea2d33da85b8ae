"""Stage ``recommendations``: hybrid recommendations per customer, popular and similar products."""

from __future__ import annotations

from targetwise.io import outputs as out
from targetwise.io.runs import StageRecord
from targetwise.pipeline.context import RunContext, Stage
from targetwise.usecases.recommendations import fit_recommendations


def run(ctx: RunContext, record: StageRecord) -> None:
    customers = ctx.require_features()["customer_id"].tolist()
    record.rows_in(ctx.data.lines_before(ctx.as_of))
    result = fit_recommendations(
        ctx.data, customers, as_of=ctx.as_of, config=ctx.config.recommendations, random_state=ctx.random_state
    )
    for note in result.notes:
        record.note(note)
    ctx.writer.write_table(out.RECOMMENDATIONS, result.recommendations)
    ctx.writer.write_table(out.POPULAR, result.popular)
    ctx.writer.write_table(out.SIMILAR, result.similar)
    record.metrics.update(
        {
            "customers": int(result.recommendations["customer_id"].nunique()),
            "products_recommended": int(result.recommendations["product_id"].nunique()),
            "hybrid_weights": result.weights,
        }
    )


STAGE = Stage(
    "recommendations", run, needs=("features",), config_section="recommendations",
    outputs=(out.RECOMMENDATIONS, out.POPULAR, out.SIMILAR), description="next products per customer",
)
