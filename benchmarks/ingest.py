"""Ingest throughput and peak memory vs DuckDB's bare read of the same file (the limit).

    .venv/bin/python benchmarks/ingest.py --lines 1000000 10000000 [--repeat 3]
    .venv/bin/python benchmarks/ingest.py --incremental 1000000 10000000   # small loads into a big workspace
    .venv/bin/python benchmarks/ingest.py --spool-compare 10000000 30000000  # large CSV: in memory vs spooled
    .venv/bin/python benchmarks/ingest.py --statements .bench/ingest/lines_10000000.csv  # where the time goes
    .venv/bin/python benchmarks/ingest.py --sql 1000000 3000000  # a SQL query source (SQLite): memory and time
    .venv/bin/python benchmarks/ingest.py --floor 10000000  # bare vs one plain INSERT into our stored layout

Each measurement runs in a fresh subprocess; peak RSS is its own ``VmHWM`` (``ru_maxrss`` survives exec on Linux
and reported the parent's peak when the parent had generated the data).
Goal (issue 2): our ingest >= 60% of the bare read's lines/s.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _machine import REPO, describe

BENCH_DIR = REPO / ".bench" / "ingest"


def make_lines(n: int, seed: int = 0) -> pa.Table:
    rng = np.random.default_rng(seed)
    n_customers = max(n // 20, 10)
    customers = rng.integers(10_000, 10_000 + n_customers, n)
    orders = np.sort(rng.integers(0, n // 4, n))
    start = np.datetime64("2022-01-01T00:00:00")
    seconds = (orders.astype(np.int64) * (2 * 365 * 86400) // max(n // 4, 1)).astype("timedelta64[s]")
    quantity = rng.integers(1, 12, n)
    quantity[rng.random(n) < 0.02] *= -1  # returns
    customer = customers.astype(str).astype(object)
    customer[rng.random(n) < 0.005] = None  # anonymous lines
    return pa.table(
        {
            "customer_id": pa.array(customer, pa.string()),
            "order_id": pa.array(orders.astype(str)),
            "ordered_at": pa.array((start + seconds).astype("datetime64[s]").astype(str)),
            "product_id": pa.array(np.char.add("P", rng.integers(0, 5000, n).astype(str))),
            "quantity": pa.array(quantity.astype(str)),
            "unit_price": pa.array(np.round(rng.gamma(2.0, 3.0, n) + 0.01, 2).astype(str)),
        }
    )


def prepare(n: int) -> tuple[Path, Path]:
    BENCH_DIR.mkdir(parents=True, exist_ok=True)
    csv_path, pq_path = BENCH_DIR / f"lines_{n}.csv", BENCH_DIR / f"lines_{n}.parquet"
    if not csv_path.exists() or not pq_path.exists():
        table = make_lines(n)
        pacsv.write_csv(table, csv_path)
        typed = pa.table(
            {
                "customer_id": table["customer_id"],
                "order_id": table["order_id"],
                "ordered_at": pa.array(pd.to_datetime(table["ordered_at"].to_pandas())),
                "product_id": table["product_id"],
                "quantity": pa.array(table["quantity"].to_pandas().astype("int64")),
                "unit_price": pa.array(table["unit_price"].to_pandas().astype("float64")),
            }
        )
        pq.write_table(typed, pq_path)
    return csv_path, pq_path


CHILD = r"""
import json, resource, shutil, sys, time
kind, path, ws = sys.argv[1], sys.argv[2], sys.argv[3]
# The clock starts after the imports: interpreter start-up is not ingest work (importing targetwise's ingest,
# pyarrow and pydantic included, costs ~0.5 s, duckdb alone ~0.1 s). Until the fourth session of 2026-11-23
# the imports were inside the timed part, which weighed on every 1M-line ratio of our side.
import duckdb, os
if kind != "bare":
    from targetwise.config import get_settings
    from targetwise.io.ingest import ingest
    from targetwise.io.workspace import Workspace
