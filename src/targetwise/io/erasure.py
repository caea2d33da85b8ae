"""Erasure (GDPR art. 17): remove one customer from the whole workspace, bytes included.

:func:`erase_customer` removes a customer from

* **every table** of the DuckDB file that has a ``customer_id`` column
  (transactions, customers, customer_pii, campaign_exposures, responses,
  consent, quarantine, and any table added later), plus quarantined rows whose
  raw JSON holds the id, e-mail or phone in any field (e.g. a rejected row
  whose ``customer_id`` was empty). ``loads`` (file hashes and counts) and
  ``anonymous_transactions`` hold no customer identifier and are untouched;
* **every stored run output**: each table file (Parquet) under
  ``artifacts/runs/`` with a row naming the customer is rewritten without it,
  atomically (temp file + rename), and the run's ``manifest.json`` gets the new
  file hashes plus an ``erasures`` entry. Runs are immutable *except for
  erasure*, the one sanctioned rewrite;
* **audiences** (``artifacts/audiences``: members rewritten, ``size`` updated),
  **exports** (``artifacts/exports``: Parquet/CSV rows with the id, e-mail,
  phone or their destination hashes removed) and **reports**
  (``artifacts/reports``: an HTML or other text file that names any of those
  strings as a whole word is deleted, not edited; render it again).

Then the database file is **rebuilt**: DuckDB keeps deleted rows in free
blocks until they happen to be overwritten, so a ``DELETE`` plus
``CHECKPOINT`` does not make the bytes go away. The whole database is copied
(``COPY FROM DATABASE``) into a new file in the same folder, which atomically
replaces the old one; the write-ahead log is removed. A test proves that a byte
search of the whole workspace finds neither id, e-mail nor phone afterwards.

The erasure is recorded without personal data in ``artifacts/audit/erasures.jsonl``:
the customer as a keyed pseudonym (HMAC-SHA256 with the workspace's audit salt,
the same pseudonym the service's audit log uses), the time, the actor and the
counts removed per table and per file.

Erasure needs the workspace to itself: run it while no ``targetwise run`` or
ingest is in progress (a run that read the data before the erasure would
write the customer into its new outputs). Re-running an erasure is safe: it
finishes whatever a crashed attempt left.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import hmac
import json
import os
import re
import secrets
import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from targetwise.errors import NotFoundError, WorkspaceError
from targetwise.io.runs import STAGING_PREFIX, _fsync_dir, _sha256, dumps
from targetwise.io.workspace import DB_FILE, Workspace

__all__ = ["ERASURE_LOG", "ErasureReceipt", "erase_customer", "erasure_log", "pseudonym"]

ERASURE_LOG = "erasures.jsonl"
_PENDING = "erasure.pending"
_AUDIT_DIR = "audit"
_TABLE_SUFFIXES = (".parquet", ".csv", ".csv.gz")
_BINARY_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".gif", ".webp", ".pdf", ".duckdb"})


@dataclass(frozen=True)
class ErasureReceipt:
    """What one erasure removed. Holds no personal data: the customer appears only as ``subject``.

    ``tables``: rows deleted per database table (tables with none are left out).
    ``files``: rows removed per rewritten file (path relative to the workspace).
    ``deleted_files``: files deleted whole (reports that mentioned the customer).
    """

    subject: str
    erased_at: str
    actor: str
    tables: dict[str, int] = field(default_factory=dict)
    files: dict[str, int] = field(default_factory=dict)
    deleted_files: list[str] = field(default_factory=list)
    runs_rewritten: list[str] = field(default_factory=list)
    database_bytes_before: int = 0
    database_bytes_after: int = 0

    @property
    def rows_removed(self) -> int:
        return sum(self.tables.values()) + sum(self.files.values())

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "rows_removed": self.rows_removed}


# -- pseudonym ----------------------------------------------------------------------------------


def _salt(workspace: Workspace) -> bytes:
    """The workspace's audit salt (``artifacts/audit/salt``), created once, shared with the service audit log."""
    folder = workspace.artifacts / _AUDIT_DIR
    folder.mkdir(parents=True, exist_ok=True)
    salt_file = folder / "salt"
    if not salt_file.exists():
        tmp = folder / f".salt.{secrets.token_hex(4)}"
        tmp.write_text(secrets.token_hex(32))
        try:
            os.link(tmp, salt_file)  # atomic create-if-absent: the first writer wins
        except FileExistsError:
            pass
        finally:
            tmp.unlink(missing_ok=True)
    return salt_file.read_text().strip().encode()


