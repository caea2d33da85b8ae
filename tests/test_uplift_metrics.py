"""Uplift metrics against hand-computed cases (scikit-uplift's definitions).

The six-customer example below is worked by hand in the comments; the same
numbers were cross-checked once against scikit-uplift 0.5.1 (see
benchmarks/results/uplift.md), which these tests do not need.
"""

from __future__ import annotations

import numpy as np
import pytest

from targetwise.errors import DataValidationError
from targetwise.uplift import (
    perfect_qini_curve,
    perfect_uplift_curve,
    qini_auc_score,
    qini_curve,
    response_rate_by_percentile,
    uplift_at_k,
    uplift_auc_score,
    uplift_curve,
)

# Ranked as given (scores strictly decreasing): (t, y) = (1,1) (1,0) (0,1) (0,0) (1,1) (0,0)
Y = np.array([1, 0, 1, 0, 1, 0])
T = np.array([1, 1, 0, 0, 1, 0])
U = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4])


def test_qini_curve_hand_computed() -> None:
    # n=3: Y_T=1, N_T=2, Y_C=1, N_C=1 -> 1 - 1 * 2/1 = -1 ; n=5: 2 - 1 * 3/2 = 0.5
    x, curve = qini_curve(Y, U, T)
    np.testing.assert_array_equal(x, [0, 1, 2, 3, 4, 5, 6])
    np.testing.assert_allclose(curve, [0, 1, 1, -1, 0, 0.5, 1])


def test_uplift_curve_hand_computed() -> None:
    # n=3: (1/2 - 1/1) * 3 = -1.5 ; n=5: (2/3 - 1/2) * 5 = 5/6 ; n=6: (2/3 - 1/3) * 6 = 2
    x, curve = uplift_curve(Y, U, T)
    np.testing.assert_array_equal(x, [0, 1, 2, 3, 4, 5, 6])
    np.testing.assert_allclose(curve, [0, 1, 1, -1.5, 0, 5 / 6, 2])


def test_perfect_curves_hand_computed() -> None:
    # Qini oracle score y*t - y*(1-t) = [1, 0, -1, 0, 1, 0]: treated responders, then the
    # zeros (three-way tie, one threshold), then the control responder.
    x, curve = perfect_qini_curve(Y, T)
    np.testing.assert_array_equal(x, [0, 2, 5, 6])
    np.testing.assert_allclose(curve, [0, 2, 2, 1])
    # Uplift oracle: 1 control responder is not > 1 treated non-responder, so summand = t;
    # score 2*(y == t) + t = [3, 1, 0, 2, 3, 2].
    x, curve = perfect_uplift_curve(Y, T)
    np.testing.assert_array_equal(x, [0, 2, 4, 5, 6])
    np.testing.assert_allclose(curve, [0, 2, 4, 10 / 3, 2])


def test_qini_auc_score_hand_computed() -> None:
    # model area 2.0, random line to (6, 1) area 3.0, perfect area 9.5 -> (2 - 3) / (9.5 - 3)
    assert qini_auc_score(Y, U, T) == pytest.approx(-1 / 6.5)
    # negative_effect=False: perfect curve (0,0) -> (1,1) -> (6,1), area 5.5 -> (2 - 3) / (5.5 - 3)
    assert qini_auc_score(Y, U, T, negative_effect=False) == pytest.approx(-1 / 2.5)


def test_uplift_auc_score_hand_computed() -> None:
    # model area 7/3, random 6, perfect 43/3 -> (7/3 - 6) / (43/3 - 6) = -11/25
    assert uplift_auc_score(Y, U, T) == pytest.approx(-0.44)


