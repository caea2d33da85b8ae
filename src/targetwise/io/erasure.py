"""Erasure (GDPR art. 17): remove one customer, and nothing and nobody else, from the whole workspace.

A person is found **by structure, never by searching text**: through the fields that hold identity.

* **Tables**: every table of the DuckDB file with a ``customer_id`` column loses that customer's rows
  (transactions, customers, customer_pii, campaign_exposures, responses, consent, quarantine, and any
  table added later). A quarantined row whose own ``customer_id`` is empty (e.g. a rejected PII row) is
  matched through its raw row's *identity fields* only: the source columns that the load mapped to
  ``customer_id``, ``email`` or ``phone`` (table ``load_columns``; for loads made before it existed, columns
  named like them), compared in normal form (ids as text, whole-number floats as integers; e-mail
  lower-cased; phone by its digits). A Quantity of "10" is never customer "10".
* **Run outputs**: in each run folder, a Parquet file loses the rows whose identity columns
  (``customer_id``, ``email``, ``phone``, ``email_sha256``, ``phone_sha256``) hold the person; a JSON file is
  parsed and edited field-wise (list items whose ``customer_id`` is the person, the person in a
  ``customer_ids``/``members`` list). Rewrites are atomic (temp file + rename) and the run's
  ``manifest.json`` gets the new hashes plus an ``erasures`` entry. Runs are immutable *except for
  erasure*, the one sanctioned rewrite. Copies published at a runs URL are erased through
  :func:`targetwise.io.run_urls.erase_published` (the use case ``usecases.privacy.erase`` calls it).
* **Audiences** (member lists rewritten, ``size`` updated) and **exports** (``artifacts/exports``: rows
  with the person's id, e-mail, phone or their destination hashes, by those columns) likewise.
* **Reports** (``artifacts/reports``): a report that lists customers marks each with a
  ``data-customer-id`` attribute; one that lists this person is deleted (render it again). Our reports
  hold aggregates only and are never touched otherwise.
* **Never candidates**: API keys, the audit log and its salt, manifests (edited, never deleted), plots,
  ``ACTIVE``, settings and anything else under ``artifacts/``.

The person's pseudonyms go into ``suppressions`` (see :mod:`targetwise.io.suppression`) so that a later
re-import of them is suppressed, not treated as a new customer who consents to everything.

Then the database file is **rebuilt**: DuckDB keeps deleted rows in free blocks until they happen to be
overwritten, so a ``DELETE`` plus ``CHECKPOINT`` does not make the bytes go away. The whole database is
copied (``COPY FROM DATABASE``) into a new file in the same folder, which atomically replaces the old
one; the write-ahead log is removed. A test proves that a byte search of the whole workspace finds
neither id, e-mail nor phone afterwards.

The erasure is recorded without personal data in ``artifacts/audit/erasures.jsonl``: the customer as a
keyed pseudonym (the one the service's audit log uses), the time, the actor, the rows removed per table
and per file, and the quarantined rows removed per load, so that ``loads.rows_quarantined`` still adds
up: for every load it equals the rows ``quarantine`` holds plus those the log says were erased
(:func:`quarantine_accounting`).

Erasure needs the workspace to itself: run it while no ``targetwise run`` or ingest is in progress (a
run that read the data before the erasure would write the customer into its new outputs). Re-running an
erasure is safe: it finishes whatever a crashed attempt left.
"""

from __future__ import annotations

import html
import json
import os
import re
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
from targetwise.io.run_urls import PublishedErasure
from targetwise.io.runs import STAGING_PREFIX, _fsync_dir, _sha256, dumps
from targetwise.io.suppression import audit_salt, normalise_contact, pseudonym, record_suppression
from targetwise.io.workspace import DB_FILE, Workspace

__all__ = [
    "ERASURE_LOG",
    "IDENTITY_COLUMNS",
    "ErasureReceipt",
    "erase_customer",
    "erasure_log",
    "pseudonym",
    "quarantine_accounting",
]

