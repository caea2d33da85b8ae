"""Matrix factorisation by implicit's Alternating Least Squares (CPU).

Wraps :class:`implicit.cpu.als.AlternatingLeastSquares` (Hu, Koren & Volinsky
2008): confidence ``c = 1 + alpha * w`` where ``w`` is the weighted interaction
(``weighting="none"``: the raw value; ``"log"``: ``log(1 + x)``, i.e. confidence
``1 + alpha * log(1 + x)``; ``"bm25"``: BM25 weights). Scores are
``user_factors @ item_factors.T``; similar products are implicit's
``similar_items`` (cosine of item factors). Seeded by ``random_state``.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from targetwise.errors import ConfigError
from targetwise.recommend.base import BaseRecommender
from targetwise.recommend.interactions import InteractionMatrix, bm25_weight
from targetwise.schema import DEFAULT_NON_PRODUCT_CODES

__all__ = ["ALSRecommender"]


class ALSRecommender(BaseRecommender):
    """Recommend from latent factors learned by implicit's ALS."""

    reason = "customers like you bought this"

    def __init__(
        self,
        *,
        factors: int = 64,
        iterations: int = 15,
        regularization: float = 0.01,
        alpha: float = 1.0,
        weighting: str = "none",
        random_state: int | None = 0,
        num_threads: int = 1,
        value: str = "invoices",
        non_product_codes: Iterable[str] = DEFAULT_NON_PRODUCT_CODES,
        max_per_category: int | None = None,
    ) -> None:
        self.factors = factors
        self.iterations = iterations
        self.regularization = regularization
        self.alpha = alpha
        self.weighting = weighting
        self.random_state = random_state
        self.num_threads = num_threads
        self.value = value
        self.non_product_codes = non_product_codes
        self.max_per_category = max_per_category

    def _weighted(self, matrix: InteractionMatrix):
        if self.weighting == "none":
            return matrix.matrix
        if self.weighting == "log":
            weighted = matrix.matrix.copy()
            weighted.data = np.log1p(weighted.data).astype(np.float32)
            return weighted
        if self.weighting == "bm25":
            return bm25_weight(matrix.matrix)
        raise ConfigError(
            f"weighting must be 'none', 'log' or 'bm25', got {self.weighting!r}",
            fix="use weighting='none' (default)",
        )

    def _fit_model(self, matrix: InteractionMatrix, *, products: pd.DataFrame | None) -> None:
        from implicit.cpu.als import AlternatingLeastSquares

        # implicit's ALS is slow when BLAS also multithreads (implicit warns about it at construction).
        with threadpool_limits(limits=1, user_api="blas"):
            model = AlternatingLeastSquares(
                factors=self.factors,
                iterations=self.iterations,
                regularization=self.regularization,
                alpha=self.alpha,
                random_state=self.random_state,
                num_threads=self.num_threads,
            )
            model.fit(self._weighted(matrix), show_progress=False)
        self.model_ = model

    def _score(self, rows: np.ndarray, *, exclude_purchased: bool) -> np.ndarray:
        return (self.model_.user_factors[rows] @ self.model_.item_factors.T).astype(np.float64)

    def _similar(self, item: int) -> np.ndarray:
        ids, scores = self.model_.similar_items(item, N=self.n_products_)
        out = np.full(self.n_products_, -np.inf)
        out[ids] = scores
        return out
