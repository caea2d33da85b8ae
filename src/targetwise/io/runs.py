"""Model runs: immutable, versioned folders with a manifest, and an atomically switched active run.

A run is written into a hidden staging folder and becomes visible only when
:meth:`RunWriter.commit` renames it into ``artifacts/runs/<run_id>/`` (one
``rename``, atomic on POSIX). A crash before that leaves only a staging folder,
which no reader ever lists. While its run is live, a staging folder's lock file
(``artifacts/runs/.locks/<run_id>.lock``) is held with ``flock`` by the writing
process; the kernel drops the lock when that process ends, ``kill -9`` included,
so :meth:`RunStore.begin` removes every staging folder whose lock nobody holds,
whatever its age, and never one of a live run. The active run is named by the ``ACTIVE`` file,
replaced atomically by :meth:`RunStore.promote`; readers resolve it once per
request and then read only that run's immutable files, so a request never sees
half of two runs.

Layout of a run::

    artifacts/runs/R20111209-120000-ab12cd/
      manifest.json      run id, as_of, parameters, data snapshot, per-stage metrics,
                         model cards, timings and cost (StageCost), sha256 of every file
      <stage>/<name>.parquet | .json | .png
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Literal

import pandas as pd

import targetwise
from targetwise.errors import NotFoundError, PartialRunError, TargetwiseError, WorkspaceError
from targetwise.io._stage_meter import RSS_SAMPLE_SECONDS, PeakRssMethod, StageCost, _CostMeter  # noqa: F401
from targetwise.io.outputs import Output, output_for, path_of
from targetwise.io.workspace import Workspace

__all__ = ["RunInfo", "RunManifest", "RunStore", "RunWriter", "StageCost", "StageRecord", "data_snapshot"]

Status = Literal["pending", "running", "ok", "skipped", "failed"]


@dataclass
class StageRecord:
    """What the manifest says about one stage: status, metrics, notes, parameters, model cards, error, time, cost.

    A failed stage has ``error`` (one line: what went wrong) and, when the exception was a
    :class:`~targetwise.errors.TargetwiseError` that says how to fix it, ``fix``.

    ``cost`` (:class:`StageCost`: wall, CPU, peak memory, rows in and out) is set by
    :meth:`RunWriter.stage` for a stage that ran and ended ``ok`` or ``failed``; a skipped stage has
    none (one skipped for a failed need never ran; one that skipped itself only looked). ``seconds``
    stays for older readers: the stage's wall time, also for a stage that skipped itself.
    """

    name: str
    status: Status = "pending"
    metrics: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    params: dict[str, Any] = field(default_factory=dict)
    model_cards: list[str] = field(default_factory=list)
    error: str | None = None
    fix: str | None = None
    seconds: float | None = None
    cost: StageCost | None = None
    input_rows: int | None = None  # what rows_in() reported; cost.rows_in once the stage ended

    def rows_in(self, n: int) -> None:
        """Report ``n`` more rows of input this stage covered (e.g. the transaction lines it aggregated).

        Calls add up (a stage that reads two tables may report each); the total is the cost's ``rows_in``.
        """
        self.input_rows = (self.input_rows or 0) + int(n)

    def note(self, text: str) -> None:
        """Add a note once (the first line of ``text``)."""
        line = str(text).splitlines()[0] if str(text) else ""
        if line and line not in self.notes:
            self.notes.append(line)

    def skip(self, reason: str) -> None:
        """The stage does not apply to this workspace (e.g. no campaign data): recorded, not an error."""
        self.status = "skipped"
        self.note(reason)

    def fail(self, exc: BaseException) -> None:
        """Record ``exc`` as this stage's failure: its message on one line and, if it has one, its fix."""
        known = isinstance(exc, TargetwiseError)
        text, fix = (exc.message, exc.fix) if isinstance(exc, TargetwiseError) else (str(exc), None)
        line = next((part.strip() for part in str(text).splitlines() if part.strip()), "")
        if not known:  # a bug or a library's error: its type says more than a bare "'customer_id'"
            line = f"{type(exc).__name__}: {line}" if line else type(exc).__name__
        self.status = "failed"
        self.error = line
        self.fix = str(fix).splitlines()[0] if fix else None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"status": self.status, "metrics": self.metrics, "notes": self.notes}
        if self.params:
            out["params"] = self.params
        if self.model_cards:
            out["model_cards"] = self.model_cards
        if self.error is not None:
            out["error"] = self.error
        if self.fix is not None:
            out["fix"] = self.fix
        if self.seconds is not None:
            out["seconds"] = self.seconds
        if self.cost is not None:
            out["cost"] = self.cost.to_dict()
        return out

    @classmethod
    def from_dict(cls, name: str, raw: dict[str, Any]) -> StageRecord:
        return cls(
            name=name,
            status=raw.get("status", "pending"),
            metrics=dict(raw.get("metrics", {})),
            notes=list(raw.get("notes", [])),
            params=dict(raw.get("params", {})),
            model_cards=list(raw.get("model_cards", [])),
            error=raw.get("error"),
            fix=raw.get("fix"),
            seconds=raw.get("seconds"),
            cost=StageCost.from_dict(raw["cost"]) if raw.get("cost") else None,
            input_rows=(raw.get("cost") or {}).get("rows_in"),
        )

