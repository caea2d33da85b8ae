"""PropensityClassifier, SpendRegressor and the small-data fallback ladder."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

from targetwise.errors import ConfigError, DataValidationError, ModelError, NotFittedError, SchemaError
from targetwise.propensity import (
    ModelCard,
    PropensityClassifier,
    RecencyRuleModel,
    ScoreColumnModel,
    SmallDataWarning,
    SpendRegressor,
    classification_metrics,
)
from targetwise.propensity._tabular import as_binary_target


def planted_customers(n: int, *, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """Customers whose purchase follows a known logistic model of recency, frequency and channel."""
    rng = np.random.default_rng(seed)
    recency = rng.exponential(60, n)
    frequency = rng.poisson(3, n).astype(float)
    channel = rng.choice(["email", "web", "store"], n)
    noise = rng.normal(size=n)
    logit = -0.5 - 0.03 * (recency - 60) + 0.4 * (frequency - 3) + np.where(channel == "store", 1.0, 0.0)
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    X = pd.DataFrame({"recency_days": recency, "frequency": frequency, "channel": channel, "noise": noise})
    return X, y


@pytest.mark.parametrize("model", ["lightgbm", "logistic", "tree", "linear_svm"])
def test_every_model_ranks_planted_customers(model: str) -> None:
    X, y = planted_customers(3000)
    X_test, y_test = planted_customers(2000, seed=1)
    clf = PropensityClassifier(model, n_estimators=100, random_state=0).fit(X, y)
    proba = clf.predict_proba(X_test)
    assert proba.shape == (2000, 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    auc = classification_metrics(y_test, proba[:, 1])["roc_auc"]
    assert auc > 0.80, (model, auc)
    importance = clf.global_importance()
    assert importance["importance"].sum() == pytest.approx(1.0)
    # the pure-noise column is the least important (a single tree may not use it at all)
    assert importance["feature"].iloc[-1] == "noise"
    assert clf.fallback_reason_ is None and clf.model_used_ == model


def test_categorical_levels_frozen_at_fit_and_unseen_level_handled() -> None:
    X, y = planted_customers(2000)
    clf = PropensityClassifier(n_estimators=50, random_state=0).fit(X, y)
    row = X.iloc[[0, 0]].copy()
    row["channel"] = ["store", "telegram"]  # 'telegram' was never seen: treated as missing
    p = clf.predict_proba(row)[:, 1]
    assert np.isfinite(p).all() and p[0] != p[1]
    # pandas category with a different category order gives identical predictions
    as_cat = X.iloc[:50].copy()
    as_cat["channel"] = as_cat["channel"].astype(pd.CategoricalDtype(["web", "store", "email"]))
    np.testing.assert_allclose(clf.predict_proba(as_cat), clf.predict_proba(X.iloc[:50]))


def test_missing_values_are_handled_by_every_model() -> None:
    X, y = planted_customers(2000)
    X.loc[X.index[::7], "frequency"] = np.nan
    X.loc[X.index[::11], "channel"] = None
    for model in ("lightgbm", "logistic"):
        clf = PropensityClassifier(model, n_estimators=50, random_state=0).fit(X, y)
        assert np.isfinite(clf.predict_proba(X)).all()


def test_same_seed_same_predictions_and_sklearn_clone() -> None:
    X, y = planted_customers(1500)
    a = PropensityClassifier(calibration="isotonic", n_estimators=50, random_state=3).fit(X, y)
    b = clone(a).fit(X, y)
    np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X))
    assert b.get_params()["calibration"] == "isotonic"


def test_calibration_improves_brier_of_an_overconfident_model() -> None:
    """A fully grown tree outputs ~0/1 probabilities; held-out calibration must repair them."""
    X, y = planted_customers(6000)
    X_test, y_test = planted_customers(4000, seed=1)
    params = {"model": "tree", "max_depth": 30, "min_samples_leaf": 1, "random_state": 0}
    raw = PropensityClassifier(calibration=None, **params).fit(X, y)
    raw_brier = classification_metrics(y_test, raw.predict_proba(X_test)[:, 1])["brier"]
    for method in ("isotonic", "sigmoid"):
        cal = PropensityClassifier(calibration=method, **params).fit(X, y)
        cal_brier = classification_metrics(y_test, cal.predict_proba(X_test)[:, 1])["brier"]
        assert cal_brier < raw_brier - 0.05, (method, raw_brier, cal_brier)
        report = cal.calibration_report_
        assert report["method"] == method and report["holdout_rows"] == 1200
        assert report["brier_calibrated_holdout"] < report["brier_uncalibrated_holdout"]


def test_linear_svm_needs_calibration_and_gets_probabilities() -> None:
    X, y = planted_customers(2000)
    with pytest.raises(ConfigError, match="needs calibration"):
        PropensityClassifier("linear_svm", calibration=None).fit(X, y)
    p = PropensityClassifier("linear_svm", random_state=0).fit(X, y).predict_proba(X)[:, 1]
    assert p.min() >= 0.0 and p.max() <= 1.0
    # Platt-calibrated: mean prediction close to the observed rate
    assert abs(p.mean() - y.mean()) < 0.03


def test_fallback_with_ten_positives_warns_and_says_why() -> None:
    X, y = planted_customers(400)
    y = np.zeros(400, dtype=int)
    y[np.argsort(X["recency_days"].to_numpy())[:10]] = 1  # the 10 most recent buy
    with pytest.warns(SmallDataWarning, match="fell back to logistic"):
        clf = PropensityClassifier(random_state=0).fit(X, y)
    assert clf.model_used_ == "logistic"
    assert (
        "10 of the rarer class" in clf.fallback_reason_ and "at least 200 rows and 50" in clf.fallback_reason_
    )
    p = clf.predict_proba(X)[:, 1]
    assert classification_metrics(y, p)["roc_auc"] > 0.9
    card = ModelCard.from_model(clf, task="purchase in 30 days")
    assert card.fallback == clf.fallback_reason_
    assert any("fallback logistic" in limit for limit in card.known_limits)


def test_fallback_to_recency_rule_and_score_column() -> None:
    X, _ = planted_customers(400)
    y = (X["recency_days"].rank(method="first") <= 10).astype(int).to_numpy()
    with pytest.warns(SmallDataWarning, match="RecencyRuleModel"):
        clf = PropensityClassifier(fallback=RecencyRuleModel(n_bands=5)).fit(X, y)
    p = clf.predict_proba(X.sort_values("recency_days"))[:, 1]
    assert np.all(np.diff(p) <= 1e-12)  # never increases with recency
    # the 10 positives are all in the most recent band of 80 rows: (10 + 10 * 0.025) / (80 + 10)
    assert p[0] == pytest.approx((10 + 10 * 10 / 400) / 90)
    with pytest.raises(ModelError, match="no feature importances"):
        _ = clf.feature_importances_
    with pytest.raises(NotFittedError, match="RecencyRuleModel is not fitted"):
        RecencyRuleModel().predict_proba(X)

    X["p_alive"] = np.linspace(0.9, 0.1, 400)
    with pytest.warns(SmallDataWarning):
        wrapped = PropensityClassifier(fallback=ScoreColumnModel("p_alive")).fit(X, y)
    np.testing.assert_allclose(wrapped.predict_proba(X)[:, 1], X["p_alive"])


def test_no_learned_model_possible_with_one_positive() -> None:
    X, _ = planted_customers(300)
    y = np.zeros(300, dtype=int)
    y[0] = 1
    with warnings.catch_warnings(), pytest.raises(ModelError, match="RecencyRuleModel"):
        warnings.simplefilter("ignore")
        PropensityClassifier().fit(X, y)


def test_input_errors() -> None:
    X, y = planted_customers(300)
    clf = PropensityClassifier(n_estimators=10, min_positives=5, random_state=0)
    with pytest.raises(NotFittedError, match="not fitted"):
        clf.predict_proba(X)
    with pytest.raises(ConfigError, match="unknown model 'xgboost'"):
        PropensityClassifier("xgboost").fit(X, y)
    with pytest.raises(DataValidationError, match="X has 300 rows but y has 299"):
        clf.fit(X, y[:-1])
    with pytest.raises(DataValidationError, match="binary label"):
        clf.fit(X, np.arange(300) % 3)
    with pytest.raises(DataValidationError, match="missing value"):
        clf.fit(X, pd.Series(y, dtype="float").where(np.arange(300) > 0))
    clf.fit(X, np.where(y == 1, "yes", "no"))  # text labels: 'yes' is the event
    assert clf.n_train_positives_ == int(y.sum())
    # a one-level text label (e.g. a test fold where everyone bought) is the event only if it says so
    np.testing.assert_array_equal(as_binary_target(["yes", "yes"], n_rows=2), [1, 1])
    np.testing.assert_array_equal(as_binary_target(["no"], n_rows=1), [0])
    with pytest.raises(SchemaError, match="lacks 1 feature column"):
        clf.predict_proba(X.drop(columns="noise"))
    with pytest.raises(SchemaError, match="neither numeric nor text"):
        PropensityClassifier().fit(X.assign(when=pd.Timestamp("2024-01-01")), y)


def test_spend_regressor_recovers_planted_spend() -> None:
    rng = np.random.default_rng(0)
    n = 3000
    X = pd.DataFrame({"frequency": rng.poisson(3, n).astype(float), "tier": rng.choice(["a", "b"], n)})
    spend = 20 * X["frequency"] + np.where(X["tier"] == "b", 50.0, 0.0) + rng.normal(0, 5, n)
    for model in ("lightgbm", "ridge"):
        reg = SpendRegressor(model, random_state=0).fit(X.iloc[:2000], spend.iloc[:2000])
        pred = reg.predict(X.iloc[2000:])
        resid = spend.iloc[2000:].to_numpy() - pred
        assert np.sqrt(np.mean(resid**2)) < 7.0, model  # noise sd is 5
        assert reg.feature_importances_.sum() == pytest.approx(1.0)
    with pytest.raises(DataValidationError, match="non-negative"):
        SpendRegressor(objective="tweedie").fit(X, spend - 1000)
    with pytest.raises(NotFittedError):
        SpendRegressor().predict(X)
