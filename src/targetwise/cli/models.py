"""Model commands: segment, clv, predict, recommend. Thin adapters over targetwise.usecases."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from targetwise.cli._common import (
    AS_OF_FORMAT,
    AsOfOption,
    WorkspaceOption,
    console,
    err_console,
    handle_errors,
    human,
    iso_date,
    open_workspace,
    plain,
    progress,
    report_as_of,
)

OutOption = Annotated[Path | None, typer.Option("--out", help="Write the table to this .csv or .parquet file.")]


def _cell(value: object) -> str:
    """A table cell: floats without exponents (12,345 / 0.3182), everything else as text."""
    if isinstance(value, float):
        if value != value:  # NaN
            return ""
        return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.4g}"
    return plain(value)


def _show(frame, title: str, limit: int = 10) -> None:
    table = Table(title=plain(title))
    for col in frame.columns:
        table.add_column(plain(col))
    for row in frame.head(limit).itertuples(index=False):
        table.add_row(*[_cell(v) for v in row])
    console.print(table)


@handle_errors
def segment(
    as_of: AsOfOption,
    out: OutOption = None,
    n_clusters: Annotated[int | None, typer.Option("--n-clusters", help="Fixed number of clusters (default: the largest stable k by prediction strength).")] = None,
    workspace: WorkspaceOption = None,
) -> None:
    """RFM segments and behavioural clusters with names and per-customer reasons."""
    from targetwise.io.exports import write_table
    from targetwise.runconfig import SegmentsConfig
    from targetwise.usecases.segments import segment_workspace

    ws = open_workspace(workspace)
    report_as_of(ws, as_of)
    with progress(f"segmenting as of {as_of}"):
        result = segment_workspace(
            ws, as_of, SegmentsConfig(n_clusters=n_clusters), random_state=ws.settings.random_state
        ).result
    profiles = result.cluster_profiles
    for name, row in profiles.iterrows() if "name" not in profiles.columns else profiles.set_index("name").iterrows():
        console.print(f"[bold]{plain(name)}[/]: {plain(row.get('description', ''))}")
    counts = result.customers["rfm_segment"].value_counts()
    console.print("RFM segments: " + ", ".join(f"{plain(k)} {v:,}" for k, v in counts.items()))
    if out:
        write_table(result.customers, out)
        console.print(f"written to {plain(out)}")
    else:
        _show(result.customers, "customers")


@handle_errors
def clv(
    as_of: AsOfOption,
    horizon: Annotated[float, typer.Option("--horizon", help="Horizon in time units (e.g. 52 weeks).")] = 52,
    time_unit: Annotated[str, typer.Option("--time-unit", help="D (days) or W (weeks).")] = "W",
    discount_rate: Annotated[float, typer.Option("--discount-rate", help="Discount rate per time unit (0.0019/week ~ 10%/year).")] = 0.0,
    model: Annotated[str, typer.Option("--model", help="bgnbd or paretonbd.")] = "bgnbd",
    covariate: Annotated[list[str] | None, typer.Option(
        "--covariate", help="Covariate on purchase, dropout and spend, one-hot (repeatable): acquisition_channel, "
        "first_order_category, region or a categorical feature.")] = None,
    out: OutOption = None,
    workspace: WorkspaceOption = None,
) -> None:
    """Customer lifetime value (BG/NBD or Pareto/NBD + Gamma-Gamma) with 80% intervals, optionally with covariates."""
    from targetwise.io.exports import write_table
    from targetwise.usecases.clv import clv_workspace

    ws = open_workspace(workspace)
    report_as_of(ws, as_of)
    with progress(f"CLV as of {as_of}"):
        result = clv_workspace(
            ws, as_of, horizon=horizon, time_unit=time_unit.upper(), discount_rate=discount_rate, model=model,
            random_state=ws.settings.random_state, covariates=tuple(covariate or ()),
        )
    frame, info = result.table, {**result.params(), "warnings": list(result.notes)}
    params = ", ".join(f"{k}={v:.4g}" for k, v in info["params"].items())
    console.print(f"{plain(info['transaction_model'])}: {plain(params)} (log-likelihood {info['log_likelihood']:,.2f})")
    console.print("Gamma-Gamma: " + plain(", ".join(f"{k}={v:.4g}" for k, v in info["spend_params"].items())))
    if "covariates" in info:
        console.print("coefficients (log scale, against each covariate's reference level), with standard errors:")
        for row in [*info["covariates"]["transaction"], *info["covariates"]["spend"]]:
            if ":" in row["parameter"]:
                se = "not identified" if row["se"] is None else f"SE {row['se']:.3g}"
                console.print(f"  {plain(row['parameter'])} = {row['coef']:.4g} ({se})")
    for w in info["warnings"]:
        console.print(f"[yellow]warning:[/] {plain(w)}")
    console.print(f"total CLV over {horizon:g} {plain(time_unit)}: {human(frame['clv'].sum())} ({len(frame):,} customers)")
    if out:
        write_table(frame, out)
        console.print(f"written to {plain(out)}")
    else:
        _show(frame.sort_values("clv", ascending=False), "top customers by CLV")


@handle_errors
def predict(
    as_of: AsOfOption,
    task: Annotated[str, typer.Option("--task", help="purchase, churn, spend or next_order.")] = "purchase",
    horizon_days: Annotated[int, typer.Option("--horizon-days", help="Label window after the cutoff, in days.")] = 30,
    model: Annotated[str, typer.Option("--model", help="lightgbm, logistic, tree or linear_svm.")] = "lightgbm",
    out: OutOption = None,
    workspace: WorkspaceOption = None,
) -> None:
    """Propensity / churn / spend scores at a cutoff, validated out of time, with drivers."""
    from targetwise.io.exports import write_table
    from targetwise.usecases.propensity import predict_workspace

    ws = open_workspace(workspace)
    report_as_of(ws, as_of)
    with progress(f"{task} in {horizon_days} days as of {as_of}"):
        result = predict_workspace(
            ws, task, as_of=as_of, horizon_days=horizon_days, model=model, random_state=ws.settings.random_state
        )
    metrics = ", ".join(f"{k}={human(v)}" for k, v in result.metrics.items() if isinstance(v, float))
    console.print(f"out-of-time test at {plain(result.model_card['test_cutoff'])}: {plain(metrics)}")
    if result.baselines:
        console.print("baselines: " + plain(", ".join(f"{k}={human(v)}" for k, v in result.baselines.items() if isinstance(v, float))))
    if result.model_card.get("fallback_reason"):
        console.print(f"[yellow]fallback:[/] {plain(result.model_card['fallback_reason'])}")
    if out:
        write_table(result.scores, out)
        console.print(f"written to {plain(out)}")
    else:
        _show(result.scores.sort_values(result.scores.columns[1], ascending=False), "top customers")


recommend_app = typer.Typer(help="Recommendations: per customer, or evaluated on a time split.", invoke_without_command=True)


@recommend_app.callback()
@handle_errors
def recommend(
    ctx: typer.Context,
    customer: Annotated[str | None, typer.Option("--customer", help="Customer id.")] = None,
    n: Annotated[int, typer.Option("-n", help="How many products.")] = 10,
    workspace: WorkspaceOption = None,
) -> None:
    """Show a customer's recommendations from the active run."""
    if ctx.invoked_subcommand is not None:
        return
    if customer is None:
        console.print(ctx.get_help(), markup=False)
        raise typer.Exit(code=2)
    import pandas as pd

    from targetwise.usecases.recommendations import recommendations_for
    from targetwise.usecases.runs import active_run

    ws = open_workspace(workspace)
    recs = recommendations_for(active_run(ws), customer, n=n)
    if recs.note:
        err_console.print(f"[yellow]note:[/] {plain(recs.note)}", highlight=False, soft_wrap=True)
    frame = pd.DataFrame(recs.items, columns=["rank", "product_id", "name", "score", "reason"])
    _show(frame, f"{recs.source} recommendations for {customer} (run {recs.run_id})", limit=n)


@recommend_app.command("evaluate")
@handle_errors
def evaluate(
    test_start: Annotated[
        str,
        typer.Option("--test-start", help="Lines from this date on are the test set.", metavar=AS_OF_FORMAT, callback=iso_date),
    ],
    k: Annotated[int, typer.Option("--k", help="List length.")] = 10,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
    model: Annotated[list[str] | None, typer.Option("--model", help="Models to evaluate (repeatable).")] = None,
    workspace: WorkspaceOption = None,
) -> None:
    """P@k, R@k, NDCG@k, MAP@k and coverage under both protocols (new, all), per model."""
    from targetwise.usecases.recommendations import evaluate_recommendations

    ws = open_workspace(workspace)
    with progress("evaluating recommenders"):
        frame = evaluate_recommendations(ws, test_start, k=k, models=model or None, random_state=ws.settings.random_state)
    if as_json:
        typer.echo(json.dumps(frame.to_dict("records"), indent=2, default=str))
    else:
        _show(frame, f"recommendations @ {k}, test from {test_start}", limit=len(frame))
