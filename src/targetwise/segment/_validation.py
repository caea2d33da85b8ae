"""Input checks shared by the segmentation estimators.

The customer feature table arrives as a pandas DataFrame with one row per
customer and ``customer_id`` either as a column or as the index. Everything
here validates once at the public edge so the compute code can stay lean.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from targetwise import _fitted
from targetwise.errors import DataValidationError, SchemaError

__all__ = ["SegmentationWarning", "check_fitted", "customer_frame", "numeric_matrix", "require_columns"]


class SegmentationWarning(UserWarning):
    """A documented fallback happened (fewer clusters, dropped constant feature, imputed NaN, ...)."""


def customer_frame(features: pd.DataFrame) -> pd.DataFrame:
    """Return ``features`` indexed by ``customer_id`` (as strings), checking uniqueness.

    Accepts ``customer_id`` as a column or as the index name. The input is not modified.
    """
    if not isinstance(features, pd.DataFrame):
        raise DataValidationError(
            f"expected a pandas DataFrame of customer features, got {type(features).__name__}",
            fix="pass the customer feature table (one row per customer) as a DataFrame",
        )
    if "customer_id" in features.columns:
        frame = features.set_index("customer_id")
    elif features.index.name == "customer_id":
        frame = features
    else:
        raise SchemaError(
            "the customer feature table has no 'customer_id' column or index",
            fix="add a customer_id column or set it as the index (features.set_index('customer_id'))",
        )
    if frame.index.hasnans:
        raise DataValidationError(
            f"customer_id is missing on {int(frame.index.isna().sum())} row(s)",
            fix="drop rows without a customer id before segmenting",
        )
    # a new frame: the caller's table is never modified
    frame = frame.set_axis(pd.Index(frame.index.astype(str), name="customer_id"), axis=0)
    if not frame.index.is_unique:
        dup = frame.index[frame.index.duplicated()]
        raise DataValidationError(
            f"customer_id must be unique, found {dup.size} duplicate(s), e.g. {dup[0]!r}",
            fix="aggregate the table to one row per customer",
        )
    return frame


def require_columns(frame: pd.DataFrame, columns: Sequence[str], *, purpose: str) -> None:
    """Raise :class:`SchemaError` naming every missing column."""
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise SchemaError(
            f"{purpose} needs column(s) {missing}, which the feature table lacks "
            f"(it has {list(frame.columns)[:12]}{'...' if frame.shape[1] > 12 else ''})",
            fix="compute them with targetwise.features or pass the matching column names",
        )


def numeric_matrix(frame: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    """The given columns as float64, raising on non-numeric and infinite values."""
    out = {}
    for col in columns:
        series = frame[col]
        if not (pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series)):
            raise DataValidationError(
                f"column {col!r} must be numeric, got dtype {series.dtype}",
                fix=f"convert {col!r} to numbers or leave it out of the feature list",
            )
        values = series.astype("float64").to_numpy(na_value=np.nan)
        n_inf = int(np.isinf(values).sum())
        if n_inf:
            raise DataValidationError(
                f"column {col!r} has {n_inf} infinite value(s)",
                fix=f"replace infinite values in {col!r} (e.g. a division by zero upstream)",
            )
        out[col] = values
    return pd.DataFrame(out, index=frame.index)


def check_fitted(estimator: object, attribute: str) -> None:
    """NotFittedError unless ``estimator`` has ``attribute`` (:func:`targetwise._fitted.check_fitted`)."""
    _fitted.check_fitted(estimator, attribute, fix="call fit(features) before using it")
