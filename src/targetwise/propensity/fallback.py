"""Fallback scorers for data too small for a learned propensity model.

The ladder (see :class:`PropensityClassifier`): the requested model ->
a regularised logistic regression -> one of these rules:

* :class:`RecencyRuleModel`: "the longer since the last order, the less
  likely the next one". Scores fall with recency; the probability of each
  recency band is its observed rate, shrunk towards the overall rate and
  forced to be non-increasing in recency (isotonic), so ten positives give a
  sensible, monotone answer instead of noise.
* :class:`ScoreColumnModel`: use a probability already in the table, e.g.
  BG/NBD P(alive) or P(purchase within N days) from the CLV models, as the
  score (optionally Platt-calibrated on the labels).

Both follow the scikit-learn contract and can also be compared with learned
models in :func:`compare_models` / :func:`backtest` as baselines.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression

from targetwise._fitted import check_fitted
from targetwise.errors import ConfigError, DataValidationError, SchemaError
from targetwise.propensity._tabular import as_binary_target, as_frame

__all__ = ["RecencyRuleModel", "ScoreColumnModel"]


def _numeric_column(frame: pd.DataFrame, col: str, owner: str) -> np.ndarray:
    if col not in frame.columns:
        raise SchemaError(
            f"{owner} needs column {col!r}, which is not in the table (columns: {list(frame.columns)[:10]})",
            fix=f"pass a table with {col!r} or set the column name parameter",
        )
    try:
        values = frame[col].to_numpy(dtype=float)
    except (TypeError, ValueError):
        raise DataValidationError(f"column {col!r} must be numeric", fix="convert it to numbers") from None
    return values


class RecencyRuleModel(ClassifierMixin, BaseEstimator):
    """P(event) as a non-increasing step function of recency (days since last order).

    Parameters
    ----------
    recency_col : column with days since the last order (>= 0).
    n_bands : number of quantile bands of recency.
    prior_strength : pseudo-rows pulling each band's rate towards the overall rate.
    increasing : set True when the event becomes *more* likely with recency
        (e.g. churn = no purchase within N days).
    """

    def __init__(
        self,
        recency_col: str = "recency_days",
        *,
        n_bands: int = 10,
        prior_strength: float = 10.0,
        increasing: bool = False,
    ) -> None:
        self.recency_col = recency_col
        self.n_bands = n_bands
        self.prior_strength = prior_strength
        self.increasing = increasing

    def fit(self, X: Any, y: Any) -> RecencyRuleModel:
        """Learn the band rates from recency in ``X`` and the 0/1 label ``y``."""
        if self.n_bands < 1 or self.prior_strength < 0:
            raise ConfigError(
                f"n_bands={self.n_bands}, prior_strength={self.prior_strength}",
                fix="use n_bands >= 1 and prior_strength >= 0",
            )
        frame = as_frame(X)
        target = as_binary_target(y, n_rows=len(frame))
        recency = _numeric_column(frame, self.recency_col, "RecencyRuleModel")
        known = ~np.isnan(recency)
        if not known.any():
            raise DataValidationError(
                f"column {self.recency_col!r} is all missing", fix="compute recency first"
            )
        self.base_rate_ = float(target.mean())
        edges = np.unique(np.quantile(recency[known], np.linspace(0, 1, self.n_bands + 1)))
        self.edges_ = edges if edges.size >= 2 else np.array([edges[0], edges[0]])
        band = self._band(recency[known])
        n_bands = self.edges_.size - 1
        counts = np.bincount(band, minlength=n_bands).astype(float)
        hits = np.bincount(band, weights=target[known], minlength=n_bands)
        shrunk = (hits + self.prior_strength * self.base_rate_) / (counts + self.prior_strength)
        order = np.arange(n_bands, dtype=float)
        iso = IsotonicRegression(increasing=self.increasing, y_min=0.0, y_max=1.0)
        self.band_rates_ = iso.fit(order, shrunk, sample_weight=np.maximum(counts, 1e-9)).predict(order)
        self.band_rows_ = counts.astype(int)
        self.classes_ = np.array([0, 1])
        self.n_features_in_ = frame.shape[1]
        return self

    def _band(self, recency: np.ndarray) -> np.ndarray:
        return np.clip(np.searchsorted(self.edges_, recency, side="right") - 1, 0, self.edges_.size - 2)

    def predict_proba(self, X: Any) -> np.ndarray:
        """``[P(y=0), P(y=1)]``; rows with missing recency get the overall rate."""
        check_fitted(self, "band_rates_", fix="call fit(X, y) first")
        recency = _numeric_column(as_frame(X), self.recency_col, "RecencyRuleModel")
        p1 = np.full(recency.shape, self.base_rate_)
        known = ~np.isnan(recency)
        p1[known] = self.band_rates_[self._band(recency[known])]
        return np.column_stack([1.0 - p1, p1])

    def predict(self, X: Any) -> np.ndarray:
        return (self.predict_proba(X)[:, 1] >= 0.5).astype(np.int64)


class ScoreColumnModel(ClassifierMixin, BaseEstimator):
    """Use an existing probability column (e.g. BG/NBD P(purchase)) as the propensity score.

    Parameters
    ----------
    score_col : column holding probabilities in [0, 1].
    calibrate : if True, fit Platt scaling of the score's log-odds on ``y``
        (needs both classes); if False ``fit`` only checks the column.
    """

    def __init__(self, score_col: str = "p_alive", *, calibrate: bool = False) -> None:
        self.score_col = score_col
        self.calibrate = calibrate

    def _score(self, X: Any) -> np.ndarray:
        score = _numeric_column(as_frame(X), self.score_col, "ScoreColumnModel")
        bad = np.isnan(score) | (score < 0) | (score > 1)
        if bad.any():
            raise DataValidationError(
                f"column {self.score_col!r} has {int(bad.sum())} value(s) outside [0, 1] or missing",
                fix="pass probabilities (e.g. P(alive) from a BG/NBD model) for every row",
            )
        return score

    def fit(self, X: Any, y: Any) -> ScoreColumnModel:
        """Validate the score column; with ``calibrate=True`` also fit Platt scaling on ``y``."""
        score = self._score(X)
        target = as_binary_target(y, n_rows=score.size)
        self.calibrator_ = None
        if self.calibrate:
            if target.min() == target.max():
                raise DataValidationError(
                    "calibration needs both classes in y", fix="use calibrate=False with a one-class label"
                )
            logit = np.log(np.clip(score, 1e-6, 1 - 1e-6) / np.clip(1 - score, 1e-6, 1))
            self.calibrator_ = LogisticRegression(C=1e6, max_iter=1000).fit(logit.reshape(-1, 1), target)
        self.classes_ = np.array([0, 1])
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        """``[1 - score, score]`` (or the calibrated score)."""
        check_fitted(self, "classes_", fix="call fit(X, y) first")
        score = self._score(X)
        if self.calibrator_ is not None:
            logit = np.log(np.clip(score, 1e-6, 1 - 1e-6) / np.clip(1 - score, 1e-6, 1))
            score = self.calibrator_.predict_proba(logit.reshape(-1, 1))[:, 1]
        return np.column_stack([1.0 - score, score])

    def predict(self, X: Any) -> np.ndarray:
        return (self.predict_proba(X)[:, 1] >= 0.5).astype(np.int64)
