"""What models may see: the workspace's tables without the customers who objected to profiling.

This is the one place the profiling objection is applied to model inputs.
:func:`open_model_data` opens an in-memory DuckDB database that attaches the
workspace file read-only and defines views with the canonical names
(``transactions``, ``customers``, ``campaign_exposures``, ``responses``,
``products``, ``campaigns``) over it, each person-level view without the
objectors. Features, labels, training snapshots, the uplift learner's training
rows and the recommenders' lines are all built from these views, so every
model inherits the filter; nothing downstream filters again or can forget to.

Personal data (``customer_pii``) and the consent ledger are not visible here:
models never see them. The named reads below are the only SQL the model layers
need; they return pandas frames in a stable order (sorted by their keys) so a
run on the same data gives the same outputs.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from targetwise.errors import ConfigError, WorkspaceError

if TYPE_CHECKING:  # pragma: no cover
    import duckdb
    from ibis.backends import BaseBackend

    from targetwise.io.workspace import Workspace

__all__ = ["MODEL_TABLES", "PERSON_TABLES", "ModelData", "open_model_data"]

#: person-level tables: rows of objectors are left out
PERSON_TABLES = ("transactions", "customers", "campaign_exposures", "responses", "engagements")
#: every table a model may read (catalogue tables are not about a person)
MODEL_TABLES = (*PERSON_TABLES, "products", "campaigns")

#: the latest decision per customer for one purpose, denied or revoked (also used by io.consent)
LATEST_DENIALS_SQL = """
SELECT customer_id FROM (
    SELECT customer_id, status,
           row_number() OVER (PARTITION BY customer_id ORDER BY recorded_at DESC, load_id DESC, source_row DESC) AS rn
    FROM {consent} WHERE purpose = ?)
