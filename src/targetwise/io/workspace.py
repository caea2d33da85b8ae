"""The workspace: one folder holding a DuckDB file and a versioned ``artifacts/`` tree.

All SQL against the workspace goes through :class:`Workspace`; nothing else opens
the DuckDB file. Sessions are always UTC (see ENGINE-NOTES pitfall 4).

Layout::

    WORKSPACE/
      targetwise.duckdb        canonical tables (see targetwise.schema)
      workspace.json           format version and creation time
      artifacts/runs/          immutable, versioned model runs (one folder each)
      artifacts/exports/       audience and score exports
      artifacts/reports/       HTML reports and plots
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb

from targetwise.config import Settings
from targetwise.errors import WorkspaceError
from targetwise.schema import TABLES, TableSpec, ddl

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__all__ = ["DB_FILE", "FORMAT_VERSION", "LOAD_SEQUENCE", "CampaignStatus", "TableStatus", "Workspace", "WorkspaceStatus"]

DB_FILE = "targetwise.duckdb"
MARKER_FILE = "workspace.json"
# 1: the first layout. 2: derivable columns (is_return, line_amount, line_hash) computed on read.
# 3: load ids are numbers (1, 2, 3 ... from the sequence LOAD_SEQUENCE), not text like 'L20260101...-1a2b':
#    a text constant on every stored line cost ~0.5 s per 10M lines to write.
# 4: tables `load_columns` (source column of each canonical column, per load: erasure finds identity fields
#    in quarantined raw rows by column) and `suppressions` (erased people, as keyed pseudonyms only).
# 5: tables `offers` and `offer_decisions` (next-best offers: the catalogue and the decision log).
FORMAT_VERSION = 5
LOAD_SEQUENCE = "load_numbers"
ARTIFACT_DIRS = ("runs", "exports", "reports", "audiences")

# Tables whose time column is shown as the date range in `status`.
_TIME_COLUMNS = {
    "transactions": "ordered_at",
    "anonymous_transactions": "ordered_at",
    "campaign_exposures": "sent_at",
    "responses": "responded_at",
    "consent": "recorded_at",
    "engagements": "occurred_at",
    "offer_decisions": "decided_at",
    "customers": "signup_at",
}


@dataclass(frozen=True)
class TableStatus:
    name: str
    rows: int
    first: datetime | None
    last: datetime | None


@dataclass(frozen=True)
class CampaignStatus:
    """One campaign as `status` lists it: from the campaigns table, its exposures, or both."""

    campaign_id: str
    name: str | None
    channel: str | None
    exposures: int
    control: int  # exposures in the control arm (the holdout)
    responses: int
    first_sent: datetime | None
    last_sent: datetime | None


@dataclass(frozen=True)
class WorkspaceStatus:
    path: Path
    tables: tuple[TableStatus, ...]
    loads: int
    last_load_at: datetime | None
    last_run: str | None
    campaigns: tuple[CampaignStatus, ...] = ()


class Workspace:
    """A targetwise workspace folder. Create with :meth:`init`, open with :meth:`open`."""

    def __init__(self, path: Path, settings: Settings) -> None:
        self.path = Path(path)
        self.settings = settings

    # -- lifecycle -------------------------------------------------------------------------
    @classmethod
    def init(cls, path: Path | str, settings: Settings) -> Workspace:
        """Create (or upgrade in place) a workspace at ``path``; safe to call twice."""
        root = Path(path)
        if root.exists() and not root.is_dir():
            raise WorkspaceError(
                f"cannot create a workspace at {root}: a file with that name exists",
                fix="choose another folder name",
            )
        if root.is_dir() and any(root.iterdir()) and not (root / MARKER_FILE).exists():
            raise WorkspaceError(
                f"folder {root} is not empty and is not a targetwise workspace",
                fix="choose an empty or new folder, so no existing file is touched",
            )
        try:
            root.mkdir(parents=True, exist_ok=True)
            for name in ARTIFACT_DIRS:
                (root / "artifacts" / name).mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise WorkspaceError(
                f"cannot create workspace folder {root}: {exc.strerror}",
                fix="check the path and that you may write there",
            ) from None
        ws = cls(root, settings)
        marker = root / MARKER_FILE
        if marker.exists():
            ws._check_format()
        new_file = not ws.db_path.exists()
        with ws.connect() as con:
            _create_tables(con, new_file=new_file)
        if not marker.exists():
            _write_marker(marker, {"format_version": FORMAT_VERSION, "created_at": datetime.now(UTC).isoformat()})
        else:
            ws._mark_current()
        return ws

    @classmethod
    def open(cls, path: Path | str, settings: Settings) -> Workspace:
        """Open an existing workspace; a clear error if the folder is not one."""
        root = Path(path)
        if not (root / MARKER_FILE).exists() or not (root / DB_FILE).exists():
            raise WorkspaceError(
                f"{root} is not a targetwise workspace",
                fix=f"create it with `targetwise init {root}` or point TARGETWISE_WORKSPACE at an existing one",
            )
        ws = cls(root, settings)
        if ws._check_format() < FORMAT_VERSION:
            ws._upgrade()
        return ws

    def _check_format(self) -> int:
        version = int(json.loads((self.path / MARKER_FILE).read_text()).get("format_version", 0))
        if version > FORMAT_VERSION:
            raise WorkspaceError(
                f"workspace {self.path} has format version {version}, newer than this "
                f"targetwise understands ({FORMAT_VERSION})",
                fix="upgrade targetwise",
            )
        return version

    def _upgrade(self) -> None:
        """Bring a workspace written by an earlier targetwise to this format: one transaction, then the
        marker (an upgrade interrupted in between is found done and only re-marked next time)."""
        try:
            with self.connect() as con:
                _create_tables(con)
        except WorkspaceError as exc:
            raise WorkspaceError(
                f"workspace {self.path} was written by an earlier targetwise and needs a one-time upgrade, "
                f"which needs write access: {exc.message}",
                fix="stop other targetwise processes using it (the service, a running job) and run "
                "`targetwise status` once",
            ) from None
        self._mark_current()

    def _mark_current(self) -> None:
        marker = self.path / MARKER_FILE
        meta = json.loads(marker.read_text())
        if meta.get("format_version") != FORMAT_VERSION:
            _write_marker(marker, {**meta, "format_version": FORMAT_VERSION})

    # -- paths -----------------------------------------------------------------------------
    @property
    def db_path(self) -> Path:
        return self.path / DB_FILE

    @property
    def artifacts(self) -> Path:
        return self.path / "artifacts"

    @property
    def runs_dir(self) -> Path:
        return self.artifacts / "runs"

    @property
    def exports_dir(self) -> Path:
        return self.artifacts / "exports"

    @property
    def reports_dir(self) -> Path:
        return self.artifacts / "reports"

    # -- connections -----------------------------------------------------------------------
    @contextmanager
    def connect(self, *, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        """A DuckDB connection to the workspace file, UTC, with the configured limits."""
        try:
            con = duckdb.connect(str(self.db_path), read_only=read_only)
        except duckdb.IOException as exc:
            raise WorkspaceError(
                f"cannot open workspace database {self.db_path}: {exc}",
                fix="check that no other targetwise process is writing to this workspace and that "
                "the folder is writable",
            ) from None
        try:
            con.execute("SET TimeZone='UTC'")
            con.execute(f"SET memory_limit='{self.settings.duckdb_memory_limit}'")
            if self.settings.duckdb_threads:
                con.execute(f"SET threads={int(self.settings.duckdb_threads)}")
            yield con
        finally:
            con.close()

    # -- named reads (what the layers above io may ask of the database) --------------------
    def product_names(self) -> dict[str, str]:
        """product_id -> name from the catalogue ({} before products are loaded)."""
        with self.connect(read_only=True) as con:
            rows = con.execute("SELECT product_id, name FROM products WHERE name IS NOT NULL").fetchall()
        return {str(pid): str(name) for pid, name in rows}

    def pii_for(self, customer_ids: list[str]) -> pd.DataFrame:
        """customer_id, email, phone of the given customers (for destinations that match on them)."""
        import pandas as pd

        wanted = pd.DataFrame({"customer_id": pd.Series(list(customer_ids), dtype=object)})
        with self.connect(read_only=True) as con:
            con.register("wanted", wanted)
            try:
                return con.execute(
                    "SELECT p.customer_id, p.email, p.phone FROM customer_pii p JOIN wanted w USING (customer_id) "
                    "ORDER BY p.customer_id"
                ).df()
            finally:
                con.unregister("wanted")

    def identifying_values(self) -> tuple[set[str], set[str], set[str]]:
        """Every customer id (customers, customer_pii, transactions), e-mail and phone in the workspace.

        What a prompt to a model endpoint must never contain (``targetwise.assist.scrub``).
        """
        with self.connect(read_only=True) as con:
            ids = con.execute(
                "SELECT customer_id FROM customers UNION SELECT customer_id FROM customer_pii "
                "UNION SELECT DISTINCT customer_id FROM transactions WHERE customer_id IS NOT NULL"
            ).fetchall()
            contacts = con.execute("SELECT email, phone FROM customer_pii").fetchall()
        emails = {str(e) for e, _ in contacts if e}
        phones = {str(p) for _, p in contacts if p}
        return {str(i) for (i,) in ids if i is not None}, emails, phones

    def last_ordered_at(self) -> datetime | None:
        """The time of the latest transaction line (None when there are none)."""
        with self.connect(read_only=True) as con:
            rows = con.execute("SELECT max(ordered_at) FROM transactions").fetchall()
        return rows[0][0] if rows else None

    def campaign_outcomes(
        self, campaign_id: str, *, response_type: str = "conversion", pre_period_days: int | None = None
    ) -> pd.DataFrame:
        """Per exposed customer of a campaign: arm, converted (any response of the type) and revenue.

        With ``pre_period_days``, also ``pre_spend``: the customer's net product spend (returns
        subtracted, postage and fees left out) in the ``pre_period_days`` days before their send,
        0 for none (the CUPED covariate).
        """
        pre = ""
        params: list[object] = [campaign_id, response_type, campaign_id]
        if pre_period_days is not None:
            pre = """,
                       coalesce((SELECT sum(t.line_amount) FROM transactions t
                                 WHERE t.customer_id = e.customer_id AND NOT t.is_non_product
                                   AND t.ordered_at < e.sent_at
                                   AND t.ordered_at >= e.sent_at - to_days(CAST(? AS INTEGER))), 0.0) AS pre_spend"""
            params = [int(pre_period_days), *params]
        with self.connect(read_only=True) as con:
            return con.execute(
                f"""
                SELECT e.customer_id, e.arm,
                       coalesce(r.n, 0) > 0 AS converted, coalesce(r.revenue, 0.0) AS revenue{pre}
                FROM campaign_exposures e
                LEFT JOIN (SELECT customer_id, count(*) AS n, sum(coalesce(revenue, 0)) AS revenue
                           FROM responses WHERE campaign_id = ? AND response_type = ? GROUP BY 1) r USING (customer_id)
                WHERE e.campaign_id = ?
                ORDER BY e.customer_id
                """,
                params,
            ).df()

    # -- status ----------------------------------------------------------------------------
    def status(self) -> WorkspaceStatus:
        tables: list[TableStatus] = []
        with self.connect(read_only=True) as con:
            for name in TABLES:
                column = _TIME_COLUMNS.get(name)
                if column:
                    rows, first, last = con.execute(
                        f"SELECT count(*), min({column}), max({column}) FROM {name}"
                    ).fetchone()  # type: ignore[misc]
                else:
                    (rows,) = con.execute(f"SELECT count(*) FROM {name}").fetchone()  # type: ignore[misc]
                    first = last = None
                tables.append(TableStatus(name, int(rows), first, last))
            loads, last_load = con.execute("SELECT count(*), max(finished_at) FROM loads").fetchone()  # type: ignore[misc]
            campaigns = _campaigns(con)
        return WorkspaceStatus(
            path=self.path,
            tables=tuple(tables),
            loads=int(loads),
            last_load_at=last_load,
            last_run=self._last_run(),
            campaigns=campaigns,
        )

    def _last_run(self) -> str | None:
        if not self.runs_dir.exists():
            return None
        runs = sorted(p.name for p in self.runs_dir.iterdir() if (p / "manifest.json").exists())
        return runs[-1] if runs else None


def _campaigns(con: duckdb.DuckDBPyConnection) -> tuple[CampaignStatus, ...]:
    """Every campaign id in campaigns or campaign_exposures, with its exposures, holdout, responses and send
    dates, by id (the ids `campaign measure --campaign` takes)."""
    rows = con.execute(
        """
        WITH e AS (
            SELECT campaign_id, count(*) AS n, count(*) FILTER (arm = 'control') AS control,
                   min(sent_at) AS first_sent, max(sent_at) AS last_sent
            FROM campaign_exposures GROUP BY campaign_id),
        r AS (SELECT campaign_id, count(*) AS n FROM responses GROUP BY campaign_id),
        ids AS (SELECT campaign_id FROM campaigns UNION SELECT campaign_id FROM e)
        SELECT ids.campaign_id, c.name, c.channel, coalesce(e.n, 0), coalesce(e.control, 0), coalesce(r.n, 0),
               e.first_sent, e.last_sent
        FROM ids LEFT JOIN campaigns c USING (campaign_id) LEFT JOIN e USING (campaign_id)
        LEFT JOIN r USING (campaign_id)
        ORDER BY ids.campaign_id
        """
    ).fetchall()
    return tuple(
        CampaignStatus(str(cid), name, channel, int(n), int(control), int(responses), first, last)
        for cid, name, channel, n, control, responses, first, last in rows
    )


def _write_marker(marker: Path, meta: dict[str, object]) -> None:
    tmp = marker.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(meta, indent=2))
    tmp.replace(marker)  # atomic: a reader sees the old or the new marker, never half of one


def _create_tables(con: duckdb.DuckDBPyConnection, *, new_file: bool = False) -> None:
    """Every canonical table and the load-number sequence; tables an earlier format wrote are rebuilt
    first (same rows and values). One transaction."""
    con.execute("BEGIN TRANSACTION")
    # one catalogue query for every table (a query per table cost ~0.03 s on each init); a database
    # file created just now holds nothing to upgrade (the query alone took 0.02-0.06 s)
    present = {} if new_file else {
        (table, column): (data_type, generated)
        for table, column, data_type, generated in con.execute(
            "SELECT table_name, column_name, data_type, is_generated FROM information_schema.columns "
            "WHERE table_schema = 'main'"
        ).fetchall()
    }
    text_loads = [spec for spec in TABLES.values() if present.get((spec.name, "load_id"), ("",))[0] == "VARCHAR"]
    if text_loads:
        _number_loads(con, text_loads)
    for spec in TABLES.values():
        format1 = any(present.get((spec.name, c.name), ("", ""))[1] == "NEVER" for c in spec.all_columns if c.generated)
        if format1 or spec in text_loads:
            _upgrade_table(con, spec)
        con.execute(ddl(spec))
    if text_loads:
        con.execute("DROP TABLE load_numbers_upgrade")
    (last,) = con.execute("SELECT coalesce(max(load_id), 0) FROM loads").fetchone()  # type: ignore[misc]
    con.execute(f"CREATE SEQUENCE IF NOT EXISTS {LOAD_SEQUENCE} START {int(last) + 1}")
    con.execute("COMMIT")


def _number_loads(con: duckdb.DuckDBPyConnection, specs: list[TableSpec]) -> None:
    """The temp table ``load_numbers_upgrade(old, new)``: every text load id of ``specs`` numbered 1, 2, 3
    ... in the order the loads began (ids without a ``loads`` row last, alphabetically)."""
    ids = " UNION ".join(f"SELECT load_id FROM {spec.name}" for spec in specs)
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE load_numbers_upgrade AS
        SELECT ids.load_id AS old,
               row_number() OVER (ORDER BY l.started_at IS NULL, l.started_at, ids.load_id) AS new
        FROM ({ids}) ids LEFT JOIN (SELECT load_id, min(started_at) AS started_at FROM loads GROUP BY 1) l
          ON l.load_id = ids.load_id
        WHERE ids.load_id IS NOT NULL
        """
    )


def _upgrade_table(con: duckdb.DuckDBPyConnection, spec: TableSpec) -> None:
    """Rebuild a table an earlier format wrote: computed-on-read columns no longer stored (format 1),
    text load ids replaced by their numbers from ``load_numbers_upgrade`` (formats 1 and 2)."""
    names = [c.name for c in spec.stored_columns]
    old = f"{spec.name}__old"
    con.execute(f"ALTER TABLE {spec.name} RENAME TO {old}")
    con.execute(ddl(spec))
    if "load_id" in names:
        values = ", ".join("m.new" if n == "load_id" else f"o.{n}" for n in names)
        source = f"{old} o LEFT JOIN load_numbers_upgrade m ON m.old = o.load_id"
    else:
        values, source = ", ".join(f"o.{n}" for n in names), f"{old} o"
    con.execute(f"INSERT INTO {spec.name} ({', '.join(names)}) SELECT {values} FROM {source}")
    con.execute(f"DROP TABLE {old}")
