"""The report's figure helpers: calendar-day counts, fixed date ticks, and PNGs with or without the crop."""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from PIL import Image

from targetwise.figures import png_bytes
from targetwise.reports.figures import daily_lines, plot_lines_per_day
from targetwise.reports.forecasts import date_ticks


def test_daily_lines_fills_days_without_lines_so_the_7_day_mean_spans_7_calendar_days() -> None:
    per_day = pd.DataFrame({"day": ["2024-01-03", "2024-01-01", "2024-01-08"], "lines": [5, 7, 14]})
    daily = daily_lines(per_day)
    assert list(daily.index.strftime("%m-%d")) == ["01-01", "01-02", "01-03", "01-04", "01-05", "01-06",
                                                  "01-07", "01-08"]
    assert daily.tolist() == [7, 0, 5, 0, 0, 0, 0, 14]
    # the mean of the 7 calendar days ending on the 8th: (0 + 5 + 0 + 0 + 0 + 0 + 14) / 7, not (7 + 5 + 14) / 3
    assert daily.rolling(7, min_periods=1).mean().iloc[-1] == 19 / 7


def test_the_lines_per_day_plot_draws_one_filled_shape_and_the_mean() -> None:
    per_day = pd.DataFrame({"day": pd.date_range("2024-01-01", periods=400, freq="D").astype(str),
                            "lines": np.arange(400)})
    ax = plot_lines_per_day(per_day)
    assert len(ax.patches) == 0 and len(ax.collections) == 1  # one area, not a bar per day
    mean = ax.lines[0].get_ydata()
    assert mean[-1] == np.mean(np.arange(393, 400))
    plt.close(ax.figure)


def test_date_ticks_pick_quarters_for_a_year_and_weeks_for_two_months() -> None:
    ticks, labels = date_ticks(pd.Timestamp("2023-01-09"), pd.Timestamp("2024-03-25"))
    assert labels == ["Apr 2023", "Jul 2023", "Oct 2023", "Jan 2024"]
    assert all(t.is_quarter_start for t in ticks)
    ticks, labels = date_ticks(pd.Timestamp("2024-01-03"), pd.Timestamp("2024-02-15"))
    assert len(ticks) >= 3 and all(t.day_name() == "Monday" for t in ticks)
    assert ticks[0] == pd.Timestamp("2024-01-08") and labels[0] == "08 Jan"
    ticks, _ = date_ticks(pd.Timestamp("2024-01-01 00:00"), pd.Timestamp("2024-01-03"))
    assert ticks == list(pd.date_range("2024-01-01", "2024-01-03", freq="D"))


def test_png_without_crop_keeps_the_figure_size_and_with_crop_trims_the_margin() -> None:
    fig, ax = plt.subplots(figsize=(4, 3), dpi=50)
    ax.plot([0, 1], [0, 1])
    fig.tight_layout()
    uncropped = Image.open(io.BytesIO(png_bytes(fig, dpi=50, close=False, crop=False)))
    assert uncropped.size == (200, 150)
    ax.set_axis_off()  # nothing but the line: the crop trims the empty border
    cropped = Image.open(io.BytesIO(png_bytes(fig, dpi=50, crop=True)))
    assert cropped.size[0] < 200 and cropped.size[1] < 150