def pseudonym(workspace: Workspace, customer_id: str) -> str:
    """``customer:<16 hex>``: HMAC-SHA256 of the id under the workspace's secret audit salt.

    Without the salt (which never leaves the workspace) the id cannot be
    recovered or confirmed by brute force over plausible ids.
    """
    digest = hmac.new(_salt(workspace), customer_id.encode(), hashlib.sha256).hexdigest()[:16]
    return f"customer:{digest}"


# -- the erasure --------------------------------------------------------------------------------


def erase_customer(workspace: Workspace, customer_id: str, *, actor: str) -> ErasureReceipt:
    """Remove ``customer_id`` from every table, run output, audience, export and report.

    ``actor`` says who asked (an API key id, ``cli:<user>``); it is logged, the
    customer id is not. Raises :class:`~targetwise.errors.NotFoundError` when
    the customer appears nowhere (nothing is changed or logged then).

    Order, so that a crash at any point is finished by running it again: the
    database stays open (and so locked against other processes) throughout;
    files are scrubbed first (the e-mail and phone, needed to find exports,
    are still in the database for a re-run); a ``pending`` marker is written
    before rows are deleted and removed only after the file is rebuilt, so a
    re-run rebuilds even when no row is left to delete.
    """
    customer_id = str(customer_id).strip()
    if not customer_id:
        raise NotFoundError("no customer id given", fix="pass the customer's id, e.g. `targetwise privacy erase C000123`")
    erased_at = datetime.now(UTC).isoformat(timespec="seconds")
    subject = pseudonym(workspace, customer_id)
    before = workspace.db_path.stat().st_size
    marker = workspace.artifacts / _AUDIT_DIR / _PENDING
    was_pending = marker.exists()
    fresh = workspace.db_path.with_name(f".{DB_FILE}.erasing-{uuid.uuid4().hex[:8]}")
    try:
        with workspace.connect() as con:
            contact = _contact(con, customer_id)
            tokens = {customer_id, *contact}
            files, deleted, runs = _scrub_artifacts(
                workspace, tokens | _identifier_hashes(contact), subject=subject, erased_at=erased_at
            )
            # Temporary Parquet copies of large CSV sources (`tmp/spool-*`) left by a killed ingest
            # hold raw rows. An ingest still spooling in another process loses its copy and stops
            # with a clear error, loading nothing; it can simply be run again.
            for spool in sorted((workspace.path / "tmp").glob("spool-*.parquet")):
                spool.unlink(missing_ok=True)
            _write_atomic(marker, subject)
            tables = _delete_rows(con, customer_id, contact)
            found = bool(tables or files or deleted)
            if found or was_pending:
                _copy_database(con, fresh)
        if not found and not was_pending:
            marker.unlink(missing_ok=True)
            raise NotFoundError(
                f"customer {customer_id!r} is not in this workspace (no table row, run output or file names them)",
                fix="check the id (ids are case-sensitive text, e.g. '12347' or 'C000123')",
            )
        _swap_in(workspace, fresh)
    finally:
        for leftover in (fresh, fresh.with_name(fresh.name + ".wal")):
            leftover.unlink(missing_ok=True)
    marker.unlink(missing_ok=True)
    if not found:
        raise NotFoundError(
            f"customer {customer_id!r} is not in this workspace (an earlier interrupted erasure was completed)",
            fix="check the id (ids are case-sensitive text, e.g. '12347' or 'C000123')",
        )
    receipt = ErasureReceipt(
        subject=subject,
        erased_at=erased_at,
        actor=actor,
        tables=tables,
        files=files,
        deleted_files=deleted,
        runs_rewritten=runs,
        database_bytes_before=before,
        database_bytes_after=workspace.db_path.stat().st_size,
    )
    _append_log(workspace, receipt)
    return receipt


def erasure_log(workspace: Workspace) -> list[dict[str, Any]]:
    """Every erasure recorded in this workspace, oldest first (no personal data in them)."""
    path = workspace.artifacts / _AUDIT_DIR / ERASURE_LOG
    if not path.exists():
        return []
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.endswith("\n")]


def _append_log(workspace: Workspace, receipt: ErasureReceipt) -> None:
    path = workspace.artifacts / _AUDIT_DIR / ERASURE_LOG
    path.parent.mkdir(parents=True, exist_ok=True)
    line = (json.dumps(receipt.to_dict(), separators=(",", ":")) + "\n").encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, line)
        os.fsync(fd)
    finally:
        os.close(fd)


# -- database -----------------------------------------------------------------------------------


def _customer_tables(con: Any) -> list[str]:
    return [
        r[0]
        for r in con.execute(
            "SELECT DISTINCT table_name FROM information_schema.columns "
            "WHERE table_schema = 'main' AND column_name = 'customer_id' ORDER BY 1"
        ).fetchall()
    ]


