"""Value-based uplift: learners for revenue, Qini/uplift/profit curves on money (hand-computed), the
margin planner with per-customer costs (never a negative expected profit), and recovery of the synthetic
retailer's planted per-customer revenue effect."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr
from sklearn.linear_model import LinearRegression, LogisticRegression

from targetwise.campaigns.planner import plan_value_campaign
from targetwise.errors import ConfigError, DataValidationError, ModelError
from targetwise.uplift import SLearner
from targetwise.uplift.value import (
    ValueDRLearner,
    ValueSLearner,
    ValueTLearner,
    ValueTwoPartLearner,
    ValueXLearner,
)
from targetwise.uplift.value_metrics import (
    profit_curve,
    value_qini_auc_score,
    value_qini_curve,
    value_uplift_at_k,
    value_uplift_curve,
)

# four customers ranked A > B > C > D: A treated spent 10, B control spent 4, C treated and D control spent 0
Y = np.array([10.0, 4.0, 0.0, 0.0])
T = np.array([1, 0, 1, 0])
SCORE = np.array([4.0, 3.0, 2.0, 1.0])


def test_value_curves_match_the_hand_computed_case() -> None:
    x, q = value_qini_curve(Y, SCORE, T)
    # n=1: 10; n=2: 10 - 4 * 1/1 = 6; n=3: 10 - 4 * 2/1 = 2; n=4: 10 - 4 * 2/2 = 6
    assert x.tolist() == [0, 1, 2, 3, 4] and q.tolist() == [0, 10, 6, 2, 6]
    _, u = value_uplift_curve(Y, SCORE, T)
    # (mean_T - mean_C) * n: (10 - 0) * 1, (10 - 4) * 2, (5 - 4) * 3, (5 - 2) * 4
    assert u.tolist() == [0, 10, 12, 3, 12]
    assert value_uplift_at_k(Y, SCORE, T, k=2) == 6.0
    curve = profit_curve(Y, SCORE, T, contact_cost=np.array([1.0, 2.0, 0.5, 0.5]))
    assert curve["cost"].tolist() == [0, 1, 3, 3.5, 4]
    assert curve["profit"].tolist() == [0, 9, 9, -0.5, 8]
    # perfect ranking (treated by revenue first, control by revenue last): A, C, D, B -> Qini 0, 10, 10, 10, 6
    # areas: model 0.5*(0+10) + 0.5*(10+6) + 0.5*(6+2) + 0.5*(2+6) = 21; perfect 5 + 10 + 10 + 8 = 33; random 12
    assert value_qini_auc_score(Y, SCORE, T) == pytest.approx((21 - 12) / (33 - 12))


def test_value_metrics_refuse_bad_input() -> None:
    with pytest.raises(DataValidationError, match="y_true has 1 NaN"):
        value_qini_curve(np.array([1.0, np.nan, 0, 0]), SCORE, T)
    with pytest.raises(DataValidationError, match="treatment holds only one group"):
        value_qini_curve(Y, SCORE, np.ones(4, dtype=int))
    with pytest.raises(DataValidationError, match="contact_cost has 1 negative"):
        profit_curve(Y, SCORE, T, contact_cost=np.array([1.0, -1.0, 0, 0]))


def _linear_campaign(n: int = 4000, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({"x": rng.uniform(0, 4, n), "noise": rng.normal(size=n)})
    t = rng.random(n) < 0.5
    effect = 3 + 2 * X["x"].to_numpy()
    y = 2 + X["x"].to_numpy() + t * effect + rng.normal(0, 1, n)
    return X, t.astype(int), y, effect


def test_value_t_x_and_dr_learners_recover_a_linear_effect() -> None:
    X, t, y, effect = _linear_campaign()
    for learner in (
        ValueTLearner(LinearRegression()), ValueXLearner(LinearRegression()), ValueDRLearner(LinearRegression())
    ):
        predicted = learner.fit(X, t, y).predict(X)
        assert np.abs(predicted - effect).max() < 0.3, type(learner).__name__
    outcomes = ValueTLearner(LinearRegression()).fit(X, t, y).predict_outcomes(X)
    assert list(outcomes.columns) == [0, 1]
    np.testing.assert_allclose(outcomes[1] - outcomes[0], effect, atol=0.3)
    # an S-learner without interactions can only shift: its effect is the average, 3 + 2 * E[x] = 7
    s_effect = ValueSLearner(LinearRegression()).fit(X, t, y).predict(X)
    assert np.allclose(s_effect, s_effect[0]) and s_effect[0] == pytest.approx(7.0, abs=0.15)


def test_two_part_learner_multiplies_purchase_probability_by_basket() -> None:
    rng = np.random.default_rng(1)
    n = 20_000
    X = pd.DataFrame({"x": rng.uniform(-1, 1, n)})
    t = (rng.random(n) < 0.5).astype(int)
    def p(x: pd.Series, treated: np.ndarray | int) -> np.ndarray:  # logistic in x, arm and arm * x
        return (1 / (1 + np.exp(-(-1.0 + 0.5 * x + treated * (0.3 + 0.6 * x))))).to_numpy()

    p_buy = p(X["x"], t)
    basket = 50 + 20 * X["x"].to_numpy()
    y = np.where(rng.random(n) < p_buy, basket, 0.0)
    learner = ValueTwoPartLearner(
        SLearner(LogisticRegression(), interactions=True), LinearRegression(), random_state=0
    ).fit(X, t, y)
    outcomes = learner.predict_outcomes(X)
    assert outcomes[1].to_numpy() == pytest.approx(p(X["x"], 1) * basket, rel=0.05)
    assert outcomes[0].to_numpy() == pytest.approx(p(X["x"], 0) * basket, rel=0.05)
    true_effect = (p(X["x"], 1) - p(X["x"], 0)) * basket
    np.testing.assert_allclose(learner.predict(X), true_effect, atol=1.0)
    with pytest.raises(ConfigError, match="basket must be 'pooled', 'shared' or 'per_arm'"):
        ValueTwoPartLearner(basket="mean").fit(X, t, y)
    with pytest.raises(DataValidationError, match="y has 1 missing"):
        ValueTLearner().fit(X.iloc[:4], [0, 1, 0, 1], [1.0, np.nan, 0, 2])
    with pytest.raises(ModelError, match="group '1' has 1 row"):
        ValueTLearner().fit(X.iloc[:4], [0, 1, 0, 0], [1.0, 0, 0, 2])


def test_shared_log_basket_learns_a_multiplicative_basket_lift_with_smearing() -> None:
    """Buyers' baskets are lognormal, ``log b = 3 + 0.5 x + 0.4 [treated] + N(0, 0.6)``: the mean basket is
    ``exp(3 + 0.5 x + 0.4 t) * exp(0.18)``. One log-basket model with the arm as a column recovers it
    (the smearing factor restores the exp(0.18) = 1.197 that exp(E[log b]) misses); a basket model blind
    to the arm ("pooled") cannot see the lift."""
    rng = np.random.default_rng(2)
    n = 20_000
    X = pd.DataFrame({"x": rng.uniform(-1, 1, n)})
    t = (rng.random(n) < 0.5).astype(int)
    p_buy = np.where(t == 1, 0.35, 0.3)
    y = np.where(rng.random(n) < p_buy, np.exp(3 + 0.5 * X["x"] + 0.4 * t + rng.normal(0, 0.6, n)), 0.0)
    def fit(**options: str) -> ValueTwoPartLearner:
        return ValueTwoPartLearner(
            SLearner(LogisticRegression()), LinearRegression(), random_state=0, **options
        ).fit(X, t, y)

    shared = fit(basket="shared", basket_scale="log")
    assert shared.smearing_[None] == pytest.approx(np.exp(0.18), rel=0.02)
    outcomes = shared.predict_outcomes(X)
    basket = np.exp(3 + 0.5 * X["x"].to_numpy() + 0.18)
    np.testing.assert_allclose(outcomes[0], 0.3 * basket, rtol=0.06)
    np.testing.assert_allclose(outcomes[1], 0.35 * basket * np.exp(0.4), rtol=0.06)
    true_effect = (0.35 * np.exp(0.4) - 0.3) * basket
    np.testing.assert_allclose(shared.predict(X), true_effect, rtol=0.08)
    pooled = fit(basket="pooled").predict_outcomes(X)
    np.testing.assert_allclose(pooled[1] / pooled[0], 0.35 / 0.3, rtol=0.06)  # the basket lift is lost
    with pytest.raises(DataValidationError, match="y has 1 negative value"):
        fit(basket="shared", basket_scale="log").fit(X, t, np.where(np.arange(n) == 0, -5.0, y))
    with pytest.raises(ConfigError, match="basket_scale must be 'linear' or 'log'"):
        fit(basket_scale="sqrt")
    with pytest.raises(ConfigError, match="n_folds must be an integer >= 2"):
        ValueDRLearner(LinearRegression(), n_folds=1).fit(X, t, y)


def test_margin_plan_uses_per_customer_costs_and_never_a_negative_profit() -> None:
    ids = [f"c{i}" for i in range(6)]
    margin = pd.Series([10.0, 6.0, 3.0, 2.0, -1.0, 0.5], index=ids, name="email")
    # a fixed 1.0 per contact plus a discount of 10 % of the basket expected if contacted
    basket = pd.Series([20.0, 30.0, 5.0, 25.0, 40.0, 1.0], index=ids)
    cost = pd.DataFrame({"email": 1.0 + 0.1 * basket})
    plan = plan_value_campaign(margin, contact_cost=cost, holdout_fraction=0.0)
    a = plan.assignments
    # profit = margin - cost: 7, 2, 1.5, -1.5, -6, -0.6
    np.testing.assert_allclose(a["expected_profit"].to_numpy(), [7, 2, 1.5, -1.5, np.nan, -0.6], equal_nan=True)
    assert a.index[a["action"] == "email"].tolist() == ["c0", "c1", "c2"]
    assert a.loc[["c3", "c5"], "reason"].tolist() == ["unprofitable", "unprofitable"]
    assert a.loc["c4", "reason"] == "negative_uplift"
    assert plan.outcome == "margin" and plan.expected_incremental_conversions is None
    assert plan.expected_incremental_value == pytest.approx(19.0)
    assert plan.total_cost == pytest.approx(3.0 + 4.0 + 1.5)
    assert plan.expected_profit == pytest.approx(10.5)
    lo, hi = plan.profit_interval
    assert lo <= plan.expected_profit <= hi
    assert "incremental_margin" in plan.profit_curve.columns and "incremental_conversions" not in plan.profit_curve
    # under a budget of 5 the two best fit (cost 3 + 3), and each contacted customer still has profit > 0
    tight = plan_value_campaign(margin, contact_cost=cost, budget=5.0, holdout_fraction=0.0)
    contacted = tight.assignments[tight.assignments["action"] == "email"]
    assert contacted.index.tolist() == ["c0"] and (contacted["expected_profit"] > 0).all()
    assert tight.assignments.loc["c1", "reason"] == "over_budget"
    with pytest.raises(DataValidationError, match="contact_cost lacks 1 customer"):
        plan_value_campaign(margin, contact_cost=cost.iloc[1:])
    with pytest.raises(ConfigError, match="contact_cost must be finite and >= 0"):
        plan_value_campaign(margin, contact_cost=cost - 10)


RECOVERY_CUSTOMERS = 20_000


def _synthetic_campaign(seed: int) -> tuple[pd.DataFrame, np.ndarray, np.ndarray, np.ndarray]:
    """The synthetic retailer's campaign as the uplift stage sees it: the pipeline's features at the day of the
    send (lines before it only), each exposed customer's arm and response revenue, and the planted effect."""
    from features_fixtures import PRODUCT_COLUMNS, backend, derive
    from targetwise.features import customer_features
    from targetwise.synthetic import generate_retailer
    from targetwise.usecases.propensity import feature_columns

    retailer = generate_retailer(RECOVERY_CUSTOMERS, random_state=seed, pii=False)
    sent_day = pd.Timestamp(retailer.params["campaign"]["sent_at"]).floor("D")
    products = retailer.products.reindex(columns=PRODUCT_COLUMNS)
    features = customer_features(backend(derive(retailer.transactions), products), sent_day).to_pandas()
    features = features.set_index("customer_id")
    exposed = retailer.campaign_exposures.set_index("customer_id").sort_index()
    exposed = exposed[exposed.index.isin(features.index)]
    revenue = retailer.responses.groupby("customer_id")["revenue"].sum().reindex(exposed.index).fillna(0.0)
    X = features.loc[exposed.index, feature_columns(features.reset_index())]
    planted = retailer.truth.set_index("customer_id").loc[exposed.index, "true_revenue_uplift"]
    return X, exposed["arm"].to_numpy(dtype=object), revenue.to_numpy(dtype=float), planted.to_numpy(dtype=float)


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_planted_revenue_effect_of_the_synthetic_retailer_is_recovered(seed: int) -> None:
    """The generator plants each customer's effect on revenue over the campaign window
    (``truth.true_revenue_uplift``: the conversion effect by type, negative for the loyal high spenders,
    and the voucher's basket lift by type, times the customer's basket). The pipeline's value learner
    (conversion S-learner with arm x feature interactions times one log-basket model with the arm as a
    column), fitted on the campaign alone, ranks customers like that truth at each seed; the same
    predictions shuffled do not, and the loyal high spenders, whose planted effect is negative, come out
    below the customers the voucher helps. benchmarks/results/value_uplift.md has 10 seeds at 20,000."""
    from targetwise.runconfig import UpliftConfig
    from targetwise.usecases.uplift import _value_learner, min_leaf

    X, arm, revenue, planted = _synthetic_campaign(seed)
    learner = _value_learner(min_leaf(len(X), UpliftConfig()), seed).fit(X, arm, revenue)
    predicted = learner.predict(X)
    assert spearmanr(predicted, planted).statistic >= 0.6
    shuffled = np.random.default_rng(seed).permutation(predicted)
    assert abs(spearmanr(shuffled, planted).statistic) < 0.05
    assert predicted[planted < 0].mean() < predicted[planted > 0].mean() - 3.0
