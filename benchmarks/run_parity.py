"""Compare two run folders output by output: every Parquet output the same, as tests/test_run_spark.py demands.

    .venv/bin/python benchmarks/run_parity.py RUN_A RUN_B

The verdict per output is the test's own ``_assert_same`` (same column names and rows, non-float
columns equal as text, float columns to rtol 1e-6 / atol 1e-9), over the test's ``_tables`` (every
``*.parquet`` under the run folder); this script adds the largest relative difference of the float
columns (|b - a| / |a|, or |b - a| where a is 0) so a pass shows how close it was. One line per
output; exit 1 when an output differs or is missing from either run.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from test_run_spark import _assert_same, _tables  # noqa: E402


def max_relative_difference(left: pd.DataFrame, right: pd.DataFrame) -> tuple[float, str]:
    """The largest relative difference over the float columns both frames share, and its column."""
    worst, where = 0.0, "-"
    for column in left.columns:
        if column not in right.columns or not pd.api.types.is_float_dtype(left[column]) or len(left) != len(right):
            continue
        a, b = left[column].to_numpy(float), right[column].to_numpy(float)
        both = ~(np.isnan(a) | np.isnan(b))
        if not both.any():
            continue
        diff = np.abs(b[both] - a[both])
        scale = np.abs(a[both])
        rel = np.where(scale > 0, diff / np.where(scale > 0, scale, 1.0), diff)
        if rel.max() > worst:
            worst, where = float(rel.max()), column
    return worst, where


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_a", type=Path)
    parser.add_argument("run_b", type=Path)
    args = parser.parse_args()
    a, b = _tables(args.run_a), _tables(args.run_b)
    failed = 0
    for name in sorted(set(a) | set(b)):
        if name not in a or name not in b:
            print(f"{name}: only in {'RUN_A' if name in a else 'RUN_B'}  MISMATCH")
            failed += 1
            continue
        worst, column = max_relative_difference(a[name], b[name])
        try:
            _assert_same(name, a[name], b[name])
            verdict = "same"
        except AssertionError as exc:
            verdict = "MISMATCH: " + " ".join(str(exc).split())[:300]
            failed += 1
        print(f"{name}: rows {len(a[name]):,} / {len(b[name]):,}, max rel diff {worst:.3g} ({column})  {verdict}")
    print(f"{len(set(a) | set(b))} outputs, {failed} mismatched")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
