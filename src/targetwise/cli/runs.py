"""`targetwise run` and `targetwise runs list|show|promote`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from targetwise.cli._common import (
    AS_OF_FORMAT,
    AsOfOption,
    RunsUrlOption,
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
    settings_for,
)
from targetwise.presentation import duration, memory
from targetwise.presentation import plural as rows_of

if TYPE_CHECKING:
    from targetwise.cli._common import Steps
    from targetwise.io.runs import StageCost, StageRecord

runs_app = typer.Typer(help="List, inspect and promote model runs.", no_args_is_help=True)


@handle_errors
def run(
    as_of: Annotated[str | None, typer.Option(
        "--as-of", help="Cutoff date YYYY-MM-DD (default: day after the last order).", metavar=AS_OF_FORMAT,
        callback=iso_date)] = None,
    stage: Annotated[list[str] | None, typer.Option("--stage", help="Run only these stages (repeatable).")] = None,
    no_promote: Annotated[bool, typer.Option("--no-promote", help="Keep the currently served run active.")] = False,
    promote_partial: Annotated[bool, typer.Option(
        "--promote-partial",
        help="Promote the run even if a stage failed (it is then served without that stage's outputs).")] = False,
    strict: Annotated[bool, typer.Option(
        "--strict", help="Exit 1 if a stage failed (the run is still written, and not promoted).")] = False,
    config: Annotated[Path | None, typer.Option("--config", help="Run config TOML (see the README's 'Run config').")] = None,
    set_: Annotated[list[str] | None, typer.Option("--set", help="One run config value, e.g. clv.horizon_days=180 (repeatable).")] = None,
    engine: Annotated[str, typer.Option(
        "--engine", help="duckdb (default) or spark: where features, snapshots and aggregates run.")] = "duckdb",
    spark_connect: Annotated[str | None, typer.Option(
        "--spark-connect", help="Spark Connect URL (sc://host:15002); implies --engine spark.")] = None,
    runs_url: RunsUrlOption = None,
    workspace: WorkspaceOption = None,
) -> None:
    """Run the pipeline into a new immutable, versioned run folder (and promote it).

    A stage that fails does not stop the others: the run is written with the failure
    recorded (and the stages that need the failed one skipped), and it is not promoted
    unless --promote-partial. The exit code is 0 unless --strict. With --runs-url the run
    is also published there (manifest last) and, when promoted, made the URL's active run.
    """
    from targetwise.io.runs import RunStore
    from targetwise.pipeline.run import run_pipeline
    from targetwise.runconfig import RunConfig

    ws = open_workspace(workspace, runs_url=runs_url)
    run_config = RunConfig.load(config, overrides=set_ or [])
    if as_of is not None:
        report_as_of(ws, as_of)
    with progress("run") as step:
        info = run_pipeline(
            ws, ws.settings, as_of=as_of, stages=stage or None, config=run_config, promote=not no_promote,
            promote_partial=promote_partial, progress=step, stage_done=lambda record: stage_finished(step, record),
            engine="spark" if spark_connect else engine, spark_connect_url=spark_connect,
        )
    console.print(f"[green]run {plain(info.run_id)}[/] as of {plain(info.as_of)} written to {plain(info.path)}")
    for name, rec in info.stages().items():
        if rec.status == "failed":
            console.print(f"  {plain(name)}: [bold red]failed[/] in {rec.seconds or 0:.1f}s: {plain(rec.error)}")
            if rec.fix:
                console.print(f"    fix: {plain(rec.fix)}")
            continue
        if rec.status == "skipped":
            console.print(f"  {plain(name)}: [yellow]skipped[/]: {plain('; '.join(rec.notes) or 'not applicable')}")
            continue
        metrics = ", ".join(f"{k}={human(v) if isinstance(v, int | float) and not isinstance(v, bool) else v}"
                            for k, v in rec.metrics.items() if not isinstance(v, dict | list))
        console.print(f"  {plain(name)}: {plain(rec.status)} in {rec.seconds or 0:.1f}s {plain(metrics)}")
        for note in _headline_notes(rec.notes):
            console.print(f"    note: {plain(note)}")
    failed = info.failed_stages()
    promoted = RunStore(ws).active_id() == info.run_id
    if ws.settings.runs_url:
        _say_published(ws.settings.runs_url, info.run_id)
    if promoted:
        partial = f" (partial: without the outputs of {', '.join(failed)})" if failed else ""
        console.print(f"promoted: the service now serves this run{partial}")
    elif failed and not no_promote:
        console.print(
            f"[yellow]not promoted[/]: stage(s) {plain(', '.join(failed))} failed; serve it anyway with "
            f"`targetwise runs promote {plain(info.run_id)} --partial`, or fix the cause and run again"
        )
    else:
        console.print(f"not promoted: serve it with `targetwise runs promote {plain(info.run_id)}`"
                      + (" --partial" if failed else ""))
    if strict and failed:
        for name in failed:
            rec = info.stages()[name]
            err_console.print(f"[bold red]error:[/] stage {plain(name)} failed: {plain(rec.error)}"
                              + (f". Fix: {plain(rec.fix)}" if rec.fix else ""), highlight=False, soft_wrap=True)
        raise typer.Exit(code=1)


def cost_text(cost: StageCost) -> str:
    """``12.9 s wall, 20.1 s CPU, peak 1.2 GB, 10,093,635 rows in, 112,000 rows out`` (no rows in: not said)."""
    parts = [f"{duration(cost.wall_s)} wall", f"{duration(cost.cpu_s)} CPU"]
    if cost.peak_rss_gb is not None:
        parts.append(f"peak {memory(cost.peak_rss_gb)}")
    if cost.rows_in is not None:
        parts.append(f"{rows_of(cost.rows_in, 'row')} in")
    parts.append(f"{rows_of(cost.rows_out, 'row')} out")
    return ", ".join(parts)


def stage_finished(step: Steps, record: StageRecord) -> None:
    """The line of a stage that has just ended: ``done [1/6] features in 12.9 s wall, ... rows out``."""
    if record.status == "skipped":
        reason = "; ".join(record.notes) or "not applicable"
        step.finish(f": {plain(reason)}", status="[yellow]skipped[/]")
        return
    status = "[bold red]failed[/]" if record.status == "failed" else "[green]done[/]"
    cost = record.cost
    step.finish(f" in {plain(cost_text(cost))}" if cost else None, status=status)


#: notes worth a line under the stage's summary: a model was changed or refitted because the data needed it
_HEADLINE_MARKERS = ("fallback", "refitted", "no-dropout")


def _headline_notes(notes: list[str]) -> list[str]:
    return [n for n in notes if any(marker in n for marker in _HEADLINE_MARKERS)]


def _say_published(runs_url: str, run_id: str) -> None:
    from targetwise.io.run_urls import RunUrlStore

    remote = RunUrlStore(runs_url)
    active = " (its active run)" if remote.active_id() == run_id else ""
    console.print(f"published to {plain(remote.url)}/{plain(run_id)}/{plain(active)}")


@runs_app.command("list")
@handle_errors
def list_runs(runs_url: RunsUrlOption = None, workspace: WorkspaceOption = None) -> None:
    """All runs, newest last; the active one is marked (with --runs-url: the runs published there)."""
    from targetwise.io.run_urls import RunUrlStore
    from targetwise.io.runs import RunStore

    url = settings_for(workspace, runs_url=runs_url).runs_url
    if url:  # the URL alone: a machine that only reads runs needs no workspace
        store: RunStore | RunUrlStore = RunUrlStore(url)
    else:
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
    runs_url: RunsUrlOption = None,
    workspace: WorkspaceOption = None,
) -> None:
    """The run's manifest: data snapshot, parameters, metrics, model cards, timings (with --runs-url: the
    manifest published there)."""
    from targetwise.errors import NotFoundError
    from targetwise.io.run_urls import RunUrlStore
    from targetwise.io.runs import RunManifest, RunStore, dumps

    url = settings_for(workspace, runs_url=runs_url).runs_url
    info: RunManifest | None
    if url:  # the URL alone, as `runs list`: no workspace needed
        remote = RunUrlStore(url)
        chosen = run_id or remote.active_id()
        info = remote.get(chosen) if chosen else None
        fix = f"promote one there: `targetwise runs publish RUN --runs-url {url} --promote`"
    else:
        store = RunStore(open_workspace(workspace))
        info = store.get(run_id) if run_id else store.active()
        fix = "run `targetwise run`"
    if info is None:
        raise NotFoundError("no run is active yet", fix=fix)
    manifest = dict(info.manifest)
    manifest["files"] = f"{len(manifest.get('files', {}))} files"
    console.print_json(dumps(manifest))
    console.print(cost_table(info.stages()))


def cost_table(records: dict[str, StageRecord]) -> Table:
    """One row per stage: its status and cost (wall, CPU, peak memory, rows in, rows out)."""
    table = Table(title="stages", title_justify="left")
    table.add_column("stage")
    table.add_column("status")
    for col in ("wall", "CPU", "peak RSS", "rows in", "rows out"):
        table.add_column(col, justify="right", no_wrap=True)
    for name, rec in records.items():
        cost = rec.cost
        if cost is None:
            figures = [duration(rec.seconds) if rec.seconds is not None else "–", "–", "–", "–", "–"]
        else:
            figures = [
                duration(cost.wall_s),
                duration(cost.cpu_s),
                memory(cost.peak_rss_gb),
                f"{cost.rows_in:,}" if cost.rows_in is not None else "–",
                f"{cost.rows_out:,}",
            ]
        table.add_row(plain(name), plain(rec.status), *figures)
    return table


@runs_app.command("promote")
@handle_errors
def promote(
    run_id: Annotated[str, typer.Argument(help="Run id to serve.")],
    partial: Annotated[bool, typer.Option(
        "--partial", help="Serve it even if a stage failed (without that stage's outputs).")] = False,
    runs_url: RunsUrlOption = None,
    workspace: WorkspaceOption = None,
) -> None:
    """Serve this run from now on (atomic switch); with --runs-url it is published there (or fetched from
    there) and becomes the URL's active run too."""
    from targetwise.usecases.live_audiences import promote_and_refresh

    ws = open_workspace(workspace, runs_url=runs_url)
    info, _refresh = promote_and_refresh(ws, run_id, partial=partial)
    failed = info.failed_stages()
    suffix = f" (partial: without the outputs of {', '.join(failed)})" if failed else ""
    console.print(f"run {plain(info.run_id)} is now active{plain(suffix)}")
    if ws.settings.runs_url:
        _say_published(ws.settings.runs_url, info.run_id)


