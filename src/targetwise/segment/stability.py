"""Keep cluster ids stable between runs by matching centroids (Hungarian algorithm).

Re-segmenting a later snapshot gives K-means clusters in an arbitrary order.
:func:`match_clusters` pairs each new centroid with a previous one so that the
total Euclidean distance (in the new run's scaled feature space) is minimal
(``scipy.optimize.linear_sum_assignment``). Matched clusters inherit the
previous id; new clusters that have no partner (more clusters than before, or
a partner farther than ``max_distance``) get fresh ids above every previous id,
in the order of their current ids. Noise (-1, density methods) is never remapped.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy.optimize import linear_sum_assignment

from targetwise.errors import ModelError

__all__ = ["match_clusters"]


def match_clusters(
    new_centers: np.ndarray,
    previous_centers: np.ndarray,
    *,
    new_ids: Sequence[int],
    previous_ids: Sequence[int],
    max_distance: float | None = None,
) -> dict[int, int]:
    """Map each new cluster id to a previous id (or a fresh one).

    Parameters
    ----------
    new_centers, previous_centers:
        ``(k_new, d)`` and ``(k_prev, d)`` centroids in the same feature space.
    new_ids, previous_ids:
        The ids of those rows (noise, -1, must not be among them).
    max_distance:
        Pairs farther apart than this are not matched (the new cluster gets a fresh id).

    Returns
    -------
    dict new id -> assigned id. Example: previous centres at 0 and 10, new at 10.2
    and 0.1 with ids 0, 1 -> ``{0: 1, 1: 0}``.
    """
    new_centers = np.asarray(new_centers, dtype=float)
    previous_centers = np.asarray(previous_centers, dtype=float)
    if (
        new_centers.ndim != 2
        or previous_centers.ndim != 2
        or new_centers.shape[1] != previous_centers.shape[1]
    ):
        raise ModelError(
            f"cannot match centroids of shapes {new_centers.shape} and {previous_centers.shape}",
            fix="align runs that were fitted on the same feature columns",
        )
    if len(new_ids) != len(new_centers) or len(previous_ids) != len(previous_centers):
        raise ModelError(
            "one id per centroid is needed", fix="pass new_ids/previous_ids matching the centroid rows"
        )
    mapping: dict[int, int] = {}
    if len(previous_centers):
        cost = np.linalg.norm(new_centers[:, None, :] - previous_centers[None, :, :], axis=2)
        rows, cols = linear_sum_assignment(cost)
        for r, c in zip(rows, cols, strict=True):
            if max_distance is None or cost[r, c] <= max_distance:
                mapping[int(new_ids[r])] = int(previous_ids[c])
    next_id = max([int(i) for i in previous_ids] + [-1]) + 1
    for new_id in sorted(int(i) for i in new_ids):
        if new_id not in mapping:
            mapping[new_id] = next_id
            next_id += 1
    return mapping


def align_clusterer(clusterer: Any, previous: Any, *, max_distance: float | None = None) -> Any:
    """:meth:`BehaviourClusterer.align_to`: re-label ``clusterer``'s clusters to ``previous``'s ids."""
    import numpy as np
    import pandas as pd

    from targetwise.errors import ConfigError, ModelError
    from targetwise.segment._validation import check_fitted
    from targetwise.segment.cluster import NOISE, BehaviourClusterer, _signed_log1p

    check_fitted(clusterer, "labels_")
    if isinstance(previous, BehaviourClusterer):
        check_fitted(previous, "labels_")
        previous_centers = previous.cluster_centers_
    elif isinstance(previous, pd.DataFrame):
        previous_centers = previous
    elif (
        isinstance(previous, np.ndarray)
        and previous.ndim == 2
        and previous.shape[1] == len(clusterer.features_in_)
    ):
        previous_centers = pd.DataFrame(previous, columns=clusterer.features_in_)
    else:
        raise ConfigError(
            f"previous must be a fitted BehaviourClusterer, a DataFrame of centres or a "
            f"(k, {len(clusterer.features_in_)}) array, got {type(previous).__name__}",
            fix="pass the earlier clusterer or its cluster_centers_",
        )
    shared = [c for c in clusterer.features_in_ if c in previous_centers.columns]
    if not shared:
        raise ModelError(
            f"the previous run has no centre values for feature(s) {list(clusterer.features_in_)}",
            fix="align runs fitted on the same feature columns",
        )
    positions = [clusterer.features_in_.index(c) for c in shared]
    prev = previous_centers.loc[previous_centers.index != NOISE, shared].astype(float)
    for col in shared:
        if col in clusterer.log_features_:
            prev[col] = _signed_log1p(prev[col].to_numpy())
    prev_scaled = (prev.to_numpy() - clusterer.center_[positions]) / clusterer.scale_[positions]
    mapping = match_clusters(
        clusterer.cluster_centers_scaled_.to_numpy()[:, positions],
        prev_scaled,
        new_ids=list(clusterer.cluster_centers_scaled_.index),
        previous_ids=[int(i) for i in prev.index],
        max_distance=max_distance,
    )
    clusterer.label_mapping_ = mapping
    clusterer.labels_ = clusterer.labels_.map({**mapping, NOISE: NOISE}).astype("int64").rename("cluster")
    centers = clusterer.cluster_centers_scaled_.rename(index=mapping).sort_index()
    centers.index.name = "cluster"
    clusterer.cluster_centers_scaled_ = centers
    clusterer.cluster_ids_ = centers.index.to_numpy()
    clusterer._update_original_centers()
    return clusterer
