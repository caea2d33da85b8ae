"""Value-based uplift: meta-learners for a continuous outcome (revenue or margin after the send).

Each learner estimates, per customer and treated arm, the **incremental value**
``E[y | x, arm] - E[y | x, control]`` in the outcome's units (e.g. currency per customer over
the measurement window), the conditional average treatment effect on revenue. They wrap LightGBM
regressors by default (``VALUE_LGBM_PARAMS``) and accept any scikit-learn regressor.

* :class:`ValueSLearner`: one model with the arm as indicator column(s).
* :class:`ValueTLearner`: one model per group; :meth:`ValueTLearner.predict_outcomes` also gives
  the expected value as control and under each arm, which a cost that scales with the basket
  (a discount) needs.
* :class:`ValueXLearner`: Künzel et al. (2019) on top of the T-learner, with a constant
  propensity (randomised campaigns).
* :class:`ValueTwoPartLearner`: the hurdle (two-part) model of zero-inflated revenue,
  ``E[y | x, a] = P(buy | x, a) * E[y | buy, x, a]``: an S-learner on whether the customer bought
  and a regressor of the basket among buyers, pooled over arms by default (the campaign changes
  whether customers buy, not how much: ``basket="pooled"``) or one per group (``"per_arm"``).
  Most customers spend nothing, so modelling who buys from every row and how much from the
  buyers uses the data far better than regressing the zeros directly: on the synthetic retailer
  it recovers the planted per-customer revenue effect with Spearman ~0.8 where the T-learner
  reaches ~0.5 (tests/test_value_uplift.py).

Outputs follow :class:`~targetwise.uplift.learners.BaseUpliftLearner`: ``(n,)`` for one arm,
a DataFrame ``(n, n_arms)`` for several. :func:`value_qini_curve` and friends in
:mod:`targetwise.uplift.value_metrics` score them.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray
from sklearn.base import BaseEstimator

from targetwise.errors import ConfigError, DataValidationError, ModelError
from targetwise.uplift._base import (
    DEFAULT_LGBM_PARAMS,
    SMOOTH_LGBM_PARAMS,
    FeatureEncoder,
    as_frame,
    default_regressor,
    require_fitted,
    seeded_clone,
    treatment_labels,
)
from targetwise.uplift.learners import BaseUpliftLearner, SLearner

__all__ = [
    "VALUE_LGBM_PARAMS",
    "ValueSLearner",
    "ValueTLearner",
    "ValueTwoPartLearner",
    "ValueXLearner",
    "continuous_outcome",
]

# Revenue after a send is mostly zeros with a long tail (Hillstrom: 0.9 % of customers spend,
# mean spend of a spender ~116 $): smooth, heavily regularised fits, as for the T-learner on
# conversions, on squared error so the conditional mean (not the median, 0) is what is estimated.
VALUE_LGBM_PARAMS: dict[str, Any] = {**SMOOTH_LGBM_PARAMS, "objective": "regression"}


def continuous_outcome(y: ArrayLike, n_rows: int) -> NDArray[np.float64]:
    """A finite numeric outcome per row (revenue, margin); refuses NaN, inf and text."""
    arr = np.asarray(y)
    if arr.ndim != 1 or len(arr) != n_rows:
        raise DataValidationError(
            f"y must be 1-D with {n_rows} values (one per row of X), got shape {arr.shape}",
            fix="pass one outcome value (e.g. revenue after the send) per customer",
        )
    if arr.dtype.kind not in "biuf":
        raise DataValidationError(
            f"y must be numeric (revenue or margin per customer), got dtype {arr.dtype}",
            fix="convert the outcome to numbers; use 0 for customers who spent nothing",
        )
    values = arr.astype(np.float64)
    bad = ~np.isfinite(values)
    if bad.any():
        raise DataValidationError(
            f"y has {int(bad.sum())} missing or infinite value(s)",
            fix="use 0 for customers who spent nothing",
        )
    return values


class _ValueLearner(BaseUpliftLearner):
    """Fit/predict plumbing shared by the value learners: a continuous outcome, regressors."""

    _default_params = VALUE_LGBM_PARAMS

    def fit(self, X: ArrayLike | pd.DataFrame, treatment: ArrayLike, y: ArrayLike) -> _ValueLearner:
        """Fit on features ``X``, arm labels ``treatment`` and a continuous outcome ``y``; returns self."""
        frame = as_frame(X)
        outcome = continuous_outcome(y, len(frame))
        labels, arms = treatment_labels(treatment, len(frame), self.control)
        for name, mask in [(str(self.control), labels == self.control), *((str(a), labels == a) for a in arms)]:
            if int(mask.sum()) < 2:
                raise ModelError(
                    f"group {name!r} has {int(mask.sum())} row(s); a regressor needs at least 2",
                    fix="collect more data for that arm or drop it",
                )
        self.encoder_ = FeatureEncoder.fit(frame)
        self.feature_names_in_ = np.array(self.encoder_.columns, dtype=object)
        self.n_features_in_ = len(self.encoder_.columns)
        self.control_ = self.control
        self._seeds = np.random.default_rng(self.random_state)
        self._fit_arms(frame, labels, outcome, arms)  # type: ignore[arg-type]
        del self._seeds
        self.arms_ = arms
        return self

    def predict(self, X: ArrayLike | pd.DataFrame) -> NDArray[np.float64] | pd.DataFrame:
        """Predicted incremental value per customer (outcome units, e.g. +2.5 = 2.5 currency units)."""
        return super().predict(X)

    def _classifier(self) -> BaseEstimator:  # the outcome model of a value learner is a regressor
        seed = self._next_seed()
        if self.estimator is None:
            return default_regressor(seed, self.n_jobs, self._default_params)
        if not hasattr(self.estimator, "predict"):
            raise ConfigError(
                f"estimator {type(self.estimator).__name__} has no predict", fix="pass a scikit-learn regressor"
            )
        return seeded_clone(self.estimator, seed)

    def _value(self, model: BaseEstimator, features: pd.DataFrame) -> NDArray[np.float64]:
        return np.asarray(model.predict(features), dtype=np.float64)


class ValueSLearner(_ValueLearner, SLearner):
    """One regressor ``E[y | x, arm]`` with the arm as 0/1 indicator column(s); effect = as arm minus as control."""

    _default_params = VALUE_LGBM_PARAMS

    def _predict_arms(self, frame: pd.DataFrame) -> NDArray[np.float64]:
        features = self._encode(self.model_, frame)
        n = len(frame)

        def score(active: int | None) -> NDArray[np.float64]:
            indicators = {i: np.full(n, float(i == active)) for i in range(len(self.arms_))}
            return self._value(self.model_, self._design(features, indicators))

        base = score(None)
        return np.column_stack([score(i) - base for i in range(len(self.arms_))])


class ValueTLearner(_ValueLearner):
    """One regressor per group: effect = ``E_arm[y | x] - E_control[y | x]``."""

    def _fit_arms(
        self, frame: pd.DataFrame, labels: NDArray[Any], y: NDArray[np.float64], arms: list[Any]
    ) -> None:
        control = labels == self.control
        self.control_model_ = self._fit_classifier(frame[control], y[control])
        self.arm_models_ = {arm: self._fit_classifier(frame[labels == arm], y[labels == arm]) for arm in arms}

    def _predict_arms(self, frame: pd.DataFrame) -> NDArray[np.float64]:
        outcomes = self._outcomes(frame)
        return outcomes[:, 1:] - outcomes[:, :1]

    def _outcomes(self, frame: pd.DataFrame) -> NDArray[np.float64]:
        models = [self.control_model_, *(self.arm_models_[arm] for arm in self.arms_)]
        return np.column_stack([self._value(m, self._encode(m, frame)) for m in models])

    def predict_outcomes(self, X: ArrayLike | pd.DataFrame) -> pd.DataFrame:
        """Expected outcome per customer as control and under each arm (columns: control label, arms)."""
        require_fitted(self)
        frame = as_frame(X)
        return pd.DataFrame(self._outcomes(frame), columns=[self.control_, *self.arms_], index=frame.index)


class ValueXLearner(ValueTLearner):
    """X-learner for a continuous outcome: imputed effects ``y - mu0(x)`` (treated) and ``mu1(x) - y``
    (control) regressed on ``x``, blended with the arm's constant share ``g``: ``g tau0 + (1 - g) tau1``."""

    def _fit_arms(
        self, frame: pd.DataFrame, labels: NDArray[Any], y: NDArray[np.float64], arms: list[Any]
    ) -> None:
        super()._fit_arms(frame, labels, y, arms)
        control = labels == self.control
        frame_c = frame[control]
        mu0 = self.control_model_
        self.effect_models_ = {}
        self.propensity_constants_ = {}
        for arm in arms:
            treated = labels == arm
            frame_t = frame[treated]
            mu1 = self.arm_models_[arm]
            tau1 = self._fit_classifier(frame_t, y[treated] - self._value(mu0, self._encode(mu0, frame_t)))
            tau0 = self._fit_classifier(frame_c, self._value(mu1, self._encode(mu1, frame_c)) - y[control])
            self.effect_models_[arm] = (tau0, tau1)
            self.propensity_constants_[arm] = float(treated.sum() / (treated | control).sum())

    def _predict_arms(self, frame: pd.DataFrame) -> NDArray[np.float64]:
        columns = []
        for arm in self.arms_:
            tau0, tau1 = self.effect_models_[arm]
            g = self.propensity_constants_[arm]
            columns.append(g * self._value(tau0, self._encode(tau0, frame))
                           + (1 - g) * self._value(tau1, self._encode(tau1, frame)))
        return np.column_stack(columns)


