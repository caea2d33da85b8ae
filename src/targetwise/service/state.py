"""What the service holds between requests: the served run's data, keys, audit log, limits, UI sessions.

The served run
--------------
``artifacts/runs/ACTIVE`` names the served run and is replaced atomically by a
promotion. Each request resolves it **once** (a ``stat`` of the pointer; it is
re-read only when its inode or mtime changed) and from then on reads only that
run's :class:`RunData`. Run folders are immutable, so a request never mixes two
runs, and a promotion takes effect for the next request. Tables are loaded
lazily, on first use, and cached per run id (the last three runs are kept).
The one rewrite of a run, an erasure, replaces its ``manifest.json``; a cached
run whose manifest changed (a ``stat`` per request) is loaded again, so an
erasure made by another process (``targetwise privacy erase``) shows at once.

DuckDB
------
DuckDB lets one process write a database file at a time, and within a process
a read-only and a read-write connection to the same file cannot be open
together. The service therefore opens short-lived connections only for what
lives in the database (consent, personal data for exports, product names,
posted events) and serialises them with one in-process lock
(:attr:`ServiceState.db_lock`). Customer lookups read only run files, so they
keep answering while another process (``targetwise ingest`` or ``run``) holds
the database; calls that need the database answer 503 ``workspace_busy`` then.
"""

from __future__ import annotations

import json
import math
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from targetwise.campaigns.audiences import AUDIENCE_TABLES, audience_frame
from targetwise.config import Settings
from targetwise.errors import NotFoundError, WorkspaceBusyError, WorkspaceError
from targetwise.io.audit import AuditLog
from targetwise.io.keys import KeyStore
from targetwise.io.runs import ACTIVE_FILE, RunInfo, RunStore
from targetwise.io.workspace import Workspace
from targetwise.service.ratelimit import RateLimiter
from targetwise.service.sessions import LoginTokens, SessionStore

__all__ = ["RunCache", "RunData", "ServiceState", "WorkspaceBusyError", "plain"]

FEATURES = "features/customer_features.parquet"
SEGMENTS = "segments/customer_segments.parquet"
PROFILES = "segments/profiles.json"
CLV = "clv/customer_clv.parquet"
PROPENSITY = "propensity/scores.parquet"
RECOMMENDATIONS = "recommendations/recommendations.parquet"
SIMILAR = "recommendations/similar_products.parquet"
POPULAR = "recommendations/popular.parquet"
UPLIFT = "uplift/uplift.parquet"

#: Feature columns shown in a customer's summary (others stay available to audiences).
FEATURE_SUMMARY = (
    "recency_days",
    "frequency",
    "monetary_total",
    "monetary_mean",
    "tenure_days",
    "orders_90d",
    "distinct_products",
    "returns_rate",
    "top_category",
)


