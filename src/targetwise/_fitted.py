"""One "is it fitted?" check for every estimator of targetwise.

The test is scikit-learn's :func:`~sklearn.utils.validation.check_is_fitted` (every named fitted
attribute exists); a failure is the project's :class:`~targetwise.errors.NotFittedError`, a
:class:`~targetwise.errors.TargetwiseError` (and an ``AttributeError``) with the fix, as the CLI
and the service report every error. Models outside scikit-learn's estimator API (the CLV models,
which follow lifetimes' API) get the same rule that check applies to named attributes.
"""

from __future__ import annotations

from collections.abc import Sequence

from sklearn.base import BaseEstimator
from sklearn.exceptions import NotFittedError as SklearnNotFittedError
from sklearn.utils.validation import check_is_fitted

from targetwise.errors import NotFittedError

__all__ = ["check_fitted"]


def check_fitted(
    estimator: object, attributes: str | Sequence[str], *, fix: str, message: str | None = None
) -> None:
    """Raise :class:`~targetwise.errors.NotFittedError` unless ``estimator`` has every attribute in
    ``attributes``; ``message`` defaults to "this <class name> is not fitted yet"."""
    if isinstance(estimator, BaseEstimator):
        try:
            check_is_fitted(estimator, attributes)
            return
        except SklearnNotFittedError:
            pass
    else:
        names = [attributes] if isinstance(attributes, str) else list(attributes)
        if all(hasattr(estimator, name) for name in names):
            return
    raise NotFittedError(message or f"this {type(estimator).__name__} is not fitted yet", fix=fix)
