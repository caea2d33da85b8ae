"""`targetwise sendtime`: best send time and channel per customer at a cutoff. A thin adapter over
targetwise.usecases.sendtime."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from targetwise.cli._common import (
    AS_OF_FORMAT,
    WorkspaceOption,
    console,
    handle_errors,
    iso_date,
    open_workspace,
    plain,
    progress,
    report_as_of,
)


@handle_errors
def sendtime(
    as_of: Annotated[str | None, typer.Option(
        "--as-of", help="Cutoff date YYYY-MM-DD: only earlier events count (default: the day after the last order).",
        metavar=AS_OF_FORMAT, callback=iso_date)] = None,
    out: Annotated[Path | None, typer.Option(
        "--out", help="Write the table (customer_id, best_weekday (0 = Monday), best_hour (0-23, shop time), "
        "best_channel, confidence, source) to this .csv or .parquet file.")] = None,
    workspace: WorkspaceOption = None,
) -> None:
    """Best weekday, hour (shop time) and channel to reach each customer, from responses per send."""
    from targetwise.pipeline.run import default_as_of
    from targetwise.usecases.sendtime import send_times_workspace

    ws = open_workspace(workspace)
    cutoff = as_of if as_of is not None else default_as_of(ws).isoformat()
    report_as_of(ws, cutoff)
    with progress(f"send times as of {cutoff}"):
        result = send_times_workspace(ws, cutoff, out_path=out)
    sources = ", ".join(f"{n:,} {s}" for s, n in result.metrics["by_source"].items())
    console.print(
        f"{len(result.table):,} customers from {result.sends:,} sends and {result.responses:,} human responses "
        f"before {cutoff} (times in {plain(result.timezone)}); estimates from: {sources}"
    )
    top = result.table.groupby(["best_channel", "best_weekday", "best_hour"]).size().sort_values(ascending=False)
    for (channel, weekday, hour), n in top.head(5).items():
        console.print(f"  {n:,} customers: {plain(channel)}, weekday {weekday} (0 = Monday) at {hour:02d}:00")
    if out is not None:
        console.print(f"written to {plain(out)}")