def plain(value: Any) -> Any:
    """A JSON-ready Python value: numpy scalars unwrapped, NaN/NaT/NA as None, timestamps as ISO text."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    return value


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    columns = list(frame.columns)
    return [{c: plain(v) for c, v in zip(columns, row, strict=True)} for row in frame.itertuples(index=False, name=None)]


class RunData:
    """One run's outputs, loaded on first use and then served from memory (read-only)."""

    def __init__(self, info: RunInfo, *, product_names: Callable[[], dict[str, str]]) -> None:
        self.info = info
        self.run_id = info.run_id
        self.as_of = info.as_of
        self._product_names = product_names
        self._lock = threading.RLock()  # builders call each other (index -> table)
        self._cache: dict[str, Any] = {}

    # -- loading ---------------------------------------------------------------------------
    def _once(self, name: str, build: Callable[[], Any]) -> Any:
        try:
            return self._cache[name]
        except KeyError:
            pass
        with self._lock:
            if name not in self._cache:
                self._cache[name] = build()
            return self._cache[name]

    def has(self, relative: str) -> bool:
        return self.info.has(relative)

    def require(self, relative: str) -> None:
        """404 naming the stage whose output ``relative`` is missing from this run."""
        if self.info.has(relative):
            return
        stage = relative.split("/", 1)[0]
        record = self.info.manifest.get("stages", {}).get(stage)
        why = "did not run" if record is None else f"has status {record.get('status')!r}"
        notes = "; ".join(record.get("notes", [])) if record else ""
        raise NotFoundError(
            f"run {self.run_id} has no {relative}: its {stage!r} stage {why}" + (f" ({notes})" if notes else ""),
            fix=f"run `targetwise run --stage {stage}` (with the stages it needs) and promote that run",
            details={"run_id": self.run_id, "stage": stage, "output": relative},
        )

    def table(self, relative: str) -> pd.DataFrame:
        self.require(relative)
        return self._once(f"table:{relative}", lambda: self.info.read_table(relative))

    def by_customer(self, relative: str) -> dict[str, dict[str, Any]]:
        """customer_id -> row (plain values) of a one-row-per-customer table; {} if absent."""
        if not self.has(relative):
            return {}

        def build() -> dict[str, dict[str, Any]]:
            frame = self.table(relative)
            return {str(r["customer_id"]): r for r in _records(frame)}

        return self._once(f"index:{relative}", build)

    def grouped(self, relative: str, key: str) -> dict[str, list[dict[str, Any]]]:
        """key -> rows ordered by rank, for the recommendation tables."""
        self.require(relative)

        def build() -> dict[str, list[dict[str, Any]]]:
            frame = self.table(relative).sort_values([key, "rank"], kind="stable")
            groups: dict[str, list[dict[str, Any]]] = {}
            for row in _records(frame):
                groups.setdefault(str(row[key]), []).append(row)
            return groups

        return self._once(f"group:{relative}:{key}", build)

    def popular(self) -> list[dict[str, Any]]:
        self.require(POPULAR)
        return self._once("popular", lambda: _records(self.table(POPULAR).sort_values("rank", kind="stable")))

    def profiles(self) -> list[dict[str, Any]]:
        self.require(PROFILES)
        return self._once("profiles", lambda: self.info.read_json(PROFILES))

    def members(self, segment_name: str) -> pd.DataFrame:
        """Customers of a segment (by cluster name, or by RFM segment when no cluster has that name)."""
        segments = self.table(SEGMENTS)
        by_cluster = segments[segments["cluster_name"] == segment_name]
        chosen = by_cluster if len(by_cluster) else segments[segments["rfm_segment"] == segment_name]
        return chosen.sort_values("customer_id", kind="stable")

    def audience_frame(self) -> pd.DataFrame:
        def build() -> pd.DataFrame:
            tables = {name: self.table(rel) for name, rel in AUDIENCE_TABLES.items() if self.has(rel)}
            return audience_frame(tables)

        return self._once("audience_frame", build)

    def product_names(self) -> dict[str, str]:
        return self._product_names()


class RunCache:
    """Resolves the active run per request and keeps recently served runs' data."""

    def __init__(self, workspace: Workspace, *, product_names: Callable[[], dict[str, str]], keep: int = 3) -> None:
        self.store = RunStore(workspace)
        self.pointer = self.store.root / ACTIVE_FILE
        self._product_names = product_names
        self._keep = keep
        self._lock = threading.Lock()
        self._stamp: tuple[int, int, int] | None = None
        self._active_id: str | None = None
        self._runs: OrderedDict[str, RunData] = OrderedDict()
        self._stamps: dict[str, tuple[int, int, int] | None] = {}

    def active_id(self) -> str | None:
        try:
            st = os.stat(self.pointer)
        except FileNotFoundError:
            return None
        stamp = (st.st_ino, st.st_mtime_ns, st.st_size)
        if stamp != self._stamp:
            with self._lock:
                self._active_id = self.store.active_id()
                self._stamp = stamp
        return self._active_id

    def active(self) -> RunData:
        run_id = self.active_id()
        if run_id is None:
            raise NotFoundError(
                "no run is being served yet", fix="run `targetwise run` (it promotes the new run)"
            )
        return self.get(run_id)

    def forget(self) -> None:
        """Drop every cached run and re-read the pointer: run files were rewritten (an erasure)."""
        with self._lock:
            self._runs.clear()
            self._stamps.clear()
            self._stamp = None
            self._active_id = None

    def get(self, run_id: str) -> RunData:
        """The run's data, reloaded when its manifest was replaced (an erasure in another process)."""
        stamp = self._manifest_stamp(run_id)
        with self._lock:
            data = self._runs.get(run_id)
            if data is not None and self._stamps.get(run_id) == stamp:
                self._runs.move_to_end(run_id)
                return data
        info = self.store.get(run_id)
        with self._lock:
            data = self._runs.get(run_id)
            if data is None or self._stamps.get(run_id) != stamp:
                data = RunData(info, product_names=self._product_names)
                self._runs[run_id] = data
                self._stamps[run_id] = stamp
            self._runs.move_to_end(run_id)
            while len(self._runs) > self._keep:
                dropped, _ = self._runs.popitem(last=False)
                self._stamps.pop(dropped, None)
            return data

    def _manifest_stamp(self, run_id: str) -> tuple[int, int, int] | None:
        """(inode, mtime, size) of the run's manifest: an erasure replaces it, so the stamp changes."""
        try:
            st = os.stat(self.store.root / run_id / "manifest.json")
        except (FileNotFoundError, NotADirectoryError, ValueError):
            return None
        return (st.st_ino, st.st_mtime_ns, st.st_size)