ERASURE_LOG = "erasures.jsonl"
_PENDING = "erasure.pending"
_AUDIT_DIR = "audit"
_TABLE_SUFFIXES = (".parquet", ".csv", ".csv.gz")
_REPORT_SUFFIXES = (".html", ".htm")
# columns of our files that hold identity, and what kind of identity each holds
IDENTITY_COLUMNS: dict[str, str] = {
    "customer_id": "customer_id",
    "email": "email",  # raw, or hashed in a Meta customer list: compared both ways
    "phone": "phone",
    "email_sha256": "hash",
    "phone_sha256": "hash",
    "Email": "hash",  # Google Customer Match upload file (hashed e-mail and phone)
    "Phone": "hash",
}
# JSON members that hold lists of customer ids
_ID_LIST_KEYS = frozenset({"customer_ids", "members"})
# identity columns of loads made before `load_columns` existed, by normalised source column name
_LEGACY_IDENTITY_NAMES = {
    "customerid": "customer_id", "customer": "customer_id", "custid": "customer_id", "clientid": "customer_id",
    "email": "email", "emailaddress": "email", "mail": "email",
    "phone": "phone", "phonenumber": "phone", "mobile": "phone", "telephone": "phone", "tel": "phone",
}
_CUSTOMER_MARK = re.compile(r"""data-customer-id\s*=\s*(?:"([^"]*)"|'([^']*)')""")


@dataclass(frozen=True)
class ErasureReceipt:
    """What one erasure removed. Holds no personal data: the customer appears only as ``subject``.

    ``tables``: rows deleted per database table (tables with none are left out).
    ``files``: rows removed per rewritten file (path relative to the workspace).
    ``deleted_files``: files deleted whole (reports that listed the customer).
    ``quarantine_by_load``: quarantined rows removed per load number (text keys, as in JSON).
    ``suppressed``: pseudonyms added to the suppression list (id, e-mail, phone).
    ``runs_at_url``: with a runs URL, the copies of runs there republished and those still to publish
    (:func:`targetwise.io.run_urls.erase_published`; the application layer sets it).
    """

    subject: str
    erased_at: str
    actor: str
    tables: dict[str, int] = field(default_factory=dict)
    files: dict[str, int] = field(default_factory=dict)
    deleted_files: list[str] = field(default_factory=list)
    runs_rewritten: list[str] = field(default_factory=list)
    quarantine_by_load: dict[str, int] = field(default_factory=dict)
    suppressed: int = 0
    database_bytes_before: int = 0
    database_bytes_after: int = 0
    runs_at_url: PublishedErasure | None = None  # with a runs URL: what became of the copies there

    @property
    def rows_removed(self) -> int:
        return sum(self.tables.values()) + sum(self.files.values())

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "rows_removed": self.rows_removed}


# -- the erasure --------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Person:
    """What identifies the person, per kind of identity field, in normal form."""

    customer_id: str
    emails: frozenset[str]
    phones: frozenset[str]
    hashes: frozenset[str]

    def values(self, kind: str) -> frozenset[str]:
        return {
            "customer_id": frozenset({self.customer_id}),
            "email": self.emails,
            "phone": self.phones,
            "hash": self.hashes,
        }[kind]

    def matches(self, kind: str, value: Any) -> bool:
        norm = _normal(kind, value)
        return norm is not None and norm in self.values(kind)


def _normal(kind: str, value: Any) -> str | None:
    """A cell of an identity field in the form it is compared in."""
    if value is None or isinstance(value, bool):
        return None
    if kind == "customer_id":
        if isinstance(value, float):
            return str(int(value)) if value.is_integer() else repr(value)
        text = str(value).strip()
        return text or None
    if kind == "hash":
        text = str(value).strip().lower()
        return text or None
    return normalise_contact(kind, value if isinstance(value, str | int) else str(value))


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
    now = datetime.now(UTC)
    erased_at = now.isoformat(timespec="seconds")
    subject = pseudonym(workspace, customer_id)
    before = workspace.db_path.stat().st_size
    marker = workspace.artifacts / _AUDIT_DIR / _PENDING
    was_pending = marker.exists()
    fresh = workspace.db_path.with_name(f".{DB_FILE}.erasing-{uuid.uuid4().hex[:8]}")
    try:
        with workspace.connect() as con:
            emails, phones = _contact(con, customer_id)
            person = _Person(
                customer_id=customer_id,
                emails=frozenset(e for e in (normalise_contact("email", v) for v in emails) if e),
                phones=frozenset(p for p in (normalise_contact("phone", v) for v in phones) if p),
                hashes=frozenset(_identifier_hashes([*emails, *phones])),
            )
            files, deleted, runs = _scrub_artifacts(workspace, person, subject=subject, erased_at=erased_at)
            # Temporary Parquet copies of large CSV sources (`tmp/spool-*`) left by a killed ingest
            # hold raw rows. An ingest still spooling in another process loses its copy and stops
            # with a clear error, loading nothing; it can simply be run again.
            for spool in sorted((workspace.path / "tmp").glob("spool-*.parquet")):
                spool.unlink(missing_ok=True)
            _write_atomic(marker, subject)
            tables, by_load = _delete_rows(con, person)
            found = bool(tables or files or deleted)
            suppressed = 0
            if found:
                con.execute("BEGIN TRANSACTION")
                suppressed = record_suppression(
                    con, audit_salt(workspace), customer_id=customer_id, emails=emails, phones=phones,
                    erased_at=now.replace(tzinfo=None),
                )
                con.execute("COMMIT")
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
        quarantine_by_load={str(k): v for k, v in sorted(by_load.items())},
        suppressed=suppressed,
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


