"""`targetwise report`: one self-contained HTML file covering the active (or a given) run.

Sections: data profile, segments, CLV and its checks, propensity metrics with
lift and reliability, recommendations, uplift. Every figure is embedded as a
base64 PNG, so the file reads offline and can be e-mailed as is.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import numpy as np
import pandas as pd

from targetwise.io import outputs as out
from targetwise.io.outputs import Output
from targetwise.io.profile import profile_workspace
from targetwise.io.runs import RunInfo
from targetwise.io.workspace import Workspace
from targetwise.reports.figures import figure_to_data_uri, new_axes
from targetwise.reports.render import _base_context, environment, profile_context

__all__ = ["render_report"]


def _png_uri(run: RunInfo, output: Output) -> str | None:
    """A PNG the run holds, inlined as a ``data:`` URI (None when the run lacks it)."""
    if not run.has(output):
        return None
    return "data:image/png;base64," + base64.b64encode(run.file(output).read_bytes()).decode("ascii")


def _segments(run: RunInfo) -> dict[str, Any] | None:
    if not run.has(out.PROFILES):
        return None
    counts = run.read_json(out.RFM_COUNTS) if run.has(out.RFM_COUNTS) else {}
    stage = run.stage("segments")
    return {
        "profiles": run.read_json(out.PROFILES),
        "rfm_counts": sorted(counts.items(), key=lambda kv: -kv[1]),
        "map_png": _png_uri(run, out.SEGMENT_MAP),
        "metrics": stage.metrics if stage else {},
    }


def _clv(run: RunInfo) -> dict[str, Any] | None:
    if not run.has(out.CLV):
        return None
    frame = run.read_table(out.CLV)
    ax = new_axes(7, 3)
    values = frame["clv"].clip(lower=0)
    ax.hist(np.log10(values + 1), bins=40, color="#6baed6")
    ax.set_xlabel("CLV (log10 of value + 1)")
    ax.set_ylabel("customers")
    ax.spines[["top", "right"]].set_visible(False)
    deciles = frame["clv"].quantile([0.5, 0.9, 0.99]).to_dict()
    top_share = frame["clv"].nlargest(max(1, len(frame) // 10)).sum() / max(frame["clv"].sum(), 1e-12)
    stage = run.stage("clv")
    return {
        "distribution_png": figure_to_data_uri(ax.figure),
        "customers": len(frame),
        "total": float(frame["clv"].sum()),
        "median": float(deciles.get(0.5, 0.0)),
        "p90": float(deciles.get(0.9, 0.0)),
        "top_decile_share": float(top_share),
        "metrics": stage.metrics if stage else {},
        "notes": stage.notes if stage else [],
        "calibration_png": _png_uri(run, out.CLV_HOLDOUT_PNG),
        "tracking_png": _png_uri(run, out.CLV_TRACKING_PNG),
        "alive_png": _png_uri(run, out.CLV_ALIVE_PNG),
    }


def _lift_chart(pred: pd.DataFrame, title: str) -> str:
    from targetwise.propensity import lift_table

    table = lift_table(pred["y_true"].to_numpy(), pred["score"].to_numpy())
    ax = new_axes(5.5, 3)
    lift_col = next((c for c in table.columns if "lift" in c and "cum" not in c), table.columns[-1])
    ax.bar(range(1, len(table) + 1), table[lift_col], color="#74c476")
    ax.axhline(1.0, color="#555", lw=1, ls="--")
    ax.set_xlabel("score decile (1 = highest)")
    ax.set_ylabel("lift")
    ax.set_title(title)
    ax.spines[["top", "right"]].set_visible(False)
    return figure_to_data_uri(ax.figure)


def _reliability_chart(pred: pd.DataFrame, title: str) -> str:
    from targetwise.propensity import plot_reliability

    ax = new_axes(4.5, 3.2)
    plot_reliability(pred["y_true"].to_numpy(), pred["score"].to_numpy(), ax=ax)
    ax.set_title(title)
    return figure_to_data_uri(ax.figure)


def _propensity(run: RunInfo) -> list[dict[str, Any]]:
    stage = run.stage("propensity")
    if stage is None or stage.status != "ok":
        return []
    cards = run.read_json(out.MODEL_CARDS) if run.has(out.MODEL_CARDS) else {}
    tasks = []
    for key, metrics in stage.metrics.items():
        entry: dict[str, Any] = {"task": key, "metrics": metrics, "card": cards.get(key, {})}
        pred_file = out.BACKTEST.at(key)
        if run.has(pred_file):
            pred = run.read_table(pred_file)
            if pred["y_true"].nunique() == 2:
                entry["lift_png"] = _lift_chart(pred, f"{key}: lift by decile (out of time)")
                entry["reliability_png"] = _reliability_chart(pred, f"{key}: reliability")
        imp_file = out.IMPORTANCE.at(key)
        if run.has(imp_file):
            entry["importance"] = run.read_table(imp_file).head(10).to_dict("records")
        tasks.append(entry)
    return tasks


def _recommendations(run: RunInfo) -> dict[str, Any] | None:
    stage = run.stage("recommendations")
    if stage is None or stage.status != "ok":
        return None
    popular = run.read_table(out.POPULAR).head(10)
    return {"metrics": stage.metrics, "popular": popular.to_dict("records")}


def _uplift(run: RunInfo) -> dict[str, Any] | None:
    stage = run.stage("uplift")
    if stage is None:
        return None
    section: dict[str, Any] = {"status": stage.status, "metrics": stage.metrics, "notes": stage.notes}
    if run.has(out.QINI):
        curve = run.read_table(out.QINI)
        ax = new_axes(5.5, 3.2)
        ax.plot(curve["targeted"], curve["incremental_responders"], label="model", color="#08519c")
        ax.plot([0, curve["targeted"].iloc[-1]], [0, curve["incremental_responders"].iloc[-1]], ls="--", color="#999", label="random")
        ax.set_xlabel("customers targeted (holdout)")
        ax.set_ylabel("incremental responders")
        ax.legend(frameon=False)
        ax.spines[["top", "right"]].set_visible(False)
        section["qini_png"] = figure_to_data_uri(ax.figure)
    return section


def render_report(workspace: Workspace, run: RunInfo | None) -> str:
    """The whole report as one HTML string (no external resources)."""
    context = _base_context("targetwise report", workspace.path) | profile_context(profile_workspace(workspace))
    context["run"] = None
    if run is not None:
        context |= {
            "run": {"id": run.run_id, "as_of": run.as_of, "created_at": run.created_at,
                    "snapshot": run.manifest.get("data_snapshot", {}).get("snapshot_id"),
                    "stages": {name: {"status": record.status, "seconds": record.seconds, "notes": record.notes}
                               for name, record in run.stages().items()}},
            "segments": _segments(run),
            "clv": _clv(run),
            "propensity": _propensity(run),
            "recommendations": _recommendations(run),
            "uplift": _uplift(run),
        }
    context["json"] = lambda obj: json.dumps(obj, default=str)
    return environment().get_template("report.html.j2").render(**context)
