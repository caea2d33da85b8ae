"""Shared fixtures: settings and fresh workspaces in temporary folders."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from targetwise.config import Settings, get_settings
from targetwise.io.workspace import Workspace

REPO = Path(__file__).resolve().parents[1]
DATA = Path(__file__).resolve().parent / "data"
ONLINE_RETAIL_SAMPLE = DATA / "online_retail" / "online_retail_sample_100cust.csv"
ONLINE_RETAIL_MAPPING = REPO / "examples" / "online_retail.toml"

os.environ.setdefault("MPLBACKEND", "Agg")


def pytest_configure(config: pytest.Config) -> None:
    """Keep the file order below under xdist: its loadfile scheduler re-sorts files by test count by default.

    pytest-xdist's ``--loadscope-reorder`` is on unless ``--no-loadscope-reorder`` is given, and it hands out
    the files with the most tests first. That undid the longest-first order: the Spark run (3 tests, ~4 min),
    Spark Connect (2), the tour, the crawl and the API fuzz (1-2 tests each) were among the last 15 of 132
    files, so one worker ran them while the other had nothing left. Turned off here so ``make test`` needs
    no extra flag; a test count says nothing about a file's seconds.
    """
    if hasattr(config.option, "loadscopereorder"):
        config.option.loadscopereorder = False


#: measured wall seconds per test file (setup + call + teardown of its tests, one xdist worker) from the last
#: recorded suite run; ``TARGETWISE_FILE_SECONDS=path`` writes a fresh table (one JSON per worker, merged by hand
#: or with ``python -c``). Only the order depends on it.
FILE_SECONDS = REPO / "tests" / "file_seconds.json"
#: a file missing from the table: seconds assumed by its marks (spark, slow, neither)
_DEFAULT_SECONDS = (120.0, 30.0, 3.0)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The Spark files first, then the other files, each group longest first.

    ``make test`` runs two workers with ``--dist loadfile`` (a file stays on one worker), which hand out files
    in this order. Longest first (by the seconds recorded in ``file_seconds.json``; by marks where a file is new)
    is the classic rule for the tail: the last files handed out are short, so the two workers finish together.
    xdist hands the 1st and 3rd files to the first worker and the 2nd to the second: the Spark run on the
    Online Retail demo (the longest) and the Spark features file share the first worker's in-process Spark
    session, and the Spark Connect file (its own server process) goes to the second. The Spark run also builds
    the Online Retail demo at once, so it is ready before the second worker's files ask for it (built second,
    the other worker waited on its lock for a minute or more). Tests keep their order within a file, and
    every worker sorts the same way, as xdist requires.
    """
    import json

    recorded = json.loads(FILE_SECONDS.read_text()) if FILE_SECONDS.exists() else {}
    rank: dict[str, int] = {}
    for item in items:
        path = str(item.path)
        here = 0 if item.get_closest_marker("spark") else 1 if item.get_closest_marker("slow") else 2
        rank[path] = min(rank.get(path, 2), here)

    def seconds(path: str) -> float:
        return float(recorded.get(Path(path).relative_to(REPO).as_posix(), _DEFAULT_SECONDS[rank[path]]))

    order = {id(item): n for n, item in enumerate(items)}
    items.sort(key=lambda item: (rank[str(item.path)] != 0, -seconds(str(item.path)), order[id(item)]))


_FILE_SECONDS: dict[str, float] = {}


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if os.environ.get("TARGETWISE_FILE_SECONDS"):
        key = report.nodeid.split("::")[0]
        _FILE_SECONDS[key] = _FILE_SECONDS.get(key, 0.0) + report.duration


def _tree_cpu_seconds() -> float:
    """CPU seconds of this process, its reaped children and its live descendants (a JVM, a server, a browser)."""
    ticks = os.sysconf("SC_CLK_TCK")
    parents: dict[int, int] = {}
    cpu: dict[int, float] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(entry.name)] = int(fields[1])
        cpu[int(entry.name)] = sum(int(v) for v in fields[11:15]) / ticks  # utime stime cutime cstime
    own, total = os.getpid(), 0.0
    for pid in cpu:
        node = pid
        while node not in (own, 0, 1) and node in parents:
            node = parents[node]
        total += cpu[pid] if node == own else 0.0
    return total


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None):
    """``TARGETWISE_TEST_CPU=path``: one line per test (file, test, start, wall s, CPU s of the process tree)."""
    target = os.environ.get("TARGETWISE_TEST_CPU")
    if not target:
        yield
        return
    import time

    start, cpu = time.time(), _tree_cpu_seconds()
    yield
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    with open(f"{target}.{worker}.tsv", "a") as out:
        out.write(f"{item.nodeid}\t{start:.2f}\t{time.time() - start:.2f}\t{_tree_cpu_seconds() - cpu:.2f}\n")


