"""Staging folders of killed runs: the next run removes every one whose lock no live process holds.

Real child processes begin a run (the same :meth:`RunStore.begin` that
`targetwise run` calls) and wait; one is killed with SIGKILL, one stays alive.
The next run must remove the dead one's folder at once (not after an hour) and
leave the live one's folder and files exactly as they were.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator

import pytest

from targetwise.io.runs import LOCKS_DIR, STAGING_PREFIX, RunStore
from targetwise.io.workspace import Workspace

HOLDER = """
import sys, time
from pathlib import Path
from targetwise.config import get_settings
from targetwise.io.runs import RunStore
from targetwise.io.workspace import Workspace

path = Path(sys.argv[1])
writer = RunStore(Workspace.open(path, get_settings(workspace=path, duckdb_threads=1))).begin(as_of="2011-12-09", parameters={})
writer.write_json("segments/profiles.json", {"half": True})
print(writer.path.name, flush=True)
time.sleep(600)
"""


@pytest.fixture
def holders(workspace: Workspace) -> Iterator[list[subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []
    yield started
    for proc in started:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=30)


def _hold(workspace: Workspace, holders: list[subprocess.Popen[str]]) -> tuple[subprocess.Popen[str], str]:
    """A child process that has begun a run and keeps it open; its staging folder's name."""
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(workspace.path)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, "TARGETWISE_DUCKDB_THREADS": "1"})
    holders.append(proc)
    assert proc.stdout is not None
    name = proc.stdout.readline().strip()
    assert name.startswith(STAGING_PREFIX), proc.stderr.read() if proc.stderr else name
    return proc, name


def _staging(store: RunStore) -> list[str]:
    return sorted(p.name for p in store.root.iterdir() if p.name.startswith(STAGING_PREFIX))


def _locks(store: RunStore) -> list[str]:
    folder = store.root / LOCKS_DIR
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


def test_next_run_removes_killed_runs_folders_and_keeps_live_ones(
    workspace: Workspace, holders: list[subprocess.Popen[str]]
) -> None:
    killed, dead_name = _hold(workspace, holders)
    alive, live_name = _hold(workspace, holders)
    os.kill(killed.pid, signal.SIGKILL)
    killed.communicate(timeout=30)
    assert killed.returncode == -signal.SIGKILL
    store = RunStore(workspace)
    # a folder from before staging locks (no lock file), written just now, and a lock file left without a folder
    legacy = store.root / f"{STAGING_PREFIX}R20000101-000000-legacy"
    (legacy / "features").mkdir(parents=True)
    (legacy / "features" / "customer_features.parquet").write_bytes(b"half")
    (store.root / LOCKS_DIR).mkdir(exist_ok=True)
    (store.root / LOCKS_DIR / "R20000101-000000-orphan.lock").touch()
    live_file = store.root / live_name / "segments" / "profiles.json"
    live_bytes = live_file.read_bytes()
    assert _staging(store) == sorted([dead_name, live_name, legacy.name])

    writer = store.begin(as_of="2011-12-09", parameters={})  # the next run

    assert _staging(store) == sorted([live_name, writer.path.name])
    assert live_file.read_bytes() == live_bytes and json.loads(live_bytes) == {"half": True}
    assert _locks(store) == sorted(f"{n.removeprefix(STAGING_PREFIX)}.lock" for n in (live_name, writer.path.name))
    assert store.clean_staging() == []  # both are held by live processes, this one and the child
    writer.abort()
    assert _staging(store) == [live_name] and _locks(store) == [f"{live_name.removeprefix(STAGING_PREFIX)}.lock"]

    alive.kill()
    alive.communicate(timeout=30)
    assert store.clean_staging() == [live_name]
    assert _staging(store) == [] and _locks(store) == []


def test_commit_publishes_only_outputs_and_releases_the_lock(workspace: Workspace) -> None:
    store = RunStore(workspace)
    writer = store.begin(as_of="2011-12-09", parameters={})
    writer.write_json("segments/profiles.json", [])
    assert _locks(store) == [f"{writer.run_id}.lock"]
    info = writer.commit()
    assert sorted(p.relative_to(info.path).as_posix() for p in info.path.rglob("*") if p.is_file()) == [
        "manifest.json", "segments/profiles.json",
    ]
    assert list(info.manifest["files"]) == ["segments/profiles.json"]
    assert _staging(store) == [] and _locks(store) == []
    assert store.clean_staging() == [] and [r.run_id for r in store.list()] == [info.run_id]


def test_clean_staging_spares_dead_folders_younger_than_asked(workspace: Workspace) -> None:
    store = RunStore(workspace)
    dead = store.root / f"{STAGING_PREFIX}R20000101-000000-dead"
    dead.mkdir()
    os.utime(dead, (1_000_000_000, 1_000_000_000))  # 2001
    young = store.root / f"{STAGING_PREFIX}R20000101-000000-young"
    young.mkdir()
    assert store.clean_staging(older_than_seconds=3600) == [dead.name]
    assert _staging(store) == [young.name]
    assert store.clean_staging() == [young.name]
