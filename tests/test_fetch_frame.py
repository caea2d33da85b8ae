"""io.engines.fetch_frame is expr.to_pandas() through Arrow: equal frames, dtypes included, for every column kind."""

from __future__ import annotations

import ibis
import pandas as pd
import pytest

from targetwise.io.engines import fetch_frame, fetch_frames

ROWS = """(VALUES
  (1, 'a', 2.5::DOUBLE, 2.5::DECIMAL(10, 2), TIMESTAMP '2020-01-01 10:00:00', TIMESTAMPTZ '2020-01-01 10:00:00+00',
   true, DATE '2020-01-02', 7::BIGINT, [1, 2], {'x': 1}),
  (NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, 8, NULL, NULL),
  (3, 'c', NULL, 1.0, TIMESTAMP '2021-06-01 00:00:01.123456', TIMESTAMPTZ '2021-06-01 00:00:00+00',
   false, DATE '2021-01-02', 9, [], {'x': NULL}))
  v(i, s, f, d, ts, tstz, b, day, k, arr, st)"""


@pytest.fixture
def table() -> ibis.Table:
    con = ibis.duckdb.connect()
    con.raw_sql("SET TimeZone = 'UTC'")
    con.raw_sql(f"CREATE TABLE t AS SELECT * FROM {ROWS}")
    con.raw_sql("CREATE TABLE no_nulls AS SELECT k, TIMESTAMP '2020-01-01' + to_days(k::INT) AS at FROM t")
    return con.table("t")


def test_every_column_kind_equals_ibis_to_pandas(table: ibis.Table) -> None:
    expr = table.mutate(i2=table.i * 2, late=table.ts.max().over())
    expected, got = expr.to_pandas(), fetch_frame(expr)
    pd.testing.assert_frame_equal(got, expected, check_exact=True)
    # the case it exists for: a timestamp column with a null keeps Ibis's unit and its NaT
    assert str(got["ts"].dtype) == str(expected["ts"].dtype) and got["ts"].isna().tolist() == [False, True, False]
    assert got["ts"].iloc[2] == pd.Timestamp("2021-06-01 00:00:01.123456")
    assert got["arr"].iloc[0] == [1, 2] and got["i"].isna().sum() == 1


def test_aggregates_columns_and_empty_results(table: ibis.Table) -> None:
    grouped = table.group_by("b").aggregate(n=table.k.count(), last=table.ts.max()).order_by("b")
    pd.testing.assert_frame_equal(fetch_frame(grouped), grouped.to_pandas(), check_exact=True)
    column = table.order_by("k").ts
    pd.testing.assert_series_equal(fetch_frame(column), column.to_pandas(), check_exact=True)
    empty = table.filter(table.k > 100)
    pd.testing.assert_frame_equal(fetch_frame(empty), empty.to_pandas(), check_exact=True)
    no_nulls = table.get_backend().table("no_nulls").order_by("k")
    pd.testing.assert_frame_equal(fetch_frame(no_nulls), no_nulls.to_pandas(), check_exact=True)


def test_categories_are_sorted_categoricals_of_the_same_rows(table: ibis.Table) -> None:
    con = table.get_backend()
    con.raw_sql(
        "CREATE TABLE ids AS SELECT 'c' || (i % 97)::VARCHAR AS c, 'p' || (i % 13)::VARCHAR AS p, i "
        "FROM range(5000) r(i)"
    )
    ids = con.table("ids")
    expr = ids.group_by(["c", "p"]).aggregate(n=ids.i.count(), s=ids.i.sum())
    got = fetch_frame(expr, categories=("c", "p"), batch_rows=100)  # 50 batches, each its own dictionary
    assert list(got["c"].cat.categories) == sorted({f"c{i}" for i in range(97)})
    assert list(got["p"].cat.categories) == sorted({f"p{i}" for i in range(13)})
    plain = got.assign(c=got["c"].astype(str), p=got["p"].astype(str)).sort_values(["c", "p"], ignore_index=True)
    expected = expr.to_pandas().sort_values(["c", "p"], ignore_index=True)
    pd.testing.assert_frame_equal(plain, expected, check_exact=True)
    assert int(got.loc[(got["c"] == "c5") & (got["p"] == "p5"), "n"].iloc[0]) == len(
        [i for i in range(5000) if i % 97 == 5 and i % 13 == 5]
    )


def test_fetch_frames_concatenates_queries_with_one_sorted_dictionary(table: ibis.Table) -> None:
    con = table.get_backend()
    con.raw_sql("CREATE TABLE parts AS SELECT 'c' || (i % 50)::VARCHAR AS c, i FROM range(1000) r(i)")
    parts = con.table("parts")
    # two queries with disjoint ids in an order the sort must undo ('c9' after 'c10' ...)
    exprs = [parts.filter(parts.i % 50 >= 25), parts.filter(parts.i % 50 < 25)]
    got = fetch_frames(exprs, categories=("c",), batch_rows=64)
    assert list(got["c"].cat.categories) == sorted({f"c{i}" for i in range(50)})
    assert got["i"].tolist() == [i for e in exprs for i in e.to_pandas()["i"].tolist()]  # query by query
    assert (got["c"].astype(str) == "c" + (got["i"] % 50).astype(str)).all()
    plain = fetch_frames(exprs)
    pd.testing.assert_frame_equal(plain, pd.concat([e.to_pandas() for e in exprs], ignore_index=True))


def test_integer_sums_come_back_as_integers_not_objects(table: ibis.Table) -> None:
    """DuckDB sums BIGINT as HUGEINT (Arrow decimal128): the frame still holds int64, equal to Ibis's."""
    con = table.get_backend()
    con.raw_sql("CREATE TABLE big AS SELECT i % 7 AS g, i * 1000003 AS v FROM range(20000) r(i)")
    big = con.table("big")
    expr = big.group_by("g").aggregate(total=big.v.sum(), n=big.v.count()).order_by("g")
    got, expected = fetch_frame(expr), expr.to_pandas()
    assert str(got["total"].dtype) == "int64"
    pd.testing.assert_frame_equal(got, expected, check_exact=True)
    assert int(got.loc[got["g"] == 3, "total"].iloc[0]) == sum(i * 1000003 for i in range(20000) if i % 7 == 3)


def test_after_each_runs_once_per_query_after_its_rows(table: ibis.Table) -> None:
    con = table.get_backend()
    con.raw_sql("CREATE TABLE steps AS SELECT 'c' || (i % 5)::VARCHAR AS c, i FROM range(300) r(i)")
    steps = con.table("steps")
    exprs = [steps.filter(steps.i < 100), steps.filter(steps.i >= 100)]
    for categories in (("c",), ()):
        calls: list[int] = []
        got = fetch_frames(exprs, categories=categories, batch_rows=16, after_each=lambda calls=calls: calls.append(len(calls)))
        assert calls == [0, 1], categories
        assert got["i"].tolist() == list(range(300))
