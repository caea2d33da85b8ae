"""`targetwise schedule`: the cron line and systemd pair (known answers, unit syntax), the lock, and a failed run
that never reaches the sync."""

from __future__ import annotations

import configparser
import fcntl
import shutil
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from targetwise.cli import app
from targetwise.config import get_settings
from targetwise.errors import ConfigError
from targetwise.io.workspace import Workspace
from targetwise.usecases.schedule import schedule_files, targetwise_command

runner = CliRunner()
TW = "/opt/tw/.venv/bin/targetwise"
WS = Path("/srv/shop/ws")


def test_cron_line_known_answer() -> None:
    result = schedule_files(WS, at="2:30", fmt="cron", command=[TW], flock="/usr/bin/flock")
    job = ("/usr/bin/flock -n /srv/shop/ws/artifacts/schedule.lock /bin/sh -c "
           f"'{TW} run --strict --workspace /srv/shop/ws && {TW} sync run --all --workspace /srv/shop/ws'")
    line = f"cd /srv/shop/ws && {job} >> /srv/shop/ws/artifacts/logs/schedule.log 2>&1"
    assert result.command == line
    assert result.files["targetwise.cron"].splitlines()[-1] == f"30 2 * * * {line}"
    assert (result.hour, result.minute) == (2, 30)


def test_systemd_pair_known_answer_and_spaces_are_quoted() -> None:
    result = schedule_files(Path("/srv/my shop"), at="23:05", fmt="systemd", command=[TW], flock="/usr/bin/flock")
    service = configparser.ConfigParser(interpolation=None, strict=True)
    service.optionxform = str  # type: ignore[assignment,method-assign]
    service.read_string(result.files["targetwise-run.service"])
    assert service["Service"]["Type"] == "oneshot"
    assert service["Service"]["WorkingDirectory"] == "/srv/my shop"
    assert service["Service"]["ExecStart"] == (
        '/usr/bin/flock -n "/srv/my shop/artifacts/schedule.lock" /bin/sh -c '
        f"'{TW} run --strict --workspace \"/srv/my shop\" && {TW} sync run --all --workspace \"/srv/my shop\"'")
    assert service["Service"]["StandardOutput"] == "append:/srv/my shop/artifacts/logs/schedule.log"
    assert service["Service"]["StandardError"] == service["Service"]["StandardOutput"]
    timer = configparser.ConfigParser(interpolation=None, strict=True)
    timer.optionxform = str  # type: ignore[assignment,method-assign]
    timer.read_string(result.files["targetwise-run.timer"])
    assert dict(timer["Timer"]) == {"OnCalendar": "*-*-* 23:05:00", "Persistent": "true",
                                    "Unit": "targetwise-run.service"}
    assert timer["Install"]["WantedBy"] == "timers.target"


def test_bad_times_formats_and_paths_are_refused() -> None:
    with pytest.raises(ConfigError, match=r"--at '24:00' is not a time HH:MM"):
        schedule_files(WS, at="24:00", command=[TW], flock="/usr/bin/flock")
    with pytest.raises(ConfigError, match=r"--at '2pm' is not a time HH:MM"):
        schedule_files(WS, at="2pm", command=[TW], flock="/usr/bin/flock")
    with pytest.raises(ConfigError, match="--format 'launchd' is not cron or systemd"):
        schedule_files(WS, fmt="launchd", command=[TW], flock="/usr/bin/flock")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"workspace '/srv/100%' holds a quote, backslash, %"):
        schedule_files(Path("/srv/100%"), command=[TW], flock="/usr/bin/flock")


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_systemd_analyze_verifies_the_generated_units(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    (ws / "artifacts" / "logs").mkdir(parents=True)
    result = schedule_files(ws, at="03:15", fmt="systemd")
    for name, text in result.files.items():
        (tmp_path / name).write_text(text)
    done = subprocess.run(["systemd-analyze", "verify", "--man=no", str(tmp_path / "targetwise-run.service"),
                           str(tmp_path / "targetwise-run.timer")], capture_output=True, text=True, timeout=60)
    complaints = [line for line in done.stderr.splitlines()
                  if "targetwise-run" in line]  # other lines: the host's own units, not ours
    assert done.returncode == 0 and complaints == [], done.stderr


def _job(ws: Path, command: list[str]) -> str:
    return schedule_files(ws, command=command).command


def test_the_sync_runs_only_after_a_run_that_succeeded(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    (ws / "artifacts" / "logs").mkdir(parents=True)
    log = ws / "artifacts" / "logs" / "schedule.log"
    # control: with a command that always succeeds (echo), both commands of the line run, in order
    done = subprocess.run(["/bin/sh", "-c", _job(ws, ["/bin/echo"])], timeout=60)
    assert done.returncode == 0
    assert log.read_text().splitlines() == [f"run --strict --workspace {ws}", f"sync run --all --workspace {ws}"]


@pytest.mark.slow  # a fresh process imports the whole CLI: 10-14 s on a loaded 2-core box
def test_a_failed_run_exits_non_zero_and_never_reaches_the_sync(tmp_path: Path) -> None:
    """The real CLI on a workspace with no transactions: `run --strict` fails, so `sync run --all` never starts."""
    path = tmp_path / "ws"
    Workspace.init(path, get_settings(workspace=path))
    result = runner.invoke(app, ["schedule", "--at", "04:00", "--workspace", str(path)])
    assert result.exit_code == 0, result.output
    cron = (path / "artifacts" / "schedule" / "targetwise.cron").read_text().splitlines()[-1]
    assert cron.startswith("0 4 * * * cd ") and targetwise_command()[0] in cron
    line = cron.split(" ", 5)[5]
    done = subprocess.run(["/bin/sh", "-c", line], timeout=120, env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})
    assert done.returncode == 1  # the run's exit status comes through flock and sh
    log = (path / "artifacts" / "logs" / "schedule.log").read_text()
    assert "error: the workspace has no transactions" in log
    # had the sync started, its output (or, before syncs existed, "No such command 'sync'") would be in the log
    assert "sync" not in log.lower() and len(log.strip().splitlines()) <= 2, log


def test_the_lock_keeps_two_runs_from_overlapping(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    (ws / "artifacts" / "logs").mkdir(parents=True)
    lock = ws / "artifacts" / "schedule.lock"
    with open(lock, "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)  # a run still going
        done = subprocess.run(["/bin/sh", "-c", _job(ws, ["/bin/echo"])], timeout=60)
    assert done.returncode == 1  # flock -n gives up at once
    assert (ws / "artifacts" / "logs" / "schedule.log").read_text() == ""
    again = subprocess.run(["/bin/sh", "-c", _job(ws, ["/bin/echo"])], timeout=60)  # the lock is free again
    assert again.returncode == 0 and "sync run --all" in (ws / "artifacts" / "logs" / "schedule.log").read_text()
