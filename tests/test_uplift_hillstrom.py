"""Hillstrom (women's e-mail vs no e-mail, outcome visit): the issue's validation protocol.

70/30 splits stratified on treatment x outcome, split seeds 0..9, scikit-uplift
metric definitions. Reference figures measured by the project with LightGBM
learners: S-learner Qini 0.061 ± 0.010, response model 0.032, random ~0;
uplift@30% 0.072 (S-learner) and 0.066 (scikit-uplift tutorial). The issue's goal
is Qini >= 0.065 and uplift@30% >= 0.075, every uplift learner above the response
model, random within ±0.03 of 0. With targetwise's defaults the best learner is
class transformation (smooth LightGBM fits): Qini 0.067, uplift@30% 0.078 over
the ten splits (benchmarks/results/uplift.md).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.model_selection import train_test_split

from targetwise.campaigns.planner import plan_campaign
from targetwise.uplift import (
    ClassTransformation,
    ResponseModel,
    SLearner,
    TLearner,
    XLearner,
    evaluate_uplift,
)

pytestmark = pytest.mark.slow

DATA = Path(__file__).parent / "data" / "hillstrom" / "hillstrom.csv.gz"
FEATURES = ["recency", "history_segment", "history", "mens", "womens", "zip_code", "newbie", "channel"]


@pytest.fixture(scope="module")
def womens() -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    data = pd.read_csv(DATA)
    rows = data[data["segment"].isin(["Womens E-Mail", "No E-Mail"])].reset_index(drop=True)
    assert len(rows) == 42_693
    t = (rows["segment"] == "Womens E-Mail").to_numpy().astype(int)
    y = rows["visit"].to_numpy()
    # published arm visit rates: 0.1514 vs 0.1062
    assert (y[t == 1].mean(), y[t == 0].mean()) == pytest.approx((0.1514, 0.1062), abs=5e-5)
    return rows[FEATURES], t, y


@pytest.fixture(scope="module")
def ten_splits(womens) -> pd.DataFrame:
    X, t, y = womens
    learners = {"class transformation": ClassTransformation()}
    return evaluate_uplift(learners, X, t, y, n_splits=10, test_size=0.3, k=0.3).summary


def test_best_learner_meets_issue_goals(ten_splits: pd.DataFrame) -> None:
    best = ten_splits.loc["class transformation"]
    assert best["qini_auc_mean"] >= 0.065  # project's best: S-learner 0.061
    assert best["uplift_at_k_mean"] >= 0.075  # project's S-learner 0.072, sklift tutorial 0.066
    assert best["qini_auc_sd"] < 0.02


def test_baselines(ten_splits: pd.DataFrame) -> None:
    response, random = ten_splits.loc["response_model"], ten_splits.loc["random"]
    assert abs(random["qini_auc_mean"]) <= 0.03
    assert ten_splits.loc["class transformation", "qini_auc_mean"] > response["qini_auc_mean"] + 0.02
    assert response["qini_auc_mean"] == pytest.approx(0.032, abs=0.015)


def test_every_learner_beats_response_model_on_the_same_splits(womens) -> None:
    X, t, y = womens
    summary = evaluate_uplift(
        {
            "S-learner": SLearner(),
            "T-learner": TLearner(),
            "X-learner": XLearner(propensity="constant"),
        },
        X,
        t,
        y,
        n_splits=2,
        baselines=True,
    ).summary
    response = summary.loc["response_model", "qini_auc_mean"]
    for name in ["S-learner", "T-learner", "X-learner"]:
        assert summary.loc[name, "qini_auc_mean"] > response, name


def test_planner_captures_more_incremental_visits_than_response_model(womens) -> None:
    X, t, y = womens
    shares: dict[str, list[float]] = {"uplift": [], "response": []}
    for seed in range(2):
        train, test = train_test_split(
            np.arange(len(y)), test_size=0.3, stratify=t * 2 + y, random_state=seed
        )
        y_test, t_test = y[test], t[test]
        total = (y_test[t_test == 1].mean() - y_test[t_test == 0].mean()) * len(test)
        for name, model in [
            ("uplift", ClassTransformation(random_state=seed)),
            ("response", ResponseModel(random_state=seed)),
        ]:
            score = model.fit(X.iloc[train], t[train], y[train]).predict(X.iloc[test])
            plan = plan_campaign(
                pd.Series(score, name="email"),
                contact_cost=0.0,
                value_per_conversion=1.0,
                max_contacts=int(0.3 * len(test)),
                holdout_fraction=0.0,
            )
            chosen = (plan.assignments["action"] == "email").to_numpy()
            assert chosen.sum() == int(0.3 * len(test))
            inside = (
                y_test[chosen & (t_test == 1)].mean() - y_test[chosen & (t_test == 0)].mean()
            ) * chosen.sum()
            shares[name].append(inside / total)
    # project: 56-58 % of incremental visits for uplift targeting at 30 % depth vs 43 % for
    # response; targetwise over ten splits: 51 % vs 44 % (benchmarks/results/uplift.md)
    assert np.mean(shares["uplift"]) > 0.45
    assert np.mean(shares["uplift"]) > np.mean(shares["response"])