@runs_app.command("publish")
@handle_errors
def publish(
    run_id: Annotated[str, typer.Argument(help="Run id to publish (a run of this workspace).")],
    promote_it: Annotated[bool, typer.Option("--promote", help="Then make it the URL's active run.")] = False,
    partial: Annotated[bool, typer.Option(
        "--partial", help="With --promote: even if a stage failed (served without that stage's outputs).")] = False,
    runs_url: RunsUrlOption = None,
    workspace: WorkspaceOption = None,
) -> None:
    """Copy a run to the runs URL (every file, the manifest last); safe to repeat after an interrupted publish."""
    from targetwise.errors import ConfigError
    from targetwise.io.run_urls import RunUrlStore
    from targetwise.io.runs import RunStore

    ws = open_workspace(workspace, runs_url=runs_url)
    if not ws.settings.runs_url:
        raise ConfigError("no runs URL to publish to", fix="pass --runs-url URL or set TARGETWISE_RUNS_URL")
    remote = RunUrlStore(ws.settings.runs_url)
    result = remote.publish(RunStore(ws).get(run_id))
    if result.unchanged:
        console.print(f"run {plain(run_id)} was already published at {plain(result.url)}/: nothing sent")
    else:
        console.print(f"published run {plain(run_id)} to {plain(result.url)}/ ({rows_of(result.copied, 'file')} sent)")
    if promote_it:
        remote.promote(run_id, partial=partial)
        console.print(f"run {plain(run_id)} is now the active run at {plain(remote.url)}")


@handle_errors
def features(
    as_of: AsOfOption,
    engine: Annotated[str, typer.Option("--engine", help="duckdb (default) or spark.")] = "duckdb",
    out: Annotated[Path | None, typer.Option("--out", help="Write the table to this Parquet file.")] = None,
    time_unit: Annotated[str, typer.Option("--time-unit", help="BTYD period: D (day) or W (week).")] = "D",
    spark_connect: Annotated[str | None, typer.Option("--spark-connect", help="Spark Connect URL (sc://host:15002).")] = None,
    workspace: WorkspaceOption = None,
) -> None:
    """Point-in-time customer features (one row per customer) on DuckDB or Spark."""
    from targetwise.usecases.features import compute_workspace_features

    ws = open_workspace(workspace)
    report_as_of(ws, as_of)
    with progress(f"features as of {as_of} on {engine}"):
        frame = compute_workspace_features(
            ws, as_of, engine=engine, out=out, time_unit=time_unit, spark_connect_url=spark_connect
        )
    console.print(f"{len(frame):,} customers x {len(frame.columns)} columns as of {plain(as_of)} ({plain(engine)})")
    if out:
        console.print(f"written to {plain(out)}")
    else:
        console.print(frame.head(10).to_string(max_cols=12), markup=False)
