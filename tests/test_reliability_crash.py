"""Crash safety: SIGKILL during `targetwise ingest` / `targetwise run`, a full disk, a read-only folder.

The real command line runs in a child process and is killed after a seeded
random delay. Afterwards the workspace must be exactly the state before or
exactly the state after (every table's row count and the loads), published runs
must all be complete (every file of the manifest present with its sha256), the
ACTIVE pointer must name a complete run, and the same command must then
complete. Disk full is a real 3 MiB tmpfs where mounting is allowed (root) and
otherwise ``RLIMIT_FSIZE`` in the child (writes fail with EFBIG); read-only is a
read-only bind mount as root (permissions do not stop root) or ``chmod`` otherwise.
"""

from __future__ import annotations

import hashlib
import os
import resource
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

from conftest import ONLINE_RETAIL_MAPPING, ONLINE_RETAIL_SAMPLE
from targetwise.config import get_settings
from targetwise.io.ingest import ingest
from targetwise.io.runs import STAGING_PREFIX, RunStore
from targetwise.io.workspace import Workspace
from targetwise.pipeline.run import run_pipeline
from targetwise.schema import TABLES

pytestmark = pytest.mark.slow

CLI = [sys.executable, "-c", "from targetwise.cli import main; main()"]
RUN_STAGES = ["--stage", "features", "--stage", "segments", "--stage", "clv"]
SEED = 20261123


def _cli(*args: str, **kwargs: object) -> subprocess.Popen[str]:
    env = {**os.environ, "TARGETWISE_DUCKDB_THREADS": "1", "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([*CLI, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env, start_new_session=True, **kwargs)  # type: ignore[call-overload]


def _finish(proc: subprocess.Popen[str], timeout: float = 120) -> tuple[int, str]:
    _out, err = proc.communicate(timeout=timeout)
    return proc.returncode, err


def _state(path: Path) -> dict[str, int | tuple[str, ...]]:
    """Row count of every table plus the load ids: what 'before' and 'after' are compared on."""
    ws = Workspace.open(path, get_settings(workspace=path, duckdb_threads=1))
    with ws.connect() as con:  # read-write: also proves no stale lock or unreadable WAL is left
        state: dict[str, int | tuple[str, ...]] = {
            t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in TABLES  # type: ignore[index]
        }
        state["load_ids"] = tuple(r[0] for r in con.execute("SELECT load_id FROM loads ORDER BY 1").fetchall())
    return state


def _same_except_load_id(state: dict, reference: dict) -> bool:
    """Equal, with the new load's id (time + random) compared by count only."""
    return {k: v for k, v in state.items() if k != "load_ids"} == {k: v for k, v in reference.items() if k != "load_ids"} \
        and len(state["load_ids"]) == len(reference["load_ids"])


def _kill_after(proc: subprocess.Popen[str], delay: float, watch: Path | None = None) -> tuple[bool, bool]:
    """SIGKILL the process group after ``delay`` s.

    Returns (it was still running: a real crash, the ``watch`` database file had changed: it was writing).
    """
    stamp = _stamp(watch)
    deadline = time.monotonic() + delay
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            proc.communicate(timeout=60)
            return False, False
        time.sleep(0.01)
    alive = proc.poll() is None
    writing = alive and _stamp(watch) != stamp
    if alive:
        os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=60)
    return alive, writing


def _stamp(path: Path | None) -> tuple[object, ...]:
    """The database file and its WAL as (size, mtime) pairs: a change means a write was under way."""
    if path is None:
        return ()
    return tuple((p.stat().st_size, p.stat().st_mtime_ns) if p.exists() else None
                 for p in (path, path.with_name(path.name + ".wal")))


