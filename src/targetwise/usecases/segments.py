"""Use case: RFM segments and behavioural clusters of the customers at a cutoff."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from targetwise.io.modeldata import open_model_data
from targetwise.io.workspace import Workspace
from targetwise.runconfig import SegmentsConfig
from targetwise.segment import SegmentationResult, segment_customers
from targetwise.usecases._common import user_warnings
from targetwise.usecases.features import AsOf, features_at

__all__ = ["SegmentsResult", "segment_features", "segment_profiles", "segment_workspace"]


@dataclass
class SegmentsResult:
    result: SegmentationResult
    notes: list[str] = field(default_factory=list)

    @property
    def customers(self) -> pd.DataFrame:
        return self.result.customers

    @property
    def cluster_profiles(self) -> pd.DataFrame:
        return self.result.cluster_profiles


def segment_features(
    features: pd.DataFrame,
    config: SegmentsConfig,
    *,
    random_state: int,
    previous: pd.DataFrame | None = None,
    currency: str = "",
) -> SegmentsResult:
    """Segment a feature table (missing values imputed by the median, said in the notes)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = segment_customers(
            features, n_clusters=config.n_clusters, algorithm=config.algorithm, n_reasons=config.n_reasons,
            random_state=random_state, nan_policy="median", previous=previous, currency=currency,
        )
    return SegmentsResult(result, notes=user_warnings(caught))


def segment_workspace(
    ws: Workspace, as_of: AsOf, config: SegmentsConfig | None = None, *, random_state: int = 0
) -> SegmentsResult:
    """``targetwise segment``: features at ``as_of`` (objectors left out), then :func:`segment_features`."""
    with open_model_data(ws) as data:
        features = features_at(data, as_of)
    return segment_features(
        features, config or SegmentsConfig(), random_state=random_state, currency=ws.settings.currency_symbol
    )


def segment_profiles(profiles: pd.DataFrame) -> list[dict[str, Any]]:
    """The cluster profiles as the JSON the run stores (``segments/profiles.json``)."""
    out = []
    cluster_col = next((c for c in ("cluster", "index") if c in profiles.columns), None)
    for rec in profiles.to_dict("records"):
        feats: dict[str, dict[str, float | None]] = {}
        for key, value in rec.items():
            for suffix, name in (("_mean", "mean"), ("_median", "median"), ("_vs_overall", "vs_overall")):
                if key.endswith(suffix) and key not in ("customer_share",):
                    feats.setdefault(key[: -len(suffix)], {})[name] = None if pd.isna(value) else float(value)
        out.append(
            {
                "name": rec.get("name"),
                "cluster": None if cluster_col is None else int(rec[cluster_col]),
                "size": int(rec.get("n_customers", 0)),
                "share": float(rec.get("customer_share", 0.0)),
                "revenue_share": float(rec.get("revenue_share", 0.0)),
                "description": rec.get("description"),
                "features": feats,
            }
        )
    return out

