"""Experiment: where the feature query's time goes, and what integer keys would buy (10M lines).

    .venv/bin/python benchmarks/features_plan.py [--lines 10000000] [--repeat 3]
    .venv/bin/python benchmarks/features_plan.py --floor [--lines 50000000] [--memory-limit 3GB]

Compiles `customer_features` (all columns) to DuckDB SQL once, then times that SQL with `duckdb`
directly (no Ibis, no Parquet output) on four inputs holding the same lines: the benchmark's Parquet
file and a DuckDB temp table, each with the text ids as stored and with integer customer/order/product
keys (the integer variant is what surrogate keys assigned at ingest would give). Then prints the
operator profile (CPU seconds per operator, DuckDB's JSON profiler) of the Parquet/text run.
Data: `benchmarks/features.py`'s `generate()` (same seed and file).

`--floor` instead times the least work any exact implementation of the feature table must do, in bare
DuckDB SQL with nothing else: de-duplicating the lines before the cutoff to (customer, order) pairs
(frequency) and to (customer, product) pairs (distinct products), each counted per customer, alone and
together in one query. If the two de-duplications alone take longer than a time goal, no plan of the
remaining ~25 columns on this engine and machine can meet it.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from features import AS_OF, BENCH_DIR, POLARS_PYTHON, generate

INT_KEYS = (
    "customer_id::BIGINT AS customer_id, "
    "(CASE WHEN order_id LIKE 'C%' THEN -1 ELSE 1 END) * replace(order_id, 'C', '')::BIGINT AS order_id, "
    "CASE WHEN product_id = 'POST' THEN -1 ELSE product_id::BIGINT END AS product_id, "
    "* EXCLUDE (customer_id, order_id, product_id)"
)


def feature_sql(source: Path) -> str:
    from targetwise.features import customer_features
    from targetwise.io.engines import open_duckdb

    backend = open_duckdb(None)
    backend.raw_sql(f"CREATE VIEW transactions AS SELECT * FROM read_parquet('{source}')")
    backend.raw_sql(f"CREATE VIEW products AS SELECT * FROM read_parquet('{BENCH_DIR / 'products.parquet'}')")
    return str(backend.compile(customer_features(backend, AS_OF)))


def product_stats_variants(con, repeat: int) -> None:
    """The product/category part alone: group by (customer, product text id) as the feature code does, vs.
    by (customer, integer product code) taken from a join with the catalogue first."""
    lines = (
        f"(SELECT * FROM transactions WHERE ordered_at < TIMESTAMP '{AS_OF}' AND customer_id IS NOT NULL "
        "AND NOT coalesce(is_return, false) AND NOT coalesce(is_non_product, false))"
    )
    cat = (
        "cat AS (SELECT product_id, category, dense_rank() OVER (ORDER BY category) code, row_number() OVER () pcode "
        "FROM (SELECT product_id, min(category) category FROM products GROUP BY 1) WHERE category IS NOT NULL)"
    )
    tail = (
        "pc AS (SELECT customer_id, code, count(*) n, sum(value) v FROM pp GROUP BY 1, 2), "
        "tot AS (SELECT customer_id, sum(n) dp, count(code) dc, max(v) FILTER (WHERE code IS NOT NULL) tv FROM pc GROUP BY 1) "
        "SELECT count(*), sum(dp), sum(dc), sum(tv) FROM tot"
    )
    variants = {
        "text product id": f"WITH {cat}, pp AS (SELECT l.customer_id, l.product_id, any_value(c.code) code, "
        f"sum(l.line_amount) value FROM {lines} l LEFT JOIN cat c ON l.product_id = c.product_id GROUP BY 1, 2), {tail}",
        "integer product code": f"WITH {cat}, pp AS (SELECT l.customer_id, c.pcode, CASE WHEN c.pcode IS NULL THEN "
        f"l.product_id END other, c.code, sum(l.line_amount) value FROM {lines} l LEFT JOIN cat c "
        f"ON l.product_id = c.product_id GROUP BY 1, 2, 3, 4), {tail}",
    }
    print("product/category statistics alone (Parquet, text customer ids); wall s")
    answers = set()
    for name, sql in variants.items():
        times = []
        for _ in range(repeat):
            started = time.perf_counter()
            answers.add(tuple(round(float(v), 4) for v in con.execute(sql).fetchone()))
            times.append(time.perf_counter() - started)
        print(f"  {name:<28} median {statistics.median(times):6.2f}  (runs: {', '.join(f'{t:.2f}' for t in times)})")
    print(f"  same answer: {len(answers) == 1}")


def floor(source: Path, repeat: int, memory_limit: str | None) -> None:
    """The two exact de-duplications every implementation needs, timed alone (see the module doc)."""
    import duckdb

    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    if memory_limit:
        spill = BENCH_DIR / "spill"
        spill.mkdir(parents=True, exist_ok=True)
        con.execute(f"SET memory_limit = '{memory_limit}'")
        con.execute(f"SET temp_directory = '{spill}'")
    lines = (
        f"(SELECT customer_id, order_id, product_id FROM read_parquet('{source}') "
        f"WHERE ordered_at < TIMESTAMP '{AS_OF}' AND customer_id IS NOT NULL)"
    )
    orders = f"SELECT customer_id, count(*) n FROM (SELECT DISTINCT customer_id, order_id FROM {lines}) GROUP BY 1"
    pairs = f"SELECT customer_id, count(*) n FROM (SELECT DISTINCT customer_id, product_id FROM {lines}) GROUP BY 1"
    queries = {
        "scan of the three key columns": f"SELECT count(customer_id), count(order_id), count(product_id) FROM {lines}",
        "(customer, order) pairs per customer": f"SELECT count(*), sum(n) FROM ({orders})",
        "(customer, product) pairs per customer": f"SELECT count(*), sum(n) FROM ({pairs})",
        "both in one query": f"SELECT count(*), sum(o.n), sum(p.n) FROM ({orders}) o JOIN ({pairs}) p USING (customer_id)",
    }
    print(f"floor: {source.name}, memory limit {memory_limit or 'default'}; wall s, median of {repeat}")
    for name, sql in queries.items():
        times, answer = [], None
        for _ in range(repeat):
            started = time.perf_counter()
            answer = con.execute(sql).fetchone()
            times.append(time.perf_counter() - started)
        print(
            f"  {name:<40} median {statistics.median(times):6.2f}  (runs: {', '.join(f'{t:.2f}' for t in times)})"
            f"  answer {answer}"
        )
    print(f"  peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2:.2f} GB")
    if not POLARS_PYTHON.exists():
        print(f"  Polars: not installed ({POLARS_PYTHON})")
        return
    import subprocess

    done = subprocess.run(
        [str(POLARS_PYTHON), "-c", POLARS_FLOOR, str(source), str(AS_OF), str(repeat)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    print(done.stdout, end="")


POLARS_FLOOR = r"""
import datetime as dt, statistics, sys, time
import polars as pl
source, as_of, repeat = sys.argv[1], dt.datetime.fromisoformat(sys.argv[2]), int(sys.argv[3])
lines = pl.scan_parquet(source).filter((pl.col("ordered_at") < as_of) & pl.col("customer_id").is_not_null())
for name, keys in (("(customer, order)", "order_id"), ("(customer, product)", "product_id")):
    query = lines.select("customer_id", keys).unique().group_by("customer_id").len()
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        out = query.collect()
        times.append(time.perf_counter() - started)
    label = f"Polars {pl.__version__}: {name} pairs per customer"
    print(f"  {label:<40} median {statistics.median(times):6.2f}  answer ({out.height}, {out['len'].sum()})")
