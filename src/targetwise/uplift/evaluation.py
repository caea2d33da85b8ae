"""Repeated-split evaluation of uplift learners, with response-model and random baselines.

One 70/30 split of a small experiment can rank learners in any order, so the
default is ``n_splits=10`` stratified splits (stratified on treatment x
outcome) and a mean ± standard deviation per metric and learner.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray
from sklearn.base import BaseEstimator, clone
from sklearn.model_selection import train_test_split

from targetwise.errors import ConfigError, DataValidationError
from targetwise.uplift._base import (
    FeatureEncoder,
    as_frame,
    binary_outcome,
    check_groups,
    default_classifier,
    is_lightgbm,
    positive_proba,
    require_fitted,
    seeded_clone,
    treatment_labels,
)
from targetwise.uplift.metrics import qini_auc_score, uplift_at_k, uplift_auc_score

__all__ = ["RandomUplift", "ResponseModel", "UpliftEvaluation", "evaluate_uplift"]

LearnerSpec = BaseEstimator | Callable[[int], BaseEstimator]


class ResponseModel(BaseEstimator):
    """Baseline: rank by ``P(y=1 | x)`` among *treated* customers, ignoring the control group.

    This is the classic "target whoever is likely to respond when contacted"
    model; it finds responders, not persuadables, which is why uplift learners
    should beat it on Qini.
    """

    def __init__(
        self, estimator: BaseEstimator | None = None, *, control: Any = 0, random_state: int | None = None
    ) -> None:
        self.estimator = estimator
        self.control = control
        self.random_state = random_state

    def fit(self, X: ArrayLike | pd.DataFrame, treatment: ArrayLike, y: ArrayLike) -> ResponseModel:
        frame = as_frame(X)
        outcome = binary_outcome(y, len(frame))
        labels, _ = treatment_labels(treatment, len(frame), self.control)
        treated = labels != self.control
        check_groups(outcome, treated, "treated")
        seed = int(np.random.default_rng(self.random_state).integers(0, 2**31 - 1))
        model = default_classifier(seed, 1) if self.estimator is None else seeded_clone(self.estimator, seed)
        self.encoder_ = FeatureEncoder.fit(frame)
        features = self.encoder_.transform(frame[treated], native_categorical=is_lightgbm(model))
        self.model_ = model.fit(features, outcome[treated])
        self.arms_ = ["treated"]
        return self

    def predict(self, X: ArrayLike | pd.DataFrame) -> NDArray[np.float64]:
        """Response probability if contacted (a score, not an uplift)."""
        require_fitted(self)
        frame = as_frame(X)
        features = self.encoder_.transform(frame, native_categorical=is_lightgbm(self.model_))
        return positive_proba(self.model_, features)


class RandomUplift(BaseEstimator):
    """Baseline: uniform random scores; its normalised Qini is 0 in expectation."""

    def __init__(self, *, random_state: int | None = None) -> None:
        self.random_state = random_state

    def fit(self, X: ArrayLike | pd.DataFrame, treatment: ArrayLike, y: ArrayLike) -> RandomUplift:
        as_frame(X)
        self.arms_ = ["treated"]
        return self

    def predict(self, X: ArrayLike | pd.DataFrame) -> NDArray[np.float64]:
        require_fitted(self)
        return np.random.default_rng(self.random_state).random(len(as_frame(X)))


@dataclass(frozen=True)
class UpliftEvaluation:
    """Per-split scores (long form) and their mean ± sd per learner.

    ``scores`` columns: ``learner, split, qini_auc, uplift_auc, uplift_at_k,
    fit_seconds, predict_seconds``. ``summary`` has one row per learner and
    ``<metric>_mean`` / ``<metric>_sd`` columns (sd with ``ddof=1``).
    """

    scores: pd.DataFrame
    summary: pd.DataFrame
    k: float


def _make(spec: LearnerSpec, seed: int) -> BaseEstimator:
    if isinstance(spec, BaseEstimator):
        model = clone(spec)
        if "random_state" in model.get_params(deep=False):
            model.set_params(random_state=seed)
        return model
    if callable(spec):
        return spec(seed)
    raise ConfigError(
        f"a learner must be an estimator or a function seed -> estimator, got {type(spec).__name__}",
        fix="pass e.g. {'S': SLearner()} or {'S': lambda seed: SLearner(random_state=seed)}",
    )


def evaluate_uplift(
    learners: LearnerSpec | Mapping[str, LearnerSpec],
    X: ArrayLike | pd.DataFrame,
    treatment: ArrayLike,
    y: ArrayLike,
    *,
    control: Any = 0,
    n_splits: int = 10,
    test_size: float = 0.3,
    k: float = 0.3,
    baselines: bool = True,
    random_state: int = 0,
) -> UpliftEvaluation:
    """Score learners on ``n_splits`` stratified train/test splits (scikit-uplift metrics).

    Split ``i`` uses seed ``random_state + i`` for both the split and the
    learner, so every learner sees the same splits. ``baselines=True`` adds
    ``response_model`` (:class:`ResponseModel`) and ``random``
    (:class:`RandomUplift`). Treatment must have one arm besides ``control``:
    evaluate several arms one at a time. Learners receive 0/1 treatment.
    """
    if not isinstance(n_splits, int) or n_splits < 1:
        raise ConfigError(
            f"n_splits must be a positive integer, got {n_splits!r}", fix="pass e.g. n_splits=10"
        )
    if not 0 < test_size < 1:
        raise ConfigError(f"test_size must lie in (0, 1), got {test_size!r}", fix="pass e.g. test_size=0.3")
    frame = as_frame(X)
    outcome = binary_outcome(y, len(frame))
    labels, arms = treatment_labels(treatment, len(frame), control)
    if len(arms) != 1:
        raise DataValidationError(
            f"evaluate_uplift scores one treated arm at a time, got {len(arms)}: {arms}",
            fix="subset the rows to one arm plus control",
        )
    t = (labels != control).astype(np.int64)
    specs: dict[str, LearnerSpec] = (
        dict(learners) if isinstance(learners, Mapping) else {type(learners).__name__: learners}
    )
    if baselines:
        specs.setdefault("response_model", ResponseModel())
        specs.setdefault("random", RandomUplift())
    rows: list[dict[str, Any]] = []
    strata = t * 2 + outcome
    for split in range(n_splits):
        seed = random_state + split
        train, test = train_test_split(
            np.arange(len(frame)), test_size=test_size, stratify=strata, random_state=seed
        )
        for name, spec in specs.items():
            model = _make(spec, seed)
            started = time.perf_counter()
            model.fit(frame.iloc[train], t[train], outcome[train])
            fitted = time.perf_counter()
            score = np.asarray(model.predict(frame.iloc[test]), dtype=np.float64)
            predicted = time.perf_counter()
            rows.append(
                {
                    "learner": name,
                    "split": split,
                    "qini_auc": qini_auc_score(outcome[test], score, t[test]),
                    "uplift_auc": uplift_auc_score(outcome[test], score, t[test]),
                    "uplift_at_k": uplift_at_k(outcome[test], score, t[test], k=k),
                    "fit_seconds": fitted - started,
                    "predict_seconds": predicted - fitted,
                }
            )
    scores = pd.DataFrame(rows)
    metrics = ["qini_auc", "uplift_auc", "uplift_at_k", "fit_seconds", "predict_seconds"]
    grouped = scores.groupby("learner", sort=False)[metrics]
    means = grouped.mean().add_suffix("_mean")
    sds = grouped.std(ddof=1).add_suffix("_sd")
    summary = pd.concat([means, sds], axis=1)[[f"{m}_{s}" for m in metrics for s in ("mean", "sd")]]
    return UpliftEvaluation(scores=scores, summary=summary, k=k)
