"""The CLI reads like a product: --version, value names in --help, plain warnings, ISO --as-of with the
gap to the data, campaign ids in `status`, the quarantine listed, an unknown customer said so."""

from __future__ import annotations

import re
import warnings
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import typer
from typer.main import get_command
from typer.testing import CliRunner

from targetwise import __version__
from targetwise.cli import app
from targetwise.cli._common import handle_errors, human
from targetwise.config import get_settings
from targetwise.errors import DataValidationError
from targetwise.features._inputs import data_gap, normalize_as_of
from targetwise.io.ingest import ingest
from targetwise.io.workspace import Workspace

ENV = {"TARGETWISE_WORKSPACE": "", "COLUMNS": "200"}
runner = CliRunner()


def invoke(*args: object):
    return runner.invoke(app, [str(a) for a in args], env=ENV)


def _commands(command, path=()):
    """Every command path of the app: (), ("ingest",), ("runs", "list"), ..."""
    yield path
    for name, sub in getattr(command, "commands", {}).items():
        yield from _commands(sub, (*path, name))


def test_version() -> None:
    r = invoke("--version")
    assert r.exit_code == 0 and r.output == f"targetwise {__version__}\n"


def test_help_names_values_not_python_types() -> None:
    paths = list(_commands(get_command(app)))
    assert ("quarantine",) in paths and ("runs", "list") in paths and len(paths) > 25
    for path in paths:
        r = invoke(*path, "--help")
        assert r.exit_code == 0, (path, r.output)
        tags = re.findall(r"<(?:str|int|float|bool|path|datetime|list\[[^\]]*\]|[a-z]+)>", r.output)
        assert tags == [], (path, tags)
        usage = next(line for line in r.output.splitlines() if "Usage:" in line)
        assert "{" not in usage, (path, usage)
    segment = invoke("segment", "--help").output
    assert re.search(r"--as-of\s+YYYY-MM-DD", segment)
    assert re.search(r"--n-clusters\s+INTEGER", segment)
    assert re.search(r"--help\s+Show this message", segment)  # a flag takes no value
    assert "Usage: targetwise ingest [OPTIONS] TABLE SOURCE" in invoke("ingest", "--help").output


def _bracketed(help_text: str) -> list[str]:
    """The ``[word]`` pieces of a help text as the reader must see them (``\\[`` is Rich's escape)."""
    return [m.replace("\\[", "[") for m in re.findall(r"\\?\[[a-z_]+\]", help_text)]


def test_bracketed_words_in_help_are_printed_not_read_as_markup() -> None:
    """Rich drops ``[completejourney]`` as an unknown style tag unless escaped: every one must be printed."""
    checked = []
    for path in _commands(get_command(app)):
        command = get_command(app)
        for name in path:
            command = command.commands[name]
        wanted = [w for p in getattr(command, "params", []) for w in _bracketed(getattr(p, "help", None) or "")]
        if wanted:
            output = invoke(*path, "--help").output
            checked += [(path, w) for w in wanted]
            assert all(w in output for w in wanted), (path, wanted)
    assert (("demo",), "[completejourney]") in checked and (("forecast",), "[forecast]") in checked
    assert "pip install 'targetwise[completejourney]'" in invoke("demo", "--help").output


def test_a_warning_is_one_plain_line() -> None:
    probe = typer.Typer()

    @probe.command()
    @handle_errors
    def fit() -> None:
        warnings.warn("the spend model did not converge;\n  try a penalizer", UserWarning, stacklevel=1)
        typer.echo("done")

    r = CliRunner().invoke(probe, [], env=ENV)
    assert r.exit_code == 0
    assert r.stderr == "warning: the spend model did not converge; try a penalizer\n"
    assert r.stdout == "done\n"


def test_summaries_use_human_numbers(tmp_path: Path) -> None:
    ws = _shop(tmp_path)
    with ws.connect(read_only=True) as con:
        (revenue,) = con.execute("SELECT sum(line_amount) FROM transactions").fetchone()
    assert 1_000 < revenue < 10_000
    r = invoke("profile", "-w", ws.path)
    assert r.exit_code == 0, r.output
    assert f"net revenue £{revenue / 1000:.1f}k" in r.output and f"{revenue:,.2f}" not in r.output
    assert human(0.31824) == "0.32" and human(8_648_123.4) == "8.6M" and human(None) == "n/a"


