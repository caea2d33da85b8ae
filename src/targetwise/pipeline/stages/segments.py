"""Stage ``segments``: RFM segments and behavioural clusters, with ids kept from the active run."""

from __future__ import annotations

from typing import Any

import pandas as pd

from targetwise.figures import png_bytes
from targetwise.io import outputs as out
from targetwise.io.runs import RunStore, StageRecord
from targetwise.pipeline.context import RunContext, Stage
from targetwise.usecases.segments import segment_features, segment_model, segment_profiles


def _previous_centers(ctx: RunContext) -> pd.DataFrame | None:
    """The active run's cluster centres, so cluster ids and names stay put from run to run."""
    active = RunStore(ctx.workspace).active()
    if active is None or not active.has(out.CENTERS):
        return None
    return active.read_table(out.CENTERS).set_index("cluster")


def _maybe_float(value: Any) -> float | None:
    try:
        return None if value is None else float(value)
    except (TypeError, ValueError):
        return None


def run(ctx: RunContext, record: StageRecord) -> None:
    features = ctx.require_features()
    record.rows_in(len(features))  # one row per customer
    segmented = segment_features(
        features, ctx.config.segments, random_state=ctx.random_state, previous=_previous_centers(ctx),
        currency=ctx.settings.currency_symbol,
    )
    for note in segmented.notes:
        record.note(note)
    result = segmented.result
    ctx.results["segments"] = result
    ctx.writer.write_table(out.SEGMENTS, result.customers)
    ctx.writer.write_table(out.CENTERS, result.cluster_centers_table().reset_index())
    ctx.writer.write_json(out.PROFILES, segment_profiles(result.cluster_profiles.reset_index()))
    rfm_counts = {str(k): int(v) for k, v in result.customers["rfm_segment"].value_counts().sort_index().items()}
    ctx.writer.write_json(out.RFM_COUNTS, rfm_counts)
    ctx.writer.write_bytes(out.SEGMENT_MAP, png_bytes(result.plot_segment_map()))
    ctx.writer.write_model(out.SEGMENTS_MODEL, segment_model(
        result, n_reasons=ctx.config.segments.n_reasons, currency=ctx.settings.currency_symbol))
    clusterer = result.clusterer
    record.metrics.update(
        {
            "clusters": len(result.cluster_names),
            "silhouette": _maybe_float(getattr(clusterer, "silhouette_", None)),
            "pca_explained_variance": [float(v) for v in getattr(clusterer, "pca_explained_variance_ratio_", [])],
            "rfm_segments": len(rfm_counts),
        }
    )


STAGE = Stage(
    "segments", run, needs=("features",), config_section="segments",
    outputs=(out.SEGMENTS, out.CENTERS, out.PROFILES, out.RFM_COUNTS, out.SEGMENT_MAP, out.SEGMENTS_MODEL),
    description="RFM segments and named behavioural clusters",
)
