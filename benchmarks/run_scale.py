"""Benchmark: the whole job, `targetwise run`, on the synthetic retailer at 1M, 10M and 100M lines.

For each size the synthetic retailer (about 85 transaction lines per customer) is generated
and ingested once into a cached workspace under ``.bench/run_scale/`` (git-ignored); then
``targetwise run`` runs in a fresh process per engine. Printed per run: the stages' wall,
CPU, peak RSS and rows in/out from the run manifest, the whole process's wall time and
peak RSS (``resource.getrusage`` of the child), and the ratio of each figure to the 1M run.

Sizes past one generator call (more than 10M lines) are generated in shards of about
10M lines (disjoint customer, order and campaign ids, different seeds) and ingested one
shard at a time, so generation never holds more than one shard in memory.

Usage::

    .venv/bin/python benchmarks/run_scale.py --lines 1M 10M [100M] [--engine duckdb spark]
        [--prepare-only] [--results benchmarks/results/run_scale.md]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from _machine import describe  # noqa: E402

BENCH_DIR = Path(os.environ.get("TARGETWISE_BENCH_DIR", ROOT / ".bench" / "run_scale"))
SIZES = {"1M": 1_000_000, "3M": 3_000_000, "10M": 10_000_000, "30M": 30_000_000, "100M": 100_000_000}
LINES_PER_CUSTOMER = 85.5  # measured: 120,000 customers -> 10.26M lines
SHARD_CUSTOMERS = 117_000  # about 10M lines per generator call
TABLES = ("products", "customers", "customer_pii", "campaigns", "campaign_exposures", "responses", "consent",
          "transactions")


def _python() -> str:
    venv = ROOT / ".venv" / "bin" / "python"
    return str(venv) if venv.exists() else sys.executable


def prepare(label: str) -> Path:
    """The cached workspace for ``label`` (built on first use)."""
    workspace = BENCH_DIR / f"ws_{label}"
    if (workspace / ".ready").exists():
        return workspace
    if workspace.exists():
        shutil.rmtree(workspace)
    code = f"""
import sys, time
sys.path.insert(0, {str(ROOT / 'src')!r})
from pathlib import Path
from targetwise.config import Settings
from targetwise.io.ingest import ingest_arrow
from targetwise.io.readers import source_from_frame
from targetwise.io.workspace import Workspace
from targetwise.synthetic import generate_retailer

n_customers = int({SIZES[label]} / {LINES_PER_CUSTOMER})
settings = Settings()
ws = Workspace.init(Path({str(workspace)!r}), settings)
shards = max(1, round(n_customers / {SHARD_CUSTOMERS}))
per = n_customers // shards
for shard in range(shards):
    t0 = time.perf_counter()
    r = generate_retailer(n_customers=per, random_state=settings.random_state + shard, pii=True)
    for table in {TABLES!r}:
        frame = getattr(r, table, None)
        if frame is None or frame.empty:
            continue
        if shards > 1:
            if shard > 0 and table in ("products",):
                continue
            frame = frame.copy()
            tag = "S{{}}".format(shard)
            for col in ("customer_id", "order_id", "campaign_id"):
                if col in frame.columns:
                    text = frame[col].astype("string")
                    if col == "order_id":  # a return order is 'C' + the order it returns
                        is_ret = text.str.startswith("C").fillna(False)
                        text = text.where(~is_ret, "C" + tag + text.str[1:]).where(is_ret, tag + text)
                    else:
                        text = tag + text
                    frame[col] = text.where(frame[col].notna(), None)
            if "email" in frame.columns:
                frame["email"] = tag.lower() + "." + frame["email"].astype("string")
        ingest_arrow(ws, table, source_from_frame(frame, name=f"synthetic:{{table}}:{{shard}}"))
    print(f"shard {{shard + 1}}/{{shards}}: {{per:,}} customers, {{len(r.transactions):,}} lines, "
          f"{{time.perf_counter() - t0:.0f}} s", flush=True)
