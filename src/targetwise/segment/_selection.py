"""How the clusterer chooses its columns and its number of clusters (steps 5 and 6 of
:mod:`targetwise.segment.cluster`).

**Noise columns.** A column is kept when the cluster structure of the *other* columns separates it. On a
seeded sample of customers, for every k of the clusterer's ``k_range``, K-means on all columns but ``j``
gives a partition; the share of column ``j``'s variance between those clusters (eta squared, adjusted for
the number of clusters so chance gives about 0) is its relevance at k, and its relevance is the largest over
k. A pure-noise column, or a short-window column that mostly carries noise, is independent of the behaviour
types and scores about 0; a column that differs between types scores high because the types are visible in
the other columns too. Columns under the minimum relevance (0.05) are dropped and the check repeats on the
rest, unless the column is clearly two-peaked on its own (its best split alone holds at least 85% of its
variance, e.g. a yes/no trait): such a column is a structure of its own, not noise. A dropped column that
the clusters of the kept columns do separate comes back (many noise columns can hide the types from a
leave-one-out fit). The clusterer then weights each kept column by its relevance over the largest, so a
column that is half structure and half noise counts a quarter as much in the squared distances: K-means no
longer cuts a type in two along the noisy part of such a column (a return rate over two orders, a 90-day
trend). (Weights equal to the square root of the relevance kept the planted types of the synthetic retailer
less well once short-window columns were added.)

**Stable k.** The prediction strength of Tibshirani & Walther (2005, "Cluster validation by prediction
strength", JCGS 14(3)): split a sample into random halves A and B, cluster both, assign B to A's centres,
and for every cluster of B take the share of its pairs that A's centres keep together; the smallest share
is the prediction strength, averaged over splits. A real type keeps its pairs together (near 1); a type cut
into two look-alike halves along a noise direction does not (0.5 to 0.85; the sample has a fixed size so
that this does not creep towards 1 on a large table). The clusterer takes the largest k whose prediction
strength is at least 0.9 (Tibshirani & Walther suggest 0.8 to 0.9; at 0.8 a type halved along a long
within-type spread still passes now and then), and the silhouette's k, with a warning, when no k is stable.

Both work on the stability sample only (a few hundred K-means fits of at most 4,000 rows in all), so their
cost does not grow with the table.
"""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.cluster import KMeans
from sklearn.exceptions import ConvergenceWarning

__all__ = ["noise_columns", "prediction_strength"]


def _between_share(column: np.ndarray, labels: np.ndarray, k: int) -> float:
    """Adjusted eta squared of ``column`` over the partition ``labels`` (0..k-1): about 0 by chance."""
    n = column.size
    total = float(((column - column.mean()) ** 2).sum())
    if total <= 0 or n <= k:
        return 0.0
    counts = np.bincount(labels, minlength=k).astype(float)
    sums = np.bincount(labels, weights=column, minlength=k)
    nonempty = counts > 0
    between = float((sums[nonempty] ** 2 / counts[nonempty]).sum() - column.sum() ** 2 / n)
    eta2 = min(max(between / total, 0.0), 1.0)
    return 1.0 - (1.0 - eta2) * (n - 1) / (n - k)


def _two_group_share(column: np.ndarray) -> float:
    """Share of the column's variance held by its best split into two groups (exact 1-D 2-means)."""
    x = np.sort(column)
    n = x.size
    total = float(((x - x.mean()) ** 2).sum())
    if n < 2 or total <= 0:
        return 0.0
    cum = np.cumsum(x)[:-1]
    left_n = np.arange(1, n)
    left = cum / left_n
    right = (x.sum() - cum) / (n - left_n)
    between = left_n * (n - left_n) / n * (left - right) ** 2
    valid = x[1:] > x[:-1]  # only split between distinct values
    return float(between[valid].max() / total) if valid.any() else 0.0


