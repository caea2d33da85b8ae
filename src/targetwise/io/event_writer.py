"""One writer that commits concurrent events posts in groups (the service's ``POST /v1/events``).

Why: one post is one ingest, and an ingest's fixed work dominates five lines: opening the database
file (and checkpointing it on close, ~28 ms), then some twenty statements of staging, checks and
bookkeeping (~30 ms), whatever the number of lines. Posted one at a time, 20 concurrent clients got
4.5 posts/s.

How: :meth:`EventWriter.submit` queues the post and waits. One writer thread takes everything
queued (up to ``max_group_lines`` lines, at least one post), and commits it as **one** transaction
on a connection it keeps open while posts keep coming, through :func:`._ingest_group.ingest_group`:
one pass of staging and checks for the whole group, each post still with its own load id, ``loads``
row, quarantine rows and summary, exactly as if the posts had been ingested one after another. Every
post is answered after its group commits. A post the group pass cannot answer exactly (over the
reject fraction, say) is ingested on its own right after, through :func:`.ingest.ingest_arrow`, and
so is every post of a group whose transaction failed: one bad post never fails or loses the others.

Backpressure: at most ``max_posts`` posts are queued or being committed; one more raises
:class:`~targetwise.errors.QueueFullError` (503 with ``Retry-After``) at once, storing nothing.

The database: while its connection is open the writer holds ``lock`` (the service's in-process
database lock, so no other connection of the process meets it). It closes the connection as soon as
the queue is empty (before answering the last group), as soon as another request waits for the lock
(``others_waiting``), and at least every :data:`MAX_HOLD_SECONDS` (for other processes). Closing and
opening again costs ~40-70 ms (the close checkpoints the log into the file), so under a steady
stream of posts the connection stays open. While another process holds the database, a
post waits up to ``busy_wait_seconds`` from its submission, then gets
:class:`~targetwise.errors.WorkspaceBusyError` with nothing stored.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import duckdb

from targetwise.errors import QueueFullError, WorkspaceBusyError, WorkspaceError
from targetwise.io._ingest_group import TABLE, ingest_group
from targetwise.io.ingest import IngestSummary, ingest_arrow
from targetwise.io.readers import Source
from targetwise.io.workspace import Workspace

__all__ = ["MAX_HOLD_SECONDS", "EventWriter", "WriterStats"]

log = logging.getLogger("targetwise.events")

#: How long the writer keeps the database at most before closing it once (other processes get a turn).
MAX_HOLD_SECONDS = 5.0
_BUSY = "cannot open workspace database"


@dataclass(eq=False)
class _Post:
    source: Source
    submitted: float
    done: threading.Event = field(default_factory=threading.Event)
    summary: IngestSummary | None = None
    error: BaseException | None = None


@dataclass
class WriterStats:
    """What the writer did since it was made: groups committed, posts in them, posts ingested alone, refused."""

    groups: int = 0
    grouped_posts: int = 0
    alone_posts: int = 0
    refused_posts: int = 0
    largest_group: int = 0


class EventWriter:
    """Queues posts and commits them in groups on one thread (see the module docstring)."""

    def __init__(
        self,
        workspace: Workspace,
        *,
        max_posts: int,
        max_group_lines: int,
        lock: threading.RLock | None = None,
        others_waiting: Callable[[], bool] | None = None,
        busy_wait_seconds: float = 10.0,
    ) -> None:
        self.workspace = workspace
        self.max_posts = max_posts
        self.max_group_lines = max_group_lines
        self.busy_wait_seconds = busy_wait_seconds
        self.stats = WriterStats()
        self._lock = lock if lock is not None else threading.RLock()
        self._others_waiting = others_waiting or (lambda: False)
        self._cond = threading.Condition()
        self._queue: deque[_Post] = deque()
        self._in_flight = 0  # submitted and not yet answered (queued or being committed)
        self._thread: threading.Thread | None = None
        self._active: list[_Post] = []  # the group being committed (writer thread only)

    @property
    def in_flight(self) -> int:
        """Posts queued or being committed now."""
        with self._cond:
            return self._in_flight

    def submit(self, source: Source) -> IngestSummary:
        """Load ``source`` into ``transactions`` with the next group; returns its summary once committed.

        Raises the post's own error (as :func:`.ingest.ingest_arrow` would), ``QueueFullError`` when
        ``max_posts`` are in flight, ``WorkspaceBusyError`` when another process kept the database.
        """
        post = _Post(source, time.monotonic())
        with self._cond:
            if self._in_flight >= self.max_posts:
                self.stats.refused_posts += 1
                raise QueueFullError(
                    f"{self._in_flight} event posts are waiting to be committed, the most queued "
                    f"(TARGETWISE_EVENTS_QUEUE_MAX_POSTS = {self.max_posts}); nothing was stored",
                    fix="retry after the Retry-After seconds (the same content is never stored twice)",
                    details={"retry_after_seconds": 1, "in_flight": self._in_flight, "limit": self.max_posts},
                )
            self._in_flight += 1
            self._queue.append(post)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="targetwise-event-writer", daemon=True)
                self._thread.start()
            self._cond.notify()
        post.done.wait()
        if post.error is not None:
            raise post.error
        assert post.summary is not None
        return post.summary

    # -- the writer thread -------------------------------------------------------------------
    def _run(self) -> None:
        """Drain the queue, then end (the next submit starts a new thread): no idle thread, no open file."""
        while True:
            try:
                self._drain()
            except BaseException:  # never leave a post waiting for a thread that died
                log.exception("events writer failed")
                error = WorkspaceError("the events writer failed; nothing of this post was stored",
                                       fix="retry; if it persists, see the server log")
                for post in self._active:
                    if not post.done.is_set():
                        self._answer(post, error=error)
                self._fail_queued(error)
            with self._cond:
                if not self._queue:
                    self._thread = None
                    return
            time.sleep(0.002)  # the database lock was released: let a waiting request take it

    def _drain(self) -> None:
        """Commit groups on one connection while posts keep coming (for at most MAX_HOLD_SECONDS).

        When the queue is empty after a commit, the connection is closed *before* the posts are
        answered: a client that got its answer, with no other post in flight, finds the database
        file free (another process, or a read-only connection of its own, may open it at once).
        """
        with self._lock, contextlib.ExitStack() as stack:
            con = self._open(stack)
            if con is None:
                return
            opened = time.monotonic()
            while True:
                group = self._take()
                if not group:
                    return
                self._active = group
                outcomes = self._commit(con, group)
                alone = [post for post, summary in zip(group, outcomes, strict=True) if summary is None]
                last = (bool(alone) or not self._queued() or self._others_waiting()
                        or time.monotonic() - opened >= MAX_HOLD_SECONDS)
                if last:
                    stack.close()  # ingest_arrow (alone) opens its own connection: none of ours stays open
                for post, summary in zip(group, outcomes, strict=True):
                    if summary is not None:
                        self._answer(post, summary=summary)
                for post in alone:
                    self._ingest_alone(post)
                if last:
                    return

    def _open(self, stack: contextlib.ExitStack) -> duckdb.DuckDBPyConnection | None:
        """The writer's connection; None when every queued post waited out ``busy_wait_seconds`` (answered busy)."""
        while True:
            try:
                con = stack.enter_context(self.workspace.connect())
            except WorkspaceError as exc:
                if _BUSY not in exc.message:
                    self._fail_queued(exc)
                    return None
                self._expire_busy()
                with self._cond:
                    if not self._queue:
                        return None
                time.sleep(0.1)
                continue
            # rows carry their source_row, so the stored order does not matter (as in ingest_arrow)
            con.execute("SET preserve_insertion_order = false")
            return con

    def _take(self) -> list[_Post]:
        """The queued posts up to ``max_group_lines`` lines (the first one whatever its size)."""
        group: list[_Post] = []
        lines = 0
        with self._cond:
            while self._queue and (not group or lines + self._queue[0].source.num_rows <= self.max_group_lines):
                post = self._queue.popleft()
                group.append(post)
                lines += post.source.num_rows
        return group

    def _commit(self, con: duckdb.DuckDBPyConnection, group: list[_Post]) -> list[IngestSummary | None]:
        """One transaction for ``group``: each post's summary, or None for a post to ingest alone
        (every post when the group's transaction failed)."""
        now = datetime.now(UTC).replace(tzinfo=None)
        try:
            con.execute("BEGIN TRANSACTION")
            outcomes = ingest_group(con, self.workspace, [p.source for p in group], now=now)
            con.execute("COMMIT")
        except Exception:
            log.warning("a group of %d event posts failed; committing them one by one", len(group), exc_info=True)
            with contextlib.suppress(duckdb.Error):
                con.execute("ROLLBACK")
            return [None] * len(group)
        self.stats.groups += 1
        self.stats.largest_group = max(self.stats.largest_group, len(group))
        self.stats.grouped_posts += sum(summary is not None for summary in outcomes)
        return outcomes

    def _queued(self) -> bool:
        with self._cond:
            return bool(self._queue)

    def _ingest_alone(self, post: _Post) -> None:
        """The post on its own, exactly as before groups: its own connection and transaction, its own error."""
        self.stats.alone_posts += 1
        while True:
            try:
                summary = ingest_arrow(self.workspace, TABLE, post.source)
            except WorkspaceError as exc:
                if _BUSY in exc.message and time.monotonic() - post.submitted < self.busy_wait_seconds:
                    time.sleep(0.1)
                    continue
                self._answer(post, error=_busy() if _BUSY in exc.message else exc)
            except Exception as exc:
                self._answer(post, error=exc)
            else:
                self._answer(post, summary=summary)
            return

    # -- answering ---------------------------------------------------------------------------
    def _answer(self, post: _Post, *, summary: IngestSummary | None = None, error: BaseException | None = None) -> None:
        post.summary, post.error = summary, error
        with self._cond:
            self._in_flight -= 1
        post.done.set()

    def _expire_busy(self) -> None:
        """Answer busy every queued post that has waited ``busy_wait_seconds`` for the database."""
        now = time.monotonic()
        with self._cond:
            expired = [p for p in self._queue if now - p.submitted >= self.busy_wait_seconds]
            for post in expired:
                self._queue.remove(post)
        for post in expired:
            self._answer(post, error=_busy())

    def _fail_queued(self, error: BaseException) -> None:
        with self._cond:
            failed = list(self._queue)
            self._queue.clear()
        for post in failed:
            self._answer(post, error=error)


def _busy() -> WorkspaceBusyError:
    return WorkspaceBusyError(
        "the workspace database is busy (another targetwise process is writing to it)", fix="retry in a few seconds"
    )
