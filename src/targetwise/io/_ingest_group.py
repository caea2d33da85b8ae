"""Ingest: a group of small transaction sources (events posts) validated and loaded in one pass.

:class:`targetwise.io.event_writer.EventWriter` calls :func:`ingest_group` inside one open
transaction. Each post keeps what :func:`targetwise.io.ingest.ingest_arrow` gives it when the
posts are ingested one after another, in the group's order: its own load (load id, ``loads`` row,
``load_columns``), its own quarantine rows (its rows numbered 1, 2, ... as in its own file) and its
own summary. Across posts that order shows in two places, as it would one by one: a line equal to a
valid line of an earlier post is a duplicate "already stored", and a return links to purchases
stored or posted in this or an earlier post of the group. A post whose content was loaded before
(or repeats an earlier post of the group) adds nothing.

What the combined pass cannot answer exactly comes back as ``None``, and the caller ingests that
post on its own after the group commits (so it meets ``ingest_arrow``'s own error, e.g. more rows
invalid than ``TARGETWISE_MAX_REJECT_FRACTION``): a source that is not an in-memory table of text
columns, a column error, a post over the reject fraction (the others of its pass are then staged again
without it, before anything is written). Posts of different columns are staged in separate passes (their raw rows and line hashes
then read exactly as on their own), in the same transaction.

Rows of post ``i`` carry ``source_row = (i << 32) + row``: one unique key for the shared staging
helpers, from which the post (``source_row >> 32``) and its own row (``source_row & 0xFFFFFFFF``)
are recovered.
"""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from targetwise.errors import TargetwiseError
from targetwise.io._ingest_duplicates import _mark_stored_duplicates
from targetwise.io._ingest_load import _select_list, _suppress_returning
from targetwise.io._ingest_parse import _is_text, _lit, _q
from targetwise.io._ingest_quarantine import _labels
from targetwise.io._ingest_stage import _resolve_columns, _stage
from targetwise.io._ingest_types import IngestSummary, _Check
from targetwise.io.mapping import Mapping
from targetwise.io.readers import ROW_COLUMN, Source
from targetwise.io.workspace import LOAD_SEQUENCE, Workspace
from targetwise.schema import TABLES, table_spec

__all__ = ["POST_SHIFT", "already_loaded", "ingest_group"]

POST_SHIFT = 32
_ROW_MASK = (1 << POST_SHIFT) - 1
TABLE = "transactions"


def _post(alias: str = "") -> str:
    return f"({alias}{ROW_COLUMN} >> {POST_SHIFT})"


def _row(alias: str = "") -> str:
    return f"({alias}{ROW_COLUMN} & {_ROW_MASK})"


def already_loaded(source: Source, load_id: int) -> IngestSummary:
    """The summary of a source whose content was loaded before as ``load_id`` (as ``ingest_arrow`` words it)."""
    return IngestSummary(
        load_id=load_id, table=TABLE, source=source.name, rows_read=source.num_rows, already_loaded=True,
        warnings=[f"this content was already loaded as load {load_id}; nothing added"],
    )


def ingest_group(
    con: duckdb.DuckDBPyConnection, workspace: Workspace, sources: list[Source], *, now: datetime
) -> list[IngestSummary | None]:
    """Validate and load ``sources`` into ``transactions`` inside the caller's open transaction.

    Returns one summary per source, or None for a source to be ingested on its own after the
    commit. ``now`` (naive UTC) is the cutoff for future timestamps.
    """
    mapping = Mapping()
    outcomes: list[IngestSummary | None] = [None] * len(sources)
    hashes = sorted({s.content_hash for s in sources})
    known = dict(con.execute(
        "SELECT content_hash, min(load_id) FROM loads WHERE table_name = ? AND mapping_hash = ? "
        "AND content_hash IN (SELECT unnest(?)) GROUP BY 1",
        [TABLE, mapping.digest(), hashes],
    ).fetchall())
    first_of: dict[str, int] = {}
    repeats: dict[int, int] = {}
    batches: dict[tuple[tuple[str, str], ...], list[int]] = {}
    for i, source in enumerate(sources):
        if source.content_hash in known:
            outcomes[i] = already_loaded(source, int(known[source.content_hash]))
        elif source.content_hash in first_of:
            repeats[i] = first_of[source.content_hash]
        else:
            first_of[source.content_hash] = i
            if _groupable(source):
                shape = tuple((f.name, str(f.type)) for f in source.schema)
                batches.setdefault(shape, []).append(i)
    started = datetime.now(UTC).replace(tzinfo=None)
    for indices in batches.values():
        _ingest_batch(con, workspace, sources, indices, outcomes, now=now, started=started)
    for i, first in repeats.items():
        done = outcomes[first]
        outcomes[i] = None if done is None else already_loaded(sources[i], done.load_id)
    return outcomes


