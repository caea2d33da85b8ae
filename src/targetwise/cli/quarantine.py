"""`targetwise quarantine`: the rows an ingest rejected, with row, column, value, reason and fix."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from targetwise.cli._common import WorkspaceOption, console, count, handle_errors, open_workspace, plain

VALUE_WIDTH = 40  # characters of an offending value shown (a pasted text can be 100,000)


@handle_errors
def quarantine(
    reason: Annotated[str | None, typer.Option("--reason", "-r", help="Only this reason code, e.g. invalid_number.", metavar="REASON")] = None,
    table: Annotated[str | None, typer.Option("--table", "-t", help="Only rows meant for this table, e.g. transactions.", metavar="TABLE")] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", help="How many rows to list (0: the counts only).", metavar="N")] = 20,
    workspace: WorkspaceOption = None,
) -> None:
    """Rows the ingest kept out, newest load first: where each came from, what is wrong and how to fix it."""
    from targetwise.io.ingest import quarantined_rows

    ws = open_workspace(workspace)
    page = quarantined_rows(ws, reason=reason, table=table, limit=limit)
    scope = " and ".join(f"{k} {plain(v)}" for k, v in (("reason", reason), ("table", table)) if v)
    if not page.total:
        console.print(f"no quarantined rows{' for ' + scope if scope else ''}: every row read was loaded")
        return
    counts = ", ".join(f"{plain(code)} {n:,}" for code, n in page.by_reason.items())
    console.print(f"{count(page.total, 'quarantined row')}{' for ' + scope if scope else ''}: {counts}")
    if not page.rows:
        return
    grid = Table(show_lines=False)
    for name in ("load", "table", "file", "row", "column", "value", "reason", "fix"):
        grid.add_column(name, overflow="fold", justify="right" if name in ("load", "row") else "left")
    for r in page.rows:
        value = "" if r.value is None else r.value
        if len(value) > VALUE_WIDTH:
            value = value[: VALUE_WIDTH - 1] + "…"
        grid.add_row(
            str(r.load_id), plain(r.table), plain(Path(r.source_file).name), f"{r.row:,}", plain(r.column or ""),
            plain(value), plain(f"{r.reason_code}: {r.reason}"), plain(r.fix),
        )  # fmt: skip
    console.print(grid)
    if page.total > len(page.rows):
        console.print(f"showing {len(page.rows):,} of {page.total:,}: --limit N for more, --reason R to narrow")
