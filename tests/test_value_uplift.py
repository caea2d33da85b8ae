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
from targetwise.uplift.value import ValueSLearner, ValueTLearner, ValueTwoPartLearner, ValueXLearner
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


def test_value_t_and_x_learners_recover_a_linear_effect() -> None:
    X, t, y, effect = _linear_campaign()
    for learner in (ValueTLearner(LinearRegression()), ValueXLearner(LinearRegression())):
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
    with pytest.raises(ConfigError, match="basket must be 'pooled' or 'per_arm'"):
        ValueTwoPartLearner(basket="mean").fit(X, t, y)
    with pytest.raises(DataValidationError, match="y has 1 missing"):
        ValueTLearner().fit(X.iloc[:4], [0, 1, 0, 1], [1.0, np.nan, 0, 2])
    with pytest.raises(ModelError, match="group '1' has 1 row"):
        ValueTLearner().fit(X.iloc[:4], [0, 1, 0, 0], [1.0, 0, 0, 2])


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


@pytest.mark.slow
def test_the_planted_revenue_effect_of_the_synthetic_retailer_is_recovered() -> None:
    """The generator plants each customer's effect on revenue over the campaign window
    (``truth.true_revenue_uplift``: the conversion effect by type and the voucher's basket lift by
    type, times the customer's basket). The pipeline's value learner (two-part: who buys from
    every customer, how much from the buyers), fitted on the campaign alone, ranks customers like
    that truth."""
    from targetwise.synthetic import generate_retailer
    from targetwise.usecases.uplift import _value_learner

    retailer = generate_retailer(20_000, random_state=0, pii=False)
    sent = pd.Timestamp(retailer.params["campaign"]["sent_at"])
    X = _features_at_send(retailer, sent)
    exposed = retailer.campaign_exposures.set_index("customer_id")
    revenue = retailer.responses.groupby("customer_id")["revenue"].sum().reindex(exposed.index).fillna(0.0)
    X = X.reindex(exposed.index).fillna(0.0)
    learner = _value_learner(300, 0).fit(X, exposed["arm"].to_numpy(), revenue.to_numpy())
    predicted = learner.predict(X)
    planted = retailer.truth.set_index("customer_id").loc[exposed.index, "true_revenue_uplift"]
    assert spearmanr(predicted, planted).statistic >= 0.6


def _features_at_send(retailer, sent: pd.Timestamp) -> pd.DataFrame:
    """Per customer, from lines before the send: orders, recency, tenure, order value, lines per order,
    units and price per line, return share, channel and category shares."""
    tx = retailer.transactions
    tx = tx[tx["customer_id"].notna() & (tx["ordered_at"] < sent) & (tx["product_id"] != "POST")]
    tx = tx.assign(amount=tx["quantity"] * tx["unit_price"], is_return=tx["quantity"] < 0)
    category = retailer.products.set_index("product_id")["category"]
    sales = tx[~tx["is_return"]].assign(category=lambda f: f["product_id"].map(category).astype(str))
    orders = sales.groupby(["customer_id", "order_id"]).agg(
        at=("ordered_at", "min"), amount=("amount", "sum"), lines=("amount", "size"), channel=("channel", "first")
    ).reset_index()
    by = orders.groupby("customer_id")
    X = pd.DataFrame({
        "orders": by.size(), "recency_days": (sent - by["at"].max()).dt.days,
        "tenure_days": (sent - by["at"].min()).dt.days, "order_value": by["amount"].mean(),
        "lines_per_order": by["lines"].mean(),
    })  # fmt: skip
    X = X.join(pd.crosstab(orders["customer_id"], orders["channel"], normalize="index").add_suffix("_share"))
    X = X.join(pd.crosstab(sales["customer_id"], sales["category"], values=sales["amount"], aggfunc="sum",
                           normalize="index").add_prefix("category_"))
    per_line = sales.groupby("customer_id").agg(units=("quantity", "mean"), price=("unit_price", "mean"))
    return X.join(per_line).join(tx.groupby("customer_id")["is_return"].mean().rename("return_share"))
