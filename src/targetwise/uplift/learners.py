"""Meta-learners for uplift: S-, T-, X-learner and class transformation.

Each learner estimates, per customer and per treated arm, the uplift
``P(y=1 | x, arm) - P(y=1 | x, control)`` from a randomised (or propensity-
adjusted) experiment. They wrap LightGBM by default and accept any scikit-learn
classifier as ``estimator=``.

Several treatments: pass the arm labels as ``treatment`` and name the untreated
label with ``control=``. With one treated arm ``predict`` returns an array of
shape ``(n,)``; with several it returns a DataFrame ``(n, n_arms)`` with one
column per arm, and :meth:`best_arm` picks each customer's best arm (the
control label where no arm has positive predicted uplift). Multi-arm models
follow causalml: each arm is contrasted with the shared control group.

References: Künzel, Sekhon, Bickel & Yu (2019), "Metalearners for estimating
heterogeneous treatment effects using machine learning", PNAS 116(10);
Jaskowski & Jaroszewicz (2012), "Uplift modeling for clinical trial data"
(class transformation).
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray
from sklearn.base import BaseEstimator
from sklearn.utils.validation import has_fit_parameter

from targetwise.errors import ConfigError, ModelError
from targetwise.uplift._base import (
    DEFAULT_LGBM_PARAMS,
    SMOOTH_LGBM_PARAMS,
    FeatureEncoder,
    as_frame,
    binary_outcome,
    check_groups,
    default_classifier,
    default_regressor,
    is_lightgbm,
    positive_proba,
    require_fitted,
    seeded_clone,
    treatment_labels,
)

__all__ = ["BaseUpliftLearner", "ClassTransformation", "SLearner", "TLearner", "XLearner"]

Uplift = NDArray[np.float64] | pd.DataFrame


class BaseUpliftLearner(BaseEstimator):
    """Common fit/predict logic; subclasses implement ``_fit_arms`` and ``_predict_arms``."""

    # LightGBM settings used when ``estimator`` is None (see ``_base``).
    _default_params: dict[str, Any] = DEFAULT_LGBM_PARAMS

    def __init__(
        self,
        estimator: BaseEstimator | None = None,
        *,
        control: Any = 0,
        random_state: int | None = None,
        n_jobs: int = 1,
    ) -> None:
        self.estimator = estimator
        self.control = control
        self.random_state = random_state
        self.n_jobs = n_jobs

    # -- public API ---------------------------------------------------------
    def fit(self, X: ArrayLike | pd.DataFrame, treatment: ArrayLike, y: ArrayLike) -> BaseUpliftLearner:
        """Fit on features ``X``, arm labels ``treatment`` and binary outcome ``y``; returns self."""
        frame = as_frame(X)
        outcome = binary_outcome(y, len(frame))
        labels, arms = treatment_labels(treatment, len(frame), self.control)
        check_groups(outcome, labels == self.control, str(self.control))
        for arm in arms:
            check_groups(outcome, labels == arm, str(arm))
        self.encoder_ = FeatureEncoder.fit(frame)
        self.feature_names_in_ = np.array(self.encoder_.columns, dtype=object)
        self.n_features_in_ = len(self.encoder_.columns)
        self.control_ = self.control
        self._seeds = np.random.default_rng(self.random_state)
        self._fit_arms(frame, labels, outcome, arms)
        del self._seeds
        self.arms_ = arms
        return self

    def predict(self, X: ArrayLike | pd.DataFrame) -> Uplift:
        """Predicted uplift (probability difference, e.g. 0.05 = +5 pp).

        One treated arm: array ``(n,)``. Several: DataFrame ``(n, n_arms)``,
        columns = arm labels, index = ``X``'s index.
        """
        require_fitted(self)
        frame = as_frame(X)
        effects = self._predict_arms(frame)
        if len(self.arms_) == 1:
            return effects[:, 0]
        return pd.DataFrame(effects, columns=list(self.arms_), index=frame.index)

    def best_arm(self, X: ArrayLike | pd.DataFrame) -> pd.Series:
        """Each customer's arm with the highest predicted uplift, or the control label if none is > 0."""
        require_fitted(self)
        frame = as_frame(X)
        effects = self._predict_arms(frame)
        best = np.argmax(effects, axis=1)
        choice = np.asarray(self.arms_, dtype=object)[best]
        choice[effects[np.arange(len(best)), best] <= 0] = self.control_
        return pd.Series(choice, index=frame.index, name="best_arm", dtype=object)

    # -- helpers ------------------------------------------------------------
    def _next_seed(self) -> int:
        return int(self._seeds.integers(0, 2**31 - 1))

    def _classifier(self) -> BaseEstimator:
        seed = self._next_seed()
        if self.estimator is None:
            return default_classifier(seed, self.n_jobs, self._default_params)
        if not hasattr(self.estimator, "predict_proba"):
            raise ConfigError(
                f"estimator {type(self.estimator).__name__} has no predict_proba",
                fix="pass a probabilistic classifier (LGBMClassifier, LogisticRegression, ...)",
            )
        return seeded_clone(self.estimator, seed)

    def _encode(self, model: BaseEstimator, frame: pd.DataFrame) -> pd.DataFrame:
        return self.encoder_.transform(frame, native_categorical=is_lightgbm(model))

    def _fit_classifier(
        self,
        frame: pd.DataFrame,
        y: NDArray[Any],
        *,
        sample_weight: NDArray[np.float64] | None = None,
        extra: pd.DataFrame | None = None,
    ) -> BaseEstimator:
        model = self._classifier()
        features = self._encode(model, frame)
        if extra is not None:
            features = pd.concat([features, extra.set_axis(features.index)], axis=1)
        if sample_weight is None:
            model.fit(features, y)
        else:
            model.fit(features, y, sample_weight=sample_weight)
        return model

    def _fit_arms(
        self, frame: pd.DataFrame, labels: NDArray[Any], y: NDArray[np.int64], arms: list[Any]
    ) -> None:
        raise NotImplementedError

    def _predict_arms(self, frame: pd.DataFrame) -> NDArray[np.float64]:
        raise NotImplementedError


