"""targetwise.segment: the combined result, stable ids and names across snapshots, the segment map,
and the planted-type known answer on the synthetic retailer through the real ingest + features."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import adjusted_rand_score

from targetwise.errors import ConfigError, ModelError
from targetwise.segment import (
    OUTPUT_COLUMNS,
    RFM_SEGMENTS,
    BehaviourClusterer,
    SegmentationResult,
    SegmentationWarning,
    segment_customers,
)
from targetwise.segment.plotting import plot_segment_map, render_html, render_png


def planted_features(n: int = 600, *, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """Three planted behaviours: regular big spenders, one-off small spenders, lapsed buyers."""
    rng = np.random.default_rng(seed)
    kind = np.repeat([0, 1, 2], [n // 5, n // 2, n - n // 5 - n // 2])
    frequency = np.where(kind == 0, rng.poisson(25, n) + 5, np.where(kind == 1, 1, rng.poisson(3, n) + 2))
    monetary_mean = np.where(kind == 0, rng.lognormal(5.0, 0.2, n), rng.lognormal(3.0, 0.2, n))
    recency = np.where(kind == 2, rng.uniform(250, 360, n), rng.uniform(1, 40, n))
    tenure = np.where(kind == 1, recency + rng.uniform(0, 5, n), recency + rng.uniform(300, 400, n))
    features = pd.DataFrame(
        {
            "customer_id": [f"c{i:05d}" for i in range(n)],
            "recency_days": recency,
            "frequency": frequency,
            "monetary_mean": monetary_mean,
            "monetary_total": monetary_mean * frequency,
            "tenure_days": tenure,
            "returns_rate": rng.beta(1, 30, n),
            "distinct_products": frequency * 2,
            "ipi_mean_days": np.where(
                frequency > 1, (tenure - recency) / np.maximum(frequency - 1, 1), np.nan
            ),
        }
    )
    return features, kind


@pytest.fixture(scope="module")
def result() -> tuple[SegmentationResult, pd.DataFrame, np.ndarray]:
    features, kind = planted_features()
    return segment_customers(features, n_clusters=3, random_state=0), features, kind


def test_result_has_the_cli_columns_and_recovers_the_planted_behaviours(result):
    seg, features, kind = result
    assert list(seg.customers.columns) == list(OUTPUT_COLUMNS)
    assert seg.customers["customer_id"].tolist() == features["customer_id"].tolist()
    assert adjusted_rand_score(kind, seg.customers["cluster"]) > 0.95
    assert set(seg.customers["rfm_segment"]) <= set(RFM_SEGMENTS)
    assert seg.customers["rfm_score"].str.fullmatch(r"[1-5]{3}").all()
    # the regular big spenders: 20% of customers with most of the revenue, named for it
    big = seg.customers.loc[kind == 0, "cluster"].mode()[0]
    profile = seg.cluster_profiles.loc[big]
    assert profile["customer_share"] == pytest.approx(0.2, abs=0.01)
    assert profile["revenue_share"] > 0.8
    assert profile["name"] == seg.cluster_names[big]
    assert any(word in profile["name"] for word in ("Frequent", "High-value", "Big-ticket", "regulars"))
    assert profile["description"].startswith(f"{profile['name']}: 20% of customers, ")
    assert seg.customers["reason"].str.len().gt(0).all()
    assert seg.cluster_profiles["customer_share"].sum() == pytest.approx(1.0)
    assert seg.cluster_profiles.index.name == "cluster" and seg.rfm_profiles.index.name == "rfm_segment"
    assert seg.rfm_profiles["n_customers"].sum() == len(features)


def test_same_table_and_seed_give_the_same_result(result):
    seg, features, _ = result
    again = segment_customers(features, n_clusters=3, random_state=0)
    pd.testing.assert_frame_equal(again.customers, seg.customers)
    assert again.cluster_names == seg.cluster_names


def test_a_later_snapshot_keeps_cluster_ids_and_names(result):
    seg, _, _ = result
    # a later snapshot: new draws, with the shares changed so size order (and raw ids) would change
    later_features, later_kind = planted_features(900, seed=5)
    plain = segment_customers(later_features, n_clusters=3, random_state=1)
    later = segment_customers(later_features, n_clusters=3, random_state=1, previous=seg)
    first_id = {k: seg.customers.loc[result[2] == k, "cluster"].mode()[0] for k in range(3)}
    later_id = {k: later.customers.loc[later_kind == k, "cluster"].mode()[0] for k in range(3)}
    assert later_id == first_id
    assert {k: later.cluster_names[later_id[k]] for k in range(3)} == {
        k: seg.cluster_names[first_id[k]] for k in range(3)
    }
    assert adjusted_rand_score(plain.customers["cluster"], later.customers["cluster"]) == 1.0


def test_a_persisted_centre_table_works_as_previous(result, tmp_path):
    seg, _, _ = result
    path = tmp_path / "centres.parquet"
    seg.cluster_centers_table().to_parquet(path)
    stored = pd.read_parquet(path)
    assert list(stored.columns[:1]) == ["cluster_name"] and list(stored.index) == [0, 1, 2]
    later_features, _ = planted_features(900, seed=5)
    from_result = segment_customers(later_features, n_clusters=3, random_state=1, previous=seg)
    from_file = segment_customers(later_features, n_clusters=3, random_state=1, previous=stored)
    pd.testing.assert_frame_equal(from_file.customers, from_result.customers)
    assert from_file.cluster_names == from_result.cluster_names


def test_previous_must_be_a_result_a_clusterer_or_a_centre_table(result):
    seg, features, _ = result
    with pytest.raises(ConfigError, match="previous must be"):
        segment_customers(features, previous=seg.customers.to_dict())
    with pytest.raises(ModelError, match=r"no centre values for feature\(s\) \['recency_days'"):
        segment_customers(features, previous=seg.customers)  # per-customer rows, not centres


def test_segment_map_plot_png_and_html(result):
    seg, _, _ = result
    ax = plot_segment_map(seg.clusterer, names=seg.cluster_names, max_points=300)
    try:
        assert len(ax.collections) == 3  # one scatter per cluster
        assert sum(len(c.get_offsets()) for c in ax.collections) == 300
        labels = {t.get_text() for t in ax.texts}
        assert labels == set(seg.cluster_names.values())
        assert ax.get_xlabel().startswith("PC1 (") and "% of variance" in ax.get_xlabel()
        png = render_png(ax)
        assert png[:8] == b"\x89PNG\r\n\x1a\n"
        tag = render_html(ax, alt="map")
        assert tag.startswith('<img alt="map" src="data:image/png;base64,iVBOR')
    finally:
        plt.close(ax.figure)
    _, given = plt.subplots()
    assert seg.plot_segment_map(ax=given) is given
    plt.close(given.figure)


def test_segment_map_leaves_pyplot_alone(result):
    seg, _, _ = result
    before = plt.get_fignums()
    ax = plot_segment_map(seg.clusterer, max_points=100)
    assert plt.get_fignums() == before  # a bare Figure: no pyplot figure to leak or close
    assert {t.get_text() for t in ax.texts} == {"cluster 0", "cluster 1", "cluster 2"}


def test_imputed_values_are_never_quoted_as_reasons(result):
    _, features, _ = result
    gappy = features.copy()
    gappy.loc[:9, "tenure_days"] = np.nan
    with pytest.warns(SegmentationWarning, match="'tenure_days': 10"):
        seg = segment_customers(gappy, n_clusters=3, nan_policy="median")
    reasons = seg.customers["reason"].iloc[:10]
    assert not reasons.str.contains("nan|customer for", regex=True).any()
    assert seg.customers["reason"].iloc[10:].str.contains("customer for").any()
    assert gappy["tenure_days"].isna().sum() == 10  # the caller's table is untouched


def test_a_member_that_contradicts_its_cluster_name_is_told_so():
    """Issue 19: "New one-off buyers" shown on a 3-order customer. The one-off type with one member
    planted at 3 orders: the cluster is still named for its one-order majority, and the planted
    member's reason states their own orders first instead of echoing the name."""
    features, kind = planted_features()
    planted = features.index[kind == 1][0]
    features.loc[planted, ["frequency", "distinct_products"]] = [3, 6]
    seg = segment_customers(features, n_clusters=3, random_state=0)
    row = seg.customers.iloc[planted]
    one_off = seg.customers.loc[kind == 1, "cluster"].mode()[0]
    assert row["cluster"] == one_off
    assert "one-off" in row["cluster_name"].lower()
    assert row["reason"].startswith("3 orders vs 1 typical, unlike most of this segment")
    assert "one-off" not in row["reason"].lower()
    # the cluster's own members (one order each) are not marked
    fits = seg.customers[(seg.customers["cluster"] == one_off) & (features["frequency"] == 1).to_numpy()]
    assert len(fits) > 250 and not fits["reason"].str.contains("unlike most").any()


