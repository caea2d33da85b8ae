"""Training snapshots shared by the propensity tasks of a run, and the seeded row cap (issue 20)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from features_fixtures import backend, online_retail
from targetwise.features import training_snapshots
from targetwise.usecases._snapshots import SnapshotStore

CUTOFFS = [dt.date(2011, 6, 1), dt.date(2011, 7, 1), dt.date(2011, 8, 1)]


@pytest.fixture(scope="module")
def retail_backend():
    lines, products = online_retail(with_test_dimensions=True)
    return backend(lines, products)


def test_store_stacks_exactly_what_training_snapshots_computes(retail_backend) -> None:
    store = SnapshotStore(retail_backend)
    store.plan(CUTOFFS)
    got = store.snapshots(CUTOFFS, 30)
    expected = training_snapshots(retail_backend, CUTOFFS, horizon_days=30).to_pandas()
    expected["cutoff"] = pd.to_datetime(expected["cutoff"])
    assert list(got.columns) == list(expected.columns)
    pd.testing.assert_frame_equal(got, expected, check_dtype=False)


def test_features_at_a_cutoff_are_computed_once_for_every_horizon(retail_backend) -> None:
    store = SnapshotStore(retail_backend)
    store.plan(CUTOFFS)
    first = store.snapshots(CUTOFFS, 30)
    cached = dict(store._features)
    second = store.snapshots(CUTOFFS[:2], 60)
    assert all(store._features[d] is cached[d] for d in cached)  # the same frames, not recomputed
    assert len(store._labels) == 5  # 3 cutoffs x 30 days + 2 cutoffs x 60 days
    assert set(first["customer_id"]) >= set(second["customer_id"])


def test_row_cap_keeps_a_seeded_uniform_sample_and_records_it(retail_backend) -> None:
    full = SnapshotStore(retail_backend)
    full.plan(CUTOFFS)
    totals = {d: len(full.features(d)) for d in CUTOFFS}
    cap = min(totals.values()) - 5
    capped = SnapshotStore(retail_backend, max_rows_per_cutoff=cap, random_state=7)
    capped.plan(CUTOFFS)
    rows = capped.snapshots(CUTOFFS, 30)
    assert rows.groupby("cutoff").size().tolist() == [cap] * len(CUTOFFS)
    sampled = capped.sampling()
    assert sampled["rows"] == {str(d): [cap, totals[d]] for d in CUTOFFS}
    assert sampled["max_rows_per_cutoff"] == cap and sampled["random_state"] == 7
    # the kept rows are rows of the full snapshot, unchanged
    day = CUTOFFS[0]
    merged = capped.features(day).merge(full.features(day), on="customer_id", suffixes=("", "_full"))
    assert len(merged) == cap and (merged["monetary_total"] == merged["monetary_total_full"]).all()
    again = SnapshotStore(retail_backend, max_rows_per_cutoff=cap, random_state=7)
    again.plan(CUTOFFS)
    assert again.features(day)["customer_id"].tolist() == capped.features(day)["customer_id"].tolist()
    other = SnapshotStore(retail_backend, max_rows_per_cutoff=cap, random_state=8)
    other.plan(CUTOFFS)
    assert other.features(day)["customer_id"].tolist() != capped.features(day)["customer_id"].tolist()


def test_backtest_and_final_fits_side_by_side_equal_sequential_fits() -> None:
    """The two fits of a task run at the same time; each must be exactly the model a fit alone gives."""
    from targetwise.propensity import PropensityClassifier
    from targetwise.usecases.propensity import _fit_pair

    rng = np.random.default_rng(11)
    X = pd.DataFrame({"recency_days": rng.uniform(0, 300, 4000), "frequency": rng.poisson(3, 4000).astype(float)})
    y = rng.random(4000) < 1 / (1 + np.exp(0.02 * X["recency_days"].to_numpy() - 1 - 0.2 * X["frequency"].to_numpy()))
    first, second = (X.iloc[:2500], y[:2500]), (X, y)
    together = _fit_pair(lambda: PropensityClassifier(random_state=5), first, second)
    alone = [PropensityClassifier(random_state=5).fit(*first), PropensityClassifier(random_state=5).fit(*second)]
    for left, right in zip(together, alone, strict=True):
        assert left.predict_proba(X).tolist() == right.predict_proba(X).tolist()
    assert together[0].predict_proba(X).tolist() != together[1].predict_proba(X).tolist()  # not one model twice
