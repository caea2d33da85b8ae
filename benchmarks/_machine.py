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


def wait_until_serving(base_url: str, server: subprocess.Popen[str], *, timeout_s: float = 60.0,
                       log: Path | None = None) -> None:
    """Poll ``base_url``/v1/health until it answers 200; exit with the server's log tail if it dies or times out."""
    import time

    import httpx

    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if httpx.get(f"{base_url}/v1/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline or server.poll() is not None:
            tail = f": {log.read_text()[-2000:]}" if log is not None and log.exists() else ""
            raise SystemExit(f"server did not start{tail}")
        time.sleep(0.2)
