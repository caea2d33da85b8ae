"""Propensity on the synthetic retailer: the planted purchase process drives the scores.

The generator plants, per customer, a purchase rate ``lambda`` (per day) and a dropout
time. At the run's cutoff the true probability of buying within 30 days is
``1 - exp(-30 * lambda)`` for customers still alive and 0 for those who dropped out. A
model that learned the planted drivers ranks customers like that truth, and its top
features are the purchase-timing ones, not basket or returns features.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr

from targetwise.io.runs import RunStore
from targetwise.io.workspace import Workspace
from targetwise.synthetic import generate_retailer

pytestmark = pytest.mark.slow

TIMING_FEATURES = {
    "recency_days", "frequency", "orders_30d", "orders_90d", "orders_365d", "ipi_mean_days", "ipi_std_days",
    "tenure_days", "trend_90d", "btyd_frequency", "btyd_recency", "btyd_T", "monetary_total",
}


def test_scores_follow_the_planted_purchase_process(synthetic_demo: Workspace) -> None:
    run = RunStore(synthetic_demo).active()
    truth = generate_retailer(300, random_state=0).truth.set_index("customer_id")  # the demo's own shop
    scores = run.read_table("propensity/scores.parquet").set_index("customer_id")
    as_of = pd.Timestamp(run.as_of)
    alive = truth["dropout_at"].isna() | (truth["dropout_at"] > as_of)
    p_true = np.where(alive, 1 - np.exp(-30 * truth["lambda"]), 0.0)
    p_true = pd.Series(p_true, index=truth.index).reindex(scores.index)
    rho = spearmanr(scores["p_purchase_30d"], p_true).statistic
    assert rho > 0.6, rho
    importance = run.read_table("propensity/importance_purchase_30d.parquet")
    ranked = importance.sort_values("importance", ascending=False)["feature"].tolist()
    assert ranked[0] in TIMING_FEATURES, ranked[:5]
    # the rest of the top 3: timing features, or the channel mix, which the generator plants per
    # customer type (and so per purchase rate); never basket size, categories or returns
    assert all(f in TIMING_FEATURES or f.startswith("channel_share_") for f in ranked[:3]), ranked[:5]
