"""Scheduled runs: a cron line or a systemd service + timer pair for ``targetwise run`` then ``sync run --all``.

The job is one shell line::

    cd WS && flock -n LOCK sh -c 'TW run --strict --workspace WS && TW sync run --all --workspace WS' >> LOG 2>&1

- ``--strict`` makes ``targetwise run`` exit 1 when a stage fails (it already exits 1 on any error
  before the run, e.g. an empty workspace), and ``&&`` runs the sync only after a run that
  succeeded, so a failed run never syncs: the destinations keep the previous audiences.
- ``flock -n`` on ``LOCK`` (``<workspace>/artifacts/schedule.lock``): a run still going when the next
  one is due makes the new one exit at once instead of overlapping.
- ``TW`` is the absolute path of this installation's ``targetwise`` (the current virtual
  environment), so cron's short ``PATH`` does not matter; the output of both commands is appended to
  ``LOG`` (``<workspace>/artifacts/logs/schedule.log``; systemd: ``StandardOutput=append:``).

Paths containing a quote, backslash, ``%``, ``$`` or a line break are refused (cron and systemd give
those characters meanings of their own).
"""

from __future__ import annotations

import re
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from targetwise.errors import ConfigError

__all__ = ["Schedule", "ScheduleFormat", "schedule_files", "targetwise_command"]

ScheduleFormat = Literal["cron", "systemd"]
UNIT_NAME = "targetwise-run"
_UNSAFE = re.compile(r"['\"\\%$\n\r]")
_PLAIN = re.compile(r"[\w@+=:,./-]+")


def _q(word: str) -> str:
    """A word for sh: as is, or in double quotes (safe: quotes, backslashes and $ were refused by _safe)."""
    return word if _PLAIN.fullmatch(word) else f'"{word}"'


@dataclass(frozen=True)
class Schedule:
    """What ``targetwise schedule`` writes: file name -> text, and the job's pieces (for the docs and tests)."""

    files: dict[str, str]
    command: str  # the shell line the job runs (cron: after the time fields)
    lock: Path
    log: Path
    hour: int
    minute: int


def targetwise_command() -> list[str]:
    """This installation's ``targetwise``: the script next to the running interpreter, else ``python -m targetwise``."""
    bin_dir = Path(sys.executable).parent  # the venv's bin (not resolved: that would leave the venv)
    script = bin_dir / "targetwise"
    if script.is_file():
        return [str(script.absolute())]
    return [str(Path(sys.executable).absolute()), "-m", "targetwise"]


def _parse_at(at: str) -> tuple[int, int]:
    match = re.fullmatch(r"(\d{1,2}):(\d{2})", at.strip())
    if not match or int(match.group(1)) > 23 or int(match.group(2)) > 59:
        raise ConfigError(f"--at {at!r} is not a time HH:MM (24-hour)", fix="e.g. --at 02:30")
    return int(match.group(1)), int(match.group(2))


def _safe(path: Path | str, what: str) -> str:
    text = str(path)
    if _UNSAFE.search(text):
        raise ConfigError(
            f"{what} {text!r} holds a quote, backslash, %, $ or line break, which cron and systemd would misread",
            fix="use a path without those characters (e.g. a symlink to it)",
        )
    return text


def schedule_files(
    workspace: Path,
    *,
    at: str = "02:00",
    fmt: ScheduleFormat = "cron",
    command: list[str] | None = None,
    flock: str | None = None,
) -> Schedule:
    """The cron line (``targetwise.cron``) or systemd pair (``targetwise-run.service``/``.timer``) for ``workspace``."""
    hour, minute = _parse_at(at)
    root = Path(workspace).absolute()
    tw = command or targetwise_command()
    flock_bin = flock or shutil.which("flock")
    if not flock_bin:
        raise ConfigError("flock is not installed, so scheduled runs could overlap",
                          fix="install util-linux (apt-get install util-linux), which provides flock")
    for part in tw:
        _safe(part, "the targetwise command")
    ws = _safe(root, "workspace")
    lock = root / "artifacts" / "schedule.lock"
    log = root / "artifacts" / "logs" / "schedule.log"
    _safe(flock_bin, "flock")
    program = " ".join(_q(p) for p in tw)
    inner = f"{program} run --strict --workspace {_q(ws)} && {program} sync run --all --workspace {_q(ws)}"
    job = f"{_q(flock_bin)} -n {_q(str(lock))} /bin/sh -c '{inner}'"
    if fmt == "cron":
        line = f"cd {_q(ws)} && {job} >> {_q(str(log))} 2>&1"
        text = (f"# targetwise: nightly run, then sync of every live audience (only after a run that succeeded)\n"
                f"# install: crontab -l | cat - targetwise.cron | crontab -   (log: {log})\n"
                f"{minute} {hour} * * * {line}\n")
        return Schedule({"targetwise.cron": text}, line, lock, log, hour, minute)
    if fmt != "systemd":
        raise ConfigError(f"--format {fmt!r} is not cron or systemd", fix="use --format cron or --format systemd")
    service = (
        "[Unit]\n"
        f"Description=targetwise run, then sync run --all (workspace {ws})\n"
        "Wants=network-online.target\n"
        "After=network-online.target\n\n"
        "[Service]\n"
        "Type=oneshot\n"
        f"WorkingDirectory={ws}\n"
        f"ExecStart={job}\n"
        f"StandardOutput=append:{log}\n"
        f"StandardError=append:{log}\n"
    )
    timer = (
        "[Unit]\n"
        f"Description=targetwise nightly run at {hour:02d}:{minute:02d} (workspace {ws})\n\n"
        "[Timer]\n"
        f"OnCalendar=*-*-* {hour:02d}:{minute:02d}:00\n"
        "Persistent=true\n"
        f"Unit={UNIT_NAME}.service\n\n"
        "[Install]\n"
        "WantedBy=timers.target\n"
    )
    return Schedule({f"{UNIT_NAME}.service": service, f"{UNIT_NAME}.timer": timer}, job, lock, log, hour, minute)


def write_schedule(schedule: Schedule, out_dir: Path) -> list[Path]:
    """Write the schedule's files into ``out_dir`` and create the log folder; returns the files written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    schedule.log.parent.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in schedule.files.items():
        path = out_dir / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written
