"""`targetwise campaign list|plan|report|power`."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from targetwise.cli._common import WorkspaceOption, console, handle_errors, open_workspace, plain, progress

if TYPE_CHECKING:  # pragma: no cover
    from targetwise.io.workspace import CampaignStatus


def campaigns_table(campaigns: Sequence[CampaignStatus]) -> Table:
    """The workspace's campaigns: id, name, channel, exposed, holdout, responses, send dates."""
    grid = Table(title="campaigns (`targetwise campaign report CAMPAIGN_ID` measures one)")
    for name in ("campaign", "name", "channel", "exposed", "holdout", "responses", "sent from", "sent to"):
        grid.add_column(name, justify="right" if name in ("exposed", "holdout", "responses") else "left")
    for c in campaigns:
        grid.add_row(
            plain(c.campaign_id), plain(c.name or ""), plain(c.channel or ""), f"{c.exposures:,}", f"{c.control:,}",
            f"{c.responses:,}", plain(f"{c.first_sent:%Y-%m-%d}" if c.first_sent else ""),
            plain(f"{c.last_sent:%Y-%m-%d}" if c.last_sent else ""),
        )  # fmt: skip
    return grid


campaign_app = typer.Typer(help="Plan a campaign under a budget from uplift (or rank expected responders); measure it afterwards.", no_args_is_help=True)


@campaign_app.command("list")
@handle_errors
def list_campaigns(workspace: WorkspaceOption = None) -> None:
    """Every campaign of the workspace with its exposures, holdout, responses and send dates."""
    campaigns = open_workspace(workspace).status().campaigns
    if not campaigns:
        console.print("no campaigns yet: ingest campaign_exposures (and responses) of a campaign, "
                      "ideally randomised with a control group")
        return
    console.print(campaigns_table(campaigns))