@dataclass
class ServiceState:
    """Everything one app instance shares; created by ``create_app`` (no import-time globals)."""

    settings: Settings
    workspace: Workspace
    keys: KeyStore = field(init=False)
    audit: AuditLog = field(init=False)
    limiter: RateLimiter = field(init=False)
    runs: RunCache = field(init=False)
    sessions: SessionStore = field(init=False)
    login_tokens: LoginTokens = field(init=False)
    db_lock: threading.RLock = field(default_factory=threading.RLock)
    _names: dict[str, str] | None = None
    _names_tried_at: float = -math.inf

    def __post_init__(self) -> None:
        self.keys = KeyStore(self.workspace)
        self.audit = AuditLog(self.workspace)
        self.limiter = RateLimiter(self.settings.api_rate_limit_per_minute)
        self.runs = RunCache(self.workspace, product_names=self.product_names)
        self.sessions = SessionStore(lifetime_seconds=self.settings.ui_session_hours * 3600)
        self.login_tokens = LoginTokens()

    @contextmanager
    def database(self, *, read_only: bool = True, wait_seconds: float = 5.0) -> Iterator[Any]:
        """A short-lived workspace connection, serialised in-process; 503 if another process holds it."""
        with self.db_lock:
            opened = self.when_free(lambda: _enter(self.workspace.connect(read_only=read_only)), wait_seconds)
            manager, con = opened
            try:
                yield con
            finally:
                manager.__exit__(None, None, None)

    def when_free(self, action: Callable[[], Any], wait_seconds: float = 5.0) -> Any:
        """Run ``action`` (which opens the database) under the lock, retrying while another process holds it."""
        with self.db_lock:
            deadline = time.monotonic() + wait_seconds
            while True:
                try:
                    return action()
                except WorkspaceError as exc:
                    if "cannot open workspace database" not in exc.message:
                        raise
                    if time.monotonic() >= deadline:
                        raise WorkspaceBusyError(
                            "the workspace database is busy (another targetwise process is writing to it)",
                            fix="retry in a few seconds",
                        ) from None
                    time.sleep(0.1)

    def product_names(self) -> dict[str, str]:
        """product_id -> name from the catalogue, cached; retried at most every 30 s if busy."""
        if self._names is not None:
            return self._names
        if time.monotonic() - self._names_tried_at < 30:
            return {}
        self._names_tried_at = time.monotonic()
        try:
            with self.database(wait_seconds=0.5) as con:
                rows = con.execute("SELECT product_id, name FROM products WHERE name IS NOT NULL").fetchall()
        except WorkspaceBusyError:
            return {}
        self._names = {str(pid): str(name) for pid, name in rows}
        return self._names


def _enter(manager: Any) -> tuple[Any, Any]:
    return manager, manager.__enter__()


def parse_drivers(text: Any) -> list[dict[str, Any]]:
    """The drivers column (a JSON list) as plain records; [] when missing."""
    if text is None:
        return []
    drivers = json.loads(text) if isinstance(text, str) else list(text)
    return [{k: plain(v) for k, v in d.items()} for d in drivers]
