"""The report's cohort section: the retention heatmap (PNG) and the cumulative revenue per customer,
from the run's declared ``cohorts`` table (the same rows `GET /v1/cohorts` and the UI show)."""

from __future__ import annotations

from typing import Any

import numpy as np

from targetwise import presentation as pr
from targetwise.io import outputs as out
from targetwise.io.runs import RunInfo
from targetwise.presentation import Currency
from targetwise.reports.figures import figure_to_data_uri, new_axes
from targetwise.usecases.cohorts import cohort_summary, retention_matrix

__all__ = ["cohorts_section", "plot_cohort_heatmap"]


def plot_cohort_heatmap(matrix: Any, *, title: str, fmt: Any, ax: Any = None) -> Any:
    """Cohorts (rows, oldest on top) by months since the first order (columns), a value per cell (blank
    where the cohort is too young); the colour scale leaves out month 0 (100% retention by definition)."""
    rows, columns = matrix.shape
    ax = ax or new_axes(min(12.0, 1.5 + 0.55 * columns), min(9.0, 1.2 + 0.32 * rows))
    values = matrix.to_numpy(dtype=float)
    later = values[:, 1:] if columns > 1 else values
    top = np.nanmax(later) if np.isfinite(later).any() else 1.0
    ax.imshow(np.ma.masked_invalid(values), cmap="Greens", vmin=0, vmax=top or 1.0, aspect="auto")
    for i in range(rows):
        for j in range(columns):
            if np.isfinite(values[i, j]):
                dark = values[i, j] > 0.6 * (top or 1.0)
                # inside the axes: left out of the crop's bounding-box pass (a text per cell is most of the time)
                ax.text(j, i, fmt(values[i, j]), ha="center", va="center", fontsize=7,
                        color="white" if dark else "#222").set_in_layout(False)
    ax.set_xticks(range(columns), [str(c) for c in matrix.columns], fontsize=8)
    ax.set_yticks(range(rows), [str(r) for r in matrix.index], fontsize=8)
    ax.set_xlabel("months since the first order (0 = the month of the first order)")
    ax.set_ylabel("month of the first order")
    ax.set_title(title, fontsize=10)
    return ax


def cohorts_section(run: RunInfo, currency: Currency) -> dict[str, Any] | None:
    """Figures and heatmaps for the report (None when the run has no cohort table)."""
    if not run.has(out.COHORTS):
        return None
    table = run.read_table(out.COHORTS)
    if table.empty:
        return None
    summary = cohort_summary(table)
    retention = plot_cohort_heatmap(retention_matrix(table, "retention"), title="Share of each cohort buying",
                                    fmt=lambda v: f"{v:.0%}")
    revenue = plot_cohort_heatmap(
        retention_matrix(table, "cumulative_revenue_per_customer"),
        title="Cumulative revenue per customer", fmt=lambda v: pr.money(v, currency, compact=True),
    )
    for ax in (retention, revenue):
        ax.figure.tight_layout()  # margins fit the labels (the cell texts are left out): one draw, no crop pass
    return {"summary": summary, "retention_png": figure_to_data_uri(retention.figure, crop=False),
            "revenue_png": figure_to_data_uri(revenue.figure, crop=False)}
