"""`targetwise report`: one self-contained HTML file covering the active (or a given) run.

The first screen is what a marketer acts on: the run's key figures (from
:func:`targetwise.usecases.overview.run_overview`, the same numbers the web UI shows),
then the data profile, segments, lifetime value, propensities, recommendations and
uplift, in plain words, with the workspace currency on every amount and each code name
replaced by its label (its definition in a tooltip). What an analyst checks (stage
timings, model diagnostics and convergence notes, fitted parameters, model checks) is
in the appendix. Every figure is embedded as a base64 PNG, so the file reads offline
and can be e-mailed as is.
"""

from __future__ import annotations

import base64
from typing import Any

import pandas as pd

from targetwise import presentation as pr
from targetwise.clv.plotting import plot_value_distribution
from targetwise.io import outputs as out
from targetwise.io.outputs import Output
from targetwise.io.profile import profile_workspace
from targetwise.io.runs import RunInfo
from targetwise.io.workspace import Workspace
from targetwise.presentation import Currency
from targetwise.reports.cohorts import cohorts_section
from targetwise.reports.engage import audiences_section, send_times_section
from targetwise.reports.figures import figure_to_data_uri, new_axes
from targetwise.reports.forecasts import forecasts_section
from targetwise.reports.offers import offers_section
from targetwise.reports.render import _base_context, environment, profile_context
from targetwise.usecases.drift import drift_banner
from targetwise.usecases.overview import RunOverview, run_overview
from targetwise.usecases.runs import RunData

__all__ = ["clv_distribution_axes", "render_report"]

#: the propensity metrics shown to a marketer, in this order (the rest are in the model card)
_TASK_METRICS = ("roc_auc", "top_decile_lift", "precision_at_k", "positive_rate", "brier", "pr_auc", "ece",
                 "mae", "rmse", "r2", "rows")
_BASELINES = ("recency_rule_auc", "bgnbd_p_alive_auc", "bgnbd_expected_purchases_auc", "training_mean_mae",
              "training_mean_rmse")
_MODELS = {"beta_geo": "BG/NBD (how often customers buy and when they leave)",
           "pareto_nbd": "Pareto/NBD (how often customers buy and when they leave)",
           "nbd": "NBD, no drop-out (how often customers buy; nobody leaves)",
           "gamma_gamma": "Gamma-Gamma (how much they spend per purchase)"}
_STAGE_TITLES = {"features": "Customer features", "segments": "Segments", "clv": "Lifetime value",
                 "propensity": "Propensity and churn", "recommendations": "Recommendations", "uplift": "Uplift",
                 "cohorts": "Cohorts", "forecast": "Forecasts"}


def _forecast(run: RunInfo) -> Any:
    from targetwise.usecases.forecast import forecast_of_run

    return forecast_of_run(run) if run.has(out.FORECASTS) else None


def _png_uri(run: RunInfo, output: Output) -> str | None:
    """A PNG the run holds, inlined as a ``data:`` URI (None when the run lacks it)."""
    if not run.has(output):
        return None
    return "data:image/png;base64," + base64.b64encode(run.file(output).read_bytes()).decode("ascii")


def _rows(metrics: dict[str, Any], names: tuple[str, ...], currency: Currency) -> list[dict[str, str]]:
    """label / definition / formatted value of the metrics present, in ``names`` order."""
    return [{"label": pr.label(n), "definition": pr.definition(n), "value": pr.format_value(n, metrics[n], currency)}
            for n in names if isinstance(metrics.get(n), int | float) and not isinstance(metrics.get(n), bool)]


def _segments(run: RunInfo) -> dict[str, Any] | None:
    if not run.has(out.PROFILES):
        return None
    counts = run.read_json(out.RFM_COUNTS) if run.has(out.RFM_COUNTS) else {}
    stage = run.stage("segments")
    metrics = stage.metrics if stage else {}
    return {
        "profiles": run.read_json(out.PROFILES),
        "rfm_counts": sorted(counts.items(), key=lambda kv: -kv[1]),
        "map_png": _png_uri(run, out.SEGMENT_MAP),
        "silhouette": metrics.get("silhouette"),
    }


