"""Known holidays as forecast regressors: a small calendar of retail holidays per country.

Holiday dates are known years ahead, so using a future period's holidays as a regressor is point in
time (a future *sale* is not known; the date of next Thanksgiving is). The ``holidays`` package is not
a dependency; this module computes the few days that move retail sales, for the countries of the two
benchmark shops:

* ``GB`` (England and Wales bank holidays): New Year's Day, Good Friday, Easter Monday, the early May
  (first Monday of May), spring (last Monday of May) and summer (last Monday of August) bank holidays,
  Christmas Day and Boxing Day, each moved to the next weekday when it falls on a weekend (the
  "substitute day"), plus the one-off and moved days proclaimed since 2000 (royal wedding 2011-04-29,
  the jubilees of 2002, 2012 and 2022, the state funeral 2022-09-19, the coronation 2023-05-08, VE day
  2020-05-08). Christmas Day, Boxing Day and New Year's Day themselves count too when they are moved.
* ``US`` (the retail calendar): New Year's Day, Easter Sunday, Memorial Day (last Monday of May),
  Independence Day (4 July), Labor Day (first Monday of September), Thanksgiving (fourth Thursday of
  November), Black Friday (the day after), Christmas Day; New Year's, Independence and Christmas Day
  also on their observed weekday (Friday before a Saturday, Monday after a Sunday).
* ``none``: no holidays (user-supplied dates only).

:func:`holiday_features` turns the calendar into the two regressors the global LightGBM takes, per
period: the holiday days in it and the weeks (or days) to the next Christmas Day (a tree splits on
it). :func:`arima_regressors` gives a linear model the same in a form it can use: the days of each
holiday apart (one column per holiday) and a 0/1 "Christmas season" flag (the five weeks to and
including Christmas week), not the count of weeks to Christmas, which over one year is a time trend
that jumps at Christmas.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

import numpy as np
import pandas as pd

from targetwise.errors import ConfigError

__all__ = ["CHRISTMAS_SEASON_DAYS", "HOLIDAY_COUNTRIES", "HOLIDAY_FEATURES", "SHOP_DATE", "arima_regressors",
           "easter_sunday", "holiday_dates", "holiday_features", "holiday_names", "public_holidays"]

HOLIDAY_COUNTRIES = ("none", "GB", "US")
#: the regressor columns of :func:`holiday_features`, in order
HOLIDAY_FEATURES = ("holiday_days", "periods_to_christmas")
#: the name of a user-supplied date that is no holiday of the country
SHOP_DATE = "shop date"
#: the Christmas shopping season of :func:`arima_regressors`: the days up to and including Christmas week
CHRISTMAS_SEASON_DAYS = 35

# England and Wales: proclaimed one-off bank holidays, and regular ones moved in those years
_GB_EXTRA = {dt.date(2002, 6, 3): "Golden Jubilee", dt.date(2011, 4, 29): "Royal wedding",
             dt.date(2012, 6, 5): "Diamond Jubilee", dt.date(2022, 6, 3): "Platinum Jubilee",
             dt.date(2022, 9, 19): "State funeral", dt.date(2023, 5, 8): "Coronation"}
# year -> (regular date, the date it moved to)
_GB_MOVED = {2002: (("spring", dt.date(2002, 6, 4)),), 2012: (("spring", dt.date(2012, 6, 4)),),
             2020: (("early May", dt.date(2020, 5, 8)),), 2022: (("spring", dt.date(2022, 6, 2)),)}


def easter_sunday(year: int) -> dt.date:
    """Easter Sunday of the Gregorian calendar (the anonymous Gregorian computus, Meeus/Jones/Butcher)."""
    a, b, c = year % 19, year // 100, year % 100
    d, e = b // 4, b % 4
    f = (b + 8) // 25
    g = (b - f + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = c // 4, c % 4
    leap = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * leap) // 451
    month = (h + leap - 7 * m + 114) // 31
    day = (h + leap - 7 * m + 114) % 31 + 1
    return dt.date(year, month, day)


def _nth_weekday(year: int, month: int, weekday: int, n: int) -> dt.date:
    """The ``n``-th ``weekday`` (0 = Monday) of the month; ``n = -1``: the last one."""
    if n > 0:
        first = dt.date(year, month, 1)
        return first + dt.timedelta(days=(weekday - first.weekday()) % 7 + 7 * (n - 1))
    last = (dt.date(year + month // 12, month % 12 + 1, 1) - dt.timedelta(days=1))
    return last - dt.timedelta(days=(last.weekday() - weekday) % 7)


def _gb(year: int) -> dict[dt.date, str]:
    days: dict[dt.date, str] = {}
    new_year = dt.date(year, 1, 1)
    moved = {5: 2, 6: 1}.get(new_year.weekday(), 0)
    days[new_year + dt.timedelta(days=moved)] = "New Year's Day" + (" (substitute day)" if moved else "")
    easter = easter_sunday(year)
    days[easter - dt.timedelta(days=2)] = "Good Friday"
    days[easter + dt.timedelta(days=1)] = "Easter Monday"
    regular = {"early May": _nth_weekday(year, 5, 0, 1), "spring": _nth_weekday(year, 5, 0, -1),
               "summer": _nth_weekday(year, 8, 0, -1)}
    for name, moved_to in _GB_MOVED.get(year, ()):
        regular[name] = moved_to
    days.update({day: f"{name} bank holiday" for name, day in regular.items()})
    christmas = dt.date(year, 12, 25)
    # Saturday: Mon 27 and Tue 28; Sunday: Mon 26 (Boxing Day) and Tue 27; Friday: Boxing Day on Mon 28
    shift = {4: (0, 3), 5: (2, 3), 6: (2, 1)}.get(christmas.weekday(), (0, 1))
    days[christmas + dt.timedelta(days=shift[0])] = "Christmas Day" + (" (substitute day)" if shift[0] else "")
    days[christmas + dt.timedelta(days=shift[1])] = "Boxing Day" + (" (substitute day)" if shift[1] > 1 else "")
    days.update({d: name for d, name in _GB_EXTRA.items() if d.year == year})
    return days


def _observed_us(day: dt.date) -> dt.date:
    return day + dt.timedelta(days={5: -1, 6: 1}.get(day.weekday(), 0))


def _us(year: int) -> dict[dt.date, str]:
    thanksgiving = _nth_weekday(year, 11, 3, 4)
    days = {dt.date(year, 1, 1): "New Year's Day", easter_sunday(year): "Easter Sunday",
            _nth_weekday(year, 5, 0, -1): "Memorial Day", dt.date(year, 7, 4): "Independence Day",
            _nth_weekday(year, 9, 0, 1): "Labor Day", thanksgiving: "Thanksgiving",
            thanksgiving + dt.timedelta(days=1): "Black Friday", dt.date(year, 12, 25): "Christmas Day"}
    for month, day, name in ((1, 1, "New Year's Day"), (7, 4, "Independence Day"), (12, 25, "Christmas Day")):
        observed = _observed_us(dt.date(year, month, day))
        if observed.year == year:  # New Year on a Saturday is observed on the Friday before, in the year before
            days.setdefault(observed, f"{name} (observed)")
    following = _observed_us(dt.date(year + 1, 1, 1))
    if following.year == year:
        days[following] = "New Year's Day (observed)"
    return days


def public_holidays(country: str, year: int) -> dict[dt.date, str]:
    """The country's holidays in ``year`` (date -> name; see the module docstring for which)."""
    if country == "GB":
        return _gb(year)
    if country == "US":
        return _us(year)
    if country == "none":
        return {}
    raise ConfigError(f"unknown holiday country {country!r}", fix=f"use one of {', '.join(HOLIDAY_COUNTRIES)}")


