"""Open Ibis backends on DuckDB or Spark, always in UTC, and write results.

Feature definitions are Ibis expressions; this module is the only place that
turns a DuckDB connection/file, a SparkSession or a Spark Connect URL into an
Ibis backend. Every session opened or adopted here runs in UTC: timestamps are
naive UTC in the workspace and a host time zone must never shift them.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import ibis

from targetwise.errors import ConfigError, WorkspaceError

if TYPE_CHECKING:  # pragma: no cover
    import duckdb
    import pandas as pd
    from ibis.backends import BaseBackend

__all__ = [
    "ENGINES",
    "Engine",
    "fetch_frame",
    "fetch_frames",
    "new_spark_session",
    "open_backend",
    "open_duckdb",
    "open_spark",
    "spark_from_duckdb",
    "write_parquet",
]

Engine = Literal["duckdb", "spark"]
ENGINES: tuple[str, ...] = ("duckdb", "spark")

SPARK_FIX = "install the extra with `pip install 'targetwise[spark]'` (PySpark 3.5-4.0) and a Java 17 runtime"


def fetch_frame(expr: Any, *, categories: Sequence[str] = (), batch_rows: int = 1_000_000) -> pd.DataFrame:
    """``expr.to_pandas()``, the same frame, without a Python object per value of a column with nulls.

    Ibis (12) builds every column that holds a null from ``to_pylist()`` on DuckDB, so a 3.9M-row
    aggregate with one nullable timestamp makes 3.9M ``datetime`` objects before converting them back
    (at 10M lines: 1.2 GB more peak memory and 8 s more than through Arrow). Here such columns go
    through Arrow like the others; timestamps with nulls are given the nanosecond unit Ibis gives them,
    then Ibis's own conversion to the expression's schema runs, so the frame is equal, dtypes included
    (tests/test_fetch_frame.py). Nested and dictionary columns, and other backends, take Ibis's path.

    ``categories`` names string columns of a table expression to return as a pandas ``Categorical``
    whose categories are the column's distinct values in sorted order (the codes
    ``pd.factorize(sort=True)`` gives): four bytes a row instead of a pointer to a string. On DuckDB
    such a result is streamed in batches of ``batch_rows`` rows whose category columns are
    dictionary-encoded as they arrive, so the strings are never all held at once, and each column
    leaves Arrow as soon as it is converted.
    """
    return fetch_frames([expr], categories=categories, batch_rows=batch_rows)


def fetch_frames(
    exprs: Sequence[Any], *, categories: Sequence[str] = (), batch_rows: int = 1_000_000,
    after_each: Callable[[], None] | None = None,
) -> pd.DataFrame:
    """The rows of every expression of ``exprs`` (same schema, same backend) in one frame, in turn:
    :func:`fetch_frame` of each, concatenated, the ``categories`` columns' categories those of all rows.

    With ``categories`` on DuckDB one query runs at a time and its batches are encoded before the
    next starts, so a large aggregate computed in partitions (e.g. per hash of the customer id) holds
    one partition's working memory at a time and its strings never; ``after_each`` is called once
    each query's rows are read (e.g. ``ModelData.release_memory``, so the next starts without the
    last one's working memory)."""
    import pandas as pd
    from ibis.expr.types import Table

    if not exprs:
        raise ValueError("fetch_frames: no expression to fetch")
    names = list(categories)
    if names and not all(isinstance(expr, Table) for expr in exprs):
        raise TypeError("fetch_frame: categories apply to a table expression")
    backend = exprs[0]._find_backend()
    after = after_each or (lambda: None)
    if getattr(backend, "name", None) != "duckdb":
        frames = list(_each(exprs, lambda e: e.to_pandas(), after))
        frame = frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)
        for name in names:
            frame[name] = _sorted_categorical(frame[name].astype("category"))
        return frame
    from ibis.backends.duckdb.converter import DuckDBPandasData

    if not names and len(exprs) > 1:
        return pd.concat(_each(exprs, lambda e: fetch_frame(e, batch_rows=batch_rows), after), ignore_index=True)
    expr = exprs[0]
    tables = [e.as_table() for e in exprs]
    schema = tables[0].schema()
    if names:
        table = _encoded_batches(backend, tables, names, batch_rows, after)
    else:
        table = tables[0].to_pyarrow()
        after()
    columns: dict[str, Any] = {}
    for name in schema.names:
        column = _pandas_column(table.column(name), categorical=name in names, dtype=schema[name])
        table = table.drop_columns([name])  # the column's Arrow buffers go once it is converted
        # Ibis's conversion to the schema's type, column by column (its convert_table builds one more
        # frame of every column)
        columns[name] = column if name in names else DuckDBPandasData.convert_column(column, schema[name])
    frame = pd.DataFrame(columns, copy=False)  # the columns as they are: no block of every column copied
    return frame if names else expr.__pandas_result__(frame)


