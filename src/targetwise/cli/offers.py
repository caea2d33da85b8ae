"""`targetwise offers assign|evaluate`: next-best offers for an audience, and the off-policy value of the
learned policy against the logging policy and uniform random. A thin adapter over targetwise.usecases.offers."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from targetwise.cli._common import WorkspaceOption, console, handle_errors, open_workspace, plain, progress
from targetwise.errors import ConfigError

offers_app = typer.Typer(help="Next-best offers: one eligible offer per customer from a contextual bandit, every "
                         "decision logged with its propensity; off-policy evaluation from the log.",
                         no_args_is_help=True)

_METHOD_HELP = "thompson (linear Thompson sampling) or linucb (upper confidence bound)."
_KIND_HELP = "The reward kind to learn from when the log holds several (click, conversion or revenue)."


def _check_method(method: str) -> None:
    if method not in ("thompson", "linucb"):
        raise ConfigError(f"unknown offer policy method {method!r}", fix="use --method thompson or --method linucb")


@offers_app.command("assign")
@handle_errors
def assign(
    audience: Annotated[str, typer.Option("--audience", help="The saved audience's id or name (see `audience list`).")],
    holdout: Annotated[float, typer.Option(
        "--holdout", help="Share of decisions made uniformly at random over the eligible offers (0 to 1), kept "
        "for evaluation.")] = 0.1,
    method: Annotated[str, typer.Option("--method", help=_METHOD_HELP)] = "thompson",
    reward_kind: Annotated[str | None, typer.Option("--reward-kind", help=_KIND_HELP)] = None,
    at: Annotated[str | None, typer.Option(
        "--at", help="Decision time, YYYY-MM-DD or an ISO date and time (UTC): offers live then, rewards logged "
        "before it (default: now).")] = None,
    out: Annotated[Path | None, typer.Option(
        "--out", help="Write the decisions (customer_id, offer_id, propensity, holdout, n_eligible) to this .csv "
        "or .parquet file.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON (without the decisions).")] = False,
    workspace: WorkspaceOption = None,
) -> None:
    """Give each member of an audience one eligible, live offer and log every decision with its propensity."""
    import json

    from targetwise.io.exports import write_table
    from targetwise.usecases.offers import assign_offers
    from targetwise.usecases.runs import active_run

    _check_method(method)
    if out is not None and not out.name.lower().endswith((".csv", ".csv.gz", ".parquet")):
        raise ConfigError(f"cannot write {out.name}: unknown format", fix="name the file .csv, .csv.gz or .parquet")
    ws = open_workspace(workspace)
    with progress(f"offers for {audience}"):  # on stderr, transient: --json's stdout stays pure JSON
        result = assign_offers(ws, active_run(ws), audience, holdout=holdout, method=method,
                               reward_kind=reward_kind, now=at)
    if out is not None:
        write_table(result.table, out)
    if as_json:
        typer.echo(json.dumps(result.to_dict(), indent=2))
        return
    console.print(
        f"{result.assigned:,} of {result.audience_size:,} members of {plain(result.audience_id)} got an offer "
        f"({plain(result.method)}, {result.holdout_decisions:,} uniform holdout decisions), logged as load "
        f"{result.load_id} at {plain(result.decided_at)} UTC"
    )
    table = Table()
    table.add_column("offer")
    table.add_column("customers", justify="right")
    for offer_id, n in result.by_offer.items():
        table.add_row(plain(offer_id), f"{n:,}")
    console.print(table)
    for reason, n in result.excluded.items():
        if n:
            console.print(f"  left out, {plain(reason.replace('_', ' '))}: {n:,}")
    for note in result.notes:
        console.print(f"[yellow]note:[/] {plain(note)}")
    if out is not None:
        console.print(f"written to {plain(out)}")


@offers_app.command("evaluate")
@handle_errors
def evaluate(
    method: Annotated[str, typer.Option("--method", help=_METHOD_HELP)] = "thompson",
    reward_kind: Annotated[str | None, typer.Option("--reward-kind", help=_KIND_HELP)] = None,
    bootstrap: Annotated[int, typer.Option(
        "--bootstrap", help="Bootstrap resamples for the 95% intervals.", min=10)] = 200,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
    workspace: WorkspaceOption = None,
) -> None:
    """Expected reward per decision of the learned policy, the logging policy and uniform random, from the
    offer log (IPW, self-normalised IPW and doubly robust, with 95% bootstrap intervals)."""
    import json

    from targetwise.usecases.offers import evaluate_offers
    from targetwise.usecases.runs import active_run

    _check_method(method)
    ws = open_workspace(workspace)
    with progress("evaluating offer policies"):
        result = evaluate_offers(ws, active_run(ws), method=method, reward_kind=reward_kind, n_bootstrap=bootstrap)
    if as_json:
        typer.echo(json.dumps(result.to_dict(), indent=2))
        return
    console.print(
        f"{result.evaluated:,} rewarded decisions over {len(result.offers)} offers "
        f"(reward: {plain(result.reward_kind or 'not given')}); values are expected reward per decision"
    )
    table = Table()
    for col in ("policy", "estimator", "value", "95% interval"):
        table.add_column(col, justify="left" if col in ("policy", "estimator") else "right")
    for v in result.values:
        table.add_row(plain(v.policy), plain(v.estimator), f"{v.value:.4f}", f"{v.low:.4f} to {v.high:.4f}")
    console.print(table)
    gains = result.gains()
    console.print(f"learned minus logging: {gains['over_logging']:+.4f}; learned minus uniform: "
                  f"{gains['over_uniform']:+.4f} (doubly robust)")
    for note in result.notes:
        console.print(f"[yellow]note:[/] {plain(note)}")
