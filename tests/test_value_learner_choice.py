"""The uplift stage's choice of value learner by held-out value Qini (``uplift.value_learner``, issue 24)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from targetwise.errors import ConfigError
from targetwise.runconfig import UPLIFT_VALUE_LEARNERS, RunConfig, UpliftConfig
from targetwise.uplift.value_metrics import value_qini_auc_score
from targetwise.usecases.uplift import (
    VALUE_LEARNERS,
    UpliftResult,
    _fitted_value_learner,
    choose_value_learner,
    value_learner,
)


def _basket_lift_campaign(n: int = 6000, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Who buys is untouched by the e-mail (30 %); the e-mail doubles the basket of customers with x > 0, so the
    planted effect is 0.3 x 50 = +15 for them and 0 for the rest: only a learner whose basket sees the arm finds it."""
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({"x": rng.uniform(-1, 1, n), "noise": rng.normal(size=n)})
    arm = np.where(rng.random(n) < 0.5, "treatment", "control").astype(object)
    lift = 1.0 + ((arm == "treatment") & (X["x"].to_numpy() > 0))
    revenue = np.where(rng.random(n) < 0.3, 50.0 * lift * rng.lognormal(0, 0.2, n), 0.0)
    return X, arm, revenue


def _choose(candidates: tuple[str, ...] = VALUE_LEARNERS, seed: int = 0) -> object:
    X, arm, revenue = _basket_lift_campaign()
    return choose_value_learner(
        X, arm, revenue, arm="treatment", candidates=candidates, holdout_fraction=0.3, leaf=100, random_state=seed
    )


def test_the_chosen_learner_is_the_argmax_of_the_recorded_held_out_qinis() -> None:
    choice = _choose()
    assert choice is not None
    assert list(choice.value_qini_auc) == list(VALUE_LEARNERS)
    assert choice.chosen == max(choice.value_qini_auc, key=choice.value_qini_auc.__getitem__)
    # the arm-blind basket cannot see a basket-only effect: it is not chosen and scores below the winner
    assert choice.chosen != "two_part_pooled"
    assert choice.value_qini_auc["two_part_pooled"] < choice.value_qini_auc[choice.chosen] - 0.01
    # the recorded score is the chosen learner's value Qini on the held-out 30 % (1,800 of 6,000 customers)
    assert len(choice.revenue) == 1800
    assert value_qini_auc_score(choice.revenue, choice.predicted, choice.treated) == pytest.approx(
        choice.value_qini_auc[choice.chosen]
    )


def test_the_choice_is_deterministic_per_seed() -> None:
    first, again = _choose(seed=3), _choose(seed=3)
    assert first.chosen == again.chosen and first.value_qini_auc == again.value_qini_auc
    np.testing.assert_array_equal(first.predicted, again.predicted)


def test_a_pinned_learner_is_the_only_candidate_and_is_fitted() -> None:
    choice = _choose(candidates=("value_t",))
    assert choice.chosen == "value_t" and list(choice.value_qini_auc) == ["value_t"]
    checked = UpliftResult(value_holdout_check={"value_learner": "value_x"})
    assert _fitted_value_learner(checked, UpliftConfig(value_learner="value_t")) == "value_t"
    assert _fitted_value_learner(checked, UpliftConfig(value_learner="auto")) == "value_x"
    unchecked = UpliftResult()
    assert _fitted_value_learner(unchecked, UpliftConfig(value_learner="auto")) == "two_part_shared"
    assert "no holdout check to choose on" in next(iter(unchecked.notes))
    assert UpliftConfig().value_learner == "two_part_shared"  # auto measured no better (value_uplift.md)


def test_a_value_learner_typo_is_one_clear_error() -> None:
    assert UPLIFT_VALUE_LEARNERS == VALUE_LEARNERS
    with pytest.raises(ConfigError, match=r"invalid run config value uplift\.value_learner \(--set\)"):
        RunConfig.load(overrides=["uplift.value_learner=value_xx"])
    assert RunConfig.load(overrides=["uplift.value_learner=auto"]).uplift.value_learner == "auto"
    with pytest.raises(ConfigError, match="unknown value learner 'value_xx'"):
        value_learner("value_xx", 100, 0)
    with pytest.raises(ConfigError, match="unknown value learner"):
        _choose(candidates=("value_xx",))
