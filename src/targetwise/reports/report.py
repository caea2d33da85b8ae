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

from targetwise.io.profile import profile_workspace
from targetwise.io.runs import RunInfo
from targetwise.io.workspace import Workspace
from targetwise.reports.figures import figure_to_data_uri, new_axes
from targetwise.reports.render import _base_context, environment, profile_context

__all__ = ["render_report"]


def _png_uri(run: RunInfo, relative: str) -> str | None:
    if not run.has(relative):
        return None
    return "data:image/png;base64," + base64.b64encode(run.file(relative).read_bytes()).decode("ascii")


def _segments(run: RunInfo) -> dict[str, Any] | None:
    if not run.has("segments/profiles.json"):
        return None
    counts = run.read_json("segments/rfm_counts.json") if run.has("segments/rfm_counts.json") else {}
    return {
        "profiles": run.read_json("segments/profiles.json"),
        "rfm_counts": sorted(counts.items(), key=lambda kv: -kv[1]),
        "map_png": _png_uri(run, "segments/segment_map.png"),
        "metrics": run.manifest["stages"].get("segments", {}).get("metrics", {}),
    }


def _clv(run: RunInfo) -> dict[str, Any] | None:
    if not run.has("clv/customer_clv.parquet"):
        return None
    frame = run.read_table("clv/customer_clv.parquet")
    ax = new_axes(7, 3)
    values = frame["clv"].clip(lower=0)
    ax.hist(np.log10(values + 1), bins=40, color="#6baed6")
    ax.set_xlabel("CLV (log10 of value + 1)")
    ax.set_ylabel("customers")
    ax.spines[["top", "right"]].set_visible(False)
    deciles = frame["clv"].quantile([0.5, 0.9, 0.99]).to_dict()
    top_share = frame["clv"].nlargest(max(1, len(frame) // 10)).sum() / max(frame["clv"].sum(), 1e-12)
    stage = run.manifest["stages"].get("clv", {})
    return {
        "distribution_png": figure_to_data_uri(ax.figure),
        "customers": len(frame),
        "total": float(frame["clv"].sum()),
        "median": float(deciles.get(0.5, 0.0)),
        "p90": float(deciles.get(0.9, 0.0)),
        "top_decile_share": float(top_share),
        "metrics": stage.get("metrics", {}),
        "notes": stage.get("notes", []),
        "calibration_png": _png_uri(run, "clv/calibration_holdout.png"),
        "tracking_png": _png_uri(run, "clv/tracking.png"),
        "alive_png": _png_uri(run, "clv/prob_alive_matrix.png"),
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
    stage = run.manifest["stages"].get("propensity")
    if not stage or stage.get("status") != "ok":
        return []
    cards = run.read_json("propensity/model_cards.json") if run.has("propensity/model_cards.json") else {}
    out = []
    for key, metrics in stage.get("metrics", {}).items():
        entry: dict[str, Any] = {"task": key, "metrics": metrics, "card": cards.get(key, {})}
        pred_file = f"propensity/backtest_{key}.parquet"
        if run.has(pred_file):
            pred = run.read_table(pred_file)
            if pred["y_true"].nunique() == 2:
                entry["lift_png"] = _lift_chart(pred, f"{key}: lift by decile (out of time)")
                entry["reliability_png"] = _reliability_chart(pred, f"{key}: reliability")
        imp_file = f"propensity/importance_{key}.parquet"
        if run.has(imp_file):
            entry["importance"] = run.read_table(imp_file).head(10).to_dict("records")
        out.append(entry)
    return out


def _recommendations(run: RunInfo) -> dict[str, Any] | None:
    stage = run.manifest["stages"].get("recommendations")
    if not stage or stage.get("status") != "ok":
        return None
    popular = run.read_table("recommendations/popular.parquet").head(10)
    return {"metrics": stage.get("metrics", {}), "popular": popular.to_dict("records")}


def _uplift(run: RunInfo) -> dict[str, Any] | None:
    stage = run.manifest["stages"].get("uplift")
    if not stage:
        return None
    out: dict[str, Any] = {"status": stage.get("status"), "metrics": stage.get("metrics", {}), "notes": stage.get("notes", [])}
    if run.has("uplift/qini_curve.parquet"):
        curve = run.read_table("uplift/qini_curve.parquet")
        ax = new_axes(5.5, 3.2)
        ax.plot(curve["targeted"], curve["incremental_responders"], label="model", color="#08519c")
        ax.plot([0, curve["targeted"].iloc[-1]], [0, curve["incremental_responders"].iloc[-1]], ls="--", color="#999", label="random")
        ax.set_xlabel("customers targeted (holdout)")
        ax.set_ylabel("incremental responders")
        ax.legend(frameon=False)
        ax.spines[["top", "right"]].set_visible(False)
        out["qini_png"] = figure_to_data_uri(ax.figure)
    return out


def render_report(workspace: Workspace, run: RunInfo | None) -> str:
    """The whole report as one HTML string (no external resources)."""
    context = _base_context("targetwise report", workspace.path) | profile_context(profile_workspace(workspace))
    context["run"] = None
    if run is not None:
        context |= {
            "run": {"id": run.run_id, "as_of": run.as_of, "created_at": run.created_at,
                    "snapshot": run.manifest.get("data_snapshot", {}).get("snapshot_id"),
                    "stages": {k: {"status": v.get("status"), "seconds": v.get("seconds"), "notes": v.get("notes", [])}
                               for k, v in run.manifest.get("stages", {}).items()}},
            "segments": _segments(run),
            "clv": _clv(run),
            "propensity": _propensity(run),
            "recommendations": _recommendations(run),
            "uplift": _uplift(run),
        }
    context["json"] = lambda obj: json.dumps(obj, default=str)
    return environment().get_template("report.html.j2").render(**context)
