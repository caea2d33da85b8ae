"""The whole run on Spark local[2] against DuckDB on the bundled Online Retail demo, stage by stage.

Builds the Online Retail demo workspace (``targetwise demo --data online-retail``, DuckDB) unless ``--workspace``
already holds one, then runs every stage again on Spark at the same cutoff (not promoted) and prints each
stage's wall seconds on both engines (from the run manifests' ``cost``) and the Spark queries the stages sent
(count and seconds per calling line), so a change to the Spark path can be measured where it costs:

    .venv/bin/python benchmarks/spark_stages.py [--workspace /tmp/or-ws] [--driver-memory 1g]
"""

from __future__ import annotations

import argparse
import collections
import time
import traceback
from pathlib import Path
from typing import Any


def _count_queries(stats: dict[tuple[str, str], list[float]]) -> None:
    """Wrap the Ibis PySpark backend's execute: count and time each call by the targetwise line that made it."""
    import ibis.backends.pyspark as ps

    original = ps.Backend.execute

    def execute(self: Any, *args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return original(self, *args, **kwargs)
        finally:
            frames = [f for f in traceback.extract_stack()[:-1] if "targetwise" in f.filename]
            where = f"{Path(frames[-1].filename).name}:{frames[-1].lineno}" if frames else "?"
            stats[("execute", where)][0] += 1
            stats[("execute", where)][1] += time.perf_counter() - started

    ps.Backend.execute = execute


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workspace", type=Path, default=Path("/tmp/targetwise-bench-or-ws"))
    parser.add_argument("--driver-memory", default="1g")
    args = parser.parse_args()

    from targetwise.config import get_settings
    from targetwise.io.engines import new_spark_session
    from targetwise.io.runs import RunStore
    from targetwise.io.workspace import Workspace
    from targetwise.pipeline.demo import run_demo
    from targetwise.pipeline.run import run_pipeline

    settings = get_settings(workspace=args.workspace, duckdb_threads=2)
    if not (args.workspace / "workspace.json").exists():
        started = time.perf_counter()
        run_demo(args.workspace, settings, data="online-retail")
        print(f"Online Retail demo built in {time.perf_counter() - started:.1f} s (DuckDB)")
    ws = Workspace.open(args.workspace, settings)
    store = RunStore(ws)
    duck = store.get(store.active_id())
    stats: dict[tuple[str, str], list[float]] = collections.defaultdict(lambda: [0, 0.0])
    _count_queries(stats)
    session = new_spark_session(master="local[2]", driver_memory=args.driver_memory, app_name="targetwise-bench")
    session.sparkContext.setLogLevel("ERROR")
    started = time.perf_counter()
    spark = run_pipeline(ws, ws.settings, as_of=duck.as_of, engine="spark", spark_session=session, promote=False)
    total = time.perf_counter() - started
    session.stop()

    def wall(info: Any, name: str) -> float | None:
        return (info.manifest["stages"].get(name, {}).get("cost") or {}).get("wall_s")

    print(f"\nSpark local[2] run {spark.run_id}: {total:.1f} s wall; DuckDB run {duck.run_id}")
    print("| stage | status | DuckDB wall s | Spark wall s |\n|---|---|---:|---:|")
    for name, record in spark.manifest["stages"].items():
        d, s = wall(duck, name), wall(spark, name)
        print(f"| {name} | {record['status']} | {'' if d is None else f'{d:.1f}'} | {'' if s is None else f'{s:.1f}'} |")
    print("\n| Spark queries from | count | seconds |\n|---|---:|---:|")
    for (_, where), (count, seconds) in sorted(stats.items(), key=lambda kv: -kv[1][1]):
        print(f"| {where} | {int(count)} | {seconds:.1f} |")


if __name__ == "__main__":
    main()