def pytest_sessionfinish(session: pytest.Session) -> None:
    target = os.environ.get("TARGETWISE_FILE_SECONDS")
    if target and _FILE_SECONDS:
        import json

        worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
        Path(f"{target}.{worker}.json").write_text(json.dumps(_FILE_SECONDS, indent=1, sort_keys=True))


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return get_settings(workspace=tmp_path / "ws", duckdb_threads=2)


@pytest.fixture
def workspace(settings: Settings) -> Workspace:
    return Workspace.init(settings.workspace, settings)


@pytest.fixture
def memory_url() -> Iterator[str]:
    """A fresh runs URL on fsspec's in-process ``memory://`` file system, removed afterwards."""
    import uuid

    import fsspec

    url = f"memory://tw-{uuid.uuid4().hex}/runs"
    yield url
    fs, root = fsspec.core.url_to_fs(url)
    if fs.exists(root):
        fs.rm(root, recursive=True)


@pytest.fixture(scope="session")
def datasets_dir() -> Path:
    """The shared public datasets (benchmarks and slow validation tests)."""
    return Path(os.environ.get("TARGETWISE_DATASETS", REPO.parent / "shared" / "datasets"))


def _built_once(tmp_path_factory: pytest.TempPathFactory, name: str, build) -> Workspace:
    """A demo workspace built once per test session and copied into this worker's own folder.

    Under pytest-xdist every worker would otherwise build the same demo (minutes on a 2-core CI box): the
    first worker builds it in the session's shared base folder under an exclusive lock, the others wait on
    the lock and copy it (a few MB). Each worker then owns its copy, as before, so nothing is shared live.
    """
    import fcntl
    import shutil

    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if worker is None:
        path = tmp_path_factory.mktemp(name) / "ws"
        settings = get_settings(workspace=path, duckdb_threads=2)
        build(path, settings)
        return Workspace.open(path, settings)
    shared = tmp_path_factory.getbasetemp().parent / f"built-{name}"
    shared.mkdir(exist_ok=True)
    with open(shared / "lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if not (shared / "done").exists():
                build(shared / "ws", get_settings(workspace=shared / "ws", duckdb_threads=2))
                (shared / "done").write_text("ok")
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    path = tmp_path_factory.mktemp(name) / "ws"
    shutil.copytree(shared / "ws", path)
    return Workspace.open(path, get_settings(workspace=path, duckdb_threads=2))


@pytest.fixture(scope="session")
def synthetic_demo(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    """One small synthetic shop built by `run_demo` (ingest -> profile -> full run), shared read-only; without the
    demo's two sample audiences (tests save their own; tests/test_demo_audiences.py checks the demo's)."""
    from targetwise.pipeline.demo import run_demo

    return _built_once(tmp_path_factory, "synthetic-demo",
                       lambda path, settings: run_demo(path, settings, data="synthetic", n_customers=300,
                                                       audiences=False))


@pytest.fixture(scope="session")
def online_retail_demo(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    """`targetwise demo` on the bundled Online Retail data (every stage; uplift skipped: no campaign), read-only."""
    from targetwise.pipeline.demo import run_demo

    return _built_once(tmp_path_factory, "online-retail-demo",
                       lambda path, settings: run_demo(path, settings, data="online-retail", audiences=False))


def spooling_workspace(tmp_path: Path, name: str, spool_mb: int) -> Workspace:
    """A workspace whose CSV files and query results above ``spool_mb`` MB are spooled (0: always)."""
    settings = get_settings(workspace=tmp_path / name, duckdb_threads=2, csv_spool_mb=spool_mb)
    return Workspace.init(settings.workspace, settings)


def fetch_rows(ws: Workspace, sql: str) -> list[tuple]:
    with ws.connect(read_only=True) as con:
        return con.execute(sql).fetchall()


def spool_files(ws: Workspace) -> list[Path]:
    """Temporary spool files left in the workspace (none should outlive an ingest)."""
    return sorted((ws.path / "tmp").glob("spool-*")) if (ws.path / "tmp").exists() else []
