"""Validation on UCI Bank Marketing (Moro et al. 2014; CC BY 4.0, tests/data/bank_marketing).

Published reference: Moro, Cortez & Rita (2014) report ROC AUC 0.80 for their
best model without the leaky call ``duration``.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from targetwise.propensity import audit_leakage, compare_models, time_ordered_split

BANK = Path(__file__).resolve().parent / "data" / "bank_marketing" / "bank-full.csv.gz"


@pytest.fixture(scope="module")
def bank() -> tuple[pd.DataFrame, pd.Series]:
    frame = pd.read_csv(BANK, sep=";")
    return frame.drop(columns="y"), frame["y"]


@pytest.mark.slow
def test_audit_flags_duration_and_only_duration(bank) -> None:
    X, y = bank
    report = audit_leakage(X, y)
    assert report.flagged == ["duration"]
    reason = report.table.set_index("column").loc["duration", "reasons"]
    assert "almost never has a positive label" in reason
    # the honest columns stay far below the AUC threshold; month (a time proxy) is the strongest
    honest = report.table[report.table["column"] != "duration"]
    assert honest["single_auc"].max() < 0.70 and honest.iloc[0]["column"] == "month"


@pytest.mark.slow
def test_five_fold_cv_reaches_published_auc_without_duration(bank) -> None:
    X, y = bank
    X = X.drop(columns=["duration"])  # flagged by the audit (test above)
    report = compare_models(X, y, ["lightgbm", "logistic"], cv=5, random_state=0, n_jobs=1)
    assert report.loc["lightgbm", "roc_auc"] >= 0.80
    assert report.loc["logistic", "roc_auc"] >= 0.76
    assert report.loc["lightgbm", "top_decile_lift"] >= 4.4
    assert report.loc["lightgbm", "roc_auc"] > report.loc["logistic", "roc_auc"]


@pytest.mark.slow
def test_time_ordered_split_is_much_harder(bank) -> None:
    """The file is in date order: training on the first 80 % and testing on the last 20 % is what
    deployment sees, and the campaign's drift costs > 0.1 AUC (measured: logistic 0.677, LightGBM 0.672)."""
    X, y = bank
    X = X.drop(columns=["duration"])
    report = compare_models(X, y, ["lightgbm", "logistic"], cv=time_ordered_split(len(X)), n_jobs=1)
    for model in ("lightgbm", "logistic"):
        assert 0.62 < report.loc[model, "roc_auc"] < 0.72, model