def _groupable(source: Source) -> bool:
    """An in-memory table of text (or all-null) columns, like every events post."""
    if source.table is None:
        return False
    return all(f.name == ROW_COLUMN or _is_text(f.type) or pa.types.is_null(f.type) for f in source.schema)


def _ingest_batch(
    con: duckdb.DuckDBPyConnection,
    workspace: Workspace,
    sources: list[Source],
    indices: list[int],
    outcomes: list[IngestSummary | None],
    *,
    now: datetime,
    started: datetime,
) -> None:
    """Stage, check and load the posts ``indices`` (all of the same columns) in one pass; fill ``outcomes``."""
    spec, mapping, settings = table_spec(TABLE), Mapping(), workspace.settings
    first = sources[indices[0]]
    try:
        columns = _resolve_columns(spec, first, mapping)
    except TargetwiseError:
        return  # each of them gets the error on its own
    parts = []
    for i in indices:
        table = sources[i].table
        assert table is not None
        rows = pc.add(table[ROW_COLUMN], pa.scalar(i << POST_SHIFT, pa.int64()))
        parts.append(table.set_column(table.schema.get_field_index(ROW_COLUMN), ROW_COLUMN, rows))
    combined = Source(table=pa.concat_tables(parts), name=first.name, content_hash="")
    over: list[int] = []
    con.register("src", combined.table)
    try:
        tz = settings.business_timezone
        if tz != "UTC":  # the connection is in UTC otherwise
            con.execute(f"SET TimeZone = {_lit(tz)}")  # a known zone: Settings checks it against the IANA database
        checks = _stage(
            con, spec, combined, columns, mapping, tz=tz, now=now, settings=settings, sort_batch_rows=0,
            mark_duplicates=False,
        )
        if tz != "UTC":
            con.execute("SET TimeZone='UTC'")
        _mark_group_duplicates(con, columns, reason=len(checks) - 1)
        summaries = _tally_posts(con, sources, indices, checks)
        # duplicates are not errors in the data (as in _check_reject_fraction)
        over = [i for i, post in summaries.items() if post.rows_read and (
            post.rows_quarantined - post.reasons.get("duplicate_line", 0)) / post.rows_read > settings.max_reject_fraction]
        if not over:
            _load_batch(con, workspace, sources, indices, outcomes, first=first, columns=columns, checks=checks,
                        summaries=summaries, started=started)
    finally:
        # after a failed statement the caller rolls back (and the original error follows); the temp
        # tables (staged, dup_rows, links) are replaced by the next pass on this connection
        with contextlib.suppress(duckdb.Error):
            for view in ("src", "group_posts"):
                con.unregister(view)
    if over:
        # A post over the reject fraction stores nothing, so none of its lines may make a later line a
        # duplicate: the others are staged again without it (rare), it is ingested on its own.
        rest = [i for i in indices if i not in over]
        if rest:
            _ingest_batch(con, workspace, sources, rest, outcomes, now=now, started=started)


def _load_batch(
    con: duckdb.DuckDBPyConnection,
    workspace: Workspace,
    sources: list[Source],
    indices: list[int],
    outcomes: list[IngestSummary | None],
    *,
    first: Source,
    columns: dict[str, str],
    checks: list[_Check],
    summaries: dict[int, IngestSummary],
    started: datetime,
) -> None:
    """Write the staged pass: load ids, quarantine, lines, load bookkeeping; fill ``outcomes``."""
    # numbers from the sequence, as ingest_arrow takes them: never handed out twice
    drawn = con.execute(f"SELECT nextval('{LOAD_SEQUENCE}') FROM range({len(indices)})").fetchall()
    load_ids = sorted(int(r[0]) for r in drawn)
    for i, load_id in zip(indices, load_ids, strict=True):
        summaries[i].load_id = load_id
    con.register("group_posts", pa.table({
        "post": pa.array(indices, pa.int64()),
        "load_id": pa.array(load_ids, pa.int64()),
        "source": pa.array([sources[i].name for i in indices], pa.string()),
    }))
    _quarantine_posts(con, first, checks, summaries)
    # the columns of staged (see _stage): no DESCRIBE needed
    _load_posts(con, summaries, staged_cols={ROW_COLUMN, *columns, "line_hash", "is_non_product", "reason"})
    _record_loads(con, workspace, columns, summaries, hashes={i: sources[i].content_hash for i in indices},
                  started=started)
    for i, summary in summaries.items():
        outcomes[i] = summary


