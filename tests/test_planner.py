"""Budget planner: hand-computed plans, holdout properties, sleeping dogs, errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from lightgbm import LGBMClassifier

from targetwise.campaigns.planner import plan_campaign
from targetwise.errors import ConfigError, DataValidationError
from targetwise.uplift import SLearner

IDS = pd.Index([f"c{i}" for i in range(6)], name="customer_id")
# value 10 per conversion, cost 1 per contact -> expected profit 2, 1, 0, -0.5 for c0..c3
UPLIFT = pd.Series([0.3, 0.2, 0.1, 0.05, -0.1, 0.0], index=IDS, name="email")


def test_hand_computed_plan() -> None:
    plan = plan_campaign(
        UPLIFT, contact_cost=1.0, value_per_conversion=10.0, holdout_fraction=0.0, random_state=0
    )
    a = plan.assignments
    assert a["action"].tolist() == [
        "email",
        "email",
        "not_contacted",
        "not_contacted",
        "not_contacted",
        "not_contacted",
    ]
    assert a["reason"].tolist() == [
        "contact",
        "contact",
        "unprofitable",
        "unprofitable",
        "negative_uplift",
        "no_uplift",
    ]
    assert a["rank"].tolist()[:4] == [1, 2, 3, 4] and a["rank"].isna().tolist()[4:] == [True, True]
    # cumulative profit 0, 2, 3, 3, 2.5: the first maximum (fewest contacts) wins
    np.testing.assert_allclose(plan.profit_curve["profit"], [0, 2, 3, 3, 2.5])
    np.testing.assert_allclose(plan.profit_curve["cost"], [0, 1, 2, 3, 4])
    np.testing.assert_allclose(plan.profit_curve["incremental_conversions"], [0, 0.3, 0.5, 0.6, 0.65])
    assert plan.chosen_depth == 2 and plan.n_contacted == 2 and plan.n_holdout == 0
    assert plan.expected_incremental_conversions == pytest.approx(0.5)
    assert plan.expected_profit == pytest.approx(3.0)
    assert plan.total_cost == pytest.approx(2.0)
    assert plan.contacted().index.tolist() == ["c0", "c1"]


def test_budget_and_max_contacts_limit_depth() -> None:
    plan = plan_campaign(
        UPLIFT, contact_cost=1.0, value_per_conversion=10.0, budget=1.5, holdout_fraction=0.0
    )
    assert plan.chosen_depth == 1
    assert plan.assignments.loc["c1", "reason"] == "over_budget"
    assert plan.profit_curve["feasible"].tolist() == [True, True, False, False, False]
    plan = plan_campaign(
        UPLIFT, contact_cost=1.0, value_per_conversion=10.0, max_contacts=1, holdout_fraction=0.0
    )
    assert plan.chosen_depth == 1
    assert plan.assignments.loc["c1", "reason"] == "over_max_contacts"


def test_multi_arm_costs_and_customer_values() -> None:
    uplift = pd.DataFrame({"A": [0.2, 0.1, -0.3], "B": [0.3, 0.4, -0.1]}, index=["x", "y", "z"])
    clv = pd.Series({"x": 10.0, "y": 100.0, "z": 50.0})
    plan = plan_campaign(
        uplift, contact_cost={"A": 1.0, "B": 3.0}, value_per_conversion=clv, holdout_fraction=0.0
    )
    # x: A 0.2*10-1 = 1 vs B 0.3*10-3 = 0 -> A ; y: A 10-1 = 9 vs B 40-3 = 37 -> B ; z: sleeping dog
    assert plan.assignments["action"].tolist() == ["A", "B", "not_contacted"]
    assert plan.assignments.loc["z", "reason"] == "negative_uplift"
    assert plan.expected_profit == pytest.approx(38.0)
    assert plan.expected_incremental_conversions == pytest.approx(0.6)
    assert plan.assignments["rank"].tolist()[:2] == [2, 1]


def test_holdout_is_random_subset_of_would_be_contacted() -> None:
    rng = np.random.default_rng(0)
    uplift = pd.Series(rng.uniform(0.01, 0.2, 2000), index=pd.RangeIndex(2000), name="email")
    plan = plan_campaign(
        uplift, contact_cost=0.0, value_per_conversion=1.0, max_contacts=1000, random_state=1
    )
    top = set(uplift.sort_values(ascending=False).index[:1000])
    held = plan.assignments.index[plan.assignments["action"] == "holdout"]
    contacted = plan.contacted().index
    assert plan.n_holdout == len(held) == 100 and plan.n_contacted == len(contacted) == 900
    assert set(held) <= top and set(contacted) <= top and not set(held) & set(contacted)
    # random, not the tail: the held-out uplift spans the top set like the contacted one does
    assert uplift[held].mean() == pytest.approx(uplift[contacted].mean(), abs=0.01)
    again = plan_campaign(
        uplift, contact_cost=0.0, value_per_conversion=1.0, max_contacts=1000, random_state=1
    )
    other = plan_campaign(
        uplift, contact_cost=0.0, value_per_conversion=1.0, max_contacts=1000, random_state=2
    )
    assert again.assignments.equals(plan.assignments)
    assert not other.assignments["action"].equals(plan.assignments["action"])
    # expected figures cover contacted customers only
    assert plan.expected_incremental_conversions == pytest.approx(uplift[contacted].sum())


def test_intervals_bootstrap_and_learner_bounds() -> None:
    rng = np.random.default_rng(4)
    uplift = pd.Series(rng.uniform(0.0, 0.1, 500) + 1e-3, name="email")
    plan = plan_campaign(
        uplift, contact_cost=0.01, value_per_conversion=1.0, holdout_fraction=0.1, random_state=0
    )
    low, high = plan.incremental_conversions_interval
    assert plan.interval_method == "bootstrap_customers"
    assert low < plan.expected_incremental_conversions < high
    low_p, high_p = plan.profit_interval
    assert low_p < plan.expected_profit < high_p
    bounded = plan_campaign(
        uplift,
        contact_cost=0.01,
        value_per_conversion=1.0,
        holdout_fraction=0.1,
        uplift_lower=uplift - 0.01,
        uplift_upper=uplift + 0.02,
        random_state=0,
    )
    n = bounded.n_contacted
    assert bounded.interval_method == "learner_bounds"
    assert bounded.incremental_conversions_interval == pytest.approx(
        (
            bounded.expected_incremental_conversions - 0.01 * n,
            bounded.expected_incremental_conversions + 0.02 * n,
        )
    )


def test_planted_sleeping_dogs_are_never_contacted() -> None:
    rng = np.random.default_rng(11)
    n = 6000
    X = pd.DataFrame({"x1": rng.uniform(-1, 1, n), "annoyed": rng.integers(0, 2, n)})
    true_uplift = np.where(X["annoyed"] == 1, -0.2, np.where(X["x1"] > 0, 0.2, 0.02))
    t = rng.integers(0, 2, n)
    y = (rng.random(n) < 0.3 + t * true_uplift).astype(int)
    learner = SLearner(
        LGBMClassifier(
            n_estimators=60, learning_rate=0.1, num_leaves=4, min_child_samples=50, verbose=-1, n_jobs=1
        ),
        random_state=0,
    ).fit(X, t, y)
    predicted = pd.Series(learner.predict(X), index=X.index, name="email")
    plan = plan_campaign(predicted, contact_cost=0.01, value_per_conversion=1.0, random_state=0)
    touched = plan.assignments["action"] != "not_contacted"
    annoyed = (X["annoyed"] == 1).to_numpy()
    assert touched[annoyed].mean() < 0.02
    assert touched[(X["x1"] > 0.1).to_numpy() & ~annoyed].mean() > 0.95
    # with the true uplift the rule is exact: no sleeping dog is contacted or held out
    exact = plan_campaign(pd.Series(true_uplift, name="email"), contact_cost=0.01, value_per_conversion=1.0)
    assert (exact.assignments["action"][annoyed] == "not_contacted").all()
    assert (exact.assignments["reason"][annoyed] == "negative_uplift").all()


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"contact_cost": -1.0}, ConfigError, "contact_cost must be finite and >= 0"),
        ({"contact_cost": {"other": 1.0}}, ConfigError, "lacks arm"),
        ({"holdout_fraction": 0.95}, ConfigError, r"holdout_fraction must lie in \[0, 0.9\]"),
        ({"holdout_fraction": -0.1}, ConfigError, "holdout_fraction"),
        ({"budget": -5.0}, ConfigError, "budget"),
        ({"max_contacts": -1}, ConfigError, "max_contacts"),
        ({"value_per_conversion": -2.0}, DataValidationError, "value_per_conversion"),
        ({"value_per_conversion": pd.Series({"c0": 1.0})}, DataValidationError, "lacks 5 customer"),
        ({"uplift_lower": UPLIFT}, ConfigError, "both"),
    ],
)
def test_errors(kwargs: dict, error: type, message: str) -> None:
    arguments = {"contact_cost": 1.0, "value_per_conversion": 10.0, **kwargs}
    with pytest.raises(error, match=message):
        plan_campaign(UPLIFT, **arguments)


def test_bad_uplift_input() -> None:
    with pytest.raises(DataValidationError, match="empty"):
        plan_campaign(UPLIFT.iloc[:0], contact_cost=1.0, value_per_conversion=1.0)
    with pytest.raises(DataValidationError, match="missing or infinite"):
        plan_campaign(UPLIFT.replace(0.0, np.nan), contact_cost=1.0, value_per_conversion=1.0)
    with pytest.raises(DataValidationError, match="duplicated customer"):
        plan_campaign(pd.Series([0.1, 0.2], index=["a", "a"]), contact_cost=1.0, value_per_conversion=1.0)
    with pytest.raises(DataValidationError, match="Series"):
        plan_campaign([0.1, 0.2], contact_cost=1.0, value_per_conversion=1.0)  # type: ignore[arg-type]


def test_plot_profit_curve_marks_chosen_depth() -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from targetwise.campaigns.planner import plot_profit_curve

    plan = plan_campaign(
        UPLIFT, contact_cost=1.0, value_per_conversion=10.0, budget=1.5, holdout_fraction=0.0
    )
    ax = plot_profit_curve(plan)
    feasible, infeasible, chosen = ax.get_lines()
    np.testing.assert_allclose(feasible.get_ydata(), [0, 2, np.nan, np.nan, np.nan])
    np.testing.assert_allclose(infeasible.get_ydata(), [np.nan, np.nan, 3, 3, 2.5])
    assert list(chosen.get_xdata()) == [1, 1]
    plt.close("all")
