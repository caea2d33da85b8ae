"""Uplift modelling: meta-learners, scikit-uplift-compatible metrics and repeated-split evaluation.

Learners (LightGBM by default, any scikit-learn classifier via ``estimator=``)::

    from targetwise.uplift import SLearner, qini_auc_score
    from targetwise.campaigns import plan_campaign
    learner = SLearner(control="No E-Mail", random_state=0).fit(X, arm, visited)
    uplift = learner.predict(X_new)            # (n,) for one arm, DataFrame for several
    plan = plan_campaign(pd.Series(uplift, index=ids, name="Womens E-Mail"),
                         contact_cost=0.10, value_per_conversion=25.0, budget=5_000)

Metrics follow scikit-uplift's definitions (see :mod:`targetwise.uplift.metrics`);
:func:`evaluate_uplift` scores learners over repeated stratified splits against a
response model and random targeting. Budgeted plans and post-campaign measurement
live in :mod:`targetwise.campaigns`.
"""

from targetwise.uplift.evaluation import RandomUplift, ResponseModel, UpliftEvaluation, evaluate_uplift
from targetwise.uplift.learners import (
    BaseUpliftLearner,
    ClassTransformation,
    SLearner,
    TLearner,
    XLearner,
)
from targetwise.uplift.metrics import (
    perfect_qini_curve,
    perfect_uplift_curve,
    qini_auc_score,
    qini_curve,
    response_rate_by_percentile,
    uplift_at_k,
    uplift_auc_score,
    uplift_curve,
)
from targetwise.uplift.plotting import plot_uplift_curve

__all__ = [
    "BaseUpliftLearner",
    "ClassTransformation",
    "RandomUplift",
    "ResponseModel",
    "SLearner",
    "TLearner",
    "UpliftEvaluation",
    "XLearner",
    "evaluate_uplift",
    "perfect_qini_curve",
    "perfect_uplift_curve",
    "plot_uplift_curve",
    "qini_auc_score",
    "qini_curve",
    "response_rate_by_percentile",
    "uplift_at_k",
    "uplift_auc_score",
    "uplift_curve",
]