def _mark_group_duplicates(con: duckdb.DuckDBPyConnection, columns: dict[str, str], *, reason: int) -> None:
    """Exact duplicate lines: within a post the first occurrence is kept ("same as row N", N its own
    row); a line equal to one of an earlier post was stored by it ("already stored"); then stored lines."""
    value_cols = [c for c in TABLES[TABLE].input_names if c in columns]
    same = " AND ".join(f"a.{_q(c)} IS NOT DISTINCT FROM b.{_q(c)}" for c in value_cols)
    con.execute(f"CREATE OR REPLACE TEMP TABLE dup_rows ({ROW_COLUMN} BIGINT, first_row BIGINT)")
    con.execute(
        f"""
        INSERT INTO dup_rows
        SELECT b.{ROW_COLUMN}, min({_row('a.')}) FILTER (WHERE {_post('a.')} = {_post('b.')})
        FROM staged a JOIN staged b ON a.line_hash = b.line_hash AND a.{ROW_COLUMN} < b.{ROW_COLUMN} AND {same}
        WHERE a.reason IS NULL AND b.reason IS NULL
        GROUP BY b.{ROW_COLUMN}
        """
    )
    _mark_stored_duplicates(con, TABLES[TABLE], columns, reason=reason)


def _tally_posts(
    con: duckdb.DuckDBPyConnection, sources: list[Source], indices: list[int], checks: list[_Check]
) -> dict[int, IngestSummary]:
    """Each post's summary from one scan of ``staged``: reasons, quarantined, loaded, anonymous, returns."""
    summaries = {i: IngestSummary(load_id=0, table=TABLE, source=sources[i].name, rows_read=sources[i].num_rows)
                 for i in indices}
    rows = con.execute(
        f"""
        SELECT {_post()} AS post, reason, count(*),
               count(*) FILTER (customer_id IS NOT NULL), count(*) FILTER (customer_id IS NULL),
               count(*) FILTER (is_non_product), count(*) FILTER (quantity < 0)
        FROM staged GROUP BY ALL ORDER BY post, reason
        """
    ).fetchall()
    for post, reason, n, customer, anonymous, non_product, returns in rows:
        summary = summaries[int(post)]
        if reason is None:
            summary.rows_loaded, summary.rows_anonymous = int(customer), int(anonymous)
            summary.non_product_lines, summary.return_lines = int(non_product), int(returns)
        else:
            code = checks[int(reason)].code
            summary.reasons[code] = summary.reasons.get(code, 0) + int(n)
    for summary in summaries.values():
        summary.reasons = dict(sorted(summary.reasons.items(), key=lambda item: -item[1]))
        summary.rows_quarantined = sum(summary.reasons.values())
    return summaries


def _quarantine_posts(
    con: duckdb.DuckDBPyConnection, first: Source, checks: list[_Check], summaries: dict[int, IngestSummary]
) -> None:
    """The rejected rows of every post, each with its load, source name and own row number."""
    if not any(s.rows_quarantined for s in summaries.values()):
        return
    raw_cols = [c for c in first.column_names if c != ROW_COLUMN]
    struct = "{" + ", ".join(f"{_lit(c)}: src.{_q(c)}" for c in raw_cols) + "}"
    code, reason, column, value = _labels(checks)
    con.execute(
        f"""
        INSERT INTO quarantine
        SELECT p.load_id, {_lit(TABLE)}, p.source, {_row('s.')}, {code}, {reason}, {column}, {value},
               s.customer_id, CAST(to_json({struct}) AS VARCHAR)
        FROM staged s JOIN src ON src.{ROW_COLUMN} = s.{ROW_COLUMN}
        JOIN group_posts p ON p.post = {_post('s.')}
        LEFT JOIN dup_rows d ON d.{ROW_COLUMN} = s.{ROW_COLUMN}
        WHERE s.reason IS NOT NULL
        """
    )


def _load_posts(con: duckdb.DuckDBPyConnection, summaries: dict[int, IngestSummary], *, staged_cols: set[str]) -> None:
    """Insert every post's valid lines (with its load id and own row numbers), returns linked first."""
    with_returns = [i for i, s in summaries.items() if s.return_lines]
    linked = _link_returns(con, with_returns) if with_returns else {}
    for target, where in (("transactions", "customer_id IS NOT NULL"), ("anonymous_transactions", "customer_id IS NULL")):
        counted = "rows_loaded" if target == "transactions" else "rows_anonymous"
        if not any(getattr(s, counted) for s in summaries.values()):
            continue
        values = {"load_id": "p.load_id", "source_row": _row("staged.")}
        links = ""
        if target == "transactions" and linked:
            values["linked_order_id"] = "links.linked_order_id"
            links = f" LEFT JOIN links ON links.{ROW_COLUMN} = staged.{ROW_COLUMN}"
        select = _select_list(TABLES[target], 0, available=staged_cols, prefix="staged.", values=values)
        con.execute(
            f"INSERT INTO {target} SELECT {select} FROM staged JOIN group_posts p ON p.post = {_post('staged.')}"
            f"{links} WHERE staged.reason IS NULL AND {where}"
        )
    for i, summary in summaries.items():
        summary.returns_linked = linked.get(i, 0)
        if summary.rows_anonymous:
            summary.warnings.append(
                f"{summary.rows_anonymous:,} lines have no customer id; kept in anonymous_transactions"
            )