WHERE rn = 1 AND status IN ('denied', 'revoked')
"""

_LINE_COLUMNS = "customer_id, order_id, ordered_at, product_id, quantity, unit_price, is_return, is_non_product"


def _ts(value: date | datetime | str | pd.Timestamp) -> datetime:
    return pd.Timestamp(value).to_pydatetime()


#: the most lines one partition of a per-customer aggregate covers on DuckDB (ModelData.partitions_for):
#: about 2.2 GB of DuckDB working memory for the recommenders' pairs (measured at 10M lines in one query)
DUCKDB_LINES_PER_PARTITION = 10_000_000

#: the memory limit ModelData.release_memory lowers DuckDB's to for a moment
_RELEASE_LIMIT = "32MB"


@dataclass
class ModelData:
    """The consent-filtered view of one workspace, open for the duration of a ``with`` block."""

    con: duckdb.DuckDBPyConnection
    objectors: frozenset[str]
    tables: frozenset[str]
    _backend: BaseBackend | None = None
    engine: str = "duckdb"
    #: a limit on the transaction lines one read may bring into memory (None: no limit)
    line_limit: int | None = None
    #: DuckDB's memory limit as set at open (release_memory restores it exactly)
    memory_limit: str | None = None
    #: lines_before's counts per cutoff
    _lines_before: dict[Any, int] = field(default_factory=dict, repr=False)

    # -- engines ---------------------------------------------------------------------------
    @property
    def backend(self) -> BaseBackend:
        """The Ibis backend the heavy work runs on (features, labels, snapshots, aggregates):
        DuckDB over the filtered views, or Spark over the same views staged as Parquet."""
        if self._backend is None:
            from targetwise.io.engines import open_duckdb

            self._backend = open_duckdb(self.con)
        return self._backend

    def partitions_for(self, lines: int) -> int:
        """In how many customer partitions to compute a per-customer aggregate over ``lines`` lines.

        DuckDB holds a grouped aggregate's hash tables whole and does not keep them within its
        ``memory_limit`` (at 100M lines the recommenders' pair aggregate peaked at 16.7 GB under a
        4 GB limit), so on DuckDB such an aggregate runs in partitions of at most
        :data:`DUCKDB_LINES_PER_PARTITION` lines, one after the other; Spark partitions by itself (1).
        """
        if self.engine != "duckdb" or lines <= DUCKDB_LINES_PER_PARTITION:
            return 1
        return -(-int(lines) // DUCKDB_LINES_PER_PARTITION)

    def release_memory(self) -> None:
        """Hand the memory DuckDB keeps after its queries back to the system.

        DuckDB keeps the table blocks it read and the memory its hash tables used (about 0.9 GB
        after the recommenders' aggregates at 10M lines, 5 GB at 100M) until its ``memory_limit``
        is lowered; briefly lowering the limit evicts what no query holds and flushes the
        allocator. Called between stages and after a heavy aggregate; a later query reads the
        blocks it needs again. Nothing here changes a result.
        """
        import duckdb

        if self.memory_limit is None:
            return
        try:
            self.con.execute(f"SET memory_limit = '{_RELEASE_LIMIT}'")
        except duckdb.Error:  # memory a query still holds cannot be evicted: keep what remains
            pass
        finally:
            self.con.execute(f"SET memory_limit = '{self.memory_limit}'")

    def excluded(self) -> int:
        """How many customers the profiling objection keeps out of every model."""
        return len(self.objectors)

    def has(self, table: str) -> bool:
        """Whether the workspace has ``table`` (older workspaces may lack campaign tables)."""
        return table in self.tables

    def _one(self, sql: str, params: list[Any] | None = None) -> Any:
        """The first row of a query, or None; the result is read to its end (DuckDB requires it)."""
        rows = self.con.execute(sql, params or []).fetchall()
        return rows[0] if rows else None

    def lines_before(self, before: date | datetime | str) -> int:
        """Transaction lines with a customer before ``before`` (objectors left out): what a stage that reads
        the lines up to its cutoff covers, for its ``rows_in``. One count on the DuckDB view (cached per
        cutoff), whichever engine runs the stage's queries: Spark reads the same view, staged."""
        key = _ts(before)
        if key not in self._lines_before:
            row = self._one(
                "SELECT count(*) FROM transactions WHERE ordered_at < ? AND customer_id IS NOT NULL", [key]
            )
            self._lines_before[key] = int(row[0]) if row else 0
        return self._lines_before[key]

    # -- named reads -----------------------------------------------------------------------
    def transactions(self, *, before: date | datetime | str | None = None) -> pd.DataFrame:
        """Transaction lines (the recommenders' input), ordered by time, order and product."""
        where, params = ("", []) if before is None else (" WHERE ordered_at < ?", [_ts(before)])
        if self.line_limit is not None:
            (count,) = self._one(f"SELECT count(*) FROM transactions{where}", params)
            if count > self.line_limit:
                raise WorkspaceError(
                    f"reading {count:,} transaction lines into memory is refused (the limit is {self.line_limit:,})",
                    fix="aggregate through the engine (ModelData.backend) instead of reading the lines",
                )
        sql = f"SELECT {_LINE_COLUMNS} FROM transactions{where}"
        return self.con.execute(sql + " ORDER BY ordered_at, order_id, product_id, customer_id", params).df()

    def customers_with_new_lines(
        self, *, since: date | datetime | str, before: date | datetime | str, loads_seen: list[int]
    ) -> list[str]:
        """Customers (objectors left out) with a transaction line before ``before`` that is either at or after
        ``since`` or came with a load not in ``loads_seen`` (a late line): whom ``targetwise rescore``
        recomputes after a run that saw ``loads_seen`` with data up to ``since``. Sorted."""
        rows = self.con.execute(
            "SELECT DISTINCT customer_id FROM transactions WHERE customer_id IS NOT NULL AND ordered_at < ? "
            "AND (ordered_at >= ? OR NOT list_contains(?::BIGINT[], load_id)) ORDER BY customer_id",
            [_ts(before), _ts(since), [int(x) for x in loads_seen]],
        ).fetchall()
        return [str(r[0]) for r in rows]

    def products(self) -> pd.DataFrame:
        """The catalogue (id, name, description, category, price, active), ordered by id."""
        return self.con.execute(
            "SELECT product_id, name, description, category, price, coalesce(active, true) AS active "
            "FROM products ORDER BY product_id"
        ).df()

    def first_ordered_at(self) -> pd.Timestamp | None:
        (first,) = self._one("SELECT min(ordered_at) FROM transactions")
        return None if first is None else pd.Timestamp(first)

    def latest_campaign(self, *, before: date | datetime | str) -> tuple[str, pd.Timestamp] | None:
        """The campaign whose first send is the latest before ``before``: (campaign_id, first sent_at)."""
        if not self.has("campaign_exposures"):
            return None
        row = self._one(
            "SELECT campaign_id, min(sent_at) AS sent_at FROM campaign_exposures WHERE sent_at < ? "
            "GROUP BY 1 ORDER BY sent_at DESC, campaign_id LIMIT 1",
            [_ts(before)],
        )
        return None if row is None else (str(row[0]), pd.Timestamp(row[1]))

    def exposures(self, campaign_id: str) -> pd.DataFrame:
        """One row per exposed customer: arm, sent_at, whether they converted (a ``conversion`` response) and
        ``revenue``, the sum of their conversion responses' revenue (0 for none)."""
        return self.con.execute(
            """
            SELECT e.customer_id, e.arm, e.sent_at,
                   EXISTS (SELECT 1 FROM responses r WHERE r.campaign_id = e.campaign_id
                           AND r.customer_id = e.customer_id AND r.response_type = 'conversion') AS converted,
                   coalesce((SELECT sum(coalesce(r.revenue, 0)) FROM responses r WHERE r.campaign_id = e.campaign_id
                             AND r.customer_id = e.customer_id AND r.response_type = 'conversion'), 0.0) AS revenue
            FROM campaign_exposures e WHERE e.campaign_id = ? ORDER BY e.customer_id
            """,
            [campaign_id],
        ).df()

    def purchase_days(self, *, before: date | datetime | str) -> pd.DataFrame:
        """(customer_id, day) of every day a customer bought (returns and non-product lines left out),
        aggregated by the engine."""
        t = self.backend.table("transactions")
        days = (
            t.filter(~t.is_return, ~t.is_non_product, t.ordered_at < _lit(before))
            .select(customer_id=t.customer_id, day=t.ordered_at.date())
            .distinct()
            .order_by(["customer_id", "day"])
        )
        frame = days.to_pandas()
        frame["day"] = pd.to_datetime(frame["day"]).astype("datetime64[us]")
        return frame

    def holdout_frequency(
        self, start: date | datetime | str, end: date | datetime | str, *, time_unit: str = "D"
    ) -> pd.DataFrame:
        """Purchase periods per customer in ``[start, end)`` (customers with none are absent), by the engine.

        ``time_unit`` "D" counts purchase days, "W" purchase weeks (Monday to Sunday, the periods of the
        BTYD features), so the count is in the unit the transaction model was fitted in.
        """
        if time_unit not in ("D", "W"):
            raise ConfigError(f"unknown time unit {time_unit!r} for holdout_frequency", fix="use D (days) or W (weeks)")
        t = self.backend.table("transactions")
        window = t.filter(~t.is_return, ~t.is_non_product, t.ordered_at >= _lit(start), t.ordered_at < _lit(end))
        day = window.ordered_at.date()
        window = window.select(customer_id=window.customer_id, period=day if time_unit == "D" else day.truncate("W"))
        counts = window.group_by("customer_id").aggregate(holdout_frequency=window.period.nunique().cast("int64"))
        return counts.order_by("customer_id").to_pandas()


def _lit(value: date | datetime | str | pd.Timestamp) -> Any:
    import ibis

    return ibis.literal(_ts(value), type="timestamp")


@contextlib.contextmanager
def open_model_data(
    workspace: Workspace,
    *,
    engine: str = "duckdb",
    spark_session: Any | None = None,
    spark_connect_url: str | None = None,
    line_limit: int | None = None,
) -> Iterator[ModelData]:
    """The workspace as models may see it (see the module docstring); read-only, closed on exit.

    ``engine="spark"``: the heavy work (features, labels, snapshots, the recommenders' and
    CLV's aggregates) runs on Spark, a local session, ``spark_session`` or Spark Connect at
    ``spark_connect_url``. The consent-filtered views are staged as Parquet files in a
    temporary folder (removed on exit) and read by Spark as temporary views with the same
    names, so objectors never reach Spark. With Spark Connect that folder must be one the
    Spark server can read (a shared file system). ``line_limit``
    refuses any read of more transaction lines into memory (tests use it to prove that no
    stage does).
    """
    import duckdb

    from targetwise.io.engines import ENGINES

    if engine not in ENGINES:
        from targetwise.errors import ConfigError

        raise ConfigError(f"unknown engine {engine!r}", fix=f"use one of: {', '.join(ENGINES)}")
    con = duckdb.connect()
    staging: str | None = None
    try:
        con.execute("SET TimeZone = 'UTC'")
        con.execute(f"SET memory_limit = '{workspace.settings.duckdb_memory_limit}'")
        # what DuckDB spills goes beside the workspace file, as for a connection to the file itself
        # (an in-memory database would spill into ./.tmp of whatever folder the process runs in)
        spill = (str(workspace.db_path) + ".tmp").replace("'", "''")
        con.execute(f"SET temp_directory = '{spill}'")
        if workspace.settings.duckdb_threads:
            con.execute(f"SET threads = {int(workspace.settings.duckdb_threads)}")
        path = str(workspace.db_path).replace("'", "''")
        try:
            con.execute(f"ATTACH '{path}' AS ws (READ_ONLY)")
        except duckdb.Error as exc:
            raise WorkspaceError(
                f"cannot open workspace database {workspace.db_path}: {exc}",
                fix="check that no other targetwise process is writing to this workspace",
            ) from None
        con.execute(
            "CREATE TABLE objectors AS " + LATEST_DENIALS_SQL.format(consent="ws.main.consent"), ["profiling"]
        )
        present = {r[0] for r in con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_catalog = 'ws'"
        ).fetchall()}
        for name in MODEL_TABLES:
            if name not in present:
                continue
            if name in PERSON_TABLES:
                con.execute(
                    f"CREATE VIEW main.{name} AS SELECT t.* FROM ws.main.{name} t "
                    "WHERE NOT EXISTS (SELECT 1 FROM objectors o WHERE o.customer_id = t.customer_id)"
                )
            else:
                con.execute(f"CREATE VIEW main.{name} AS SELECT * FROM ws.main.{name}")
        objectors = frozenset(str(r[0]) for r in con.execute("SELECT customer_id FROM objectors").fetchall())
        tables = frozenset(present) & frozenset(MODEL_TABLES)
        data = ModelData(
            con=con, objectors=objectors, tables=tables, engine=engine, line_limit=line_limit,
            memory_limit=workspace.settings.duckdb_memory_limit,
        )
        if engine == "spark":
            staging = _stage_for_spark(
                data, spark_session, spark_connect_url, staging_root=workspace.settings.spark_staging_dir
            )
        yield data
    finally:
        con.close()
        if staging is not None:
            import shutil

            shutil.rmtree(staging, ignore_errors=True)


