"""Benchmark: summaries in words, the campaign-copy facts sheet and the copy lints (issue 21, part B).

On a demo workspace (the bundled Online Retail data by default, or ``--workspace`` already
built) it measures, with no model endpoint (the embedded template):

* every segment's summary (clusters and RFM segments) and the first ``--customers``
  customers' summaries: milliseconds each (median, p95), product names read once as the
  service's run cache does; and the invariant the model's text is held to: the number of
  template texts with a number not in their facts (must be 0), and of fact sheets the
  scrubber would refuse to send (customer ids, e-mails, phones of the workspace);
* the facts sheet of an audience of each RFM segment (milliseconds);
* the lints of one variant (microseconds), over hand-written variants.

There is no offline peer: copy assistants (Klaviyo, Jasper, Persado) are hosted services.

Usage::

    .venv/bin/python benchmarks/copy_explain.py [--workspace DIR] [--customers 500]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from _machine import describe

from targetwise.assist.brand import parse_brand_rules
from targetwise.assist.facts import unknown_numbers
from targetwise.assist.lints import lint_variant
from targetwise.assist.scrub import scrubber_for
from targetwise.config import get_settings
from targetwise.io.workspace import Workspace
from targetwise.pipeline.demo import run_demo
from targetwise.usecases.audiences import create_audience
from targetwise.usecases.copy import audience_facts
from targetwise.usecases.explain import customer_summary, segment_summary
from targetwise.usecases.runs import active_run
from targetwise.usecases.segments_browse import cluster_profiles, rfm_profiles

ROOT = Path(__file__).resolve().parents[1]
VARIANTS = [
    {"subject": "{first_name}, the garden range is here", "preheader": "Picked for you",
     "body": "Hello {first_name}, the new range is in. You receive this e-mail because you subscribed at "
             "hearth-and-home.example. Unsubscribe: {unsubscribe_url}"},
    {"subject": "HUGE SALE!! 70% off", "preheader": "[First name], act now", "body": "Cheap {{first_name}} XXX"},
]


def timed(action) -> tuple[float, object]:
    started = time.perf_counter()
    result = action()
    return time.perf_counter() - started, result


def row(name: str, seconds: list[float], unit: float, label: str) -> str:
    values = sorted(seconds)
    p95 = values[min(len(values) - 1, int(0.95 * len(values)))]
    return f"| {name} | {len(values):,} | {statistics.median(values) * unit:.2f} {label} | {p95 * unit:.2f} {label} |"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workspace", type=Path)
    parser.add_argument("--customers", type=int, default=500)
    args = parser.parse_args()
    print(describe())
    if args.workspace is None:
        path = Path(tempfile.mkdtemp()) / "online-retail"
        run_demo(path, get_settings(workspace=path), data="online-retail")
    else:
        path = args.workspace
    ws = Workspace.open(path, get_settings(workspace=path))
    run = active_run(ws)
    names = run.product_names()
    run.product_names = lambda: names  # type: ignore[method-assign]  # the service's cache reads them once
    scrubber = scrubber_for(ws)
    invented = refused = 0
    segment_times: list[float] = []
    for profile in cluster_profiles(run) + rfm_profiles(run):
        seconds, summary = timed(lambda p=profile: segment_summary(ws, run, p["name"]))
        segment_times.append(seconds)
        invented += bool(unknown_numbers(summary.text, summary.facts.numbers()))
        refused += bool(scrubber.findings("\n".join(summary.facts.lines())))
    customer_times: list[float] = []
    for customer_id in list(run.by_customer("segments/customer_segments.parquet"))[: args.customers]:
        seconds, summary = timed(lambda c=customer_id: customer_summary(ws, run, c))
        customer_times.append(seconds)
        invented += bool(unknown_numbers(summary.text, summary.facts.numbers()))
        refused += bool(scrubber.findings("\n".join(summary.facts.lines())))
    fact_times: list[float] = []
    for profile in rfm_profiles(run):
        audience = create_audience(ws, run, name=f"bench {profile['name']}", created_by=None,
                                   conditions=[{"field": "rfm_segment", "op": "==", "value": profile["name"]}])
        seconds, _ = timed(lambda a=audience: audience_facts(ws, run, a.id))
        fact_times.append(seconds)
    brand = parse_brand_rules((ROOT / "examples" / "brand.toml").read_text(), source="examples/brand.toml")
    facts = audience_facts(ws, run, audience.id)
    lint_times = [timed(lambda v=v: lint_variant(v, brand=brand, facts=facts))[0] for _ in range(500) for v in VARIANTS]
    print("\n| what | n | median | p95 |\n|---|---:|---:|---:|")
    print(row("segment summary (template)", segment_times, 1e3, "ms"))
    print(row("customer summary (template)", customer_times, 1e3, "ms"))
    print(row("audience facts sheet (one RFM segment)", fact_times, 1e3, "ms"))
    print(row("lints of one variant", lint_times, 1e6, "µs"))
    print(f"\ntemplate texts with a number not in their facts: {invented}; fact sheets the scrubber would refuse: "
          f"{refused} (of {len(segment_times) + len(customer_times)})")
    return 0 if invented == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
