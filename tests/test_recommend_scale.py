"""The recommenders at a wide catalogue: customers are scored in row batches sized by the catalogue's
width (so the hybrid's weight search does not hold validation customers x products dense arrays), and
the batches give exactly the weights, validation precision and lists of one batch."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from targetwise.recommend import HybridRecommender
from targetwise.recommend import base as base_module
from targetwise.recommend.base import batch_rows
from targetwise.recommend.rules import select_top_n


def test_batch_rows_keeps_one_dense_array_near_16m_cells() -> None:
    assert batch_rows(4_000) == 1024  # Online Retail's catalogue: the old batch
    assert batch_rows(65_000) == 258  # Complete Journey: 16,777,216 // 65,000
    assert batch_rows(20_000_000) == 1  # never zero rows
    assert batch_rows(0) == 1024


@pytest.fixture(scope="module")
def shop() -> pd.DataFrame:
    """60 customers, 400 products in 8 taste groups, purchases over 90 days (the last 28 validate)."""
    rng = np.random.default_rng(7)
    rows = []
    for c in range(60):
        group = c % 8
        for order in range(int(rng.integers(3, 9))):
            day = int(rng.integers(0, 90))
            for p in rng.choice(50, size=int(rng.integers(1, 5)), replace=False):
                product = group * 50 + int(p) if rng.random() < 0.8 else int(rng.integers(0, 400))
                rows.append((f"c{c}", f"o{c}-{order}", day, f"p{product:03d}", 1))
    frame = pd.DataFrame(rows, columns=["customer_id", "order_id", "day", "product_id", "quantity"])
    frame["ordered_at"] = pd.Timestamp("2024-01-01") + pd.to_timedelta(frame.pop("day"), unit="D")
    frame["unit_price"] = 1.0
    return frame


def test_weight_search_and_lists_in_row_batches_equal_one_batch(shop: pd.DataFrame, monkeypatch) -> None:
    customers = sorted(shop["customer_id"].unique())
    whole = HybridRecommender(random_state=0).fit(shop)
    assert batch_rows(whole.n_products_) >= len(customers)  # one batch by default here
    monkeypatch.setattr(base_module, "_BATCH_CELLS", 7 * whole.n_products_)  # 7 customers per batch
    assert batch_rows(whole.n_products_) == 7
    batched = HybridRecommender(random_state=0).fit(shop)
    assert batched.weights_ == whole.weights_
    assert batched.validation_scores_ == whole.validation_scores_
    assert whole.validation_scores_["all"] > 0  # the search found validation purchases
    for exclude in (True, False):
        a = whole.recommend(customers, n=10, exclude_purchased=exclude)
        b = batched.recommend(customers, n=10, exclude_purchased=exclude)
        pd.testing.assert_frame_equal(a, b)


def test_a_tie_over_a_wide_row_is_broken_by_the_tie_order() -> None:
    # a customer who bought 3 of 60,000 products: the other 59,997 tie at 0, the popularity order decides
    n_items = 60_000
    rng = np.random.default_rng(3)
    tie_rank = rng.permutation(n_items)
    row = np.zeros(n_items)
    row[[5, 17, 40_000]] = [3.0, 2.0, 1.0]
    row[rng.choice(n_items, size=1000, replace=False)] = -np.inf  # not allowed
    row[[5, 17, 40_000]] = [3.0, 2.0, 1.0]
    (top,) = select_top_n(row[None, :], 10, tie_rank=tie_rank)
    zeros = np.flatnonzero(row == 0)
    expected = [5, 17, 40_000, *zeros[np.argsort(tie_rank[zeros], kind="stable")[:7]].tolist()]
    assert top.tolist() == expected