class SLearner(BaseUpliftLearner):
    """One model ``P(y | x, arm)`` with the arm as feature(s); uplift = prediction as arm minus as control.

    The arm enters as one 0/1 indicator column per treated arm (all zero for
    control). With ``interactions=True`` every feature also enters once more
    per arm, multiplied by that arm's indicator (Lo 2002, "The true lift
    model"; categorical features are kept for the arm's rows and missing
    otherwise), so a tree can split on "treated and x" in one step. On
    Hillstrom (10 splits) interactions raise uplift@30% (0.073 -> 0.074) but
    lower the normalised Qini (0.065 -> 0.060), so they are off by default.
    """

    def __init__(
        self,
        estimator: BaseEstimator | None = None,
        *,
        interactions: bool = False,
        control: Any = 0,
        random_state: int | None = None,
        n_jobs: int = 1,
    ) -> None:
        super().__init__(estimator, control=control, random_state=random_state, n_jobs=n_jobs)
        self.interactions = interactions

    def _design(self, features: pd.DataFrame, indicators: dict[int, NDArray[np.float64]]) -> pd.DataFrame:
        blocks = [features]
        for i, active in indicators.items():
            blocks.append(pd.DataFrame({f"__arm_{i}__": active}, index=features.index))
            if not self.interactions:
                continue
            on = active == 1
            crossed = {}
            for column in features.columns:
                values = features[column]
                if isinstance(values.dtype, pd.CategoricalDtype):
                    crossed[f"__arm_{i}__{column}"] = values.where(on)
                else:
                    crossed[f"__arm_{i}__{column}"] = values.to_numpy(dtype=np.float64) * active
            blocks.append(pd.DataFrame(crossed, index=features.index))
        return pd.concat(blocks, axis=1)

    def _fit_arms(
        self, frame: pd.DataFrame, labels: NDArray[Any], y: NDArray[np.int64], arms: list[Any]
    ) -> None:
        model = self._classifier()
        features = self._encode(model, frame)
        indicators = {i: (labels == arm).astype(np.float64) for i, arm in enumerate(arms)}
        model.fit(self._design(features, indicators), y)
        self.model_ = model

    def _predict_arms(self, frame: pd.DataFrame) -> NDArray[np.float64]:
        features = self._encode(self.model_, frame)
        n = len(frame)

        def score(active: int | None) -> NDArray[np.float64]:
            indicators = {i: np.full(n, float(i == active)) for i in range(len(self.arms_))}
            return positive_proba(self.model_, self._design(features, indicators))

        base = score(None)
        return np.column_stack([score(i) - base for i in range(len(self.arms_))])

    def predict_outcomes(self, X: ArrayLike | pd.DataFrame) -> pd.DataFrame:
        """``P(y=1 | x)`` as control and under each arm (columns: the control label, then the arms)."""
        require_fitted(self)
        frame = as_frame(X)
        features = self._encode(self.model_, frame)
        n = len(frame)
        columns = []
        for active in (None, *range(len(self.arms_))):
            indicators = {i: np.full(n, float(i == active)) for i in range(len(self.arms_))}
            columns.append(positive_proba(self.model_, self._design(features, indicators)))
        return pd.DataFrame(np.column_stack(columns), columns=[self.control_, *self.arms_], index=frame.index)


