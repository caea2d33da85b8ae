"""`targetwise privacy erase|log` and `targetwise consent set|show`."""

from __future__ import annotations

import getpass
from typing import Annotated

import typer
from rich.table import Table

from targetwise.cli._common import (
    RunsUrlOption,
    WorkspaceOption,
    console,
    err_console,
    handle_errors,
    open_workspace,
    plain,
    progress,
)
from targetwise.schema import CONSENT_PURPOSES, CONSENT_STATUSES

privacy_app = typer.Typer(help="Erase a customer everywhere (GDPR art. 17); list past erasures.", no_args_is_help=True)
consent_app = typer.Typer(help="Record and show consent decisions (profiling, email, sms, ads).", no_args_is_help=True)


@privacy_app.command("erase")
@handle_errors
def erase(
    customer_id: Annotated[str, typer.Argument(help="The customer's id, exactly as stored.")],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation (scripts, CI).")] = False,
    runs_url: RunsUrlOption = None,
    workspace: WorkspaceOption = None,
) -> None:
    """Remove a customer from every table, run output, audience, export and report. Cannot be undone.

    With --runs-url (or TARGETWISE_RUNS_URL) the runs published there are erased too (rewritten here, then
    published again); if the URL cannot be reached, it says which runs there still hold the customer and
    exits 1: run it again (safe) or publish those runs."""
    from targetwise.errors import WorkspaceError
    from targetwise.usecases.privacy import erase as erase_customer

    ws = open_workspace(workspace, runs_url=runs_url)
    if not yes:
        try:
            confirmed = typer.confirm(
                f"Erase customer {customer_id} from {ws.path} (tables, runs, audiences, exports, reports)? "
                "This cannot be undone",
                default=False,
            )
        except typer.Abort:  # no terminal or end of input (CI): never erase without a yes
            confirmed = False
        if not confirmed:
            err_console.print("[bold red]not erased[/]: confirm with y, or pass --yes in scripts", highlight=False)
            raise typer.Exit(code=1)
    with progress(f"erasing {customer_id}"):
        receipt = erase_customer(ws, customer_id, actor=f"cli:{_user()}")
    console.print(f"[green]erased[/] {receipt.subject}: {receipt.rows_removed:,} rows removed")
    for table, rows in receipt.tables.items():
        console.print(f"  table {plain(table)}: {rows:,}")
    for path, rows in receipt.files.items():
        console.print(f"  file {plain(path)}: {rows:,}")
    for path in receipt.deleted_files:
        console.print(f"  deleted {plain(path)} (it listed the customer; render it again)")
    if receipt.suppressed:
        console.print(
            f"  suppression list: {receipt.suppressed} keyed pseudonym(s) (id, e-mail, phone); if this person comes "
            "back in a later file, every purpose is denied until they consent again"
        )
    if receipt.database_bytes_after:
        console.print(
            f"database rebuilt ({receipt.database_bytes_before:,} -> {receipt.database_bytes_after:,} bytes); "
            "logged without personal data in artifacts/audit/erasures.jsonl"
        )
    at_url = receipt.runs_at_url
    if at_url is None:
        return
    for run_id in at_url.fetched:
        console.print(f"  run {plain(run_id)}: fetched from {plain(at_url.url)} (held only there) and erased")
    for run_id in at_url.republished:
        console.print(f"  run {plain(run_id)}: published again to {plain(at_url.url)}/{plain(run_id)}/")
    if not at_url.complete:
        held = ", ".join(at_url.unpublished) or "any run held only there"
        raise WorkspaceError(
            f"erased in {ws.path} but NOT at {at_url.url}: {held} there may still hold the customer "
            f"({at_url.error or 'not published'})",
            fix=f"when the URL is reachable run `{at_url.finish(customer_id)}` (safe to repeat)",
        )
    console.print(f"  runs at {plain(at_url.url)}: none holds the customer any more")


@privacy_app.command("log")
@handle_errors
def log(workspace: WorkspaceOption = None) -> None:
    """Past erasures: pseudonym, time, who asked, rows removed (no personal data)."""
    from targetwise.io.erasure import erasure_log

    entries = erasure_log(open_workspace(workspace))
    if not entries:
        console.print("no erasures recorded")
        return
    table = Table()
    for col in ("erased at", "subject", "actor", "rows removed", "tables", "files"):
        table.add_column(col)
    for e in entries:
        tables = ", ".join(f"{k}:{v}" for k, v in e["tables"].items())
        table.add_row(e["erased_at"], e["subject"], plain(e["actor"]), f"{e['rows_removed']:,}", plain(tables),
                      str(len(e["files"]) + len(e["deleted_files"])))
    console.print(table)


@consent_app.command("set")
@handle_errors
def set_consent(
    customer_id: Annotated[str, typer.Argument(help="The customer's id.")],
    purpose: Annotated[str, typer.Option("--purpose", help=f"One of: {', '.join(CONSENT_PURPOSES)}.")],
    status: Annotated[str, typer.Option("--status", help=f"One of: {', '.join(CONSENT_STATUSES)}.")],
    source: Annotated[str, typer.Option("--source", help="Where the decision was made.")] = "cli",
    workspace: WorkspaceOption = None,
) -> None:
    """Append a decision to the consent ledger (validated and atomic like any ingest); newest wins."""
    from targetwise.io.consent import record_consent

    summary = record_consent(open_workspace(workspace), customer_id, purpose=purpose, status=status, source=source)
    console.print(f"recorded {plain(purpose)}={plain(status)} for {plain(customer_id)} (load {summary.load_id})")
    if status != "granted":
        effect = {
            "profiling": "left out of scores, segments, audiences and exports from the next run on",
            "ads": "left out of Google/Meta exports from now on",
        }.get(purpose, f"left out of {purpose} campaigns and exports from now on")
        console.print(f"  effect: {effect}")


@consent_app.command("show")
@handle_errors
def show_consent(
    customer_id: Annotated[str, typer.Argument(help="The customer's id.")],
    workspace: WorkspaceOption = None,
) -> None:
    """The current status per purpose, and every recorded decision."""
    from targetwise.io.consent import consent_history, consent_status

    ws = open_workspace(workspace)
    current = consent_status(ws, customer_id)
    console.print(", ".join(f"{p}: {s}" for p, s in current.items()))
    history = consent_history(ws, customer_id)
    if not history:
        console.print("no decision recorded (no record means no objection)")
        return
    table = Table()
    for col in ("recorded at (UTC)", "purpose", "status", "source"):
        table.add_column(col)
    for h in history:
        table.add_row(str(h["recorded_at"]), plain(h["purpose"]), plain(h["status"]), plain(h["source"] or ""))
    console.print(table)


def _user() -> str:
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return "unknown"