def _each(exprs: Sequence[Any], fetch: Callable[[Any], Any], after: Callable[[], None]) -> Iterator[Any]:
    """``fetch`` of each expression in turn, ``after`` called once each result is read."""
    for expr in exprs:
        yield fetch(expr)
        after()


def _encoded_batches(
    backend: Any, tables: list[Any], names: list[str], batch_rows: int, after: Callable[[], None]
) -> Any:
    """The tables' results as one Arrow table, streamed query by query (``after`` called after each),
    the ``names`` columns dictionary-encoded batch by batch."""
    import pyarrow as pa
    import pyarrow.compute as pc

    batches = []
    encoded = None
    for table in tables:
        # Ibis 12's to_pyarrow_batches calls a cursor method DuckDB 2 no longer has; the relation Ibis's
        # to_pyarrow reads streams the same rows
        reader = backend._to_duckdb_relation(table).to_arrow_reader(batch_rows)
        schema = reader.schema
        if encoded is None:
            encoded = pa.schema([
                pa.field(f.name, pa.dictionary(pa.int32(), f.type)) if f.name in names else f for f in schema
            ])
        for batch in reader:
            arrays = [
                pc.dictionary_encode(batch.column(i)) if field.name in names else batch.column(i)
                for i, field in enumerate(schema)
            ]
            batches.append(pa.RecordBatch.from_arrays(arrays, schema=encoded))
        del reader  # the query's result goes before after() (e.g. a release of DuckDB's memory)
        after()
    return pa.Table.from_batches(batches, schema=encoded).unify_dictionaries()


def _pandas_column(column: Any, *, categorical: bool, dtype: Any) -> Any:
    import pyarrow.types as pat

    if categorical:
        return _sorted_categorical(column.to_pandas())
    if dtype.is_integer() and pat.is_decimal(column.type) and not column.null_count:
        # DuckDB sums integers as HUGEINT, which reaches Arrow as decimal128 and pandas as one Python
        # object per value; Ibis converts them to the integer its schema says. Arrow's checked cast
        # gives the same integers (an overflow or a fraction raises) without the objects
        column = column.cast(dtype.to_pyarrow())
    if pat.is_nested(column.type) or pat.is_dictionary(column.type):
        import pandas as pd

        values = column.to_pylist()  # (no values: float64, as a frame built from an empty list has it)
        return pd.Series(values, dtype=object if values else "float64")
    values = column.to_pandas()
    if column.null_count and pat.is_timestamp(column.type):
        tz = column.type.tz
        values = values.astype(f"datetime64[ns, {tz}]" if tz else "datetime64[ns]")
    return values


def _sorted_categorical(values: pd.Series) -> pd.Series:
    """The categorical with its unused categories dropped and the others in sorted order."""
    values = values.cat.remove_unused_categories()
    return values.cat.reorder_categories(sorted(values.cat.categories))


def open_duckdb(
    source: duckdb.DuckDBPyConnection | str | os.PathLike[str] | None = None,
    *,
    read_only: bool = True,
    memory_limit: str | None = None,
    threads: int | None = None,
) -> BaseBackend:
    """Ibis DuckDB backend over a connection or a database file (``None`` = in memory), in UTC.

    A given connection is adopted as is (apart from the time zone, memory limit and
    threads); a path is opened read-only by default because features only read.
    """
    import duckdb

    if source is None:
        con = duckdb.connect()
    elif isinstance(source, duckdb.DuckDBPyConnection):
        con = source
    else:
        path = Path(source)
        if not path.exists():
            raise WorkspaceError(
                f"DuckDB database {str(path)!r} does not exist",
                fix="run `targetwise init` and `targetwise ingest` first, or pass the workspace's DuckDB file",
            )
        try:
            con = duckdb.connect(str(path), read_only=read_only)
        except duckdb.Error as exc:
            raise WorkspaceError(
                f"cannot open DuckDB database {str(path)!r}: {exc}",
                fix="close other processes writing to it, or pass an open connection",
            ) from None
    con.execute("SET TimeZone = 'UTC'")
    if memory_limit is not None:
        con.execute(f"SET memory_limit = '{memory_limit}'")
    if threads is not None:
        con.execute(f"SET threads = {int(threads)}")
    return ibis.duckdb.from_connection(con)


