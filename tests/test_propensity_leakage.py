"""audit_leakage on planted leaks: each kind of leak is flagged with its reason, honest columns are not."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from targetwise.errors import ConfigError, DataValidationError, SchemaError
from targetwise.propensity import audit_leakage


@pytest.fixture(scope="module")
def planted() -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(0)
    n = 4000
    age = rng.integers(18, 80, n).astype(float)
    region = rng.choice(["north", "south", "east"], n)
    logit = -2 + 0.02 * (age - 45) + np.where(region == "south", 0.5, 0.0)
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    u = rng.uniform(-1, 1, n)
    X = pd.DataFrame(
        {
            "age": age,
            "region": region,
            "honest_noise": rng.normal(size=n),
            # a copy of the label with a little noise
            "label_copy": y + rng.normal(0, 0.05, n),
            # refund recorded after the outcome: 0 for every non-buyer, >0 for 40 % of buyers
            "refund_amount": np.where(y == 1, np.where(rng.random(n) < 0.4, rng.uniform(5, 50, n), 0.0), 0.0),
            # U-shaped but non-monotone: strong alone, invisible to a linear correlation
            "u_shape": np.where(y == 1, np.sign(u) * (0.7 + 0.3 * np.abs(u)), 0.75 * u),
            "crm_status": np.where(y == 1, "converted", rng.choice(["open", "lost"], n)),
            "follow_up_calls": rng.poisson(2, n).astype(float),
        }
    )
    return X, y


def test_each_planted_leak_is_flagged_for_its_reason(planted) -> None:
    X, y = planted
    report = audit_leakage(X, y, known_after=["follow_up_calls"])
    reasons = report.table.set_index("column")["reasons"]
    assert set(report.flagged) == {"label_copy", "u_shape", "crm_status", "follow_up_calls", "refund_amount"}
    assert "near-duplicate of the label" in reasons["label_copy"]
    assert "near-duplicate" in reasons["crm_status"]  # a level that *is* the label: AUC 1.0
    assert "predicts the label alone with AUC" in reasons["u_shape"]
    assert reasons["follow_up_calls"] == "declared known only after the outcome"
    # refund=0 covers every non-buyer, so it is not a pure 'implies y' value; refund>0 implies y=1
    assert "almost never has a negative label" in reasons["refund_amount"]
    table = report.table.set_index("column")
    assert table.loc["u_shape", "single_auc"] > 0.9 and abs(table.loc["u_shape", "label_correlation"]) < 0.5
    for honest in ("age", "region", "honest_noise"):
        assert not table.loc[honest, "flagged"] and table.loc[honest, "single_auc"] < 0.7
    text = report.to_text()
    assert text.startswith("5 of 8 column(s) look like leakage:") and "- u_shape:" in text


def test_clean_table_reports_nothing(planted) -> None:
    X, y = planted
    report = audit_leakage(X[["age", "region", "honest_noise"]], y)
    assert report.flagged == [] and report.to_text() == "No leakage suspected in 3 column(s)."


def test_audit_input_errors(planted) -> None:
    X, y = planted
    with pytest.raises(SchemaError, match="known_after names column"):
        audit_leakage(X, y, known_after=["nonexistent"])
    with pytest.raises(ConfigError, match="auc_threshold"):
        audit_leakage(X, y, auc_threshold=0.4)
    with pytest.raises(DataValidationError, match="at least 5 of each class"):
        audit_leakage(X.iloc[:100], np.r_[np.ones(2, int), np.zeros(98, int)])