"""
    started = time.perf_counter()
    subprocess.run([_python(), "-c", code], check=True, cwd=ROOT)
    (workspace / ".ready").write_text(f"{time.perf_counter() - started:.0f} s\n")
    return workspace


class _TreeSampler(threading.Thread):
    """Samples the child's whole process tree from /proc every ``interval`` seconds: the largest sum of
    resident sizes over the tree (the Python child plus e.g. Spark's JVM, which ``ru_maxrss`` does not
    add: it is the largest single descendant's), each process's largest resident size and its last CPU time."""

    def __init__(self, root: int, interval: float = 0.5) -> None:
        super().__init__(name="run-scale-tree-sampler", daemon=True)
        self.root, self.interval = root, interval
        self.tree_peak = 0
        self.procs: dict[int, dict] = {}  # pid -> {"comm", "peak_rss", "cpu_s"}
        self._halt = threading.Event()
        self._page = os.sysconf("SC_PAGE_SIZE")
        self._tick = os.sysconf("SC_CLK_TCK")

    def _stats(self) -> dict[int, tuple[int, str, int, float]]:
        out = {}
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                raw = Path(f"/proc/{entry}/stat").read_text()
                comm = raw[raw.index("(") + 1:raw.rindex(")")]
                fields = raw[raw.rindex(")") + 2:].split()
                # fields[1] ppid, [11] utime, [12] stime, [21] rss (pages)
                out[int(entry)] = (int(fields[1]), comm, int(fields[21]) * self._page,
                                   (int(fields[11]) + int(fields[12])) / self._tick)
            except (OSError, ValueError, IndexError):
                continue
        return out

    def sample(self) -> None:
        stats = self._stats()
        children: dict[int, list[int]] = {}
        for pid, (ppid, *_rest) in stats.items():
            children.setdefault(ppid, []).append(pid)
        tree, todo = [], [self.root] if self.root in stats else []
        while todo:
            pid = todo.pop()
            tree.append(pid)
            todo.extend(children.get(pid, []))
        total = 0
        for pid in tree:
            _ppid, comm, rss, cpu = stats[pid]
            total += rss
            rec = self.procs.setdefault(pid, {"comm": comm, "peak_rss": 0, "cpu_s": 0.0})
            rec["comm"], rec["peak_rss"], rec["cpu_s"] = comm, max(rec["peak_rss"], rss), cpu
        self.tree_peak = max(self.tree_peak, total)

    def run(self) -> None:
        while not self._halt.wait(self.interval):
            self.sample()

    def halt(self) -> None:
        self._halt.set()
        self.join()


def run_once(workspace: Path, engine: str, extra: list[str]) -> dict:
    """`targetwise run` in a fresh process; the manifest's stage figures and the process's wall / peak RSS.

    ``peak_rss_gb`` is ``ru_maxrss`` of the child (its largest single process); ``tree_peak_rss_gb`` the
    largest sum over the child's process tree sampled every 0.5 s (with Spark: the Python child plus the
    JVM); ``jvm`` the JVM's sampled peak and last CPU seconds (None on DuckDB)."""
    cmd = [_python(), "-m", "targetwise", "run", "--workspace", str(workspace), "--no-promote", *extra]
    if engine != "duckdb":
        cmd += ["--engine", engine]
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=err, text=True)
        sampler = _TreeSampler(proc.pid)
        sampler.start()
        returncode = proc.wait()
        wall = time.perf_counter() - started
        sampler.halt()
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if returncode != 0:
        raise SystemExit(f"targetwise run failed ({returncode}) after {wall:.0f} s:\n{stdout[-3000:]}\n{stderr[-3000:]}")
    runs = sorted((workspace / "artifacts" / "runs").glob("*/manifest.json"), key=lambda p: p.stat().st_mtime)
    manifest = json.loads(runs[-1].read_text())
    jvms = [rec for rec in sampler.procs.values() if rec["comm"] == "java"]
    return {
        "wall_s": wall,
        "cpu_s": (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime),
        "peak_rss_gb": after.ru_maxrss * 1024 / 1e9,  # GB like the stages; the largest child so far (one at a time)
        "tree_peak_rss_gb": sampler.tree_peak / 1e9,
        "jvm": None if not jvms else {"peak_rss_gb": max(r["peak_rss"] for r in jvms) / 1e9,
                                      "cpu_s": sum(r["cpu_s"] for r in jvms), "processes": len(jvms)},
        "stages": manifest.get("stages", {}),
        "run_id": manifest.get("run_id"),
        "as_of": manifest.get("as_of"),
        "run_path": str(runs[-1].parent),
        "output_tail": stdout[-2000:],
    }


