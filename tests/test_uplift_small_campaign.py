"""A small randomised campaign: per-customer uplift instead of a silent constant 0, and a note when the
model cannot tell customers apart (issue 19: numbers that mean what their labels say)."""

from __future__ import annotations

import pytest

from targetwise.io.modeldata import open_model_data
from targetwise.io.runs import RunStore
from targetwise.io.workspace import Workspace
from targetwise.runconfig import UpliftConfig
from targetwise.usecases.features import features_at
from targetwise.usecases.uplift import fit_uplift, min_leaf

pytestmark = pytest.mark.slow


def test_leaf_size_scales_with_the_campaign() -> None:
    assert min_leaf(64_000, UpliftConfig()) == 300  # Hillstrom: the tuned value
    assert min_leaf(2_000, UpliftConfig()) == 100
    assert min_leaf(250, UpliftConfig()) == 20
    assert min_leaf(250, UpliftConfig(min_leaf=50)) == 50


def test_a_small_campaign_gets_per_customer_uplift_or_says_why_not(synthetic_demo: Workspace) -> None:
    as_of = RunStore(synthetic_demo).active().as_of
    with open_model_data(synthetic_demo) as data:
        features = features_at(data, as_of)
        scaled = fit_uplift(data, features, as_of=as_of, config=UpliftConfig(), random_state=0)
        tuned = fit_uplift(data, features, as_of=as_of, config=UpliftConfig(min_leaf=300), random_state=0)
    n = scaled.trained_on
    assert 100 < n < 6000 and scaled.min_leaf == max(20, n // 20)
    column = scaled.uplift["uplift_treatment"]
    assert column.nunique() > 10  # customers are told apart
    assert not any("no difference between customers" in note for note in scaled.notes)
    # leaves of 300 on a campaign this size cannot split: the model says so and quotes the observed effect
    flat = tuned.uplift["uplift_treatment"]
    assert flat.nunique() == 1
    rates = tuned.conversion_rate_by_arm
    observed = rates["treatment"] - rates["control"]
    (note,) = [n for n in tuned.notes if "no difference between customers" in n]
    assert f"observed effect was {observed:+.3f}" in note and f"{n:,} campaign customers" in note