class TLearner(BaseUpliftLearner):
    """Separate models per group: uplift = ``P_arm(y | x) - P_control(y | x)``.

    The default LightGBM fits are deliberately smooth (``SMOOTH_LGBM_PARAMS``):
    the uplift is a small difference of two fits, and sharper fits add noise.
    """

    _default_params = SMOOTH_LGBM_PARAMS

    def _fit_arms(
        self, frame: pd.DataFrame, labels: NDArray[Any], y: NDArray[np.int64], arms: list[Any]
    ) -> None:
        control = labels == self.control
        self.control_model_ = self._fit_classifier(frame[control], y[control])
        self.arm_models_ = {}
        for arm in arms:
            mask = labels == arm
            self.arm_models_[arm] = self._fit_classifier(frame[mask], y[mask])

    def predict_outcomes(self, X: ArrayLike | pd.DataFrame) -> pd.DataFrame:
        """``P(y=1 | x)`` from the control model and each arm's model (columns: the control label, then the arms)."""
        require_fitted(self)
        frame = as_frame(X)
        models = [self.control_model_, *(self.arm_models_[arm] for arm in self.arms_)]
        return pd.DataFrame(
            np.column_stack([positive_proba(m, self._encode(m, frame)) for m in models]),
            columns=[self.control_, *self.arms_], index=frame.index,
        )

    def _predict_arms(self, frame: pd.DataFrame) -> NDArray[np.float64]:
        base = positive_proba(self.control_model_, self._encode(self.control_model_, frame))
        return np.column_stack(
            [
                positive_proba(model, self._encode(model, frame)) - base
                for model in (self.arm_models_[arm] for arm in self.arms_)
            ]
        )


class XLearner(TLearner):
    """X-learner (Künzel et al. 2019) on top of a T-learner.

    Stage 1 fits outcome models per group. Stage 2 regresses imputed effects,
    ``D1 = y - mu0(x)`` on treated rows and ``D0 = mu1(x) - y`` on control rows,
    with ``effect_estimator`` (LightGBM regressor by default). Uplift is
    ``g(x) * tau0(x) + (1 - g(x)) * tau1(x)`` with ``g`` the propensity of the arm
    among {arm, control}: ``propensity="model"`` fits ``propensity_estimator``
    (default: the outcome classifier) and clips scores to [0.01, 0.99] (the
    number of training rows clipped is kept in ``n_propensity_clipped_``);
    ``"constant"`` uses the arm's share of the training rows, right for
    randomised experiments; a float in (0, 1) fixes it.
    """

    def __init__(
        self,
        estimator: BaseEstimator | None = None,
        *,
        effect_estimator: BaseEstimator | None = None,
        propensity: Literal["model", "constant"] | float = "model",
        propensity_estimator: BaseEstimator | None = None,
        control: Any = 0,
        random_state: int | None = None,
        n_jobs: int = 1,
    ) -> None:
        super().__init__(estimator, control=control, random_state=random_state, n_jobs=n_jobs)
        self.effect_estimator = effect_estimator
        self.propensity = propensity
        self.propensity_estimator = propensity_estimator

    def _regressor(self) -> BaseEstimator:
        seed = self._next_seed()
        if self.effect_estimator is None:
            return default_regressor(seed, self.n_jobs, self._default_params)
        return seeded_clone(self.effect_estimator, seed)

    def _fit_effect(self, frame: pd.DataFrame, target: NDArray[np.float64]) -> BaseEstimator:
        model = self._regressor()
        model.fit(self._encode(model, frame), target)
        return model

    def _fit_arms(
        self, frame: pd.DataFrame, labels: NDArray[Any], y: NDArray[np.int64], arms: list[Any]
    ) -> None:
        propensity = self.propensity
        if not (
            propensity in ("model", "constant") or (isinstance(propensity, float) and 0 < propensity < 1)
        ):
            raise ConfigError(
                f"propensity must be 'model', 'constant' or a float in (0, 1), got {propensity!r}",
                fix="use propensity='constant' for a randomised experiment",
            )
        super()._fit_arms(frame, labels, y, arms)
        control = labels == self.control
        frame_c = frame[control]
        mu1_on_control = {
            arm: positive_proba(self.arm_models_[arm], self._encode(self.arm_models_[arm], frame_c))
            for arm in arms
        }
        self.effect_models_ = {}
        self.propensity_models_ = {}
        self.propensity_constants_ = {}
        self.n_propensity_clipped_ = 0
        for arm in arms:
            treated = labels == arm
            frame_t = frame[treated]
            mu0_on_treated = positive_proba(self.control_model_, self._encode(self.control_model_, frame_t))
            tau1 = self._fit_effect(frame_t, y[treated] - mu0_on_treated)
            tau0 = self._fit_effect(frame_c, mu1_on_control[arm] - y[control])
            self.effect_models_[arm] = (tau0, tau1)
            pair = treated | control
            if propensity == "model":
                model = (
                    seeded_clone(self.propensity_estimator, self._next_seed())
                    if self.propensity_estimator is not None
                    else self._classifier()
                )
                features = self._encode(model, frame[pair])
                model.fit(features, treated[pair].astype(int))
                raw = positive_proba(model, features)
                self.n_propensity_clipped_ += int(((raw < 0.01) | (raw > 0.99)).sum())
                self.propensity_models_[arm] = model
            elif propensity == "constant":
                self.propensity_constants_[arm] = float(treated.sum() / pair.sum())
            else:
                self.propensity_constants_[arm] = float(propensity)

    def _propensity(self, arm: Any, frame: pd.DataFrame) -> NDArray[np.float64]:
        if arm in self.propensity_constants_:
            return np.full(len(frame), self.propensity_constants_[arm])
        model = self.propensity_models_[arm]
        return np.clip(positive_proba(model, self._encode(model, frame)), 0.01, 0.99)

    def _predict_arms(self, frame: pd.DataFrame) -> NDArray[np.float64]:
        columns = []
        for arm in self.arms_:
            tau0, tau1 = self.effect_models_[arm]
            g = self._propensity(arm, frame)
            columns.append(
                g * np.asarray(tau0.predict(self._encode(tau0, frame)))
                + (1 - g) * np.asarray(tau1.predict(self._encode(tau1, frame)))
            )
        return np.column_stack(columns)