@pytest.fixture(scope="module")
def big_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """120,000 valid transaction lines (about 5 MB): an ingest that takes a few seconds."""
    rng = np.random.default_rng(SEED)
    n = 120_000
    path = tmp_path_factory.mktemp("crash") / "big.csv"
    days = rng.integers(0, 300, n)
    lines = [
        f"K{c},{i},{np.datetime64('2011-01-01') + d} 10:00,P{p},{q},{price:.2f}"
        for i, (c, d, p, q, price) in enumerate(zip(rng.integers(0, 4000, n), days, rng.integers(0, 2500, n),
                                                    rng.integers(1, 9, n), rng.uniform(0.5, 90, n), strict=True))
    ]
    path.write_text("customer_id,order_id,ordered_at,product_id,quantity,unit_price\n" + "\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def base_ws(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A workspace with the Online Retail sample loaded and one promoted run."""
    path = tmp_path_factory.mktemp("crash-base") / "ws"
    settings = get_settings(workspace=path, duckdb_threads=1)
    ws = Workspace.init(path, settings)
    ingest(ws, "transactions", ONLINE_RETAIL_SAMPLE, mapping=ONLINE_RETAIL_MAPPING)
    run_pipeline(ws, settings, stages=["features", "segments"])
    return path


def _copy(base: Path, target: Path) -> Path:
    shutil.copytree(base, target)
    return target


def test_sigkill_during_ingest_leaves_before_or_after_state(base_ws: Path, big_csv: Path, tmp_path: Path) -> None:
    before = _state(base_ws)
    reference = _copy(base_ws, tmp_path / "reference")
    started = time.monotonic()
    code, err = _finish(_cli("ingest", "transactions", str(big_csv), "--workspace", str(reference)))
    duration = time.monotonic() - started
    assert code == 0, err
    after = _state(reference)
    assert after["transactions"] == before["transactions"] + 120_000  # type: ignore[operator]

    rng = np.random.default_rng(SEED)
    outcomes = {"before": 0, "after": 0, "finished": 0, "killed while writing": 0}
    for i in range(5):
        ws_path = _copy(base_ws, tmp_path / f"kill{i}")
        killed, writing = _kill_after(_cli("ingest", "transactions", str(big_csv), "--workspace", str(ws_path)),
                                      float(rng.uniform(0.4, 1.0) * duration), watch=ws_path / "targetwise.duckdb")
        outcomes["killed while writing"] += writing
        state = _state(ws_path)
        if state == before:
            outcomes["before"] += 1
        else:
            assert _same_except_load_id(state, after), (i, state)  # never anything in between
            outcomes["after" if killed else "finished"] += 1
        # the same command then completes (or finds the content already loaded)
        code, err = _finish(_cli("ingest", "transactions", str(big_csv), "--workspace", str(ws_path)))
        assert code == 0, err
        assert _same_except_load_id(_state(ws_path), after)
    print(f"ingest SIGKILL outcomes over 5 kills: {outcomes} (clean ingest {duration:.1f} s)")
    assert outcomes["before"] + outcomes["after"] >= 3  # most kills struck a running ingest


def _complete(store: RunStore) -> list[str]:
    """Ids of the listed runs, after checking every file of each manifest exists with its sha256."""
    ids = []
    for info in store.list():
        for relative, digest in info.manifest["files"].items():
            assert hashlib.sha256((info.path / relative).read_bytes()).hexdigest() == digest, (info.run_id, relative)
        assert info.manifest["finished_at"]
        ids.append(info.run_id)
    return ids


def test_sigkill_during_run_publishes_only_complete_runs(base_ws: Path, tmp_path: Path) -> None:
    store = RunStore(Workspace.open(base_ws, get_settings(workspace=base_ws)))
    runs_before, active_before = _complete(store), store.active_id()
    assert active_before in runs_before
    ws_path = _copy(base_ws, tmp_path / "ws")
    store = RunStore(Workspace.open(ws_path, get_settings(workspace=ws_path)))
    rng = np.random.default_rng(SEED + 1)
    killed_runs = 0
    for _ in range(4):
        known = set(_complete(store))
        killed, _ = _kill_after(_cli("run", "--workspace", str(ws_path), *RUN_STAGES), float(rng.uniform(0.5, 7.0)))
        killed_runs += killed
        runs = _complete(store)  # every listed run is complete
        new = set(runs) - known
        assert len(new) <= 1 and known <= set(runs)
        active = store.active_id()
        assert active in runs  # the pointer always names a complete run
        assert active in known | new
        if not killed:
            assert new and active in new
    assert killed_runs >= 2
    leftovers = [p.name for p in store.root.iterdir() if p.name.startswith(STAGING_PREFIX)]
    print(f"run SIGKILL outcomes: {killed_runs} of 4 runs killed, {len(leftovers)} staging folders left, "
          f"{len(_complete(store))} complete runs listed")
    assert set(leftovers).isdisjoint(_complete(store))  # staging folders are never listed as runs
    assert sorted(store.clean_staging(older_than_seconds=0)) == sorted(leftovers)
    code, err = _finish(_cli("run", "--workspace", str(ws_path), *RUN_STAGES))
    assert code == 0, err
    final = store.active()
    assert final is not None and final.manifest["stages"]["clv"]["status"] == "ok"
    assert final.run_id in _complete(store) and not any(p.name.startswith(STAGING_PREFIX) for p in store.root.iterdir())


# -- disk full and read-only folder ---------------------------------------------------------------


def _can_mount() -> bool:
    if os.geteuid() != 0 or not sys.platform.startswith("linux"):
        return False
    probe = Path(os.environ.get("TMPDIR", "/tmp")) / f"tw-mount-probe-{os.getpid()}"
    probe.mkdir(exist_ok=True)
    try:
        ok = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(probe)], capture_output=True).returncode == 0
        if ok:
            subprocess.run(["umount", str(probe)], check=True)
        return ok
    except OSError:
        return False
    finally:
        probe.rmdir()


