"""The shared interface of sync destinations: what a destination receives and how it answers.

A destination is a small adapter (webhook, file drop, an ad or e-mail platform) that turns a
:class:`Batch` of audience members into its documented requests. It does network I/O through
``httpx`` (like the model client in ``targetwise.assist``); every workspace read and write stays in
``targetwise.io`` (the sync engine in ``targetwise.usecases.syncs`` feeds batches and records results).
Secrets are read from environment variables whose NAMES are stored, never the values.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, ClassVar, Literal

import httpx

if TYPE_CHECKING:
    from targetwise.config import Settings

__all__ = [
    "Batch",
    "BatchResult",
    "Destination",
    "Member",
    "RetryPolicy",
    "retry_after_seconds",
    "send_with_retries",
]


@dataclass(frozen=True)
class Member:
    """One audience member as a destination sees it (only the fields the destination needs are filled)."""

    customer_id: str
    email: str | None = None
    phone: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    country: str | None = None  # ISO-3166 alpha-2 when known
    postal_code: str | None = None


@dataclass(frozen=True)
class Batch:
    """Members to add to or remove from one destination's copy of a live audience version."""

    sync_id: str
    audience_id: str
    audience_name: str
    version: int  # the live audience's version being synced
    action: Literal["add", "remove"]
    members: tuple[Member, ...]
    idempotency_key: str  # stable for (sync_id, version, action, batch index): a retry re-sends the same key


@dataclass(frozen=True)
class BatchResult:
    """What a destination did with one batch."""

    status: Literal["ok", "dead_letter"]
    applied: int  # members the destination accepted
    attempts: int
    detail: str  # one line, no personal data (e.g. "HTTP 429 x2, then 200")


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff: attempt n waits ``base_delay_s * 2**(n-1)`` seconds, at most ``max_delay_s``."""

    max_attempts: int = 5
    base_delay_s: float = 0.5
    max_delay_s: float = 30.0

    def delay(self, attempt: int) -> float:
        """Seconds to wait after failed attempt ``attempt`` (1-based) when the server gives no Retry-After."""
        return min(self.max_delay_s, self.base_delay_s * 2 ** (attempt - 1))


def retry_after_seconds(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds a ``Retry-After`` header asks to wait: delta-seconds or an HTTP date; None when absent or unreadable."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    current = now or datetime.now(UTC)
    return max(0.0, (when - current).total_seconds())


def _retryable(status: int) -> bool:
    return status == 429 or 500 <= status <= 599


def _summarise(outcomes: list[str]) -> str:
    """["HTTP 429", "HTTP 429", "HTTP 200"] -> "HTTP 429 x2, then HTTP 200"."""
    groups: list[tuple[str, int]] = []
    for outcome in outcomes:
        if groups and groups[-1][0] == outcome:
            groups[-1] = (outcome, groups[-1][1] + 1)
        else:
            groups.append((outcome, 1))
    parts = [f"{text} x{n}" if n > 1 else text for text, n in groups]
    return ", then ".join(parts)


def send_with_retries(
    client: httpx.Client,
    build: Callable[[], httpx.Request],
    policy: RetryPolicy,
    *,
    sleep: Callable[[float], None] = time.sleep,
) -> tuple[httpx.Response | None, int, str]:
    """Sends, retrying on connection errors, 429 and 5xx with exponential backoff, honouring Retry-After
    (seconds or HTTP date); returns (last response or None, attempts, one-line detail).

    ``build`` is called for every attempt, so a signed request gets a fresh timestamp. A Retry-After
    longer than ``policy.max_delay_s`` is waited for in full: the server said so. Other 4xx answers are
    not retried (the request itself is wrong); the caller decides what a final status means.
    """
    if policy.max_attempts < 1:
        raise ValueError("RetryPolicy.max_attempts must be at least 1")
    outcomes: list[str] = []
    response: httpx.Response | None = None
    for attempt in range(1, policy.max_attempts + 1):
        wait: float | None = None
        try:
            response = client.send(build())
        except httpx.TransportError as error:
            response = None
            outcomes.append(f"connection error ({type(error).__name__})")
        else:
            outcomes.append(f"HTTP {response.status_code}")
            if not _retryable(response.status_code):
                return response, attempt, _summarise(outcomes)
            wait = retry_after_seconds(response.headers.get("Retry-After"))
        if attempt < policy.max_attempts:
            sleep(policy.delay(attempt) if wait is None else wait)
    return response, policy.max_attempts, _summarise(outcomes) + f" (gave up after {policy.max_attempts} attempts)"


class Destination(ABC):
    """One kind of sync destination. Subclasses set the class variables and implement the three methods."""

    kind: ClassVar[str]  # "webhook", "files", "google_customer_match", "meta_custom_audiences", ...
    max_batch_size: ClassVar[int]  # members per request (the vendor's documented limit)
    needs: ClassVar[frozenset[str]]  # Member fields it needs besides customer_id, e.g. frozenset({"email"})
    consent_purpose: ClassVar[str]  # consent purpose that must be in force to send a member (schema.CONSENT_PURPOSES)

    @classmethod
    @abstractmethod
    def from_options(cls, options: dict[str, str], settings: Settings) -> Destination:
        """Validates ``sync add`` options (ConfigError naming the option and the fix); secrets only via env var NAMES."""

    @abstractmethod
    def describe(self) -> dict[str, str]:
        """Options safe to store and show (no secrets): ``from_options(describe(), settings)`` rebuilds it."""

    @abstractmethod
    def send(self, batch: Batch, client: httpx.Client) -> BatchResult:
        """Sends one batch; never raises for a destination's refusal (that is a ``dead_letter`` result)."""
