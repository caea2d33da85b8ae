"""Uplift modelling: meta-learners, scikit-uplift-compatible metrics and repeated-split evaluation.

Public names are re-exported by :mod:`targetwise.uplift`.
"""

from targetwise.models.uplift.evaluation import RandomUplift, ResponseModel, UpliftEvaluation, evaluate_uplift
from targetwise.models.uplift.learners import (
    BaseUpliftLearner,
    ClassTransformation,
    SLearner,
    TLearner,
    XLearner,
)

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
]