@contextmanager
def _small_disk(folder: Path, size: str) -> Iterator[None]:
    folder.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)], check=True)
    try:
        yield
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=True)


def _file_size_limit(limit: int) -> Callable[[], None]:
    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply


def _assert_one_line_error(err: str, *needles: str) -> None:
    lines = [line for line in err.splitlines() if line.strip()]
    assert "Traceback" not in err, err
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    for needle in needles:
        assert needle in lines[0], err


@pytest.mark.parametrize("how", ["tmpfs", "rlimit"])
def test_full_disk_ingest_gives_one_line_error_and_unchanged_workspace(
    how: str, base_ws: Path, big_csv: Path, tmp_path: Path
) -> None:
    if how == "tmpfs":  # a real full disk: a 3 MiB tmpfs holding the ~1.6 MB workspace
        if not _can_mount():
            pytest.skip("mounting a tmpfs needs root; the rlimit case covers this")
        disk = tmp_path / "disk"
        with _small_disk(disk, "3m"):
            ws_path = _copy(base_ws, disk / "ws")
            before = _state(ws_path)
            code, err = _finish(_cli("ingest", "transactions", str(big_csv), "--workspace", str(ws_path)))
            assert code == 1
            _assert_one_line_error(err, "nothing was loaded", "No space left on device", "free disk space")
            assert _state(ws_path) == before
        return
    # any user: the child may not grow a file past the database's size + 256 KiB (EFBIG)
    ws_path = _copy(base_ws, tmp_path / "ws")
    before = _state(ws_path)
    limit = (ws_path / "targetwise.duckdb").stat().st_size + (1 << 18)
    code, err = _finish(_cli("ingest", "transactions", str(big_csv), "--workspace", str(ws_path),
                             preexec_fn=_file_size_limit(limit)))
    assert code == 1
    _assert_one_line_error(err, "nothing was loaded", "File too large", "free disk space")
    assert _state(ws_path) == before


@contextmanager
def _read_only(ws_path: Path, tmp_path: Path) -> Iterator[Path]:
    """The workspace, genuinely read-only: a read-only bind mount as root, permissions otherwise."""
    if _can_mount():
        view = tmp_path / "ro-view"
        view.mkdir()
        subprocess.run(["mount", "--bind", str(ws_path), str(view)], check=True)
        try:
            subprocess.run(["mount", "-o", "remount,bind,ro", str(view)], check=True)
            yield view
        finally:
            subprocess.run(["umount", "-l", str(view)], check=True)
        return
    if os.geteuid() == 0:
        pytest.skip("root without mount rights: no honest way to make a folder read-only")
    paths = [ws_path, *ws_path.rglob("*")]
    for p in paths:
        p.chmod(0o555 if p.is_dir() else 0o444)
    try:
        yield ws_path
    finally:
        for p in paths:
            p.chmod(0o755 if p.is_dir() else 0o644)


def test_read_only_workspace_ingest_gives_one_line_error(base_ws: Path, big_csv: Path, tmp_path: Path) -> None:
    ws_path = _copy(base_ws, tmp_path / "ws")
    before = _state(ws_path)
    with _read_only(ws_path, tmp_path) as view:
        with pytest.raises(OSError):
            (view / "probe").write_text("x")  # the condition is real
        code, err = _finish(_cli("ingest", "transactions", str(big_csv), "--workspace", str(view)))
        assert code == 1
        _assert_one_line_error(err, "cannot open workspace database", "writable")
    assert _state(ws_path) == before


def test_full_disk_or_read_only_run_gives_one_line_error_and_publishes_nothing(base_ws: Path, tmp_path: Path) -> None:
    """The run fails with one line, publishes nothing and keeps the served run."""
    ws_path = _copy(base_ws, tmp_path / "ws")
    store = RunStore(Workspace.open(ws_path, get_settings(workspace=ws_path)))
    runs, active = _complete(store), store.active_id()
    with _read_only(ws_path, tmp_path) as view:
        code, err = _finish(_cli("run", "--workspace", str(view), *RUN_STAGES))
    assert code == 1
    _assert_one_line_error(err, "nothing was published", "served run is unchanged")
    limit = 1024  # bytes per file: far too small for a run's Parquet outputs and manifest
    code, err = _finish(_cli("run", "--workspace", str(ws_path), *RUN_STAGES, preexec_fn=_file_size_limit(limit)))
    assert code == 1
    _assert_one_line_error(err, "nothing was published", "served run is unchanged")
    assert _complete(store) == runs and store.active_id() == active
    assert not any(p.name.startswith(STAGING_PREFIX) for p in store.root.iterdir())  # the failed run cleaned up
