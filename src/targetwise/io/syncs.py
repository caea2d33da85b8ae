"""Live audiences and syncs in the workspace database: versions, members, sync state, batches, history.

Tables (created on first use; every table that names a person has a ``customer_id`` column, so
erasure removes that person from all of them):

* ``live_audiences``: a saved audience definition re-evaluated against every promoted run.
* ``audience_versions`` / ``audience_version_members``: one row per evaluation that changed
  something (members, adds and removes since the previous version, the run it came from).
* ``syncs``: a destination for a live audience (kind and its non-secret options).
* ``sync_members``: who the destination holds, as far as it acknowledged (the base of each delta).
* ``sync_batches`` / ``sync_batch_members``: each planned batch, its idempotency key and status
  (``pending``, ``ok``, ``dead_letter``); a plan is finished when every batch is ``ok``.
* ``sync_runs``: one row per ``sync run`` of a sync (counts, outcome); ``sync_dead_letters``: a
  batch given up after the last retry.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

import duckdb
import pandas as pd

from targetwise.errors import ConfigError, NotFoundError
from targetwise.io.workspace import Workspace

__all__ = [
    "AudienceVersion",
    "BatchRecord",
    "DeadLetter",
    "LiveAudience",
    "SyncRecord",
    "SyncRunRecord",
    "SyncStore",
    "check_sync_id",
    "has_live_audiences",
]

_DDL = (
    "CREATE TABLE IF NOT EXISTS live_audiences (audience_key VARCHAR PRIMARY KEY, name VARCHAR NOT NULL, "
    "source_id VARCHAR NOT NULL, definition VARCHAR NOT NULL, created_at VARCHAR NOT NULL)",
    "CREATE TABLE IF NOT EXISTS audience_versions (audience_key VARCHAR NOT NULL, version INTEGER NOT NULL, "
    "run_id VARCHAR NOT NULL, created_at VARCHAR NOT NULL, size INTEGER NOT NULL, adds INTEGER NOT NULL, "
    "removes INTEGER NOT NULL, excluded VARCHAR NOT NULL, PRIMARY KEY (audience_key, version))",
    "CREATE TABLE IF NOT EXISTS audience_version_members (audience_key VARCHAR NOT NULL, version INTEGER NOT NULL, "
    "customer_id VARCHAR NOT NULL)",
    "CREATE TABLE IF NOT EXISTS syncs (sync_id VARCHAR PRIMARY KEY, audience_key VARCHAR NOT NULL, "
    "kind VARCHAR NOT NULL, options VARCHAR NOT NULL, created_at VARCHAR NOT NULL, created_by VARCHAR)",
    "CREATE TABLE IF NOT EXISTS sync_members (sync_id VARCHAR NOT NULL, customer_id VARCHAR NOT NULL)",
    "CREATE TABLE IF NOT EXISTS sync_batches (idempotency_key VARCHAR PRIMARY KEY, sync_id VARCHAR NOT NULL, "
    "plan_no INTEGER NOT NULL, version INTEGER NOT NULL, action VARCHAR NOT NULL, batch_index INTEGER NOT NULL, "
    "size INTEGER NOT NULL, status VARCHAR NOT NULL, attempts INTEGER NOT NULL, detail VARCHAR NOT NULL, "
    "updated_at VARCHAR NOT NULL)",
    "CREATE TABLE IF NOT EXISTS sync_batch_members (idempotency_key VARCHAR NOT NULL, customer_id VARCHAR NOT NULL)",
    "CREATE TABLE IF NOT EXISTS sync_runs (sync_id VARCHAR NOT NULL, run_no INTEGER NOT NULL, "
    "started_at VARCHAR NOT NULL, finished_at VARCHAR, version INTEGER, outcome VARCHAR NOT NULL, "
    "added INTEGER NOT NULL, removed INTEGER NOT NULL, batches_ok INTEGER NOT NULL, "
    "dead_letters INTEGER NOT NULL, detail VARCHAR NOT NULL, PRIMARY KEY (sync_id, run_no))",
    "CREATE TABLE IF NOT EXISTS sync_dead_letters (sync_id VARCHAR NOT NULL, run_no INTEGER NOT NULL, "
    "idempotency_key VARCHAR NOT NULL, version INTEGER NOT NULL, action VARCHAR NOT NULL, size INTEGER NOT NULL, "
    "attempts INTEGER NOT NULL, detail VARCHAR NOT NULL, recorded_at VARCHAR NOT NULL)",
)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


@dataclass(frozen=True)
class LiveAudience:
    audience_key: str
    name: str
    source_id: str
    definition: list[dict[str, Any]]
    created_at: str


@dataclass(frozen=True)
class AudienceVersion:
    audience_key: str
    version: int
    run_id: str
    created_at: str
    size: int
    adds: int
    removes: int
    excluded: dict[str, int]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class SyncRecord:
    sync_id: str
    audience_key: str
    kind: str
    options: dict[str, str]
    created_at: str
    created_by: str | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class BatchRecord:
    idempotency_key: str
    sync_id: str
    plan_no: int
    version: int
    action: str
    batch_index: int
    size: int
    status: str
    attempts: int
    detail: str


@dataclass(frozen=True)
class SyncRunRecord:
    sync_id: str
    run_no: int
    started_at: str
    finished_at: str | None
    version: int | None
    outcome: str
    added: int
    removed: int
    batches_ok: int
    dead_letters: int
    detail: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class DeadLetter:
    sync_id: str
    run_no: int
    idempotency_key: str
    version: int
    action: str
    size: int
    attempts: int
    detail: str
    at: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _ids(customer_ids: Iterable[str]) -> pd.DataFrame:
    return pd.DataFrame({"customer_id": pd.Series(sorted(set(customer_ids)), dtype=object)})


class SyncStore:
    """Reads and writes of live audiences and syncs (all SQL of the feature lives here)."""

    def __init__(self, workspace: Workspace) -> None:
        self.workspace = workspace
        self._ready = False
        self._bound: duckdb.DuckDBPyConnection | None = None

    @contextmanager
    def _con(self, *, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        """The session's connection, or a new one (the tables are created on a store's first use)."""
        if self._bound is not None:
            yield self._bound
            return
        with self.workspace.connect(read_only=read_only and self._ready) as con:
            if not self._ready:
                for statement in _DDL:
                    con.execute(statement)
                self._ready = True
            yield con

    @contextmanager
    def session(self) -> Iterator[SyncStore]:
        """Run several reads and writes on one connection (opening one costs tens of ms).

        Inside a session, do not open other workspace connections (DuckDB refuses a read-only one
        beside a writable one in the same process): read consent and contact data before or after.
        """
        with self._con() as con:
            self._bound = con
            try:
                yield self
            finally:
                self._bound = None

    # -- live audiences ---------------------------------------------------------------------------

    def add_live(self, *, audience_key: str, name: str, source_id: str, definition: list[dict[str, Any]]) -> LiveAudience:
        """Register (or re-point to a newer saved definition) the live audience ``audience_key``."""
        created = _now()
        with self._con() as con:
            con.execute(
                "INSERT INTO live_audiences VALUES (?, ?, ?, ?, ?) ON CONFLICT (audience_key) DO UPDATE SET "
                "name = excluded.name, source_id = excluded.source_id, definition = excluded.definition",
                [audience_key, name, source_id, json.dumps(definition), created],
            )
        return self.live(audience_key)

    def live(self, audience_key: str) -> LiveAudience:
        with self._con(read_only=True) as con:
            row = con.execute("SELECT * FROM live_audiences WHERE audience_key = ?", [audience_key]).fetchone()
        if row is None:
            raise NotFoundError(f"live audience {audience_key!r} not found", fix="add a sync for a saved audience first")
        return LiveAudience(row[0], row[1], row[2], json.loads(row[3]), row[4])

    def lives(self) -> list[LiveAudience]:
        with self._con(read_only=True) as con:
            rows = con.execute("SELECT * FROM live_audiences ORDER BY audience_key").fetchall()
        return [LiveAudience(r[0], r[1], r[2], json.loads(r[3]), r[4]) for r in rows]

    def latest_version(self, audience_key: str) -> AudienceVersion | None:
        with self._con(read_only=True) as con:
            row = con.execute(
                "SELECT * FROM audience_versions WHERE audience_key = ? ORDER BY version DESC LIMIT 1", [audience_key]
            ).fetchone()
        return None if row is None else AudienceVersion(*row[:7], json.loads(row[7]))

    def versions(self, audience_key: str) -> list[AudienceVersion]:
        with self._con(read_only=True) as con:
            rows = con.execute(
                "SELECT * FROM audience_versions WHERE audience_key = ? ORDER BY version", [audience_key]
            ).fetchall()
        return [AudienceVersion(*r[:7], json.loads(r[7])) for r in rows]

    def version_members(self, audience_key: str, version: int) -> set[str]:
        with self._con(read_only=True) as con:
            rows = con.execute(
                "SELECT customer_id FROM audience_version_members WHERE audience_key = ? AND version = ?",
                [audience_key, version],
            ).fetchall()
        return {r[0] for r in rows}

    def add_version(
        self, audience_key: str, *, run_id: str, members: set[str], adds: int, removes: int, excluded: dict[str, int]
    ) -> AudienceVersion:
        """Append version N+1 with its members (one transaction)."""
        with self._con() as con:
            con.execute("BEGIN TRANSACTION")
            try:
                (last,) = con.execute(
                    "SELECT coalesce(max(version), 0) FROM audience_versions WHERE audience_key = ?", [audience_key]
                ).fetchone()
                version = int(last) + 1
                created = _now()
                con.execute(
                    "INSERT INTO audience_versions VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    [audience_key, version, run_id, created, len(members), adds, removes, json.dumps(excluded)],
                )
                frame = _ids(members)
                con.register("new_members", frame)
                con.execute(
                    "INSERT INTO audience_version_members SELECT ?, ?, customer_id FROM new_members",
                    [audience_key, version],
                )
                con.unregister("new_members")
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise
        return AudienceVersion(audience_key, version, run_id, created, len(members), adds, removes, excluded)

    # -- syncs ------------------------------------------------------------------------------------

    def add_sync(self, record: SyncRecord) -> SyncRecord:
        with self._con() as con:
            con.execute(
                "INSERT INTO syncs VALUES (?, ?, ?, ?, ?, ?)",
                [record.sync_id, record.audience_key, record.kind, json.dumps(record.options), record.created_at,
                 record.created_by],
            )
        return record

    def syncs(self) -> list[SyncRecord]:
        with self._con(read_only=True) as con:
            rows = con.execute("SELECT * FROM syncs ORDER BY created_at, sync_id").fetchall()
        return [SyncRecord(r[0], r[1], r[2], json.loads(r[3]), r[4], r[5]) for r in rows]

    def sync(self, sync_id: str) -> SyncRecord:
        with self._con(read_only=True) as con:
            row = con.execute("SELECT * FROM syncs WHERE sync_id = ?", [sync_id]).fetchone()
        if row is None:
            known = ", ".join(s.sync_id for s in self.syncs()[-5:]) or "none yet"
            raise NotFoundError(f"sync {sync_id!r} not found", fix=f"`targetwise sync list` shows them; recent: {known}")
        return SyncRecord(row[0], row[1], row[2], json.loads(row[3]), row[4], row[5])

    def acknowledged(self, sync_id: str) -> set[str]:
        """Who the destination holds, as far as it acknowledged."""
        with self._con(read_only=True) as con:
            rows = con.execute("SELECT customer_id FROM sync_members WHERE sync_id = ?", [sync_id]).fetchall()
        return {r[0] for r in rows}

    # -- plans and batches ------------------------------------------------------------------------

    def open_batches(self, sync_id: str) -> list[BatchRecord]:
        """The batches of the sync's unfinished plan (one not yet all ``ok``), in sending order; [] if none."""
        with self._con(read_only=True) as con:
            rows = con.execute(
                "SELECT idempotency_key, sync_id, plan_no, version, action, batch_index, size, status, attempts, detail "
                "FROM sync_batches WHERE sync_id = ? AND plan_no = (SELECT max(plan_no) FROM sync_batches "
                "WHERE sync_id = ?) ORDER BY action = 'add', batch_index",
                [sync_id, sync_id],
            ).fetchall()
        batches = [BatchRecord(*r) for r in rows]
        return batches if any(b.status != "ok" for b in batches) else []

    def next_plan_no(self, sync_id: str) -> int:
        with self._con(read_only=True) as con:
            (last,) = con.execute(
                "SELECT coalesce(max(plan_no), 0) FROM sync_batches WHERE sync_id = ?", [sync_id]
            ).fetchone()
        return int(last) + 1

    def plan(self, batches: list[tuple[BatchRecord, list[str]]]) -> None:
        """Store a plan's batches and their members before anything is sent (so a crash can resume it)."""
        with self._con() as con:
            con.execute("BEGIN TRANSACTION")
            try:
                for batch, members in batches:
                    con.execute(
                        "INSERT INTO sync_batches VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        [batch.idempotency_key, batch.sync_id, batch.plan_no, batch.version, batch.action,
                         batch.batch_index, batch.size, batch.status, batch.attempts, batch.detail, _now()],
                    )
                    frame = pd.DataFrame({"customer_id": pd.Series(members, dtype=object)})
                    con.register("batch_members", frame)
                    con.execute(
                        "INSERT INTO sync_batch_members SELECT ?, customer_id FROM batch_members",
                        [batch.idempotency_key],
                    )
                    con.unregister("batch_members")
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise

    def batch_members(self, idempotency_key: str) -> list[str]:
        with self._con(read_only=True) as con:
            rows = con.execute(
                "SELECT customer_id FROM sync_batch_members WHERE idempotency_key = ? ORDER BY customer_id",
                [idempotency_key],
            ).fetchall()
        return [r[0] for r in rows]

    def acknowledge(self, batch: BatchRecord, *, attempts: int, detail: str) -> None:
        """Mark a batch ``ok`` and apply it to the destination's membership, in one transaction."""
        with self._con() as con:
            con.execute("BEGIN TRANSACTION")
            try:
                con.execute(
                    "UPDATE sync_batches SET status = 'ok', attempts = attempts + ?, detail = ?, updated_at = ? "
                    "WHERE idempotency_key = ?",
                    [attempts, detail, _now(), batch.idempotency_key],
                )
                if batch.action == "add":
                    con.execute(
                        "INSERT INTO sync_members SELECT ?, customer_id FROM sync_batch_members "
                        "WHERE idempotency_key = ? AND customer_id NOT IN "
                        "(SELECT customer_id FROM sync_members WHERE sync_id = ?)",
                        [batch.sync_id, batch.idempotency_key, batch.sync_id],
                    )
                else:
                    con.execute(
                        "DELETE FROM sync_members WHERE sync_id = ? AND customer_id IN "
                        "(SELECT customer_id FROM sync_batch_members WHERE idempotency_key = ?)",
                        [batch.sync_id, batch.idempotency_key],
                    )
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise

    def dead_letter(self, batch: BatchRecord, *, run_no: int, attempts: int, detail: str) -> None:
        """Mark a batch ``dead_letter`` (the next ``sync run`` re-sends it, same key) and keep the record."""
        at = _now()
        with self._con() as con:
            con.execute(
                "UPDATE sync_batches SET status = 'dead_letter', attempts = attempts + ?, detail = ?, updated_at = ? "
                "WHERE idempotency_key = ?",
                [attempts, detail, at, batch.idempotency_key],
            )
            con.execute(
                "INSERT INTO sync_dead_letters VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [batch.sync_id, run_no, batch.idempotency_key, batch.version, batch.action, batch.size, attempts,
                 detail, at],
            )

    # -- history ----------------------------------------------------------------------------------

    def start_run(self, sync_id: str) -> int:
        with self._con() as con:
            (last,) = con.execute(
                "SELECT coalesce(max(run_no), 0) FROM sync_runs WHERE sync_id = ?", [sync_id]
            ).fetchone()
            run_no = int(last) + 1
            con.execute(
                "INSERT INTO sync_runs VALUES (?, ?, ?, NULL, NULL, 'running', 0, 0, 0, 0, '')", [sync_id, run_no, _now()]
            )
        return run_no

    def finish_run(self, record: SyncRunRecord) -> SyncRunRecord:
        finished = _now()
        with self._con() as con:
            con.execute(
                "UPDATE sync_runs SET finished_at = ?, version = ?, outcome = ?, added = ?, removed = ?, "
                "batches_ok = ?, dead_letters = ?, detail = ? WHERE sync_id = ? AND run_no = ?",
                [finished, record.version, record.outcome, record.added, record.removed, record.batches_ok,
                 record.dead_letters, record.detail, record.sync_id, record.run_no],
            )
            row = con.execute(
                "SELECT * FROM sync_runs WHERE sync_id = ? AND run_no = ?", [record.sync_id, record.run_no]
            ).fetchone()
        return SyncRunRecord(*row)

    def runs(self, sync_id: str) -> list[SyncRunRecord]:
        with self._con(read_only=True) as con:
            rows = con.execute("SELECT * FROM sync_runs WHERE sync_id = ? ORDER BY run_no", [sync_id]).fetchall()
        return [SyncRunRecord(*r) for r in rows]

    def dead_letters(self, sync_id: str) -> list[DeadLetter]:
        with self._con(read_only=True) as con:
            rows = con.execute(
                "SELECT * FROM sync_dead_letters WHERE sync_id = ? ORDER BY recorded_at, idempotency_key", [sync_id]
            ).fetchall()
        return [DeadLetter(*r) for r in rows]


def has_live_audiences(workspace: Workspace) -> bool:
    """Whether the workspace has any live audience (read-only; False before the feature's first use)."""
    with workspace.connect(read_only=True) as con:
        (tables,) = con.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'main' AND table_name = 'live_audiences'"
        ).fetchone()
        if not tables:
            return False
        (count,) = con.execute("SELECT count(*) FROM live_audiences").fetchone()
    return bool(count)


def check_sync_id(sync_id: str) -> str:
    if not sync_id or len(sync_id) > 64 or not all(c.isalnum() or c in "-_" for c in sync_id):
        raise ConfigError(f"{sync_id!r} is not a sync id", fix="`targetwise sync list` shows the ids")
    return sync_id