@campaign_app.command("plan")
@handle_errors
def plan(
    contact_cost: Annotated[float, typer.Option("--contact-cost", help="Cost of one contact.")],
    value_per_conversion: Annotated[float | None, typer.Option("--value-per-conversion", help="Margin of one incremental conversion (uplift plans).")] = None,
    value_from_clv: Annotated[bool, typer.Option("--value-from-clv", help="Use each customer's CLV x --margin as the value (uplift plans).")] = False,
    margin: Annotated[float, typer.Option("--margin", help="Share of CLV (with --value-from-clv) or of revenue (with --score value_uplift) that is profit.")] = 1.0,
    discount: Annotated[float, typer.Option("--discount", help="With --score value_uplift: share of a contacted customer's expected revenue the offer gives away (added to their contact cost).")] = 0.0,
    budget: Annotated[float | None, typer.Option("--budget", help="Maximum total contact cost.")] = None,
    max_contacts: Annotated[int | None, typer.Option("--max-contacts", help="Maximum number of contacts.")] = None,
    holdout: Annotated[float, typer.Option("--holdout", help="Random control share kept for measurement.")] = 0.10,
    channel: Annotated[str, typer.Option("--channel", help="email, sms or ads (consent is checked for it).")] = "email",
    audience: Annotated[str | None, typer.Option("--audience", help="Plan only over this saved audience (id).")] = None,
    score: Annotated[str, typer.Option("--score", help="'uplift' (the run's conversion uplift per arm: incremental "
                                       "profit at --value-per-conversion), 'value_uplift' (incremental revenue per "
                                       "customer x --margin, minus contact cost and --discount) or a "
                                       "response probability column such as p_purchase_30d: a ranking of expected "
                                       "responders within --budget/--max-contacts, with no incremental or profit "
                                       "claim.")] = "uplift",
    out: Annotated[Path | None, typer.Option("--out", help="Write the assignments (.csv or .parquet).")] = None,
    schedule: Annotated[Path | None, typer.Option("--schedule", help="Write a send schedule of the contacted customers "
                                                  "(each at their best weekday and hour, shop time and UTC; .csv or .parquet).")] = None,
    week_of: Annotated[str | None, typer.Option("--week-of", help="With --schedule: send in the week from the Monday on or "
                                                "after this date YYYY-MM-DD (default: today).")] = None,
    workspace: WorkspaceOption = None,
) -> None:
    """Who gets which arm: maximum expected incremental profit, no sleeping dogs, a random holdout."""
    from targetwise.errors import ConfigError
    from targetwise.io.exports import write_table
    from targetwise.usecases.campaigns import PlanRequest, is_value_score, plan_from_run, plan_kind
    from targetwise.usecases.runs import active_run

    incremental = plan_kind(score) == "incremental" and not is_value_score(score)
    if incremental and (value_per_conversion is None) == (not value_from_clv):
        raise ConfigError("give either --value-per-conversion or --value-from-clv", fix="e.g. --value-per-conversion 25")
    value: float | str | None = "clv" if value_from_clv else value_per_conversion
    ws = open_workspace(workspace)
    request = PlanRequest(
        contact_cost=contact_cost, value_per_conversion=value,  # type: ignore[arg-type]
        margin=margin, budget=budget, max_contacts=max_contacts, holdout_fraction=holdout, channel=channel,  # type: ignore[arg-type]
        audience_id=audience, score=score, random_state=ws.settings.random_state, discount_rate=discount,
    )
    with progress("planning"):
        outcome = plan_from_run(ws, active_run(ws), request)
    console.print(f"contact {outcome.n_contacted:,} customers, hold out {outcome.n_holdout:,} at random; "
                  f"cost {outcome.total_cost:,.2f}")
    if outcome.plan is not None:
        result = outcome.plan
        plo, phi = result.profit_interval
        if result.incremental_conversions_interval is not None and result.expected_incremental_conversions is not None:
            lo, hi = result.incremental_conversions_interval
            console.print(f"expected incremental conversions {result.expected_incremental_conversions:,.1f} ({lo:,.1f} to {hi:,.1f})")
        else:
            vlo, vhi = result.incremental_value_interval
            console.print(f"expected incremental margin {result.expected_incremental_value:,.2f} ({vlo:,.2f} to {vhi:,.2f})")
        console.print(f"expected profit {result.expected_profit:,.2f} ({plo:,.2f} to {phi:,.2f}, {plain(result.interval_method)})")
    else:
        assert outcome.ranking is not None
        console.print(f"expected responders (not caused by the campaign) {outcome.ranking.expected_responders:,.1f}, "
                      f"ranked by {plain(score)}")
    for note in outcome.notes:
        console.print(f"[yellow]note:[/] {plain(note)}")
    console.print("decisions: " + ", ".join(f"{plain(k)} {v:,}" for k, v in outcome.by_reason.items()))
    console.print(f"considered {outcome.customers_considered:,} customers; excluded by consent "
                  f"({plain(channel)} or profiling): {outcome.excluded_opt_out:,}")
    if out:
        write_table(outcome.assignments.reset_index(), out)
        console.print(f"assignments written to {plain(out)}")
    if schedule:
        from datetime import date

        from targetwise.usecases.sendtime import plan_schedule

        plan = plan_schedule(active_run(ws), outcome.assignments, week_of=week_of or date.today().isoformat(),
                             timezone=ws.settings.business_timezone)
        write_table(plan, schedule)
        console.print(f"send schedule of {len(plan):,} customers written to {plain(schedule)} "
                      f"(times in {plain(ws.settings.business_timezone)} and UTC)")


