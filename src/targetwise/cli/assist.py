"""`targetwise assist eval`: score natural-language audiences on a golden set, with the engine you configured."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from targetwise.cli._common import WorkspaceOption, console, handle_errors, open_workspace, plain
from targetwise.errors import ConfigError

assist_app = typer.Typer(help="The large-model layer: measure how well your model (or the embedded parser) reads "
                         "audiences.", no_args_is_help=True)


@assist_app.command("eval")
@handle_errors
def evaluate(
    golden: Annotated[Path, typer.Option("--golden", help="Golden set: JSON lines of text, conditions, unresolved.")],
    only: Annotated[str | None, typer.Option("--only", help="Only the cases tagged with this workspace "
                                             "(e.g. online-retail, synthetic).")] = None,
    engine: Annotated[str, typer.Option("--engine", help="auto (the endpoint if configured), embedded or llm.")] = "auto",
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    workspace: WorkspaceOption = None,
) -> None:
    """Run every case through the audience reader over the active run: exact matches and audience Jaccard."""
    from targetwise.assist.golden import read_golden
    from targetwise.usecases.assist import evaluate_golden
    from targetwise.usecases.runs import active_run

    if engine not in ("auto", "embedded", "llm"):
        raise ConfigError(f"unknown engine {engine!r}", fix="use auto, embedded or llm")
    ws = open_workspace(workspace)
    cases = [c for c in read_golden(golden) if only is None or c.workspace == only]
    report = evaluate_golden(ws, active_run(ws), cases, engine=engine)  # type: ignore[arg-type]
    if as_json:
        typer.echo(json.dumps({"engine": report.engine, "cases": report.cases, "exact": report.exact,
                               "exact_share": report.exact_share, "mean_jaccard": report.mean_jaccard,
                               "by_shape": report.by_shape, "failures": report.failures}, indent=2))
        return
    table = Table(title=f"{report.engine} engine on {plain(golden.name)}")
    for column in ("shape", "cases", "exact", "mean Jaccard"):
        table.add_column(column, justify="left" if column == "shape" else "right")
    for shape, row in report.by_shape.items():
        table.add_row(plain(shape), str(int(row["cases"])), f"{row['exact']:.1%}", f"{row['mean_jaccard']:.3f}")
    table.add_row("all", str(report.cases), f"{report.exact_share:.1%}", f"{report.mean_jaccard:.3f}")
    console.print(table)
    for failure in report.failures[:20]:
        console.print(f"  [yellow]miss[/] {plain(failure['id'])}: {plain(failure['text'])!s} -> "
                      f"{plain(json.dumps(failure['got']))} (Jaccard {failure['jaccard']:.2f})")
