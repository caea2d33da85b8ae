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

With a runs URL (``TARGETWISE_RUNS_URL``, ``targetwise serve --runs-url``) the served run is the
URL's active run: at most every ``TARGETWISE_RUNS_URL_POLL_S`` seconds one request reads the URL's
pointer and, when it moved (or at start), fetches that run into the workspace's runs folder (the cache
keyed by run id: a run is fetched once, whole and checked, :class:`targetwise.io.run_urls.RunUrlStore`)
and replaces the local pointer; the swap is then the local one above. Other requests go on with the run
served so far meanwhile; a URL that cannot be read leaves it served (logged, retried at the next poll).
The same poll reads ``URL/REWRITTEN``, which a publish of a rewritten run (an erasure at the driver)
updates after the run's manifest: when it changed (or at start), every cached run whose manifest differs
from the URL's is fetched again (changed files, the manifest last), and the manifest stamp above makes
the next request load it, so an erased customer stops being served within one poll interval.

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

Posted events go through one writer (:attr:`ServiceState.events`,
:class:`targetwise.io.event_writer.EventWriter`): concurrent posts are queued
and committed in groups, one transaction per group, on a connection kept open
(under the same lock) while posts keep coming; past
``TARGETWISE_EVENTS_QUEUE_MAX_POSTS`` posts in flight a post is answered 503
``queue_full`` with ``Retry-After``.
"""

from __future__ import annotations

import logging
import math
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from targetwise.config import Settings
from targetwise.errors import NotFoundError, TargetwiseError, WorkspaceBusyError, WorkspaceError
from targetwise.io import outputs as out
from targetwise.io.audit import AuditLog
from targetwise.io.event_writer import EventWriter
from targetwise.io.keys import KeyStore
from targetwise.io.run_urls import RunUrlStore
from targetwise.io.runs import ACTIVE_FILE, RunStore
from targetwise.io.workspace import Workspace
from targetwise.service.ratelimit import RateLimiter
from targetwise.service.rescorer import BackgroundRescorer
from targetwise.service.sessions import LoginTokens, SessionStore
from targetwise.usecases.runs import RunData, plain

__all__ = ["RunCache", "RunData", "ServiceState", "WorkspaceBusyError", "plain"]

_log = logging.getLogger(__name__)

# the served run's outputs, as declared once in targetwise.io.outputs
FEATURES = out.FEATURES
SEGMENTS = out.SEGMENTS
PROFILES = out.PROFILES
CLV = out.CLV
PROPENSITY = out.PROPENSITY
RECOMMENDATIONS = out.RECOMMENDATIONS
SIMILAR = out.SIMILAR
POPULAR = out.POPULAR
UPLIFT = out.UPLIFT

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


class RunCache:
    """Resolves the active run per request and keeps recently served runs' data."""

    def __init__(
        self, workspace: Workspace, *, product_names: Callable[[], dict[str, str]], keep: int = 3,
        runs_url: str | None = None, poll_seconds: float = 5.0,
    ) -> None:
        self.store = RunStore(workspace)
        self.remote = RunUrlStore(runs_url) if runs_url else None
        self._poll_seconds = poll_seconds
        self._next_poll = -math.inf
        self._follow_lock = threading.Lock()
        self._followed: str | None = None  # the URL's active id last made served here
        self._rewritten: bytes | None = None  # URL/REWRITTEN as read last: when it changes, cached runs are checked
        self.follow_error: str | None = None  # why the last read of the URL failed (None: it did not)
        self.currency = workspace.settings.currency_symbol
        self.pointer = self.store.root / ACTIVE_FILE
        self._product_names = product_names
        self._keep = keep
        self._lock = threading.Lock()
        self._stamp: tuple[int, int, int] | None = None
        self._active_id: str | None = None
        self._runs: OrderedDict[str, RunData] = OrderedDict()
        self._stamps: dict[str, tuple[int, int, int] | None] = {}

    def follow(self, *, now: bool = False) -> None:
        """Serve the runs URL's active run when its pointer moved: fetched into the local store, then swapped in.

        At most once per poll interval (any time with ``now``), by one request at a time; while a run is
        served, the others do not wait for it. Errors are kept in :attr:`follow_error` and logged.
        """
        if self.remote is None or (not now and time.monotonic() < self._next_poll):
            return
        if not self._follow_lock.acquire(blocking=not self.pointer.exists()):
            return  # another request is following; this one serves the run served so far
        try:
            if not now and time.monotonic() < self._next_poll:
                return
            self._next_poll = time.monotonic() + self._poll_seconds
            try:
                self._followed = self.remote.follow(self.store, seen=self._followed)
                self._rewritten = self.remote.refresh(self.store, seen=self._rewritten)  # erasures at the driver
                self.follow_error = None
            except (TargetwiseError, OSError) as exc:
                self.follow_error = str(exc)
                _log.warning("runs URL not followed: %s", exc)
        finally:
            self._follow_lock.release()

    def active_id(self) -> str | None:
        self.follow()
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
            if self.follow_error is not None:
                raise NotFoundError(f"no run is being served yet: {self.follow_error}")
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
                data = RunData(info, product_names=self._product_names, currency=self.currency)
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
    events: EventWriter = field(init=False)
    rescorer: BackgroundRescorer = field(init=False)
    db_lock: threading.RLock = field(default_factory=threading.RLock)
    _db_waiting: int = 0  # requests waiting for db_lock: the events writer then closes its connection
    _waiting_lock: threading.Lock = field(default_factory=threading.Lock)
    _names: dict[str, str] | None = None
    _names_tried_at: float = -math.inf
    #: offer evaluations by (run, manifest stamp, method, reward kind, inputs token); the last few kept
    _offer_evaluations: OrderedDict[tuple[Any, ...], Any] = field(default_factory=OrderedDict)
    _offer_lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        if self.workspace.settings.runs_url != self.settings.runs_url:  # the use cases read the workspace's
            self.workspace = Workspace(self.workspace.path, self.workspace.settings.model_copy(
                update={"runs_url": self.settings.runs_url}))
        self.keys = KeyStore(self.workspace)
        self.audit = AuditLog(self.workspace)
        self.limiter = RateLimiter(self.settings.api_rate_limit_per_minute)
        self.runs = RunCache(self.workspace, product_names=self.product_names, runs_url=self.settings.runs_url,
                             poll_seconds=self.settings.runs_url_poll_s)
        self.sessions = SessionStore(lifetime_seconds=self.settings.ui_session_hours * 3600)
        self.login_tokens = LoginTokens()
        self.events = EventWriter(
            self.workspace, lock=self.db_lock, max_posts=self.settings.events_queue_max_posts,
            max_group_lines=self.settings.events_group_max_lines, busy_wait_seconds=10.0,
            others_waiting=lambda: self._db_waiting > 0,
        )
        self.rescorer = BackgroundRescorer(self, self.settings.rescore_after_events_s)

    def when_free(self, action: Callable[[], Any], wait_seconds: float = 5.0) -> Any:
        """Run ``action`` (which opens the database) under the lock, retrying while another process holds it.

        While it waits for the lock it is counted in ``_db_waiting``: the events writer, which holds the
        lock while its connection is open, then closes it after the group it is committing.
        """
        with self._waiting_lock:
            self._db_waiting += 1
        try:
            self.db_lock.acquire()
        finally:
            with self._waiting_lock:
                self._db_waiting -= 1
        try:
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
        finally:
            self.db_lock.release()

    def offer_evaluation(self, run: RunData, *, method: str = "thompson", reward_kind: str | None = None) -> Any:
        """:func:`targetwise.usecases.offers.evaluate_offers` with its defaults, computed once per state of its
        inputs: the run (its id and manifest, which an erasure rewrites) and the offers, the offer log and
        consent (:func:`~targetwise.io.offers.offer_inputs_token`, a query of a few milliseconds). The UI page
        and ``GET /v1/offers/evaluate`` share it, so a reload answers at once and both show the same numbers."""
        from targetwise.io.offers import offer_inputs_token
        from targetwise.usecases.offers import evaluate_offers

        token = self.when_free(lambda: offer_inputs_token(self.workspace))
        manifest = run.info.path / "manifest.json"
        key = (run.run_id, manifest.stat().st_mtime_ns if manifest.exists() else None, method, reward_kind, token)
        with self._offer_lock:
            if key in self._offer_evaluations:
                self._offer_evaluations.move_to_end(key)
                return self._offer_evaluations[key]
        evaluation = evaluate_offers(self.workspace, run, method=method, reward_kind=reward_kind)
        with self._offer_lock:
            self._offer_evaluations[key] = evaluation
            while len(self._offer_evaluations) > 8:
                self._offer_evaluations.popitem(last=False)
        return evaluation

    def product_names(self) -> dict[str, str]:
        """product_id -> name from the catalogue, cached; retried at most every 30 s if busy."""
        if self._names is not None:
            return self._names
        if time.monotonic() - self._names_tried_at < 30:
            return {}
        self._names_tried_at = time.monotonic()
        try:
            self._names = self.when_free(self.workspace.product_names, wait_seconds=0.5)
        except WorkspaceBusyError:
            return {}
        return self._names
