"""Lookalikes (targetwise.segment.lookalike): known answers on planted data and the planted customer types."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from targetwise.errors import DataValidationError, NotFittedError
from targetwise.segment.lookalike import LookalikeRanker, numeric_feature_matrix


def two_blobs(n: int = 300, seed_share: float = 0.1) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Two well-separated groups; the seed is a random tenth of group 1."""
    rng = np.random.default_rng(1)
    X = np.r_[rng.normal(0, 1, (n, 3)), rng.normal(5, 1, (n, 3))]
    group = np.r_[np.zeros(n, bool), np.ones(n, bool)]
    seed = np.zeros(2 * n, bool)
    seed[rng.choice(np.flatnonzero(group), size=int(seed_share * n), replace=False)] = True
    return X, group, seed


@pytest.mark.parametrize("method", ["pu", "knn"])
def test_separated_groups_are_ranked_and_calibrated(method: str) -> None:
    X, group, seed = two_blobs()
    ranker = LookalikeRanker(method, random_state=0).fit(X, seed)
    order = ranker.ranking()
    assert not seed[order].any() and len(order) == (~seed).sum()  # only non-seed customers are ranked
    assert group[order[:270]].all()  # the 270 unseeded members of the seed's group come first
    assert not group[order[270:]].any()
    # Elkan-Noto: the seed is 30 of the group's 300, so c (the seed's share of people like it) is near 0.1
    # for the classifier; the expected positives outside the seed near 270
    if method == "pu":
        assert 0.05 < ranker.label_frequency_ < 0.2
    assert 200 < ranker.expected_positives_ < 340
    at_group, at_all = ranker.size_curve([270, len(order)])
    assert at_group.spy_recall >= 0.9  # a list of the group's size holds nearly every held-out seed member
    assert at_group.expected_similarity > 0.7 and at_all.expected_similarity < 0.5
    assert at_group.min_similarity >= at_all.min_similarity
    assert at_all.spy_recall == 1.0


def test_size_curve_by_hand() -> None:
    ranker = LookalikeRanker("knn")
    # set the fitted state by hand: 2 seed rows (g 0.6, 0.2), 3 others (g 0.3, 0.6, 0.1); c = 0.4
    ranker.g_ = np.array([0.6, 0.3, 0.2, 0.6, 0.1])
    ranker.seed_ = np.array([True, False, True, False, False])
    ranker.label_frequency_ = 0.4
    ranker.similarity_ = np.minimum(1.0, ranker.g_ / 0.4)  # 1, 0.75, 0.5, 1, 0.25
    ranker.expected_positives_ = 0.75 + 1.0 + 0.25
    assert list(ranker.ranking()) == [3, 1, 4]
    one, two, three = ranker.size_curve([1, 2, 3])
    assert (one.min_similarity, one.expected_similarity, one.spy_recall) == (1.0, 1.0, 0.5)  # spy 0.6 >= 0.6
    assert one.estimated_precision == 1.0  # min(1, 0.5 * 2 / 1)
    assert two.min_similarity == pytest.approx(0.75) and two.expected_similarity == pytest.approx(0.875)
    assert two.spy_recall == 0.5
    assert two.estimated_precision == pytest.approx(0.5)  # 0.5 * 2 / 2
    assert three.spy_recall == 1.0 and three.expected_similarity == pytest.approx(2.0 / 3)
    with pytest.raises(DataValidationError, match=r"lookalike size 4 is outside 1 to 3"):
        ranker.size_curve([4])