def _stage_rows(result: dict) -> list[str]:
    rows = []
    for name, rec in result["stages"].items():
        cost = rec.get("cost") or {}
        rows.append(
            f"| {name} | {rec.get('status')} | {cost.get('wall_s', rec.get('seconds', float('nan'))):.1f} | "
            f"{cost.get('cpu_s', float('nan')):.1f} | {cost.get('peak_rss_gb', float('nan')):.2f} | "
            f"{cost.get('rows_in', '')} | {cost.get('rows_out', '')} |"
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", nargs="+", default=["1M", "10M"], choices=list(SIZES))
    parser.add_argument("--engine", nargs="+", default=["duckdb"], choices=["duckdb", "spark"])
    parser.add_argument("--prepare-only", action="store_true")
    parser.add_argument("--set", nargs="*", default=[], help="run config values passed to targetwise run --set")
    parser.add_argument("--results", type=Path, help="also write the tables to this Markdown file")
    args = parser.parse_args()
    print(describe())
    workspaces = {}
    for label in args.lines:
        t0 = time.perf_counter()
        workspaces[label] = prepare(label)
        print(f"workspace {label}: {workspaces[label]} ({time.perf_counter() - t0:.0f} s)", flush=True)
    if args.prepare_only:
        return
    extra = [a for value in args.set for a in ("--set", value)]
    lines = [f"Machine: {describe()}", "", f"Command: `{' '.join(['benchmarks/run_scale.py', *sys.argv[1:]])}`", ""]
    summary = ["| lines | engine | wall s | CPU s | peak RSS GB | tree peak RSS GB | wall / 1M | largest stage share |",
               "|---|---|---|---|---|---|---|---|"]
    base: dict[str, float] = {}
    for engine in args.engine:
        for label in args.lines:
            result = run_once(workspaces[label], engine, extra)
            jvm = result["jvm"]
            jvm_text = "" if jvm is None else (f"; JVM peak {jvm['peak_rss_gb']:.2f} GB, JVM CPU {jvm['cpu_s']:.0f} s "
                                               f"(sampled, {jvm['processes']} process(es))")
            print(f"\n{label} lines, {engine}: wall {result['wall_s']:.0f} s, CPU {result['cpu_s']:.0f} s, "
                  f"peak RSS {result['peak_rss_gb']:.2f} GB (ru_maxrss), process tree peak "
                  f"{result['tree_peak_rss_gb']:.2f} GB{jvm_text} (run {result['run_id']}, as of {result['as_of']}, "
                  f"{result['run_path']})", flush=True)
            table = ["| stage | status | wall s | CPU s | peak RSS GB | rows in | rows out |",
                     "|---|---|---|---|---|---|---|", *_stage_rows(result)]
            print("\n".join(table), flush=True)
            stage_walls = {n: (r.get("cost") or {}).get("wall_s", r.get("seconds", 0.0)) for n, r in result["stages"].items()}
            total = sum(stage_walls.values()) or 1.0
            largest = max(stage_walls, key=stage_walls.get) if stage_walls else "-"
            if label == "1M":
                base[engine] = result["wall_s"]
            ratio = f"{result['wall_s'] / base[engine]:.1f}x" if engine in base else "-"
            summary.append(f"| {label} | {engine} | {result['wall_s']:.0f} | {result['cpu_s']:.0f} | "
                           f"{result['peak_rss_gb']:.2f} | {result['tree_peak_rss_gb']:.2f} | {ratio} | {largest} {stage_walls.get(largest, 0) / total:.0%} |")
            lines += [f"### {label} lines, {engine}", "", *table, ""]
    print("\n" + "\n".join(summary))
    if args.results:
        args.results.write_text("## Whole run at scale (`benchmarks/run_scale.py`)\n\n" + "\n".join(
            [*lines, "### Summary", "", *summary, ""]) + "\n")


if __name__ == "__main__":
    main()
