"""Shared API checks over every propensity estimator, and the facade's __all__."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

import targetwise.propensity as facade
import targetwise.propensity as package
from targetwise.errors import NotFittedError
from targetwise.propensity import (
    BudgetedSearch,
    ImportanceSelector,
    PropensityClassifier,
    RecencyRuleModel,
    ScoreColumnModel,
    SpendRegressor,
    regression_metrics,
)


def test_facade_exports_exactly_the_package_api() -> None:
    assert sorted(facade.__all__) == sorted(package.__all__)
    for name in facade.__all__:
        obj = getattr(facade, name)
        assert obj is getattr(package, name)
        if callable(obj):
            assert obj.__doc__ and obj.__doc__.strip(), f"{name} has no docstring"


ESTIMATORS = [
    PropensityClassifier("logistic", min_rows=20, min_positives=5),
    RecencyRuleModel(n_bands=3),
    ScoreColumnModel("p_alive"),
    # one candidate: the search itself is tested in test_propensity_validation; with several
    # near-tied candidates, BLAS rounding can flip which one wins
    BudgetedSearch(PropensityClassifier("logistic", min_rows=20, min_positives=5), {"C": [1.0]}, min_rows=60),
    ImportanceSelector(PropensityClassifier("logistic", min_rows=20, min_positives=5)),
]


@pytest.fixture(scope="module")
def small() -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"recency_days": rng.uniform(0, 100, 120), "p_alive": rng.uniform(0, 1, 120)})
    y = (X["recency_days"] < 40).astype(int).to_numpy()
    return X, y


@pytest.mark.parametrize("estimator", ESTIMATORS, ids=lambda e: type(e).__name__)
def test_sklearn_contract(estimator, small) -> None:
    X, y = small
    params = estimator.get_params(deep=False)
    fresh = clone(estimator)
    assert fresh.get_params(deep=False).keys() == params.keys()
    with pytest.raises(NotFittedError, match="not fitted"):
        fresh.predict_proba(X)
    assert fresh.fit(X, y) is fresh  # fit returns self
    proba = fresh.predict_proba(X)
    assert proba.shape == (120, 2) and np.allclose(proba.sum(axis=1), 1.0)
    assert ((proba >= 0) & (proba <= 1)).all()
    assert set(np.unique(fresh.predict(X))) <= {0, 1}
    # fitting does not mutate the constructor parameters
    assert estimator.get_params(deep=False).keys() == params.keys()
    np.testing.assert_allclose(clone(estimator).fit(X, y).predict_proba(X), proba, atol=1e-9)  # deterministic


def test_regressor_contract(small) -> None:
    X, _ = small
    target = 3.0 * X["recency_days"].to_numpy()
    reg = SpendRegressor("ridge")
    with pytest.raises(NotFittedError, match="not fitted"):
        reg.predict(X)
    assert reg.fit(X, target) is reg
    # ridge (alpha=1 on 120 standardised rows) shrinks the slope by ~1 %, no more
    assert regression_metrics(target, reg.predict(X))["r2"] > 0.999
