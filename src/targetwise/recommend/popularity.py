"""Most-popular products, overall or within the customer's segment.

Popularity = number of distinct customers who bought the product, or with
``recency_half_life_days`` the decayed count ``sum 0.5 ** (age_days / half_life)``
over purchase orders ("trending"), which tracks seasonal demand.
With ``segments`` given at fit, known customers are scored by their segment's
popularity (ties broken by overall popularity).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from targetwise.recommend.base import BaseRecommender
from targetwise.recommend.interactions import InteractionMatrix
from targetwise.schema import DEFAULT_NON_PRODUCT_CODES

__all__ = ["PopularityRecommender"]


class PopularityRecommender(BaseRecommender):
    """Recommend what most customers bought (per segment when segments are given)."""

    reason = "popular"

    def __init__(
        self,
        *,
        by_segment: bool = True,
        recency_half_life_days: float | None = None,
        value: str = "invoices",
        non_product_codes: Iterable[str] = DEFAULT_NON_PRODUCT_CODES,
        max_per_category: int | None = None,
    ) -> None:
        self.by_segment = by_segment
        self.recency_half_life_days = recency_half_life_days
        self.value = value
        self.non_product_codes = non_product_codes
        self.max_per_category = max_per_category

    def _fit_model(self, matrix: InteractionMatrix, *, products: pd.DataFrame | None) -> None:
        if self.recency_half_life_days is None:
            self.item_scores_ = self.popularity_.copy()
        else:
            decayed = matrix.recency_matrix(self.recency_half_life_days)
            self.item_scores_ = np.asarray(decayed.sum(axis=0), dtype=np.float64).ravel()
        self.row_segment_ = np.full(matrix.shape[0], -1, dtype=np.int64)
        self.segment_labels_ = sorted(self.segment_popularity_) if self.by_segment else []
        for code, label in enumerate(self.segment_labels_):
            members = [
                matrix.customer_index[c]
                for c, s in self.segments_.items()
                if s == label and c in matrix.customer_index
            ]
            self.row_segment_[members] = code

    def _score(self, rows: np.ndarray, *, exclude_purchased: bool) -> np.ndarray:
        scores = np.tile(self.item_scores_, (len(rows), 1))
        for code, label in enumerate(self.segment_labels_):
            in_segment = self.row_segment_[rows] == code
            if in_segment.any():
                scores[in_segment] = self.segment_popularity_[label]
        return scores