def holiday_names(country: str, years: Iterable[int], extra: Iterable[dt.date] = ()) -> dict[dt.date, str]:
    """Every holiday of the country in ``years`` (date -> the holiday's name, without "(observed)" or
    "(substitute day)", so a moved day off and the day itself are one holiday), the actual Christmas,
    Boxing and New Year's days among them in GB (also where the day off moved), and the ``extra``
    user-supplied dates (named "shop date" unless they are a holiday already)."""
    found: dict[dt.date, str] = {}
    for year in years:
        for day, name in public_holidays(country, year).items():
            found[day] = name.split(" (")[0]
        if country == "GB":
            for month, day, name in ((1, 1, "New Year's Day"), (12, 25, "Christmas Day"), (12, 26, "Boxing Day")):
                found.setdefault(dt.date(year, month, day), name)
    for day in extra:
        found.setdefault(day, SHOP_DATE)
    return found


def holiday_dates(country: str, years: Iterable[int], extra: Iterable[dt.date] = ()) -> set[dt.date]:
    """The dates of :func:`holiday_names`."""
    return set(holiday_names(country, years, extra))


def _days_in_periods(period_starts: pd.DatetimeIndex, freq: str, dates: Iterable[dt.date]) -> np.ndarray:
    """How many of ``dates`` fall in each period."""
    days = 7 if freq == "W" else 1
    known = np.array(sorted(dates), dtype="datetime64[D]")
    begin = pd.DatetimeIndex(period_starts).to_numpy().astype("datetime64[D]")
    return (np.searchsorted(known, begin + np.timedelta64(days, "D"), side="left")
            - np.searchsorted(known, begin, side="left")).astype("float64")