ACTIVE_FILE = "ACTIVE"
STAGING_PREFIX = ".staging-"
LOCKS_DIR = ".locks"  # <run_id>.lock per live staging folder; outside it, so a commit renames only outputs


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime | date | pd.Timestamp):
        return value.isoformat()
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, set | tuple):
        return list(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def _finite(obj: Any) -> Any:
    """NaN and infinities become null: JSON has no spelling for them."""
    if isinstance(obj, float):
        return obj if obj == obj and obj not in (float("inf"), float("-inf")) else None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_finite(v) for v in obj]
    if hasattr(obj, "item") and not isinstance(obj, str | bytes):
        try:
            return _finite(obj.item())
        except (TypeError, ValueError):
            return obj
    return obj


def dumps(obj: Any) -> str:
    return json.dumps(_finite(obj), indent=2, default=_json_default, sort_keys=False, allow_nan=False)


class RunManifest:
    """What a run's manifest says, wherever the run lies (:class:`RunInfo` here, ``PublishedRun`` at a URL)."""

    run_id: str
    manifest: dict[str, Any]

    @property
    def as_of(self) -> str | None:
        return self.manifest.get("as_of")

    @property
    def created_at(self) -> str:
        return self.manifest["created_at"]

    def stages(self) -> dict[str, StageRecord]:
        """Every stage's record, in run order."""
        return {name: StageRecord.from_dict(name, raw) for name, raw in self.manifest.get("stages", {}).items()}

    def stage(self, name: str) -> StageRecord | None:
        raw = self.manifest.get("stages", {}).get(name)
        return None if raw is None else StageRecord.from_dict(name, raw)

    def failed_stages(self) -> list[str]:
        """The stages that failed in this run, in run order (a run with any is not promoted by default)."""
        return [name for name, raw in self.manifest.get("stages", {}).items() if raw.get("status") == "failed"]


@dataclass(frozen=True)
class RunInfo(RunManifest):
    run_id: str
    path: Path
    manifest: dict[str, Any]

    def file(self, relative: str | Output) -> Path:
        """The path of a declared output this run holds (NotFoundError if it does not)."""
        relative = path_of(relative)
        path = self.path / relative
        if relative not in self.manifest.get("files", {}):
            raise NotFoundError(
                f"run {self.run_id} has no output {relative!r}",
                fix=f"outputs of this run: {', '.join(sorted(self.manifest.get('files', {}))) or 'none'}",
            )
        return path

    def read_table(self, relative: str | Output, **kwargs: Any) -> pd.DataFrame:
        return pd.read_parquet(self.file(relative), **kwargs)

    def read_json(self, relative: str | Output) -> Any:
        return json.loads(self.file(relative).read_text(encoding="utf-8"))

    def has(self, relative: str | Output) -> bool:
        return path_of(relative) in self.manifest.get("files", {})

    def load_model(self, relative: str | Output) -> Any:
        """A fitted model this run persisted (declared kind ``model``), unpickled only after its SHA-256
        matches the one the manifest recorded at commit: a changed file is refused, never loaded."""
        import joblib

        if output_for(relative).kind != "model":
            raise WorkspaceError(f"run output {path_of(relative)!r} is not a model")
        path = self.file(relative)
        expected = self.manifest["files"][path_of(relative)]
        actual = _sha256(path)
        if actual != expected:
            raise WorkspaceError(
                f"model file {path} of run {self.run_id} does not match its manifest (sha256 {actual[:12]}... "
                f"instead of {expected[:12]}...): it was changed after the run was written, so it is not loaded",
                fix="run `targetwise run` to fit fresh models (a pickle is only ever loaded unchanged)",
            )
        return joblib.load(path)


