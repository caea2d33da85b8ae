"""`targetwise audience create|list|export|draft|lookalike`: the audience use cases the service uses too."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from targetwise.cli._common import WorkspaceOption, console, handle_errors, open_workspace, plain
from targetwise.errors import ConfigError

audience_app = typer.Typer(help="Audiences: filters over segments, scores and features, always intersected with consent.",
                           no_args_is_help=True)

_CONDITION = re.compile(r"^\s*(?P<field>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)?)\s*(?P<op>>=|<=|!=|==|>|<|\s+in\s+)\s*(?P<value>.+?)\s*$")


def parse_where(text: str) -> dict[str, Any]:
    """'clv > 100' or 'rfm_segment in Champions,Loyal' -> {"field", "op", "value"}."""
    match = _CONDITION.match(text)
    if not match:
        raise ConfigError(
            f"cannot read condition {text!r}",
            fix="write FIELD OP VALUE with OP one of == != > >= < <= in, e.g. --where 'clv > 100' "
            "or --where 'rfm_segment in Champions,Loyal'",
        )
    op = match["op"].strip()

    def scalar(raw: str) -> Any:
        raw = raw.strip()
        try:
            return float(raw) if any(c in raw for c in ".eE") else int(raw)
        except ValueError:
            return raw

    value = [scalar(v) for v in match["value"].split(",")] if op == "in" else scalar(match["value"])
    return {"field": match["field"], "op": op, "value": value}


@audience_app.command("create")
@handle_errors
def create(
    name: Annotated[str, typer.Argument(help="Audience name; saving again makes a new version.")],
    where: Annotated[list[str] | None, typer.Option("--where", help="Condition (repeatable, all must hold).")] = None,
    ids: Annotated[Path | None, typer.Option(
        "--ids", help="A file of customer ids (CSV with a customer_id column, or one id per line) instead of --where.",
        exists=True, dir_okay=False, readable=True)] = None,
    workspace: WorkspaceOption = None,
) -> None:
    """Select customers of the active run (by --where, or listed in --ids) and save them as a named, versioned audience."""
    from targetwise.usecases.audiences import create_audience, create_audience_from_ids
    from targetwise.usecases.runs import active_run

    ws = open_workspace(workspace)
    if ids is not None:
        if where:
            raise ConfigError("--ids and --where cannot be combined", fix="save the id list, then filter it with --where "
                              "'customer_id in ...' or use one of the two")
        made = create_audience_from_ids(ws, active_run(ws), name=name, content=ids.read_bytes(), source=ids.name,
                                        created_by="cli")
        console.print(f"audience {plain(made.record.id)}: {made.record.size:,} customers of the {made.listed:,} ids "
                      f"listed (run {plain(made.record.run_id)})")
        for line in made.notes():
            console.print(f"  {plain(line)}")
        return
    conditions = [parse_where(w) for w in where or []]
    record = create_audience(ws, active_run(ws), name=name, conditions=conditions, created_by="cli")
    console.print(f"audience {plain(record.id)}: {record.size:,} customers (run {plain(record.run_id)})")
    for reason, n in record.excluded.items():
        console.print(f"  excluded by {plain(reason.replace('_', ' '))}: {n:,}")


@audience_app.command("list")
@handle_errors
def list_audiences(workspace: WorkspaceOption = None) -> None:
    """Saved audiences, newest versions included."""
    from targetwise.io.audiences import AudienceStore

    table = Table()
    for col in ("id", "name", "size", "run", "created"):
        table.add_column(col)
    for r in AudienceStore(open_workspace(workspace)).list():
        table.add_row(plain(r.id), plain(r.name), f"{r.size:,}", plain(r.run_id), plain(r.created_at))
    console.print(table)


@audience_app.command("export")
@handle_errors
def export(
    audience_id: Annotated[str, typer.Argument(help="Audience id (see `audience list`).")],
    out: Annotated[Path, typer.Option("--out", help="File to write.")],
    destination: Annotated[str, typer.Option("--destination", help="csv, parquet, google or meta (hashed identifiers).")] = "csv",
    channel: Annotated[str | None, typer.Option("--channel", help="Also drop this channel's opt-outs (email, sms, ads).")] = None,
    country_code: Annotated[str | None, typer.Option("--country-code", help="Default country code for phones without one.")] = None,
    columns: Annotated[str | None, typer.Option(
        "--columns", help="csv/parquet: also these columns, comma-separated: segment, clv, scores, recommendations.")] = None,
    top_n: Annotated[int, typer.Option("--top-n", help="With --columns recommendations: products per customer.")] = 5,
    workspace: WorkspaceOption = None,
) -> None:
    """Export a saved audience, re-intersected with today's consent."""
    from targetwise.usecases.audiences import export_audience

    export_ = export_audience(
        open_workspace(workspace), audience_id, destination=destination, channel=channel, country_code=country_code,
        columns=columns, top_n=top_n,
    )
    data, result = export_.data, export_.result
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(f".{out.name}.partial")
    partial.write_bytes(data)
    partial.replace(out)
    console.print(
        f"exported {result.exported:,} of {result.members:,} members to {plain(out)} ({plain(destination)}); "
        f"left out: {result.excluded_opt_out:,} opted out, {result.without_identifier:,} without identifier, "
        f"{result.invalid_identifiers:,} invalid identifiers"
    )
    for warning in result.warnings:
        console.print(f"[yellow]warning:[/] {plain(warning)}")


