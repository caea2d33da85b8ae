"""Use case: RFM segments and behavioural clusters of the customers at a cutoff."""

from __future__ import annotations

import copy
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from targetwise.io.modeldata import open_model_data
from targetwise.io.workspace import Workspace
from targetwise.runconfig import SegmentsConfig
from targetwise.segment import SegmentationResult, segment_customers
from targetwise.usecases._common import user_warnings
from targetwise.usecases.features import AsOf, features_at

__all__ = [
    "SegmentsResult", "assign_segments", "segment_features", "segment_model", "segment_profiles", "segment_workspace",
]


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



def segment_model(result: SegmentationResult, *, n_reasons: int, currency: str = "") -> dict[str, Any]:
    """What assigning a customer to a segment needs, without a customer id in it (the stage persists it).

    The fitted RFM thresholds, the clusterer (its per-customer matrices kept by position only, so a
    density clusterer can still find a customer's nearest fitted neighbour) and the cluster names.
    """
    clusterer = copy.copy(result.clusterer)
    ids = getattr(clusterer, "customer_ids_", None)
    if ids is not None:
        for name, value in list(vars(clusterer).items()):
            if isinstance(value, pd.DataFrame | pd.Series) and value.index.equals(ids):
                setattr(clusterer, name, value.reset_index(drop=True))
        clusterer.customer_ids_ = pd.RangeIndex(len(ids))
    return {"rfm": result.rfm, "clusterer": clusterer, "cluster_names": dict(result.cluster_names),
            "n_reasons": int(n_reasons), "currency": currency}


def assign_segments(
    model: dict[str, Any], features: pd.DataFrame, *, population: pd.DataFrame, population_clusters: pd.Series
) -> pd.DataFrame:
    """Segments of the customers in ``features`` with a fitted :func:`segment_model` (no refit).

    RFM scores from the fitted thresholds, the cluster from the fitted clusterer and its name from
    the fitted names; the reason compares each customer with their cluster within ``population`` (the
    other customers' features and clusters, e.g. the parent run's), these customers' rows replaced.
    Columns as :data:`targetwise.segment.OUTPUT_COLUMNS`.
    """
    from targetwise.segment._validation import customer_frame
    from targetwise.segment.reasons import explain_customers

    rfm, clusterer, names = model["rfm"], model["clusterer"], model["cluster_names"]
    frame = customer_frame(features)
    rfm_table = rfm.transform(frame)
    clusters = clusterer.predict(frame)
    others = customer_frame(population)
    others = others[~others.index.isin(frame.index)]
    everyone = pd.concat([others[frame.columns.intersection(others.columns)], frame])
    everyone_clusters = pd.concat([
        population_clusters.set_axis(population_clusters.index.astype(str))
        .reindex(others.index).astype("int64"), clusters,
    ])
    reasons = explain_customers(
        everyone.reset_index(), everyone_clusters, scaled=clusterer.transform(everyone.reset_index()),
        n_reasons=model["n_reasons"], names=names, currency=model["currency"],
    )
    return pd.DataFrame({
        "customer_id": frame.index.to_numpy(),
        "rfm_score": rfm_table["rfm_score"].to_numpy(),
        "rfm_segment": rfm_table["rfm_segment"].to_numpy(),
        "cluster": clusters.reindex(frame.index).to_numpy(dtype=np.int64),
        "cluster_name": clusters.reindex(frame.index).map(names).to_numpy(),
        "reason": reasons["reason"].reindex(frame.index).to_numpy(),
    })
