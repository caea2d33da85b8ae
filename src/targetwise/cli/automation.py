"""`targetwise schedule` (cron or systemd for nightly runs) and `targetwise drift` (a run against the previous one).

Thin adapters over targetwise.usecases.schedule and targetwise.usecases.drift (docs/automation.md).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from targetwise.cli._common import WorkspaceOption, console, handle_errors, open_workspace, plain

_LEVEL_STYLE = {"alert": "bold red", "warn": "yellow", "ok": "green"}


@handle_errors
def schedule(
    at: Annotated[str, typer.Option("--at", help="Time of day to run, HH:MM (24-hour, the machine's time zone).")] = "02:00",
    fmt: Annotated[str, typer.Option("--format", help="cron (one crontab line) or systemd (a service and a timer).")] = "cron",
    out: Annotated[Path | None, typer.Option(
        "--out", help="Folder to write the files into (default: WORKSPACE/artifacts/schedule).")] = None,
    workspace: WorkspaceOption = None,
) -> None:
    """Write a cron line or a systemd timer that runs `targetwise run --strict`, then `sync run --all` only if
    the run succeeded, with a lock so two runs never overlap and a log."""
    from targetwise.usecases.schedule import schedule_files, write_schedule

    ws = open_workspace(workspace)
    result = schedule_files(ws.path, at=at, fmt=fmt)  # type: ignore[arg-type]
    written = write_schedule(result, out or ws.artifacts / "schedule")
    for path in written:
        console.print(f"written {plain(path)}", highlight=False, soft_wrap=True)
    console.print(f"every day at {result.hour:02d}:{result.minute:02d}; lock {plain(result.lock)}; "
                  f"log {plain(result.log)}", highlight=False, soft_wrap=True)
    if fmt == "cron":
        console.print(f"install: crontab -l | cat - {plain(written[0])} | crontab -", highlight=False, soft_wrap=True)
    else:
        console.print("install: copy both files to ~/.config/systemd/user/ (or /etc/systemd/system/), then "
                      "systemctl --user daemon-reload && systemctl --user enable --now targetwise-run.timer",
                      highlight=False, soft_wrap=True)


def _psi_table(title: str, rows: list[dict[str, Any]]) -> Table:
    table = Table(title=title)
    table.add_column("name")
    table.add_column("PSI", justify="right")
    table.add_column("level")
    for row in rows:
        style = _LEVEL_STYLE[row["level"]]
        table.add_row(plain(row["name"]), f"{row['psi']:.3f}", f"[{style}]{row['level']}[/]")
    return table


@handle_errors
def drift(
    run_id: Annotated[str | None, typer.Argument(help="Run id (default: the served run).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the whole drift record as JSON.")] = False,
    workspace: WorkspaceOption = None,
) -> None:
    """A run against the previous promoted run: PSI of each feature and score, segment changes, model metrics."""
    from targetwise.usecases.drift import run_drift

    record = run_drift(open_workspace(workspace), run_id)
    if as_json:
        typer.echo(json.dumps(record, indent=2))
        return
    if record.get("compared_with") is None:
        console.print(f"run {plain(record['run_id'])}: no previous promoted run to compare with")
        return
    console.print(f"run {plain(record['run_id'])} (as of {record['as_of']}) against run "
                  f"{plain(record['compared_with'])} (as of {record['previous_as_of']})", highlight=False)
    console.print(_psi_table("features: population stability index (previous run's deciles)", record["features"]))
    console.print(_psi_table("scores: population stability index", record["scores"]))
    for row in record["segments"]:
        console.print(f"{row['segmentation']}: {row['share_changed']:.1%} of {row['customers_in_both']:,} "
                      f"customers in both runs changed segment", highlight=False)
    if record["metrics"]:
        table = Table(title="models: out-of-time metrics")
        for col in ("model", "metric", "previous", "this run", "worse by", "breach"):
            table.add_column(col, justify="left" if col in ("model", "metric") else "right")
        for row in record["metrics"]:
            table.add_row(plain(row["model"]), row["metric"], f"{row['previous']:.3f}", f"{row['current']:.3f}",
                          f"{row['worse_by']:.3f}", "[bold red]yes[/]" if row["breach"] else "no")
        console.print(table)
    alerts = [b for b in record["breaches"] if b["level"] == "alert"]
    warns = len(record["breaches"]) - len(alerts)
    console.print(f"{len(alerts)} alert(s), {warns} warning(s)")
    for breach in record["breaches"]:
        console.print(f"  [{_LEVEL_STYLE[breach['level']]}]{breach['level']}[/] {plain(breach['text'])}",
                      highlight=False, soft_wrap=True)