class ClassTransformation(BaseUpliftLearner):
    """Class-variable transformation (Jaskowski & Jaroszewicz 2012), one model per arm.

    Target ``z = 1`` for treated responders and control non-responders; with
    equal group sizes ``uplift = 2 P(z=1 | x) - 1``. Unequal groups are
    re-weighted to equal total weight (``0.5 / share`` per row), so the formula
    stays unbiased; that needs an estimator whose ``fit`` takes
    ``sample_weight`` unless the groups are already balanced within 1 %.
    The default LightGBM fit is deliberately smooth (``SMOOTH_LGBM_PARAMS``):
    the transformed label is mostly noise, and on Hillstrom this learner is
    then the most accurate ranker (normalised Qini 0.067, uplift@30% 0.078),
    though its predicted uplifts are compressed toward their mean.
    """

    _default_params = SMOOTH_LGBM_PARAMS

    def _fit_arms(
        self, frame: pd.DataFrame, labels: NDArray[Any], y: NDArray[np.int64], arms: list[Any]
    ) -> None:
        self.arm_models_ = {}
        control = labels == self.control
        for arm in arms:
            treated = labels == arm
            pair = treated | control
            t = treated[pair]
            z = np.where(t, y[pair], 1 - y[pair])
            share = float(t.mean())
            weight = np.where(t, 0.5 / share, 0.5 / (1 - share))
            probe = self.estimator if self.estimator is not None else default_classifier(None, 1)
            if abs(share - 0.5) <= 0.01:
                weight = None
            elif not has_fit_parameter(probe, "sample_weight"):
                raise ModelError(
                    f"arm {arm!r} is {share:.1%} of its pair with control and "
                    f"{type(probe).__name__}.fit takes no sample_weight to rebalance it",
                    fix="use an estimator that accepts sample_weight (LightGBM does) or balance the groups",
                )
            self.arm_models_[arm] = self._fit_classifier(frame[pair], z, sample_weight=weight)

    def _predict_arms(self, frame: pd.DataFrame) -> NDArray[np.float64]:
        return np.column_stack(
            [
                2 * positive_proba(model, self._encode(model, frame)) - 1
                for model in (self.arm_models_[arm] for arm in self.arms_)
            ]
        )