"""


def main() -> None:
    import duckdb

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lines", type=int, default=10_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--floor", action="store_true", help="time only the two exact de-duplications")
    parser.add_argument("--memory-limit", default=None, help="DuckDB memory_limit for --floor, e.g. 3GB")
    args = parser.parse_args()
    source = generate(args.lines)
    if args.floor:
        floor(source, args.repeat, args.memory_limit)
        return
    sql = feature_sql(source)
    products = BENCH_DIR / "products.parquet"
    int_parquet = BENCH_DIR / f"lines_{args.lines}_intkeys.parquet"
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    if not int_parquet.exists():
        con.execute(
            f"COPY (SELECT {INT_KEYS} FROM read_parquet('{source}')) TO '{int_parquet}' "
            "(FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE 1000000)"
        )
    inputs = {
        "Parquet, text ids": (f"SELECT * FROM read_parquet('{source}')", "SELECT * FROM read_parquet('{p}')"),
        "DuckDB table, text ids": ("SELECT * FROM t_text", "SELECT * FROM read_parquet('{p}')"),
        "Parquet, integer keys": (
            f"SELECT * FROM read_parquet('{int_parquet}')",
            "SELECT product_id::BIGINT AS product_id, category FROM read_parquet('{p}')",
        ),
        "DuckDB table, integer keys": (
            "SELECT * FROM t_int",
            "SELECT product_id::BIGINT AS product_id, category FROM read_parquet('{p}')",
        ),
    }
    con.execute(f"CREATE TEMP TABLE t_text AS SELECT * FROM read_parquet('{source}')")
    con.execute(f"CREATE TEMP TABLE t_int AS SELECT * FROM read_parquet('{int_parquet}')")
    print(f"{args.lines:,} lines, all feature columns, raw SQL compiled from the Ibis expression; wall s")
    for name, (lines_sql, products_sql) in inputs.items():
        con.execute(f"CREATE OR REPLACE VIEW transactions AS {lines_sql}")
        con.execute(f"CREATE OR REPLACE VIEW products AS {products_sql.format(p=products)}")
        times = []
        for _ in range(args.repeat):
            started = time.perf_counter()
            con.execute(f"SELECT count(*) FROM ({sql})").fetchall()
            times.append(time.perf_counter() - started)
        print(f"  {name:<28} median {statistics.median(times):6.2f}  (runs: {', '.join(f'{t:.2f}' for t in times)})")

    con.execute(f"CREATE OR REPLACE VIEW transactions AS SELECT * FROM read_parquet('{source}')")
    con.execute(f"CREATE OR REPLACE VIEW products AS SELECT * FROM read_parquet('{products}')")
    product_stats_variants(con, args.repeat)
    with tempfile.TemporaryDirectory() as folder:
        profile = Path(folder) / "profile.json"
        con.execute("PRAGMA enable_profiling = 'json'")
        con.execute(f"PRAGMA profiling_output = '{profile}'")
        con.execute(f"SELECT count(*) FROM ({sql})").fetchall()
        con.execute("PRAGMA disable_profiling")
        tree = json.loads(profile.read_text())
    rows: list[tuple[float, str, str, int]] = []

    def walk(node: dict) -> None:
        extra = node.get("extra_info") or {}
        detail = extra.get("Groups") or extra.get("Conditions") or ""
        rows.append((node.get("timing", 0.0), node.get("type", ""), str(detail).replace("\n", " ")[:50], node.get("intermediate_rows", 0)))
        for child in node.get("children", []):
            walk(child)

    for node in tree["operator"]:
        walk(node)
    total = tree["query"]["cpu_time"]
    print(f"operator profile, Parquet / text ids: {total:.2f} CPU s in all; operators above 3%:")
    for seconds, kind, detail, out_rows in sorted(rows, reverse=True):
        if seconds >= 0.03 * total:
            print(f"  {seconds:6.2f}  {kind:<16} {detail:<50} rows out {out_rows:,}")


if __name__ == "__main__":
    main()
