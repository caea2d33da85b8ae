"""Klaviyo: a live audience as the members of a Klaviyo list.

Klaviyo REST API (JSON:API; https://developers.klaviyo.com/en/reference/api_overview). Every request
carries ``Authorization: Klaviyo-API-Key <private key>``, ``revision: <YYYY-MM-DD>`` (required; default
2026-10-15), ``accept`` and ``content-type: application/vnd.api+json``.

* add: ``POST /api/profile-bulk-import-jobs`` (Bulk Import Profiles: up to 10,000 profiles per job)
  with ``{"data": {"type": "profile-bulk-import-job", "attributes": {"profiles": {"data": [{"type":
  "profile", "attributes": {"email", "phone_number", "first_name", "last_name"}}]}}, "relationships":
  {"lists": {"data": [{"type": "list", "id": LIST}]}}}}`` -> 202: Klaviyo creates or updates the
  profiles and adds them to the list (no ids needed, consent unchanged: list membership is not a
  subscription);
* remove: ``GET /api/profiles?filter=any(email,[...])`` (100 per page, the page-size maximum) finds
  the profile ids, then ``DELETE /api/lists/{LIST}/relationships/profiles`` with ``{"data": [{"type":
  "profile", "id": ...}]}`` (at most 1,000 profiles per call) -> 204. Addresses Klaviyo does not know
  are not on the list: nothing to remove, counted in the detail.

A batch is at most 1,000 members (the list-relationship limit). Errors are ``{"errors": [{"id",
"status", "code", "title", "detail", "source"}]}``; 429 carries ``Retry-After``. Addresses are sent
trimmed and lower case, phones in E.164 (``targetwise.campaigns.hashing``). Using it for real needs a
Klaviyo account and a private API key with ``lists:write`` and ``profiles:write``.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar

import httpx

from targetwise.campaigns.hashing import normalise_contact_email, normalise_e164
from targetwise.destinations import _options, _vendor
from targetwise.destinations.base import Batch, BatchResult, Destination, Member, RetryPolicy
from targetwise.errors import ConfigError

if TYPE_CHECKING:
    from targetwise.config import Settings

__all__ = ["KlaviyoDestination", "klaviyo_profile"]

_HOST = "https://a.klaviyo.com"
_REVISION = "2026-10-15"
_REVISION_FORMAT = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}(\.[a-z]+)?$")
_LOOKUP_PAGE = 100
_OPTIONS = {"list_id", "token_env", "revision", "base_url", "default_country_code"}


def klaviyo_profile(
    member: Member, default_country_code: str | None = None, dropped: list[str] | None = None
) -> dict[str, Any] | None:
    """A ``profile`` resource's attributes for a member with a usable e-mail (None otherwise); an
    invalid phone is left out and named in ``dropped``."""
    if not member.email:
        return None
    attributes: dict[str, Any] = {"email": normalise_contact_email(member.email)}
    if member.phone:
        phone = _vendor.attempt(lambda: normalise_e164(member.phone, default_country_code), "phone", dropped)
        if phone:
            attributes["phone_number"] = phone
    if member.first_name and member.first_name.strip():
        attributes["first_name"] = member.first_name.strip()
    if member.last_name and member.last_name.strip():
        attributes["last_name"] = member.last_name.strip()
    return attributes


def _klaviyo_error(response: httpx.Response | None) -> str:
    if response is None:
        return "no answer"
    errors = _vendor.json_or_empty(response).get("errors") or []
    first = errors[0] if errors and isinstance(errors[0], dict) else {}
    text = " ".join(str(first.get(k)) for k in ("code", "title", "detail") if first.get(k)) or response.text[:120]
    return f"Klaviyo HTTP {response.status_code}: {_vendor.redact(text)}"


class KlaviyoDestination(Destination):
    kind: ClassVar[str] = "klaviyo"
    max_batch_size: ClassVar[int] = 1000
    needs: ClassVar[frozenset[str]] = frozenset({"email", "phone", "first_name", "last_name"})
    consent_purpose: ClassVar[str] = "email"

    def __init__(
        self,
        *,
        list_id: str,
        token_env: str,
        revision: str = _REVISION,
        base_url: str = _HOST,
        default_country_code: str | None = None,
        policy: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.list_id = list_id
        self.token_env = token_env
        self.revision = revision
        self.base_url = base_url
        self.default_country_code = default_country_code
        self.policy = policy or RetryPolicy()
        self.sleep = sleep

    @classmethod
    def from_options(cls, options: dict[str, str], settings: Settings) -> KlaviyoDestination:
        kind = cls.kind
        _options.check_known(kind, options, _OPTIONS)
        list_id = _vendor.text_id(kind, options, "list_id", "pass --list-id ID (Lists > the list > Settings)")
        token_env = _options.env_name(kind, _options.required(
            kind, options, "token_env", "pass --token-env VAR (the variable holding a private API key)"))
        revision = (options.get("revision") or _REVISION).strip()
        if not _REVISION_FORMAT.match(revision):
            raise ConfigError(f"{kind} destination: revision {revision!r} is not YYYY-MM-DD",
                              fix=f"omit it (default {_REVISION})")
        return cls(list_id=list_id, token_env=token_env, revision=revision,
                   base_url=_vendor.base_url(kind, options, _HOST),
                   default_country_code=_vendor.country_code(kind, options))

    def describe(self) -> dict[str, str]:
        described = {"list_id": self.list_id, "token_env": self.token_env, "revision": self.revision}
        if self.base_url != _HOST:
            described["base_url"] = self.base_url
        if self.default_country_code:
            described["default_country_code"] = self.default_country_code
        return described

    def send(self, batch: Batch, client: httpx.Client) -> BatchResult:
        key = _vendor.read_secret(self.kind, self.token_env, "a Klaviyo private API key")
        headers = {
            "Authorization": f"Klaviyo-API-Key {key}",
            "revision": self.revision,
            "accept": "application/vnd.api+json",
            "content-type": "application/vnd.api+json",
        }
        dropped: list[str] = []
        kept, skipped = _vendor.usable(
            batch.members, lambda m: klaviyo_profile(m, self.default_country_code, dropped))
        calls = _vendor.Calls(client, self.policy, self.sleep)
        calls.note_dropped(dropped)
        if skipped:
            calls.note(f"{skipped} member(s) without a usable e-mail skipped")
        if not kept:
            return calls.ok(0)
        profiles = [attributes for _, attributes in kept]
        if batch.action == "add":
            return self._add(calls, client, headers, profiles)
        return self._remove(calls, client, headers, [p["email"] for p in profiles])

    def _add(self, calls: _vendor.Calls, client: httpx.Client, headers: dict[str, str],
             profiles: list[dict[str, Any]]) -> BatchResult:
        body = {"data": {
            "type": "profile-bulk-import-job",
            "attributes": {"profiles": {"data": [{"type": "profile", "attributes": p} for p in profiles]}},
            "relationships": {"lists": {"data": [{"type": "list", "id": self.list_id}]}},
        }}
        content = json.dumps(body, separators=(",", ":"))
        response = calls.send("bulk import", lambda: client.build_request(
            "POST", f"{self.base_url}/api/profile-bulk-import-jobs", headers=headers, content=content))
        if not _vendor.succeeded(response):
            return calls.dead_letter(_klaviyo_error(response))
        return calls.ok(len(profiles))

    def _remove(self, calls: _vendor.Calls, client: httpx.Client, headers: dict[str, str],
                emails: list[str]) -> BatchResult:
        ids: list[str] = []
        for start in range(0, len(emails), _LOOKUP_PAGE):
            chunk = emails[start:start + _LOOKUP_PAGE]
            params = {"filter": f"any(email,{json.dumps(chunk, separators=(',', ':'))})",
                      "page[size]": str(_LOOKUP_PAGE), "fields[profile]": "email"}
            found = calls.send("find profiles", lambda params=params: client.build_request(
                "GET", f"{self.base_url}/api/profiles", headers=headers, params=params))
            if not _vendor.succeeded(found):
                return calls.dead_letter(_klaviyo_error(found))
            assert found is not None
            ids += [str(p["id"]) for p in _vendor.json_or_empty(found).get("data") or [] if p.get("id")]
        if len(ids) < len(emails):
            calls.note(f"{len(emails) - len(ids)} address(es) unknown to Klaviyo (not on the list)")
        if not ids:
            return calls.ok(0)
        content = json.dumps({"data": [{"type": "profile", "id": i} for i in ids]}, separators=(",", ":"))
        response = calls.send("remove from list", lambda: client.build_request(
            "DELETE", f"{self.base_url}/api/lists/{self.list_id}/relationships/profiles", headers=headers,
            content=content))
        if not _vendor.succeeded(response):
            return calls.dead_letter(_klaviyo_error(response))
        return calls.ok(len(ids))
