"""Rich must not eat ``[options]``: messages, fixes and names reach the terminal exactly as written.

Rich reads ``[word]`` as a style tag and drops it, so a fix such as "set it
under [options]" printed ``set it under``. Each check drives the real Typer
app (or :func:`handle_errors`) through Typer's runner and compares exact lines.
"""

from __future__ import annotations

from pathlib import Path

import typer
from typer.testing import CliRunner

from targetwise.cli import app
from targetwise.cli._common import handle_errors, plain
from targetwise.config import get_settings
from targetwise.errors import ConfigError
from targetwise.io.audiences import AudienceStore
from targetwise.io.workspace import Workspace

ENV = {"TARGETWISE_WORKSPACE": "", "COLUMNS": "200"}
FIX = "set timezone in the mapping's [options], and products under [derive.products]"


def test_plain_escapes_markup_and_keeps_text() -> None:
    assert plain("[options] [derive.products] [bold]x[/]") == r"\[options] \[derive.products] \[bold]x\[/]"
    assert plain(Path("/data/[raw]/a.csv")) == r"/data/\[raw]/a.csv"


def test_error_fix_with_brackets_is_printed_intact() -> None:
    probe = typer.Typer()

    @probe.command()
    @handle_errors
    def fail() -> None:
        raise ConfigError("timezone [bold]Mars/Olympus[/] is unknown", fix=FIX)

    result = CliRunner().invoke(probe, [], env=ENV)
    assert result.exit_code == 1
    assert result.stderr == (
        "error: timezone [bold]Mars/Olympus[/] is unknown. Fix: set timezone in the mapping's [options], "
        "and products under [derive.products]\n"
    )


def test_real_mapping_error_keeps_its_section_names(tmp_path: Path) -> None:
    data = tmp_path / "orders.csv"
    data.write_text("customer_id,order_id,product_id,ordered_at,quantity,unit_price\n1,o1,p1,2011-01-01,1,2.0\n")
    mapping = tmp_path / "orders.toml"
    mapping.write_text('[bogus]\nx = "y"\n')
    ws = tmp_path / "ws"
    assert CliRunner().invoke(app, ["init", str(ws)], env=ENV).exit_code == 0
    result = CliRunner().invoke(app, ["ingest", "transactions", str(data), "--mapping", str(mapping), "-w", str(ws)], env=ENV)
    assert result.exit_code == 1
    assert result.stderr == (
        f"error: mapping file {mapping} has unknown section(s) ['bogus']. "
        "Fix: use only [columns], [options] and [derive.TABLE]\n"
    )


def test_audience_names_with_brackets_are_listed_intact(tmp_path: Path) -> None:
    settings = get_settings(workspace=tmp_path / "ws", duckdb_threads=1)
    ws = Workspace.init(settings.workspace, settings)
    AudienceStore(ws).save(slug="vip", name="VIP [options]", members=["C1"], run_id="R1",
                           definition=[], excluded={}, created_by=None)
    result = CliRunner().invoke(app, ["audience", "list", "-w", str(ws.path)], env=ENV)
    assert result.exit_code == 0, result.output
    row = next(line for line in result.stdout.splitlines() if "vip-v1" in line)
    assert [cell.strip() for cell in row.strip("│ ").split("│")][:4] == ["vip-v1", "VIP [options]", "1", "R1"]
