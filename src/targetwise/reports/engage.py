"""The report's send-time section (customers by best channel and by best weekday x hour band, as a heatmap)
and its saved-audiences section (each audience with where it came from; a lookalike with its seed and its
expected similarity), from :func:`targetwise.usecases.sendtime.send_time_summary` and the audience store
(the same records `GET /v1/audiences` and the UI's audiences page list)."""

from __future__ import annotations

from typing import Any

import numpy as np

from targetwise.io.audiences import AudienceStore
from targetwise.io.workspace import Workspace
from targetwise.reports.figures import figure_to_data_uri, new_axes
from targetwise.usecases.runs import RunData
from targetwise.usecases.sendtime import send_time_summary

__all__ = ["audiences_section", "send_times_section"]


def send_times_section(run: RunData) -> dict[str, Any] | None:
    """The summary and its weekday x hour-band heatmap (PNG); None when the run has no send times."""
    summary = send_time_summary(run)
    if summary is None:
        return None
    grid = np.asarray(summary["weekday_band"], dtype=float)
    ax = new_axes(6.5, 3.4)
    ax.imshow(grid, cmap="Blues", aspect="auto", vmin=0, vmax=max(float(grid.max()), 1.0))
    top = grid.max() or 1.0
    for i in range(grid.shape[0]):
        for j in range(grid.shape[1]):
            if grid[i, j]:
                ax.text(j, i, f"{int(grid[i, j]):,}", ha="center", va="center", fontsize=7,
                        color="white" if grid[i, j] > 0.6 * top else "#222")
    ax.set_xticks(range(len(summary["bands"])), summary["bands"], fontsize=7)
    ax.set_yticks(range(7), summary["weekdays"], fontsize=8)
    ax.set_xlabel(f"best hour band (shop time, {summary['timezone'] or 'the shop time zone'})")
    ax.set_title("Customers by their best send time", fontsize=10)
    return summary | {"heatmap_png": figure_to_data_uri(ax.figure)}


def audiences_section(workspace: Workspace) -> list[dict[str, Any]]:
    """Every saved audience version by when it was saved: id, name, size, run, and where it came from."""
    rows = []
    for record in AudienceStore(workspace).list():
        source = record.source or {}
        kind = source.get("kind") or "conditions"
        rows.append({"id": record.id, "name": record.name, "size": record.size, "run_id": record.run_id,
                     "created_at": record.created_at, "kind": kind, "source": source,
                     "conditions": len(record.definition) if kind == "conditions" else None})
    return rows
