"""Meta Custom Audiences: a live audience's adds and removes as customer-file audience users.

Marketing API, Custom Audience Users (https://developers.facebook.com/docs/marketing-api/reference/
custom-audience/users): ``POST /{version}/{audience_id}/users`` adds and ``DELETE`` on the same path
removes, both form-encoded with

* ``payload``: ``{"schema": ["EMAIL", "PHONE", "FN", "LN", "ZIP", "COUNTRY"], "data": [[...], ...]}``,
  one row per member, every value the SHA-256 hex of Meta's normal form and ``""`` where unknown;
* ``access_token``: the token read from the environment variable named by ``token_env``.

At most 10,000 users per request ("only a maximum of 10000 at a time"). The answer is
``{"audience_id", "session_id", "num_received", "num_invalid_entries", "invalid_entry_samples"}``;
applied = received - invalid. Errors are ``{"error": {"message", "type", "code", "error_subcode",
"fbtrace_id"}}``; Meta's throttling errors (codes 4, 17, 32, 613 and 80003, the custom-audience
limit) come as HTTP 400 and are retried like a 429, with the same backoff. Normalisation ("Customer
File Custom Audiences", hashing and normalising): e-mail trimmed and lower case; phone digits with
the country code, no ``+`` or leading zeros; names lower case letters only; zip lower case without
spaces or dashes (US: first 5 digits); country lower-case ISO alpha-2 (``targetwise.campaigns.hashing``,
checked against Meta's published examples in the tests). A member needs an e-mail or a phone.
Using it for real needs a Meta ad account, a customer-file custom audience and a token with
``ads_management``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, ClassVar

import httpx

from targetwise.campaigns.hashing import hash_address_part, hash_identifier
from targetwise.destinations import _options, _vendor
from targetwise.destinations.base import Batch, BatchResult, Destination, Member, RetryPolicy
from targetwise.errors import ConfigError

if TYPE_CHECKING:
    from targetwise.config import Settings

__all__ = ["META_SCHEMA", "MetaCustomAudiencesDestination", "meta_row"]

_HOST = "https://graph.facebook.com"
_VERSION = "v25.0"
_PLATFORM = "meta"
META_SCHEMA = ("EMAIL", "PHONE", "FN", "LN", "ZIP", "COUNTRY")
_THROTTLING = {4, 17, 32, 613, 80003}
_OPTIONS = {"audience_id", "token_env", "api_version", "base_url", "default_country_code"}


def meta_row(
    member: Member, default_country_code: str | None = None, dropped: list[str] | None = None
) -> list[str] | None:
    """The member's row in ``META_SCHEMA`` order (hashes, ``""`` where unknown); None without e-mail and phone.

    An invalid value is left out (``""``) and named in ``dropped``.
    """
    def key(value: str | None, what: str, make: Callable[[str], str]) -> str:
        if not value:
            return ""
        return _vendor.attempt(lambda: make(value), what, dropped) or ""

    email = key(member.email, "e-mail", lambda v: hash_identifier(v, kind="email", destination=_PLATFORM))
    phone = key(member.phone, "phone", lambda v: hash_identifier(
        v, kind="phone", destination=_PLATFORM, default_country_code=default_country_code))
    if not email and not phone:
        return None

    def part(value: str | None, kind: str) -> str:
        return key(value, kind.replace("_", " "), lambda v: hash_address_part(
            v, kind=kind, destination=_PLATFORM, country=member.country))

    return [email, phone, part(member.first_name, "first_name"), part(member.last_name, "last_name"),
            part(member.postal_code, "zip"), part(member.country, "country")]


def _meta_error(response: httpx.Response | None) -> tuple[str, int | None]:
    if response is None:
        return "no answer", None
    error = _vendor.json_or_empty(response).get("error") or {}
    code = error.get("code")
    text = " ".join(str(x) for x in (error.get("type"), f"code {code}" if code is not None else None,
                                     error.get("message")) if x)
    return f"Meta HTTP {response.status_code}: {_vendor.redact(text or response.text[:120])}", (
        int(code) if isinstance(code, int) else None)


class MetaCustomAudiencesDestination(Destination):
    kind: ClassVar[str] = "meta_custom_audiences"
    max_batch_size: ClassVar[int] = 10_000
    needs: ClassVar[frozenset[str]] = frozenset({"email", "phone", "first_name", "last_name", "country", "postal_code"})
    consent_purpose: ClassVar[str] = "ads"

    def __init__(
        self,
        *,
        audience_id: str,
        token_env: str,
        api_version: str = _VERSION,
        base_url: str = _HOST,
        default_country_code: str | None = None,
        policy: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.audience_id = audience_id
        self.token_env = token_env
        self.api_version = api_version
        self.base_url = base_url
        self.default_country_code = default_country_code
        self.policy = policy or RetryPolicy()
        self.sleep = sleep

    @classmethod
    def from_options(cls, options: dict[str, str], settings: Settings) -> MetaCustomAudiencesDestination:
        kind = cls.kind
        _options.check_known(kind, options, _OPTIONS)
        audience = _vendor.digits_id(kind, options, "audience_id", "pass --audience-id N (the custom audience's id)")
        token_env = _options.env_name(kind, _options.required(
            kind, options, "token_env", "pass --token-env VAR (the variable holding a Marketing API access token)"))
        version = (options.get("api_version") or _VERSION).strip()
        head, _, minor = version.partition(".")
        if not (head.startswith("v") and head[1:].isdigit() and minor.isdigit()):
            raise ConfigError(f"{kind} destination: api_version {version!r} is not like v25.0",
                              fix=f"omit it (default {_VERSION})")
        return cls(audience_id=str(audience), token_env=token_env, api_version=version,
                   base_url=_vendor.base_url(kind, options, _HOST),
                   default_country_code=_vendor.country_code(kind, options))

    def describe(self) -> dict[str, str]:
        described = {"audience_id": self.audience_id, "token_env": self.token_env, "api_version": self.api_version}
        if self.base_url != _HOST:
            described["base_url"] = self.base_url
        if self.default_country_code:
            described["default_country_code"] = self.default_country_code
        return described

    def send(self, batch: Batch, client: httpx.Client) -> BatchResult:
        token = _vendor.read_secret(self.kind, self.token_env, "a Marketing API access token")
        dropped: list[str] = []
        kept, skipped = _vendor.usable(batch.members, lambda m: meta_row(m, self.default_country_code, dropped))
        calls = _vendor.Calls(client, self.policy, self.sleep)
        calls.note_dropped(dropped)
        if skipped:
            calls.note(f"{skipped} member(s) without a usable e-mail or phone skipped")
        if not kept:
            return calls.ok(0)
        payload = json.dumps({"schema": list(META_SCHEMA), "data": [row for _, row in kept]}, separators=(",", ":"))
        method = "POST" if batch.action == "add" else "DELETE"
        url = f"{self.base_url}/{self.api_version}/{self.audience_id}/users"

        def build() -> httpx.Request:
            return client.build_request(method, url, data={"payload": payload, "access_token": token})

        response = calls.send(f"{method} users", build)
        sent, throttled = calls.last_attempts, 0
        # Meta answers its own rate limits with HTTP 400 and a throttling code: retried like a 429, and the
        # attempts of the step add up (never more than the policy's maximum in all)
        while (response is not None and response.status_code == 400 and _meta_error(response)[1] in _THROTTLING
               and sent < self.policy.max_attempts):
            throttled += 1
            self.sleep(self.policy.delay(throttled))
            response = calls.send(f"{method} users (after Meta throttling)", build)
            sent += calls.last_attempts
        calls.attempts = max(calls.attempts, sent)
        if not _vendor.succeeded(response):
            return calls.dead_letter(_meta_error(response)[0])
        assert response is not None
        body = _vendor.json_or_empty(response)
        received = int(body.get("num_received", 0))
        invalid = int(body.get("num_invalid_entries", 0))
        if invalid:
            calls.note(f"{invalid} row(s) refused by Meta as invalid")
        return calls.ok(max(0, received - invalid))
