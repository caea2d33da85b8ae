"""Choosing k and the columns so that clusters are stable (issue 19): prediction strength next to
the silhouette, pure-noise columns dropped, planted behaviour types recovered with k = their number."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import make_blobs
from sklearn.metrics import adjusted_rand_score

from targetwise.errors import ConfigError
from targetwise.segment import BehaviourClusterer, SegmentationWarning
from targetwise.segment.cluster import prediction_strength

#: (orders, spend per order, days since the last order, days since the first) of each planted type
TYPES = (
    (30.0, 150.0, 10.0, 700.0),  # regular big spenders
    (2.0, 25.0, 20.0, 40.0),  # newcomers
    (3.0, 40.0, 300.0, 500.0),  # lapsed
    (8.0, 60.0, 60.0, 400.0),  # occasional
    (15.0, 300.0, 150.0, 900.0),  # big-ticket, slow
)
SIGNAL = ["frequency", "monetary_mean", "recency_days", "tenure_days"]
NOISE_COLUMNS = ["trend_90d", "channel_share_app", "noise_normal", "noise_exponential"]


def typed_table(n_types: int, *, n: int = 1200, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """``n_types`` well-separated behaviour types (15% lognormal spread around each centre) plus four
    pure-noise columns drawn independently of the type: a short-window trend, a channel share, a
    normal and an exponential column."""
    rng = np.random.default_rng(seed)
    kind = rng.integers(0, n_types, n)
    centres = np.array(TYPES[:n_types])[kind]
    spread = rng.lognormal(0.0, 0.15, (n, 4))
    table = pd.DataFrame(centres * spread, columns=SIGNAL)
    table["frequency"] = table["frequency"].round().clip(lower=1)
    table.insert(0, "customer_id", [f"c{i:05d}" for i in range(n)])
    table["trend_90d"] = rng.uniform(-1, 1, n)
    table["channel_share_app"] = rng.uniform(0, 1, n)
    table["noise_normal"] = rng.normal(0, 1, n)
    table["noise_exponential"] = rng.exponential(1.0, n)
    return table, kind


def test_prediction_strength_is_one_for_real_clusters_and_low_for_halves():
    x, _ = make_blobs(
        n_samples=[300] * 4,
        centers=np.eye(3)[[0, 1, 2, 0]] * [[10], [10], [10], [0]],
        cluster_std=0.5,
        random_state=0,
    )
    assert prediction_strength(x, 4, random_state=0) == 1.0
    # eight clusters cut each round blob at an arbitrary place: the halves do not come back
    assert prediction_strength(x, 8, random_state=0) < 0.7
    assert prediction_strength(x, 4, random_state=3) == prediction_strength(x, 4, random_state=3)


@pytest.mark.parametrize("n_types", [3, 4, 5])
def test_noise_columns_are_dropped_and_k_is_the_number_of_planted_types(n_types):
    table, kind = typed_table(n_types, seed=n_types)
    with pytest.warns(
        SegmentationWarning, match=r"dropped noise feature\(s\) \['trend_90d', 'channel_share_app'"
    ):
        model = BehaviourClusterer(features=SIGNAL + NOISE_COLUMNS, random_state=0).fit(table)
    assert model.noise_features_ == NOISE_COLUMNS
    assert model.features_in_ == SIGNAL
    assert all(model.feature_relevance_[c] < 0.05 for c in NOISE_COLUMNS)
    assert all(model.feature_relevance_[c] > 0.5 for c in SIGNAL)
    assert model.n_clusters_ == n_types
    assert adjusted_rand_score(kind, model.labels_) >= 0.9
    # a type is not cut in halves: more clusters than types are not stable
    assert model.prediction_strength_[n_types] >= 0.9
    assert all(ps < 0.9 for k, ps in model.prediction_strength_.items() if k > n_types)


def test_prediction_strength_finds_the_types_that_the_silhouette_misses():
    # noise columns kept: their spread hides four types from the silhouette, which takes 2
    table, kind = typed_table(4, seed=3)
    columns = SIGNAL + NOISE_COLUMNS
    by_silhouette = BehaviourClusterer(
        features=columns, noise_features="keep", k_selection="silhouette", random_state=0
    ).fit(table)
    assert by_silhouette.n_clusters_ == 2
    assert adjusted_rand_score(kind, by_silhouette.labels_) < 0.5
    assert by_silhouette.prediction_strength_ == {}
    stable = BehaviourClusterer(features=columns, noise_features="keep", random_state=0).fit(table)
    assert stable.n_clusters_ == 4
    assert adjusted_rand_score(kind, stable.labels_) >= 0.9
    assert stable.selection_scores_ == by_silhouette.selection_scores_  # same silhouettes, other choice
    assert max(stable.selection_scores_, key=stable.selection_scores_.get) == 2


def test_noisy_columns_are_weighted_down_and_the_weights_are_part_of_the_scaling():
    table, _ = typed_table(3, seed=1)
    # half a type signal, half noise: recency blurred with a large independent draw
    rng = np.random.default_rng(9)
    table["recency_days"] = table["recency_days"] + rng.normal(0, table["recency_days"].std(), len(table))
    model = BehaviourClusterer(features=SIGNAL, random_state=0).fit(table)
    weights = model.feature_weights_
    assert max(weights.values()) == 1.0
    assert weights["recency_days"] < 0.8 <= min(weights[c] for c in ("frequency", "monetary_mean"))
    for col, weight in weights.items():
        assert weight == pytest.approx(
            model.feature_relevance_[col] / max(model.feature_relevance_.values()), abs=1e-3
        )
    # scaled_ = standardised column * weight; transform gives the same matrix
    raw = table.set_index("customer_id")["recency_days"]
    standard = (raw - raw.mean()) / raw.std(ddof=0)
    np.testing.assert_allclose(model.scaled_["recency_days"], standard * weights["recency_days"], atol=2e-4)
    pd.testing.assert_frame_equal(model.transform(table), model.scaled_)
    unweighted = BehaviourClusterer(features=SIGNAL, noise_features="drop", random_state=0).fit(table)
    assert set(unweighted.feature_weights_.values()) == {1.0}


def test_a_two_peaked_column_is_never_dropped_as_noise():
    # a yes/no trait independent of the other columns is a structure of its own, not noise
    table, _ = typed_table(3, seed=2)
    table["store_buyer"] = np.random.default_rng(4).integers(0, 2, len(table)).astype(float)
    model = BehaviourClusterer(features=[*SIGNAL, "store_buyer", "noise_normal"], random_state=0).fit(table)
    assert model.noise_features_ == ["noise_normal"]
    assert "store_buyer" in model.features_in_
    assert model.feature_relevance_["store_buyer"] == pytest.approx(1.0)


def test_the_stability_checks_are_seeded_and_skipped_on_tiny_tables():
    table, _ = typed_table(3, seed=3, n=600)
    first = BehaviourClusterer(features=SIGNAL + NOISE_COLUMNS, random_state=5, stability_sample_size=300)
    second = BehaviourClusterer(features=SIGNAL + NOISE_COLUMNS, random_state=5, stability_sample_size=300)
    with pytest.warns(SegmentationWarning):
        a, b = first.fit(table), second.fit(table)
    assert a.prediction_strength_ == b.prediction_strength_ and a.feature_relevance_ == b.feature_relevance_
    assert a.labels_.equals(b.labels_)
    tiny = BehaviourClusterer(features=SIGNAL + NOISE_COLUMNS, random_state=0).fit(table.iloc[:40])
    assert tiny.noise_features_ == [] and tiny.feature_relevance_ == {} and tiny.prediction_strength_ == {}


def test_bad_stability_parameters():
    table, _ = typed_table(3)
    with pytest.raises(ConfigError, match="k_selection"):
        BehaviourClusterer(features=SIGNAL, k_selection="gap").fit(table)
    with pytest.raises(ConfigError, match="noise_features"):
        BehaviourClusterer(features=SIGNAL, noise_features="yes").fit(table)
    with pytest.raises(ConfigError, match="stability_threshold"):
        BehaviourClusterer(features=SIGNAL, stability_threshold=1.5).fit(table)
    with pytest.raises(ConfigError, match="stability_splits"):
        BehaviourClusterer(features=SIGNAL, stability_splits=0).fit(table)
