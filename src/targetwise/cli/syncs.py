"""`targetwise sync add|run|list|history|refresh`: live audiences pushed to destinations (docs/syncs.md)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from targetwise.cli._common import WorkspaceOption, console, handle_errors, open_workspace, plain
from targetwise.errors import ConfigError

sync_app = typer.Typer(help="Syncs: push a live audience's adds and removes to a webhook, a file drop or a platform.",
                       no_args_is_help=True)


def _options(pairs: list[str] | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--option {pair!r} is not KEY=VALUE", fix="write e.g. --option list_id=abc123")
        out[key.strip()] = value.strip()
    return out


@sync_app.command("add")
@handle_errors
def add(
    audience: Annotated[str, typer.Argument(help="Saved audience id (vip-v2) or name slug (vip: its latest version).")],
    destination: Annotated[str, typer.Option("--destination", help="Destination kind (webhook, files, ...).")],
    url: Annotated[str | None, typer.Option("--url", help="webhook: the receiver's https URL.")] = None,
    secret_env: Annotated[str | None, typer.Option(
        "--secret-env", help="webhook: NAME of the environment variable holding the signing secret.")] = None,
    path: Annotated[str | None, typer.Option("--path", help="files: a folder or an fsspec URL.")] = None,
    file_format: Annotated[str | None, typer.Option("--format", help="files: csv (default) or parquet.")] = None,
    hash_email: Annotated[bool, typer.Option(
        "--hash-email", help="webhook/files: send each member's SHA-256 of the trimmed lower-case e-mail.")] = False,
    purpose: Annotated[str | None, typer.Option(
        "--purpose", help="webhook/files: the consent purpose that must be in force (email, sms, ads; default email).")] = None,
    option: Annotated[list[str] | None, typer.Option(
        "--option", help="Any other destination option as KEY=VALUE (repeatable; see docs/syncs.md).")] = None,
    workspace: WorkspaceOption = None,
) -> None:
    """Add a sync: the audience becomes live and its changes go to the destination on each `sync run`."""
    from targetwise.usecases.syncs import add_sync

    options = _options(option)
    named = {"url": url, "secret_env": secret_env, "path": path, "format": file_format, "purpose": purpose,
             "hash_email": "yes" if hash_email else None}
    options.update({k: v for k, v in named.items() if v is not None})
    record = add_sync(open_workspace(workspace), audience, destination=destination, options=options, created_by="cli")
    console.print(f"sync {plain(record.sync_id)}: audience {plain(record.audience_key)} -> {plain(record.kind)} "
                  f"({plain(', '.join(f'{k}={v}' for k, v in record.options.items()))})")


@sync_app.command("run")
@handle_errors
def run(
    sync_id: Annotated[str | None, typer.Argument(help="The sync to run (or --all).")] = None,
    all_: Annotated[bool, typer.Option("--all", help="Run every sync.")] = False,
    workspace: WorkspaceOption = None,
) -> None:
    """Send each sync's delta (the full list the first time); resumes an interrupted or dead-lettered one.

    Exits 1 when a batch was dead-lettered or a sync stopped on an error.
    """
    from targetwise.usecases.syncs import run_all_syncs, run_sync

    if all_ == (sync_id is not None):
        raise ConfigError("give one SYNC_ID or --all", fix="`targetwise sync list` shows the ids")
    ws = open_workspace(workspace)
    records = run_all_syncs(ws) if all_ else [run_sync(ws, sync_id or "")]
    for record in records:
        console.print(f"{plain(record.sync_id)}: {plain(record.outcome)} (version {record.version}, "
                      f"+{record.added:,} -{record.removed:,}, {record.batches_ok} batches ok, "
                      f"{record.dead_letters} dead letters){plain(' ' + record.detail if record.detail else '')}")
    if any(r.outcome not in ("ok", "no_change") for r in records):
        raise typer.Exit(code=1)


@sync_app.command("list")
@handle_errors
def list_(workspace: WorkspaceOption = None) -> None:
    """The syncs, their audience's latest version, what each destination holds, the last run."""
    from targetwise.usecases.syncs import list_syncs

    table = Table("sync", "audience", "destination", "version", "at destination", "last run", "outcome")
    for item in list_syncs(open_workspace(workspace)):
        last = item.last_run
        table.add_row(plain(item.sync.sync_id), plain(item.sync.audience_key), plain(item.sync.kind),
                      "-" if item.latest_version is None else str(item.latest_version), f"{item.acknowledged:,}",
                      "-" if last is None else plain(last.finished_at or last.started_at),
                      "-" if last is None else plain(last.outcome))
    console.print(table)


@sync_app.command("history")
@handle_errors
def history(
    sync_id: Annotated[str, typer.Argument(help="The sync.")],
    workspace: WorkspaceOption = None,
) -> None:
    """Every run of one sync (counts, outcome) and its dead letters."""
    from targetwise.usecases.syncs import sync_history

    found = sync_history(open_workspace(workspace), sync_id)
    table = Table("run", "started", "version", "outcome", "added", "removed", "batches ok", "dead letters", "detail")
    for r in found.runs:
        table.add_row(str(r.run_no), plain(r.started_at), "-" if r.version is None else str(r.version),
                      plain(r.outcome), f"{r.added:,}", f"{r.removed:,}", str(r.batches_ok), str(r.dead_letters),
                      plain(r.detail))
    console.print(table)
    for d in found.dead_letters:
        console.print(f"dead letter {plain(d.idempotency_key)} (run {d.run_no}, {plain(d.action)} of {d.size:,}, "
                      f"{d.attempts} attempts): {plain(d.detail)}")


@sync_app.command("refresh")
@handle_errors
def refresh(workspace: WorkspaceOption = None) -> None:
    """Re-evaluate every live audience on the active run now (promoting a run does it too)."""
    from targetwise.usecases.live_audiences import refresh_live_audiences

    result = refresh_live_audiences(open_workspace(workspace))
    for v in result.versions:
        console.print(f"{plain(v.audience_key)}: version {v.version} ({v.size:,} members, +{v.adds:,} -{v.removes:,})")
    for key in result.unchanged:
        console.print(f"{plain(key)}: unchanged")
    for key, error in result.errors.items():
        console.print(f"{plain(key)}: not refreshed: {plain(error)}")