def _contact(con: Any, customer_id: str) -> list[str]:
    """The customer's e-mail and phone values (to find them in quarantined rows and exports)."""
    if "customer_pii" not in _customer_tables(con):
        return []
    contact: list[str] = []
    for email, phone in con.execute("SELECT email, phone FROM customer_pii WHERE customer_id = ?", [customer_id]).fetchall():
        contact += [v.strip() for v in (email, phone) if isinstance(v, str) and v.strip()]
    return contact


def _delete_rows(con: Any, customer_id: str, contact: list[str]) -> dict[str, int]:
    """Delete the customer's rows from every table, in one transaction; rows deleted per table."""
    counts: dict[str, int] = {}
    tables = _customer_tables(con)
    con.execute("BEGIN TRANSACTION")
    try:
        for table in tables:
            (n,) = con.execute(f'DELETE FROM "{table}" WHERE customer_id = ?', [customer_id]).fetchone()
            if n:
                counts[table] = int(n)
        if "quarantine" in tables:
            extra = _delete_quarantine_mentions(con, {customer_id, *contact})
            if extra:
                counts["quarantine"] = counts.get("quarantine", 0) + extra
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return counts


def _delete_quarantine_mentions(con: Any, tokens: set[str]) -> int:
    """Quarantined rows whose raw JSON has a field equal to a token (e.g. rows with an empty id column)."""
    clauses = " OR ".join("contains(lower(raw), ?)" for _ in tokens)
    candidates = con.execute(
        f"SELECT rowid, raw FROM quarantine WHERE {clauses}", [t.lower() for t in tokens]
    ).fetchall()
    wanted = {t.lower() for t in tokens}
    rowids = []
    for rowid, raw in candidates:
        try:
            values = json.loads(raw).values()
        except (ValueError, AttributeError):
            values = [raw]
        if any(str(v).strip().lower() in wanted for v in values if v is not None):
            rowids.append(rowid)
    if rowids:
        con.execute("DELETE FROM quarantine WHERE rowid IN (SELECT unnest(?))", [rowids])
    return len(rowids)


def _copy_database(con: Any, fresh: Path) -> None:
    """Copy every table, view and sequence into a new file: deleted rows' bytes stay behind."""
    try:
        con.execute("CHECKPOINT")
        (name,) = con.execute("SELECT current_database()").fetchone()
        con.execute(f"ATTACH '{fresh.as_posix()}' AS erasure_fresh")
        con.execute(f'COPY FROM DATABASE "{name}" TO erasure_fresh')
        con.execute("DETACH erasure_fresh")
    except duckdb.Error as exc:
        raise WorkspaceError(
            f"could not rebuild the database after erasure ({str(exc).splitlines()[0]}); the rows are deleted "
            "but their bytes may remain in free blocks",
            fix="free disk space (the rebuild needs as much again as the database) and run the erasure again",
        ) from None


