"""The generic webhook destination: signed JSON batches of adds and removes.

Each request is ``POST <url>`` with the body
``{"audience": <name>, "audience_id": ..., "version": n, "action": "add"|"remove", "members": [...]}``
where a member is ``{"customer_id": ...}`` plus ``"email_sha256"`` (SHA-256 of the trimmed, lower-case
address) when the sync was added with ``hash_email=yes``. Headers:

* ``X-Targetwise-Timestamp: <unix seconds>`` (replay protection: receivers refuse old timestamps),
* ``X-Targetwise-Signature: sha256=<hex HMAC-SHA256 of f"{timestamp}." + body>`` keyed by the secret
  read at send time from the environment variable named by ``secret_env`` (the name is stored, the
  value never is),
* ``Idempotency-Key``: the batch's key, the same on every retry, so a receiver can drop duplicates.

429 and 5xx answers and connection errors are retried with exponential backoff honouring Retry-After;
after the last attempt, or on any other non-2xx answer, the batch is a dead letter.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import urlsplit

import httpx

from targetwise.destinations import _options
from targetwise.destinations.base import (
    Batch,
    BatchResult,
    Destination,
    Member,
    RetryPolicy,
    send_with_retries,
)
from targetwise.errors import ConfigError
from targetwise.identifiers import normalise_email, sha256_hex

if TYPE_CHECKING:
    from targetwise.config import Settings

__all__ = ["SIGNATURE_HEADER", "TIMESTAMP_HEADER", "WebhookDestination", "sign_webhook", "webhook_body"]

TIMESTAMP_HEADER = "X-Targetwise-Timestamp"
SIGNATURE_HEADER = "X-Targetwise-Signature"
_LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1"}


def sign_webhook(secret: bytes, timestamp: int, body: bytes) -> str:
    """``"sha256=" + hex HMAC-SHA256(secret, f"{timestamp}." + body)``: the value of X-Targetwise-Signature."""
    digest = hmac.new(secret, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def _member_json(member: Member, hash_email: bool) -> dict[str, Any]:
    row: dict[str, Any] = {"customer_id": member.customer_id}
    if hash_email:
        row["email_sha256"] = None if member.email is None else sha256_hex(normalise_email(member.email, "meta"))
    return row


def webhook_body(batch: Batch, *, hash_email: bool) -> bytes:
    """The exact bytes POSTed for ``batch`` (compact JSON, keys in a fixed order)."""
    payload = {
        "audience": batch.audience_name,
        "audience_id": batch.audience_id,
        "version": batch.version,
        "action": batch.action,
        "members": [_member_json(m, hash_email) for m in batch.members],
    }
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


class WebhookDestination(Destination):
    kind: ClassVar[str] = "webhook"
    max_batch_size: ClassVar[int] = 1000
    needs: ClassVar[frozenset[str]] = frozenset()  # e-mail only with hash_email=yes (an instance attribute then)
    consent_purpose: ClassVar[str] = "email"  # default; the `purpose` option sets it per sync

    def __init__(
        self,
        *,
        url: str,
        secret_env: str,
        hash_email: bool = False,
        purpose: str = "email",
        policy: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.url = url
        self.secret_env = secret_env
        self.hash_email = hash_email
        self.consent_purpose = purpose  # type: ignore[misc]  # per-sync purpose shadows the class default
        self.needs = frozenset({"email"}) if hash_email else frozenset()  # type: ignore[misc]
        self.policy = policy or RetryPolicy()
        self.sleep = sleep
        self.clock = clock

    @classmethod
    def from_options(cls, options: dict[str, str], settings: Settings) -> WebhookDestination:
        kind = cls.kind
        _options.check_known(kind, options, {"url", "secret_env", "hash_email", "purpose"})
        url = _options.required(kind, options, "url", "pass --url https://your-receiver.example/hook")
        parts = urlsplit(url)
        if parts.scheme not in {"http", "https"} or not parts.hostname:
            raise ConfigError(f"webhook destination: --url {url!r} is not an http(s) URL", fix="pass --url https://host/path")
        if parts.scheme == "http" and parts.hostname not in _LOCAL_HOSTS:
            raise ConfigError(
                f"webhook destination: --url {url!r} is plain http to a remote host (members would travel unencrypted)",
                fix="use an https:// URL (plain http is accepted only for localhost)",
            )
        secret_env = _options.env_name(
            kind, _options.required(kind, options, "secret_env", "pass --secret-env VAR (the variable holding the secret)")
        )
        return cls(
            url=url,
            secret_env=secret_env,
            hash_email=_options.flag(kind, options, "hash_email", default=False),
            purpose=_options.purpose(kind, options, default=cls.consent_purpose),
        )

    def describe(self) -> dict[str, str]:
        return {
            "url": self.url,
            "secret_env": self.secret_env,
            "hash_email": "yes" if self.hash_email else "no",
            "purpose": self.consent_purpose,
        }

    def _secret(self) -> bytes:
        value = os.environ.get(self.secret_env)
        if not value:
            raise ConfigError(
                f"webhook destination: environment variable {self.secret_env} (the signing secret) is not set",
                fix=f"export {self.secret_env}=<the secret shared with the receiver> before `targetwise sync run`",
            )
        return value.encode("utf-8")

    def send(self, batch: Batch, client: httpx.Client) -> BatchResult:
        secret = self._secret()
        body = webhook_body(batch, hash_email=self.hash_email)

        def build() -> httpx.Request:
            timestamp = int(self.clock())
            return client.build_request(
                "POST",
                self.url,
                content=body,
                headers={
                    "Content-Type": "application/json",
                    TIMESTAMP_HEADER: str(timestamp),
                    SIGNATURE_HEADER: sign_webhook(secret, timestamp, body),
                    "Idempotency-Key": batch.idempotency_key,
                },
            )

        response, attempts, detail = send_with_retries(client, build, self.policy, sleep=self.sleep)
        if response is not None and 200 <= response.status_code < 300:
            return BatchResult(status="ok", applied=len(batch.members), attempts=attempts, detail=detail)
        return BatchResult(status="dead_letter", applied=0, attempts=attempts, detail=detail)
