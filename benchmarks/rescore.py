"""Benchmark: `targetwise rescore`, seconds from new lines for N customers to a promoted derived run (issue 23).

For each size the cached synthetic workspace of ``benchmarks/run_scale.py`` (about 85 lines per
customer, under ``.bench/run_scale/``) is copied, one full ``targetwise run`` (features, segments, CLV,
propensity: the stages a rescore recomputes; promoted) is made in a fresh process and timed, then
``--customers`` known customers get one new order each dated the day before the run's cut-off, loaded
through the ingest, and ``targetwise rescore`` runs in a fresh process. Printed: the full run's wall
time, the ingest's, the rescore's (the whole process: start-up, reading the parent, features from
scratch for the affected customers, scoring, writing and promoting the derived run) and its own
measured seconds from the result, and the ratio full run / rescore.

Usage::

    .venv/bin/python benchmarks/rescore.py --lines 1M [10M] [--customers 1000] [--results F]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from _machine import describe  # noqa: E402
from run_scale import BENCH_DIR, SIZES, _python, prepare  # noqa: E402

STAGES = ("features", "segments", "clv", "propensity")


def _cli(*args: str) -> tuple[float, str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "COLUMNS": "200"}
    started = time.perf_counter()
    proc = subprocess.run([_python(), "-m", "targetwise", *args], cwd=ROOT, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"targetwise {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n"
                         f"{proc.stderr[-3000:]}")
    return wall, proc.stdout


def _late_lines(workspace: Path, n_customers: int) -> Path:
    """A CSV of one new order for each of ``n_customers`` customers of the active run (day before its cut-off)."""
    code = f"""
import sys
sys.path.insert(0, {str(ROOT / 'src')!r})
import pandas as pd
from pathlib import Path
from targetwise.config import Settings
from targetwise.io import outputs as out
from targetwise.io.modeldata import open_model_data
from targetwise.io.runs import RunStore
from targetwise.io.workspace import Workspace
ws = Workspace.open(Path({str(workspace)!r}), Settings(workspace=Path({str(workspace)!r})))
run = RunStore(ws).active()
ids = run.read_table(out.FEATURES)["customer_id"].astype(str).sample(n={n_customers}, random_state=0).sort_values()
with open_model_data(ws) as data:
    product = str(data.products()["product_id"].iloc[0])
at = (pd.Timestamp(str(run.as_of)) - pd.Timedelta(days=1)).strftime("%Y-%m-%d 18:00:00")
pd.DataFrame({{"customer_id": ids.to_numpy(), "order_id": ["LATE-" + str(i) for i in range(len(ids))],
               "ordered_at": at, "product_id": product, "quantity": 2, "unit_price": 9.5}}).to_csv(
    Path({str(workspace)!r}).parent / "late_lines.csv", index=False)
"""
    subprocess.run([_python(), "-c", code], check=True, cwd=ROOT)
    return workspace.parent / "late_lines.csv"


def measure(label: str, n_customers: int) -> dict:
    cached = prepare(label)
    work = BENCH_DIR / f"rescore_{label}" / "ws"
    if work.parent.exists():
        shutil.rmtree(work.parent)
    work.parent.mkdir(parents=True)
    shutil.copytree(cached, work)
    stage_args = [a for s in STAGES for a in ("--stage", s)]
    run_s, _ = _cli("run", "--workspace", str(work), *stage_args)
    lines = _late_lines(work, n_customers)
    ingest_s, _ = _cli("ingest", "transactions", str(lines), "--workspace", str(work))
    rescore_s, said = _cli("rescore", "--workspace", str(work))
    runs = sorted((work / "artifacts" / "runs").glob("*/manifest.json"), key=lambda p: p.stat().st_mtime)
    manifest = json.loads(runs[-1].read_text())
    derived = manifest.get("derived_from") or {}
    active = (work / "artifacts" / "runs" / "ACTIVE").read_text().strip() if (work / "artifacts" / "runs" / "ACTIVE").exists() else None
    result = {
        "label": label, "lines": SIZES[label], "customers": n_customers, "full_run_s": run_s, "ingest_s": ingest_s,
        "rescore_process_s": rescore_s, "rescore_reported_s": derived.get("seconds"),
        "affected": derived.get("affected_customers"), "promoted": active == manifest.get("run_id") if active else None,
        "said": " ".join(said.split())[:300],
    }
    shutil.rmtree(work.parent)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", nargs="+", default=["1M"], choices=list(SIZES))
    parser.add_argument("--customers", type=int, default=1000)
    parser.add_argument("--results", type=Path)
    args = parser.parse_args()
    rows = []
    for label in args.lines:
        r = measure(label, args.customers)
        print(json.dumps(r), flush=True)
        rows.append(
            f"| {label} | {r['customers']:,} | {r['affected']} | {r['full_run_s']:.1f} | {r['ingest_s']:.1f} | "
            f"{r['rescore_process_s']:.1f} | {r['rescore_reported_s']} | {r['full_run_s'] / r['rescore_process_s']:.1f}x |"
        )
    table = "\n".join([
        f"Machine: {describe()}",
        f"Command: `.venv/bin/python benchmarks/rescore.py --lines {' '.join(args.lines)} --customers {args.customers}`",
        "",
        "| lines | customers with new lines | re-scored | full run (features..propensity) s | ingest s | "
        "rescore process s | rescore (manifest) s | full run / rescore |",
        "|---|---|---|---|---|---|---|---|",
        *rows,
    ])
    print(table)
    if args.results:
        args.results.write_text("# targetwise rescore\n\n" + table + "\n")


if __name__ == "__main__":
    main()