def _link_returns(con: duckdb.DuckDBPyConnection, posts: list[int]) -> dict[int, int]:
    """Link each return line of ``posts`` to the latest earlier purchase of the same customer and
    product among the stored lines and the valid lines of its own and earlier posts (into ``links``).

    One ASOF join per post with returns (they are few): its single inequality is the time, so the
    "this or an earlier post" condition is a filter of the candidates.
    """
    ok = "reason IS NULL AND customer_id IS NOT NULL"
    con.execute(f"CREATE OR REPLACE TEMP TABLE links ({ROW_COLUMN} BIGINT, linked_order_id VARCHAR)")
    for post in posts:
        con.execute(
            f"""
            INSERT INTO links
            WITH r AS (SELECT {ROW_COLUMN}, customer_id, product_id, ordered_at FROM staged
                       WHERE {ok} AND quantity < 0 AND {_post()} = {int(post)}),
            k AS (SELECT DISTINCT customer_id, product_id FROM r),
            p AS (
                SELECT s.customer_id, s.product_id, s.ordered_at, s.order_id FROM staged s
                SEMI JOIN k ON s.customer_id = k.customer_id AND s.product_id = k.product_id
                WHERE s.{ok} AND s.quantity > 0 AND {_post('s.')} <= {int(post)}
                UNION ALL
                SELECT t.customer_id, t.product_id, t.ordered_at, t.order_id FROM transactions t
                SEMI JOIN k ON t.customer_id = k.customer_id AND t.product_id = k.product_id
                WHERE t.quantity > 0
            )
            SELECT r.{ROW_COLUMN}, p.order_id FROM r ASOF JOIN p
              ON r.customer_id = p.customer_id AND r.product_id = p.product_id AND r.ordered_at >= p.ordered_at
            """
        )
    return {int(p): int(n) for p, n in con.execute(f"SELECT {_post()}, count(*) FROM links GROUP BY 1").fetchall()}


def _record_loads(
    con: duckdb.DuckDBPyConnection,
    workspace: Workspace,
    columns: dict[str, str],
    summaries: dict[int, IngestSummary],
    *,
    hashes: dict[int, str],
    started: datetime,
) -> None:
    """Per post: its source columns, the suppression of people erased earlier, its ``loads`` row."""
    pairs = sorted(columns.items())
    if pairs:  # one statement for all posts (parameters cost ~0.05 ms each, a literal list nothing)
        values = ", ".join(f"({_lit(c)}, {_lit(src)})" for c, src in pairs)
        con.execute(f"INSERT INTO load_columns SELECT p.load_id, c.canonical, c.source_column FROM group_posts p "
                    f"CROSS JOIN (VALUES {values}) c(canonical, source_column)")
    # fetched to the end: an unfinished result blocks the register() below
    ((erased,),) = con.execute("SELECT count(*) FROM suppressions").fetchall()
    if erased:
        for summary in summaries.values():
            _suppress_returning(con, workspace, summary, [TABLE])
    finished = datetime.now(UTC).replace(tzinfo=None)
    posts = list(summaries)
    loads = pa.table({
        "load_id": pa.array([summaries[i].load_id for i in posts], pa.int64()),
        "content_hash": pa.array([hashes[i] for i in posts], pa.string()),
        "source": pa.array([summaries[i].source for i in posts], pa.string()),
        "rows_read": pa.array([summaries[i].rows_read for i in posts], pa.int64()),
        "rows_loaded": pa.array([summaries[i].rows_loaded + summaries[i].rows_updated for i in posts], pa.int64()),
        "rows_anonymous": pa.array([summaries[i].rows_anonymous for i in posts], pa.int64()),
        "rows_quarantined": pa.array([summaries[i].rows_quarantined for i in posts], pa.int64()),
    })
    con.register("group_loads", loads)
    try:
        con.execute(
            "INSERT INTO loads SELECT load_id, ?, source, content_hash, ?, rows_read, rows_loaded, rows_anonymous, "
            "rows_quarantined, ?, ? FROM group_loads ORDER BY load_id",
            [TABLE, Mapping().digest(), started, finished],
        )
    finally:
        con.unregister("group_loads")
