"""Backtest windows and interval calibration: the prior-year window, segment windows scored on their own
panels, and per-side calibration on planted skewed noise."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from targetwise.errors import ConfigError
from targetwise.forecast import DemandForecaster


def test_the_prior_year_window_backtests_the_same_weeks_a_year_before() -> None:
    starts = pd.date_range("2021-01-04", periods=120, freq="W-MON")
    y = 100.0 + np.random.default_rng(2).normal(0, 3.0, 120)
    panel = pd.DataFrame({"series": "total", "level": "total", "period_start": starts, "y": y})
    with_prior = DemandForecaster(horizon=8, models=("naive",), backtest_windows=2).fit(panel)
    # windows cut 8 and 16 weeks before the end, and 52 weeks before it: the forecast's weeks a year earlier
    assert sorted(with_prior.backtest_["cutoff"]) == [starts[68], starts[104], starts[112]]
    without = DemandForecaster(horizon=8, models=("naive",), backtest_windows=2, prior_year_window=False).fit(panel)
    assert sorted(without.backtest_["cutoff"]) == [starts[104], starts[112]]
    # with less than a year and min_train before the year-earlier cut, there is no such window
    short = DemandForecaster(horizon=8, models=("naive",), backtest_windows=2).fit(panel[panel.index < 70])
    assert len(short.backtest_) == 2


def test_window_panels_score_each_window_on_its_own_members() -> None:
    starts = pd.date_range("2022-01-03", periods=40, freq="W-MON")
    rng = np.random.default_rng(3)
    base = 100.0 + rng.normal(0, 1.0, 40)
    panel = pd.DataFrame({"series": np.repeat(["a", "b"], 40), "level": "segment",
                          "period_start": np.tile(starts, 2), "y": np.concatenate([base, base + 50])})
    model = DemandForecaster(horizon=4, models=("naive",), backtest_windows=2, prior_year_window=False)
    assert model.backtest_cuts(40) == [36, 32]
    # the window cut at week 32 scores "a" as the members at that cutoff bought: 300 a week after it
    other = base.copy()
    other[32:] = 300.0
    window = pd.DataFrame({"series": "a", "level": "segment", "period_start": starts, "y": other})
    fitted = model.fit(panel, window_panels={starts[32]: window})
    rows = fitted.backtest_.set_index(["series", "window"])
    assert rows.loc[("a", 1), "mae"] == pytest.approx(np.mean(np.abs(300.0 - other[31])))
    assert rows.loc[("a", 0), "mae"] == pytest.approx(np.mean(np.abs(base[36:40] - base[35])))
    # "b" is not in that window's panel: scored in the other window only
    assert ("b", 1) not in rows.index and ("b", 0) in rows.index
    absent = model.fit(panel, window_panels={starts[32]: window, starts[36]: window})
    assert absent.skipped_ == {("segment", "b"): "in none of the backtest windows' panels"}
    assert set(absent.predict()["series"]) == {"a"}


def test_sides_calibration_puts_the_width_where_the_misses_are() -> None:
    # right-skewed noise around a flat level: the upper tail is long, the lower one short
    rng = np.random.default_rng(7)
    starts = pd.date_range("2022-01-03", periods=66, freq="W-MON")
    frames, future = [], {}
    for i in range(12):
        noise = rng.exponential(20.0, 72) - 20.0
        frames.append(pd.DataFrame({"series": f"s{i}", "level": "category", "period_start": starts,
                                    "y": 200.0 + noise[:66]}))
        future[f"s{i}"] = 200.0 + noise[66:]
    panel = pd.concat(frames, ignore_index=True)
    model = DemandForecaster(horizon=6, models=("auto_ets",), backtest_windows=6, backtest_step=6,
                             interval_calibration="sides").fit(panel)
    lo_hi = np.array([[lo[0], hi[0]] for lo, hi in model.interval_sides_.values()])
    assert np.mean(lo_hi[:, 1] > lo_hi[:, 0]) >= 0.75  # the upper factor is the larger on most series
    table = model.predict()
    inside = [(future[s] >= part["lo_80"].to_numpy()) & (future[s] <= part["hi_80"].to_numpy())
              for s, part in table.groupby("series")]
    assert 0.7 <= np.mean(inside) <= 0.92
    with pytest.raises(ConfigError, match="unknown interval calibration 'both'"):
        DemandForecaster(interval_calibration="both").fit(panel)