def _swap_in(workspace: Workspace, fresh: Path) -> None:
    """Replace the database file with the rebuilt one (one rename) and drop the old write-ahead log."""
    db = workspace.db_path
    try:
        with open(fresh, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(fresh, db)
    except OSError as exc:
        raise WorkspaceError(
            f"could not replace {db} with the rebuilt database: {exc.strerror}",
            fix="check the folder is writable and run the erasure again",
        ) from None
    db.with_name(db.name + ".wal").unlink(missing_ok=True)
    _fsync_dir(db.parent)


# -- files --------------------------------------------------------------------------------------


def _identifier_hashes(contact: list[str]) -> set[str]:
    """The ad platforms' SHA-256 forms of the e-mail/phone, as written into google/meta exports.

    :mod:`targetwise.identifiers` is a pure bottom-layer module; invalid values simply have no hash.
    """
    from targetwise.errors import DataValidationError
    from targetwise.identifiers import hash_identifier

    hashes: set[str] = set()
    for value in contact:
        kind = "email" if "@" in value else "phone"
        for destination in ("google_customer_match", "meta"):
            try:
                hashes.add(hash_identifier(value, kind=kind, destination=destination))  # type: ignore[arg-type]
            except DataValidationError:
                continue
    return hashes


def _scrub_artifacts(
    workspace: Workspace, tokens: set[str], *, subject: str, erased_at: str
) -> tuple[dict[str, int], list[str], list[str]]:
    files: dict[str, int] = {}
    deleted: list[str] = []
    touched_runs: dict[Path, dict[str, int]] = {}
    skip = {workspace.artifacts / _AUDIT_DIR}
    for path in sorted(workspace.artifacts.rglob("*")):
        if not path.is_file() or any(path.is_relative_to(s) for s in skip) or path.name == "manifest.json":
            continue
        relative = path.relative_to(workspace.path).as_posix()
        if path.name.lower().endswith(_TABLE_SUFFIXES):
            removed = _rewrite_table(path, tokens)
            if removed:
                files[relative] = removed
                run_dir = _run_folder(workspace, path)
                if run_dir is not None:
                    touched_runs.setdefault(run_dir, {})[path.relative_to(run_dir).as_posix()] = removed
                if path.parent == workspace.artifacts / "audiences" and path.suffix == ".parquet":
                    _update_audience_size(path)
        elif _mentions(path, tokens):
            path.unlink()
            deleted.append(relative)
            run_dir = _run_folder(workspace, path)
            if run_dir is not None:
                touched_runs.setdefault(run_dir, {})[path.relative_to(run_dir).as_posix()] = -1
    for run_dir, changed in touched_runs.items():
        _update_manifest(run_dir, changed, subject=subject, erased_at=erased_at)
    return files, deleted, sorted(p.name for p in touched_runs)


def _run_folder(workspace: Workspace, path: Path) -> Path | None:
    runs = workspace.runs_dir
    if not path.is_relative_to(runs):
        return None
    top = runs / path.relative_to(runs).parts[0]
    return None if top.name.startswith(STAGING_PREFIX) or top == path else top


def _mentions(path: Path, tokens: set[str]) -> bool:
    """Whether a text file names a token as a whole word (``"12347"`` or ``>12347<``, not ``0.123471``).

    Images and other binary files are not searched: their bytes can match a
    short numeric id by chance, and a plot does not carry ids as text.
    """
    if path.suffix.lower() in _BINARY_SUFFIXES:
        return False
    data = path.read_bytes()
    if path.suffix == ".gz":
        with contextlib.suppress(OSError):
            data = gzip.decompress(data)
    text = data.decode("utf-8", errors="ignore")
    return any(_word(t).search(text) for t in tokens if t in text)


def _word(token: str) -> re.Pattern[str]:
    return re.compile(r"(?<![\w.+\-])" + re.escape(token) + r"(?![\w]|\.\d)")


def _string_columns(table: pa.Table) -> list[str]:
    names = []
    for f in table.schema:
        t = f.type.value_type if pa.types.is_dictionary(f.type) else f.type
        if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t):
            names.append(f.name)
    return names


def _rewrite_table(path: Path, tokens: set[str]) -> int:
    """Rewrite a Parquet/CSV file without rows that have a text cell equal to a token; rows removed."""
    is_parquet = path.suffix == ".parquet"
    if is_parquet:
        table = pq.read_table(path)
    else:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
        table = pa.Table.from_pandas(frame, preserve_index=False)
    columns = _string_columns(table)
    if not columns or table.num_rows == 0:
        return 0
    value_set = pa.array(sorted(tokens), type=pa.string())
    hit = None
    for name in columns:
        col = pc.cast(table[name], pa.string()) if pa.types.is_dictionary(table.schema.field(name).type) else table[name]
        matches = pc.fill_null(pc.is_in(pc.utf8_trim_whitespace(col), value_set=value_set), False)
        hit = matches if hit is None else pc.or_(hit, matches)
    removed = int(pc.sum(hit).as_py() or 0)
    if not removed:
        return 0
    kept = table.filter(pc.invert(hit))
    tmp = path.with_name(f".{path.name}.erasing-{uuid.uuid4().hex[:8]}")
    try:
        if is_parquet:
            pq.write_table(kept, tmp)
        else:
            kept.to_pandas().to_csv(tmp, index=False, compression="gzip" if path.suffix == ".gz" else None)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return removed


def _update_audience_size(members_path: Path) -> None:
    meta_path = members_path.with_suffix(".json")
    if not meta_path.exists():
        return
    record = json.loads(meta_path.read_text(encoding="utf-8"))
    record["size"] = pq.read_metadata(members_path).num_rows
    _write_atomic(meta_path, json.dumps(record, indent=2))


def _update_manifest(run_dir: Path, changed: dict[str, int], *, subject: str, erased_at: str) -> None:
    """New hashes of rewritten files, deleted files dropped, and a record of the erasure (no PII)."""

    manifest_path = run_dir / "manifest.json"
    if not manifest_path.exists():
        return
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    listed = manifest.setdefault("files", {})
    for relative, removed in changed.items():
        if removed < 0:
            listed.pop(relative, None)
        elif relative in listed:
            listed[relative] = _sha256(run_dir / relative)
    manifest.setdefault("erasures", []).append(
        {"subject": subject, "erased_at": erased_at,
         "rows_removed": {k: v for k, v in changed.items() if v >= 0},
         "files_deleted": sorted(k for k, v in changed.items() if v < 0)}
    )
    _write_atomic(manifest_path, dumps(manifest))


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}")
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)

