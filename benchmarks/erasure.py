"""Erasure on the full UCI Online Retail data: time, rows removed, and a byte search afterwards.

Builds a workspace from the bundled Online Retail file (401,562 customer lines),
runs the features and segments stages, erases the customers with the most lines,
and after each erasure searches every byte of the workspace folder for the id.
The control row deletes and checkpoints only (no rebuild) on a copy, to show why
the rebuild is needed. No peer library does this; there is no ratio to report.

    .venv/bin/python benchmarks/erasure.py [--customers 3]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _machine import describe

from targetwise.config import get_settings
from targetwise.io.erasure import erase_customer
from targetwise.io.ingest import ingest
from targetwise.io.mapping import load_mapping
from targetwise.io.workspace import Workspace
from targetwise.pipeline.demo import bundled_online_retail
from targetwise.pipeline.run import run_pipeline


def files_containing(root: Path, token: str) -> list[str]:
    needle = token.encode()
    return [p.relative_to(root).as_posix() for p in sorted(root.rglob("*")) if p.is_file() and needle in p.read_bytes()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=3, help="How many of the largest customers to erase.")
    args = parser.parse_args()
    print(describe())
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "ws"
        settings = get_settings(workspace=root, duckdb_threads=2)
        ws = Workspace.init(root, settings)
        csv_path, mapping_path = bundled_online_retail()
        started = time.perf_counter()
        ingest(ws, "transactions", csv_path, mapping=load_mapping(mapping_path, table="transactions"))
        run_pipeline(ws, settings, stages=["features", "segments"])
        print(f"workspace built in {time.perf_counter() - started:.1f} s")
        with ws.connect(read_only=True) as con:
            largest = [r[0] for r in con.execute(
                "SELECT customer_id FROM transactions GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT ?", [args.customers]
            ).fetchall()]

        control = Path(tmp) / "control"
        shutil.copytree(root, control)
        control_ws = Workspace.open(control, settings)
        with control_ws.connect() as con:
            con.execute("DELETE FROM transactions WHERE customer_id = ?", [largest[0]])
            con.execute("DELETE FROM quarantine WHERE customer_id = ?", [largest[0]])
            con.execute("DELETE FROM customers WHERE customer_id = ?", [largest[0]])
            con.execute("CHECKPOINT")
        control_hits = [f for f in files_containing(control, largest[0]) if f.endswith(".duckdb")]

        rows = []
        for customer in largest:
            db_before = ws.db_path.stat().st_size
            t0 = time.perf_counter()
            receipt = erase_customer(ws, customer, actor="benchmark")
            seconds = time.perf_counter() - t0
            hits = files_containing(root, customer)
            rows.append((customer, sum(receipt.tables.values()), sum(receipt.files.values()), seconds,
                         db_before, receipt.database_bytes_after, len(hits)))

    print()
    print("| customer | table rows removed | run-file rows removed | seconds | db bytes before | db bytes after | files still naming the id |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for customer, table_rows, file_rows, seconds, before, after, hits in rows:
        print(f"| {customer} | {table_rows:,} | {file_rows:,} | {seconds:.2f} | {before:,} | {after:,} | {hits} |")
    print()
    print(f"control (DELETE + CHECKPOINT, no rebuild) of {largest[0]}: id bytes still in "
          f"{', '.join(control_hits) or 'no file'}")


if __name__ == "__main__":
    main()
