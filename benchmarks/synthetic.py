"""Generation speed of the synthetic retailer: seconds and order lines per second.

No peer library generates this kind of data, so the table reports our own figures only,
at sizes around 100k, 1M and 2M transaction lines (median of --repeats runs).

    .venv/bin/python benchmarks/synthetic.py [--repeats 3] [--customers 1200 12000 24000]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _machine import describe

from targetwise.synthetic import generate_retailer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, nargs="+", default=[1200, 12000, 24000])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(describe())
    print(f"{'customers':>10} {'lines':>10} {'orders':>9} {'seconds':>8} {'lines/s':>11} {'peak MiB':>9}")
    for n in args.customers:
        seconds = []
        for i in range(args.repeats):
            start = time.perf_counter()
            shop = generate_retailer(n, random_state=i)
            seconds.append(time.perf_counter() - start)
        tracemalloc.start()  # separate run: tracing slows numpy allocations a little
        generate_retailer(n, random_state=0)
        peak = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
        lines = len(shop.transactions)
        orders = shop.transactions["order_id"].nunique()
        median = statistics.median(seconds)
        print(f"{n:>10} {lines:>10} {orders:>9} {median:>8.2f} {lines / median:>11,.0f} {peak:>9.0f}")


if __name__ == "__main__":
    main()
