"""Model checks a marketer can read: calibration vs holdout, tracking, P(alive) matrix.

Each ``plot_*`` draws on ``ax`` (a new figure when ``None``) and returns the
Axes; nothing is shown or saved here.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from targetwise.clv._base import as_column, validate_rfm
from targetwise.clv.beta_geo import BetaGeo
from targetwise.clv.pareto_nbd import ParetoNBD
from targetwise.errors import DataValidationError

__all__ = [
    "calibration_holdout_table",
    "plot_calibration_holdout",
    "plot_prob_alive_matrix",
    "plot_tracking",
    "prob_alive_matrix",
    "tracking_table",
]


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
    ax.set_xlabel("purchases in calibration period")
    ax.set_ylabel(f"mean purchases in holdout ({holdout_duration:g} {time_unit})")
    ax.set_title("Conditional expectations: calibration vs holdout")
    ax.legend()
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
        ax.axvline(calibration_end, color="grey", linestyle=":", label="end of calibration")
    ax.set_xlabel(time_unit)
    ax.set_ylabel("cumulative repeat transactions")
    ax.set_title("Tracking cumulative repeat transactions")
    ax.legend()
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
    ax.figure.colorbar(image, ax=ax, label="P(alive)")
    ax.set_xlabel(f"recency ({time_unit} from first to last purchase)")
    ax.set_ylabel("frequency (repeat purchases)")
    ax.set_title(f"Probability a customer is alive, T = {T:g} {time_unit}")
    return ax
