"""Shared plumbing of the uplift learners: input checks, feature encoding, default model.

Kept private: users meet it through the learners in :mod:`.learners`.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray
from sklearn.base import BaseEstimator, clone

from targetwise._fitted import check_fitted
from targetwise.errors import DataValidationError, ModelError

# LightGBM defaults for a small uplift signal (Hillstrom's ATE is +4.5 pp on a
# 10-15 % base rate), tuned over Hillstrom's 10 stratified 70/30 splits
# (benchmarks/results/uplift.md). Two regimes:
#
# * DEFAULT_LGBM_PARAMS (S-learner, response model): shallow trees, large leaves,
#   L2 shrinkage and every column in every tree, since sampling columns drops the
#   S-learner's treatment indicator from whole trees.
# * SMOOTH_LGBM_PARAMS (T-, X-learner, class transformation): these learners turn
#   a difference of noisy fits (T, X) or a noisy transformed label (class
#   transformation) into uplift, so they need much smoother fits: depth-2 trees,
#   >= 1,000 customers per leaf and a small total step (100 trees at 0.01). On
#   Hillstrom this moves the T-learner's Qini from 0.045 to 0.063 and class
#   transformation's from 0.030 to 0.067. The price: smooth fits rank well but
#   compress the spread of predicted uplift toward its mean (the mean itself
#   stays right), which matters when uplift magnitudes are priced against costs.
DEFAULT_LGBM_PARAMS: dict[str, Any] = {
    "n_estimators": 300,
    "learning_rate": 0.05,
    "num_leaves": 8,
    "max_depth": 3,
    "min_child_samples": 300,
    "reg_lambda": 10.0,
    "subsample": 0.8,
    "subsample_freq": 1,
    "colsample_bytree": 1.0,
    "verbose": -1,
}
# Same data, seed and thread count give the same trees (LightGBM's histogram construction
# otherwise picks row- or column-wise at run time, and its float sums depend on the choice).
REPRODUCIBLE_LGBM_PARAMS: dict[str, Any] = {"deterministic": True, "force_row_wise": True}
SMOOTH_LGBM_PARAMS: dict[str, Any] = {
    **DEFAULT_LGBM_PARAMS,
    "n_estimators": 100,
    "learning_rate": 0.01,
    "num_leaves": 4,
    "max_depth": 2,
    "min_child_samples": 1000,
}


def default_classifier(
    random_state: int | None, n_jobs: int, params: dict[str, Any] | None = None
) -> BaseEstimator:
    """The LightGBM classifier a learner uses unless ``estimator=`` is given."""
    from lightgbm import LGBMClassifier

    settings = {**REPRODUCIBLE_LGBM_PARAMS, **(params or DEFAULT_LGBM_PARAMS)}
    return LGBMClassifier(**settings, random_state=random_state, n_jobs=n_jobs)


def default_regressor(
    random_state: int | None, n_jobs: int, params: dict[str, Any] | None = None
) -> BaseEstimator:
    """The LightGBM regressor used for the X-learner's imputed effects."""
    from lightgbm import LGBMRegressor

    settings = {**REPRODUCIBLE_LGBM_PARAMS, **(params or DEFAULT_LGBM_PARAMS)}
    return LGBMRegressor(**settings, random_state=random_state, n_jobs=n_jobs)


def is_lightgbm(model: object) -> bool:
    """True for LightGBM's scikit-learn models, which take pandas categoricals natively."""
    try:
        from lightgbm import LGBMModel
    except ImportError:  # pragma: no cover - lightgbm is a dependency
        return False
    return isinstance(model, LGBMModel)


def seeded_clone(model: BaseEstimator, seed: int) -> BaseEstimator:
    """An unfitted copy of ``model`` with ``random_state`` set where it has one."""
    copy = clone(model)
    if "random_state" in copy.get_params(deep=False):
        copy.set_params(random_state=seed)
    return copy


def _is_categorical(series: pd.Series) -> bool:
    dtype = series.dtype
    return (
        isinstance(dtype, pd.CategoricalDtype)
        or pd.api.types.is_object_dtype(dtype)
        or pd.api.types.is_string_dtype(dtype)
    )


