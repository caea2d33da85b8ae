"""Ingest from a Delta Lake / Iceberg table read in place vs the same lines from one Parquet file.

    .venv/bin/python benchmarks/ingest_lake.py --lines 1000000 [--repeat 3]

The lines are benchmarks/ingest.py's synthetic ones, typed (timestamps, integers, doubles), written once
as one Parquet file, as a Delta table (deltalake) and as an Iceberg table (pyiceberg, SqlCatalog on
SQLite). Each ingest runs in a fresh subprocess into a fresh workspace; peak RSS is the child's own
``VmHWM``. "spooled" sets ``TARGETWISE_CSV_SPOOL_MB=0``, so the table's batches go to a temporary
Parquet file in the workspace instead of being held (what a table above the spool size does).
Needs the ``[lake]`` extra.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _machine import REPO, describe
from ingest import prepare

BENCH_DIR = REPO / ".bench" / "ingest"

CHILD = r"""
import json, shutil, sys, time
from targetwise.config import get_settings
from targetwise.io.ingest import ingest
from targetwise.io.workspace import Workspace
location, ws_path, spool_mb = sys.argv[1], sys.argv[2], int(sys.argv[3])
shutil.rmtree(ws_path, ignore_errors=True)
settings = get_settings(workspace=ws_path, csv_spool_mb=spool_mb)
ws = Workspace.init(settings.workspace, settings)
t0 = time.perf_counter()
s = ingest(ws, "transactions", location)
seconds = time.perf_counter() - t0
t0 = time.perf_counter()
again = ingest(ws, "transactions", location)
again_s = time.perf_counter() - t0
assert again.already_loaded
peak = next(int(l.split()[1]) / 1024 for l in open("/proc/self/status") if l.startswith("VmHWM:"))
print(json.dumps({"seconds": seconds, "again_s": again_s, "peak_mb": peak, "read": s.rows_read,
                  "loaded": s.rows_loaded, "anonymous": s.rows_anonymous, "quarantined": s.rows_quarantined}))
shutil.rmtree(ws_path, ignore_errors=True)
"""


def lake_tables(n: int) -> tuple[Path, Path, str]:
    """(Parquet file, Delta folder, Iceberg metadata file) holding the same n typed lines."""
    _, parquet = prepare(n)
    delta = BENCH_DIR / f"delta_{n}"
    iceberg_dir = BENCH_DIR / f"iceberg_{n}"
    pointer = iceberg_dir / "metadata_location.txt"
    if not (delta / "_delta_log").is_dir() or not pointer.exists():
        import deltalake
        from pyiceberg.catalog.sql import SqlCatalog

        table = pq.read_table(parquet)
        # Iceberg (and Delta) store microseconds: the same instants, whole seconds here
        at = table.schema.get_field_index("ordered_at")
        table = table.set_column(at, "ordered_at", table.column(at).cast(pa.timestamp("us")))
        shutil.rmtree(delta, ignore_errors=True)
        deltalake.write_deltalake(delta, table)
        shutil.rmtree(iceberg_dir, ignore_errors=True)
        iceberg_dir.mkdir(parents=True)
        catalog = SqlCatalog(
            "bench", uri=f"sqlite:///{iceberg_dir / 'catalog.db'}", warehouse=(iceberg_dir / "wh").as_uri()
        )
        catalog.create_namespace("bench")
        lines = catalog.create_table("bench.lines", schema=table.schema)
        lines.append(table)
        pointer.write_text(lines.metadata_location.removeprefix("file://"))
    return parquet, delta, pointer.read_text()


def measure(location: str, spool_mb: int) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", CHILD, location, str(BENCH_DIR / "ws_lake"), str(spool_mb)],
        capture_output=True, text=True, check=True, env=dict(os.environ),
    )  # fmt: skip
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lines", type=int, nargs="+", default=[1_000_000])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(describe())
    print("| lines | source | ingest s (median) | lines/s | vs Parquet | peak RSS MB | again s | loaded |")
    print("|---:|---|---:|---:|---:|---:|---:|---:|")
    for n in args.lines:
        parquet, delta, iceberg = lake_tables(n)
        cases = [("Parquet file", str(parquet), 1024), ("Delta (held)", str(delta), 1024),
                 ("Delta (spooled)", str(delta), 0), ("Iceberg (held)", iceberg, 1024)]  # fmt: skip
        base = None
        for label, location, spool_mb in cases:
            runs = [measure(location, spool_mb) for _ in range(args.repeat)]
            seconds = statistics.median(r["seconds"] for r in runs)
            base = base or seconds
            last = runs[-1]
            print(
                f"| {n:,} | {label} | {seconds:.2f} | {n / seconds:,.0f} | {seconds / base:.2f}x | "
                f"{max(r['peak_mb'] for r in runs):,.0f} | {statistics.median(r['again_s'] for r in runs):.2f} | "
                f"{last['loaded']:,} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
