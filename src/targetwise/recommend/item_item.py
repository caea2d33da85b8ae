"""Item-item collaborative filtering on implicit's nearest-neighbour models.

``similarity="bm25"`` uses :class:`implicit.nearest_neighbours.BM25Recommender`
(BM25-weighted item vectors, ``K1``/``B``), ``"cosine"`` uses
:class:`~implicit.nearest_neighbours.CosineRecommender`; both keep the ``K``
nearest neighbours per item. A customer's score is ``x_customer @ S`` (what
implicit's ``recommend`` computes); with ``recency_half_life_days`` the
customer vector ``x`` is recency-decayed, so recent baskets drive the list.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable

import numpy as np
import pandas as pd

from targetwise.errors import ConfigError
from targetwise.recommend.base import BaseRecommender
from targetwise.recommend.interactions import InteractionMatrix
from targetwise.schema import DEFAULT_NON_PRODUCT_CODES

__all__ = ["ItemItemRecommender"]


class ItemItemRecommender(BaseRecommender):
    """Recommend products bought together with the customer's products."""

    reason = "bought together with your products"

    def __init__(
        self,
        *,
        similarity: str = "bm25",
        K: int = 100,
        K1: float = 1.2,
        B: float = 0.75,
        recency_half_life_days: float | None = None,
        num_threads: int = 1,
        value: str = "invoices",
        non_product_codes: Iterable[str] = DEFAULT_NON_PRODUCT_CODES,
        max_per_category: int | None = None,
    ) -> None:
        self.similarity = similarity
        self.K = K
        self.K1 = K1
        self.B = B
        self.recency_half_life_days = recency_half_life_days
        self.num_threads = num_threads
        self.value = value
        self.non_product_codes = non_product_codes
        self.max_per_category = max_per_category

    def _fit_model(self, matrix: InteractionMatrix, *, products: pd.DataFrame | None) -> None:
        from implicit.nearest_neighbours import BM25Recommender, CosineRecommender

        if self.similarity == "bm25":
            model = BM25Recommender(K=self.K, K1=self.K1, B=self.B, num_threads=self.num_threads)
        elif self.similarity == "cosine":
            model = CosineRecommender(K=self.K, num_threads=self.num_threads)
        else:
            raise ConfigError(
                f"similarity must be 'bm25' or 'cosine', got {self.similarity!r}",
                fix="use similarity='bm25' (default) or 'cosine'",
            )
        with warnings.catch_warnings():
            # implicit's BM25/cosine fit converts its own internal COO product to CSR and warns
            # about it; our input is already CSR, so the notice is not actionable here.
            warnings.filterwarnings("ignore", message="Method expects CSR input")
            model.fit(matrix.matrix, show_progress=False)
        self.model_ = model
        self.similarity_ = model.similarity.tocsr()
        self.profile_ = (
            matrix.matrix
            if self.recency_half_life_days is None
            else matrix.recency_matrix(self.recency_half_life_days)
        )

    def _score(self, rows: np.ndarray, *, exclude_purchased: bool) -> np.ndarray:
        return (self.profile_[rows] @ self.similarity_).toarray().astype(np.float64)

    def _similar(self, item: int) -> np.ndarray:
        return self.similarity_[item].toarray().ravel().astype(np.float64)
