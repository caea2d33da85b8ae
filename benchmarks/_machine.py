"""Machine and commit description printed by every benchmark."""

from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def describe() -> str:
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True).stdout.strip()
    except OSError:
        commit = "unknown"
    mem = ""
    try:
        with open("/proc/meminfo") as fh:
            kb = int(fh.readline().split()[1])
        mem = f", {kb / 1024 / 1024:.0f} GiB RAM"
    except OSError:
        pass
    cpu = platform.processor() or platform.machine()
    return f"{platform.platform()} | {cpu} | {os.cpu_count()} cores{mem} | Python {platform.python_version()} | commit {commit}"


def datasets_dir() -> Path:
    return Path(os.environ.get("TARGETWISE_DATASETS", REPO.parent / "shared" / "datasets"))
