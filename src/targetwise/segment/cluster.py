"""Behavioural clustering of customers on their feature table.

Pipeline (all fitted on the table passed to ``fit``):

1. **Columns**: ``features`` if given, else the columns of
   :data:`DEFAULT_CLUSTER_FEATURES` that the table has.
2. **Missing values**: ``nan_policy="raise"`` (default) raises
   :class:`DataValidationError` naming the column and the count;
   ``"median"`` fills with the column median of the fitted table and warns with
   the counts (kept in ``imputed_counts_``).
3. **Skew-aware transform**: money and count columns (:data:`LOG_FEATURES`, or
   ``log_features``) go through the signed log ``sign(x) * log1p(|x|)``, so a
   customer spending 10x more is one step further away, not ten; negative
   money (net returns) stays defined.
4. **Scaling**: ``"standard"`` (mean 0, standard deviation 1) or ``"robust"``
   (median 0, inter-quartile range 1, falling back to the standard deviation
   where the IQR is 0). Columns constant on the fitted table carry no
   information: they are dropped with a :class:`SegmentationWarning`
   (``dropped_features_``); if none remain, :class:`ModelError`.
5. **Noise columns** (``noise_features="weight"``, the default): a column is kept when
   the cluster structure of the *other* columns separates it (its relevance,
   ``feature_relevance_``; how: :mod:`targetwise.segment._selection`). Columns under
   ``min_feature_relevance`` (0.05) are dropped with a :class:`SegmentationWarning`
   (``noise_features_``, also in ``dropped_features_``) unless clearly two-peaked; the
   kept ones are weighted by relevance over the largest (``feature_weights_``; part of
   the scaling: ``scale_``, ``scaled_``, :meth:`transform`, DBSCAN's ``eps``). ``"drop"``
   drops without weighting, ``"keep"`` skips the check. Skipped for fewer than 50
   customers or a single column. The default columns hold no short-window column
   (``trend_90d``, ``orders_30d``) for the same reason.
6. **Clustering**:

   * ``"kmeans"`` with ``n_clusters`` fixed, or chosen over ``k_range`` by
     *stability* (``k_selection="stable"``, the default), the silhouette where no
     k is stable.
     Stability is the prediction strength of Tibshirani & Walther (2005) on a seeded
     sample of at most ``stability_sample_size`` customers over ``stability_splits``
     splits (``prediction_strength_``; :mod:`targetwise.segment._selection`): the
     chosen k is the largest with strength at least ``stability_threshold`` (0.9); if
     no k is stable, the highest silhouette wins with a warning. ``k_selection="silhouette"`` uses
     the silhouette alone (ties: smaller k). The silhouette fits
     K-means on a seeded sample of at most ``selection_sample_size`` customers
     and scores on at most ``silhouette_sample_size`` of them; every score is
     kept in ``selection_scores_``. The final model is fitted on all customers.
     With fewer distinct customers than clusters requested, fewer clusters are
     used with a warning; fewer than 2 customers raise :class:`ModelError`.
   * ``"dbscan"`` / ``"hdbscan"``: scikit-learn's ``DBSCAN(eps, min_samples)`` and
     ``HDBSCAN(min_cluster_size, min_samples)``. Customers in no dense region get
     the label **-1 (noise)**. Their pairwise work grows quadratically: sample
     large tables first.

   Cluster ids are ordered by size (0 = largest) so that reruns are stable;
   :meth:`BehaviourClusterer.align_to` maps them to a previous run's ids.
7. **Projection**: a 2-D PCA of the scaled features (``projection_``,
   ``pca_explained_variance_ratio_``, :meth:`project`) for the segment map.

Runtime: steps 5 and 6 work on a fixed-size sample. Reproducibility: the same table,
``random_state`` and thread count (``n_threads``) give identical labels, centres and
scores; another thread count can move the last bits and occasionally the chosen k.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Literal

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.cluster import DBSCAN, HDBSCAN, KMeans
from sklearn.decomposition import PCA
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import pairwise_distances_argmin, silhouette_score
from sklearn.neighbors import NearestNeighbors
from threadpoolctl import threadpool_limits

from targetwise.errors import ConfigError, DataValidationError, ModelError
from targetwise.segment._selection import noise_columns, prediction_strength
from targetwise.segment._validation import (
    SegmentationWarning,
    check_fitted,
    customer_frame,
    numeric_matrix,
    require_columns,
)

__all__ = ["DEFAULT_CLUSTER_FEATURES", "LOG_FEATURES", "NOISE", "BehaviourClusterer", "prediction_strength"]

NOISE = -1

#: Behaviour columns clustered by default (those present are used): when, how often,
#: how much, since when, how much comes back, how broad and how big the baskets are.
#: No short-window column (``trend_90d``, ``orders_30d``): over a few weeks most
#: customers have zero to two orders, so such a column is mostly noise and K-means
#: would cut real types in two along it.
DEFAULT_CLUSTER_FEATURES: tuple[str, ...] = (
    "recency_days",
    "frequency",
    "monetary_mean",
    "tenure_days",
    "returns_rate",
    "distinct_products",
    "basket_size_mean",
)

#: Money and count columns that get the signed log1p transform before scaling.
LOG_FEATURES: frozenset[str] = frozenset(
    {
        "frequency",
        "monetary_total",
        "monetary_mean",
        "returns_value",
        "btyd_frequency",
        "btyd_monetary_value",
        "orders_30d",
        "orders_90d",
        "orders_365d",
        "basket_size_mean",
        "lines_per_order_mean",
        "distinct_products",
        "distinct_categories",
    }
)

SINGLE_THREAD_BELOW = 50_000  # fewer customers: K-means single-threaded unless n_threads says otherwise

MIN_STABILITY_CUSTOMERS = 50  # fewer: no noise-column check, no prediction strength (silhouette alone)

#: A column whose best two-group split alone holds this share of its variance is two-peaked:
#: it is never dropped as noise.
TWO_PEAKED_SHARE = 0.85

Algorithm = Literal["kmeans", "dbscan", "hdbscan"]


def _signed_log1p(values: np.ndarray) -> np.ndarray:
    return np.sign(values) * np.log1p(np.abs(values))


def _signed_expm1(values: np.ndarray) -> np.ndarray:
    return np.sign(values) * np.expm1(np.abs(values))


class BehaviourClusterer(BaseEstimator):
    """Cluster customers on behavioural features (see the module docstring for every step).

    Parameters
    ----------
    n_clusters:
        Fixed number of K-means clusters, or ``None`` to choose it over ``k_range``
        (``k_selection``). Ignored by the density algorithms.
    algorithm:
        ``"kmeans"``, ``"dbscan"`` or ``"hdbscan"``.
    features:
        Columns to cluster on; ``None`` uses :data:`DEFAULT_CLUSTER_FEATURES` present in the table.
    k_range:
        Inclusive ``(min, max)`` number of clusters tried when ``n_clusters`` is None.
    scaling:
        ``"standard"`` or ``"robust"``.
    log_features:
        Columns given the signed log1p; ``None`` uses :data:`LOG_FEATURES`.
    nan_policy:
        ``"raise"`` or ``"median"``.
    k_selection:
        ``"stable"`` (the largest k with prediction strength at least
        ``stability_threshold``) or ``"silhouette"`` (silhouette alone).
    noise_features:
        ``"weight"``: drop columns the other columns' clusters do not separate and weight
        the rest by their relevance; ``"drop"``: only drop; ``"keep"``: neither
        (module docstring, step 5).
    min_feature_relevance:
        Relevance under which a column counts as noise.
    stability_sample_size, stability_splits, stability_threshold:
        Rows sampled (seeded) for the noise-column check and the prediction strength,
        random half-splits per k, and the prediction strength a k needs to count as stable.
    eps, min_samples, min_cluster_size:
        DBSCAN / HDBSCAN parameters (in scaled units for ``eps``). ``min_cluster_size``
        defaults to max(5, 1% of customers).
    n_threads:
        OpenMP threads for K-means; ``None`` uses 1 thread for fits on fewer than
        :data:`SINGLE_THREAD_BELOW` rows (the selection sample always is; thread
        start-up costs more than the work there, badly so on a busy machine) and
        the library default above.
    random_state:
        Seed for sampling, K-means initialisation and PCA.

    Fitted attributes
    -----------------
    ``labels_`` (Series ``cluster`` by customer_id), ``n_clusters_``, ``cluster_ids_``,
    ``cluster_centers_`` (DataFrame, original units), ``cluster_centers_scaled_``,
    ``selection_scores_`` ({k: silhouette}), ``prediction_strength_`` ({k: strength}),
    ``silhouette_``, ``features_in_``, ``dropped_features_`` (constant and noise columns),
    ``noise_features_``, ``feature_relevance_`` ({column: relevance}), ``feature_weights_``
    ({column: weight}), ``imputed_counts_``, ``projection_``, ``pca_explained_variance_ratio_``,
    ``scaled_`` (the scaled training matrix, DataFrame).
    """

    def __init__(
        self,
        n_clusters: int | None = None,
        *,
        algorithm: Algorithm = "kmeans",
        features: Sequence[str] | None = None,
        k_range: tuple[int, int] = (2, 8),
        scaling: Literal["standard", "robust"] = "standard",
        log_features: Sequence[str] | None = None,
        nan_policy: Literal["raise", "median"] = "raise",
        k_selection: Literal["stable", "silhouette"] = "stable",
        noise_features: Literal["weight", "drop", "keep"] = "weight",
        min_feature_relevance: float = 0.05,
        stability_sample_size: int = 4_000,
        stability_splits: int = 3,
        stability_threshold: float = 0.9,
        selection_sample_size: int = 20_000,
        silhouette_sample_size: int = 5_000,
        n_init: int = 4,
        eps: float = 0.5,
        min_samples: int = 5,
        min_cluster_size: int | None = None,
        n_threads: int | None = None,
        random_state: int | None = 0,
    ) -> None:
        self.n_clusters = n_clusters
        self.algorithm = algorithm
        self.features = features
        self.k_range = k_range
        self.scaling = scaling
        self.log_features = log_features
        self.nan_policy = nan_policy
        self.k_selection = k_selection
        self.noise_features = noise_features
        self.min_feature_relevance = min_feature_relevance
        self.stability_sample_size = stability_sample_size
        self.stability_splits = stability_splits
        self.stability_threshold = stability_threshold
        self.selection_sample_size = selection_sample_size
        self.silhouette_sample_size = silhouette_sample_size
        self.n_init = n_init
        self.eps = eps
        self.min_samples = min_samples
        self.min_cluster_size = min_cluster_size
        self.n_threads = n_threads
        self.random_state = random_state

    # ------------------------------------------------------------ checks
    def _check_params(self) -> None:
        if self.algorithm not in ("kmeans", "dbscan", "hdbscan"):
            raise ConfigError(
                f"algorithm must be 'kmeans', 'dbscan' or 'hdbscan', got {self.algorithm!r}",
                fix="use algorithm='kmeans' unless you want density-based clusters with noise",
            )
        if self.scaling not in ("standard", "robust"):
            raise ConfigError(
                f"scaling must be 'standard' or 'robust', got {self.scaling!r}", fix="use 'standard'"
            )
        if self.nan_policy not in ("raise", "median"):
            raise ConfigError(
                f"nan_policy must be 'raise' or 'median', got {self.nan_policy!r}", fix="use 'raise'"
            )
        if self.n_clusters is not None and (
            not isinstance(self.n_clusters, (int, np.integer)) or self.n_clusters < 2
        ):
            raise ConfigError(
                f"n_clusters must be an integer >= 2 or None, got {self.n_clusters!r}",
                fix="pass n_clusters=None to choose it by silhouette",
            )
        lo, hi = self.k_range
        if not (2 <= lo <= hi):
            raise ConfigError(
                f"k_range must satisfy 2 <= min <= max, got {self.k_range!r}", fix="e.g. k_range=(2, 8)"
            )
        if self.noise_features not in ("weight", "drop", "keep"):
            raise ConfigError(
                f"noise_features must be 'weight', 'drop' or 'keep', got {self.noise_features!r}",
                fix="use 'weight'",
            )
        if self.k_selection not in ("stable", "silhouette"):
            raise ConfigError(
                f"k_selection must be 'stable' or 'silhouette', got {self.k_selection!r}", fix="use 'stable'"
            )
        if not 0 < self.stability_threshold <= 1:
            raise ConfigError(
                f"stability_threshold must be in (0, 1], got {self.stability_threshold!r}",
                fix="use 0.9 (Tibshirani & Walther suggest 0.8 to 0.9)",
            )
        if not isinstance(self.stability_splits, (int, np.integer)) or self.stability_splits < 1:
            raise ConfigError(
                f"stability_splits must be an integer >= 1, got {self.stability_splits!r}", fix="use 3"
            )

    def _columns(self, frame: pd.DataFrame) -> list[str]:
        if self.features is not None:
            columns = list(self.features)
            require_columns(frame, columns, purpose="behavioural clustering")
        else:
            columns = [c for c in DEFAULT_CLUSTER_FEATURES if c in frame.columns]
            if not columns:
                raise DataValidationError(
                    f"the feature table has none of the default clustering columns {list(DEFAULT_CLUSTER_FEATURES)}",
                    fix="compute the table with targetwise.features or pass features=[...]",
                )
        return columns

    def _fill_missing(self, values: pd.DataFrame, *, fitting: bool) -> pd.DataFrame:
        counts = values.isna().sum()
        counts = counts[counts > 0]
        if counts.empty:
            return values
        detail = ", ".join(f"{col!r}: {int(n)}" for col, n in counts.items())
        if self.nan_policy == "raise":
            raise DataValidationError(
                f"missing values in clustering column(s) {detail} (of {len(values)} customers)",
                fix="fill them upstream, leave those columns out (features=[...]), or use nan_policy='median'",
            )
        if fitting:
            self.imputed_counts_ = {str(c): int(n) for c, n in counts.items()}
        warnings.warn(
            f"filled missing values with the fitted median: {detail}", SegmentationWarning, stacklevel=3
        )
        return values.fillna(pd.Series(self.medians_))

    def _log(self, values: pd.DataFrame) -> pd.DataFrame:
        out = values.copy()
        for col in self.log_features_:
            out[col] = _signed_log1p(out[col].to_numpy())
        return out

    def _matrix(self, features: pd.DataFrame) -> pd.DataFrame:
        frame = customer_frame(features)
        require_columns(frame, self.features_in_, purpose="this fitted clusterer")
        values = numeric_matrix(frame, self.features_in_)
        values = self._fill_missing(values, fitting=False)
        return values

    # ------------------------------------------------------------ fit
    def fit(self, features: pd.DataFrame, y: object = None) -> BehaviourClusterer:
        """Scale the behaviour columns and cluster the customers."""
        self._check_params()
        self.__dict__.pop("label_mapping_", None)  # a refit starts without a previous alignment
        frame = customer_frame(features)
        columns = self._columns(frame)
        values = numeric_matrix(frame, columns)
        n = len(values)
        if n < 2:
            raise ModelError(
                f"clustering needs at least 2 customers, got {n}",
                fix="segment a larger customer table (RFM scores work on any size)",
            )
        self.imputed_counts_: dict[str, int] = {}
        self.medians_ = values.median().to_dict()
        values = self._fill_missing(values, fitting=True)
        log_set = LOG_FEATURES if self.log_features is None else set(self.log_features)
        self.log_features_ = [c for c in columns if c in log_set]
        logged = self._log(values)

        if self.scaling == "standard":
            center = logged.mean()
            scale = logged.std(ddof=0)
        else:
            center = logged.median()
            scale = logged.quantile(0.75) - logged.quantile(0.25)
            scale = scale.where(scale > 0, logged.std(ddof=0))
        spread = logged.max() - logged.min()
        constant = [c for c in columns if not spread[c] > 0]
        if constant:
            warnings.warn(
                f"dropped constant feature(s) {constant}: every customer has the same value",
                SegmentationWarning,
                stacklevel=2,
            )
        kept = [c for c in columns if c not in constant]
        if not kept:
            raise ModelError(
                f"every clustering feature is constant across the {n} customers ({columns})",
                fix="cluster on columns that vary between customers",
            )
        scaled = (logged[kept].to_numpy() - center[kept].to_numpy(dtype=float)) / scale[kept].to_numpy(
            dtype=float
        )
        # a generator of its own, so the K-means seeds below do not depend on this check
        stability_rng = np.random.default_rng(None if self.random_state is None else [self.random_state, 19])
        self.feature_relevance_: dict[str, float] = {}
        noise: list[str] = []
        if self.noise_features != "keep" and len(kept) > 1 and n >= MIN_STABILITY_CUSTOMERS:
            noise = self._noise_columns(scaled, kept, stability_rng)
            if noise:
                warnings.warn(
                    f"dropped noise feature(s) {noise}: the clusters of the other columns do not separate "
                    f"them (relevance under {self.min_feature_relevance}: "
                    + ", ".join(f"{c} {self.feature_relevance_[c]:.2f}" for c in noise)
                    + ")",
                    SegmentationWarning,
                    stacklevel=2,
                )
                scaled = scaled[:, [i for i, c in enumerate(kept) if c not in noise]]
                kept = [c for c in kept if c not in noise]
        weights = self._weights(kept)
        self.feature_weights_ = {c: round(float(w), 4) for c, w in zip(kept, weights, strict=True)}
        scaled = scaled * weights
        self.noise_features_ = noise
        self.dropped_features_ = constant + noise
        self.features_in_ = kept
        self.log_features_ = [c for c in self.log_features_ if c in kept]
        self.medians_ = {c: self.medians_[c] for c in kept}
        self.center_ = center[kept].to_numpy(dtype=float)
        self.scale_ = scale[kept].to_numpy(dtype=float) / weights
        self.scaled_ = pd.DataFrame(scaled, index=values.index, columns=kept)
        self.customer_ids_ = values.index
        self._stability_seed = int(stability_rng.integers(0, 2**31 - 1))

        rng = np.random.default_rng(self.random_state)
        with threadpool_limits(limits=self._threads(n)):
            if self.algorithm == "kmeans":
                labels, centers = self._fit_kmeans(scaled, rng)
            else:
                labels, centers = self._fit_density(scaled)
            self._set_clusters(labels, centers)
            n_components = min(2, scaled.shape[1])
            self.pca_ = PCA(n_components=n_components, random_state=self.random_state).fit(scaled)
        ratio = np.zeros(2)
        ratio[:n_components] = self.pca_.explained_variance_ratio_
        self.pca_explained_variance_ratio_ = ratio
        self.projection_ = self._project_scaled(scaled, values.index)
        return self

    def _threads(self, n_rows: int) -> int | None:
        """OpenMP/BLAS thread limit for work on ``n_rows`` rows (None = library default)."""
        if self.n_threads is not None:
            return self.n_threads
        return 1 if n_rows < SINGLE_THREAD_BELOW else None

    def _seed(self, rng: np.random.Generator) -> int:
        return int(rng.integers(0, 2**31 - 1))

    def _stability_sample(self, scaled: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        n = scaled.shape[0]
        if n <= self.stability_sample_size:
            return scaled
        return scaled[np.sort(rng.choice(n, self.stability_sample_size, replace=False))]

    def _screen_ks(self, n_rows: int) -> range:
        lo, hi = self.k_range
        return range(lo, max(lo, min(hi, n_rows // 10)) + 1)

    def _weights(self, kept: list[str]) -> np.ndarray:
        """Relevance per kept column over the largest (all 1 without a relevance check)."""
        if self.noise_features != "weight" or not self.feature_relevance_:
            return np.ones(len(kept))
        relevance = np.array([self.feature_relevance_.get(c, 1.0) for c in kept], dtype=float)
        weights = np.clip(relevance, 0.0, 1.0)
        top = weights.max()
        return weights / top if top > 0 else np.ones(len(kept))

    def _noise_columns(self, scaled: np.ndarray, columns: list[str], rng: np.random.Generator) -> list[str]:
        """Columns the other columns' K-means clusters do not separate (step 5; :func:`noise_columns`)."""
        sample = self._stability_sample(scaled, rng)
        seed = self._seed(rng)
        n_distinct = len(pd.DataFrame(sample).drop_duplicates())
        ks = [k for k in self._screen_ks(len(sample)) if k <= min(len(sample) - 1, n_distinct)]
        with threadpool_limits(limits=self._threads(len(sample))):
            dropped, relevance = noise_columns(
                sample, columns, ks=ks, seed=seed, min_relevance=self.min_feature_relevance,
                two_peaked_share=TWO_PEAKED_SHARE,
            )
        self.feature_relevance_.update(relevance)
        return dropped

    def _fit_kmeans(self, scaled: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        n = scaled.shape[0]
        n_distinct = len(pd.DataFrame(scaled).drop_duplicates())
        if n_distinct < 2:
            raise ModelError(
                f"all {n} customers have identical features; there is nothing to cluster",
                fix="cluster on columns that vary between customers",
            )
        sample_seed, silhouette_seed, kmeans_seed = (self._seed(rng) for _ in range(3))
        self.selection_scores_: dict[int, float] = {}
        self.prediction_strength_ = {}
        if self.n_clusters is not None:
            k = int(self.n_clusters)
            if k > n_distinct:
                warnings.warn(
                    f"asked for {k} clusters but only {n_distinct} distinct customer(s); using {n_distinct}",
                    SegmentationWarning,
                    stacklevel=3,
                )
                k = n_distinct
        else:
            k = self._choose_k(scaled, n_distinct, sample_seed, silhouette_seed, kmeans_seed)
        model = KMeans(n_clusters=k, n_init=self.n_init, random_state=kmeans_seed).fit(scaled)
        self.inertia_ = float(model.inertia_)
        self._silhouette_seed = silhouette_seed
        return model.labels_, model.cluster_centers_

    def _choose_k(
        self, scaled: np.ndarray, n_distinct: int, sample_seed: int, silhouette_seed: int, kmeans_seed: int
    ) -> int:
        n = scaled.shape[0]
        sample = scaled
        if n > self.selection_sample_size:
            idx = np.sort(
                np.random.default_rng(sample_seed).choice(n, self.selection_sample_size, replace=False)
            )
            sample = scaled[idx]
        n_sample_distinct = len(pd.DataFrame(sample).drop_duplicates()) if len(sample) < n else n_distinct
        lo, hi = self.k_range
        # silhouette is defined for 2 <= k <= n_samples - 1
        hi_ok = min(hi, n_sample_distinct, len(sample) - 1)
        if hi_ok < lo:
            k = max(2, min(lo, n_distinct))
            warnings.warn(
                f"too few customers ({n}, {n_distinct} distinct) to choose the number of clusters over "
                f"{self.k_range} by silhouette; using {k}",
                SegmentationWarning,
                stacklevel=4,
            )
            return k
        self.prediction_strength_: dict[int, float] = {}
        best_k, best_score = lo, -np.inf
        for k in range(lo, hi_ok + 1):
            # the selection sample is small: single-threaded unless n_threads says otherwise
            with threadpool_limits(limits=self._threads(len(sample))):
                labels = KMeans(n_clusters=k, n_init=self.n_init, random_state=kmeans_seed).fit_predict(
                    sample
                )
            if len(np.unique(labels)) < 2:
                continue
            score = float(
                silhouette_score(
                    sample,
                    labels,
                    sample_size=min(self.silhouette_sample_size, len(sample)),
                    random_state=silhouette_seed,
                )
            )
            self.selection_scores_[k] = score
            if score > best_score:
                best_k, best_score = k, score
        if self.k_selection == "silhouette" or n < MIN_STABILITY_CUSTOMERS or not self.selection_scores_:
            return best_k
        return self._choose_stable_k(scaled, best_k)

    def _choose_stable_k(self, scaled: np.ndarray, silhouette_k: int) -> int:
        """The largest k with prediction strength >= the threshold (else the silhouette's k)."""
        rng = np.random.default_rng(self._stability_seed)
        sample = self._stability_sample(scaled, rng)
        seed = self._seed(rng)
        with threadpool_limits(limits=self._threads(len(sample))), warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            for k in sorted(self.selection_scores_):
                if k > len(sample) // 4:  # too few rows per half for k clusters
                    continue
                self.prediction_strength_[k] = round(
                    prediction_strength(
                        sample, k, n_splits=self.stability_splits, n_init=self.n_init, random_state=seed
                    ),
                    4,
                )
        if not self.prediction_strength_:
            return silhouette_k
        stable = [k for k, ps in self.prediction_strength_.items() if ps >= self.stability_threshold]
        if stable:
            return max(stable)
        warnings.warn(
            f"no number of clusters in {self.k_range} is stable (prediction strength under "
            f"{self.stability_threshold} for every k: "
            + ", ".join(f"k={k} {ps:.2f}" for k, ps in self.prediction_strength_.items())
            + f"); using the silhouette's choice, k={silhouette_k}",
            SegmentationWarning,
            stacklevel=5,
        )
        return silhouette_k

    def _fit_density(self, scaled: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        n = scaled.shape[0]
        if self.algorithm == "dbscan":
            model = DBSCAN(eps=self.eps, min_samples=self.min_samples, n_jobs=1)
            hint = "increase eps or lower min_samples"
        else:
            size = self.min_cluster_size or max(5, n // 100)
            model = HDBSCAN(min_cluster_size=min(size, n), min_samples=self.min_samples, copy=True)
            hint = "lower min_cluster_size or min_samples"
        labels = model.fit_predict(scaled)
        found = sorted(set(labels.tolist()) - {NOISE})
        if not found:
            raise ModelError(
                f"{self.algorithm} found no cluster: all {n} customers are noise",
                fix=f"{hint}, or use algorithm='kmeans'",
            )
        self.selection_scores_ = {}
        self.prediction_strength_ = {}
        centers = np.vstack([scaled[labels == c].mean(axis=0) for c in found])
        # map the raw labels to 0..k-1 so _set_clusters can treat both paths alike
        lookup = np.full(max(found) + 2, NOISE, dtype=np.int64)  # last slot: noise (-1 indexes it)
        lookup[found] = np.arange(len(found))
        dense = lookup[labels]
        self._silhouette_seed = 0
        return dense, centers

    def _set_clusters(self, labels: np.ndarray, centers: np.ndarray) -> None:
        """Order clusters by size (0 = largest; ties by first member) and store them."""
        ids = np.arange(len(centers))
        sizes = np.array([(labels == i).sum() for i in ids])
        first = np.array([np.flatnonzero(labels == i)[0] if sizes[i] else len(labels) for i in ids])
        order = sorted(ids, key=lambda i: (-sizes[i], first[i]))
        order = [i for i in order if sizes[i] > 0]
        new_id = {int(old): new for new, old in enumerate(order)}
        lookup = np.full(len(centers) + 1, NOISE, dtype=np.int64)  # last slot: noise (-1 indexes it)
        for old, new in new_id.items():
            lookup[old] = new
        relabelled = lookup[labels]
        self.labels_ = pd.Series(relabelled, index=self.customer_ids_, name="cluster", dtype="int64")
        self.cluster_ids_ = np.arange(len(order))
        self.cluster_centers_scaled_ = pd.DataFrame(
            centers[order], index=pd.Index(self.cluster_ids_, name="cluster"), columns=self.features_in_
        )
        self.n_clusters_ = len(order)
        self._update_original_centers()
        self.silhouette_ = self._silhouette()

    def _update_original_centers(self) -> None:
        logged = self.cluster_centers_scaled_.to_numpy() * self.scale_ + self.center_
        original = pd.DataFrame(logged, index=self.cluster_centers_scaled_.index, columns=self.features_in_)
        for col in self.log_features_:
            original[col] = _signed_expm1(original[col].to_numpy())
        self.cluster_centers_ = original

    def _silhouette(self) -> float:
        mask = (self.labels_ != NOISE).to_numpy()
        labels = self.labels_.to_numpy()[mask]
        scaled = self.scaled_.to_numpy()[mask]
        if len(np.unique(labels)) < 2 or len(np.unique(labels)) >= len(labels):
            return float("nan")
        size = min(self.silhouette_sample_size, len(labels))
        return float(silhouette_score(scaled, labels, sample_size=size, random_state=self._silhouette_seed))

    # ------------------------------------------------------------ use
    def transform(self, features: pd.DataFrame) -> pd.DataFrame:
        """The scaled feature matrix (log where documented, then centred and scaled), by customer_id."""
        check_fitted(self, "labels_")
        values = self._matrix(features)
        scaled = (self._log(values).to_numpy() - self.center_) / self.scale_
        return pd.DataFrame(scaled, index=values.index, columns=self.features_in_)

    def predict(self, features: pd.DataFrame) -> pd.Series:
        """Cluster id per customer.

        K-means: the nearest centroid. DBSCAN/HDBSCAN have no predict of their
        own; a customer gets the label (possibly -1) of its nearest fitted customer.
        """
        scaled = self.transform(features)
        if self.algorithm == "kmeans":
            nearest = pairwise_distances_argmin(scaled.to_numpy(), self.cluster_centers_scaled_.to_numpy())
            labels = self.cluster_centers_scaled_.index.to_numpy()[nearest]
        else:
            nn = NearestNeighbors(n_neighbors=1).fit(self.scaled_.to_numpy())
            idx = nn.kneighbors(scaled.to_numpy(), return_distance=False)[:, 0]
            labels = self.labels_.to_numpy()[idx]
        return pd.Series(labels, index=scaled.index, name="cluster", dtype="int64")

    def fit_predict(self, features: pd.DataFrame, y: object = None) -> pd.Series:
        return self.fit(features).labels_

    def _project_scaled(self, scaled: np.ndarray, index: pd.Index) -> pd.DataFrame:
        proj = self.pca_.transform(scaled)
        if proj.shape[1] == 1:
            proj = np.column_stack([proj[:, 0], np.zeros(len(proj))])
        return pd.DataFrame(proj, index=index, columns=["pc1", "pc2"])

    def project(self, features: pd.DataFrame) -> pd.DataFrame:
        """2-D PCA coordinates (columns ``pc1, pc2``) of customers, for the segment map."""
        scaled = self.transform(features)
        return self._project_scaled(scaled.to_numpy(), scaled.index)

    def project_centers(self) -> pd.DataFrame:
        """2-D PCA coordinates of the cluster centres."""
        check_fitted(self, "labels_")
        return self._project_scaled(
            self.cluster_centers_scaled_.to_numpy(), self.cluster_centers_scaled_.index
        )

    # ------------------------------------------------------------ stability
    def align_to(
        self, previous: BehaviourClusterer | pd.DataFrame | np.ndarray, *, max_distance: float | None = None
    ) -> BehaviourClusterer:
        """Re-label clusters to a previous run's ids (Hungarian matching on centroids).

        ``previous`` is a fitted :class:`BehaviourClusterer`, a DataFrame of its
        ``cluster_centers_`` (original units, index = cluster id, columns = features),
        or an array of centres in original units with columns in ``features_in_``
        order (ids 0..k-1).
        Both runs' centres are compared in *this* run's scaled space, on the
        features both runs have (the noise-column check can keep a column in one
        run and drop it in the next; at least one shared feature is needed);
        unmatched clusters get fresh ids (see :func:`match_clusters`). The mapping
        used is kept in ``label_mapping_`` (new id -> assigned id). Returns self.
        """
        from targetwise.segment.stability import align_clusterer

        return align_clusterer(self, previous, max_distance=max_distance)