def data_snapshot(workspace: Workspace) -> dict[str, Any]:
    """What data a run saw: row counts per table, the loads applied, and one id over both."""
    from targetwise.schema import TABLES

    with workspace.connect(read_only=True) as con:
        rows = {name: int(con.execute(f"SELECT count(*) FROM {name}").fetchone()[0]) for name in TABLES}  # type: ignore[index]
        loads = [r[0] for r in con.execute("SELECT load_id FROM loads ORDER BY load_id").fetchall()]
        last = con.execute("SELECT max(ordered_at) FROM transactions").fetchone()[0]  # type: ignore[index]
    digest = hashlib.sha256(json.dumps({"rows": rows, "loads": loads}, sort_keys=True).encode()).hexdigest()
    return {
        "snapshot_id": digest[:16],
        "rows": rows,
        "loads": loads,
        "last_ordered_at": last.isoformat() if last else None,
    }


class RunWriter:
    """Collects a run's outputs in a staging folder; :meth:`commit` publishes them atomically."""

    def __init__(self, store: RunStore, run_id: str, manifest: dict[str, Any]) -> None:
        self.store = store
        self.run_id = run_id
        self.manifest = manifest
        self.path = store.root / f"{STAGING_PREFIX}{run_id}"
        # the lock is held before the folder exists, so no cleaner ever sees this folder unlocked
        self._lock_path = store.lock_path(run_id)
        self._lock_fd: int | None = _acquire(self._lock_path, wait=True)
        try:
            self.path.mkdir(parents=True)
        except BaseException:
            self._release()
            raise
        self._committed = False
        self.records: dict[str, StageRecord] = {}
        self._current: str | None = None
        self._table_rows: dict[str, int] = {}  # rows of each table the running stage wrote (its rows_out)

    def _release(self) -> None:
        """Drop the staging lock (file first, so a cleaner never finds it free with the folder present)."""
        if self._lock_fd is None:
            return
        self._lock_path.unlink(missing_ok=True)
        os.close(self._lock_fd)
        self._lock_fd = None

    def _target(self, relative: str | Output) -> Path:
        relative = path_of(relative)
        declared = output_for(relative)
        if self._current is not None and declared.stage != self._current:
            raise WorkspaceError(
                f"stage {self._current!r} wrote {relative!r}, which is declared for stage {declared.stage!r}",
                fix="write it from its own stage, or change its declaration in targetwise.io.outputs",
            )
        target = self.path / relative
        if not target.resolve().is_relative_to(self.path.resolve()):
            raise WorkspaceError(f"output name {relative!r} escapes the run folder")
        target.parent.mkdir(parents=True, exist_ok=True)
        return target

    def _kind(self, relative: str | Output, kind: str) -> None:
        declared = output_for(relative)
        if declared.kind != kind:
            raise WorkspaceError(f"run output {declared.path!r} is declared as {declared.kind}, not {kind}")

    def write_table(self, relative: str | Output, frame: pd.DataFrame) -> Path:
        """Write a declared table; it must hold the declared columns."""
        self._kind(relative, "table")
        missing = [c for c in output_for(relative).columns if c not in frame.columns]
        if missing:
            raise WorkspaceError(
                f"run output {path_of(relative)!r} lacks declared column(s) {', '.join(missing)}",
                fix="write every declared column (targetwise.io.outputs)",
            )
        target = self._target(relative)
        frame.to_parquet(target, index=False)
        if self._current is not None:
            self._table_rows[path_of(relative)] = len(frame)
        return target

    def write_json(self, relative: str | Output, obj: Any) -> Path:
        self._kind(relative, "json")
        target = self._target(relative)
        target.write_text(dumps(obj), encoding="utf-8")
        return target

    def write_bytes(self, relative: str | Output, data: bytes) -> Path:
        self._kind(relative, "png")
        target = self._target(relative)
        target.write_bytes(data)
        return target

    def write_model(self, relative: str | Output, model: Any) -> Path:
        """Persist a fitted model (joblib); :meth:`RunInfo.load_model` checks its SHA-256 before loading it."""
        import joblib

        self._kind(relative, "model")
        target = self._target(relative)
        joblib.dump(model, target, compress=3)
        return target

    def copy_from(self, run: RunInfo, relative: str) -> Path:
        """Copy one of ``run``'s declared files unchanged (a derived run's outputs it did not recompute)."""
        source = run.file(relative)
        target = self._target(relative)
        shutil.copyfile(source, target)
        return target

    def stage_record(self, stage: str) -> StageRecord:
        return self.records.setdefault(stage, StageRecord(stage))

    @contextmanager
    def stage(self, stage: str) -> Iterator[StageRecord]:
        """Time a stage and record its status and cost; the stage fills the yielded record (or skips through it).

        Inside the block the stage may write only the outputs declared for it. The record's ``cost``
        (:class:`StageCost`) is measured around the block; the stage adds only ``record.rows_in(n)``.
        """
        record = self.stage_record(stage)
        meter = _CostMeter()
        record.status = "running"
        self._current = stage
        self._table_rows = {}
        before = self._files()
        try:
            yield record
        except BaseException as exc:
            record.fail(exc)
            self._discard(self._files() - before)  # a failed stage publishes none of its outputs
            self._table_rows = {}
            raise
        else:
            if record.status != "skipped":
                record.status = "ok"
        finally:
            self._current = None
            cost = meter.stop(rows_in=record.input_rows, rows_out=sum(self._table_rows.values()))
            self._table_rows = {}
            record.seconds = cost.wall_s
            record.cost = None if record.status == "skipped" else cost

    def skip(self, stage: str, reason: str) -> None:
        self.stage_record(stage).skip(reason)

    def _files(self) -> set[Path]:
        return {p for p in self.path.rglob("*") if p.is_file()} if self.path.is_dir() else set()

    def _discard(self, files: set[Path]) -> None:
        """Remove ``files`` (a failed stage's partial outputs) and the folders they leave empty."""
        for file in files:
            file.unlink(missing_ok=True)
        for folder in sorted({f.parent for f in files}, key=lambda p: len(p.parts), reverse=True):
            while folder != self.path and folder.is_relative_to(self.path):
                try:
                    folder.rmdir()
                except OSError:  # not empty: another stage's files live there
                    break
                folder = folder.parent

    def commit(self) -> RunInfo:
        """Write the manifest (with file hashes) and publish the folder under its run id."""
        files: dict[str, str] = {}
        for file in sorted(self.path.rglob("*")):
            if file.is_file():
                files[file.relative_to(self.path).as_posix()] = _sha256(file)
        undeclared = [f for f in files if not _declared_or_manifest(f)]
        if undeclared:
            raise WorkspaceError(f"the run holds undeclared file(s) {', '.join(undeclared)}",
                                 fix="declare them in targetwise.io.outputs")
        self.manifest["stages"] = {**self.manifest["stages"], **{n: r.to_dict() for n, r in self.records.items()}}
        self.manifest["files"] = files
        self.manifest["finished_at"] = datetime.now(UTC).isoformat()
        manifest_path = self.path / "manifest.json"
        manifest_path.write_text(dumps(self.manifest), encoding="utf-8")
        _fsync_tree(self.path)
        final = self.store.root / self.run_id
        os.rename(self.path, final)
        _fsync_dir(self.store.root)
        self._committed = True
        self._release()
        return RunInfo(self.run_id, final, self.manifest)

    def abort(self) -> None:
        if not self._committed:
            shutil.rmtree(self.path, ignore_errors=True)
        self._release()