def clv_distribution_axes(values: pd.Series, currency: Currency, *, horizon_days: float | None = None) -> Any:
    """The report's CLV histogram: customers by value on a log money axis with currency ticks."""
    ax = new_axes(7, 3)
    return plot_value_distribution(values.to_numpy(dtype=float), currency=currency, horizon_days=horizon_days, ax=ax)


def _parameter_tables(metrics: dict[str, Any]) -> list[dict[str, Any]]:
    tables = []
    for model, title in _MODELS.items():
        params = metrics.get(model)
        if not isinstance(params, dict):
            continue
        rows = []
        for name, value in params.items():
            found = pr.parameter_label(model, name)
            rows.append({"label": found.label, "definition": found.definition, "value": pr.human_number(value)})
        tables.append({"title": title, "rows": rows})
    return tables


def _clv(run: RunInfo, overview: RunOverview, currency: Currency) -> dict[str, Any] | None:
    if not run.has(out.CLV):
        return None
    frame = run.read_table(out.CLV)
    ax = clv_distribution_axes(frame["clv"], currency, horizon_days=overview.clv_horizon_days)
    stage = run.stage("clv")
    metrics = stage.metrics if stage else {}
    params = stage.params if stage else {}
    return {
        "distribution_png": figure_to_data_uri(ax.figure),
        "p90": float(frame["clv"].quantile(0.9)) if len(frame) else 0.0,
        "horizon_days": overview.clv_horizon_days or params.get("horizon"),
        "discount": params.get("annual_discount_rate"),
        "holdout_check": metrics.get("holdout_check"),
        "parameter_tables": _parameter_tables(metrics),
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
    ax.set_xticks(range(1, len(table) + 1))
    ax.set_xlabel("customers ranked by score, in tenths (1 = top 10%)")
    ax.set_ylabel("times the average rate")
    ax.set_title(title, fontsize=10)
    ax.spines[["top", "right"]].set_visible(False)
    return figure_to_data_uri(ax.figure)


def _reliability_chart(pred: pd.DataFrame, title: str) -> str:
    from targetwise.propensity import plot_reliability

    ax = new_axes(4.5, 3.2)
    plot_reliability(pred["y_true"].to_numpy(), pred["score"].to_numpy(), ax=ax)
    ax.set_xlabel("predicted chance")
    ax.set_ylabel("observed rate")
    ax.set_title(title, fontsize=10)
    return figure_to_data_uri(ax.figure)


def _propensity(run: RunInfo, currency: Currency) -> list[dict[str, Any]]:
    stage = run.stage("propensity")
    if stage is None or stage.status != "ok":
        return []
    cards = run.read_json(out.MODEL_CARDS) if run.has(out.MODEL_CARDS) else {}
    tasks = []
    for key, metrics in stage.metrics.items():
        if not isinstance(metrics, dict):
            continue
        card = cards.get(key, {})
        entry: dict[str, Any] = {
            "task": key, "title": pr.label(key), "definition": pr.definition(key),
            "metrics": _rows(metrics, _TASK_METRICS, currency), "baselines": _rows(metrics, _BASELINES, currency),
            "model": card.get("model"), "fallback_reason": card.get("fallback_reason"),
        }
        pred_file = out.BACKTEST.at(key)
        if run.has(pred_file):
            pred = run.read_table(pred_file)
            if pred["y_true"].nunique() == 2:
                entry["lift_png"] = _lift_chart(pred, f"{pr.label(key)}: lift by score (out of time)")
                entry["reliability_png"] = _reliability_chart(pred, f"{pr.label(key)}: predicted vs observed")
        imp_file = out.IMPORTANCE.at(key)
        if run.has(imp_file):
            entry["importance"] = [{"label": pr.label(f), "definition": pr.definition(f)}
                                   for f in run.read_table(imp_file).head(8)["feature"]]
        tasks.append(entry)
    return tasks


def _weights(raw: Any) -> dict[str, Any] | None:
    """Hybrid weights ({"new": {...}, "all": {...}} or a flat dict) as a small table."""
    if not isinstance(raw, dict) or not raw:
        return None
    groups = raw if all(isinstance(v, dict) for v in raw.values()) else {"all": raw}
    names = list(dict.fromkeys(n for weights in groups.values() for n in weights))
    titles = {"new": "new customers", "all": "all customers"}
    return {
        "columns": [titles.get(g, g.replace("_", " ")) for g in groups],
        "rows": [{"label": pr.label(n), "definition": pr.definition(n),
                  "values": [pr.human_number(w.get(n)) for w in groups.values()]} for n in names],
    }


def _recommendations(run: RunInfo, workspace: Workspace) -> dict[str, Any] | None:
    stage = run.stage("recommendations")
    if stage is None or stage.status != "ok":
        return None
    names = workspace.product_names()
    popular = run.read_table(out.POPULAR).sort_values("rank", kind="stable").head(10)
    return {
        "metrics": stage.metrics,
        "weights": _weights(stage.metrics.get("hybrid_weights")),
        "popular": [{"rank": int(r["rank"]), "product_id": r["product_id"],
                     "name": names.get(str(r["product_id"])), "score": r["score"]}
                    for r in popular.to_dict("records")],
    }


def _uplift(run: RunInfo) -> dict[str, Any] | None:
    stage = run.stage("uplift")
    if stage is None:
        return None
    metrics = stage.metrics
    section: dict[str, Any] = {"status": stage.status, "metrics": metrics, "notes": stage.notes,
                               "arms": sorted((metrics.get("conversion_rate_by_arm") or {}).items())}
    if run.has(out.QINI):
        curve = run.read_table(out.QINI)
        ax = new_axes(5.5, 3.2)
        ax.plot(curve["targeted"], curve["incremental_responders"], label="targeting by the model", color="#08519c")
        ax.plot([0, curve["targeted"].iloc[-1]], [0, curve["incremental_responders"].iloc[-1]], ls="--", color="#999",
                label="targeting at random")
        ax.set_xlabel("customers targeted (held-out customers)")
        ax.set_ylabel("extra responders caused")
        ax.legend(frameon=False)
        ax.spines[["top", "right"]].set_visible(False)
        section["qini_png"] = figure_to_data_uri(ax.figure)
    return section


def _stages(run: RunInfo) -> list[dict[str, Any]]:
    return [{"name": name, "title": _STAGE_TITLES.get(name, pr.label(name)), "status": record.status,
             "seconds": record.seconds, "notes": record.notes, "error": record.error, "fix": record.fix}
            for name, record in run.stages().items()]


def render_report(workspace: Workspace, run: RunInfo | None) -> str:
    """The whole report as one HTML string (no external resources)."""
    currency = Currency.from_settings(workspace.settings)
    context = _base_context("Marketing report", workspace.path) | profile_context(profile_workspace(workspace))
    context["run"] = None
    context["overview"] = None
    if run is not None:
        run_data = RunData(run, product_names=workspace.product_names, currency=workspace.settings.currency_symbol)
        overview = run_overview(run_data)
        stages = _stages(run)
        context |= {
            "run": {"id": run.run_id, "as_of": run.as_of, "created_at": run.created_at,
                    "snapshot": run.manifest.get("data_snapshot", {}).get("snapshot_id"), "stages": stages,
                    "not_ok": [s for s in stages if s["status"] != "ok"]},
            "overview": overview,
            "segments": _segments(run),
            "clv": _clv(run, overview, currency),
            "propensity": _propensity(run, currency),
            "recommendations": _recommendations(run, workspace),
            "uplift": _uplift(run),
            "cohorts": cohorts_section(run, currency),
            "forecasts": forecasts_section(run, currency, _forecast(run)),
            "offers": offers_section(workspace, run_data),
            "send_times": send_times_section(run_data),
            "audiences": audiences_section(workspace),
            "drift": drift_banner(run),
            "drift_record": run.read_json(out.DRIFT) if run.has(out.DRIFT) else None,
        }
    return environment(currency).get_template("report.html.j2").render(**context)