# ----------------------------------------------------------------- synthetic retailer, real pipeline


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
    workspace = Workspace.init(tmp_path_factory.mktemp("retailer") / "ws", get_settings())
    for table in ("products", "transactions"):
        ingest_arrow(workspace, table, source_from_frame(getattr(shop, table), name=f"synthetic:{table}"))
    backend = open_duckdb(workspace.db_path)
    features = customer_features(backend, shop.params["end"]).to_pandas()
    backend.disconnect()
    truth = shop.truth.set_index("customer_id").loc[features["customer_id"], "customer_type"].to_numpy()
    return features, truth


@pytest.mark.slow
def test_clusters_recover_the_planted_customer_types_of_the_synthetic_retailer(retailer_features):
    features, truth = retailer_features
    n_types = len(set(truth))
    seg = segment_customers(features, random_state=0)
    ari = adjusted_rand_score(truth, seg.customers["cluster"])
    print(f"synthetic retailer: k={seg.clusterer.n_clusters_}, ARI={ari:.3f}")
    # one cluster per planted type, none cut in two look-alike halves (issue 19: was k=6, ARI 0.88)
    assert seg.clusterer.n_clusters_ == n_types == 5
    assert ari >= 0.9
    assert seg.clusterer.prediction_strength_[5] >= 0.9 > seg.clusterer.prediction_strength_[6]
    assert isinstance(seg.clusterer, BehaviourClusterer)
    # the lapsed type is found as one cluster and named for its long silence
    lapsed = pd.Series(seg.customers["cluster"].to_numpy()[truth == "lapsed"]).mode()[0]
    assert "Lapsed" in seg.cluster_names[lapsed] or "lapsed" in seg.cluster_names[lapsed]