# -- --as-of ------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["06/01/2024", "31/12/2024", "2024/06/01", "1 June 2024", "20240601", "2024-6-1"])
def test_as_of_must_be_an_iso_date(tmp_path: Path, value: str) -> None:
    r = invoke("segment", "--as-of", value, "-w", tmp_path / "nowhere")
    assert r.exit_code == 2
    text = " ".join(r.output.replace("│", " ").split())
    assert f"Invalid value for '--as-of': '{value}' is not a date in the form YYYY-MM-DD" in text


def test_as_of_refuses_a_date_that_does_not_exist(tmp_path: Path) -> None:
    r = invoke("clv", "--as-of", "2024-02-30", "-w", tmp_path)
    assert r.exit_code == 2 and "'2024-02-30' is not a calendar date (YYYY-MM-DD)" in r.output


@pytest.mark.parametrize("value", ["06/01/2024", "31/12/2024", "June 1, 2024"])
def test_the_library_reads_only_iso_cutoffs(value: str) -> None:
    with pytest.raises(DataValidationError, match="ISO form YYYY-MM-DD"):
        normalize_as_of(value)
    assert normalize_as_of("2024-06-01") == datetime(2024, 6, 1)
    assert normalize_as_of("2024-06-01T10:30:00+02:00") == datetime(2024, 6, 1, 8, 30)


def test_data_gap_counts_days_after_the_data() -> None:
    last = datetime(2024, 5, 31, 14, 2)
    assert data_gap("2024-06-01", last, stale_after_days=7).days == 0  # the day after the last order
    assert data_gap("2024-06-01", last, stale_after_days=7).note() is None
    gap = data_gap("2024-06-03", last, stale_after_days=7)
    assert (gap.days, gap.stale) == (2, False)
    assert gap.note() == "as of 2024-06-03 is 2 days after the data ends (last order 2024-05-31 14:02 UTC)"
    stale = data_gap("2024-06-10", last, stale_after_days=7)
    assert (stale.days, stale.stale) == (9, True) and "TARGETWISE_STALE_DATA_DAYS" in (stale.note() or "")


def _shop(tmp_path: Path, stale_days: int | None = None) -> Workspace:
    """40 customers buying through 2024; the last order on 2024-12-31."""
    settings = get_settings(workspace=tmp_path / "ws", duckdb_threads=1, stale_data_days=stale_days)
    ws = Workspace.init(settings.workspace, settings)
    lines = ["customer_id,order_id,ordered_at,product_id,quantity,unit_price"]
    start = datetime(2024, 1, 1, 10)
    for c in range(40):
        for k in range(1 + c % 5):
            day = start + timedelta(days=(c * 7 + k * 53) % 360)
            lines.append(f"C{c:03d},O{c}-{k},{day:%Y-%m-%d %H:%M},P{(c + k) % 6},{1 + k % 3},{25 + c % 4}")
    lines.append("C000,LAST,2024-12-31 18:00,P1,1,3.0")
    csv = tmp_path / "lines.csv"
    csv.write_text("\n".join(lines) + "\n")
    ingest(ws, "transactions", csv, now=datetime(2025, 6, 1, tzinfo=UTC))
    return ws


def test_as_of_after_the_last_order_is_accepted_with_the_gap(tmp_path: Path) -> None:
    ws = _shop(tmp_path)
    out = tmp_path / "segments.csv"
    r = runner.invoke(app, ["segment", "--as-of", "2025-01-03", "-w", str(ws.path), "--out", str(out)],
                      env={**ENV, "TARGETWISE_STALE_DATA_DAYS": "7"})
    assert r.exit_code == 0, r.output
    assert "note: as of 2025-01-03 is 2 days after the data ends (last order 2024-12-31 18:00 UTC)" in r.stderr
    assert "warning" not in r.stderr and out.exists()
    r = runner.invoke(app, ["segment", "--as-of", "2025-01-20", "-w", str(ws.path), "--out", str(out)],
                      env={**ENV, "TARGETWISE_STALE_DATA_DAYS": "7"})
    assert r.exit_code == 0, r.output
    assert "warning: as of 2025-01-20 is 19 days after the data ends" in r.stderr
    assert "the data may be stale (more than 7 days without an order" in r.stderr
    r = runner.invoke(app, ["segment", "--as-of", "2025-01-20", "-w", str(ws.path), "--out", str(out)],
                      env={**ENV, "TARGETWISE_STALE_DATA_DAYS": "30"})
    assert r.exit_code == 0 and "note: as of 2025-01-20 is 19 days" in r.stderr and "warning" not in r.stderr