@audience_app.command("draft")
@handle_errors
def draft(
    text: Annotated[str, typer.Argument(help="The audience in words, e.g. \"champions who spent over 500\".")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the draft as JSON.")] = False,
    save: Annotated[str | None, typer.Option("--save", help="Also save it under this name (refused if any part "
                                             "of the text was unresolved).")] = None,
    engine: Annotated[str, typer.Option("--engine", help="auto (the model endpoint if TARGETWISE_LLM_BASE_URL is set, "
                                        "else embedded), embedded or llm.")] = "auto",
    workspace: WorkspaceOption = None,
) -> None:
    """Turn a sentence into audience conditions over the active run, with their live size (consent applied)."""
    import json

    from targetwise.usecases.assist import draft_audience
    from targetwise.usecases.runs import active_run

    if engine not in ("auto", "embedded", "llm"):
        raise ConfigError(f"unknown engine {engine!r}", fix="use auto, embedded or llm")
    ws = open_workspace(workspace)
    result = draft_audience(ws, active_run(ws), text, engine=engine, save_as=save, created_by="cli")  # type: ignore[arg-type]
    if as_json:
        typer.echo(json.dumps(result.to_dict(), indent=2, ensure_ascii=False))
        return
    console.print(f"{result.size:,} customers (run {plain(result.run_id)}, {plain(result.engine)} engine)")
    for where, sentence in zip(result.where, result.explanation, strict=True):
        console.print(f"  --where {plain(repr(where))}  {plain(sentence)}")
    for part in result.unresolved:
        console.print(f"[yellow]unresolved:[/] {plain(part)}")
    for reason, n in result.excluded.items():
        console.print(f"  excluded by {plain(reason.replace('_', ' '))}: {n:,}")
    if result.saved is not None:
        console.print(f"saved as audience {plain(result.saved.id)}: {result.saved.size:,} customers")


@audience_app.command("lookalike")
@handle_errors
def lookalike(
    seed_id: Annotated[str, typer.Argument(help="The seed audience's id (see `audience list`).")],
    size: Annotated[int, typer.Option("--size", help="How many customers outside the seed to pick.")],
    save: Annotated[str | None, typer.Option("--save", help="Save the list as an audience of this name.")] = None,
    method: Annotated[str | None, typer.Option(
        "--method", help="pu (positive-unlabelled classifier) or knn (nearest neighbours); default: the run "
        "config's lookalike.method.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON (without the member ids).")] = False,
    workspace: WorkspaceOption = None,
) -> None:
    """Rank everyone outside a seed audience by similarity to it; print size vs expected similarity."""
    import json

    from targetwise.usecases.lookalikes import lookalike_audience
    from targetwise.usecases.runs import active_run

    if method is not None and method not in ("pu", "knn"):
        raise ConfigError(f"unknown lookalike method {method!r}", fix="use --method pu or --method knn")
    ws = open_workspace(workspace)
    result = lookalike_audience(ws, active_run(ws), seed_id, size=size, method=method, save_as=save, created_by="cli")
    if as_json:
        typer.echo(json.dumps(result.to_dict(), indent=2))
        return
    point = result.expected
    console.print(
        f"lookalike of {plain(result.seed_id)} ({result.seed_size:,} seed members with features, "
        f"{plain(result.method)}): {result.size:,} of {result.candidates:,} customers, expected similarity "
        f"{point.expected_similarity:.0%}, estimated precision {point.estimated_precision:.0%}"
    )
    table = Table()
    for col in ("size", "lowest similarity", "expected similarity", "seed members found", "estimated precision"):
        table.add_column(col, justify="right")
    for p in result.curve:
        table.add_row(f"{p.size:,}", f"{p.min_similarity:.0%}", f"{p.expected_similarity:.0%}", f"{p.spy_recall:.0%}",
                      f"{p.estimated_precision:.0%}")
    console.print(table)
    for note in result.notes:
        console.print(f"[yellow]note:[/] {plain(note)}")
    if result.saved is not None:
        console.print(f"saved as audience {plain(result.saved.id)}: {result.saved.size:,} customers")
