"""Propensity and churn models as pure estimators on in-memory tables, with their evaluation.

See :mod:`targetwise.propensity` for the public facade.
"""

from targetwise.models.propensity.backtest import (
    BacktestResult,
    backtest,
    compare_models,
    resolve_models,
    time_ordered_split,
)
from targetwise.models.propensity.card import ModelCard
from targetwise.models.propensity.classifier import MODEL_NAMES, PropensityClassifier, SmallDataWarning
from targetwise.models.propensity.explain import (
    contributions,
    describe_driver,
    explain_rows,
    shap_importance,
    top_drivers,
)
from targetwise.models.propensity.fallback import RecencyRuleModel, ScoreColumnModel
from targetwise.models.propensity.leakage import LeakageReport, audit_leakage
from targetwise.models.propensity.metrics import (
    at_contact_rate,
    classification_metrics,
    expected_calibration_error,
    lift_table,
    regression_metrics,
    reliability_curve,
)
from targetwise.models.propensity.plotting import plot_gains, plot_reliability
from targetwise.models.propensity.regressor import SpendRegressor
from targetwise.models.propensity.tuning import BudgetedSearch, ImportanceSelector, default_search_space

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
