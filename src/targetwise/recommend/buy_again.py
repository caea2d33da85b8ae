"""Buy again: a customer's own most-bought products.

Score = the customer's interaction value for the product (distinct orders by
default, or recency-decayed orders with ``recency_half_life_days``). Ties, and
the products the customer never bought (score 0), are ordered by overall
popularity, so short histories are topped up with best-sellers. With
``exclude_purchased=True`` this therefore degenerates to popularity.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from targetwise.recommend.base import BaseRecommender
from targetwise.recommend.interactions import InteractionMatrix
from targetwise.schema import DEFAULT_NON_PRODUCT_CODES

__all__ = ["BuyAgainRecommender"]


class BuyAgainRecommender(BaseRecommender):
    """Recommend the products a customer already buys most often."""

    reason = "you bought this before"

    def __init__(
        self,
        *,
        recency_half_life_days: float | None = None,
        value: str = "invoices",
        non_product_codes: Iterable[str] = DEFAULT_NON_PRODUCT_CODES,
        max_per_category: int | None = None,
    ) -> None:
        self.recency_half_life_days = recency_half_life_days
        self.value = value
        self.non_product_codes = non_product_codes
        self.max_per_category = max_per_category

    def _fit_model(self, matrix: InteractionMatrix, *, products: pd.DataFrame | None) -> None:
        self.profile_ = (
            matrix.matrix
            if self.recency_half_life_days is None
            else matrix.recency_matrix(self.recency_half_life_days)
        )

    def _score(self, rows: np.ndarray, *, exclude_purchased: bool) -> np.ndarray:
        return self.profile_[rows].toarray().astype(np.float64)
