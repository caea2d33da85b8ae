"""Business rules applied to every recommender's scores, and the top-n selection.

* Non-product codes (postage, fees) never enter the matrix (see
  :func:`~targetwise.models.recommend.interactions.build_interactions`) and are
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
    out: list[np.ndarray] = []
    for row in scores:
        finite = np.flatnonzero(np.isfinite(row))
        if finite.size == 0:
            out.append(np.empty(0, dtype=np.int64))
            continue
        if not capped and finite.size > n:
            # Candidates: everything scoring at least the n-th best (keeps all ties).
            kth = np.partition(row[finite], finite.size - n)[finite.size - n]
            candidates = finite[row[finite] >= kth]
        else:
            candidates = finite
        order = np.lexsort((tie_rank[candidates], -row[candidates]))
        ranked = candidates[order]
        if not capped:
            out.append(ranked[:n].astype(np.int64))
            continue
        taken: list[int] = []
        per_category: dict[int, int] = {}
        for j in ranked:
            cat = int(categories[j])  # type: ignore[index]
            if cat >= 0:
                if per_category.get(cat, 0) >= max_per_category:  # type: ignore[operator]
                    continue
                per_category[cat] = per_category.get(cat, 0) + 1
            taken.append(int(j))
            if len(taken) == n:
                break
        out.append(np.array(taken, dtype=np.int64))
    return out
