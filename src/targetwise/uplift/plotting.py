"""Qini and uplift curve plots (matplotlib, Agg-safe; never calls ``plt.show``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

import numpy as np
from numpy.typing import ArrayLike

from targetwise.uplift.metrics import (
    perfect_qini_curve,
    perfect_uplift_curve,
    qini_auc_score,
    qini_curve,
    uplift_auc_score,
    uplift_curve,
)

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["plot_uplift_curve"]


def plot_uplift_curve(
    y_true: ArrayLike,
    uplift: ArrayLike,
    treatment: ArrayLike,
    *,
    kind: Literal["qini", "uplift"] = "qini",
    label: str = "model",
    show_perfect: bool = True,
    ax: Axes | None = None,
) -> Axes:
    """Plot the Qini (``kind="qini"``) or uplift curve with random and perfect references.

    x: customers targeted, best predicted uplift first; y: incremental responders.
    The legend gives the normalised area (scikit-uplift's ``qini_auc_score`` or
    ``uplift_auc_score``). Returns the Axes.
    """
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(6, 4))
    if kind == "qini":
        x, y = qini_curve(y_true, uplift, treatment)
        x_best, y_best = perfect_qini_curve(y_true, treatment)
        score = qini_auc_score(y_true, uplift, treatment)
        ax.set_ylabel("incremental responders (Qini)")
    else:
        x, y = uplift_curve(y_true, uplift, treatment)
        x_best, y_best = perfect_uplift_curve(y_true, treatment)
        score = uplift_auc_score(y_true, uplift, treatment)
        ax.set_ylabel("incremental responders (uplift curve)")
    ax.plot(x, y, label=f"{label} ({kind} AUC {score:.3f})")
    ax.plot([0, x[-1]], [0, y[-1]], linestyle="--", color="grey", label="random")
    if show_perfect:
        ax.plot(x_best, y_best, linestyle=":", color="black", label="perfect")
    ax.set_xlabel("customers targeted (highest predicted uplift first)")
    ax.set_xlim(0, float(np.max(x)))
    ax.legend(loc="best")
    return ax
