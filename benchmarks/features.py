"""Benchmark: point-in-time customer features on synthetic order lines (Parquet in, Parquet out).

Engines, each run in a fresh subprocess (wall time of read + compute + write, peak RSS
from ``resource.getrusage``):

* ``targetwise-duckdb``: ``targetwise.features.customer_features`` on Ibis/DuckDB, all columns,
  reading the Parquet file.
* ``targetwise-workspace``: the same over DuckDB tables holding the same lines (what
  ``targetwise features`` runs on a workspace; the tables are built once, untimed).
* ``pandas``: a plain pandas groupby of the core features (recency, frequency, monetary,
  tenure, inter-purchase mean/std, orders in 30/90/365 days, distinct products, returns).
* ``polars``: the same core features in Polars lazy, run with the Python of the separate
  venv ``/work/bench-venvs/features`` (reported as "not installed" without it).
* ``duckdb-scan``: DuckDB reading the needed columns once (the floor).

Usage::

    .venv/bin/python benchmarks/features.py --sizes 1M 10M [--repeat 3] [--memory-limit 3GB]

Data goes to ``.bench/features/`` (git-ignored); it is generated once per size, vectorised
with numpy, with a seed, so every engine reads the same file.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BENCH_DIR = ROOT / ".bench" / "features"
POLARS_PYTHON = Path(os.environ.get("TARGETWISE_POLARS_PYTHON", "/work/bench-venvs/features/bin/python"))
AS_OF = "2024-01-01"
NEEDED = [
    "customer_id", "order_id", "ordered_at", "product_id", "quantity",
    "is_return", "is_non_product", "line_amount", "channel",
]  # fmt: skip
SIZES = {"1M": 1_000_000, "10M": 10_000_000, "50M": 50_000_000}


# --------------------------------------------------------------------------- data


def generate(n_lines: int, *, seed: int = 0) -> Path:
    """Synthetic canonical transactions: ~5 lines/order, ~10 orders/customer (heavy tail), 2% return
    orders, 1% postage lines, 0.5% null customer ids, 3 channels, 2 years before AS_OF."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    path = BENCH_DIR / f"lines_{n_lines}.parquet"
    if path.exists():
        return path
    BENCH_DIR.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    n_orders = n_lines // 5
    n_customers = max(n_lines // 50, 1)
    n_products = 50_000
    start = np.datetime64("2022-01-01T00:00:00", "s").astype("int64")
    span = 2 * 365 * 86_400
    # Orders: customer with a heavy tail (5% of customers place ~40% of orders), time, channel, return flag.
    heavy = rng.random(n_orders) < 0.4
    order_customer = np.where(
        heavy, rng.integers(0, max(n_customers // 20, 1), n_orders), rng.integers(0, n_customers, n_orders)
    )
    order_time = start + rng.integers(0, span, n_orders)
    order_channel = rng.integers(0, 3, n_orders)
    order_is_return = rng.random(n_orders) < 0.02
    order_null_customer = rng.random(n_orders) < 0.005
    tmp = path.with_suffix(".partial")
    writer = None
    chunk = 5_000_000
    for lo in range(0, n_lines, chunk):
        hi = min(lo + chunk, n_lines)
        order = np.sort(rng.integers(0, n_orders, hi - lo))
        product = (rng.pareto(1.2, hi - lo) * 100).astype("int64") % n_products
        postage = rng.random(hi - lo) < 0.01
        is_return = order_is_return[order]
        quantity = rng.integers(1, 13, hi - lo) * np.where(is_return, -1, 1)
        price = np.round(rng.gamma(2.0, 4.0, hi - lo) + 0.1, 2)
        customer = pa.array(order_customer[order]).cast(pa.string())
        customer = pc.if_else(pa.array(order_null_customer[order]), None, customer)
        order_ids = pc.binary_join_element_wise(
            pa.array(np.where(is_return, "C", "")), pa.array(order).cast(pa.string()), ""
        )
        product_ids = pc.if_else(pa.array(postage), "POST", pa.array(product).cast(pa.string()))
        table = pa.table(
            {
                "customer_id": customer,
                "order_id": order_ids,
                "ordered_at": pa.array(order_time[order].astype("datetime64[s]").astype("datetime64[us]")),
                "product_id": product_ids,
                "quantity": pa.array(quantity),
                "unit_price": pa.array(price),
                "channel": pa.array(np.array(["web", "store", "app"])[order_channel[order]]),
                "is_return": pa.array(is_return),
                "is_non_product": pa.array(postage),
                "line_amount": pa.array(quantity * price),
            }
        )
        if writer is None:
            writer = pq.ParquetWriter(tmp, table.schema, compression="zstd")
        writer.write_table(table, row_group_size=1_000_000)
    writer.close()
    products = pa.table(
        {
            "product_id": pa.array(np.arange(n_products)).cast(pa.string()),
            "category": pa.array(np.array([f"cat{i:02d}" for i in range(40)])[np.arange(n_products) % 40]),
        }
    )
    pq.write_table(products, BENCH_DIR / "products.parquet")
    tmp.replace(path)
    return path


# --------------------------------------------------------------------------- workers


def work_targetwise_duckdb(source: Path, out: Path, memory_limit: str | None) -> int:
    from targetwise.features import customer_features
    from targetwise.io.engines import open_duckdb

    backend = open_duckdb(None, memory_limit=memory_limit)
    backend.raw_sql(f"SET temp_directory = '{BENCH_DIR / 'spill'}'")  # spills stay out of the repo
    backend.raw_sql(f"CREATE VIEW transactions AS SELECT * FROM read_parquet('{source}')")
    backend.raw_sql(f"CREATE VIEW products AS SELECT * FROM read_parquet('{BENCH_DIR / 'products.parquet'}')")
    features = customer_features(backend, AS_OF)
    backend.to_parquet(features, out)
    return int(backend.con.execute(f"SELECT count(*) FROM read_parquet('{out}')").fetchall()[0][0])


def workspace_file(source: Path) -> Path:
    """The same lines as tables in a DuckDB file, like a workspace after ingest (built once, not timed)."""
    import duckdb

    path = source.with_suffix(".duckdb")
    if not path.exists():
        partial = path.with_suffix(".partial.duckdb")
        partial.unlink(missing_ok=True)
        con = duckdb.connect(str(partial))
        con.execute(f"CREATE TABLE transactions AS SELECT * FROM read_parquet('{source}')")
        con.execute(f"CREATE TABLE products AS SELECT * FROM read_parquet('{BENCH_DIR / 'products.parquet'}')")
        con.close()
        partial.replace(path)
    return path


def work_targetwise_workspace(source: Path, out: Path, memory_limit: str | None) -> int:
    """What `targetwise features --as-of` runs: the features over the workspace's DuckDB tables."""
    from targetwise.features import customer_features
    from targetwise.io.engines import open_duckdb

    backend = open_duckdb(str(source.with_suffix(".duckdb")), read_only=True, memory_limit=memory_limit)
    backend.raw_sql(f"SET temp_directory = '{BENCH_DIR / 'spill'}'")
    features = customer_features(backend, AS_OF)
    backend.to_parquet(features, out)
    return int(backend.con.execute(f"SELECT count(*) FROM read_parquet('{out}')").fetchall()[0][0])


def work_duckdb_scan(source: Path, out: Path, memory_limit: str | None) -> int:
    import duckdb

    con = duckdb.connect()
    if memory_limit:
        con.execute(f"SET memory_limit = '{memory_limit}'")
    columns = ", ".join(f"max({c})" if c not in ("quantity", "line_amount") else f"sum({c})" for c in NEEDED)
    con.execute(f"SELECT {columns}, count(*) FROM read_parquet('{source}')").fetchall()
    return 0


def work_pandas(source: Path, out: Path, memory_limit: str | None) -> int:
    import numpy as np
    import pandas as pd

    lines = pd.read_parquet(source, columns=NEEDED)
    as_of = pd.Timestamp(AS_OF)
    lines = lines[(lines["ordered_at"] < as_of) & lines["customer_id"].notna() & ~lines["is_non_product"]]
    lines["purchase_value"] = lines["line_amount"].where(~lines["is_return"], 0.0)
    lines["return_value"] = (-lines["line_amount"]).where(lines["is_return"], 0.0)
    lines["purchase_line"] = ~lines["is_return"]
    orders = lines.groupby(["customer_id", "order_id"], sort=False).agg(
        at=("ordered_at", "min"),
        purchase_value=("purchase_value", "sum"),
        return_value=("return_value", "sum"),
        purchase_lines=("purchase_line", "sum"),
    )
    orders = orders.reset_index()
    purchases = orders[orders["purchase_lines"] > 0].sort_values(["customer_id", "at"])
    purchases["gap"] = purchases.groupby("customer_id")["at"].diff().dt.total_seconds() / 86_400
    age = (as_of - purchases["at"]).dt.total_seconds() / 86_400
    for days in (30, 90, 365):
        purchases[f"in_{days}"] = age <= days
    per_customer = purchases.groupby("customer_id").agg(
        first=("at", "min"),
        last=("at", "max"),
        frequency=("order_id", "size"),
        purchase_value=("purchase_value", "sum"),
        ipi_std_days=("gap", "std"),
        orders_30d=("in_30", "sum"),
        orders_90d=("in_90", "sum"),
        orders_365d=("in_365", "sum"),
    )
    per_customer["returns_value"] = orders.groupby("customer_id")["return_value"].sum()
    per_customer["recency_days"] = (as_of - per_customer["last"]).dt.total_seconds() / 86_400
    per_customer["tenure_days"] = (as_of - per_customer["first"]).dt.total_seconds() / 86_400
    per_customer["monetary_total"] = per_customer["purchase_value"] - per_customer["returns_value"]
    per_customer["monetary_mean"] = per_customer["monetary_total"] / per_customer["frequency"]
    span = (per_customer["last"] - per_customer["first"]).dt.total_seconds() / 86_400
    per_customer["ipi_mean_days"] = np.where(
        per_customer["frequency"] > 1, span / (per_customer["frequency"] - 1), np.nan
    )
    buys = lines[lines["purchase_line"]]
    per_customer["distinct_products"] = buys.groupby("customer_id")["product_id"].nunique()
    per_customer.drop(columns=["first", "last"]).reset_index().to_parquet(out, index=False)
    return len(per_customer)


POLARS_WORKER = r"""
import sys, time, resource, json, datetime as dt
import polars as pl
source, out, as_of = sys.argv[1], sys.argv[2], dt.datetime.fromisoformat(sys.argv[3])
u0 = resource.getrusage(resource.RUSAGE_SELF); c0 = u0.ru_utime + u0.ru_stime
t0 = time.perf_counter()
lines = pl.scan_parquet(source).filter(
    (pl.col("ordered_at") < as_of) & pl.col("customer_id").is_not_null() & ~pl.col("is_non_product"))
orders = lines.group_by("customer_id", "order_id").agg(
    pl.col("ordered_at").min().alias("at"),
    pl.col("line_amount").filter(~pl.col("is_return")).sum().alias("purchase_value"),
    (-pl.col("line_amount")).filter(pl.col("is_return")).sum().alias("return_value"),
    (~pl.col("is_return")).sum().alias("purchase_lines"))
day = 86_400_000_000
age = (pl.lit(as_of) - pl.col("at")).dt.total_microseconds() / day
purchases = orders.filter(pl.col("purchase_lines") > 0).sort("customer_id", "at").with_columns(
    (pl.col("at").diff().over("customer_id").dt.total_microseconds() / day).alias("gap"))
per_customer = purchases.group_by("customer_id").agg(
    pl.col("at").min().alias("first"), pl.col("at").max().alias("last"), pl.len().alias("frequency"),
    pl.col("purchase_value").sum(), pl.col("gap").std().alias("ipi_std_days"),
    (age <= 30).sum().alias("orders_30d"), (age <= 90).sum().alias("orders_90d"),
    (age <= 365).sum().alias("orders_365d"))
returns = orders.group_by("customer_id").agg(pl.col("return_value").sum().alias("returns_value"))
products = lines.filter(~pl.col("is_return")).group_by("customer_id").agg(
    pl.col("product_id").n_unique().alias("distinct_products"))
result = per_customer.join(returns, on="customer_id", how="left").join(products, on="customer_id", how="left").with_columns(
    ((pl.lit(as_of) - pl.col("last")).dt.total_microseconds() / day).alias("recency_days"),
    ((pl.lit(as_of) - pl.col("first")).dt.total_microseconds() / day).alias("tenure_days"),
    (pl.col("purchase_value") - pl.col("returns_value")).alias("monetary_total"),
).with_columns(
    (pl.col("monetary_total") / pl.col("frequency")).alias("monetary_mean"),
    pl.when(pl.col("frequency") > 1).then((pl.col("last") - pl.col("first")).dt.total_microseconds() / day
        / (pl.col("frequency") - 1)).alias("ipi_mean_days"),
).drop("first", "last")
result.sink_parquet(out)
wall = time.perf_counter() - t0
u = resource.getrusage(resource.RUSAGE_SELF)
hwm = [int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM:")]
print(json.dumps({"wall_s": wall, "cpu_s": u.ru_utime + u.ru_stime - c0, "peak_rss_gb": (hwm[0] if hwm else u.ru_maxrss) / 2**20,
                  "rows": pl.scan_parquet(out).select(pl.len()).collect().item()}))
"""

WORKERS = {
    "targetwise-duckdb": work_targetwise_duckdb,
    "targetwise-workspace": work_targetwise_workspace,
    "pandas": work_pandas,
    "duckdb-scan": work_duckdb_scan,
}


def run_worker(engine: str, source: Path, memory_limit: str | None) -> dict:
    out = BENCH_DIR / f"out_{engine}.parquet"
    if engine == "polars":
        if not POLARS_PYTHON.exists():
            return {"status": "not installed"}
        cmd = [str(POLARS_PYTHON), "-c", POLARS_WORKER, str(source), str(out), AS_OF]
    else:
        cmd = [sys.executable, __file__, "--worker", engine, "--source", str(source), "--out", str(out)]
        if memory_limit:
            cmd += ["--memory-limit", memory_limit]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=3600)
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["?"]
        return {"status": f"failed: {tail[0][:120]}"}
    return {"status": "ok", **json.loads(done.stdout.strip().splitlines()[-1])}


WORKER_IMPORTS = {
    "targetwise-duckdb": ["duckdb", "ibis", "targetwise.features", "targetwise.io.engines"],
    "targetwise-workspace": ["duckdb", "ibis", "targetwise.features", "targetwise.io.engines"],
    "pandas": ["pandas", "numpy", "pyarrow.parquet"],
    "duckdb-scan": ["duckdb"],
}


def worker_main(engine: str, source: Path, out: Path, memory_limit: str | None) -> None:
    import importlib

    for module in WORKER_IMPORTS[engine]:  # imports are not part of the measured time
        importlib.import_module(module)
    before = resource.getrusage(resource.RUSAGE_SELF)
    cpu_start = before.ru_utime + before.ru_stime
    start = time.perf_counter()
    rows = WORKERS[engine](source, out, memory_limit)
    wall = time.perf_counter() - start
    usage = resource.getrusage(resource.RUSAGE_SELF)
    cpu = usage.ru_utime + usage.ru_stime - cpu_start
    print(json.dumps({"wall_s": wall, "cpu_s": cpu, "peak_rss_gb": own_peak_rss_gb(usage.ru_maxrss), "rows": rows}))


def own_peak_rss_gb(usage_maxrss_kb: float) -> float:
    """This process's own peak RSS: ``VmHWM`` (``ru_maxrss`` survives exec on Linux and can be the parent's)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 2**20
    except OSError:
        pass
    return usage_maxrss_kb / 2**20


def agreement() -> str:
    """Cross-check the core columns of every engine's output against targetwise's."""
    import numpy as np
    import pandas as pd

    ours_path = BENCH_DIR / "out_targetwise-duckdb.parquet"
    if not ours_path.exists():
        return "agreement: targetwise output missing"
    ours = pd.read_parquet(ours_path).set_index("customer_id").sort_index()
    notes = []
    for engine in ("pandas", "polars"):
        path = BENCH_DIR / f"out_{engine}.parquet"
        if not path.exists():
            continue
        peer = pd.read_parquet(path).set_index("customer_id").sort_index()
        same_ids = peer.index.equals(ours.index)
        checks = [same_ids]
        if same_ids:
            for name in ("frequency", "orders_90d", "distinct_products"):
                checks.append(bool((peer[name].astype("int64") == ours[name]).all()))
            for name in ("monetary_total", "recency_days", "tenure_days", "ipi_mean_days", "ipi_std_days"):
                checks.append(bool(np.allclose(peer[name], ours[name], rtol=1e-9, atol=1e-9, equal_nan=True)))
        notes.append(f"{engine} {'equal' if all(checks) else 'DIFFERENT'}")
        path.unlink()
    ours_path.unlink()
    return "agreement with targetwise on the core columns: " + (", ".join(notes) or "no peer output")


def machine() -> str:
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    load = os.getloadavg()[0]
    mem_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (
        f"{platform.platform()}, {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"{mem_gb:.0f} GB RAM, Python {platform.python_version()}, commit {commit.stdout.strip()}, "
        f"load average at start {load:.1f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", default=["1M", "10M"], choices=list(SIZES))
    parser.add_argument(
        "--engines", nargs="+", default=["duckdb-scan", "targetwise-duckdb", "polars", "pandas"]
    )
    parser.add_argument(
        "--repeat", type=int, default=1, help="fresh processes per cell; the median is reported"
    )
    parser.add_argument("--memory-limit", default=None, help="DuckDB memory_limit, e.g. 3GB")
    parser.add_argument("--skip-pandas-above", default="10M", choices=list(SIZES))
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--source", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker_main(args.worker, Path(args.source), Path(args.out), args.memory_limit)
        return
    print(f"machine: {machine()}")
    print(f"DuckDB memory_limit: {args.memory_limit or 'DuckDB default (80% of RAM)'}; repeat: {args.repeat}")
    header = (
        f"| {'engine':<18} | {'lines':>5} | {'wall s (median)':>15} | {'CPU s':>6} | {'peak RSS GB':>11} "
        f"| {'x scan':>6} | rows |"
    )
    print(header)
    print("|" + "|".join("-" * (len(part)) for part in header.split("|")[1:-1]) + "|")
    for size in args.sizes:
        source = generate(SIZES[size])
        if "targetwise-workspace" in args.engines:
            workspace_file(source)
        scan_wall = None
        for engine in args.engines:
            if engine == "pandas" and SIZES[size] > SIZES[args.skip_pandas_above]:
                print(
                    f"| {engine:<18} | {size:>5} | {'skipped (memory)':>15} | {'':>6} | {'':>11} | {'':>6} | |"
                )
                continue
            runs = [run_worker(engine, source, args.memory_limit) for _ in range(args.repeat)]
            ok = [r for r in runs if r["status"] == "ok"]
            if not ok:
                print(
                    f"| {engine:<18} | {size:>5} | {runs[0]['status']:>15} | {'':>6} | {'':>11} | {'':>6} | |"
                )
                continue
            wall = statistics.median(r["wall_s"] for r in ok)
            cpu = statistics.median(r["cpu_s"] for r in ok)
            peak = max(r["peak_rss_gb"] for r in ok)
            if engine == "duckdb-scan":
                scan_wall = wall
            ratio = f"{wall / scan_wall:.1f}" if scan_wall else ""
            print(
                f"| {engine:<18} | {size:>5} | {wall:>15.2f} | {cpu:>6.1f} | {peak:>11.2f} | {ratio:>6} | {ok[0]['rows']} |",
                flush=True,
            )
        print(f"  {size}: {agreement()}", flush=True)


if __name__ == "__main__":
    main()
