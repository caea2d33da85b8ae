"""What the browser tests share: Debian's Chromium, its flags, and the app served on a free loopback port."""

from __future__ import annotations

import shutil
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from targetwise.config import get_settings
from targetwise.io.workspace import Workspace
from targetwise.service.app import create_app

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run"]


def copy_workspace(demo: Workspace, tmp_path: Path) -> Workspace:
    """A writable copy of a shared (read-only) demo workspace, with no rate limit in the way."""
    path = tmp_path / "ws"
    shutil.copytree(demo.path, path)
    settings = get_settings(workspace=path, duckdb_threads=2, api_rate_limit_per_minute=1_000_000)
    return Workspace.open(path, settings)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def serving(ws: Workspace) -> Iterator[str]:
    """The app over ``ws`` under uvicorn in a background thread; yields its base URL."""
    uvicorn = pytest.importorskip("uvicorn")
    port = free_port()
    config = uvicorn.Config(create_app(ws.settings, workspace=ws), host="127.0.0.1", port=port, log_level="warning")
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not srv.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert srv.started
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        srv.should_exit = True
        thread.join(timeout=10)
