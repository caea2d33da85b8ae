"""What the vendor adapters (Google, Meta, Klaviyo, HubSpot, Mailchimp) share.

* option checks: a base URL (https, or http only to localhost: the test servers), ids made of digits
  or of id characters, an optional default country code for national phone numbers;
* the secret: read at send time from the environment variable whose NAME the sync stores;
* :class:`Calls`: one batch's requests in order, each through ``send_with_retries`` (429, 5xx and
  connection errors retried with backoff, Retry-After honoured), and the batch's one-line trace;
* :func:`redact`: a vendor's error message made safe to log (no e-mail, phone, hash or long number).
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable
from typing import TypeVar
from urllib.parse import urlsplit

import httpx

from targetwise.destinations import _options
from targetwise.destinations.base import BatchResult, Member, RetryPolicy, send_with_retries
from targetwise.errors import ConfigError, DataValidationError

__all__ = ["Calls", "base_url", "country_code", "digits_id", "read_secret", "redact", "text_id"]

T = TypeVar("T")
_LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1"}
_DIGITS = re.compile(r"^[0-9]+$")
_TEXT_ID = re.compile(r"^[A-Za-z0-9_-]+$")
_COUNTRY_CODE = re.compile(r"^\+?[1-9][0-9]{0,2}$")
_EMAILS = re.compile(r"[^\s@\"'<>(),;:]+@[^\s@\"'<>(),;:]+")
_HASHES = re.compile(r"\b[0-9a-fA-F]{32,}\b")
_NUMBERS = re.compile(r"\+?[0-9][0-9 ().-]{6,}[0-9]")


def base_url(kind: str, options: dict[str, str], default: str) -> str:
    """The ``base_url`` option (tests point it at a local server) or the vendor's documented host."""
    url = (options.get("base_url") or default).strip().rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise ConfigError(f"{kind} destination: base_url {url!r} is not an http(s) URL", fix=f"omit it (default {default})")
    if parts.scheme == "http" and parts.hostname not in _LOCAL_HOSTS:
        raise ConfigError(
            f"{kind} destination: base_url {url!r} is plain http to a remote host (members would travel unencrypted)",
            fix="use https:// (plain http is accepted only for localhost test servers)",
        )
    return url


def digits_id(kind: str, options: dict[str, str], name: str, fix: str, *, optional: bool = False) -> str | None:
    """An id made of digits (dashes allowed and dropped: Google shows customer ids as 123-456-7890)."""
    raw = (options.get(name) or "").strip()
    if not raw and optional:
        return None
    value = _options.required(kind, options, name, fix).replace("-", "")
    if not _DIGITS.match(value):
        raise ConfigError(f"{kind} destination: option {name!r} must be digits, got {raw!r}", fix=fix)
    return value


def text_id(kind: str, options: dict[str, str], name: str, fix: str) -> str:
    """An id of letters, digits, '-' and '_' (Klaviyo list ids, Mailchimp audience ids)."""
    value = _options.required(kind, options, name, fix)
    if not _TEXT_ID.match(value):
        raise ConfigError(f"{kind} destination: option {name!r} must be letters, digits, - or _, got {value!r}", fix=fix)
    return value


def country_code(kind: str, options: dict[str, str]) -> str | None:
    """``default_country_code``: the calling code national phone numbers are read in (e.g. 44); none: refuse them."""
    raw = (options.get("default_country_code") or "").strip()
    if not raw:
        return None
    if not _COUNTRY_CODE.match(raw):
        raise ConfigError(
            f"{kind} destination: default_country_code must be 1-3 digits not starting with 0, got {raw!r}",
            fix="pass e.g. default_country_code=44 (or omit it to send only numbers stored with +)",
        )
    return raw.lstrip("+")


def read_secret(kind: str, env: str, what: str) -> str:
    """The secret in environment variable ``env``, read at send time; a clear error when it is not set."""
    value = os.environ.get(env, "").strip()
    if not value:
        raise ConfigError(
            f"{kind} destination: environment variable {env} ({what}) is not set",
            fix=f"export {env}=<{what}> before `targetwise sync run` (the variable's name is stored, never its value)",
        )
    return value


def redact(text: object, *, limit: int = 160) -> str:
    """One line of a vendor's message without personal data: e-mails, hashes and phone-like numbers masked."""
    line = " ".join(str(text).split())
    line = _EMAILS.sub("<e-mail>", line)
    line = _HASHES.sub("<hash>", line)
    line = _NUMBERS.sub("<number>", line)
    return line if len(line) <= limit else line[: limit - 3] + "..."


def attempt(make: Callable[[], T], what: str, dropped: list[str] | None) -> T | None:
    """``make()``, or None when the identifier is invalid; ``what`` is then recorded in ``dropped``."""
    try:
        return make()
    except DataValidationError:
        if dropped is not None:
            dropped.append(what)
        return None


def usable(members: tuple[Member, ...], key: Callable[[Member], object]) -> tuple[list[tuple[Member, object]], int]:
    """(member, key) for the members whose identifiers ``key`` can normalise, and how many it could not.

    ``key`` raises DataValidationError for an unusable identifier and returns None when the member has
    none; both are skipped and counted (the batch's detail says how many), never sent half-formed.
    """
    kept: list[tuple[Member, object]] = []
    skipped = 0
    for member in members:
        try:
            value = key(member)
        except DataValidationError:
            value = None
        if value is None:
            skipped += 1
        else:
            kept.append((member, value))
    return kept, skipped


class Calls:
    """One batch's requests, in order, each with its own retry loop; the trace becomes the batch's detail.

    ``attempts`` is the most attempts any one request needed (so it never exceeds the policy's maximum).
    """

    def __init__(self, client: httpx.Client, policy: RetryPolicy, sleep: Callable[[float], None] = time.sleep) -> None:
        self.client = client
        self.policy = policy
        self.sleep = sleep
        self.attempts = 0
        self.last_attempts = 0
        self.trace: list[str] = []
        self.notes: list[str] = []

    def send(self, step: str, build: Callable[[], httpx.Request]) -> httpx.Response | None:
        response, attempts, detail = send_with_retries(self.client, build, self.policy, sleep=self.sleep)
        self.attempts = max(self.attempts, attempts)
        self.last_attempts = attempts
        self.trace.append(f"{step}: {detail}")
        return response

    def note(self, text: str) -> None:
        self.notes.append(text)

    def note_dropped(self, dropped: list[str]) -> None:
        """Counts identifiers left out as invalid (the member was still sent with the others)."""
        if dropped:
            counts = ", ".join(f"{dropped.count(w)} {w}" for w in sorted(set(dropped)))
            self.notes.append(f"invalid identifiers left out: {counts}")

    def detail(self) -> str:
        return "; ".join(self.trace + self.notes) or "nothing to send"

    def ok(self, applied: int) -> BatchResult:
        return BatchResult(status="ok", applied=applied, attempts=self.attempts, detail=self.detail())

    def dead_letter(self, reason: str, *, applied: int = 0) -> BatchResult:
        self.notes.append(reason)
        return BatchResult(status="dead_letter", applied=applied, attempts=self.attempts, detail=self.detail())


def succeeded(response: httpx.Response | None) -> bool:
    return response is not None and 200 <= response.status_code < 300


def json_or_empty(response: httpx.Response) -> dict:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}