class ValueTwoPartLearner(BaseEstimator):
    """Two-part (hurdle) value learner: ``P(buy | x, arm) * E[y | buy, x]`` per arm, minus the same as control.

    ``conversion_learner``: an uplift learner with ``predict_outcomes`` (default :class:`SLearner`,
    LightGBM). ``basket_estimator``: a regressor of the outcome among buyers (``y > 0``); default
    LightGBM with ``DEFAULT_LGBM_PARAMS`` and at most 300, at least 20, and otherwise a twentieth of
    the buyers per leaf. ``basket``: ``"pooled"`` (one basket model over all arms) or ``"per_arm"``.
    A negative outcome (a net refund) counts as no purchase for the first part and is kept, as is,
    in the basket model only if ``y != 0``.
    """

    def __init__(
        self,
        conversion_learner: BaseUpliftLearner | None = None,
        basket_estimator: BaseEstimator | None = None,
        *,
        basket: str = "pooled",
        control: Any = 0,
        random_state: int | None = None,
        n_jobs: int = 1,
    ) -> None:
        self.conversion_learner = conversion_learner
        self.basket_estimator = basket_estimator
        self.basket = basket
        self.control = control
        self.random_state = random_state
        self.n_jobs = n_jobs

    def _basket_model(self, n_buyers: int, seed: int) -> BaseEstimator:
        if self.basket_estimator is not None:
            return seeded_clone(self.basket_estimator, seed)
        leaf = int(min(300, max(20, n_buyers // 20)))
        return default_regressor(seed, self.n_jobs, {**DEFAULT_LGBM_PARAMS, "min_child_samples": leaf})

    def fit(self, X: ArrayLike | pd.DataFrame, treatment: ArrayLike, y: ArrayLike) -> ValueTwoPartLearner:
        """Fit on features ``X``, arm labels ``treatment`` and a continuous outcome ``y``; returns self."""
        from sklearn.base import clone

        from targetwise.uplift._base import is_lightgbm

        if self.basket not in ("pooled", "per_arm"):
            raise ConfigError(f"basket must be 'pooled' or 'per_arm', got {self.basket!r}", fix="use basket='pooled'")
        frame = as_frame(X)
        outcome = continuous_outcome(y, len(frame))
        labels, arms = treatment_labels(treatment, len(frame), self.control)
        bought = outcome != 0
        rng = np.random.default_rng(self.random_state)
        conversion = (
            SLearner(control=self.control, n_jobs=self.n_jobs) if self.conversion_learner is None
            else clone(self.conversion_learner).set_params(control=self.control)
        )
        if "random_state" in conversion.get_params(deep=False):
            conversion.set_params(random_state=int(rng.integers(0, 2**31 - 1)))
        self.conversion_model_ = conversion.fit(frame, labels, (outcome > 0).astype(int))
        self.encoder_ = FeatureEncoder.fit(frame)
        groups = {None: bought} if self.basket == "pooled" else {a: bought & (labels == a) for a in [self.control, *arms]}
        self.basket_models_: dict[Any, BaseEstimator] = {}
        for group, mask in groups.items():
            if int(mask.sum()) < 2:
                raise ModelError(
                    f"{'the campaign' if group is None else f'group {group!r}'} has {int(mask.sum())} buyer(s); "
                    "the basket model needs at least 2",
                    fix="use basket='pooled' or collect a larger campaign",
                )
            model = self._basket_model(int(mask.sum()), int(rng.integers(0, 2**31 - 1)))
            model.fit(self.encoder_.transform(frame[mask], native_categorical=is_lightgbm(model)), outcome[mask])
            self.basket_models_[group] = model
        self.control_ = self.control
        self.arms_ = arms
        self.n_features_in_ = len(self.encoder_.columns)
        return self

    def _basket(self, group: Any, frame: pd.DataFrame) -> NDArray[np.float64]:
        from targetwise.uplift._base import is_lightgbm

        model = self.basket_models_[None if self.basket == "pooled" else group]
        return np.asarray(model.predict(self.encoder_.transform(frame, native_categorical=is_lightgbm(model))), dtype=np.float64)

    def predict_outcomes(self, X: ArrayLike | pd.DataFrame) -> pd.DataFrame:
        """Expected outcome per customer as control and under each arm (columns: control label, arms)."""
        require_fitted(self)
        frame = as_frame(X)
        buy = self.conversion_model_.predict_outcomes(frame)
        return pd.DataFrame(
            {group: buy[group].to_numpy() * self._basket(group, frame) for group in [self.control_, *self.arms_]},
            index=frame.index,
        )

    def predict(self, X: ArrayLike | pd.DataFrame) -> NDArray[np.float64] | pd.DataFrame:
        """Predicted incremental value per customer (outcome units); ``(n,)`` for one arm, else a DataFrame."""
        outcomes = self.predict_outcomes(X)
        effects = outcomes[self.arms_].sub(outcomes[self.control_], axis=0)
        return effects.iloc[:, 0].to_numpy() if len(self.arms_) == 1 else effects
