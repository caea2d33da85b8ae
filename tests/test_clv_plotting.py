"""Model-check tables and plots: calibration vs holdout, tracking, P(alive) matrix."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from targetwise.clv import (
    BetaGeo,
    calibration_holdout_table,
    plot_calibration_holdout,
    plot_prob_alive_matrix,
    plot_tracking,
    prob_alive_matrix,
    tracking_table,
)
from targetwise.errors import DataValidationError

CDNOW = Path(__file__).parent / "data" / "cdnow" / "cdnow_sample_cbs_with_holdout.csv"


@pytest.fixture(scope="module")
def cdnow() -> pd.DataFrame:
    return pd.read_csv(CDNOW)


@pytest.fixture(scope="module")
def bgf(cdnow: pd.DataFrame) -> BetaGeo:
    return BetaGeo().fit(cdnow["x"], cdnow["t_x"], cdnow["T"])


def test_calibration_holdout_table_and_plot(bgf: BetaGeo, cdnow: pd.DataFrame) -> None:
    args = (bgf, cdnow["x"], cdnow["t_x"], cdnow["T"], cdnow["xstar"])
    table = calibration_holdout_table(*args, holdout_duration=39)
    # Fader, Hardie & Lee (2005): the 1,411 customers without repeat purchases made 334 in the holdout.
    assert table.loc["0", "n_customers"] == 1411
    assert table.loc["0", "actual"] == pytest.approx(334 / 1411)
    assert table.loc["7+", "n_customers"] == int((cdnow["x"] >= 7).sum())
    predicted = bgf.expected_purchases(39, cdnow["x"], cdnow["t_x"], cdnow["T"])
    assert table.loc["1", "model"] == pytest.approx(predicted[cdnow["x"] == 1].mean(), rel=1e-12)
    assert int(table["n_customers"].sum()) == 2357
    fig, ax = plt.subplots()
    returned = plot_calibration_holdout(*args, holdout_duration=39, time_unit="weeks", ax=ax)
    assert returned is ax
    actual_line, model_line = ax.get_lines()
    np.testing.assert_allclose(actual_line.get_ydata(), table["actual"])
    np.testing.assert_allclose(model_line.get_ydata(), table["model"])
    assert "39 weeks" in ax.get_ylabel()
    plt.close(fig)
    with pytest.raises(DataValidationError, match="holdout_frequency must hold one finite count"):
        calibration_holdout_table(bgf, [1], [1.0], [2.0], [-1], holdout_duration=39)


def test_tracking_table_and_plot(bgf: BetaGeo) -> None:
    # Two customers acquired at times 0 and 2, repeat purchases per period 1, 0, 2.
    table = tracking_table(bgf, [1, 0, 2], [0.0, 2.0])
    np.testing.assert_allclose(table["actual"], [1, 1, 3])
    e = bgf.expected_purchases_unconditional
    np.testing.assert_allclose(table["expected"], [e(1.0), e(2.0), e(3.0) + e(1.0)], rtol=1e-12)
    ax = plot_tracking(bgf, [1, 0, 2], [0.0, 2.0], calibration_end=2.0)
    assert len(ax.get_lines()) == 3  # actual, model, calibration end
    np.testing.assert_allclose(ax.get_lines()[1].get_ydata(), table["expected"])
    plt.close(ax.figure)


def test_prob_alive_matrix_and_heatmap(bgf: BetaGeo) -> None:
    _frequencies, recencies, values = prob_alive_matrix(bgf, T=39.0, max_frequency=5, n_recency=14)
    assert values.shape == (6, 14)
    assert values[0, 0] == 1.0 and np.all(np.isnan(values[0, 1:]))  # x = 0 needs recency 0
    assert values[3, 7] == pytest.approx(bgf.prob_alive([3], [recencies[7]], [39.0])[0], rel=1e-12)
    assert np.all(np.diff(values[1:], axis=1) > 0)  # later last purchase: more likely alive
    ax = plot_prob_alive_matrix(bgf, T=39.0, max_frequency=5, n_recency=14, time_unit="weeks")
    np.testing.assert_allclose(np.ma.filled(ax.get_images()[0].get_array(), np.nan), values)
    plt.close(ax.figure)
