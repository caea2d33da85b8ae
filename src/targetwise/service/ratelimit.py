"""Per-key token bucket: ``per_minute`` requests a minute, bursts up to the same number.

A bucket holds at most ``per_minute`` tokens and refills at ``per_minute / 60``
tokens a second; each request takes one. An empty bucket answers 429 with the
seconds until the next token in ``Retry-After`` and in the error's details.
State is per process (one uvicorn worker serves a workspace; see the service
docs), guarded by a lock.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable

from targetwise.errors import RateLimitedError

__all__ = ["RateLimiter"]


class RateLimiter:
    """Token buckets keyed by API key id."""

    def __init__(self, per_minute: int, *, clock: Callable[[], float] = time.monotonic) -> None:
        if per_minute < 1:
            raise ValueError("per_minute must be >= 1")
        self.capacity = float(per_minute)
        self.per_second = per_minute / 60.0
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, last refill time)
        self._lock = threading.Lock()

    def take(self, key_id: str) -> None:
        """Spend one token of ``key_id``'s bucket, or raise :class:`~targetwise.errors.RateLimitedError`."""
        now = self._clock()
        with self._lock:
            tokens, last = self._buckets.get(key_id, (self.capacity, now))
            tokens = min(self.capacity, tokens + (now - last) * self.per_second)
            if tokens < 1.0:
                self._buckets[key_id] = (tokens, now)
                wait = math.ceil((1.0 - tokens) / self.per_second)
                raise RateLimitedError(
                    f"API key {key_id} exceeded {int(self.capacity)} requests per minute",
                    fix=f"retry after {wait} s, or raise TARGETWISE_API_RATE_LIMIT_PER_MINUTE",
                    details={"retry_after_seconds": wait, "limit_per_minute": int(self.capacity)},
                )
            self._buckets[key_id] = (tokens - 1.0, now)
