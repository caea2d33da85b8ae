"""Known-answer tests for the propensity metrics, computed by hand on tiny arrays."""

from __future__ import annotations

import math

import numpy as np
import pytest

from targetwise.errors import ConfigError, DataValidationError
from targetwise.propensity import (
    at_contact_rate,
    classification_metrics,
    expected_calibration_error,
    lift_table,
    plot_gains,
    plot_reliability,
    regression_metrics,
    reliability_curve,
)

# ten rows, already in descending score order; positives at ranks 1, 2 and 4
Y10 = np.array([1, 1, 0, 1, 0, 0, 0, 0, 0, 0])
S10 = np.linspace(0.95, 0.05, 10)


def test_lift_table_by_decile_hand_computed() -> None:
    table = lift_table(Y10, S10, n_bins=10)
    # base rate 0.3: a bin holding one positive out of one row has lift 1 / 0.3
    assert table["positives"].tolist() == [1, 1, 0, 1, 0, 0, 0, 0, 0, 0]
    np.testing.assert_allclose(table["lift"].to_numpy()[:4], [10 / 3, 10 / 3, 0.0, 10 / 3])
    np.testing.assert_allclose(table["cumulative_gain"], [1 / 3, 2 / 3, 2 / 3, 1, 1, 1, 1, 1, 1, 1])
    # cumulative lift after 2 rows: 2 of 2 contacted are positive -> 1.0 / 0.3
    assert table["cumulative_lift"].iloc[1] == pytest.approx(10 / 3)
    assert table["cumulative_lift"].iloc[-1] == pytest.approx(1.0)


def test_lift_table_uneven_bins_and_shuffled_input() -> None:
    rng = np.random.default_rng(0)
    order = rng.permutation(10)
    table = lift_table(Y10[order], S10[order], n_bins=3)  # rows 4, 3, 3 by array_split
    assert table["rows"].tolist() == [4, 3, 3]
    assert table["positives"].tolist() == [3, 0, 0]
    assert table["lift"].iloc[0] == pytest.approx((3 / 4) / 0.3)
    assert table["min_score"].iloc[0] == pytest.approx(S10[3])


def test_precision_recall_f1_at_contact_rate() -> None:
    top3 = at_contact_rate(Y10, S10, 0.3)
    assert top3 == {"contacted": 3.0, "precision": 2 / 3, "recall": 2 / 3, "f1": pytest.approx(2 / 3)}
    # 25 % of 10 rows rounds up to 3 contacted
    assert at_contact_rate(Y10, S10, 0.25)["contacted"] == 3.0
    top4 = at_contact_rate(Y10, S10, 0.4)
    assert top4["precision"] == 0.75 and top4["recall"] == 1.0
    assert top4["f1"] == pytest.approx(2 * 0.75 / 1.75)


def test_classification_metrics_known_values() -> None:
    y = np.array([0, 0, 1, 1])
    p = np.array([0.1, 0.4, 0.35, 0.8])
    m = classification_metrics(y, p, contact_rate=0.5)
    assert m["roc_auc"] == pytest.approx(0.75)  # 3 of 4 positive/negative pairs ordered
    # average precision: ranks 1 (pos), 2 (neg), 3 (pos): (1/1 + 2/3) / 2
    assert m["pr_auc"] == pytest.approx((1 + 2 / 3) / 2)
    assert m["brier"] == pytest.approx((0.01 + 0.16 + 0.65**2 + 0.04) / 4)
    expected_ll = -(math.log(0.9) + math.log(0.6) + math.log(0.35) + math.log(0.8)) / 4
    assert m["log_loss"] == pytest.approx(expected_ll)
    assert m["precision_at_k"] == 0.5 and m["recall_at_k"] == 0.5


def test_regression_metrics_known_values() -> None:
    m = regression_metrics([1.0, 2.0, 3.0], [1.0, 2.0, 5.0])
    assert m["mae"] == pytest.approx(2 / 3)
    assert m["rmse"] == pytest.approx(math.sqrt(4 / 3))
    assert m["r2"] == pytest.approx(1 - 4 / 2)


def test_reliability_curve_and_ece() -> None:
    p = np.array([0.1, 0.1, 0.1, 0.1, 0.9, 0.9, 0.9, 0.9])
    y = np.array([0, 0, 0, 1, 1, 1, 1, 0])
    curve = reliability_curve(y, p, n_bins=2, strategy="uniform")
    assert curve["rows"].tolist() == [4, 4]
    np.testing.assert_allclose(curve["observed_rate"], [0.25, 0.75])
    np.testing.assert_allclose(curve["mean_predicted"], [0.1, 0.9])
    # |0.25 - 0.1| and |0.75 - 0.9|, equal weights
    assert expected_calibration_error(y, p, n_bins=2) == pytest.approx(0.15)


def test_plots_return_axes_with_the_curve() -> None:
    ax = plot_reliability(Y10, S10, n_bins=5)
    assert ax.get_xlabel() == "mean predicted probability"
    gains_ax = plot_gains(Y10, S10)
    xs, ys = gains_ax.get_lines()[1].get_data()
    assert ys[1] == pytest.approx(1 / 3) and xs[-1] == pytest.approx(1.0)


def test_metric_input_errors() -> None:
    with pytest.raises(DataValidationError, match="score has 3"):
        lift_table([0, 1], [0.1, 0.2, 0.3])
    with pytest.raises(DataValidationError, match="0/1"):
        classification_metrics([0, 2], [0.1, 0.2])
    with pytest.raises(ConfigError, match="contact_rate"):
        at_contact_rate(Y10, S10, 0.0)
    with pytest.raises(DataValidationError, match="cannot fill 10 bins"):
        lift_table([0, 1, 1], [0.1, 0.2, 0.3])
    with pytest.raises(DataValidationError, match=r"\[0, 1\]"):
        reliability_curve([0, 1], [0.5, 1.5])
