"""SpendRegressor: spend within N days, or days to the next order, per customer.

``model="lightgbm"`` (default) uses gradient-boosted trees with native
categoricals; ``objective="tweedie"`` suits spend, which is zero for most
customers and long-tailed for the rest. ``model="ridge"`` is the linear
baseline on the one-hot + standardised table.

Days to next order is right-censored (customers who have not ordered again
by the end of the data have no value yet). This estimator does not model
censoring itself: fit it on the capped target ``min(days_to_next, horizon_days)``,
which is known for every customer whose horizon the data covers (the restricted
mean, what ``predict_task(task="next_order")`` does), not on the observed gaps
alone, which leaves the slow buyers out and biases the estimate low.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.linear_model import Ridge

from targetwise._fitted import check_fitted
from targetwise.errors import ConfigError, DataValidationError
from targetwise.propensity._tabular import TabularEncoder, as_frame

__all__ = ["SpendRegressor"]


class SpendRegressor(RegressorMixin, BaseEstimator):
    """Regression on a feature table (scikit-learn contract); predictions in the target's unit.

    Parameters
    ----------
    model : "lightgbm" or "ridge".
    objective : LightGBM objective, "regression" (squared error), "tweedie"
        (non-negative, many zeros; predictions are >= 0) or "huber".
    n_estimators, learning_rate, num_leaves, min_child_samples : LightGBM parameters.
    alpha : ridge penalty.
    n_jobs : LightGBM threads (deterministic for a given thread count). random_state : seed.
    """

    def __init__(
        self,
        model: Literal["lightgbm", "ridge"] = "lightgbm",
        *,
        objective: Literal["regression", "tweedie", "huber"] = "regression",
        n_estimators: int = 300,
        learning_rate: float = 0.05,
        num_leaves: int = 31,
        min_child_samples: int = 20,
        alpha: float = 1.0,
        n_jobs: int = 1,
        random_state: int | None = None,
    ) -> None:
        self.model = model
        self.objective = objective
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.min_child_samples = min_child_samples
        self.alpha = alpha
        self.n_jobs = n_jobs
        self.random_state = random_state

    def fit(self, X: Any, y: Any) -> SpendRegressor:
        """Fit on feature table ``X`` and numeric target ``y`` (e.g. spend in the shop's currency)."""
        if self.model not in ("lightgbm", "ridge"):
            raise ConfigError(f"unknown model {self.model!r}", fix="use 'lightgbm' or 'ridge'")
        if self.objective not in ("regression", "tweedie", "huber"):
            raise ConfigError(
                f"unknown objective {self.objective!r}", fix="use 'regression', 'tweedie' or 'huber'"
            )
        frame = as_frame(X)
        target = np.asarray(y.to_numpy() if isinstance(y, pd.Series) else y, dtype=float).ravel()
        if target.size != len(frame):
            raise DataValidationError(f"X has {len(frame)} rows but y has {target.size}", fix="align X and y")
        if np.isnan(target).any() or np.isinf(target).any():
            raise DataValidationError(
                f"the target has {int((~np.isfinite(target)).sum())} missing or infinite value(s)",
                fix="drop rows without an observed target (e.g. censored days-to-next-order)",
            )
        if self.objective == "tweedie" and (target < 0).any():
            raise DataValidationError(
                f"the tweedie objective needs a non-negative target; {int((target < 0).sum())} value(s) are negative",
                fix="use objective='regression' for targets that can be negative (e.g. net of returns)",
            )
        self.encoder_ = TabularEncoder().fit(frame)
        self.feature_names_in_ = np.asarray(frame.columns, dtype=object)
        self.n_features_in_ = frame.shape[1]
        if self.model == "lightgbm":
            import lightgbm as lgb

            self.estimator_ = lgb.LGBMRegressor(
                objective=self.objective,
                n_estimators=self.n_estimators,
                learning_rate=self.learning_rate,
                num_leaves=self.num_leaves,
                min_child_samples=self.min_child_samples,
                num_threads=self.n_jobs,
                random_state=self.random_state,
                deterministic=True,
                force_row_wise=True,
                verbose=-1,
            ).fit(self.encoder_.to_lightgbm(frame), target)
        else:
            self.estimator_ = Ridge(alpha=self.alpha).fit(self.encoder_.to_linear(frame), target)
        return self

    def predict(self, X: Any) -> np.ndarray:
        """Predicted target per row, in the unit of ``y``."""
        check_fitted(self, "estimator_", fix="call fit(X, y) first")
        frame = as_frame(X, feature_names=list(self.feature_names_in_))
        if self.model == "lightgbm":
            return np.asarray(self.estimator_.predict(self.encoder_.to_lightgbm(frame)), dtype=float)
        return np.asarray(self.estimator_.predict(self.encoder_.to_linear(frame)), dtype=float)

    @property
    def feature_importances_(self) -> np.ndarray:
        """Importance per input column summing to 1 (LightGBM gain; ridge |coef| on the standardised scale)."""
        check_fitted(self, "estimator_", fix="call fit(X, y) first")
        names = list(self.feature_names_in_)
        if self.model == "lightgbm":
            values = pd.Series(
                self.estimator_.booster_.feature_importance(importance_type="gain"), index=names
            )
        else:
            values = (
                pd.Series(np.abs(self.estimator_.coef_), index=self.encoder_.linear_source_)
                .groupby(level=0)
                .sum()
                .reindex(names)
            )
        arr = values.fillna(0.0).to_numpy(dtype=float)
        return arr / arr.sum() if arr.sum() > 0 else arr