def _require_pyspark() -> Any:
    try:
        import pyspark  # noqa: F401
        from pyspark.sql import SparkSession
    except ImportError:
        raise ConfigError("the Spark engine needs PySpark, which is not installed", fix=SPARK_FIX) from None
    return SparkSession


def new_spark_session(
    *,
    master: str = "local[2]",
    driver_memory: str = "2g",
    app_name: str = "targetwise",
    extra_conf: dict[str, str] | None = None,
    java_options: str = "",
) -> Any:
    """A new (or the active) local SparkSession configured for targetwise: UTC, micros timestamps, 2 partitions.

    ``java_options`` are added to the driver JVM's options (with the UTC time zone, which is always set), e.g.
    ``-XX:TieredStopAtLevel=1 -XX:+UseSerialGC`` for short local sessions such as tests: the JIT's C2 compiler
    and parallel GC threads cost a short session more CPU than they save (the test suite's session: about a
    third less CPU for the session start and its first queries, see benchmarks/results/suite_time.md).
    """
    spark_session_cls = _require_pyspark()
    java_home = os.environ.get("JAVA_HOME")
    if shutil.which("java") is None and not (java_home and Path(java_home, "bin", "java").exists()):
        raise ConfigError(
            "the Spark engine needs a Java runtime, and none was found on PATH or JAVA_HOME", fix=SPARK_FIX
        )
    builder = (
        spark_session_cls.builder.master(master)
        .appName(app_name)
        .config("spark.driver.memory", driver_memory)
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.driver.extraJavaOptions", f"-Duser.timezone=UTC {java_options}".strip())
        .config("spark.executor.extraJavaOptions", "-Duser.timezone=UTC")
        .config("spark.sql.parquet.outputTimestampType", "TIMESTAMP_MICROS")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.ansi.enabled", "false")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
    )
    for key, value in (extra_conf or {}).items():
        builder = builder.config(key, value)
    try:
        return builder.getOrCreate()
    except Exception as exc:  # Java gateway failures surface as several exception types
        raise ConfigError(
            f"could not start a local Spark session: {exc}".splitlines()[0], fix=SPARK_FIX
        ) from None


def _configure_spark(session: Any) -> None:
    """Make an adopted session safe for targetwise: UTC and portable Parquet timestamps; results collected
    through Arrow (a 258k-row pair aggregate reached pandas in 16 s instead of 29-72 s row by row on the
    2-core box; Spark falls back to rows by itself for a type Arrow cannot carry)."""
    session.conf.set("spark.sql.session.timeZone", "UTC")
    session.conf.set("spark.sql.parquet.outputTimestampType", "TIMESTAMP_MICROS")
    session.conf.set("spark.sql.execution.arrow.pyspark.enabled", "true")


def _probe_connect(url: str, timeout_s: float = 5.0) -> None:
    """Fail fast when nothing listens at a Spark Connect URL.

    PySpark's Connect client retries an unreachable server with backoff for minutes before it
    reports anything; one TCP connect with a timeout turns a wrong host or port, or a server that
    is down, into one clear error within seconds.
    """
    import socket
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url.split(";", 1)[0])
        host, port = parts.hostname, parts.port or 15002
    except ValueError as exc:
        raise ConfigError(f"malformed Spark Connect URL {url!r}: {exc}", fix="use e.g. sc://localhost:15002") from None
    if not host:
        raise ConfigError(f"Spark Connect URL {url!r} names no host", fix="use e.g. sc://localhost:15002")
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            pass
    except OSError as exc:
        raise ConfigError(
            f"could not reach Spark Connect at {url}: nothing answers at {host}:{port} ({exc})",
            fix="check the host and port, and that the Spark Connect server runs "
            "(start-connect-server.sh, default port 15002)",
        ) from None


