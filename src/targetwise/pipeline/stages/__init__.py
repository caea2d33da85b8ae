"""The pipeline's stages, in run order. Each module declares one :class:`~targetwise.pipeline.context.Stage`.

Adding a stage: a module here with ``run(ctx, record)`` over a use case and its
``STAGE`` declaration, its outputs declared in :mod:`targetwise.io.outputs`, and one
line in :data:`STAGES` (see ``docs/architecture.md``).
"""

from __future__ import annotations

from targetwise.pipeline.context import Stage
from targetwise.pipeline.stages import (
    clv,
    cohorts,
    drift,
    features,
    forecast,
    propensity,
    recommendations,
    segments,
    sendtime,
    uplift,
)

__all__ = ["STAGES"]

STAGES: dict[str, Stage] = {
    s.name: s
    for s in (features.STAGE, segments.STAGE, clv.STAGE, propensity.STAGE, recommendations.STAGE, uplift.STAGE,
              cohorts.STAGE, forecast.STAGE, sendtime.STAGE, drift.STAGE)  # drift last: it compares what the others made
}