def test_bad_input_is_refused_in_words() -> None:
    X, _group, seed = two_blobs()
    with pytest.raises(NotFittedError, match="not fitted"):
        LookalikeRanker().ranking()
    with pytest.raises(DataValidationError, match="unknown lookalike method 'svm'"):
        LookalikeRanker("svm").fit(X, seed)  # type: ignore[arg-type]
    few = np.zeros(len(X), bool)
    few[:5] = True
    with pytest.raises(DataValidationError, match="seed of at least 10 customers with features; this one has 5"):
        LookalikeRanker().fit(X, few)
    with pytest.raises(DataValidationError, match="only 0 customers are outside the seed"):
        LookalikeRanker().fit(X, np.ones(len(X), bool))
    bad = X.copy()
    bad[0, 0] = np.inf
    with pytest.raises(DataValidationError, match="infinite value"):
        LookalikeRanker().fit(bad, seed)
    with pytest.raises(DataValidationError, match="no numeric column"):
        numeric_feature_matrix(pd.DataFrame({"customer_id": ["a"], "name": ["x"]}))


def test_same_seed_same_ranking() -> None:
    X, _group, seed = two_blobs(100)
    X[::7, 1] = np.nan  # missing values are allowed (the median of the scaled space)
    first = LookalikeRanker("pu", random_state=3).fit(X, seed)
    again = LookalikeRanker("pu", random_state=3).fit(X, seed)
    assert np.array_equal(first.ranking(), again.ranking()) and np.array_equal(first.g_, again.g_)


# ------------------------------------------------------------------ the synthetic retailer's planted types


@pytest.fixture(scope="module")
def retailer_features(tmp_path_factory) -> tuple[pd.DataFrame, np.ndarray]:
    """The synthetic retailer's feature table (real ingest + features) and each customer's planted type."""
    from targetwise.config import get_settings
    from targetwise.features import customer_features
    from targetwise.io.engines import open_duckdb
    from targetwise.io.ingest import ingest_arrow
    from targetwise.io.readers import source_from_frame
    from targetwise.io.workspace import Workspace
    from targetwise.synthetic import generate_retailer

    shop = generate_retailer(1500, random_state=3, pii=False, campaign=False)
    workspace = Workspace.init(tmp_path_factory.mktemp("lookalike") / "ws", get_settings())
    for table in ("products", "transactions"):
        ingest_arrow(workspace, table, source_from_frame(getattr(shop, table), name=f"synthetic:{table}"))
    backend = open_duckdb(workspace.db_path)
    features = customer_features(backend, shop.params["end"]).to_pandas()
    backend.disconnect()
    truth = shop.truth.set_index("customer_id").loc[features["customer_id"], "customer_type"].to_numpy()
    return features, truth


@pytest.mark.slow
@pytest.mark.parametrize("method", ["pu", "knn"])
def test_a_tenth_of_each_planted_type_finds_the_rest_of_it(retailer_features, method: str) -> None:
    """Seeded with 10% of one type, >= 80% of the top N (N = the type's size minus the seed) are of that type."""
    features, truth = retailer_features
    X = numeric_feature_matrix(features)
    precision, estimates = {}, {}
    for kind in sorted(set(truth)):
        members = np.flatnonzero(truth == kind)
        seed = np.zeros(len(truth), bool)
        seed[np.random.default_rng(0).choice(members, size=round(0.1 * len(members)), replace=False)] = True
        ranker = LookalikeRanker(method, random_state=0).fit(X, seed)
        n = len(members) - int(seed.sum())
        precision[kind] = float(np.mean(truth[ranker.ranking()[:n]] == kind))
        point = ranker.size_curve([n])[0]
        estimates[kind] = (round(point.expected_similarity, 3), round(point.estimated_precision, 3))
    print(method, {k: round(v, 3) for k, v in precision.items()}, "estimates (similarity, precision):", estimates)
    assert len(precision) == 5
    assert min(precision.values()) >= 0.8, precision
    # the calibrated estimates are conservative: never above the measured precision (+0.05), never near zero
    for kind, (similarity, estimated) in estimates.items():
        assert 0.4 <= similarity <= precision[kind] + 0.05, (kind, similarity, precision[kind])
        assert 0.3 <= estimated <= precision[kind] + 0.05, (kind, estimated, precision[kind])
