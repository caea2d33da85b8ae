"""`targetwise campaign copy [--audience ID --brief TEXT] | approve | list` and `targetwise explain segment|customer`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from targetwise.cli._common import WorkspaceOption, console, handle_errors, open_workspace, plain
from targetwise.errors import ConfigError

copy_app = typer.Typer(
    help="E-mail copy for a saved audience, written by the configured model from computed facts, linted against "
    "the brand rules and saved as drafts until approved.",
    invoke_without_command=True,
)
explain_app = typer.Typer(help="A segment's or a customer's summary in words, from the active run's facts.",
                          no_args_is_help=True)


def _print_facts(facts: Any) -> None:
    console.print(f"facts sheet ({plain(facts.title)}; aggregates only):")
    for line in facts.lines():
        console.print(f"  {plain(line)}")


def _print_record(record: dict[str, Any]) -> None:
    console.print(f"copy set {plain(record['id'])} for audience {plain(record['audience_id'])}, model "
                  f"{plain(record['model'])}, brand rules {plain(record['brand_source'])}:")
    for v in record["variants"]:
        lint = v["lint"]
        verdict = "passes every lint" if lint["passed"] else "fails: " + ", ".join(lint["rules_broken"])
        console.print(f"\n[bold]variant {v['variant']}[/] ({plain(v['status'])}; {plain(verdict)})")
        for name in ("subject", "preheader", "body"):
            console.print(f"  {name}: {plain(v[name])}", soft_wrap=True)
        for finding in lint["findings"]:
            console.print(f"  [yellow]lint[/] {plain(finding['rule'])}: {plain(finding['message'])}")


@copy_app.callback()
@handle_errors
def copy(
    ctx: typer.Context,
    audience: Annotated[str | None, typer.Option("--audience", help="Saved audience id (`targetwise audience list`).")] = None,
    brief: Annotated[str | None, typer.Option("--brief", help="What the e-mail is for (an offer's numbers go here).")] = None,
    variants: Annotated[int, typer.Option("--variants", help="How many variants (1 to 5).")] = 3,
    brand: Annotated[Path | None, typer.Option("--brand", help="Brand rules TOML (default: brand.toml in the workspace, "
                                               "else the default rules; see examples/brand.toml).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the facts, the prompt and the saved set as JSON.")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show the facts sheet and the prompt; send nothing, save nothing.")] = False,
    workspace: WorkspaceOption = None,
) -> None:
    """Subject, preheader and body variants for an audience; each carries its lint result; saved as drafts."""
    if ctx.invoked_subcommand is not None:
        return
    if audience is None or brief is None:
        raise ConfigError("give --audience ID and --brief TEXT",
                          fix="e.g. targetwise campaign copy --audience garden-fans-v1 --brief 'the new garden range'")
    from targetwise.usecases.copy import campaign_copy
    from targetwise.usecases.runs import active_run

    ws = open_workspace(workspace)
    outcome = campaign_copy(ws, active_run(ws), audience_id=audience, brief=brief, n_variants=variants,
                            brand_path=brand, dry_run=dry_run, created_by="cli")
    if as_json:
        typer.echo(json.dumps({"dry_run": outcome.dry_run, "facts": outcome.facts.to_dict(),
                               "messages": outcome.messages, "copy": outcome.record}, indent=2, ensure_ascii=False))
        return
    _print_facts(outcome.facts)
    if outcome.record is None:
        console.print("\nprompt that would be sent (dry run: nothing was sent or saved):")
        for message in outcome.messages:
            console.print(f"[bold]{plain(message['role'])}:[/]\n{plain(message['content'])}", soft_wrap=True)
        return
    console.print()
    _print_record(outcome.record)
    console.print(f"\nsaved as drafts; approve one with: targetwise campaign copy approve {plain(outcome.record['id'])} "
                  "--variant N")


@copy_app.command("approve")
@handle_errors
def approve(
    copy_id: Annotated[str, typer.Argument(help="Copy set id (`targetwise campaign copy list`).")],
    variant: Annotated[int, typer.Option("--variant", help="The variant number to approve.")],
    despite_lints: Annotated[bool, typer.Option("--despite-lints", help="Approve a variant that fails lints (recorded).")] = False,
    workspace: WorkspaceOption = None,
) -> None:
    """Mark one variant approved (a variant failing lints needs --despite-lints)."""
    from targetwise.usecases.copy import approve_copy

    record = approve_copy(open_workspace(workspace), copy_id, variant=variant, approved_by="cli",
                          despite_lints=despite_lints)
    chosen = next(v for v in record["variants"] if v["variant"] == variant)
    despite = f" despite {', '.join(chosen['approved_despite'])}" if chosen["approved_despite"] else ""
    console.print(f"variant {variant} of {plain(copy_id)} approved{plain(despite)} at {plain(chosen['approved_at'])}")


@copy_app.command("list")
@handle_errors
def list_sets(workspace: WorkspaceOption = None) -> None:
    """Every saved copy set with its variants' status and lint verdicts."""
    from targetwise.usecases.copy import list_copy

    sets = list_copy(open_workspace(workspace))
    if not sets:
        console.print("no copy yet: targetwise campaign copy --audience ID --brief TEXT")
        return
    for record in sets:
        states = "; ".join(f"{v['variant']} {v['status']}{'' if v['lint']['passed'] else ' (fails lints)'}"
                           for v in record["variants"])
        console.print(f"{plain(record['id'])}  audience {plain(record['audience_id'])}  {plain(record['created_at'])}  "
                      f"{plain(states)}  brief: {plain(record['brief'])}", soft_wrap=True)


def _print_summary(summary: Any, as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(summary.to_dict(), indent=2, ensure_ascii=False))
        return
    console.print(plain(summary.text), soft_wrap=True)
    source = "the embedded template" if summary.engine == "template" else "the model, checked against the facts"
    console.print(f"[dim]written by {plain(source)}{'' if summary.check in (None, 'passed') else f' ({plain(summary.check)})'}[/]")


@explain_app.command("segment")
@handle_errors
def explain_segment(
    name: Annotated[str, typer.Argument(help="A behavioural cluster or an RFM segment, e.g. Champions.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the text, engine, check and facts as JSON.")] = False,
    workspace: WorkspaceOption = None,
) -> None:
    """The segment's summary (size, shares, what sets it apart, CLV, recommended products)."""
    from targetwise.usecases.explain import segment_summary
    from targetwise.usecases.runs import active_run

    ws = open_workspace(workspace)
    _print_summary(segment_summary(ws, active_run(ws), name, key_id="cli"), as_json)


@explain_app.command("customer")
@handle_errors
def explain_customer(
    customer_id: Annotated[str, typer.Argument(help="Customer id.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the text, engine, check and facts as JSON.")] = False,
    workspace: WorkspaceOption = None,
) -> None:
    """The customer's summary (segment, behaviour, CLV with interval, purchase chance and why, recommendations)."""
    from targetwise.usecases.explain import customer_summary
    from targetwise.usecases.runs import active_run

    ws = open_workspace(workspace)
    _print_summary(customer_summary(ws, active_run(ws), customer_id, key_id="cli"), as_json)