class RunStore:
    """All runs of a workspace: begin, list, show, promote, resolve the active one."""

    def __init__(self, workspace: Workspace) -> None:
        self.workspace = workspace
        self.root = workspace.runs_dir
        self.root.mkdir(parents=True, exist_ok=True)

    def lock_path(self, run_id: str) -> Path:
        """The lock file a live run holds for its staging folder."""
        return self.root / LOCKS_DIR / f"{run_id}.lock"

    def begin(self, *, as_of: date | datetime | str | None, parameters: dict[str, Any]) -> RunWriter:
        """Start a run in a new, locked staging folder, after removing those of runs that died."""
        self.clean_staging()
        now = datetime.now(UTC)
        # The suffix starts with the millisecond (3 hex digits, 000-3e7), so ids sort in the order runs began
        # even when two begin in the same second; the last 3 are random (two drivers, one millisecond).
        run_id = f"R{now:%Y%m%d-%H%M%S}-{now.microsecond // 1000:03x}{uuid.uuid4().hex[:3]}"
        manifest = {
            "run_id": run_id,
            "created_at": now.isoformat(),
            "as_of": None if as_of is None else str(as_of),
            "targetwise_version": targetwise.__version__,
            "parameters": parameters,
            "data_snapshot": data_snapshot(self.workspace),
            "stages": {},
        }
        return RunWriter(self, run_id, manifest)

    def list(self) -> list[RunInfo]:
        runs = []
        for path in sorted(self.root.iterdir()):
            if path.name.startswith(".") or not (path / "manifest.json").exists():
                continue
            runs.append(RunInfo(path.name, path, json.loads((path / "manifest.json").read_text())))
        return runs

    def get(self, run_id: str) -> RunInfo:
        path = self.root / run_id
        if run_id.startswith(".") or "/" in run_id or not (path / "manifest.json").exists():
            known = ", ".join(r.run_id for r in self.list()[-5:]) or "none yet (run `targetwise run`)"
            raise NotFoundError(f"run {run_id!r} not found", fix=f"recent runs: {known}")
        return RunInfo(run_id, path, json.loads((path / "manifest.json").read_text()))

    def active_id(self) -> str | None:
        pointer = self.root / ACTIVE_FILE
        try:
            return pointer.read_text().strip() or None
        except FileNotFoundError:
            return None

    def active(self) -> RunInfo | None:
        run_id = self.active_id()
        return self.get(run_id) if run_id else None

    def promote(self, run_id: str, *, partial: bool = False) -> RunInfo:
        """Make ``run_id`` the served run: write a temp pointer, fsync, rename over ``ACTIVE``.

        A run with a failed stage is refused unless ``partial``: served, it answers for the
        stages that completed, and the failed stages' outputs are missing (the service names
        the stage and its status for each).
        """
        info = self.get(run_id)
        failed = info.failed_stages()
        if failed and not partial:
            raise PartialRunError(
                f"run {run_id} has failed stage(s) {', '.join(failed)}, so it is not promoted by default",
                fix=f"serve it anyway (without the failed stages' outputs) with `targetwise runs promote {run_id} "
                "--partial`, or fix the cause and run again",
                details={"run_id": run_id, "failed_stages": failed},
            )
        tmp = self.root / f".{ACTIVE_FILE}.{uuid.uuid4().hex}"
        with open(tmp, "w") as fh:
            fh.write(run_id)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.root / ACTIVE_FILE)
        _fsync_dir(self.root)
        return info

    def clean_staging(self, *, older_than_seconds: float = 0.0) -> list[str]:
        """Remove the staging folders of runs that died (their lock is free); returns the folders' names.

        A folder whose lock a live process holds is never touched, whatever its age.
        ``older_than_seconds`` spares dead folders changed more recently than that
        (0, the default: any age). Lock files left without a folder go too.
        """
        locks = self.root / LOCKS_DIR
        run_ids = {p.name.removeprefix(STAGING_PREFIX) for p in self.root.glob(f"{STAGING_PREFIX}*") if p.is_dir()}
        if locks.is_dir():
            run_ids |= {p.stem for p in locks.glob("*.lock")}
        cutoff = time.time() - older_than_seconds
        removed = []
        for run_id in sorted(run_ids):
            folder = self.root / f"{STAGING_PREFIX}{run_id}"
            lock_path = self.lock_path(run_id)
            fd = _acquire(lock_path, wait=False)
            if fd is None:  # a live run holds it
                continue
            try:
                if folder.is_dir():
                    if older_than_seconds and folder.stat().st_mtime >= cutoff:
                        continue
                    shutil.rmtree(folder, ignore_errors=True)
                    removed.append(folder.name)
                lock_path.unlink(missing_ok=True)
            finally:
                os.close(fd)
        return removed

def _declared_or_manifest(relative: str) -> bool:
    from targetwise.io.outputs import declared

    return relative == "manifest.json" or declared(relative)


def _acquire(path: Path, *, wait: bool) -> int | None:
    """An open descriptor holding ``flock(LOCK_EX)`` on ``path`` (created if missing), or None if held.

    After locking, the descriptor must still be the file at ``path``: a cleaner may
    have unlinked it in between, and a lock on an unlinked file guards nothing.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        except BaseException:
            os.close(fd)
            raise
        try:
            current = os.stat(path).st_ino
        except FileNotFoundError:
            current = None
        if current == os.fstat(fd).st_ino:
            return fd
        os.close(fd)
        if not wait:
            return None  # it was cleaned up under us: nothing left to clean


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _fsync_tree(path: Path) -> None:
    for file in path.rglob("*"):
        if file.is_file():
            with open(file, "rb") as fh:
                os.fsync(fh.fileno())
    _fsync_dir(path)
