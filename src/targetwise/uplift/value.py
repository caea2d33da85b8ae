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
* :class:`ValueDRLearner`: the DR-learner (Kennedy 2023): cross-fitted outcome models, the doubly
  robust pseudo-outcome regressed on the features, with a constant propensity.
* :class:`ValueTwoPartLearner`: the hurdle (two-part) model of zero-inflated revenue,
  ``E[y | x, a] = P(buy | x, a) * E[y | buy, x, a]``: a conversion uplift learner on whether the
  customer bought and a regressor of the basket among buyers: one blind to the arm (``basket="pooled"``:
  the campaign changes whether customers buy, not how much), one over all buyers with the arm as a column
  (``"shared"``: the basket's shape from every buyer, the campaign's basket lift from the contrast) or one
  per group (``"per_arm"``), on the revenue or on its log (``basket_scale="log"``, a multiplicative lift,
  back-transformed with Duan's smearing). Most customers spend nothing, so modelling who buys from every
  row and how much from the buyers uses the data far better than regressing the zeros directly.

The pipeline's value learner (:func:`targetwise.usecases.uplift._value_learner`) is the two-part learner
with an interaction S-learner on conversion and a shared log basket: on the synthetic retailer at 20,000
customers its Spearman with the planted per-customer revenue effect is 0.73 on average over 10 seeds and
>= 0.6 at 8 (benchmarks/results/value_uplift.md); the seeds it misses are those where the campaign's own
data show no negative effect for the segment whose planted effect is negative.

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
    "ValueDRLearner",
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


class ValueDRLearner(_ValueLearner):
    """DR-learner (Kennedy 2023) for a continuous outcome: per-group outcome models ``mu_a`` cross-fitted
    over ``n_folds`` folds (each row's ``mu`` comes from models that did not see it), the doubly robust
    pseudo-outcome ``mu_a(x) - mu_0(x) + [arm] (y - mu_a(x)) / g - [control] (y - mu_0(x)) / (1 - g)``
    with the arm's constant share ``g`` (a randomised campaign), regressed on ``x`` by a final model."""

    def __init__(
        self,
        estimator: BaseEstimator | None = None,
        *,
        n_folds: int = 5,
        control: Any = 0,
        random_state: int | None = None,
        n_jobs: int = 1,
    ) -> None:
        super().__init__(estimator, control=control, random_state=random_state, n_jobs=n_jobs)
        self.n_folds = n_folds

    def _fit_arms(
        self, frame: pd.DataFrame, labels: NDArray[Any], y: NDArray[np.float64], arms: list[Any]
    ) -> None:
        from sklearn.model_selection import KFold

        if not isinstance(self.n_folds, int) or self.n_folds < 2:
            raise ConfigError(f"n_folds must be an integer >= 2, got {self.n_folds!r}", fix="use n_folds=5")
        control = labels == self.control
        self.effect_models_ = {}
        for arm in arms:
            rows = np.flatnonzero(control | (labels == arm))
            treated = labels[rows] == arm
            mu = np.zeros((len(rows), 2))
            folds = KFold(self.n_folds, shuffle=True, random_state=self._next_seed())
            for fit_part, score_part in folds.split(rows):
                for column, in_group in enumerate((~treated, treated)):
                    chosen = rows[fit_part[in_group[fit_part]]]
                    model = self._fit_classifier(frame.iloc[chosen], y[chosen])
                    mu[score_part, column] = self._value(model, self._encode(model, frame.iloc[rows[score_part]]))
            g = float(treated.mean())
            residual = y[rows] - np.where(treated, mu[:, 1], mu[:, 0])
            pseudo = mu[:, 1] - mu[:, 0] + np.where(treated, residual / g, -residual / (1 - g))
            self.effect_models_[arm] = self._fit_classifier(frame.iloc[rows], pseudo)

    def _predict_arms(self, frame: pd.DataFrame) -> NDArray[np.float64]:
        return np.column_stack(
            [self._value(m, self._encode(m, frame)) for m in (self.effect_models_[a] for a in self.arms_)]
        )


class ValueTwoPartLearner(BaseEstimator):
    """Two-part (hurdle) value learner: ``P(buy | x, arm) * E[y | buy, x, arm]`` per arm, minus the same as control.

    ``conversion_learner``: an uplift learner with ``predict_outcomes`` (default :class:`SLearner`,
    LightGBM). ``basket_estimator``: a regressor of the outcome among buyers; default LightGBM with
    ``DEFAULT_LGBM_PARAMS`` and at most 300, at least 20, and otherwise a twentieth of the buyers per
    leaf. ``basket``: ``"pooled"`` (one basket model over all arms, blind to the arm: the campaign
    changes whether customers buy, not how much), ``"shared"`` (one basket model over all buyers with
    the arm as 0/1 indicator column(s): the basket's shape is learned from every buyer and the
    campaign's basket lift from the contrast, an S-learner on the basket) or ``"per_arm"`` (one per
    group). ``basket_scale``: ``"linear"`` (squared error on the outcome) or ``"log"`` (squared error
    on ``log y`` of the buyers, back-transformed with Duan's (1983) smearing factor, the mean of
    ``exp(residual)`` per basket model, so a basket lift is multiplicative and a few large baskets do
    not dominate the fit). On ``"linear"`` a negative outcome (a net refund) counts as no purchase for
    the first part and is kept, as is, in the basket model; ``"log"`` refuses negative outcomes.
    """

    def __init__(
        self,
        conversion_learner: BaseUpliftLearner | None = None,
        basket_estimator: BaseEstimator | None = None,
        *,
        basket: str = "pooled",
        basket_scale: str = "linear",
        control: Any = 0,
        random_state: int | None = None,
        n_jobs: int = 1,
    ) -> None:
        self.conversion_learner = conversion_learner
        self.basket_estimator = basket_estimator
        self.basket = basket
        self.basket_scale = basket_scale
        self.control = control
        self.random_state = random_state
        self.n_jobs = n_jobs

    def _basket_model(self, n_buyers: int, seed: int) -> BaseEstimator:
        if self.basket_estimator is not None:
            return seeded_clone(self.basket_estimator, seed)
        leaf = int(min(300, max(20, n_buyers // 20)))
        return default_regressor(seed, self.n_jobs, {**DEFAULT_LGBM_PARAMS, "min_child_samples": leaf})

    def _check_options(self, outcome: NDArray[np.float64]) -> None:
        if self.basket not in ("pooled", "shared", "per_arm"):
            raise ConfigError(
                f"basket must be 'pooled', 'shared' or 'per_arm', got {self.basket!r}", fix="use basket='pooled'"
            )
        if self.basket_scale not in ("linear", "log"):
            raise ConfigError(
                f"basket_scale must be 'linear' or 'log', got {self.basket_scale!r}", fix="use basket_scale='linear'"
            )
        negative = int((outcome < 0).sum())
        if self.basket_scale == "log" and negative:
            raise DataValidationError(
                f"y has {negative} negative value(s); basket_scale='log' models log(y) of the buyers (y > 0)",
                fix="use basket_scale='linear', or net refunds out of the outcome before fitting",
            )

    def fit(self, X: ArrayLike | pd.DataFrame, treatment: ArrayLike, y: ArrayLike) -> ValueTwoPartLearner:
        """Fit on features ``X``, arm labels ``treatment`` and a continuous outcome ``y``; returns self."""
        from sklearn.base import clone

        frame = as_frame(X)
        outcome = continuous_outcome(y, len(frame))
        self._check_options(outcome)
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
        self.control_ = self.control
        self.arms_ = arms
        groups = {None: bought} if self.basket != "per_arm" else {a: bought & (labels == a) for a in [self.control, *arms]}
        self.basket_models_: dict[Any, BaseEstimator] = {}
        self.smearing_: dict[Any, float] = {}
        for group, mask in groups.items():
            if int(mask.sum()) < 2:
                raise ModelError(
                    f"{'the campaign' if group is None else f'group {group!r}'} has {int(mask.sum())} buyer(s); "
                    "the basket model needs at least 2",
                    fix="use basket='pooled' or collect a larger campaign",
                )
            model = self._basket_model(int(mask.sum()), int(rng.integers(0, 2**31 - 1)))
            design = self._basket_design(model, frame[mask], labels[mask])
            target = np.log(outcome[mask]) if self.basket_scale == "log" else outcome[mask]
            model.fit(design, target)
            self.basket_models_[group] = model
            self.smearing_[group] = (
                float(np.mean(np.exp(target - np.asarray(model.predict(design), dtype=np.float64))))
                if self.basket_scale == "log" else 1.0
            )
        self.n_features_in_ = len(self.encoder_.columns)
        return self

    def _basket_design(self, model: BaseEstimator, frame: pd.DataFrame, labels: NDArray[Any]) -> pd.DataFrame:
        """The encoded features, plus one 0/1 column per treated arm for ``basket="shared"``."""
        from targetwise.uplift._base import is_lightgbm

        features = self.encoder_.transform(frame, native_categorical=is_lightgbm(model))
        if self.basket != "shared":
            return features
        indicators = {f"__arm_{i}__": (labels == arm).astype(np.float64) for i, arm in enumerate(self.arms_)}
        return pd.concat([features, pd.DataFrame(indicators, index=features.index)], axis=1)

    def _basket(self, group: Any, frame: pd.DataFrame) -> NDArray[np.float64]:
        """Expected outcome of a buyer in ``group`` (the control label or an arm), in the outcome's units."""
        key = group if self.basket == "per_arm" else None
        model = self.basket_models_[key]
        design = self._basket_design(model, frame, np.full(len(frame), group, dtype=object))
        predicted = np.asarray(model.predict(design), dtype=np.float64)
        return np.exp(predicted) * self.smearing_[key] if self.basket_scale == "log" else predicted

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
