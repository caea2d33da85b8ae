"""Business rules applied to every recommender's scores, and the top-n selection.

* Non-product codes (postage, fees) never enter the matrix (see
  :func:`~targetwise.recommend.interactions.build_interactions`) and are
  masked again here in case a catalogue lists them.
* Inactive products (``products.active == False``) are never recommended.
* Already-bought items are excluded when ``exclude_purchased=True``.
* Diversity cap: at most ``max_per_category`` items of one category in a list
  (items without a category are not capped).

Ties in score are broken by overall popularity (customers who bought the item),
then by product id order, so every list is deterministic.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from targetwise.errors import DataValidationError

__all__ = ["excluded_product_mask", "product_categories", "select_top_n"]


def _check_products(products: pd.DataFrame) -> None:
    if not isinstance(products, pd.DataFrame) or "product_id" not in products.columns:
        raise DataValidationError(
            "products must be a DataFrame with a 'product_id' column",
            fix="pass the canonical products table (product_id, name, description, category, active)",
        )
    if products["product_id"].astype(str).duplicated().any():
        dup = products.loc[products["product_id"].astype(str).duplicated(), "product_id"].iloc[0]
        raise DataValidationError(
            f"products has duplicate product_id {dup!r}", fix="keep one row per product"
        )


def excluded_product_mask(
    product_ids: np.ndarray,
    products: pd.DataFrame | None,
    *,
    non_product_codes: Iterable[str],
) -> np.ndarray:
    """Boolean mask over ``product_ids``: True for items never to recommend (inactive or non-product)."""
    mask = np.isin(product_ids, np.array(list(non_product_codes), dtype=object))
    if products is not None and "active" in products.columns:
        _check_products(products)
        active = products["active"]
        inactive_ids = set(products.loc[active.notna() & ~active.astype(bool), "product_id"].astype(str))
        mask |= np.array([p in inactive_ids for p in product_ids], dtype=bool)
    return mask


def product_categories(product_ids: np.ndarray, products: pd.DataFrame | None) -> np.ndarray | None:
    """Integer category code per product (``-1`` = no category), or None without a category column."""
    if products is None or "category" not in products.columns:
        return None
    _check_products(products)
    lookup = dict(zip(products["product_id"].astype(str), products["category"], strict=True))
    labels = [lookup.get(p) for p in product_ids]
    names = sorted({str(c) for c in labels if c is not None and not pd.isna(c) and str(c) != ""})
    code = {c: i for i, c in enumerate(names)}
    return np.array(
        [code.get(str(c), -1) if c is not None and not pd.isna(c) else -1 for c in labels],
        dtype=np.int64,
    )


def select_top_n(
    scores: np.ndarray,
    n: int,
    *,
    tie_rank: np.ndarray,
    categories: np.ndarray | None = None,
    max_per_category: int | None = None,
) -> list[np.ndarray]:
    """Per row, the indices of the ``n`` best finite scores, honouring the diversity cap.

    ``scores`` is ``(n_rows, n_items)``; ``-inf`` marks an item that must not be
    recommended. ``tie_rank[j]`` is item ``j``'s position in the tie-break order
    (0 = most popular). Returns one index array per row, best first (shorter
    than ``n`` when fewer items are allowed).
    """
    capped = categories is not None and max_per_category is not None
    out: list[np.ndarray | None] = [None] * scores.shape[0]
    if not capped and 0 < n < scores.shape[1]:
        _top_n_without_ties(scores, n, tie_rank, out)
        if scores.shape[1] <= _SORT_ALL_MAX_ITEMS and len(np.unique(tie_rank)) == len(tie_rank):
            _top_n_sorted(scores, n, tie_rank, out)
    for r, row in enumerate(scores):
        if out[r] is None:
            out[r] = _top_n_row(row, n, tie_rank, categories if capped else None, max_per_category)
    return out  # type: ignore[return-value]


def _top_n_without_ties(scores: np.ndarray, n: int, tie_rank: np.ndarray, out: list) -> None:
    """Vectorised fast path for rows whose n-th best score is finite and not tied with the (n+1)-th."""
    negated = -scores
    kth = np.partition(negated, n - 1, axis=1)[:, n - 1]
    candidate = negated <= kth[:, None]
    simple = np.isfinite(kth) & (candidate.sum(axis=1) == n)
    if not simple.any():
        return
    rows = np.flatnonzero(simple)
    block = negated[rows]
    idx = np.nonzero(candidate[rows])[1].reshape(len(rows), n)  # exactly n candidates per row
    values = np.take_along_axis(block, idx, axis=1)
    order = np.lexsort((tie_rank[idx], values), axis=-1)
    top = np.take_along_axis(idx, order, axis=1).astype(np.int64)
    for position, r in enumerate(rows):
        out[r] = top[position]


#: catalogues up to this wide: the rows left by the fast path are sorted whole, all at once
_SORT_ALL_MAX_ITEMS = 4096


def _top_n_sorted(scores: np.ndarray, n: int, tie_rank: np.ndarray, out: list) -> None:
    """The rows :func:`_top_n_without_ties` left (ties at the n-th score, or fewer than n allowed):
    every item of those rows ordered by (score descending, tie rank) in one vectorised sort, the
    order :func:`_top_n_row` gives each row, cut at its n best finite scores."""
    rows = np.array([r for r, top in enumerate(out) if top is None], dtype=np.int64)
    if rows.size == 0:
        return
    block = scores[rows]
    finite = np.isfinite(block)
    key = np.where(finite, -block, np.inf)  # not allowed: after every allowed item
    ranks = np.broadcast_to(tie_rank, block.shape)
    order = np.lexsort((ranks, key), axis=-1)
    counts = np.minimum(finite.sum(axis=1), n)
    for position, r in enumerate(rows):
        out[r] = order[position, : counts[position]].astype(np.int64)


def _top_n_row(
    row: np.ndarray,
    n: int,
    tie_rank: np.ndarray,
    categories: np.ndarray | None,
    max_per_category: int | None,
) -> np.ndarray:
    finite = np.flatnonzero(np.isfinite(row))
    if finite.size == 0:
        return np.empty(0, dtype=np.int64)
    if categories is None and finite.size > n:
        # Candidates: everything above the n-th best score, then of the products tied with it the
        # ones first in the tie-break order (a partition, not a sort of every tie: a customer with
        # few purchases ties tens of thousands of products at 0)
        values = row[finite]
        kth = np.partition(values, finite.size - n)[finite.size - n]
        above, tied = finite[values > kth], finite[values == kth]
        need = n - above.size
        if tied.size > need:
            tied = tied[np.argpartition(tie_rank[tied], need - 1)[:need]]
        candidates = np.concatenate([above, tied])
    else:
        candidates = finite
    ranked = candidates[np.lexsort((tie_rank[candidates], -row[candidates]))]
    if categories is None:
        return ranked[:n].astype(np.int64)
    taken: list[int] = []
    per_category: dict[int, int] = {}
    for j in ranked:
        cat = int(categories[j])
        if cat >= 0:
            if per_category.get(cat, 0) >= max_per_category:  # type: ignore[operator]
                continue
            per_category[cat] = per_category.get(cat, 0) + 1
        taken.append(int(j))
        if len(taken) == n:
            break
    return np.array(taken, dtype=np.int64)
