"""`targetwise cohorts`: acquisition-month cohorts at a cutoff. A thin adapter over targetwise.usecases.cohorts."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

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
def cohorts(
    as_of: Annotated[str | None, typer.Option(
        "--as-of", help="Cutoff date YYYY-MM-DD: only earlier orders count (default: the day after the last order).",
        metavar=AS_OF_FORMAT, callback=iso_date)] = None,
    out: Annotated[Path | None, typer.Option(
        "--out", help="Write the whole table (one row per cohort and month since first order) to this .csv or .parquet file.")] = None,
    workspace: WorkspaceOption = None,
) -> None:
    """Acquisition-month cohorts: retention and cumulative revenue per customer by month since the first order."""
    from targetwise.pipeline.run import default_as_of
    from targetwise.usecases.cohorts import cohort_summary, cohorts_workspace, retention_matrix

    ws = open_workspace(workspace)
    cutoff = as_of if as_of is not None else default_as_of(ws).isoformat()
    report_as_of(ws, cutoff)
    with progress(f"cohorts as of {cutoff}"):
        result = cohorts_workspace(ws, cutoff, out_path=out)
    summary = cohort_summary(result.table)
    month_1 = "n/a" if summary.retention_month_1 is None else f"{summary.retention_month_1:.1%}"
    console.print(
        f"{summary.cohorts:,} monthly cohorts, {summary.customers:,} customers, as of {result.as_of:%Y-%m-%d}; "
        f"{month_1} bought again in the month after their first order"
    )
    matrix = retention_matrix(result.table)
    table = Table(title="share of each cohort buying, by month since the first order (0 = the first month)")
    table.add_column("cohort")
    table.add_column("customers", justify="right")
    for month in matrix.columns:
        table.add_column(str(month), justify="right")
    sizes = result.table[result.table["months_since_first"] == 0].set_index("cohort_month")["customers"]
    for cohort, row in matrix.iterrows():
        cells = ["" if value != value else f"{value:.0%}" for value in row]
        table.add_row(plain(cohort), f"{int(sizes[cohort]):,}", *cells)
    console.print(table)
    if out is not None:
        console.print(f"written to {plain(out)}")