@dataclass
class FeatureEncoder:
    """Remembers the training columns and categories; encodes later frames the same way.

    Categorical columns (pandas ``category``, ``object`` or string dtype) become
    pandas categoricals with the training categories for LightGBM, or one-hot
    columns ``"<column>=<level>"`` for any other estimator. A level unseen in
    training becomes missing (LightGBM) or all-zero (one-hot) and is reported
    with a warning giving the count.
    """

    columns: list[str] = field(default_factory=list)
    categories: dict[str, list[Any]] = field(default_factory=dict)

    @classmethod
    def fit(cls, frame: pd.DataFrame) -> FeatureEncoder:
        categories: dict[str, list[Any]] = {}
        for column in frame.columns:
            if _is_categorical(frame[column]):
                levels = pd.unique(frame[column].dropna())
                categories[str(column)] = sorted(levels.tolist(), key=str)
            elif not pd.api.types.is_numeric_dtype(frame[column].dtype):
                raise DataValidationError(
                    f"feature column {column!r} has unsupported dtype {frame[column].dtype}",
                    fix="pass numeric, boolean or categorical/string columns",
                )
        return cls(columns=[str(c) for c in frame.columns], categories=categories)

    def check(self, frame: pd.DataFrame) -> None:
        missing = [c for c in self.columns if c not in frame.columns]
        if missing:
            raise DataValidationError(
                f"X lacks feature column(s) {missing} seen in fit",
                fix="pass the same columns as in fit",
            )

    def transform(self, frame: pd.DataFrame, *, native_categorical: bool) -> pd.DataFrame:
        self.check(frame)
        out: dict[str, Any] = {}
        for column in self.columns:
            values = frame[column]
            if column not in self.categories:
                out[column] = values.to_numpy(dtype=np.float64, na_value=np.nan)
                continue
            levels = self.categories[column]
            codes = pd.Index(levels, dtype=object).get_indexer(values.astype(object))
            unseen = int((codes == -1).sum() - values.isna().sum())
            if unseen:
                warnings.warn(
                    f"{unseen} value(s) of {column!r} were not seen in fit; "
                    "they are treated as missing (no category)",
                    UserWarning,
                    stacklevel=4,
                )
            if native_categorical:
                out[column] = pd.Categorical.from_codes(codes, categories=levels)
            else:
                for index, level in enumerate(levels):
                    out[f"{column}={level}"] = (codes == index).astype(np.float64)
        return pd.DataFrame(out, index=frame.index)


def as_frame(X: ArrayLike | pd.DataFrame) -> pd.DataFrame:
    """X as a DataFrame (arrays get columns ``x0, x1, ...``); rejects empty input."""
    if isinstance(X, pd.DataFrame):
        frame = X
    else:
        arr = np.asarray(X)
        if arr.ndim != 2:
            raise DataValidationError(
                f"X must be 2-D (customers x features), got shape {arr.shape}",
                fix="pass a DataFrame or a 2-D array",
            )
        frame = pd.DataFrame(arr, columns=[f"x{i}" for i in range(arr.shape[1])])
    if len(frame) == 0 or frame.shape[1] == 0:
        raise DataValidationError(
            f"X is empty ({frame.shape[0]} rows, {frame.shape[1]} columns)",
            fix="pass at least one customer and one feature",
        )
    return frame


def binary_outcome(y: ArrayLike, n_rows: int) -> NDArray[np.int64]:
    arr = np.asarray(y)
    if arr.ndim != 1 or len(arr) != n_rows:
        raise DataValidationError(
            f"y must be 1-D with {n_rows} values (one per row of X), got shape {arr.shape}",
            fix="pass one 0/1 outcome per customer",
        )
    if arr.dtype.kind not in "biuf" or not np.isin(arr, (0, 1)).all():
        raise DataValidationError(
            "y must be a binary 0/1 outcome (e.g. visited, converted)",
            fix="encode the outcome as 0/1",
        )
    return arr.astype(np.int64)


def treatment_labels(treatment: ArrayLike, n_rows: int, control: Any) -> tuple[NDArray[Any], list[Any]]:
    """Validate treatment labels; return them and the sorted non-control arms."""
    arr = np.asarray(treatment, dtype=object)
    if arr.ndim != 1 or len(arr) != n_rows:
        raise DataValidationError(
            f"treatment must be 1-D with {n_rows} labels (one per row of X), got shape {arr.shape}",
            fix="pass one arm label per customer",
        )
    missing = pd.isna(arr)
    if missing.any():
        raise DataValidationError(
            f"treatment has {int(missing.sum())} missing label(s)", fix="drop or label those rows"
        )
    labels = pd.unique(arr)
    if control not in set(labels.tolist()):
        raise DataValidationError(
            f"control label {control!r} does not occur in treatment (labels: {sorted(map(str, labels))})",
            fix="pass control=<the label of the untreated group>",
        )
    arms = sorted((label for label in labels if label != control), key=str)
    if not arms:
        raise DataValidationError(
            "treatment holds only the control label; uplift needs at least one treated arm",
            fix="include treated customers",
        )
    return arr, arms


def check_groups(y: NDArray[np.int64], mask: NDArray[np.bool_], name: str, minimum: int = 2) -> None:
    """A group needs rows and both outcomes for a classifier to fit."""
    n = int(mask.sum())
    if n < minimum or y[mask].min() == y[mask].max():
        raise ModelError(
            f"group {name!r} has {n} row(s) and outcomes {sorted(set(y[mask].tolist()))}; "
            "a classifier needs both 0 and 1",
            fix="collect more data for that arm or drop it",
        )


def require_fitted(model: BaseEstimator, attribute: str = "arms_") -> None:
    """NotFittedError unless ``model`` has ``attribute`` (:func:`targetwise._fitted.check_fitted`)."""
    name = type(model).__name__
    check_fitted(
        model, attribute, message=f"{name} is not fitted yet", fix=f"call {name}.fit(X, treatment, y) first"
    )


def positive_proba(model: BaseEstimator, features: pd.DataFrame) -> NDArray[np.float64]:
    """P(class 1) from a fitted classifier."""
    proba = np.asarray(model.predict_proba(features))
    classes = list(getattr(model, "classes_", [0, 1]))
    return proba[:, classes.index(1)].astype(np.float64)
