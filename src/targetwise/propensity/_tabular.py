"""Input checks and column encoding shared by the propensity estimators.

Two encodings of one feature table:

* **LightGBM**: numeric columns pass through (NaN is LightGBM's "missing");
  text/category columns become a pandas ``category`` with the category list
  frozen at ``fit``, so a value unseen in training maps to missing instead
  of silently shifting the integer codes (counted per column in
  ``last_unseen_`` after each call).
* **Linear models and trees** (scikit-learn): numeric columns are
  median-imputed with a missing-indicator and standardised; text/category
  columns are one-hot encoded with missing as its own level and unseen
  levels ignored.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from pandas.api import types as ptypes

from targetwise.errors import DataValidationError, SchemaError

__all__ = ["TabularEncoder", "as_binary_target", "as_frame", "is_categorical"]

MISSING_LEVEL = "(missing)"
_POSITIVE_WORDS = frozenset({"1", "true", "yes", "y", "t"})


def is_categorical(series: pd.Series) -> bool:
    """True for text, object and pandas ``category`` columns (booleans count as numeric)."""
    dtype = series.dtype
    return bool(
        isinstance(dtype, pd.CategoricalDtype)
        or ptypes.is_string_dtype(dtype)
        or ptypes.is_object_dtype(dtype)
    )


def as_frame(X: Any, *, feature_names: Sequence[str] | None = None) -> pd.DataFrame:
    """Return ``X`` as a DataFrame with string column names (arrays get ``x0, x1, ...``)."""
    if isinstance(X, pd.DataFrame):
        frame = X
    elif isinstance(X, np.ndarray | list | tuple):
        arr = np.asarray(X)
        if arr.ndim != 2:
            raise DataValidationError(
                f"expected a 2-D feature table, got an array with {arr.ndim} dimension(s)",
                fix="pass a pandas DataFrame or a 2-D numpy array (rows = customers)",
            )
        names = list(feature_names) if feature_names is not None else [f"x{i}" for i in range(arr.shape[1])]
        frame = pd.DataFrame(arr, columns=names)
    else:
        raise DataValidationError(
            f"expected a pandas DataFrame or 2-D numpy array, got {type(X).__name__}",
            fix="convert the feature table with pandas.DataFrame(...)",
        )
    if frame.shape[0] == 0:
        raise DataValidationError("the feature table has no rows", fix="pass at least one row")
    if frame.columns.duplicated().any():
        dup = sorted({str(c) for c in frame.columns[frame.columns.duplicated()]})
        raise SchemaError(f"duplicate feature columns {dup}", fix="rename or drop the duplicated columns")
    return frame.rename(columns=str) if not all(isinstance(c, str) for c in frame.columns) else frame


def as_binary_target(y: Any, *, n_rows: int) -> np.ndarray:
    """Return ``y`` as an int 0/1 array; accepts bool, 0/1 numbers and yes/no-like two-level labels.

    Two-level labels that are not 0/1 or bool are mapped in sorted order
    (``["no", "yes"]`` -> 0, 1), which is the scikit-learn convention; a
    single text level is 1 only if it reads as yes/true/1.
    """
    values = np.asarray(y.to_numpy() if isinstance(y, pd.Series) else y)
    if values.ndim != 1:
        raise DataValidationError(
            f"expected a 1-D label, got shape {values.shape}", fix="pass y as a Series or 1-D array"
        )
    if values.shape[0] != n_rows:
        raise DataValidationError(
            f"X has {n_rows} rows but y has {values.shape[0]}", fix="align X and y row by row"
        )
    if pd.isna(pd.Series(values)).any():
        n_missing = int(pd.isna(pd.Series(values)).sum())
        raise DataValidationError(
            f"the label has {n_missing} missing value(s)",
            fix="drop rows without a known outcome before fitting",
        )
    if values.dtype == bool:
        return values.astype(np.int64)
    levels = pd.unique(pd.Series(values))
    if len(levels) > 2:
        raise DataValidationError(
            f"expected a binary label, got {len(levels)} distinct values (e.g. {list(levels[:5])})",
            fix="encode the outcome as 0/1 (1 = the event, e.g. purchased)",
        )
    if ptypes.is_numeric_dtype(values.dtype):
        if not set(np.unique(values).tolist()) <= {0, 1}:
            raise DataValidationError(
                f"numeric labels must be 0/1, got {sorted(np.unique(values).tolist())}",
                fix="encode the outcome as 0/1 (1 = the event)",
            )
        return values.astype(np.int64)
    ordered = sorted(str(v) for v in levels)
    if len(ordered) == 1:
        # one text level: it is the event only if it says so (e.g. every row 'yes' in a test fold)
        positive = ordered[0].strip().lower() in _POSITIVE_WORDS
        return np.full(n_rows, int(positive), dtype=np.int64)
    return (values.astype(str) == ordered[-1]).astype(np.int64)


class TabularEncoder:
    """Remembers the columns and category levels seen at fit; encodes later tables the same way.

    ``max_levels`` caps one-hot width: levels beyond the most frequent
    ``max_levels`` are treated like unseen levels (missing for LightGBM, all
    zeros in the one-hot block); how many were pooled is in ``pooled_levels_``.
    """

    def __init__(self, *, max_levels: int = 50) -> None:
        self.max_levels = max_levels

    def fit(self, X: pd.DataFrame) -> TabularEncoder:
        self.feature_names_: list[str] = [str(c) for c in X.columns]
        self.categorical_: list[str] = [c for c in X.columns if is_categorical(X[c])]
        self.numeric_: list[str] = [c for c in X.columns if c not in self.categorical_]
        for col in self.numeric_:
            if not (ptypes.is_numeric_dtype(X[col].dtype) or ptypes.is_bool_dtype(X[col].dtype)):
                raise SchemaError(
                    f"column {col!r} has dtype {X[col].dtype}, which is neither numeric nor text",
                    fix="convert dates to numbers (e.g. days since) and other objects to text or numbers",
                )
        self.levels_: dict[str, list[str]] = {}
        self.pooled_levels_: dict[str, int] = {}
        for col in self.categorical_:
            counts = X[col].astype("string").value_counts(dropna=True)
            keep = [str(v) for v in counts.index[: self.max_levels]]
            self.levels_[col] = sorted(keep)
            self.pooled_levels_[col] = int(max(0, len(counts) - self.max_levels))
        medians = X[self.numeric_].astype(float).median() if self.numeric_ else pd.Series(dtype=float)
        self.medians_: dict[str, float] = {c: float(0.0 if pd.isna(v) else v) for c, v in medians.items()}
        self.missing_numeric_: list[str] = [c for c in self.numeric_ if X[c].isna().any()]
        self._fit_linear_scale(X)
        return self

    def check_columns(self, X: pd.DataFrame) -> pd.DataFrame:
        """Select the fitted columns in order; raise if any is missing."""
        missing = [c for c in self.feature_names_ if c not in X.columns]
        if missing:
            raise SchemaError(
                f"the table lacks {len(missing)} feature column(s) seen at fit: {missing[:10]}",
                fix="pass the same feature columns used in fit",
            )
        return X[self.feature_names_]

    # -- LightGBM -----------------------------------------------------------
    def to_lightgbm(self, X: pd.DataFrame) -> pd.DataFrame:
        """Numeric columns as float, categorical columns as pandas category with the fitted levels."""
        X = self.check_columns(X)
        out: dict[str, pd.Series] = {}
        self.last_unseen_: dict[str, int] = {}
        for col in self.feature_names_:
            if col in self.levels_:
                text = X[col].astype("string")
                unseen = text.notna() & ~text.isin(self.levels_[col])
                if unseen.any():
                    self.last_unseen_[col] = int(unseen.sum())
                dtype = pd.CategoricalDtype(categories=self.levels_[col])
                out[col] = text.mask(unseen).astype(object).astype(dtype)
            else:
                out[col] = X[col].astype(float)
        return pd.DataFrame(out, index=X.index)

    # -- scikit-learn -------------------------------------------------------
    def _fit_linear_scale(self, X: pd.DataFrame) -> None:
        raw, sources = self._linear_raw(X)
        self.linear_names_: list[str] = list(raw.columns)
        mean = raw.mean(axis=0)
        std = raw.std(axis=0, ddof=0).replace(0.0, 1.0)
        self.linear_mean_ = mean.to_numpy()
        self.linear_std_ = std.to_numpy()
        # which original feature each encoded column came from (for explanations)
        self.linear_source_: list[str] = sources

    def _linear_raw(self, X: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
        parts: dict[str, np.ndarray] = {}
        sources: list[str] = []
        for col in self.numeric_:
            values = X[col].astype(float).to_numpy()
            isnan = np.isnan(values)
            parts[col] = np.where(isnan, self.medians_[col], values)
            sources.append(col)
            if col in self.missing_numeric_:
                parts[f"{col}__missing"] = isnan.astype(float)
                sources.append(col)
        for col in self.categorical_:
            text = X[col].astype("string").fillna(MISSING_LEVEL).to_numpy(dtype=object)
            for level in [*self.levels_[col], MISSING_LEVEL]:
                parts[f"{col}={level}"] = (text == level).astype(float)
                sources.append(col)
        return pd.DataFrame(parts, index=X.index), sources

    def to_linear(self, X: pd.DataFrame) -> np.ndarray:
        """Imputed, one-hot encoded and standardised matrix (columns = ``linear_names_``)."""
        raw = self._linear_raw(self.check_columns(X))[0].to_numpy()
        return (raw - self.linear_mean_) / self.linear_std_
