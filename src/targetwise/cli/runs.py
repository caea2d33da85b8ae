"""`targetwise run` and `targetwise runs list|show|promote`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from targetwise.cli._common import WorkspaceOption, console, handle_errors, open_workspace, plain, progress

runs_app = typer.Typer(help="List, inspect and promote model runs.", no_args_is_help=True)


@handle_errors
def run(
    as_of: Annotated[str | None, typer.Option("--as-of", help="Cutoff date YYYY-MM-DD (default: day after the last order).")] = None,
    stage: Annotated[list[str] | None, typer.Option("--stage", help="Run only these stages (repeatable).")] = None,
    no_promote: Annotated[bool, typer.Option("--no-promote", help="Keep the currently served run active.")] = False,
    config: Annotated[Path | None, typer.Option("--config", help="Run config TOML (see the README's 'Run config').")] = None,
    set_: Annotated[list[str] | None, typer.Option("--set", help="One run config value, e.g. clv.horizon_days=180 (repeatable).")] = None,
    workspace: WorkspaceOption = None,
) -> None:
    """Run the pipeline into a new immutable, versioned run folder (and promote it)."""
    from targetwise.pipeline.run import run_pipeline
    from targetwise.runconfig import RunConfig

    ws = open_workspace(workspace)
    run_config = RunConfig.load(config, overrides=set_ or [])
    with progress("run") as step:
        info = run_pipeline(
            ws, ws.settings, as_of=as_of, stages=stage or None, config=run_config, promote=not no_promote, progress=step
        )
    console.print(f"[green]run {plain(info.run_id)}[/] as of {plain(info.as_of)} written to {plain(info.path)}")
    for name, rec in info.stages().items():
        metrics = ", ".join(f"{k}={v}" for k, v in rec.metrics.items() if not isinstance(v, dict | list))
        console.print(f"  {plain(name)}: {plain(rec.status)} in {rec.seconds or 0:.1f}s {plain(metrics)}")
    console.print("promoted: the service now serves this run" if not no_promote else "not promoted")


@runs_app.command("list")
@handle_errors
def list_runs(workspace: WorkspaceOption = None) -> None:
    """All runs, newest last; the active one is marked."""
    from targetwise.io.runs import RunStore

    store = RunStore(open_workspace(workspace))
    active = store.active_id()
    table = Table()
    for col in ("run", "as of", "created", "stages", "active"):
        table.add_column(col)
    for info in store.list():
        stages = ", ".join(f"{k}:{v.status}" for k, v in info.stages().items())
        table.add_row(plain(info.run_id), plain(info.as_of), plain(info.created_at[:19]), plain(stages),
                      "*" if info.run_id == active else "")
    console.print(table)


@runs_app.command("show")
@handle_errors
def show(
    run_id: Annotated[str | None, typer.Argument(help="Run id (default: the active run).")] = None,
    workspace: WorkspaceOption = None,
) -> None:
    """The run's manifest: data snapshot, parameters, metrics, model cards, timings."""
    from targetwise.errors import NotFoundError
    from targetwise.io.runs import RunStore, dumps

    store = RunStore(open_workspace(workspace))
    info = store.get(run_id) if run_id else store.active()
    if info is None:
        raise NotFoundError("no run is active yet", fix="run `targetwise run`")
    manifest = dict(info.manifest)
    manifest["files"] = f"{len(manifest.get('files', {}))} files"
    console.print_json(dumps(manifest))


@runs_app.command("promote")
@handle_errors
def promote(run_id: Annotated[str, typer.Argument(help="Run id to serve.")], workspace: WorkspaceOption = None) -> None:
    """Serve this run from now on (atomic switch)."""
    from targetwise.io.runs import RunStore

    info = RunStore(open_workspace(workspace)).promote(run_id)
    console.print(f"run {plain(info.run_id)} is now active")


@handle_errors
def features(
    as_of: Annotated[str, typer.Option("--as-of", help="Cutoff date YYYY-MM-DD; only earlier lines are read.")],
    engine: Annotated[str, typer.Option("--engine", help="duckdb (default) or spark.")] = "duckdb",
    out: Annotated[Path | None, typer.Option("--out", help="Write the table to this Parquet file.")] = None,
    time_unit: Annotated[str, typer.Option("--time-unit", help="BTYD period: D (day) or W (week).")] = "D",
    spark_connect: Annotated[str | None, typer.Option("--spark-connect", help="Spark Connect URL (sc://host:15002).")] = None,
    workspace: WorkspaceOption = None,
) -> None:
    """Point-in-time customer features (one row per customer) on DuckDB or Spark."""
    from targetwise.usecases.features import compute_workspace_features

    ws = open_workspace(workspace)
    with progress(f"features as of {as_of} on {engine}"):
        frame = compute_workspace_features(
            ws, as_of, engine=engine, out=out, time_unit=time_unit, spark_connect_url=spark_connect
        )
    console.print(f"{len(frame):,} customers x {len(frame.columns)} columns as of {plain(as_of)} ({plain(engine)})")
    if out:
        console.print(f"written to {plain(out)}")
    else:
        console.print(frame.head(10).to_string(max_cols=12), markup=False)