# -- status: campaigns; quarantine ---------------------------------------------------------------


def test_status_lists_campaign_ids_with_exposures_and_dates(tmp_path: Path) -> None:
    ws = _shop(tmp_path)
    (tmp_path / "c.csv").write_text("campaign_id,name,channel\nSPRING24,Spring sale,email\nDRAFT,Not sent yet,sms\n")
    (tmp_path / "e.csv").write_text(
        "campaign_id,customer_id,arm,sent_at\n"
        + "".join(f"SPRING24,C{c:03d},{'control' if c % 4 == 0 else 'treatment'},2024-03-0{1 + c % 3}\n" for c in range(20))
        + "AUTUMN,C001,treatment,2024-10-05\n"
    )
    ingest(ws, "campaigns", tmp_path / "c.csv")
    ingest(ws, "campaign_exposures", tmp_path / "e.csv")
    st = ws.status()
    assert [(c.campaign_id, c.exposures, c.control) for c in st.campaigns] == [
        ("AUTUMN", 1, 0), ("DRAFT", 0, 0), ("SPRING24", 20, 5)]
    r = invoke("status", "-w", ws.path)
    assert r.exit_code == 0, r.output
    rows = {cells[0]: cells for line in r.output.splitlines()
            if (cells := [c.strip() for c in line.split("│")[1:-1]]) and cells[0] in ("AUTUMN", "DRAFT", "SPRING24")}
    assert rows["SPRING24"] == ["SPRING24", "Spring sale", "email", "20", "5", "0", "2024-03-01", "2024-03-03"]
    assert rows["DRAFT"] == ["DRAFT", "Not sent yet", "sms", "0", "0", "0", "", ""]
    assert rows["AUTUMN"][3] == "1" and rows["AUTUMN"][6:] == ["2024-10-05", "2024-10-05"]
    # `campaign list` shows the same table; its title names the command that measures one
    listed = invoke("campaign", "list", "-w", ws.path)
    assert listed.exit_code == 0, listed.output
    assert "targetwise campaign report CAMPAIGN_ID" in listed.output
    same = {cells[0]: cells for line in listed.output.splitlines()
            if (cells := [c.strip() for c in line.split("│")[1:-1]]) and cells[0] in rows}
    assert same == rows
    empty = _shop(tmp_path / "other")
    assert "no campaigns yet" in invoke("campaign", "list", "-w", empty.path).output


def test_quarantine_lists_row_column_value_reason_and_fix(tmp_path: Path) -> None:
    settings = get_settings(workspace=tmp_path / "ws", duckdb_threads=1)
    ws = Workspace.init(settings.workspace, settings)
    bad = tmp_path / "orders.csv"
    bad.write_text(
        "customer_id,order_id,ordered_at,product_id,quantity,unit_price\n"
        "A,1,2024-01-01,P,1,2.0\nA,2,2024-01-02,P,1,abc\nB,3,not a date,P,1,2.0\nB,4,2024-01-03,P,0,2.0\n"
        "C,5,2024-01-04,P,1,2.0\nC,6,2024-01-05,P,1,\"4,5\"\n" + "".join(f"D,{k},2024-02-0{k - 6},P,1,3\n" for k in range(7, 10))
    )
    ingest(ws, "transactions", bad, now=datetime(2025, 1, 1, tzinfo=UTC))
    r = invoke("quarantine", "-w", ws.path)
    assert r.exit_code == 0, r.output
    assert "4 quarantined rows: invalid_number 2, unparsable_timestamp 1, zero_quantity 1" in r.output
    rows = [[c.strip() for c in line.strip("│ ").split("│")] for line in r.output.splitlines()
            if re.match(r"^│\s+1 │", line)]
    assert [row[:6] for row in rows] == [
        ["1", "transactions", "orders.csv", "2", "unit_price", "abc"],
        ["1", "transactions", "orders.csv", "3", "ordered_at", "not a date"],
        ["1", "transactions", "orders.csv", "4", "quantity", "0"],
        ["1", "transactions", "orders.csv", "6", "unit_price", "4,5"],
    ]
    assert rows[2][6].startswith("zero_quantity: quantity is 0") and rows[2][7].startswith("a line must buy")
    r = invoke("quarantine", "-w", ws.path, "--reason", "invalid_number", "--limit", "1")
    assert r.exit_code == 0, r.output
    assert "2 quarantined rows for reason invalid_number: invalid_number 2" in r.output
    assert "showing 1 of 2" in r.output and "abc" in r.output and "4,5" not in r.output
    r = invoke("quarantine", "-w", ws.path, "--table", "customers")
    assert r.exit_code == 0 and "no quarantined rows for table customers" in r.output
    r = invoke("quarantine", "-w", ws.path, "--reason", "typo")
    assert r.exit_code == 1 and "unknown quarantine reason 'typo'" in r.output and "invalid_number" in r.output


