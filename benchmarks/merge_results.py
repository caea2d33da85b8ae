"""Rebuild the per-area sections of benchmarks/RESULTS.md from benchmarks/results/*.md.

    .venv/bin/python benchmarks/merge_results.py [--check]

RESULTS.md keeps its hand-written summary (everything before the first ``<!-- from ... -->``
marker); each marked section is replaced by its source file with headings one level down.
``--check`` exits 1 if RESULTS.md is out of date (the test suite runs it).
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "RESULTS.md"
MARKER = re.compile(r"(<!-- from benchmarks/results/([a-z_]+\.md) -->\n)")


def merged(text: str) -> str:
    parts = MARKER.split(text)
    out = [parts[0]]
    for i in range(1, len(parts), 3):
        marker, name = parts[i], parts[i + 1]
        source = (HERE / "results" / name).read_text(encoding="utf-8")
        demoted = re.sub(r"(?m)^(#+) ", lambda m: "#" + m.group(1) + " ", source)
        out.append(marker + demoted.rstrip("\n") + "\n\n\n")
    return "".join(out).rstrip("\n") + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="only report whether RESULTS.md is up to date")
    args = parser.parse_args()
    current = RESULTS.read_text(encoding="utf-8")
    wanted = merged(current)
    if args.check:
        if wanted != current:
            print("benchmarks/RESULTS.md is out of date: run benchmarks/merge_results.py", file=sys.stderr)
            return 1
        return 0
    RESULTS.write_text(wanted, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
