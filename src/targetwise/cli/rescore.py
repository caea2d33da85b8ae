"""`targetwise rescore`: re-score the customers with new lines with the active run's fitted models."""

from __future__ import annotations

from typing import Annotated

import typer

from targetwise.cli._common import (
    AS_OF_FORMAT,
    RunsUrlOption,
    WorkspaceOption,
    console,
    handle_errors,
    iso_date,
    open_workspace,
    plain,
)


@handle_errors
def rescore(
    as_of: Annotated[str | None, typer.Option(
        "--as-of", help="New cut-off YYYY-MM-DD (default: the day after the last line).", metavar=AS_OF_FORMAT,
        callback=iso_date)] = None,
    no_promote: Annotated[bool, typer.Option("--no-promote", help="Write the derived run but keep serving the active one.")] = False,
    runs_url: RunsUrlOption = None,
    workspace: WorkspaceOption = None,
) -> None:
    """Recompute features, segments, CLV and propensity for the customers with new lines since the active run,
    with its fitted models (no refit), into a new run derived from it; then promote it (docs/rescore.md).
    With --runs-url the new run is published there and, when promoted, made the URL's active run."""
    from targetwise.usecases.rescore import rescore as run_rescore

    ws = open_workspace(workspace, runs_url=runs_url)
    result = run_rescore(ws, as_of=as_of, promote=not no_promote)
    if result.run is None:
        console.print(f"nobody has new lines since run {plain(result.parent.run_id)}: nothing to re-score")
        return
    state = "promoted" if result.promoted else "not promoted (--no-promote)"
    console.print(
        f"run {plain(result.run.run_id)} derived from {plain(result.parent.run_id)}: "
        f"{result.affected_customers:,} customer(s) re-scored as of {result.as_of} "
        f"({result.new_customers:,} new, {result.removed_objectors:,} objector(s) removed) in {result.seconds:.1f} s, "
        f"{state}"
    )
    if ws.settings.runs_url:
        where = "and made its active run" if result.promoted else "(its active run unchanged)"
        console.print(f"published to {plain(ws.settings.runs_url.rstrip('/'))}/{plain(result.run.run_id)}/ {where}")
    console.print(f"recomputed: {plain(', '.join(result.recomputed))}")
    console.print(f"copied unchanged: {len(result.copied)} file(s) (forecasts, cohorts, recommendations, uplift, models...)")