def quarantine_accounting(workspace: Workspace) -> list[dict[str, int]]:
    """Per load: what ``loads`` says was quarantined, what ``quarantine`` holds, and what erasures removed.

    ``consistent`` is 1 when ``recorded == held + erased`` (always, unless rows were removed by hand).
    """
    erased: dict[int, int] = {}
    for entry in erasure_log(workspace):
        for load, n in entry.get("quarantine_by_load", {}).items():
            erased[int(load)] = erased.get(int(load), 0) + int(n)
    with workspace.connect(read_only=True) as con:
        rows = con.execute(
            "SELECT l.load_id, l.rows_quarantined, coalesce(q.n, 0) FROM loads l "
            "LEFT JOIN (SELECT load_id, count(*) AS n FROM quarantine GROUP BY 1) q ON q.load_id = l.load_id "
            "ORDER BY 1"
        ).fetchall()
    return [
        {"load_id": int(load), "recorded": int(recorded), "held": int(held), "erased": erased.get(int(load), 0),
         "consistent": int(int(recorded) == int(held) + erased.get(int(load), 0))}
        for load, recorded, held in rows
    ]


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


def _contact(con: Any, customer_id: str) -> tuple[list[str], list[str]]:
    """The customer's e-mail and phone values (to find them in quarantined rows and exports)."""
    if "customer_pii" not in _customer_tables(con):
        return [], []
    emails: list[str] = []
    phones: list[str] = []
    for email, phone in con.execute("SELECT email, phone FROM customer_pii WHERE customer_id = ?", [customer_id]).fetchall():
        emails += [email.strip()] if isinstance(email, str) and email.strip() else []
        phones += [phone.strip()] if isinstance(phone, str) and phone.strip() else []
    return emails, phones


def _delete_rows(con: Any, person: _Person) -> tuple[dict[str, int], dict[int, int]]:
    """Delete the person's rows from every table, in one transaction.

    Returns rows deleted per table and quarantined rows deleted per load."""
    counts: dict[str, int] = {}
    tables = _customer_tables(con)
    con.execute("BEGIN TRANSACTION")
    try:
        rowids = _quarantine_rows(con, person) if "quarantine" in tables else []
        by_load: dict[int, int] = {}
        if rowids:
            for load, n in con.execute(
                "SELECT load_id, count(*) FROM quarantine WHERE rowid IN (SELECT unnest(?)) GROUP BY 1", [rowids]
            ).fetchall():
                by_load[int(load)] = int(n)
            con.execute("DELETE FROM quarantine WHERE rowid IN (SELECT unnest(?))", [rowids])
            counts["quarantine"] = len(rowids)
        for table in tables:
            (n,) = con.execute(f'DELETE FROM "{table}" WHERE customer_id = ?', [person.customer_id]).fetchone()
            if n:
                counts[table] = counts.get(table, 0) + int(n)
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return dict(sorted(counts.items())), by_load


def _quarantine_rows(con: Any, person: _Person) -> list[int]:
    """Rows of ``quarantine`` that are the person's: by its ``customer_id`` column, or by the identity
    fields of the raw row (the source columns the load mapped to customer_id, email or phone)."""
    mapped: dict[int, dict[str, str]] = {}
    for load, canonical, source_column in con.execute(
        "SELECT load_id, canonical, source_column FROM load_columns WHERE canonical IN ('customer_id', 'email', 'phone')"
    ).fetchall():
        mapped.setdefault(int(load), {})[source_column] = canonical
    with_columns = {int(r[0]) for r in con.execute("SELECT DISTINCT load_id FROM load_columns").fetchall()}
    # candidates: the raw text must at least contain the id or an e-mail (a phone only in PII tables);
    # the decision is then made on the parsed identity fields alone
    clauses = ["contains(raw, ?)"] + ["contains(lower(raw), ?)" for _ in person.emails]
    params: list[Any] = [person.customer_id, *sorted(person.emails)]
    if person.phones:
        clauses.append("table_name IN ('customers', 'customer_pii')")
    rows = con.execute(
        f"SELECT rowid, load_id, customer_id, raw FROM quarantine WHERE customer_id = ? OR {' OR '.join(clauses)}",
        [person.customer_id, *params],
    ).fetchall()
    found: list[int] = []
    for rowid, load, own_id, raw in rows:
        if own_id is not None and own_id == person.customer_id:
            found.append(int(rowid))
            continue
        try:
            record = json.loads(raw)
        except (TypeError, ValueError):
            continue
        if not isinstance(record, dict):
            continue
        if load is not None and int(load) in with_columns:
            identity = mapped.get(int(load), {})
        else:
            identity = {
                key: _LEGACY_IDENTITY_NAMES[norm]
                for key in record
                if (norm := re.sub(r"[^a-z0-9]", "", str(key).lower())) in _LEGACY_IDENTITY_NAMES
            }
        if any(person.matches(kind, record.get(key)) for key, kind in identity.items()):
            found.append(int(rowid))
    return found


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