@pytest.mark.slow
def test_short_window_and_pure_noise_columns_do_not_split_the_planted_types(retailer_features):
    from targetwise.segment import DEFAULT_CLUSTER_FEATURES

    features, truth = retailer_features
    rng = np.random.default_rng(11)
    noisy = features.assign(
        noise_normal=rng.normal(0, 1, len(features)),
        noise_uniform=rng.uniform(0, 1, len(features)),
        noise_exponential=rng.exponential(1.0, len(features)),
    )
    columns = [
        *DEFAULT_CLUSTER_FEATURES,
        "trend_90d",
        "orders_30d",
        "noise_normal",
        "noise_uniform",
        "noise_exponential",
    ]
    with pytest.warns(SegmentationWarning, match="dropped noise feature"):
        seg = segment_customers(noisy, cluster_features=columns, random_state=0)
    clusterer = seg.clusterer
    ari = adjusted_rand_score(truth, seg.customers["cluster"])
    print(
        f"synthetic retailer + noise columns: k={clusterer.n_clusters_}, ARI={ari:.3f}, "
        f"dropped {clusterer.noise_features_}, weights {clusterer.feature_weights_}"
    )
    assert clusterer.noise_features_ == ["noise_normal", "noise_uniform", "noise_exponential"]
    assert clusterer.n_clusters_ == 5
    assert ari >= 0.9
    # the short-window columns carry some type signal (newcomers have no earlier window), so they stay,
    # weighted down against the long-run behaviour columns
    assert clusterer.feature_weights_["trend_90d"] < clusterer.feature_weights_["frequency"]
    assert clusterer.feature_weights_["orders_30d"] < clusterer.feature_weights_["frequency"]
