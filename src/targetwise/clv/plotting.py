"""Model checks a marketer can read: calibration vs holdout, tracking, P(alive) matrix, the value distribution.

Each ``plot_*`` draws on ``ax`` (a new figure when ``None``) and returns the
Axes; nothing is shown or saved here. Axis labels are in words with their units
("mean purchases in the 17 weeks after the cutoff"), and money axes carry the
currency (:func:`plot_value_distribution`: a log scale with currency ticks).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from targetwise.clv._base import as_column, validate_rfm
from targetwise.clv.beta_geo import BetaGeo
from targetwise.clv.pareto_nbd import ParetoNBD
from targetwise.errors import DataValidationError
from targetwise.presentation import Currency, money, plural

__all__ = [
    "calibration_holdout_table",
    "plot_calibration_holdout",
    "plot_prob_alive_matrix",
    "plot_tracking",
    "plot_value_distribution",
    "prob_alive_matrix",
    "tracking_table",
]


def _units(n: float, unit: str) -> str:
    """``17 weeks``, ``1 day``: ``unit`` given singular or plural ("week" or "weeks")."""
    singular = unit[:-1] if unit.endswith("s") and unit not in ("s",) else unit
    return plural(round(float(n), 1), singular)


def _plural_unit(unit: str) -> str:
    return unit if unit.endswith("s") else unit + "s"


def _axes(ax: Any) -> Any:
    if ax is not None:
        return ax
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    _, new_ax = plt.subplots(figsize=(7, 4.5))
    return new_ax


def calibration_holdout_table(
    model: BetaGeo | ParetoNBD,
    frequency: ArrayLike,
    recency: ArrayLike,
    T: ArrayLike,
    holdout_frequency: ArrayLike,
    *,
    holdout_duration: float,
    max_frequency: int = 7,
) -> Any:
    """Mean holdout purchases by calibration frequency (the last bucket is ``max_frequency+``).

    Columns: ``n_customers``, ``actual`` and ``model`` (conditional expectation
    over ``holdout_duration`` time units), indexed by calibration frequency.
    """
    import pandas as pd

    x, t_x, big_t = validate_rfm(frequency, recency, T)
    holdout, _ = as_column(holdout_frequency, "holdout_frequency")
    if holdout.shape != x.shape or np.any(~np.isfinite(holdout)) or np.any(holdout < 0):
        raise DataValidationError(
            "holdout_frequency must hold one finite count >= 0 per customer",
            fix="pass the number of purchases each customer made in the holdout period",
        )
    predicted = model.expected_purchases(holdout_duration, x, t_x, big_t)
    bucket = np.minimum(x, max_frequency).astype(int)
    table = (
        pd.DataFrame({"bucket": bucket, "actual": holdout, "model": predicted})
        .groupby("bucket")
        .agg(n_customers=("actual", "size"), actual=("actual", "mean"), model=("model", "mean"))
    )
    table.index = [str(i) if i < max_frequency else f"{max_frequency}+" for i in table.index]
    table.index.name = "calibration_frequency"
    return table


def plot_calibration_holdout(
    model: BetaGeo | ParetoNBD,
    frequency: ArrayLike,
    recency: ArrayLike,
    T: ArrayLike,
    holdout_frequency: ArrayLike,
    *,
    holdout_duration: float,
    max_frequency: int = 7,
    time_unit: str = "period",
    ax: Any = None,
) -> Any:
    """Actual vs model mean holdout purchases by calibration frequency bucket."""
    table = calibration_holdout_table(
        model,
        frequency,
        recency,
        T,
        holdout_frequency,
        holdout_duration=holdout_duration,
        max_frequency=max_frequency,
    )
    ax = _axes(ax)
    positions = np.arange(len(table))
    ax.plot(positions, table["actual"].to_numpy(), marker="o", label="actual")
    ax.plot(positions, table["model"].to_numpy(), marker="s", linestyle="--", label=type(model).__name__)
    ax.set_xticks(positions, list(table.index))
    ax.set_xlabel("repeat purchases before the cutoff")
    ax.set_ylabel(f"mean purchases in the {_units(holdout_duration, time_unit)} after")
    ax.set_title("Predicted vs actual purchases after the cutoff, by past purchases")
    ax.legend(["actual", f"model ({type(model).__name__})"], frameon=False)
    return ax


def tracking_table(
    model: BetaGeo | ParetoNBD,
    repeat_purchases_per_period: ArrayLike,
    first_purchase_times: ArrayLike,
) -> Any:
    """Cumulative repeat purchases per period, actual vs expected.

    ``repeat_purchases_per_period[k]`` counts all customers' repeat purchases in
    period ``(k, k+1]``; ``first_purchase_times`` gives each customer's first
    purchase time in the same unit and origin. A customer acquired at ``τ`` is
    expected to have made ``E[X(t - τ)]`` repeat purchases by time ``t``.
    """
    import pandas as pd

    counts, _ = as_column(repeat_purchases_per_period, "repeat_purchases_per_period")
    births, _ = as_column(first_purchase_times, "first_purchase_times")
    if (
        np.any(~np.isfinite(counts))
        or np.any(counts < 0)
        or np.any(~np.isfinite(births))
        or np.any(births < 0)
    ):
        raise DataValidationError(
            "repeat purchase counts and first purchase times must be finite and >= 0",
            fix="pass per-period repeat purchase counts and each customer's first purchase time",
        )
    ends = np.arange(1, counts.shape[0] + 1, dtype=np.float64)
    # Customers acquired at the same time share E[X(.)]: evaluate once per distinct time.
    birth_values, birth_counts = np.unique(births, return_counts=True)
    expected = np.empty(ends.shape[0])
    for k, end in enumerate(ends):
        ages = np.maximum(end - birth_values, 0.0)
        expected[k] = float(birth_counts @ np.asarray(model.expected_purchases_unconditional(ages)))
    return pd.DataFrame({"period_end": ends, "actual": np.cumsum(counts), "expected": expected}).set_index(
        "period_end"
    )


def plot_tracking(
    model: BetaGeo | ParetoNBD,
    repeat_purchases_per_period: ArrayLike,
    first_purchase_times: ArrayLike,
    *,
    calibration_end: float | None = None,
    time_unit: str = "period",
    ax: Any = None,
) -> Any:
    """Cumulative repeat transactions, actual vs model, with the calibration end marked."""
    table = tracking_table(model, repeat_purchases_per_period, first_purchase_times)
    ax = _axes(ax)
    ax.plot(table.index, table["actual"], label="actual")
    ax.plot(table.index, table["expected"], linestyle="--", label=type(model).__name__)
    if calibration_end is not None:
        ax.axvline(calibration_end, color="grey", linestyle=":", label="cutoff (model fitted before it)")
    ax.set_xlabel(f"{_plural_unit(time_unit)} since the first order in the data")
    ax.set_ylabel("repeat purchases so far (all customers)")
    ax.set_title("Repeat purchases over time: actual vs model")
    ax.legend(frameon=False)
    return ax


def prob_alive_matrix(
    model: BetaGeo | ParetoNBD, *, T: float, max_frequency: int = 20, n_recency: int = 40
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """P(alive) on a (frequency 0..max_frequency) × (recency 0..T) grid for a customer observed for ``T``."""
    frequencies = np.arange(max_frequency + 1, dtype=np.float64)
    recencies = np.linspace(0.0, T, n_recency)
    grid_x, grid_r = np.meshgrid(frequencies, recencies, indexing="ij")
    flat_x, flat_r = grid_x.ravel(), grid_r.ravel()
    values = np.full(flat_x.shape, np.nan)
    valid = (flat_x > 0) | (flat_r == 0)
    values[valid] = model.prob_alive(flat_x[valid], flat_r[valid], np.full(int(valid.sum()), T))
    return frequencies, recencies, values.reshape(grid_x.shape)


def plot_prob_alive_matrix(
    model: BetaGeo | ParetoNBD,
    *,
    T: float,
    max_frequency: int = 20,
    n_recency: int = 40,
    time_unit: str = "period",
    ax: Any = None,
) -> Any:
    """Heatmap of P(alive) by frequency and recency for customers observed for ``T`` time units."""
    frequencies, recencies, values = prob_alive_matrix(
        model, T=T, max_frequency=max_frequency, n_recency=n_recency
    )
    ax = _axes(ax)
    image = ax.imshow(
        values,
        origin="lower",
        aspect="auto",
        cmap="viridis",
        vmin=0.0,
        vmax=1.0,
        extent=(recencies[0], recencies[-1], frequencies[0] - 0.5, frequencies[-1] + 0.5),
    )
    colorbar = ax.figure.colorbar(image, ax=ax, label="chance the customer is still active")
    colorbar.ax.yaxis.set_major_formatter(_percent_formatter())
    ax.set_xlabel(f"{_plural_unit(time_unit)} from first to last purchase")
    ax.set_ylabel("repeat purchases")
    ax.set_title(f"Chance still active, for customers first seen {_units(T, time_unit)} ago")
    return ax


def _percent_formatter() -> Any:
    from matplotlib.ticker import FuncFormatter

    return FuncFormatter(lambda v, _pos: f"{v:.0%}")


def plot_value_distribution(
    values: ArrayLike,
    *,
    currency: Currency | None = None,
    horizon_days: float | None = None,
    bins: int = 40,
    floor: float = 1.0,
    ax: Any = None,
) -> Any:
    """Customers by lifetime value on a log money axis with currency ticks (``£10``, ``£1k``), median marked.

    Values below ``floor`` (and 0) are counted in the first bar, which the x label says; the
    ticks are amounts in ``currency``, not logarithms.
    """
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    cur = currency or Currency()
    data = np.asarray(values, dtype=float)
    data = data[np.isfinite(data)]
    ax = _axes(ax)
    positive = data[data > 0]
    if positive.size == 0:
        ax.text(0.5, 0.5, "no customer has a positive value", ha="center", va="center", transform=ax.transAxes)
        return ax
    low = max(float(positive.min()), floor)
    high = max(float(positive.max()), low * 10)
    edges = np.geomspace(low, high, bins + 1)
    below = int((data < low).sum())
    ax.hist(np.clip(data, low, high), bins=edges, color="#6baed6", edgecolor="white", linewidth=0.4)
    ax.set_xscale("log")
    ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _pos: money(v, cur, compact=True)))
    ax.xaxis.set_minor_formatter(NullFormatter())
    median = float(np.median(data))
    if median > 0:
        ax.axvline(max(median, low), color="#08519c", lw=1.2, ls="--")
        ax.annotate(f"median {money(median, cur)}", (max(median, low), 1), xycoords=("data", "axes fraction"),
                    xytext=(4, -12), textcoords="offset points", fontsize=8, color="#08519c")
    horizon = f", next {plural(horizon_days, 'day')}" if horizon_days else ""
    first_bar = f"; first bar includes {plural(below, 'customer')} under {money(low, cur)}" if below else ""
    ax.set_xlabel(f"customer lifetime value{horizon} (log scale{first_bar})")
    ax.set_ylabel("customers")
    ax.spines[["top", "right"]].set_visible(False)
    return ax
