"""Recommenders fitted on engine aggregates (issue 20): the same matrix, the same lists, no lines in memory.

The engine (DuckDB here; Spark in test_run_spark) aggregates the lines per (customer, product)
pair; :func:`interactions_from_pairs` must give exactly the matrix :func:`build_interactions`
gives on the lines themselves, and the run's recommendations must equal the hybrid fitted on
the lines.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from features_fixtures import backend, online_retail, transactions_frame
from targetwise.features._inputs import resolve_inputs
from targetwise.features.interactions import decay_column, interaction_pairs, line_counts, window_purchases
from targetwise.recommend import HybridRecommender, build_interactions, interactions_from_pairs
from targetwise.schema import DEFAULT_NON_PRODUCT_CODES

CODES = tuple(DEFAULT_NON_PRODUCT_CODES)


def _aggregate(lines: pd.DataFrame, before: dt.datetime, half_lives=(30.0, 14.0)):
    inputs = resolve_inputs(backend(lines))
    counts = line_counts(inputs, before, non_product_codes=CODES).to_pandas().iloc[0]
    until = pd.Timestamp(counts["observed_until"])
    pairs = interaction_pairs(
        inputs, before, observed_until=until.to_pydatetime(), half_lives=half_lives, non_product_codes=CODES
    ).to_pandas()
    return pairs, counts, until


def test_hand_pairs_count_orders_net_returns_and_decay_by_age() -> None:
    lines = transactions_frame([
        ("a", "1", "2024-01-01 10:00", "X", 2, 1.0, None),
        ("a", "1", "2024-01-01 10:00", "X", 1, 1.0, None),  # same order, second line: one order
        ("a", "2", "2024-01-31 10:00", "X", 1, 1.0, None),
        ("a", "C3", "2024-02-01 10:00", "X", -1, 1.0, None),  # return: nets, is no order
        ("a", "2", "2024-01-31 10:00", "POST", 1, 5.0, None),  # postage: never a product
        ("b", "4", "2024-01-31 10:00", "Y", 1, 1.0, None),
        ("b", "C5", "2024-01-31 12:00", "Y", -1, 1.0, None),  # fully returned: netted out
        ("b", "6", "2024-03-01 00:00", "Y", 9, 1.0, None),  # on the cutoff: after it, not counted
    ])
    pairs, counts, until = _aggregate(lines, dt.datetime(2024, 3, 1))
    assert until == pd.Timestamp("2024-02-01 10:00")
    assert int(counts["non_product_lines"]) == 1 and int(counts["product_lines"]) == 6
    got = pairs.set_index(["customer_id", "product_id"])
    assert got.loc[("a", "X"), "net_quantity"] == 3 and got.loc[("a", "X"), "n_orders"] == 2
    assert got.loc[("a", "X"), "n_lines"] == 3
    assert got.loc[("b", "Y"), "net_quantity"] == 0 and got.loc[("b", "Y"), "n_orders"] == 1
    # ages from 2024-02-01 10:00: order 1 is 31 days old, order 2 one day old
    expected = 0.5 ** (31 / 30) + 0.5 ** (1 / 30)
    assert got.loc[("a", "X"), decay_column(30)] == pytest.approx(expected, abs=1e-9)
    matrix = interactions_from_pairs(pairs, observed_until=until, extra_product_ids=["Z"])
    assert matrix.customer_ids.tolist() == ["a"] and matrix.product_ids.tolist() == ["X", "Z"]
    assert matrix.matrix.toarray().tolist() == [[2.0, 0.0]] and matrix.n_pairs_netted_out == 1
    assert matrix.recency_matrix(30.0).toarray()[0, 0] == pytest.approx(expected, rel=1e-6)
    with pytest.raises(Exception, match="without the 7-day half-life"):
        matrix.recency_matrix(7.0)


def test_aggregated_matrix_equals_the_matrix_built_from_lines_on_online_retail() -> None:
    lines, _ = online_retail()
    before = dt.datetime(2011, 10, 1)
    pairs, counts, until = _aggregate(lines, before)
    early = lines[lines["ordered_at"] < before]
    for value in ("invoices", "quantity"):
        reference = build_interactions(early, value=value)
        ours = interactions_from_pairs(
            pairs, observed_until=until, value=value, n_non_product_lines=int(counts["non_product_lines"])
        )
        assert ours.customer_ids.tolist() == reference.customer_ids.tolist()
        assert ours.product_ids.tolist() == reference.product_ids.tolist()
        assert (ours.matrix != reference.matrix).nnz == 0
        assert ours.n_pairs_netted_out == reference.n_pairs_netted_out
        assert ours.n_non_product_lines == reference.n_non_product_lines
        for half_life in (30.0, 14.0):
            np.testing.assert_allclose(
                ours.recency_matrix(half_life).toarray(), reference.recency_matrix(half_life).toarray(), rtol=1e-5, atol=1e-10
            )


def test_window_purchases_are_the_products_bought_in_the_window() -> None:
    lines, _ = online_retail()
    start, end = dt.datetime(2011, 11, 1), dt.datetime(2011, 12, 1)
    got = window_purchases(resolve_inputs(backend(lines)), start, end, non_product_codes=CODES).to_pandas()
    window = lines[(lines["ordered_at"] >= start) & (lines["ordered_at"] < end)]
    bought = window[(window["quantity"] > 0) & ~window["is_return"] & ~window["is_non_product"]]
    expected = bought[["customer_id", "product_id"]].drop_duplicates().sort_values(["customer_id", "product_id"])
    assert got.to_numpy().tolist() == expected.to_numpy().tolist()


def test_run_recommendations_equal_the_hybrid_fitted_on_the_lines(synthetic_demo) -> None:
    """The stage aggregates in the engine; the lists equal a fit on every line (the former path)."""
    from targetwise.io.modeldata import open_model_data
    from targetwise.runconfig import RecommendationsConfig
    from targetwise.usecases.recommendations import fit_recommendations

    as_of = "2023-10-01"
    with open_model_data(synthetic_demo) as data:
        lines = data.transactions(before=as_of)
        products = data.products()
        customers = sorted(lines["customer_id"].unique().tolist())
        result = fit_recommendations(data, customers, as_of=as_of, config=RecommendationsConfig(), random_state=3)
    reference = HybridRecommender(random_state=3).fit(lines, products=products)
    expected = reference.recommend(customers, n=10, exclude_purchased=False)
    assert result.weights == reference.weights_
    got = result.recommendations[["customer_id", "rank", "product_id"]].reset_index(drop=True)
    assert got.equals(expected[["customer_id", "rank", "product_id"]].reset_index(drop=True))
    np.testing.assert_allclose(result.recommendations["score"], expected["score"], rtol=1e-3)
    repeat = result.recommendations["reason"].str.startswith("bought")
    assert repeat.any() and (~repeat).any()


def test_stage_in_customer_partitions_gives_the_same_recommendations(synthetic_demo, monkeypatch) -> None:
    """Past DUCKDB_LINES_PER_PARTITION lines the pairs are aggregated partition by partition: same outputs."""
    import targetwise.io.modeldata as modeldata
    from targetwise.io.modeldata import open_model_data
    from targetwise.runconfig import RecommendationsConfig
    from targetwise.usecases.recommendations import fit_recommendations

    as_of, config = "2023-10-01", RecommendationsConfig()

    def fit() -> tuple:
        with open_model_data(synthetic_demo) as data:
            customers = sorted(data.transactions(before=as_of)["customer_id"].unique().tolist())
            parts = data.partitions_for(data.lines_before(as_of))
            return parts, fit_recommendations(data, customers, as_of=as_of, config=config, random_state=3)

    one, whole = fit()
    monkeypatch.setattr(modeldata, "DUCKDB_LINES_PER_PARTITION", 2_000)
    several, parted = fit()
    assert one == 1 and several > 3
    assert parted.weights == whole.weights
    pd.testing.assert_frame_equal(parted.recommendations, whole.recommendations, check_exact=True)
    pd.testing.assert_frame_equal(parted.similar, whole.similar, check_exact=True)
    pd.testing.assert_frame_equal(parted.popular, whole.popular, check_exact=True)


def test_validation_customers_are_a_seeded_sample_past_the_cap() -> None:
    lines, _ = online_retail()
    small = HybridRecommender(random_state=0, max_validation_customers=10).fit(lines)
    used, total = small.validation_customers_
    assert used == 10 and total > 10
    again = HybridRecommender(random_state=0, max_validation_customers=10).fit(lines)
    assert again.weights_ == small.weights_ and again.validation_scores_ == small.validation_scores_
    full = HybridRecommender(random_state=0).fit(lines)
    assert full.validation_customers_ == (total, total)


def test_threads_change_no_factor_weight_or_score() -> None:
    """The run fits the hybrid with every core; ALS and the neighbours must give bit-identical results."""
    lines, _ = online_retail()
    one = HybridRecommender(random_state=0, num_threads=1).fit(lines)
    two = HybridRecommender(random_state=0, num_threads=2).fit(lines)
    assert one.weights_ == two.weights_ and one.validation_scores_ == two.validation_scores_
    customers = sorted(lines["customer_id"].astype(str).unique())[:200]
    left = one.recommend(customers, n=10, exclude_purchased=False)
    right = two.recommend(customers, n=10, exclude_purchased=False)
    assert left[["customer_id", "rank", "product_id"]].equals(right[["customer_id", "rank", "product_id"]])
    assert left["score"].tolist() == right["score"].tolist()
    als_one, als_two = one.components_["als"].model_, two.components_["als"].model_
    assert np.array_equal(als_one.user_factors, als_two.user_factors)


def _dense_ascent(parts, allowed, is_relevant, tie_rank, *, k, grid):
    """The weight search on full rows (every product), as it was before the compaction."""
    tie_break = -1e-9 * tie_rank / (len(tie_rank) + 1.0)
    kk = min(k, allowed.shape[1])
    relevant_allowed = is_relevant & allowed

    def precision(weights):
        blended = sum(weights[name] * part for name, part in parts.items()) + tie_break
        blended = np.where(allowed, blended, -np.inf)
        top = np.argpartition(-blended, kk - 1, axis=1)[:, :kk]
        return float(np.mean(np.take_along_axis(relevant_allowed, top, axis=1).sum(axis=1) / k))

    current = {name: 1.0 for name in parts}
    best = precision(current)
    for _ in range(2):
        for name in parts:
            for value in grid:
                trial = {**current, name: float(value)}
                if any(trial.values()) and (score := precision(trial)) > best + 1e-12:
                    best, current = score, trial
    return current, best


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_weight_search_on_candidate_columns_equals_the_search_on_every_product(seed) -> None:
    from targetwise.recommend.hybrid import _coordinate_ascent

    rng = np.random.default_rng(seed)
    n_rows, n_products, n_candidates = 400, 900, 25
    allowed = rng.random((n_rows, n_products)) < 0.9
    allowed[:5] = False
    allowed[:5, :3] = True  # rows with fewer allowed products than k
    parts = {}
    for name in ("buy_again", "item_item", "als", "trending"):
        part = np.zeros((n_rows, n_products))
        for r in range(n_rows):
            top = rng.choice(n_products, size=rng.integers(0, n_candidates), replace=False)
            part[r, top] = 1.0 / (10.0 + np.arange(len(top)))
        parts[name] = np.where(allowed, part, 0.0)
    popularity = rng.permutation(n_products)  # the relevant items lean popular, as in real data
    is_relevant = rng.random((n_rows, n_products)) < 0.02 + 0.1 * (popularity < 50)
    grid = (0.0, 0.25, 0.5, 1.0, 2.0)
    expected = _dense_ascent(parts, allowed, is_relevant, popularity, k=10, grid=grid)
    got = _coordinate_ascent(parts, allowed, is_relevant, popularity, k=10, grid=grid)
    assert got == expected
    assert expected[1] > 0 and expected[0] != {name: 1.0 for name in parts}  # the search moved and found hits


def test_pairs_in_customer_partitions_are_the_pairs_and_give_the_same_matrix() -> None:
    from targetwise.features.interactions import customer_partition
    from targetwise.io.engines import fetch_frames

    lines, _ = online_retail()
    before = dt.datetime(2011, 10, 1)
    inputs = resolve_inputs(backend(lines))
    whole, counts, until = _aggregate(lines, before)
    kwargs = dict(observed_until=until.to_pydatetime(), half_lives=(30.0, 14.0), non_product_codes=CODES)
    parts = [interaction_pairs(inputs, before, partition=(i, 3), **kwargs) for i in range(3)]
    sizes = [p.count().to_pyarrow().as_py() for p in parts]
    assert sum(sizes) == len(whole) and min(sizes) > 0.2 * len(whole)  # every pair once, spread over the parts
    customers = [set(p.to_pandas()["customer_id"]) for p in parts]
    assert not (customers[0] & customers[1] or customers[0] & customers[2] or customers[1] & customers[2])
    ids = inputs.transactions.select(c=customer_partition(inputs.transactions.customer_id, 3)).c.to_pandas()
    assert set(ids.unique()) == {0, 1, 2}
    fetched = fetch_frames([p.drop("last_at") for p in parts], categories=("customer_id", "product_id"))
    key = ["customer_id", "product_id"]
    got = fetched.astype({"customer_id": str, "product_id": str}).sort_values(key, ignore_index=True)
    pd.testing.assert_frame_equal(got, whole.drop(columns="last_at").sort_values(key, ignore_index=True))
    left = interactions_from_pairs(whole, observed_until=until, n_non_product_lines=int(counts["non_product_lines"]))
    right = interactions_from_pairs(fetched, observed_until=until, n_non_product_lines=int(counts["non_product_lines"]))
    assert left.customer_ids.tolist() == right.customer_ids.tolist()
    assert (left.matrix != right.matrix).nnz == 0
    assert (left.recency_matrix(30.0) != right.recency_matrix(30.0)).nnz == 0
    with pytest.raises(ValueError, match="partition 3 of 3"):
        interaction_pairs(inputs, before, partition=(3, 3), **kwargs)


def test_duckdb_aggregates_are_partitioned_by_lines_and_spark_is_not() -> None:
    from targetwise.io.modeldata import DUCKDB_LINES_PER_PARTITION, ModelData

    duck = ModelData(con=None, objectors=frozenset(), tables=frozenset())  # type: ignore[arg-type]
    assert duck.partitions_for(0) == 1 and duck.partitions_for(DUCKDB_LINES_PER_PARTITION) == 1
    assert duck.partitions_for(DUCKDB_LINES_PER_PARTITION + 1) == 2
    assert duck.partitions_for(20 * DUCKDB_LINES_PER_PARTITION) == 20
    spark = ModelData(con=None, objectors=frozenset(), tables=frozenset(), engine="spark")  # type: ignore[arg-type]
    assert spark.partitions_for(100 * DUCKDB_LINES_PER_PARTITION) == 1


def test_the_engine_spills_beside_the_workspace_file_not_into_the_current_folder(synthetic_demo) -> None:
    from targetwise.io.modeldata import open_model_data

    with open_model_data(synthetic_demo) as data:
        spill = data.con.execute("SELECT current_setting('temp_directory')").fetchone()[0]
    assert spill == str(synthetic_demo.db_path) + ".tmp"


def test_release_memory_evicts_and_restores_the_exact_limit(synthetic_demo) -> None:
    from targetwise.io.modeldata import open_model_data

    with open_model_data(synthetic_demo) as data:
        sql = "SELECT customer_id, count(*) AS n, sum(quantity) AS q FROM transactions GROUP BY 1 ORDER BY 1"
        before = data.con.execute(sql).fetchall()
        # memory DuckDB holds and may evict (spill): an in-memory table of about 100 MB
        data.con.execute("CREATE TEMP TABLE held AS SELECT i, md5(i::VARCHAR) AS s FROM range(1500000) r(i)")
        held = data.con.execute("SELECT sum(memory_usage_bytes) FROM duckdb_memory()").fetchone()[0]
        assert held > 64 * 2**20
        limit = data.con.execute("SELECT current_setting('memory_limit')").fetchone()[0]
        for _ in range(3):  # no drift: the limit is set again from the workspace's setting, not read back
            data.release_memory()
            assert data.con.execute("SELECT current_setting('memory_limit')").fetchone()[0] == limit
        cached = data.con.execute("SELECT sum(memory_usage_bytes) FROM duckdb_memory()").fetchone()[0]
        assert cached <= 32 * 2**20  # what the moment at 32MB left
        assert data.con.execute(sql).fetchall() == before
        assert data.con.execute("SELECT count(*), sum(i) FROM held").fetchone() == (1_500_000, 1_500_000 * 1_499_999 // 2)


def test_reasons_name_repeat_purchases_and_keep_popular_ones() -> None:
    from targetwise.usecases.recommendations import _explain

    pairs = pd.DataFrame({
        "customer_id": pd.Categorical(["a", "a", "b"]), "product_id": pd.Categorical(["X", "Y", "X"]),
        "n_orders": [1, 12, 0],  # b-X: netted out, never a purchase order
    })
    recs = pd.DataFrame({
        "customer_id": ["a", "a", "a", "b", "c"], "rank": [1, 2, 3, 1, 1], "product_id": ["X", "Y", "Z", "X", "X"],
        "score": [0.5, 0.4, 0.3, 0.2, 0.1],
        "reason": ["als", "popular right now", "popular right now", "als", "popular right now"],
    })
    got = _explain(recs, pairs)
    assert got["reason"].tolist() == [
        "bought once before", "bought 12 times before", "popular right now",
        "new for this customer: bought by customers with similar baskets", "popular right now",
    ]
    assert recs["reason"].iloc[0] == "als"  # the input is not changed
    assert _explain(recs.iloc[:0], pairs)["reason"].tolist() == []


def test_matrices_have_the_csr_layout_scipy_builds_from_the_same_pairs() -> None:
    import scipy.sparse as sp

    rng = np.random.default_rng(4)
    cells = rng.choice(400 * 50, 3000, replace=False)
    pairs = pd.DataFrame({
        "customer_id": pd.Categorical([f"c{c // 50:03d}" for c in cells]),
        "product_id": pd.Categorical([f"p{c % 50:02d}" for c in cells]),
        "net_quantity": rng.integers(-1, 5, len(cells)), "n_lines": 1, "n_orders": rng.integers(0, 4, len(cells)),
        "last_at": pd.NaT, decay_column(30): np.where(rng.random(len(cells)) < 0.1, 0.0, rng.random(len(cells))),
    })
    until = pd.Timestamp("2024-01-01")
    got = interactions_from_pairs(pairs, observed_until=until, non_product_codes=())
    kept = pairs[pairs["net_quantity"] > 0]
    rows = pd.Index(got.customer_ids).get_indexer(kept["customer_id"].astype(str))
    cols = pd.Index(got.product_ids).get_indexer(kept["product_id"].astype(str))
    for matrix, values in ((got.matrix, kept["n_orders"]), (got.recency_matrix(30.0), kept[decay_column(30)])):
        expected = sp.csr_matrix((values.to_numpy().astype(np.float32), (rows, cols)), shape=matrix.shape)
        expected.sum_duplicates()
        expected.sort_indices()
        assert np.array_equal(matrix.indptr, expected.indptr) and np.array_equal(matrix.indices, expected.indices)
        assert np.array_equal(matrix.data, expected.data) and matrix.has_sorted_indices
    assert got.matrix.nnz == len(kept) and (got.matrix.data == 0).any()  # explicit zeros kept, as scipy keeps them
