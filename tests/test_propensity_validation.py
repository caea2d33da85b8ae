"""compare_models, the out-of-time backtest, budgeted tuning and feature selection."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import pandas as pd
import pytest

from targetwise.errors import ConfigError, DataValidationError, ModelError, SchemaError
from targetwise.propensity import (
    BudgetedSearch,
    ImportanceSelector,
    PropensityClassifier,
    RecencyRuleModel,
    backtest,
    compare_models,
    time_ordered_split,
)

CUTOFFS = pd.date_range("2024-01-01", periods=6, freq="30D")  # 30 days apart


def snapshots(n_customers: int = 300, *, seed: int = 0) -> pd.DataFrame:
    """One row per customer per cutoff; purchase within 30 days driven by recency and frequency."""
    rng = np.random.default_rng(seed)
    parts = []
    for cutoff in CUTOFFS:
        recency = rng.exponential(50, n_customers)
        frequency = rng.poisson(2, n_customers).astype(float)
        logit = 1.0 - 0.04 * recency + 0.5 * frequency
        bought = (rng.random(n_customers) < 1 / (1 + np.exp(-logit))).astype(int)
        parts.append(
            pd.DataFrame(
                {
                    "customer_id": [f"c{i}" for i in range(n_customers)],
                    "cutoff": cutoff,
                    "recency_days": recency,
                    "frequency": frequency,
                    "purchased_30d": bought,
                }
            )
        )
    return pd.concat(parts, ignore_index=True)


FEATURES = ["recency_days", "frequency"]


def test_backtest_trains_only_on_closed_label_windows() -> None:
    snaps = snapshots()
    result = backtest(
        snaps,
        label_col="purchased_30d",
        feature_cols=FEATURES,
        horizon_days=30,
        n_test_cutoffs=2,
        models=["logistic", RecencyRuleModel()],
        id_col="customer_id",
    )
    m = result.metrics
    assert sorted(m["test_cutoff"].unique()) == list(CUTOFFS[-2:])
    # cutoffs are exactly 30 days apart: the one just before the test cutoff closes on it and is allowed
    last = m[m["test_cutoff"] == CUTOFFS[-1]]
    assert (last["last_train_cutoff"] == CUTOFFS[-2]).all()
    assert (last["train_rows"] == 5 * 300).all()
    assert (m["last_train_cutoff"] + pd.Timedelta(days=30) <= m["test_cutoff"]).all()
    summary = result.summary()
    assert summary.loc["logistic", "roc_auc"] > summary.loc["RecencyRuleModel", "roc_auc"] > 0.7
    preds = result.predictions
    assert len(preds) == 2 * 2 * 300 and set(preds["customer_id"]) == {f"c{i}" for i in range(300)}


def test_backtest_with_longer_horizon_skips_unclosed_windows() -> None:
    result = backtest(
        snapshots(), label_col="purchased_30d", feature_cols=FEATURES, horizon_days=45, models=["logistic"]
    )
    row = result.metrics.iloc[0]
    # a 45-day window from the previous cutoff (30 days earlier) has not closed: it is skipped
    assert row["last_train_cutoff"] == CUTOFFS[-3] and row["train_rows"] == 4 * 300


def test_backtest_refuses_overlapping_label_windows() -> None:
    with pytest.raises(DataValidationError, match="label overlap leakage"):
        backtest(
            snapshots(),
            label_col="purchased_30d",
            feature_cols=FEATURES,
            horizon_days=45,
            test_cutoffs=[CUTOFFS[-1]],
            train_cutoffs=list(CUTOFFS[:-1]),
            models=["logistic"],
        )


def test_backtest_result_ignores_labels_of_unclosed_windows() -> None:
    """Changing outcomes that are not yet known at the test cutoff must not change the backtest."""
    snaps = snapshots()
    kwargs = {
        "label_col": "purchased_30d",
        "feature_cols": FEATURES,
        "horizon_days": 45,
        "models": ["logistic"],
    }
    before = backtest(snaps, **kwargs).predictions["score"].to_numpy()
    changed = snaps.copy()
    future = changed["cutoff"] == CUTOFFS[-2]  # its 45-day window ends after the test cutoff
    changed.loc[future, "purchased_30d"] = 1 - changed.loc[future, "purchased_30d"]
    after = backtest(changed, **kwargs).predictions["score"].to_numpy()
    np.testing.assert_array_equal(before, after)


def test_backtest_input_errors() -> None:
    snaps = snapshots(50)
    with pytest.raises(SchemaError, match="lacks column"):
        backtest(snaps, label_col="churned", feature_cols=FEATURES, horizon_days=30)
    with pytest.raises(ConfigError, match="among the features"):
        backtest(snaps, label_col="purchased_30d", feature_cols=[*FEATURES, "purchased_30d"], horizon_days=30)
    with pytest.raises(DataValidationError, match="no training cutoff"):
        backtest(
            snaps,
            label_col="purchased_30d",
            feature_cols=FEATURES,
            horizon_days=30,
            test_cutoffs=[CUTOFFS[0]],
        )
    with pytest.raises(DataValidationError, match="no snapshot rows"):
        backtest(
            snaps,
            label_col="purchased_30d",
            feature_cols=FEATURES,
            horizon_days=30,
            test_cutoffs=["2030-01-01"],
        )


def test_compare_models_uses_the_same_folds_for_every_model() -> None:
    snaps = snapshots(400)
    X, y = snaps[FEATURES], snaps["purchased_30d"]
    long = compare_models(X, y, ["logistic", "tree"], cv=3, per_fold=True)
    assert len(long) == 6
    # same folds -> same test rows -> identical positive rates per fold across models
    rates = long.pivot(index="fold", columns="model", values="positive_rate")
    np.testing.assert_array_equal(rates["logistic"], rates["tree"])
    summary = compare_models(X, y, {"lr": "logistic", "rule": RecencyRuleModel()}, cv=3)
    assert list(summary.index) == ["lr", "rule"]  # sorted by ROC AUC
    assert summary.loc["lr", "folds"] == 3 and summary.loc["lr", "roc_auc_std"] > 0
    split = time_ordered_split(10, test_fraction=0.3)
    assert split[0][0].tolist() == list(range(7)) and split[0][1].tolist() == [7, 8, 9]
    with pytest.raises(ConfigError, match="unknown model"):
        compare_models(X, y, ["catboost"])


class SpyClassifier(PropensityClassifier):
    """Records the row labels of every table it is fitted on."""

    seen: ClassVar[list[set]] = []

    def fit(self, X, y):  # type: ignore[override]
        SpyClassifier.seen.append(set(X.index))
        return super().fit(X, y)


def u_shaped_data(n: int, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(rng.uniform(-1, 1, (n, 6)), columns=[f"f{i}" for i in range(6)])
    y = ((X["f0"].abs() > 0.5) ^ (rng.random(n) < 0.1)).astype(int).to_numpy()  # U-shaped in f0
    return X, y


def test_budgeted_search_is_nested_and_finds_the_needed_depth() -> None:
    X, y = u_shaped_data(1200)
    SpyClassifier.seen = []
    search = BudgetedSearch(
        SpyClassifier("tree", min_rows=50, min_positives=10, random_state=0),
        {"max_depth": [1, 4], "min_samples_leaf": [5, 20]},
        time_budget_s=60,
        max_candidates=4,
        eta=2,
        min_rows=300,
        cv=2,
        random_state=0,
    )
    folds = [(np.arange(0, 800), np.arange(800, 1200))]
    long = compare_models(X, y, {"tuned": search}, cv=folds, per_fold=True)
    test_rows = set(range(800, 1200))
    assert SpyClassifier.seen and all(not (rows & test_rows) for rows in SpyClassifier.seen)
    assert "'max_depth': 4" in long.loc[0, "best_params"]
    assert long.loc[0, "roc_auc"] > 0.85  # a U needs depth >= 2; one split catches only one arm
    fitted = search.fit(X, y)
    assert fitted.results_.groupby("round")["candidate"].count().tolist() == [4, 2, 1]
    assert fitted.results_.groupby("round")["rows"].first().is_monotonic_increasing
    assert not fitted.budget_exhausted_


def test_budgeted_search_respects_the_time_budget() -> None:
    X, y = u_shaped_data(600)
    search = BudgetedSearch(PropensityClassifier("tree"), time_budget_s=1e-9, max_candidates=4)
    with pytest.raises(ModelError, match="time budget"):
        search.fit(X, y)


def test_importance_selection_drops_noise_inside_the_training_fold() -> None:
    rng = np.random.default_rng(1)
    n = 2000
    X = pd.DataFrame(
        rng.normal(size=(n, 8)), columns=[f"noise{i}" for i in range(6)] + ["signal_a", "signal_b"]
    )
    y = (rng.random(n) < 1 / (1 + np.exp(-(2 * X["signal_a"] - 1.5 * X["signal_b"])))).astype(int)
    selector = ImportanceSelector(PropensityClassifier("logistic"), cumulative_importance=0.8).fit(X, y)
    assert set(selector.selected_features_) == {"signal_a", "signal_b"}
    assert len(selector.dropped_features_) == 6
    assert selector.feature_importances_[:6].sum() == 0.0
    long = compare_models(X, y, {"selected": selector}, cv=2, per_fold=True)
    assert (long["n_features_used"] == 2).all() and (long["roc_auc"] > 0.8).all()
