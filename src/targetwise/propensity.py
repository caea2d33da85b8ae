"""Propensity and churn: who will buy, who is about to lapse, and why.

Public facade over :mod:`targetwise.models.propensity`. Everything here works
on in-memory tables (pandas DataFrames); building point-in-time feature
snapshots from a workspace lives in :mod:`targetwise.features`.

Typical use on any feature table::

    from targetwise.propensity import PropensityClassifier, audit_leakage, compare_models, explain_rows

    report = audit_leakage(X, y)                 # drop what knows the outcome
    X = X.drop(columns=report.flagged)
    print(compare_models(X, y, ["lightgbm", "logistic", "tree"], cv=5))
    model = PropensityClassifier(random_state=0).fit(X, y)
    p = model.predict_proba(X_new)[:, 1]
    why = explain_rows(model, X_new, templates={"recency_days": "no order for {value:.0f} days"})

On customer snapshots stacked over cutoffs, validate out of time with
:func:`backtest` (training label windows must close before the test cutoff).
"""

from targetwise.models.propensity import *  # noqa: F403
from targetwise.models.propensity import __all__ as __all__