def _candidates(workspace: Workspace) -> list[Path]:
    """The files that can hold customer data, by where targetwise writes it. Keys, the audit log and
    salt, manifests, plots, markers and anything else are never candidates."""
    found: list[Path] = []
    runs = workspace.runs_dir
    if runs.is_dir():
        for run in sorted(p for p in runs.iterdir() if p.is_dir() and not p.name.startswith(STAGING_PREFIX)):
            found += [
                p for p in sorted(run.rglob("*"))
                if p.is_file() and p.name != "manifest.json" and not p.name.startswith(".")
                and (p.name.lower().endswith(_TABLE_SUFFIXES) or p.suffix == ".json")
            ]
    for folder in (workspace.artifacts / "audiences", workspace.exports_dir):
        if folder.is_dir():
            found += [p for p in sorted(folder.rglob("*")) if p.is_file() and p.name.lower().endswith(_TABLE_SUFFIXES)]
    if workspace.reports_dir.is_dir():
        found += [p for p in sorted(workspace.reports_dir.rglob("*")) if p.is_file() and p.suffix.lower() in _REPORT_SUFFIXES]
    return found


def _scrub_artifacts(
    workspace: Workspace, person: _Person, *, subject: str, erased_at: str
) -> tuple[dict[str, int], list[str], list[str]]:
    files: dict[str, int] = {}
    deleted: list[str] = []
    touched_runs: dict[Path, dict[str, int]] = {}
    for path in _candidates(workspace):
        relative = path.relative_to(workspace.path).as_posix()
        run_dir = _run_folder(workspace, path)
        if path.name.lower().endswith(_TABLE_SUFFIXES):
            removed = _rewrite_table(path, person)
        elif path.suffix == ".json":
            removed = _rewrite_json(path, person)
        else:
            removed = -1 if _lists_customer(path, person.customer_id) else 0
        if removed > 0:
            files[relative] = removed
            if path.parent == workspace.artifacts / "audiences" and path.suffix == ".parquet":
                _update_audience_record(path, person)
        elif removed < 0:
            path.unlink()
            deleted.append(relative)
        if removed and run_dir is not None:
            touched_runs.setdefault(run_dir, {})[path.relative_to(run_dir).as_posix()] = removed
    for run_dir, changed in touched_runs.items():
        _update_manifest(run_dir, changed, subject=subject, erased_at=erased_at)
    return files, deleted, sorted(p.name for p in touched_runs)


def _run_folder(workspace: Workspace, path: Path) -> Path | None:
    runs = workspace.runs_dir
    if not path.is_relative_to(runs):
        return None
    top = runs / path.relative_to(runs).parts[0]
    return None if top.name.startswith(STAGING_PREFIX) or top == path else top


def _lists_customer(path: Path, customer_id: str) -> bool:
    """Whether a report lists the customer: an element marked ``data-customer-id="<id>"``."""
    text = path.read_text(encoding="utf-8", errors="replace")
    return any(html.unescape(a or b).strip() == customer_id for a, b in _CUSTOMER_MARK.findall(text))