t0 = time.perf_counter()
if kind == "bare":
    fn = "read_parquet" if path.endswith(".parquet") else "read_csv"
    for leftover in (ws + ".duckdb", ws + ".duckdb.wal"):
        if os.path.exists(leftover):
            os.remove(leftover)
    # read once and materialise like an ingest does: a table in a fresh database file. (Until the third
    # session of 2026-11-23 this side also ran a separate count(*) pass over the file first: 1.6 s of a
    # 10M-line CSV's 6.4 s, which flattered the CSV ratios.)
    con = duckdb.connect(ws + ".duckdb")
    con.execute(f"CREATE TABLE t AS SELECT * FROM {fn}('{path}')")
    n = con.execute("SELECT count(*) FROM t").fetchone()[0]
    con.close()
elif kind in ("floor", "minimal"):
    # "floor": the stored layout's own cost, one INSERT of every stored column of our transactions table
    # (13 since workspace format 2: is_return, line_amount and line_hash are computed on read) straight
    # from DuckDB's reader, no validation, no duplicate check, no quarantine, no return links.
    # "minimal": the least any exact ingest must do: the same 13 columns, the file read once into a
    # temporary table, lines whose hash occurs twice in the file dropped (an exact-duplicate check
    # without confirming values, without stored lines), still no validation, quarantine or return links.
    # Until workspace format 3 "minimal" wrote an integer load number into a table of its own while ours
    # stored a text load id (~0.5 s at 10M lines); both write the number into `transactions` now.
    shutil.rmtree(ws, ignore_errors=True)
    w = Workspace.init(ws, get_settings(workspace=ws))
    parquet = path.endswith(".parquet")
    # a lower bound for CSV: DuckDB's sniffed types, no row numbers (source_row 0)
    scan = f"read_parquet('{path}', file_row_number = true)" if parquet else f"read_csv('{path}')"
    row = "file_row_number + 1" if parquet else "0"
    values = (
        "customer_id, order_id, ordered_at, product_id, quantity, unit_price, NULL, NULL, NULL, "
        f"product_id IN ('POST', 'DOT', 'M'), NULL, 42, {row}"
    )
    where = "customer_id IS NOT NULL"
    with w.connect() as con:
        if kind == "minimal":  # read the file once (a second read of a CSV costs more than this)
            # repeated hashes found the way our ingest finds them (sorted in numpy; a DuckDB GROUP BY,
            # used here until the fifth session of 2026-11-23, took 0.9-1.2 s at 10M lines)
            import numpy as np, pyarrow as pa
            line = "hash(customer_id, order_id, ordered_at, product_id, quantity, unit_price)"
            con.execute(f"CREATE TEMP TABLE staged AS SELECT *, {line} AS line_hash FROM {scan}")
            hashes = con.execute("SELECT line_hash FROM staged").fetchnumpy()["line_hash"]
            hashes.sort()
            repeated = np.unique(hashes[1:][hashes[1:] == hashes[:-1]])
            scan = "staged"
            if len(repeated):
                con.register("dup", pa.table({"line_hash": pa.array(repeated, pa.uint64())}))
                where += " AND line_hash NOT IN (SELECT line_hash FROM dup)"
        con.execute("BEGIN TRANSACTION")
        con.execute("SET preserve_insertion_order = false")
        con.execute(f"INSERT INTO transactions SELECT {values} FROM {scan} WHERE {where}")
        con.execute("COMMIT")
        n = con.execute("SELECT count(*) FROM transactions").fetchone()[0]
else:
    shutil.rmtree(ws, ignore_errors=True)
    w = Workspace.init(ws, get_settings(workspace=ws))
    s = ingest(w, "transactions", path)
    n = s.rows_read
