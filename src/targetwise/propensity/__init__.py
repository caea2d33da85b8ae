"""Propensity and churn models as pure estimators on in-memory tables, with their evaluation.

Everything here works on in-memory tables (pandas DataFrames); point-in-time
feature snapshots of a workspace come from :mod:`targetwise.features`. Typical use::

    from targetwise.propensity import PropensityClassifier, audit_leakage, compare_models, explain_rows

    report = audit_leakage(X, y)                 # drop what knows the outcome
    X = X.drop(columns=report.flagged)
    print(compare_models(X, y, ["lightgbm", "logistic", "tree"], cv=5))
    model = PropensityClassifier(random_state=0).fit(X, y)
    p = model.predict_proba(X_new)[:, 1]

On customer snapshots stacked over cutoffs, validate out of time with
:func:`backtest` (training label windows must close before the test cutoff).
"""

from targetwise.propensity.backtest import (
    BacktestResult,
    backtest,
    compare_models,
    resolve_models,
    time_ordered_split,
)
from targetwise.propensity.card import ModelCard
from targetwise.propensity.classifier import MODEL_NAMES, PropensityClassifier, SmallDataWarning
from targetwise.propensity.explain import (
    contributions,
    describe_driver,
    explain_rows,
    shap_importance,
    top_drivers,
)
from targetwise.propensity.fallback import RecencyRuleModel, ScoreColumnModel
from targetwise.propensity.leakage import LeakageReport, audit_leakage
from targetwise.propensity.metrics import (
    at_contact_rate,
    classification_metrics,
    expected_calibration_error,
    lift_table,
    regression_metrics,
    reliability_curve,
)
from targetwise.propensity.plotting import plot_gains, plot_reliability
from targetwise.propensity.regressor import SpendRegressor
from targetwise.propensity.tuning import BudgetedSearch, ImportanceSelector, default_search_space

__all__ = [
    "MODEL_NAMES",
    "BacktestResult",
    "BudgetedSearch",
    "ImportanceSelector",
    "LeakageReport",
    "ModelCard",
    "PropensityClassifier",
    "RecencyRuleModel",
    "ScoreColumnModel",
    "SmallDataWarning",
    "SpendRegressor",
    "at_contact_rate",
    "audit_leakage",
    "backtest",
    "classification_metrics",
    "compare_models",
    "contributions",
    "default_search_space",
    "describe_driver",
    "expected_calibration_error",
    "explain_rows",
    "lift_table",
    "plot_gains",
    "plot_reliability",
    "regression_metrics",
    "reliability_curve",
    "resolve_models",
    "shap_importance",
    "time_ordered_split",
    "top_drivers",
]
