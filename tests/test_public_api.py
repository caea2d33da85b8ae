"""The public modules export exactly what they document, and every exported name exists."""

from __future__ import annotations

import importlib

import pytest

from targetwise.errors import TargetwiseError

PUBLIC = [
    "targetwise.errors",
    "targetwise.config",
    "targetwise.schema",
    "targetwise.identifiers",
    "targetwise.features",
    "targetwise.segment",
    "targetwise.clv",
    "targetwise.propensity",
    "targetwise.recommend",
    "targetwise.uplift",
]


@pytest.mark.parametrize("name", PUBLIC)
def test_all_names_exist_and_are_unique(name: str) -> None:
    module = importlib.import_module(name)
    exported = module.__all__
    assert len(exported) == len(set(exported)), f"duplicates in {name}.__all__"
    missing = [n for n in exported if not hasattr(module, n)]
    assert not missing, f"{name}.__all__ names missing attributes: {missing}"


def test_every_error_is_in_the_one_tree_with_a_code_and_status() -> None:
    import targetwise.errors as errors

    classes = [getattr(errors, n) for n in errors.__all__ if isinstance(getattr(errors, n), type)]
    codes = set()
    for cls in classes:
        if cls is errors.Location:
            continue
        assert issubclass(cls, TargetwiseError), cls
        assert 400 <= cls.http_status < 600, cls
        codes.add(cls.code)
    assert len(codes) == len(classes) - 1  # every class has its own stable code


def test_estimators_store_only_their_parameters() -> None:
    """scikit-learn contract: __init__ stores keyword parameters, nothing fitted exists before fit."""
    from sklearn.base import clone

    from targetwise.clv import BetaGeo, GammaGamma, ParetoNBD
    from targetwise.propensity import PropensityClassifier, SpendRegressor
    from targetwise.recommend import ALSRecommender, HybridRecommender, ItemItemRecommender
    from targetwise.segment import BehaviourClusterer, RFMSegmenter
    from targetwise.uplift import ClassTransformation, SLearner, TLearner, XLearner

    for cls in (BetaGeo, ParetoNBD, GammaGamma, PropensityClassifier, SpendRegressor, RFMSegmenter,
                BehaviourClusterer, ALSRecommender, ItemItemRecommender, HybridRecommender, SLearner, TLearner,
                XLearner, ClassTransformation):
        est = cls()
        fitted = [k for k in vars(est) if k.endswith("_") and not k.startswith("_")]
        assert not fitted, f"{cls.__name__} sets {fitted} in __init__"
        if hasattr(est, "get_params"):
            assert clone(est).get_params() == est.get_params()