seconds = time.perf_counter() - t0
usage = resource.getrusage(resource.RUSAGE_SELF)
def peak_rss_mb():
    # VmHWM is this process's own high-water mark; ru_maxrss survives exec on Linux and can report
    # the parent's peak (a parent that generated the data made both sides read the same 3.2 GB).
    try:
        for line in open("/proc/self/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return usage.ru_maxrss / 1024
print(json.dumps({"rows": n, "seconds": seconds, "cpu_s": usage.ru_utime + usage.ru_stime, "peak_rss_mb": peak_rss_mb()}))
"""


def measure(kind: str, path: Path, env: dict[str, str] | None = None) -> dict:
    ws = str(BENCH_DIR / f"ws_{kind}")
    out = subprocess.run(
        [sys.executable, "-c", CHILD, kind, str(path), ws], capture_output=True, text=True, check=True,
        env={**os.environ, **(env or {})},
    )  # fmt: skip
    return json.loads(out.stdout.strip().splitlines()[-1])


INCREMENTAL = r"""
import json, shutil, statistics, sys, time
from pathlib import Path
from targetwise.config import get_settings
from targetwise.io.ingest import ingest
from targetwise.io.workspace import Workspace
base, work, folder = sys.argv[1], sys.argv[2], Path(sys.argv[3])
shutil.rmtree(work, ignore_errors=True)
shutil.copytree(base, work)
w = Workspace.open(work, get_settings(workspace=work))
header = "customer_id,order_id,ordered_at,product_id,quantity,unit_price\n"
out = {}
for label, with_return in (("plain", False), ("with_return", True)):
    times = []
    for i in range(5):
        lines = [f"{10_000 + j},N{label}{i}-{j // 4},2024-01-0{1 + j % 9} 10:{j % 60:02d}:00,P{j % 5000},1,2.5"
                 for j in range(1_000)]
        if with_return:
            lines.append(f"10001,CN{label}{i},2024-01-09 12:00:00,P1,-1,2.5")
        path = folder / f"incremental_{label}_{i}.csv"
        path.write_text(header + "\n".join(lines) + "\n")
        t0 = time.perf_counter()
        s = ingest(w, "transactions", path)
        times.append(time.perf_counter() - t0)
        assert s.rows_loaded == len(lines), s
    out[label] = statistics.median(times)
print(json.dumps(out))
"""


def incremental(n: int) -> None:
    """A 1,000-line load (an events post, a daily file) into a workspace that holds n lines already."""
    csv_path, _ = prepare(n)
    base = BENCH_DIR / f"ws_base_{n}"
    if not (base / "targetwise.duckdb").exists():
        subprocess.run([sys.executable, "-c", CHILD, "ours", str(csv_path), str(base)], check=True, capture_output=True)
    done = subprocess.run(
        [sys.executable, "-c", INCREMENTAL, str(base), str(BENCH_DIR / "ws_incremental"), str(BENCH_DIR)],
        capture_output=True, text=True, check=True,
    )
    result = json.loads(done.stdout.strip().splitlines()[-1])
    print(
        f"# incremental: 1,000 new lines into a workspace of {n:,} lines, median of 5 loads in one process: "
        f"{result['plain']:.3f} s; with one return line to link: {result['with_return']:.3f} s",
        flush=True,
    )


STATEMENTS = r"""
import contextlib, shutil, sys, time
from targetwise.config import get_settings
from targetwise.io.ingest import ingest
from targetwise.io.workspace import Workspace
path, ws = sys.argv[1], sys.argv[2]
timings = []
class Timed:
    def __init__(self, con): self._con = con
    def execute(self, sql, *args):
        started = time.perf_counter(); result = self._con.execute(sql, *args)
        timings.append((time.perf_counter() - started, " ".join(sql.split())[:90])); return result
    def __getattr__(self, name): return getattr(self._con, name)
plain = Workspace.connect
@contextlib.contextmanager
def connect(self, **kwargs):
    with plain(self, **kwargs) as con: yield Timed(con)
Workspace.connect = connect
shutil.rmtree(ws, ignore_errors=True)
w = Workspace.init(ws, get_settings(workspace=ws))
started = time.perf_counter()
s = ingest(w, "transactions", path)
total = time.perf_counter() - started
for seconds, sql in timings:
    if seconds >= 0.02:
        print(f"{seconds:7.2f} s  {sql}")
print(f"{total:7.2f} s  ingest() in all, reading the file included ({s.rows_loaded:,} lines loaded)")
"""


SQL_CHILD = r"""
import json, resource, shutil, sys, time
kind, db, ws = sys.argv[1], sys.argv[2], sys.argv[3]
query = "SELECT * FROM lines"
t0 = time.perf_counter()
if kind == "pandas":  # what the ingest did before it streamed: the whole result as a DataFrame
    import pandas as pd, sqlalchemy as sa
    engine = sa.create_engine(f"sqlite:///{db}")
    with engine.connect() as conn:
        frame = pd.read_sql_query(sa.text(query), conn)
    n = len(frame)
else:
    from targetwise.config import get_settings
    from targetwise.io.ingest import ingest
    from targetwise.io.workspace import Workspace
    shutil.rmtree(ws, ignore_errors=True)
    w = Workspace.init(ws, get_settings(workspace=ws))
    n = ingest(w, "transactions", f"sqlite:///{db}", query=query).rows_read
seconds = time.perf_counter() - t0
usage = resource.getrusage(resource.RUSAGE_SELF)
peak = next(int(l.split()[1]) / 1024 for l in open("/proc/self/status") if l.startswith("VmHWM:"))
print(json.dumps({"rows": n, "seconds": seconds, "cpu_s": usage.ru_utime + usage.ru_stime, "peak_rss_mb": peak}))
"""


def sql_source(n: int) -> None:
    """Ingest n lines from a SQLite database (a real database through SQLAlchemy): in memory, spooled,
    and, for reference, the peak of reading the same result whole with pandas (the earlier code path)."""
    import sqlite3

    db = BENCH_DIR / f"lines_{n}.sqlite"
    if not db.exists():
        csv_path, _ = prepare(n)
        table = pacsv.read_csv(csv_path, convert_options=pacsv.ConvertOptions(strings_can_be_null=True))
        partial = db.with_suffix(".partial")
        partial.unlink(missing_ok=True)
        with sqlite3.connect(partial) as con:
            con.execute(
                "CREATE TABLE lines (customer_id TEXT, order_id TEXT, ordered_at TEXT, product_id TEXT, "
                "quantity INTEGER, unit_price REAL)"
            )
            for batch in table.to_batches(max_chunksize=200_000):
                columns = [batch.column(name).to_pylist() for name in table.column_names]
                columns[2] = [None if v is None else str(v) for v in columns[2]]
                con.executemany("INSERT INTO lines VALUES (?, ?, ?, ?, ?, ?)", zip(*columns, strict=True))
        partial.rename(db)
    size = db.stat().st_size / 1e6
    for label, kind, mb in (("ours, in memory", "ours", "1000000"), ("ours, spooled", "ours", "0"), ("pandas.read_sql_query alone", "pandas", "")):
        done = subprocess.run(
            [sys.executable, "-c", SQL_CHILD, kind, str(db), str(BENCH_DIR / "ws_sql")],
            capture_output=True, text=True, check=True, env={**os.environ, "TARGETWISE_CSV_SPOOL_MB": mb or "1024"},
        )  # fmt: skip
        r = json.loads(done.stdout.strip().splitlines()[-1])
        print(
            f"# SQLite, {n:,} lines ({size:,.0f} MB database), {label}: {r['seconds']:.1f} s wall, "
            f"{r['cpu_s']:.1f} CPU s, peak RSS {r['peak_rss_mb'] / 1024:.2f} GB",
            flush=True,
        )


def median_of(runs: list[dict], key: str) -> float:
    return statistics.median(r[key] for r in runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lines", type=int, nargs="+", default=[1_000_000])
    parser.add_argument("--repeat", type=int, default=3, help="fresh processes per side, alternating; medians reported")
    parser.add_argument(
        "--incremental", type=int, nargs="*", default=None, metavar="N",
        help="only time 1,000-line loads into a workspace already holding N lines (default 10000000)",
    )
    parser.add_argument(
        "--spool-compare", type=int, nargs="+", default=None, metavar="N",
        help="only compare a CSV of N lines loaded in memory and spooled through a temporary Parquet file",
    )
    parser.add_argument(
        "--statements", type=Path, default=None, metavar="FILE",
        help="only ingest FILE into a fresh workspace and print every SQL statement that took >= 0.02 s",
    )
    parser.add_argument(
        "--sql", type=int, nargs="+", default=None, metavar="N",
        help="only ingest N lines from a SQLite database, in memory and spooled",
    )
    parser.add_argument(
        "--floor", type=int, nargs="+", default=None, metavar="N",
        help="only compare the bare read with one INSERT of the same file into our transactions table (no checks), "
        "and the same with an integer load id and a hash-only duplicate filter (the least an exact ingest does)",
    )
    args = parser.parse_args()
    if args.floor:
        for n in args.floor:
            csv_path, pq_path = prepare(n)
            for fmt, path in (("CSV", csv_path), ("Parquet", pq_path)):
                kinds = ("bare", "floor", "minimal", "ours")
                runs: dict[str, list[dict]] = {k: [] for k in kinds}
                for _ in range(args.repeat):
                    for kind in runs:
                        runs[kind].append(measure(kind, path))
                bare, floor_s, minimal, ours = (median_of(runs[k], "seconds") for k in kinds)
                print(
                    f"# {n:,} lines, {fmt}, medians of {args.repeat}: bare read + materialise {bare:.2f} s; one INSERT "
                    f"into our transactions table (13 stored columns), no checks {floor_s:.2f} s ({bare / floor_s:.0%} "
                    f"of bare); staged once with a hash-only duplicate filter {minimal:.2f} s "
                    f"({bare / minimal:.0%}); our ingest {ours:.2f} s ({bare / ours:.0%})",
                    flush=True,
                )
        return
    if args.sql:
        for n in args.sql:
            sql_source(n)
        return
    if args.statements:
        done = subprocess.run(
            [sys.executable, "-c", STATEMENTS, str(args.statements), str(BENCH_DIR / "ws_statements")],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        print("".join(line + "\n" for line in done.stdout.splitlines() if " s  " in line), end="")  # no progress bars
        return
    if args.spool_compare:
        for n in args.spool_compare:
            csv_path = BENCH_DIR / f"lines_{n}.csv"
            if not csv_path.exists():
                BENCH_DIR.mkdir(parents=True, exist_ok=True)
                pacsv.write_csv(make_lines(n), csv_path)
            for label, mb in (("in memory", "1000000"), ("spooled", "0")):
                r = measure("ours", csv_path, env={"TARGETWISE_CSV_SPOOL_MB": mb})
                print(
                    f"# {n:,}-line CSV ({csv_path.stat().st_size / 1e6:,.0f} MB), {label}: {r['seconds']:.1f} s wall, "
                    f"{r['cpu_s']:.1f} CPU s, peak RSS {r['peak_rss_mb'] / 1024:.2f} GB",
                    flush=True,
                )
        return
    if args.incremental is not None:
        for n in args.incremental or [10_000_000]:
            incremental(n)
        return
    print(f"machine: {describe()}")
    print(f"median of {args.repeat} fresh processes per side, bare and ours alternating; CPU s = user + system")
    print(
        f"{'lines':>11} {'format':>8} {'bare s':>7} {'ours s':>7} {'bare cpu':>8} {'ours cpu':>8} "
        f"{'bare lines/s':>13} {'ours lines/s':>13} {'ratio':>6} {'bare MB':>8} {'ours MB':>8}"
    )
    for n in args.lines:
        t = time.perf_counter()
        csv_path, pq_path = prepare(n)
        print(f"# prepared {n:,} lines in {time.perf_counter() - t:.1f}s ({csv_path.stat().st_size / 1e6:.0f} MB CSV)", flush=True)
        for fmt, path in (("csv", csv_path), ("parquet", pq_path)):
            bare_runs, our_runs = [], []
            for _ in range(args.repeat):
                bare_runs.append(measure("bare", path))
                our_runs.append(measure("ours", path))
            bare_s, ours_s = median_of(bare_runs, "seconds"), median_of(our_runs, "seconds")
            print(
                f"{n:>11,} {fmt:>8} {bare_s:>7.2f} {ours_s:>7.2f} {median_of(bare_runs, 'cpu_s'):>8.2f} "
                f"{median_of(our_runs, 'cpu_s'):>8.2f} {n / bare_s:>13,.0f} {n / ours_s:>13,.0f} "
                f"{bare_s / ours_s:>6.0%} {median_of(bare_runs, 'peak_rss_mb'):>8.0f} "
                f"{median_of(our_runs, 'peak_rss_mb'):>8.0f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
