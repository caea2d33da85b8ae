"""Public segmentation API: RFM segments + behavioural clusters, named and explained.

>>> from targetwise.segment import segment_customers
>>> result = segment_customers(features, random_state=0)
>>> result.customers.head()          # customer_id, rfm_score, rfm_segment, cluster, cluster_name, reason
>>> result.cluster_profiles           # size, revenue share, medians vs overall, name, description
>>> later = segment_customers(next_month_features, previous=result)   # same ids for the same clusters
>>> result.cluster_centers_table().to_parquet("centres.parquet")     # persist; pass the frame back later

This module combines the estimators of :mod:`targetwise.segment` into one call;
the application layer (``targetwise.usecases``) feeds it a workspace's features and
the pipeline writes its outputs into a run. It writes no file itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import pandas as pd

from targetwise.errors import ConfigError
from targetwise.segment._validation import SegmentationWarning, customer_frame
from targetwise.segment.cluster import DEFAULT_CLUSTER_FEATURES, NOISE, BehaviourClusterer
from targetwise.segment.profile import NOISE_NAME, name_segments, profile_segments
from targetwise.segment.reasons import explain_customers
from targetwise.segment.rfm import DEFAULT_RFM_GRID, DEFAULT_SCORE_MAP, RFM_SEGMENTS, RFMSegmenter

__all__ = [
    "DEFAULT_CLUSTER_FEATURES",
    "DEFAULT_RFM_GRID",
    "DEFAULT_SCORE_MAP",
    "OUTPUT_COLUMNS",
    "RFM_SEGMENTS",
    "BehaviourClusterer",
    "RFMSegmenter",
    "SegmentationResult",
    "SegmentationWarning",
    "segment_customers",
]

#: Columns of :attr:`SegmentationResult.customers` (and of the CLI's output file).
OUTPUT_COLUMNS: tuple[str, ...] = (
    "customer_id",
    "rfm_score",
    "rfm_segment",
    "cluster",
    "cluster_name",
    "reason",
)


@dataclass
class SegmentationResult:
    """Per-customer segments plus the fitted objects and profiles behind them."""

    customers: pd.DataFrame
    rfm: RFMSegmenter
    clusterer: BehaviourClusterer
    cluster_names: dict[int, str]
    #: one row per cluster (index ``cluster``), see :func:`profile_segments`
    cluster_profiles: pd.DataFrame
    #: one row per RFM segment (index ``rfm_segment``)
    rfm_profiles: pd.DataFrame

    def cluster_centers_table(self) -> pd.DataFrame:
        """Cluster centres in original units with their names (index ``cluster``).

        Persist it (Parquet, CSV, JSON) and pass it back as ``previous`` to a later
        :func:`segment_customers` call so ids and names stay put across runs.
        """
        table = self.clusterer.cluster_centers_.copy()
        table.insert(0, "cluster_name", [self.cluster_names[int(i)] for i in table.index])
        return table

    def plot_segment_map(self, *, ax=None, max_points: int = 20_000):
        """The PCA segment map labelled with the cluster names (matplotlib Axes)."""
        from targetwise.segment.plotting import plot_segment_map

        return plot_segment_map(self.clusterer, names=self.cluster_names, ax=ax, max_points=max_points)

    def segment_map_html(self, *, max_points: int = 20_000) -> str:
        """The segment map as an ``<img>`` tag with an inline base64 PNG."""
        from targetwise.segment.plotting import render_html

        return render_html(self.plot_segment_map(max_points=max_points))


def segment_customers(
    features: pd.DataFrame,
    *,
    n_clusters: int | None = None,
    random_state: int | None = 0,
    previous: SegmentationResult | BehaviourClusterer | pd.DataFrame | None = None,
    algorithm: Literal["kmeans", "dbscan", "hdbscan"] = "kmeans",
    cluster_features: Sequence[str] | None = None,
    nan_policy: Literal["raise", "median"] = "raise",
    rfm_score_map: dict[str, list[str]] | None = None,
    n_reasons: int = 3,
    currency: str = "",
) -> SegmentationResult:
    """RFM-score, cluster, name and explain every customer of the feature table.

    Parameters
    ----------
    features:
        Customer feature table (``targetwise.features``), one row per customer.
    n_clusters:
        Fixed number of behavioural clusters, or ``None`` to choose by silhouette.
    random_state:
        Seed; the same table and seed give the same result.
    previous:
        An earlier result (or clusterer) to keep cluster ids stable: clusters are
        matched to it by centroid (Hungarian algorithm); a matched cluster keeps
        its previous id and, for a :class:`SegmentationResult` or a centre table
        with a ``cluster_name`` column (:meth:`SegmentationResult.cluster_centers_table`,
        e.g. read back from a file), its previous name.
    algorithm, cluster_features, nan_policy:
        Passed to :class:`BehaviourClusterer`.
    rfm_score_map:
        Passed to :class:`RFMSegmenter` (``None`` = the documented default map).
    n_reasons:
        Features quoted per customer in ``reason``.
    currency:
        Symbol put before amounts in descriptions and reasons (e.g. "£"; the workspace's
        ``currency_symbol`` setting in the pipeline).

    Returns
    -------
    :class:`SegmentationResult` whose ``customers`` has :data:`OUTPUT_COLUMNS`.
    """
    if previous is not None and not isinstance(
        previous, (SegmentationResult, BehaviourClusterer, pd.DataFrame)
    ):
        raise ConfigError(
            "previous must be a SegmentationResult, a fitted BehaviourClusterer or a centre table, "
            f"got {type(previous).__name__}",
            fix="pass the earlier result or its cluster_centers_table()",
        )
    frame = customer_frame(features)
    rfm = RFMSegmenter(score_map=rfm_score_map).fit(frame)
    rfm_table = rfm.transform(frame)

    clusterer = BehaviourClusterer(
        n_clusters,
        algorithm=algorithm,
        features=cluster_features,
        nan_policy=nan_policy,
        random_state=random_state,
    ).fit(frame)

    inherited: dict[int, str] = {}
    if previous is not None:
        previous_names: dict[int, str] = {}
        if isinstance(previous, SegmentationResult):
            reference: BehaviourClusterer | pd.DataFrame = previous.clusterer
            previous_names = previous.cluster_names
        elif isinstance(previous, pd.DataFrame) and "cluster_name" in previous.columns:
            reference = previous.drop(columns="cluster_name")
            previous_names = {int(i): str(n) for i, n in previous["cluster_name"].items()}
        else:
            reference = previous
        clusterer.align_to(reference)
        matched = set(clusterer.label_mapping_.values()) & set(previous_names) - {NOISE}
        inherited = {cluster: previous_names[cluster] for cluster in sorted(matched)}
    labels = clusterer.labels_
    fresh = name_segments(clusterer.scaled_, labels, reserved=list(inherited.values()), features=frame)
    cluster_names = {**fresh, **inherited}
    if NOISE in set(labels.tolist()):
        cluster_names[NOISE] = NOISE_NAME
    cluster_profiles = profile_segments(frame, labels, names=cluster_names, currency=currency).rename_axis("cluster")
    rfm_profiles = profile_segments(frame, rfm_table["rfm_segment"], currency=currency).rename_axis("rfm_segment")

    # a member whose own values contradict its cluster's name is told so first
    reasons = explain_customers(
        frame, labels, scaled=clusterer.scaled_, n_reasons=n_reasons, names=cluster_names, currency=currency
    )
    customers = pd.DataFrame(
        {
            "customer_id": frame.index.to_numpy(),
            "rfm_score": rfm_table["rfm_score"].to_numpy(),
            "rfm_segment": rfm_table["rfm_segment"].to_numpy(),
            "cluster": labels.reindex(frame.index).to_numpy(),
            "cluster_name": labels.reindex(frame.index).map(cluster_names).to_numpy(),
            "reason": reasons["reason"].reindex(frame.index).to_numpy(),
        }
    )
    return SegmentationResult(
        customers=customers,
        rfm=rfm,
        clusterer=clusterer,
        cluster_names=dict(sorted(cluster_names.items())),
        cluster_profiles=cluster_profiles,
        rfm_profiles=rfm_profiles,
    )