def holiday_features(period_starts: pd.DatetimeIndex, freq: str, *, country: str,
                     extra: Iterable[dt.date] = ()) -> np.ndarray:
    """Regressors of each period, ``[n_periods, 2]`` (:data:`HOLIDAY_FEATURES`): the holiday days in the
    period (0-7 for a week, 0 or 1 for a day; :func:`holiday_dates` of ``country`` plus ``extra``) and
    the whole periods from its start to the next Christmas Day (0: Christmas is in it).

    >>> holiday_features(pd.DatetimeIndex(["2017-11-20", "2017-12-25"]), "W", country="US").tolist()
    [[2.0, 5.0], [1.0, 0.0]]
    """
    days = 7 if freq == "W" else 1
    starts = pd.DatetimeIndex(period_starts)
    if not len(starts):
        return np.zeros((0, len(HOLIDAY_FEATURES)))
    begin = starts.to_numpy().astype("datetime64[D]")
    count = _days_in_periods(starts, freq, holiday_dates(country, _years(starts), extra))
    year = starts.year.to_numpy()
    christmas = pd.to_datetime({"year": year, "month": 12, "day": 25}).to_numpy().astype("datetime64[D]")
    # the period holding Christmas counts 0; a period starting after it waits for next year's
    passed = christmas < begin
    christmas = np.where(passed, pd.to_datetime({"year": year + 1, "month": 12, "day": 25})
                         .to_numpy().astype("datetime64[D]"), christmas)
    periods = ((christmas - begin).astype("int64") // days).astype("float64")
    return np.column_stack([count, periods])


def _years(starts: pd.DatetimeIndex) -> range:
    return range(starts.min().year - 1, starts.max().year + 2)


def arima_regressors(period_starts: pd.DatetimeIndex, freq: str, *, country: str,
                     extra: Iterable[dt.date] = ()) -> np.ndarray:
    """Regressors for a linear model (AutoARIMA's ``X``), ``[n_periods, k + 1]``: one column per holiday
    of the country (and one for the user's dates; in the order of their names), the days of that
    holiday in the period, and last the Christmas season flag: 1 where Christmas is within
    :data:`CHRISTMAS_SEASON_DAYS` days of the period's start (its period included), else 0.

    One column per holiday, not one for all: holidays move sales both ways (Christmas week closes shops,
    Thanksgiving week fills them), so each gets its own effect, estimated from the history's own
    occurrences; a holiday the history never held has a constant column there and adds nothing.
    """
    starts = pd.DatetimeIndex(period_starts)
    if not len(starts):
        return np.zeros((0, 1))
    names = holiday_names(country, _years(starts), extra)
    columns = [_days_in_periods(starts, freq, [d for d, n in names.items() if n == name])
               for name in sorted(set(names.values()))]
    days = 7 if freq == "W" else 1
    to_christmas = holiday_features(starts, freq, country="none")[:, 1]
    season = (to_christmas * days < CHRISTMAS_SEASON_DAYS).astype("float64")
    return np.column_stack([*columns, season])