def prediction_strength(
    data: np.ndarray, k: int, *, n_splits: int = 3, n_init: int = 4, random_state: int | None = 0
) -> float:
    """Prediction strength of K-means with ``k`` clusters (Tibshirani & Walther 2005).

    ``n_splits`` times: split the rows into random halves A and B, fit K-means with
    ``k`` clusters on each, assign B's rows to A's nearest centre, and for every
    cluster of B (with at least 2 rows) take the share of its pairs of rows that
    A's centres put in one cluster; the smallest share is that split's strength.
    Returns the mean over splits: near 1 for clusters that reappear in new data,
    about 0.5 or less for a cluster cut at an arbitrary place.
    """
    rng = np.random.default_rng(random_state)
    n = data.shape[0]
    strengths = []
    for _ in range(n_splits):
        order = rng.permutation(n)
        a, b = data[order[: n // 2]], data[order[n // 2 :]]
        seed_a, seed_b = (int(rng.integers(0, 2**31 - 1)) for _ in range(2))
        model_a = KMeans(n_clusters=k, n_init=n_init, random_state=seed_a).fit(a)
        labels_b = KMeans(n_clusters=k, n_init=n_init, random_state=seed_b).fit_predict(b)
        predicted = model_a.predict(b)
        shares = []
        for cluster in range(k):
            members = predicted[labels_b == cluster]
            m = members.size
            if m < 2:
                continue
            together = np.bincount(members, minlength=k).astype(float)
            shares.append(float((together * (together - 1)).sum() / (m * (m - 1))))
        strengths.append(min(shares) if shares else 0.0)
    return float(np.mean(strengths))


def noise_columns(
    sample: np.ndarray,
    columns: list[str],
    *,
    ks: list[int],
    seed: int,
    min_relevance: float,
    two_peaked_share: float = 0.85,
) -> tuple[list[str], dict[str, float]]:
    """The columns of ``sample`` that the K-means clusters of the other columns do not separate, and the
    relevance of every column (see the module docstring); the caller limits the threads."""
    feature_relevance: dict[str, float] = {}
    two_group = [_two_group_share(sample[:, j]) for j in range(len(columns))]
    two_peaked = {j: share >= two_peaked_share for j, share in enumerate(two_group)}

    def relevance(targets: list[int], basis: list[int]) -> dict[int, float]:
        """Largest adjusted eta squared of each target column over K-means partitions of ``basis``."""
        best = dict.fromkeys(targets, 0.0)
        for k in ks:
            labels = KMeans(n_clusters=k, n_init=1, random_state=seed).fit_predict(sample[:, basis])
            for j in targets:
                best[j] = max(best[j], _between_share(sample[:, j], labels, k))
        for j, value in best.items():
            # a two-peaked column is a structure of its own: at least as relevant as its split
            if two_peaked[j]:
                best[j] = value = max(value, two_group[j])
            feature_relevance[columns[j]] = round(value, 4)
        return best

    active, dropped = list(range(len(columns))), []
    with warnings.catch_warnings():
        # fewer distinct rows than clusters on some column subsets: K-means says so, harmlessly
        warnings.simplefilter("ignore", ConvergenceWarning)
        for _ in range(len(columns)):
            # each column against the clusters of all other kept columns
            scores = {j: relevance([j], [i for i in active if i != j])[j] for j in active}
            low = [j for j in active if scores[j] < min_relevance]
            if not low or len(low) == len(active):
                break  # nothing stands out as noise, or nothing stands out at all: keep the rest
            active = [j for j in active if j not in low]
            dropped = sorted(dropped + low)
            # many noise columns can hide the types from a leave-one-out fit: a dropped column
            # the clusters of the kept columns do separate comes back
            back = [
                j
                for j, value in relevance(dropped, active).items()
                if value >= min_relevance
            ]
            active = sorted(active + back)
            dropped = [j for j in dropped if j not in back]
            if set(back) == set(low):
                break
    return [columns[j] for j in dropped], feature_relevance