@campaign_app.command("report")
@handle_errors
def report(
    campaign_id: Annotated[str, typer.Argument(help="Campaign id.")],
    pre_period_days: Annotated[int, typer.Option("--pre-period-days", help="CUPED covariate: each customer's net spend in this many days before the send.")] = 90,
    as_json: Annotated[bool, typer.Option("--json", help="Print the readout as JSON (unadjusted and cuped objects per arm, segment and metric).")] = False,
    out: Annotated[Path | None, typer.Option("--out", help="Write the results table (.csv or .parquet).")] = None,
    workspace: WorkspaceOption = None,
) -> None:
    """Incremental conversions and revenue of treated vs holdout, with confidence intervals, by segment;
    each also CUPED-adjusted on pre-period spend, with the variance reduction."""
    from targetwise.io.exports import write_table
    from targetwise.usecases.readout import campaign_readout, readout_dict

    readout = campaign_readout(open_workspace(workspace), campaign_id, pre_period_days=pre_period_days)
    if as_json:
        typer.echo(json.dumps(readout_dict(readout), indent=2))
        if out:
            write_table(readout.measurement.results, out)
        return
    frame = readout.measurement.results
    for row in frame[frame["segment"] == "all"].itertuples():
        console.print(
            f"{plain(row.arm)}: conversion {row.conversion_rate_treated:.2%} vs control {row.conversion_rate_control:.2%}; "
            f"incremental {row.incremental_conversion_rate:+.2%} ({row.icr_low:+.2%} to {row.icr_high:+.2%}); "
            f"incremental revenue {row.incremental_revenue:,.0f} ({row.incremental_revenue_low:,.0f} to {row.incremental_revenue_high:,.0f})"
        )
        console.print(
            f"  CUPED on {plain(readout.covariate)}: incremental {row.icr_cuped:+.2%} ({row.icr_cuped_low:+.2%} to "
            f"{row.icr_cuped_high:+.2%}), variance reduction {row.icr_variance_reduction:.0%}; incremental revenue per "
            f"customer {row.irpc_cuped:+,.2f} ({row.irpc_cuped_low:+,.2f} to {row.irpc_cuped_high:+,.2f}) vs unadjusted "
            f"{row.incremental_revenue_per_customer:+,.2f} ({row.irpc_low:+,.2f} to {row.irpc_high:+,.2f}), variance "
            f"reduction {row.irpc_variance_reduction:.0%}"
        )
    for row in frame[frame["segment"] != "all"].itertuples():
        console.print(f"  {plain(row.arm)} / {plain(row.segment)}: {row.incremental_conversion_rate:+.2%} ({row.icr_low:+.2%} to {row.icr_high:+.2%}), "
                      f"CUPED {row.icr_cuped:+.2%} ({row.icr_cuped_low:+.2%} to {row.icr_cuped_high:+.2%}), n={row.n_treated}+{row.n_control}")
    if out:
        write_table(frame, out)
        console.print(f"written to {plain(out)}")


@campaign_app.command("power")
@handle_errors
def power(
    baseline_rate: Annotated[float, typer.Option("--baseline-rate", help="Expected conversion rate of the holdout, e.g. 0.1.")],
    mde: Annotated[float, typer.Option("--mde", help="Minimum detectable effect, absolute: 0.01 is one percentage point.")],
    alpha: Annotated[float, typer.Option("--alpha", help="Two-sided significance level.")] = 0.05,
    power_: Annotated[float, typer.Option("--power", help="Chance of detecting an effect of --mde.")] = 0.8,
    cuped_r2: Annotated[float | None, typer.Option("--cuped-r2", help="Share of the outcome's variance a pre-period covariate explains (CUPED).")] = None,
    cuped_from: Annotated[str | None, typer.Option("--cuped-from", help="Take the CUPED variance reduction from this earlier campaign's readout.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print n_per_arm and its inputs as JSON.")] = False,
    workspace: WorkspaceOption = None,
) -> None:
    """Customers needed per arm (treated and holdout) for a two-sided two-proportion test."""
    from targetwise.usecases.readout import plan_power

    ws = open_workspace(workspace) if cuped_from is not None else None
    result = plan_power(ws, baseline_rate=baseline_rate, mde=mde, alpha=alpha, power=power_, cuped_r2=cuped_r2,
                        cuped_from_campaign=cuped_from)
    if as_json:
        typer.echo(json.dumps(result.to_dict(), indent=2))
        return
    console.print(f"n_per_arm {result.n_per_arm:,} (treated and holdout each; {result.n_total:,} in all)")
    console.print(f"to detect {result.baseline_rate:.2%} -> {result.target_rate:.2%} (mde {result.mde:+.2%} absolute), "
                  f"alpha {result.alpha:g} two-sided, power {result.power:g}; {plain(result.test)}")
    if result.cuped_r2 > 0:
        console.print(f"with CUPED r2 {result.cuped_r2:.3f}: {result.n_per_arm:,} instead of {result.n_per_arm_unadjusted:,} per arm")


from targetwise.cli.copy import copy_app  # noqa: E402

campaign_app.add_typer(copy_app, name="copy")