#: the views Spark gets (the heavy reads need only these)
SPARK_TABLES = ("transactions", "products")


def _stage_for_spark(
    data: ModelData, session: Any | None, connect_url: str | None, *, staging_root: Path | None = None
) -> str:
    """Copy the filtered views to Parquet and make them Spark temporary views; the staging folder
    (a new subfolder of ``staging_root``, the setting ``spark_staging_dir``, or of the system's temporary folder)."""
    import tempfile

    from targetwise.io.engines import open_spark

    if staging_root is not None:
        try:
            Path(staging_root).mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise WorkspaceError(
                f"cannot create the Spark staging folder {staging_root}: {exc.strerror or exc}",
                fix="set TARGETWISE_SPARK_STAGING_DIR to a writable folder the Spark server can read",
            ) from None
    staging = tempfile.mkdtemp(prefix="targetwise-spark-", dir=None if staging_root is None else str(staging_root))
    backend = open_spark(session, connect_url=connect_url)
    for name in SPARK_TABLES:
        if name not in data.tables:
            continue
        target = str(Path(staging) / f"{name}.parquet").replace("'", "''")
        data.con.execute(f"COPY (SELECT * FROM main.{name}) TO '{target}' (FORMAT parquet)")
        backend._session.read.parquet(target).createOrReplaceTempView(name)
    data._backend = backend
    return staging