def test_status_points_at_the_quarantine(tmp_path: Path) -> None:
    settings = get_settings(workspace=tmp_path / "ws", duckdb_threads=1)
    ws = Workspace.init(settings.workspace, settings)
    (tmp_path / "o.csv").write_text("customer_id,order_id,ordered_at,product_id,quantity,unit_price\nA,1,2024-01-01,P,1,2\nA,2,2024-01-01,P,1,x\n")
    ingest(ws, "transactions", tmp_path / "o.csv", now=datetime(2025, 1, 1, tzinfo=UTC))
    r = invoke("status", "-w", ws.path)
    assert "1 quarantined row: `targetwise quarantine` lists them with the fix" in r.output


# -- recommend: an unknown customer is said to be unknown -----------------------------------------


@pytest.mark.slow
def test_recommend_says_when_the_customer_is_not_in_the_run(tmp_path: Path) -> None:
    from targetwise.pipeline.run import run_pipeline
    from targetwise.usecases.recommendations import recommendations_for
    from targetwise.usecases.runs import active_run

    ws = _shop(tmp_path)
    (tmp_path / "p.csv").write_text("product_id,name,category\n" + "".join(f"P{k},Mug {k},kitchen\n" for k in range(6)))
    ingest(ws, "products", tmp_path / "p.csv")
    info = run_pipeline(ws, ws.settings, stages=["features", "recommendations"])
    known = recommendations_for(active_run(ws), "C003", n=3)
    assert (known.known, known.source, known.note) == (True, "personal", None)
    unknown = recommendations_for(active_run(ws), "NOBODY", n=3)
    assert (unknown.known, unknown.source) == (False, "popular")
    assert unknown.note == (
        f"customer 'NOBODY' is not in run {info.run_id} (unknown id, no purchase before {info.as_of}, or an "
        "objection to profiling): showing the most popular products"
    )
    r = invoke("recommend", "--customer", "NOBODY", "-n", "3", "-w", ws.path)
    assert r.exit_code == 0, r.output
    assert f"note: customer 'NOBODY' is not in run {info.run_id}" in " ".join(r.stderr.split())
    assert "showing the most popular products" in " ".join(r.stderr.split())
    r = invoke("recommend", "--customer", "C003", "-n", "3", "-w", ws.path)
    assert r.exit_code == 0 and r.stderr == ""


def test_run_prints_one_line_per_stage_with_its_time(tmp_path: Path) -> None:
    """Without a terminal (CI, `make demo | tee`) the spinner is off, yet each finished stage gets its line
    (on stdout: stderr keeps only errors, one line each)."""
    from conftest import ONLINE_RETAIL_MAPPING, ONLINE_RETAIL_SAMPLE

    ws = str(tmp_path / "ws")
    assert invoke("init", ws).exit_code == 0
    assert invoke("ingest", "transactions", ONLINE_RETAIL_SAMPLE, "--mapping", ONLINE_RETAIL_MAPPING, "-w", ws).exit_code == 0
    result = invoke("run", "--stage", "features", "--stage", "segments", "-w", ws)
    assert result.exit_code == 0, result.output
    lines = re.findall(r"done \[(\d)/2\] (\w+) in (\d+\.\d) s", result.output)
    assert [(i, name) for i, name, _ in lines] == [("1", "features"), ("2", "segments")]
    assert "customers=99" in result.output  # the summary's numbers, in human form