def open_spark(
    session: Any | None = None, *, connect_url: str | None = None, **session_options: Any
) -> BaseBackend:
    """Ibis PySpark backend over a given SparkSession, a Spark Connect URL (``sc://host:15002``) or a new local session.

    The session's time zone is set to UTC (``spark.sql.session.timeZone``).
    """
    spark_session_cls = _require_pyspark()
    if session is not None and connect_url is not None:
        raise ConfigError(
            "pass either a SparkSession or a Spark Connect URL, not both", fix="drop one of them"
        )
    if connect_url is not None:
        if not connect_url.startswith("sc://"):
            raise ConfigError(
                f"a Spark Connect URL starts with 'sc://', got {connect_url!r}",
                fix="use e.g. sc://localhost:15002",
            )
        _probe_connect(connect_url)
        try:
            session = spark_session_cls.builder.remote(connect_url).getOrCreate()
        except Exception as exc:
            raise ConfigError(
                f"could not reach Spark Connect at {connect_url}: {exc}".splitlines()[0],
                fix="check the URL and that the server runs; Spark Connect also needs `pip install 'pyspark[connect]'`",
            ) from None
    elif session is None:
        session = new_spark_session(**session_options)
    _configure_spark(session)
    return ibis.pyspark.connect(session)


def spark_from_duckdb(
    spark_backend: BaseBackend,
    duckdb_backend: BaseBackend,
    *,
    tables: tuple[str, ...] = ("transactions", "products"),
    staging_dir: str | os.PathLike[str],
) -> None:
    """Copy workspace tables from DuckDB to Spark through Parquet files in ``staging_dir``.

    Each table becomes a Spark temporary view with the same name; tables absent from
    DuckDB are skipped. Timestamps travel as naive microsecond timestamps read back
    by a UTC session, so no value shifts.
    """
    staging = Path(staging_dir)
    staging.mkdir(parents=True, exist_ok=True)
    present = {
        row[0]
        for row in duckdb_backend.con.sql("SELECT table_name FROM information_schema.tables").fetchall()
    }
    session = spark_backend._session
    for name in tables:
        if name not in present:
            continue
        target = staging / f"{name}.parquet"
        duckdb_backend.raw_sql(f"COPY {name} TO '{target}' (FORMAT parquet)")
        session.read.parquet(str(target)).createOrReplaceTempView(name)


def open_backend(
    engine: str,
    workspace: Any,
    *,
    spark_session: Any | None = None,
    spark_connect_url: str | None = None,
    staging_dir: str | os.PathLike[str] | None = None,
) -> BaseBackend:
    """The Ibis backend for ``engine`` with the workspace tables visible as ``transactions``/``products``.

    ``workspace`` is a DuckDB connection or file path (or an Ibis backend, returned as is).
    For ``spark`` the tables are staged from DuckDB through Parquet (``staging_dir``,
    default: a temporary folder the caller may delete once results are collected), unless
    ``workspace`` is already a Spark backend or ``None``: then the session's own catalog must
    hold ``transactions`` (the way to use a remote cluster, which cannot read local files).
    """
    if engine not in ENGINES:
        raise ConfigError(f"unknown engine {engine!r}", fix=f"use one of: {', '.join(ENGINES)}")
    from ibis.backends import BaseBackend as _Base

    if isinstance(workspace, _Base):
        if workspace.name != ("pyspark" if engine == "spark" else "duckdb"):
            raise ConfigError(
                f"engine {engine!r} was asked for but the backend given is {workspace.name!r}",
                fix="pass a matching backend or drop the engine argument",
            )
        return workspace
    if workspace is None:
        if engine == "duckdb":
            raise ConfigError("no workspace given", fix="pass the workspace's DuckDB file or connection")
        return open_spark(spark_session, connect_url=spark_connect_url)
    source = open_duckdb(workspace)
    if engine == "duckdb":
        return source
    spark = open_spark(spark_session, connect_url=spark_connect_url)
    if staging_dir is None:
        import tempfile

        staging_dir = tempfile.mkdtemp(prefix="targetwise-spark-")
    spark_from_duckdb(spark, source, staging_dir=staging_dir)
    return spark


def write_parquet(frame: pd.DataFrame, path: str | os.PathLike[str]) -> Path:
    """Write a result frame to Parquet atomically (temp file, then rename); returns the path."""
    target = Path(path)
    if target.suffix.lower() != ".parquet":
        raise ConfigError(
            f"output file must end in .parquet, got {str(target)!r}", fix="name it e.g. features.parquet"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.partial")
    frame.to_parquet(partial, index=False)
    partial.replace(target)
    return target