def _rewrite_json(path: Path, person: _Person) -> int:
    """Edit a JSON output field-wise: items whose ``customer_id`` is the person leave their list, the
    person leaves ``customer_ids``/``members`` lists; -1 when the whole file is about the person."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return 0
    if isinstance(data, dict) and person.matches("customer_id", data.get("customer_id")):
        return -1
    removed = 0

    def walk(node: Any, key: str | None = None) -> Any:
        nonlocal removed
        if isinstance(node, dict):
            return {k: walk(v, k) for k, v in node.items()}
        if isinstance(node, list):
            kept = []
            for item in node:
                record = isinstance(item, dict) and person.matches("customer_id", item.get("customer_id"))
                listed = key in _ID_LIST_KEYS and isinstance(item, str | int) and person.matches("customer_id", item)
                if record or listed:
                    removed += 1
                else:
                    kept.append(walk(item))
            return kept
        return node

    edited = walk(data)
    if removed:
        _write_atomic(path, json.dumps(edited, indent=2))
    return removed


def _string_columns(table: pa.Table) -> list[str]:
    names = []
    for f in table.schema:
        t = f.type.value_type if pa.types.is_dictionary(f.type) else f.type
        if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t):
            names.append(f.name)
    return names


def _unescape_csv_cell(value: Any) -> Any:
    from targetwise.io.exports import FORMULA_PREFIXES

    if isinstance(value, str) and value.startswith("'") and value[1:].startswith(FORMULA_PREFIXES):
        return value[1:]
    return value


def _rewrite_table(path: Path, person: _Person) -> int:
    """Rewrite a Parquet/CSV file without the rows whose identity columns hold the person; rows removed."""
    is_parquet = path.suffix == ".parquet"
    if is_parquet:
        names = pq.read_schema(path).names
        if not any(n in IDENTITY_COLUMNS for n in names):
            return 0
        table = pq.read_table(path)
    else:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
        if not any(n in IDENTITY_COLUMNS for n in frame.columns):
            return 0
        # cells our CSV writer escaped against formula injection ('=...) are compared unescaped
        frame = frame.map(_unescape_csv_cell)
        table = pa.Table.from_pandas(frame, preserve_index=False)
    if table.num_rows == 0:
        return 0
    text_columns = set(_string_columns(table))
    hit = None
    for name in table.column_names:
        kind = IDENTITY_COLUMNS.get(name)
        if kind is None:
            continue
        wanted = sorted(person.values(kind))
        if not wanted:
            continue
        col = table[name]
        if name in text_columns:
            col = pc.cast(col, pa.string()) if pa.types.is_dictionary(col.type) else col
            col = pc.utf8_trim_whitespace(col)
            hashed = pc.utf8_lower(col)
            if kind in ("email", "hash"):
                col = pc.utf8_lower(col)
            if kind == "phone":
                col = pc.replace_substring_regex(col, pattern=r"\D", replacement="")
                col = pc.replace_substring_regex(col, pattern=r"^00", replacement="")
            matches = pc.is_in(col, value_set=pa.array(wanted, type=pa.string()))
            if kind in ("email", "phone") and person.hashes:  # Meta's email/phone columns hold hashes
                hashes = pa.array(sorted(person.hashes), type=pa.string())
                matches = pc.or_(pc.fill_null(matches, False), pc.fill_null(pc.is_in(hashed, value_set=hashes), False))
        elif kind == "customer_id" and (pa.types.is_integer(col.type) or pa.types.is_floating(col.type)):
            numbers = [float(v) for v in wanted if re.fullmatch(r"-?\d+", v)]
            if not numbers:
                continue
            matches = pc.is_in(pc.cast(col, pa.float64()), value_set=pa.array(numbers, type=pa.float64()))
        else:
            continue
        matches = pc.fill_null(matches, False)
        hit = matches if hit is None else pc.or_(hit, matches)
    removed = int(pc.sum(hit).as_py() or 0) if hit is not None else 0
    if not removed:
        return 0
    kept = table.filter(pc.invert(hit))
    tmp = path.with_name(f".{path.name}.erasing-{uuid.uuid4().hex[:8]}")
    try:
        if is_parquet:
            pq.write_table(kept, tmp)
        else:
            from targetwise.io.exports import write_csv

            write_csv(kept.to_pandas(), tmp, compression="gzip" if path.suffix == ".gz" else None)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return removed


def _update_audience_record(members_path: Path, person: _Person) -> None:
    """The audience's size after its members file lost the person, and the person out of its definition
    (an audience saved from an id file is ``customer_id in [ids]``)."""
    meta_path = members_path.with_suffix(".json")
    if not meta_path.exists():
        return
    record = json.loads(meta_path.read_text(encoding="utf-8"))
    record["size"] = pq.read_metadata(members_path).num_rows
    for condition in record.get("definition") or []:
        if (isinstance(condition, dict) and condition.get("field") == "customer_id"
                and isinstance(condition.get("value"), list)):
            condition["value"] = [v for v in condition["value"] if not person.matches("customer_id", v)]
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

