"""Benchmark: natural-language audiences on the golden set (tests/data/assist/golden.jsonl).

For each demo workspace (the synthetic shop, 300 customers; the bundled Online Retail
sample) it builds the demo (or opens ``--workspaces`` folders already built), runs every
case tagged for it through ``targetwise.usecases.assist.evaluate_golden`` and prints

* per-shape accuracy: exact (the condition set equals the expected one, unresolved
  reported exactly when expected) and the mean Jaccard of the selected audiences;
* the time to read one text (the parser alone) and to draft it (parser + live size with
  consent applied), median over the cases.

The engine is the embedded parser unless ``--engine llm`` with ``TARGETWISE_LLM_BASE_URL``
set (then the same table measures your model; ``targetwise assist eval`` is the same
on any workspace). There is no offline peer: commercial assistants (Klaviyo Segments AI,
Twilio Segment's audience assistant) are hosted services.

Usage::

    .venv/bin/python benchmarks/assist.py [--engine embedded|llm] [--workspaces SYN_DIR OR_DIR]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from _machine import describe

from targetwise.assist.audience_text import parse_audience_text
from targetwise.assist.golden import read_golden
from targetwise.config import get_settings
from targetwise.io.workspace import Workspace
from targetwise.pipeline.demo import run_demo
from targetwise.usecases.assist import audience_catalogue, draft_audience, evaluate_golden
from targetwise.usecases.runs import active_run

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = ROOT / "tests" / "data" / "assist" / "golden.jsonl"
DEMOS = ("synthetic", "online-retail")


def workspace_for(demo: str, given: Path | None, scratch: Path) -> Workspace:
    if given is not None:
        return Workspace.open(given, get_settings(workspace=given))
    path = scratch / demo
    settings = get_settings(workspace=path)
    run_demo(path, settings, data=demo, **({"n_customers": 300} if demo == "synthetic" else {}))
    return Workspace.open(path, settings)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--engine", choices=["embedded", "llm"], default="embedded")
    parser.add_argument("--workspaces", nargs=2, type=Path, metavar=("SYNTHETIC", "ONLINE_RETAIL"))
    args = parser.parse_args()
    print(describe())
    cases = read_golden(GOLDEN)
    print(f"golden set: {len(cases)} cases ({GOLDEN.relative_to(ROOT)}), engine {args.engine}\n")
    totals = {"cases": 0, "exact": 0, "jaccard": 0.0}
    with tempfile.TemporaryDirectory() as tmp:
        for position, demo in enumerate(DEMOS):
            ws = workspace_for(demo, args.workspaces[position] if args.workspaces else None, Path(tmp))
            run = active_run(ws)
            mine = [c for c in cases if c.workspace == demo]
            report = evaluate_golden(ws, run, mine, engine=args.engine)
            catalogue, frame = audience_catalogue(ws, run), run.audience_frame()
            parse_ms, draft_ms = [], []
            for case in mine:
                start = time.perf_counter()
                if args.engine == "embedded":
                    parse_audience_text(case.text, catalogue, frame=frame)
                parse_ms.append((time.perf_counter() - start) * 1000)
                start = time.perf_counter()
                draft_audience(ws, run, case.text, engine=args.engine)
                draft_ms.append((time.perf_counter() - start) * 1000)
            print(f"## {demo} ({len(frame):,} customers in the run, {len(mine)} cases)\n")
            print("| shape | cases | exact | mean Jaccard |")
            print("|---|---:|---:|---:|")
            for shape, row in report.by_shape.items():
                print(f"| {shape} | {int(row['cases'])} | {row['exact']:.1%} | {row['mean_jaccard']:.3f} |")
            print(f"| **all** | {report.cases} | {report.exact_share:.1%} | {report.mean_jaccard:.3f} |\n")
            print(f"read one text (parser only): median {statistics.median(parse_ms):.1f} ms; "
                  f"draft (parser + live size, consent applied): median {statistics.median(draft_ms):.1f} ms, "
                  f"max {max(draft_ms):.1f} ms\n")
            for failure in report.failures:
                print(f"  miss {failure['id']}: {failure['text']!r} -> {failure['got']} "
                      f"(unresolved {failure['unresolved']}, Jaccard {failure['jaccard']:.2f})")
            totals["cases"] += report.cases
            totals["exact"] += report.exact
            totals["jaccard"] += report.mean_jaccard * report.cases
    print(f"all demos: {totals['exact']}/{totals['cases']} exact ({totals['exact'] / totals['cases']:.1%}), "
          f"mean Jaccard {totals['jaccard'] / totals['cases']:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
