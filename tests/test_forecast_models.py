"""Demand forecasting models: known answers on planted series, the metrics by hand, model choice by
backtest, interval order, whole periods, and the summary sentence."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from targetwise.errors import ConfigError, DataValidationError
from targetwise.features.demand import whole_periods
from targetwise.forecast import (
    MODEL_NAMES,
    DemandForecaster,
    GlobalLightGBM,
    coverage,
    local_forecast,
    mase,
    smape,
)
from targetwise.runconfig import FORECAST_MODELS
from targetwise.usecases.forecast import DemandForecast, forecast_summaries


def _panel(values: dict[tuple[str, str], np.ndarray], start: str = "2023-01-02", freq: str = "W-MON") -> pd.DataFrame:
    frames = []
    for (level, series), y in values.items():
        frames.append(pd.DataFrame({"series": series, "level": level, "y": np.asarray(y, dtype="float64"),
                                    "period_start": pd.date_range(start, periods=len(y), freq=freq)}))
    return pd.concat(frames, ignore_index=True)


def test_metrics_by_hand() -> None:
    insample = np.array([1.0, 3.0, 2.0, 6.0])  # seasonal (lag 2) differences: 1, 3 -> scale 2
    assert mase(np.array([4.0, 8.0]), np.array([5.0, 5.0]), insample, 2) == pytest.approx((1 + 3) / 2 / 2)
    # lag 1 when the history is shorter than two seasons: |2|,|1|,|4| -> 7/3
    assert mase(np.array([4.0]), np.array([5.0]), insample, 3) == pytest.approx(1 / (7 / 3))
    assert np.isnan(mase(np.array([1.0]), np.array([2.0]), np.array([5.0, 5.0, 5.0]), 1))
    # 2|a-f|/(|a|+|f|): 2*2/(4+2) = 2/3, 0 (both 0), 2*1/1 = 2 -> mean 8/9, in percent
    assert smape(np.array([4.0, 0.0, 1.0]), np.array([2.0, 0.0, 0.0])) == pytest.approx(100 * (2 / 3 + 0 + 2) / 3)
    assert coverage(np.array([1.0, 5.0, 9.0, 3.0]), np.array([0.0, 0.0, 0.0, 4.0]), np.array([2.0, 5.0, 8.0, 6.0])) == 0.5


def test_model_names_match_the_run_config() -> None:
    assert FORECAST_MODELS == MODEL_NAMES


def test_pure_seasonal_series_is_forecast_exactly_by_seasonal_naive() -> None:
    pattern = np.array([10.0, 40.0, 25.0, 5.0, 60.0, 30.0, 0.0])  # one week of days, repeated 10 times
    panel = _panel({("total", "total"): np.tile(pattern, 10)}, freq="D")
    model = DemandForecaster(horizon=14, freq="D", models=("seasonal_naive", "naive", "auto_theta"),
                             backtest_windows=2).fit(panel)
    assert model.chosen_ == {("total", "total"): "seasonal_naive"}
    scores = model.scores_.set_index("model")
    # the seasonal differences of a pure seasonal series are 0, so MASE is undefined and MAE ranks the models
    assert scores["mase"].isna().all()
    assert scores.loc["seasonal_naive", "mae"] == 0.0 and scores.loc["naive", "mae"] > 10.0
    forecast = model.predict()
    np.testing.assert_allclose(forecast["forecast"], np.tile(pattern, 2))
    # the forecast continues the calendar: 70 days from Monday 2023-01-02
    assert forecast["period_start"].iloc[0] == pd.Timestamp("2023-03-13")
    assert list(forecast.columns) == ["series", "level", "period_start", "forecast", "lo_80", "hi_80", "model"]


def test_linear_trend_is_continued_and_beats_the_baselines() -> None:
    rng = np.random.default_rng(3)
    y = 200.0 + 15.0 * np.arange(60) + rng.normal(0, 2.0, 60)
    model = DemandForecaster(horizon=6, models=("seasonal_naive", "naive", "auto_ets"), backtest_windows=2).fit(
        _panel({("total", "total"): y}))
    assert model.chosen_[("total", "total")] == "auto_ets"
    expected = 200.0 + 15.0 * np.arange(60, 66)
    np.testing.assert_allclose(model.predict()["forecast"], expected, rtol=0.01)
    scores = model.scores_.set_index("model")["mase"]
    assert scores["auto_ets"] < 0.2 * scores["naive"]


def test_global_lightgbm_learns_a_shared_cycle_across_series() -> None:
    cycle = np.array([1.0, 3.0, 2.0, 4.0])
    values = np.vstack([scale * np.tile(cycle, 20) for scale in (10.0, 100.0, 1000.0)])
    starts = pd.date_range("2022-01-03", periods=80, freq="W-MON")
    forecasts = GlobalLightGBM(horizon=4, freq="W", n_lags=4, min_child_samples=5).fit(values, starts).predict()
    for scale, f in zip((10.0, 100.0, 1000.0), forecasts, strict=True):
        np.testing.assert_allclose(f.mean, scale * cycle, rtol=0.1)
        assert np.all(f.lo <= f.mean) and np.all(f.mean <= f.hi)


def test_intervals_ordered_and_choice_from_the_backtest() -> None:
    rng = np.random.default_rng(0)
    panel = _panel({("category", "a"): 100 + rng.normal(0, 10, 50), ("category", "b"): 50 + 2.0 * np.arange(50),
                    ("category", "c"): np.zeros(50)})
    model = DemandForecaster(horizon=4, models=("seasonal_naive", "naive", "auto_theta", "lightgbm"),
                             backtest_windows=2, selection="series", random_state=1).fit(panel)
    table = model.predict()
    assert (table["lo_80"] <= table["forecast"]).all() and (table["forecast"] <= table["hi_80"]).all()
    # each series' model is the one with the lowest mean MASE over the windows (MAE for the all-zero series)
    for (level, series), chosen in model.chosen_.items():
        rows = model.scores_[(model.scores_["level"] == level) & (model.scores_["series"] == series)]
        key = "mae" if rows["mase"].isna().all() else "mase"
        assert rows.loc[rows["chosen"], key].iloc[0] == rows[key].min()
        assert (table.loc[table["series"] == series, "model"] == chosen).all()
    # a series that never sold: the tie between every exact model goes to the first baseline
    assert model.chosen_[("category", "c")] == "seasonal_naive"
    again = DemandForecaster(horizon=4, models=("seasonal_naive", "naive", "auto_theta", "lightgbm"),
                             backtest_windows=2, selection="series", random_state=1).fit(panel).predict()
    pd.testing.assert_frame_equal(table, again)
    # one model per level: the lowest MASE averaged over the level's series (the all-zero one left out)
    pooled = DemandForecaster(horizon=4, models=("seasonal_naive", "naive", "auto_theta", "lightgbm"),
                              backtest_windows=2, random_state=1).fit(panel)
    changing = model.scores_[model.scores_["series"] != "c"]
    best = changing.groupby("model")["mase"].mean().idxmin()
    assert pooled.chosen_[("category", "a")] == pooled.chosen_[("category", "b")] == best
    assert pooled.chosen_[("category", "c")] == "seasonal_naive"
    with pytest.raises(ConfigError, match="unknown model selection 'cluster'"):
        DemandForecaster(selection="cluster").fit(panel)


def test_short_history_is_skipped_with_the_reason_and_bad_input_is_refused() -> None:
    model = DemandForecaster(horizon=12, models=("naive",)).fit(_panel({("total", "total"): np.ones(20)}))
    assert model.predict().empty
    assert model.skipped_ == {("total", "total"): "needs at least 36 whole periods of history, has 20"}
    with pytest.raises(ConfigError, match=r"unknown forecast model.*'prophet'"):
        DemandForecaster(models=("prophet",)).fit(_panel({("total", "total"): np.ones(40)}))
    with pytest.raises(ConfigError, match="unknown forecast frequency 'M'"):
        DemandForecaster(freq="M").fit(_panel({("total", "total"): np.ones(40)}))
    gappy = _panel({("total", "total"): np.ones(40)})
    gappy.loc[3, "y"] = np.nan
    with pytest.raises(DataValidationError, match="1 missing values"):
        DemandForecaster(models=("naive",)).fit(gappy)
    uneven = pd.concat([_panel({("category", "a"): np.ones(40)}), _panel({("category", "b"): np.ones(30)})])
    with pytest.raises(DataValidationError, match="do not share one period grid"):
        DemandForecaster(models=("naive",)).fit(uneven)


def test_local_models_do_not_apply_where_they_cannot() -> None:
    assert local_forecast("mstl", np.arange(30.0), 4, season_length=1) is None
    flat = local_forecast("auto_ets", np.full(30, 7.0), 3, season_length=1)
    assert flat is not None and list(flat.mean) == [7.0, 7.0, 7.0]


def test_whole_periods() -> None:
    # data from Wednesday 2010-12-01: the first whole week starts Monday 2010-12-06 (week index from 1970-01-05)
    first, last = whole_periods(dt.datetime(2010, 12, 1, 8, 26), dt.datetime(2011, 12, 10), "W")
    monday = dt.datetime(1970, 1, 5)
    assert monday + dt.timedelta(weeks=first) == dt.datetime(2010, 12, 6)
    # as_of Saturday 2011-12-10: the week of Monday 12-05 is not over; the last whole one starts 11-28
    assert monday + dt.timedelta(weeks=last) == dt.datetime(2011, 11, 28)
    # as_of on a Monday: the week before it is whole
    _, last = whole_periods(dt.datetime(2010, 12, 6), dt.datetime(2011, 12, 5), "W")
    assert monday + dt.timedelta(weeks=last) == dt.datetime(2011, 11, 28)
    first, last = whole_periods(dt.datetime(2024, 1, 1, 9), dt.datetime(2024, 1, 11), "D")
    assert (dt.datetime(1970, 1, 1) + dt.timedelta(days=first), dt.datetime(1970, 1, 1) + dt.timedelta(days=last)) == (
        dt.datetime(2024, 1, 1), dt.datetime(2024, 1, 10))


def test_summary_sentences_from_the_numbers() -> None:
    starts = pd.date_range("2024-01-01", periods=4, freq="W-MON")
    future = pd.date_range("2024-01-29", periods=2, freq="W-MON")
    history = pd.DataFrame({"series": ["toys"] * 4 + ["total"] * 4, "level": ["category"] * 4 + ["total"] * 4,
                            "measure": "net_sales", "period_start": list(starts) * 2,
                            "y": [999.0, 999.0, 40.0, 60.0, 0.0, 0.0, 0.0, 0.0]})
    forecasts = pd.DataFrame({"series": ["toys", "toys", "total", "total"], "level": ["category"] * 2 + ["total"] * 2,
                              "measure": "net_sales", "period_start": list(future) * 2,
                              "forecast": [55.0, 57.0, 10.0, 10.0], "lo_80": [50.0, 55.0, 5.0, 5.0],
                              "hi_80": [60.0, 59.0, 15.0, 15.0], "model": ["auto_ets"] * 2 + ["naive"] * 2})
    result = DemandForecast(as_of=dt.datetime(2024, 1, 29), freq="W", horizon=2, forecasts=forecasts,
                            history=history, scores=pd.DataFrame())
    toys, total = forecast_summaries(result)
    # 112 against 100 in the last 2 weeks: +12%; bounds 105 and 119: +5% and +19%
    assert (toys.forecast_total, toys.last_total, toys.growth) == (112.0, 100.0, pytest.approx(0.12))
    assert toys.text == ("Category toys is forecast to grow 12% over the next 2 weeks, 80% interval 5% to 19% "
                         "(£112 against £100 in the last 2 weeks).")
    assert total.growth is None
    assert total.text == ("Net sales in total are forecast at £20 over the next 2 weeks, 80% interval £10 to £30 "
                          "(the last 2 weeks: £0, no base for a growth rate).")


def test_ensemble_is_the_members_mean_and_intervals_are_calibrated_on_the_backtest() -> None:
    rng = np.random.default_rng(5)
    y = 300 + 40 * np.sin(np.arange(60) / 3) + rng.normal(0, 25, 60)
    panel = _panel({("total", "total"): y})
    models = ("naive", "auto_ets", "auto_theta", "ensemble")
    model = DemandForecaster(horizon=6, models=models, backtest_windows=3, interval_calibration="series").fit(panel)
    starts = pd.date_range("2023-01-02", periods=60, freq="W-MON")
    final = model.candidate_forecasts(y[None, :], starts)
    members = [final["auto_ets"][0], final["auto_theta"][0]]
    np.testing.assert_allclose(final["ensemble"][0].mean, (members[0].mean + members[1].mean) / 2)
    chosen = model.chosen_[("total", "total")]
    scale = model.interval_scale_[("total", "total")]
    # the calibrated interval holds at least 80% of the backtest's actual values, a slightly narrower one less
    held = []
    for factor in (scale, 0.97 * scale):
        inside = []
        for cut in (54, 48, 42):
            f = model.candidate_forecasts(y[None, :cut], starts[:cut])[chosen][0]
            lo, hi = f.mean - factor * (f.mean - f.lo), f.mean + factor * (f.hi - f.mean)
            inside.extend((y[cut:cut + 6] >= lo) & (y[cut:cut + 6] <= hi))
        held.append(np.mean(inside))
    assert held[0] >= 0.8 > held[1]
    out = model.predict()
    f = final[chosen][0]
    np.testing.assert_allclose(out["hi_80"] - out["forecast"], scale * (f.hi - f.mean))


def test_level_calibration_brings_the_80_interval_to_80_percent_on_held_out_weeks() -> None:
    # planted truth: white noise around 100 (sd 10) forecast by naive. Naive's own interval assumes a random
    # walk (width growing with sqrt(step)), so past the first step it holds far more than 80% of what happens
    # (P(|Z| < 1.28 sqrt(step)): 80%, 93%, 98%, ...). Calibrated per level and step on the backtest, it holds ~80%.
    horizon, n_train, n_series = 6, 40, 10
    calibrated, own = [], []
    for seed in range(5):
        rng = np.random.default_rng(seed)
        y = 100 + rng.normal(0, 10, size=(n_series, n_train + horizon))
        panel = _panel({("category", f"c{i}"): y[i, :n_train] for i in range(n_series)})
        model = DemandForecaster(horizon=horizon, models=("naive",), backtest_windows=3, backtest_step=2,
                                 interval_calibration="level").fit(panel)
        out = model.predict().sort_values(["series", "period_start"])
        actual = y[np.argsort([f"c{i}" for i in range(n_series)])][:, n_train:].ravel()
        calibrated.extend((actual >= out["lo_80"].to_numpy()) & (actual <= out["hi_80"].to_numpy()))
        starts = pd.date_range("2023-01-02", periods=n_train, freq="W-MON")
        for i, f in enumerate(model.candidate_forecasts(y[:, :n_train], starts)["naive"]):
            own.extend((y[i, n_train:] >= f.lo) & (y[i, n_train:] <= f.hi))
        factors = model.interval_scale_[("category", "c0")]
        assert factors[0] == pytest.approx(1.0, abs=0.35) and factors[-1] < 0.7  # per step: wide steps narrowed
    assert 0.72 <= np.mean(calibrated) <= 0.88
    assert np.mean(own) > 0.9  # the uncalibrated interval fails the same band


def test_interval_calibration_is_checked() -> None:
    with pytest.raises(ConfigError, match="unknown interval calibration 'global'"):
        DemandForecaster(interval_calibration="global").fit(_panel({("total", "total"): np.arange(30.0)}))
