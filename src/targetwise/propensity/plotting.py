"""Plots for propensity models: reliability (calibration) curve and cumulative gains.

Each ``plot_*`` draws on ``ax`` (a new figure if None) and returns the Axes;
nothing is shown or saved here.
"""

from __future__ import annotations

from typing import Any

from targetwise.propensity.metrics import lift_table, reliability_curve

__all__ = ["plot_gains", "plot_reliability"]


def _axes(ax: Any) -> Any:
    if ax is not None:
        return ax
    # a bare Figure needs no GUI backend and leaves pyplot's global state alone
    from matplotlib.figure import Figure

    return Figure(figsize=(5, 5)).subplots()


def plot_reliability(
    y_true: Any,
    proba: Any,
    *,
    n_bins: int = 10,
    strategy: str = "quantile",
    label: str | None = None,
    ax: Any = None,
) -> Any:
    """Observed rate vs mean predicted probability per bin, with the diagonal of perfect calibration."""
    curve = reliability_curve(y_true, proba, n_bins=n_bins, strategy=strategy)
    ax = _axes(ax)
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", linewidth=1, label="perfectly calibrated")
    ax.plot(curve["mean_predicted"], curve["observed_rate"], marker="o", label=label or "model")
    ax.set_xlabel("mean predicted probability")
    ax.set_ylabel("observed rate")
    ax.set_title("Reliability curve")
    ax.legend(loc="upper left")
    return ax


def plot_gains(y_true: Any, score: Any, *, n_bins: int = 10, label: str | None = None, ax: Any = None) -> Any:
    """Cumulative share of positives captured vs share of customers contacted (highest scores first)."""
    table = lift_table(y_true, score, n_bins=n_bins)
    share = [0.0, *(table["cumulative_rows"] / table["cumulative_rows"].iloc[-1]).tolist()]
    gain = [0.0, *table["cumulative_gain"].tolist()]
    ax = _axes(ax)
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", linewidth=1, label="random")
    ax.plot(share, gain, marker="o", label=label or "model")
    ax.set_xlabel("share of customers contacted")
    ax.set_ylabel("share of positives captured")
    ax.set_title("Cumulative gains")
    ax.legend(loc="lower right")
    return ax
