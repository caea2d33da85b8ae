"""Background re-scoring after posted events (``TARGETWISE_RESCORE_AFTER_EVENTS_S``).

Each successful ``POST /v1/events`` calls :meth:`BackgroundRescorer.notify`. One worker thread per app
waits ``delay_s`` after the first notification (posts arriving meanwhile join the same rescore), then
runs :func:`targetwise.usecases.rescore.rescore` under the service's database lock (as a CLI
``targetwise rescore`` would: the customers with new lines re-scored with the active run's fitted
models into a derived, promoted run; live audiences refresh on the promotion). The service serves the
new run from the next request on (the run cache follows the active pointer). Posts arriving during a
rescore schedule the next one. A failure is kept as the last outcome and written to the audit log;
it never stops the service or the next rescore. Nothing here holds a customer id.
"""

from __future__ import annotations

import threading
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from targetwise.errors import TargetwiseError

if TYPE_CHECKING:
    from targetwise.service.state import ServiceState

__all__ = ["BackgroundRescorer", "RescoreOutcome"]


@dataclass(frozen=True)
class RescoreOutcome:
    """The last background rescore: when, from which run, what it made (counts only) or why it failed."""

    finished_at: str
    outcome: str  # "promoted" | "nothing_new" | "failed"
    parent_run_id: str | None
    run_id: str | None
    affected_customers: int
    seconds: float
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class BackgroundRescorer:
    """Debounced re-scoring of the active run after events (module docstring)."""

    def __init__(self, state: ServiceState, delay_s: float | None) -> None:
        self._state = state
        self.delay_s = delay_s
        self._cond = threading.Condition()
        self._dirty = False
        self._busy = False
        self._thread: threading.Thread | None = None
        self.last: RescoreOutcome | None = None
        self.runs = 0

    @property
    def enabled(self) -> bool:
        return self.delay_s is not None

    def notify(self) -> None:
        """New lines were stored: re-score after the delay (no-op when disabled)."""
        if not self.enabled:
            return
        with self._cond:
            self._dirty = True
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._loop, name="targetwise-rescorer", daemon=True)
                self._thread.start()
            self._cond.notify_all()

    def pending(self) -> bool:
        with self._cond:
            return self._dirty or self._busy

    def wait_idle(self, timeout: float) -> bool:
        """Block until no rescore is pending or running (True), or ``timeout`` seconds pass (False)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._dirty or self._busy:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
        return True

    def status(self) -> dict[str, Any]:
        with self._cond:
            return {"enabled": self.enabled, "delay_s": self.delay_s, "pending": self._dirty or self._busy,
                    "rescores": self.runs, "last": None if self.last is None else self.last.to_dict()}

    def _loop(self) -> None:
        assert self.delay_s is not None
        while True:
            with self._cond:
                while not self._dirty:
                    self._cond.wait()
                self._busy = True
            time.sleep(self.delay_s)  # posts in this window join this rescore
            with self._cond:
                self._dirty = False
            outcome = self._rescore_once()
            with self._cond:
                self.last = outcome
                self.runs += 1
                self._busy = False
                self._cond.notify_all()

    def _rescore_once(self) -> RescoreOutcome:
        from targetwise.usecases.rescore import rescore

        state = self._state
        started = time.perf_counter()
        parent = state.runs.active_id()
        try:
            result = state.when_free(lambda: rescore(state.workspace), wait_seconds=120.0)
        except TargetwiseError as exc:
            outcome = RescoreOutcome(_now(), "failed", parent, None, 0, round(time.perf_counter() - started, 3),
                                     error=exc.message)
        except Exception as exc:
            outcome = RescoreOutcome(_now(), "failed", parent, None, 0, round(time.perf_counter() - started, 3),
                                     error=f"{type(exc).__name__}: {exc}")
        else:
            made = result.run.run_id if result.run is not None else None
            outcome = RescoreOutcome(
                _now(), "promoted" if result.promoted else "nothing_new", result.parent.run_id, made,
                result.affected_customers, round(time.perf_counter() - started, 3),
            )
        state.audit.record(key_id=None, action="background_rescore", method="-", route="background:rescore",
                           status=500 if outcome.outcome == "failed" else 200,
                           details={k: v for k, v in outcome.to_dict().items() if k != "finished_at"})
        return outcome


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