def test_uplift_at_k_both_strategies() -> None:
    # overall top int(6 * 0.5) = 3: treated 1/2, control 1/1 -> -0.5
    assert uplift_at_k(Y, U, T, k=0.5) == pytest.approx(-0.5)
    # by_group: top int(3 * 0.5) = 1 of each group: treated 1, control 1 -> 0
    assert uplift_at_k(Y, U, T, k=0.5, strategy="by_group") == pytest.approx(0.0)
    # absolute k = 2: top two are both treated -> control undefined
    with pytest.raises(DataValidationError, match="only one group"):
        uplift_at_k(Y, U, T, k=2)
    assert uplift_at_k(Y, U, T, k=4) == pytest.approx(1 / 2 - 1 / 2)


def test_oracle_ranking_scores_one_and_constant_scores_zero() -> None:
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 500)
    t = rng.integers(0, 2, 500)
    assert qini_auc_score(y, y * t - y * (1 - t), t) == pytest.approx(1.0)
    assert qini_auc_score(y, np.zeros(500), t) == pytest.approx(0.0, abs=1e-12)
    assert uplift_auc_score(y, np.zeros(500), t) == pytest.approx(0.0, abs=1e-12)
    # Reversing the ranking flips the sign of the area between model and random curves.
    score = rng.normal(size=500)
    assert qini_auc_score(y, -score, t) == pytest.approx(-qini_auc_score(y, score, t), abs=0.02)


def test_response_rate_by_percentile() -> None:
    # overall, 2 bins of 3: bin 1 treated (1, 0) -> 0.5 ; bin 2 treated (1,) -> 1.0
    rate, variance, size = response_rate_by_percentile(Y, U, T, group="treatment", bins=2)
    np.testing.assert_allclose(rate, [0.5, 1.0])
    np.testing.assert_array_equal(size, [2, 1])
    np.testing.assert_allclose(variance, [0.5 * 0.5 / 2, 0.0])
    rate, _, size = response_rate_by_percentile(Y, U, T, group="control", strategy="by_group", bins=3)
    np.testing.assert_allclose(rate, [1.0, 0.0, 0.0])
    np.testing.assert_array_equal(size, [1, 1, 1])


@pytest.mark.parametrize(
    ("y", "t", "message"),
    [
        ([1, 0, 2], [1, 0, 1], "binary"),
        ([1, 0, 1], [1, 1, 1], "only one group"),
        ([1, 0], [1, 0, 1], "rows"),
    ],
)
def test_invalid_inputs(y: list[int], t: list[int], message: str) -> None:
    with pytest.raises(DataValidationError, match=message):
        qini_auc_score(y, np.arange(len(y)), t)


def test_invalid_k_strategy_and_uplift() -> None:
    with pytest.raises(DataValidationError, match=r"\(0, 1\)"):
        uplift_at_k(Y, U, T, k=1.5)
    with pytest.raises(DataValidationError, match="strategy"):
        uplift_at_k(Y, U, T, strategy="first")  # type: ignore[arg-type]
    with pytest.raises(DataValidationError, match="NaN"):
        qini_curve(Y, np.r_[U[:-1], np.nan], T)
    with pytest.raises(DataValidationError, match="bins"):
        response_rate_by_percentile(Y, U, T, group="treatment", bins=6)


def test_plot_uplift_curve_draws_the_metric_curves() -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from targetwise.uplift import plot_uplift_curve

    ax = plot_uplift_curve(Y, U, T, kind="qini", label="toy")
    model, random, perfect = ax.get_lines()
    np.testing.assert_allclose(model.get_ydata(), [0, 1, 1, -1, 0, 0.5, 1])
    np.testing.assert_allclose(random.get_ydata(), [0, 1])
    np.testing.assert_allclose(perfect.get_xdata(), [0, 2, 5, 6])
    assert "toy (qini AUC -0.154)" in [t.get_text() for t in ax.get_legend().get_texts()]
    _, other = plt.subplots()
    assert plot_uplift_curve(Y, U, T, kind="uplift", show_perfect=False, ax=other) is other
    assert len(other.get_lines()) == 2
    np.testing.assert_allclose(other.get_lines()[0].get_ydata(), [0, 1, 1, -1.5, 0, 5 / 6, 2])
    plt.close("all")
