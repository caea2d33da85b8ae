"""Meta-learners on synthetic data with planted heterogeneous effects.

Planted truth (base response rate 0.20, or 0.50 where ``x2 > 0``: "sure things"
a response model chases but uplift models should ignore):
* ``x1 > 0.3``: e-mail adds +0.25 (persuadables);
* ``group == "c"``: e-mail removes 0.20 (sleeping dogs);
* elsewhere: no effect.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression

from targetwise.errors import ConfigError, DataValidationError, ModelError, NotFittedError
from targetwise.uplift import (
    ClassTransformation,
    RandomUplift,
    ResponseModel,
    SLearner,
    TLearner,
    XLearner,
    evaluate_uplift,
    qini_auc_score,
)

SMALL = {"n_estimators": 60, "learning_rate": 0.1, "num_leaves": 4, "min_child_samples": 50, "verbose": -1}


def _lgbm():
    from lightgbm import LGBMClassifier

    return LGBMClassifier(**SMALL, n_jobs=1)


def _lgbm_regressor():
    from lightgbm import LGBMRegressor

    return LGBMRegressor(**SMALL, n_jobs=1)


def planted(
    n: int, seed: int, arms: tuple[str, ...] = ("email",)
) -> tuple[pd.DataFrame, np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(
        {
            "x1": rng.uniform(-1, 1, n),
            "x2": rng.normal(size=n),
            "group": pd.Categorical(rng.choice(["a", "b", "c"], n)),
            "channel": rng.choice(["web", "phone"], n).astype(object),
        }
    )
    labels = np.array(("none", *arms), dtype=object)
    treatment = labels[rng.integers(0, len(labels), n)]
    effect = np.zeros(n)
    if len(arms) == 1:
        effect = np.where(X["x1"] > 0.3, 0.25, 0.0) - np.where(X["group"] == "c", 0.2, 0.0)
        effect = np.where(treatment == "none", 0.0, effect)
        true_uplift = np.where(X["x1"] > 0.3, 0.25, 0.0) - np.where(X["group"] == "c", 0.2, 0.0)
    else:  # outside group c arm A works for x1 > 0 and arm B for x1 <= 0; both hurt group c
        in_c = (X["group"] == "c").to_numpy()
        per_arm = {
            "A": np.where(in_c, -0.2, np.where(X["x1"] > 0, 0.3, 0.0)),
            "B": np.where(in_c, -0.2, np.where(X["x1"] <= 0, 0.3, 0.0)),
        }
        for arm, values in per_arm.items():
            effect = np.where(treatment == arm, values, effect)
        true_uplift = np.column_stack([per_arm["A"], per_arm["B"]])
    base = np.where(X["x2"] > 0, 0.5, 0.2)
    y = (rng.random(n) < base + effect).astype(int)
    return X, treatment, y, true_uplift


LEARNERS = {
    "S": lambda: SLearner(_lgbm(), control="none", random_state=0),
    "S-interactions": lambda: SLearner(_lgbm(), interactions=True, control="none", random_state=0),
    "T": lambda: TLearner(_lgbm(), control="none", random_state=0),
    "X": lambda: XLearner(
        _lgbm(), effect_estimator=_lgbm_regressor(), propensity="constant", control="none", random_state=0
    ),
    "CT": lambda: ClassTransformation(_lgbm(), control="none", random_state=0),
}


@pytest.fixture(scope="module")
def binary_data() -> tuple[pd.DataFrame, np.ndarray, np.ndarray, np.ndarray]:
    return planted(6000, seed=1)


@pytest.mark.parametrize("name", list(LEARNERS))
def test_learners_recover_planted_effects(name: str, binary_data) -> None:
    X, treatment, y, _ = binary_data
    model = LEARNERS[name]().fit(X, treatment, y)
    X_test, _, _, truth = planted(3000, seed=2)
    uplift = model.predict(X_test)
    assert uplift.shape == (3000,)
    persuadable = truth == 0.25
    sleeping = truth == -0.2
    neutral = truth == 0
    # A plain S-learner shrinks effects toward 0 (the treatment indicator competes with
    # every feature for splits), so it gets a wider tolerance on the effect sizes.
    tolerance = 0.1 if name == "S" else 0.08
    assert uplift[persuadable].mean() == pytest.approx(0.25, abs=tolerance)
    assert uplift[sleeping].mean() == pytest.approx(-0.2, abs=tolerance)
    assert abs(uplift[neutral].mean()) < 0.06
    assert np.corrcoef(uplift, truth)[0, 1] > 0.7


def test_uplift_learner_beats_response_model_and_random_on_planted_data() -> None:
    X, treatment, y, truth = planted(4000, seed=5)
    t = (treatment != "none").astype(int)
    result = evaluate_uplift(
        {"S": SLearner(_lgbm(), random_state=0)},
        X,
        t,
        y,
        n_splits=3,
        baselines=True,
        random_state=0,
    )
    summary = result.summary
    assert list(summary.index) == ["S", "response_model", "random"]
    # The normalised Qini of the *true* uplift is the ceiling a model can reach here.
    oracle = qini_auc_score(y, truth, t)
    assert summary.loc["S", "qini_auc_mean"] > 0.7 * oracle
    assert summary.loc["S", "qini_auc_mean"] > summary.loc["response_model", "qini_auc_mean"] + 0.03
    assert abs(summary.loc["random", "qini_auc_mean"]) < 0.1
    assert len(result.scores) == 9
    assert (result.scores["fit_seconds"] >= 0).all()


@pytest.fixture(scope="module")
def three_arms() -> tuple[pd.DataFrame, np.ndarray, np.ndarray, np.ndarray]:
    return planted(9000, seed=3, arms=("A", "B"))


@pytest.mark.parametrize("name", ["S", "T", "X", "CT"])
def test_multi_arm_predict_and_best_arm(name: str, three_arms) -> None:
    X, treatment, y, _ = three_arms
    model = LEARNERS[name]().fit(X, treatment, y)
    assert model.arms_ == ["A", "B"]
    X_test, _, _, _ = planted(2000, seed=4, arms=("A", "B"))
    uplift = model.predict(X_test)
    assert isinstance(uplift, pd.DataFrame)
    assert list(uplift.columns) == ["A", "B"] and uplift.index.equals(X_test.index)
    best = model.best_arm(X_test)
    not_c = (X_test["group"] != "c").to_numpy() & (np.abs(X_test["x1"].to_numpy()) > 0.2)
    expected = np.where(X_test["x1"] > 0, "A", "B")
    assert (best[not_c].to_numpy() == expected[not_c]).mean() > 0.85
    # Sleeping dogs for both arms: most get the control label.
    sleeping = (X_test["group"] == "c").to_numpy()
    assert (best[sleeping] == "none").mean() > 0.8
    # best_arm agrees with predict: the control label exactly where every arm is <= 0.
    np.testing.assert_array_equal(best == "none", (uplift.to_numpy() <= 0).all(axis=1))


def test_sklearn_estimator_gets_one_hot_categoricals(binary_data) -> None:
    X, treatment, y, truth = binary_data
    model = TLearner(LogisticRegression(max_iter=500), control="none").fit(X, treatment, y)
    uplift = model.predict(X)
    # Logistic regression cannot represent the x1 > 0.3 step exactly, but the sign pattern holds.
    assert uplift[truth == 0.25].mean() > 0.1
    assert uplift[truth == -0.2].mean() < -0.05
    encoded = model.encoder_.transform(X, native_categorical=False)
    assert {"group=a", "group=b", "group=c", "channel=phone", "channel=web"} <= set(encoded.columns)


def test_unseen_category_warns_with_count(binary_data) -> None:
    X, treatment, y, _ = binary_data
    model = SLearner(_lgbm(), control="none", random_state=0).fit(X, treatment, y)
    new = X.head(5).assign(channel=["web", "fax", "fax", "phone", "web"])
    with pytest.warns(UserWarning, match="2 value"):
        model.predict(new)


def test_reproducible_and_sklearn_contract(binary_data) -> None:
    X, treatment, y, _ = binary_data
    first = SLearner(control="none", random_state=7).fit(X, treatment, y).predict(X.head(50))
    second = clone(SLearner(control="none", random_state=7)).fit(X, treatment, y).predict(X.head(50))
    np.testing.assert_array_equal(first, second)
    learner = XLearner(propensity="constant", control="none", random_state=1)
    assert learner.get_params()["propensity"] == "constant"
    fitted = learner.fit(X, treatment, y)
    assert fitted is learner and learner.n_features_in_ == 4
    assert list(learner.feature_names_in_) == ["x1", "x2", "group", "channel"]
    assert learner.propensity_constants_["email"] == pytest.approx((treatment == "email").mean(), abs=1e-12)


def test_x_learner_propensity_model_is_near_half_on_randomised_data(binary_data) -> None:
    X, treatment, y, _ = binary_data
    model = XLearner(_lgbm(), propensity="model", control="none", random_state=0).fit(X, treatment, y)
    g = model._propensity("email", X)
    assert abs(g.mean() - (treatment == "email").mean()) < 0.02
    assert model.n_propensity_clipped_ == 0


@pytest.mark.parametrize(
    "cls", [SLearner, TLearner, XLearner, ClassTransformation, ResponseModel, RandomUplift]
)
def test_not_fitted(cls) -> None:
    with pytest.raises(NotFittedError, match="not fitted"):
        cls().predict(np.zeros((2, 2)))


def test_input_errors(binary_data) -> None:
    X, treatment, y, _ = binary_data
    with pytest.raises(DataValidationError, match="control label 0"):
        SLearner().fit(X, treatment, y)
    with pytest.raises(DataValidationError, match="binary 0/1"):
        SLearner(control="none").fit(X, treatment, y * 2)
    with pytest.raises(DataValidationError, match="one per row"):
        SLearner(control="none").fit(X, treatment[:-1], y)
    with pytest.raises(DataValidationError, match="only the control"):
        SLearner(control="none").fit(X, np.full(len(X), "none", dtype=object), y)
    with pytest.raises(DataValidationError, match="empty"):
        SLearner().fit(X.iloc[:0], treatment[:0], y[:0])
    with pytest.raises(ModelError, match="needs both 0 and 1"):
        TLearner(control="none").fit(X, treatment, np.where(treatment == "none", 0, y))
    with pytest.raises(ConfigError, match="propensity"):
        XLearner(control="none", propensity=1.5).fit(X, treatment, y)
    model = SLearner(_lgbm(), control="none").fit(X, treatment, y)
    with pytest.raises(DataValidationError, match="lacks feature"):
        model.predict(X.drop(columns=["x2"]))


def test_class_transformation_rejects_unbalanced_without_weights() -> None:
    from sklearn.neighbors import KNeighborsClassifier

    X, _, y, _ = planted(600, seed=9)
    unbalanced = np.where(np.arange(600) < 150, "none", "email").astype(object)
    with pytest.raises(ModelError, match="sample_weight"):
        ClassTransformation(KNeighborsClassifier(), control="none").fit(
            X.drop(columns=["group", "channel"]), unbalanced, y
        )
