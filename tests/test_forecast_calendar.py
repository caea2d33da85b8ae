"""The holiday calendar (published dates), its regressors, and planted holiday spikes that the models
with the regressors forecast and the models without miss."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from targetwise.errors import ConfigError
from targetwise.forecast import DemandForecaster, GlobalLightGBM
from targetwise.forecast.calendar import (
    arima_regressors,
    easter_sunday,
    holiday_dates,
    holiday_features,
    holiday_names,
    public_holidays,
)
from targetwise.runconfig import RunConfig

D = dt.date


def test_easter_by_the_computus() -> None:
    # published Western Easter Sundays, the earliest (22 March) and latest (25 April) possible among them
    known = {2008: D(2008, 3, 23), 2011: D(2011, 4, 24), 2017: D(2017, 4, 16), 2019: D(2019, 4, 21),
             2024: D(2024, 3, 31), 2038: D(2038, 4, 25), 2285: D(2285, 3, 22), 1818: D(1818, 3, 22)}
    assert {year: easter_sunday(year) for year in known} == known


def test_england_and_wales_bank_holidays() -> None:
    # gov.uk's list for 2011: New Year substitute (1 Jan a Saturday), the royal wedding, Christmas on a Sunday
    assert sorted(public_holidays("GB", 2011)) == [
        D(2011, 1, 3), D(2011, 4, 22), D(2011, 4, 25), D(2011, 4, 29), D(2011, 5, 2), D(2011, 5, 30),
        D(2011, 8, 29), D(2011, 12, 26), D(2011, 12, 27)]
    # Christmas on a Saturday: both days off move to Monday 27 and Tuesday 28
    assert {d for d in public_holidays("GB", 2010) if d.month == 12} == {D(2010, 12, 27), D(2010, 12, 28)}
    # moved and one-off days: VE day 2020 instead of the first Monday of May; 2022's jubilee and funeral
    assert D(2020, 5, 8) in public_holidays("GB", 2020) and D(2020, 5, 4) not in public_holidays("GB", 2020)
    assert {D(2022, 6, 2), D(2022, 6, 3), D(2022, 9, 19)} <= set(public_holidays("GB", 2022))
    assert D(2022, 5, 30) not in public_holidays("GB", 2022)
    # the actual days count as holidays too where the day off moved
    assert {D(2011, 12, 25), D(2011, 1, 1)} <= holiday_dates("GB", [2011])


def test_us_retail_holidays() -> None:
    holidays = public_holidays("US", 2017)
    assert holidays[D(2017, 11, 23)] == "Thanksgiving" and holidays[D(2017, 11, 24)] == "Black Friday"
    assert holidays[D(2017, 5, 29)] == "Memorial Day" and holidays[D(2017, 9, 4)] == "Labor Day"
    assert holidays[D(2017, 7, 4)] == "Independence Day" and holidays[D(2017, 12, 25)] == "Christmas Day"
    assert holidays[D(2017, 1, 2)] == "New Year's Day (observed)"  # 1 January 2017 was a Sunday
    assert [d for d, name in public_holidays("US", 2024).items() if name == "Thanksgiving"] == [D(2024, 11, 28)]
    # 1 January 2022 a Saturday: observed on Friday 31 December 2021, in 2021's calendar
    assert public_holidays("US", 2021)[D(2021, 12, 31)] == "New Year's Day (observed)"
    assert public_holidays("US", 2021)[D(2021, 7, 5)] == "Independence Day (observed)"
    with pytest.raises(ConfigError, match="unknown holiday country 'FR'"):
        public_holidays("FR", 2017)


def test_holiday_features_count_days_and_weeks_to_christmas() -> None:
    weeks = pd.DatetimeIndex(["2017-11-20", "2017-11-27", "2017-12-18", "2017-12-25", "2018-01-01"])
    features = holiday_features(weeks, "W", country="US")
    # Thanksgiving + Black Friday; nothing; Christmas on the Monday after; Christmas; New Year
    assert features[:, 0].tolist() == [2, 0, 0, 1, 1]
    assert features[:, 1].tolist() == [5, 4, 1, 0, 51]
    # for ARIMA: one column per holiday (by name), then the Christmas season flag (Christmas within 35 days)
    regressors = arima_regressors(weeks, "W", country="US")
    names = sorted(set(holiday_names("US", range(2016, 2020)).values()))
    assert regressors.shape == (5, len(names) + 1) and regressors[:, -1].tolist() == [0, 1, 1, 1, 0]
    assert regressors[:, names.index("Thanksgiving")].tolist() == [1, 0, 0, 0, 0]
    assert regressors[:, names.index("New Year's Day")].tolist() == [0, 0, 0, 0, 1]
    assert regressors.sum() == features[:, 0].sum() + 3
    # 26 Dec 2011 - 1 Jan 2012 in England: Boxing Day, the Christmas substitute and New Year's Day itself
    assert holiday_features(pd.DatetimeIndex(["2011-12-26"]), "W", country="GB")[0, 0] == 3
    days = holiday_features(pd.DatetimeIndex(["2017-12-24", "2017-12-25", "2017-12-26"]), "D", country="none",
                            extra=[D(2017, 12, 24)])
    assert days.tolist() == [[1, 1], [0, 0], [0, 364]]


def test_run_config_reads_the_holiday_options() -> None:
    config = RunConfig.parse({"forecast": {"holiday_country": "GB", "holiday_dates": ["2011-11-25"]}})
    assert config.forecast.holiday_country == "GB" and config.forecast.holiday_dates == (D(2011, 11, 25),)
    assert RunConfig().forecast.holiday_country == "none"
    with pytest.raises(ConfigError, match="holiday_country"):
        RunConfig.parse({"forecast": {"holiday_country": "FR"}})


def _planted(country: str, extra: tuple[dt.date, ...], lift: float, seed: int) -> tuple[pd.DatetimeIndex, np.ndarray]:
    """108 weeks from Monday 2021-01-04 of 100 + noise (sd 3) + ``lift`` per holiday day of the week."""
    starts = pd.date_range("2021-01-04", periods=108, freq="W-MON")
    rng = np.random.default_rng(seed)
    holidays = holiday_features(starts, "W", country=country, extra=extra)[:, 0]
    return starts, 100.0 + rng.normal(0, 3.0, len(starts)) + lift * holidays


def test_planted_us_holiday_spike_is_forecast_by_arima_with_the_regressor() -> None:
    starts, y = _planted("US", (), 60.0, seed=0)
    panel = pd.DataFrame({"series": "total", "level": "total", "period_start": starts[:100], "y": y[:100]})
    truth = 100.0 + 60.0 * holiday_features(starts[100:], "W", country="US")[:, 0]
    # the 8 weeks from 2022-12-05: Christmas (Sunday), its observed Monday with New Year, New Year observed
    assert truth.tolist() == [100, 100, 160, 220, 160, 100, 100, 100]
    models = ("seasonal_naive", "naive", "auto_arima")
    with_holidays = DemandForecaster(horizon=8, models=models, backtest_windows=2, holiday_country="US").fit(panel)
    without = DemandForecaster(horizon=8, models=models, backtest_windows=2).fit(panel)
    assert with_holidays.chosen_[("total", "total")] == "auto_arima"
    forecast = with_holidays.predict()["forecast"].to_numpy()
    np.testing.assert_allclose(forecast, truth, atol=12.0)
    missed = without.predict()["forecast"].to_numpy()
    # without the calendar the spike weeks are forecast like any other (off by 40 or more)
    assert np.all(np.abs(missed - truth)[truth > 100] > 40.0)


def test_planted_sale_days_are_learned_by_the_global_model_from_user_dates() -> None:
    starts = pd.date_range("2021-01-04", periods=108, freq="W-MON")
    rng = np.random.default_rng(1)
    weeks = sorted(set(rng.choice(100, 14, replace=False).tolist()) | {102, 105})  # irregular, not yearly
    sale_days = tuple((starts[i] + pd.Timedelta(days=2)).date() for i in weeks)
    _, y = _planted("none", sale_days, 80.0, seed=1)
    values = np.vstack([scale * y for scale in (1.0, 3.0, 10.0)])
    truth = 100.0 + 80.0 * np.isin(np.arange(100, 108), weeks)
    with_dates = GlobalLightGBM(horizon=8, freq="W", holiday_dates=sale_days, min_child_samples=5)
    without = GlobalLightGBM(horizon=8, freq="W", min_child_samples=5)
    for scale, f, g in zip((1.0, 3.0, 10.0), with_dates.fit(values[:, :100], starts[:100]).predict(),
                           without.fit(values[:, :100], starts[:100]).predict(), strict=True):
        np.testing.assert_allclose(f.mean / scale, truth, atol=12.0)
        assert np.all(np.abs(g.mean / scale - truth)[truth > 100] > 40.0)
