"""HubSpot: a live audience as the members of a static (MANUAL) HubSpot contact list.

HubSpot CRM API v3 (https://developers.hubspot.com/docs/api/crm/lists, .../crm/contacts); every
request carries ``Authorization: Bearer <private app token>`` and JSON bodies.

* add: ``POST /crm/v3/objects/contacts/batch/upsert`` with ``{"inputs": [{"idProperty": "email", "id":
  EMAIL, "properties": {"email", "firstname", "lastname", "phone"}}]}`` (at most 100 inputs) -> the
  contacts' record ids; then ``PUT /crm/v3/lists/{listId}/memberships/add`` with the JSON array of
  ids -> ``{"recordIdsAdded": [...], "recordIdsMissing": [...]}`` ("records that do not exist or that
  are already members are ignored": applied = ids sent - ids missing);
* remove: ``POST /crm/v3/objects/contacts/batch/read`` with ``{"idProperty": "email", "inputs": [{"id":
  EMAIL}], "properties": ["email"]}`` (no contact is created for a removal; unknown addresses come back
  under ``errors`` with HTTP 207) -> ids; then ``PUT /crm/v3/lists/{listId}/memberships/remove`` ->
  ``{"recordIdsRemoved": [...], "recordIdsMissing": [...]}``.

A batch is at most 100 members (the batch endpoints' limit). Errors are ``{"status": "error",
"message", "correlationId", "category"}``; 429 (``RATE_LIMIT``, ten-secondly and daily policies)
carries ``Retry-After`` when HubSpot sends one, and is retried with backoff. Addresses are sent
trimmed and lower case (``targetwise.campaigns.hashing.normalise_contact_email``). Using it for real
needs a HubSpot account, a MANUAL list and a private app token with ``crm.lists.write`` and
``crm.objects.contacts.write``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar

import httpx

from targetwise.campaigns.hashing import normalise_contact_email
from targetwise.destinations import _options, _vendor
from targetwise.destinations.base import Batch, BatchResult, Destination, Member, RetryPolicy

if TYPE_CHECKING:
    from targetwise.config import Settings

__all__ = ["HubSpotDestination", "hubspot_contact"]

_HOST = "https://api.hubapi.com"
_OPTIONS = {"list_id", "token_env", "base_url"}


def hubspot_contact(member: Member) -> dict[str, Any] | None:
    """A batch-upsert input for a member with a usable e-mail (None otherwise)."""
    if not member.email:
        return None
    email = normalise_contact_email(member.email)
    properties = {"email": email}
    for name, value in (("firstname", member.first_name), ("lastname", member.last_name), ("phone", member.phone)):
        if value and value.strip():
            properties[name] = value.strip()
    return {"idProperty": "email", "id": email, "properties": properties}


def _hubspot_error(response: httpx.Response | None) -> str:
    if response is None:
        return "no answer"
    body = _vendor.json_or_empty(response)
    text = " ".join(str(body.get(k)) for k in ("category", "message") if body.get(k)) or response.text[:120]
    return f"HubSpot HTTP {response.status_code}: {_vendor.redact(text)}"


class HubSpotDestination(Destination):
    kind: ClassVar[str] = "hubspot"
    max_batch_size: ClassVar[int] = 100
    needs: ClassVar[frozenset[str]] = frozenset({"email", "first_name", "last_name", "phone"})
    consent_purpose: ClassVar[str] = "email"

    def __init__(
        self,
        *,
        list_id: str,
        token_env: str,
        base_url: str = _HOST,
        policy: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.list_id = list_id
        self.token_env = token_env
        self.base_url = base_url
        self.policy = policy or RetryPolicy()
        self.sleep = sleep

    @classmethod
    def from_options(cls, options: dict[str, str], settings: Settings) -> HubSpotDestination:
        kind = cls.kind
        _options.check_known(kind, options, _OPTIONS)
        list_id = _vendor.digits_id(kind, options, "list_id", "pass --list-id N (the list's ILS id, a MANUAL list)")
        token_env = _options.env_name(kind, _options.required(
            kind, options, "token_env", "pass --token-env VAR (the variable holding a private app token)"))
        return cls(list_id=str(list_id), token_env=token_env, base_url=_vendor.base_url(kind, options, _HOST))

    def describe(self) -> dict[str, str]:
        described = {"list_id": self.list_id, "token_env": self.token_env}
        if self.base_url != _HOST:
            described["base_url"] = self.base_url
        return described

    def send(self, batch: Batch, client: httpx.Client) -> BatchResult:
        token = _vendor.read_secret(self.kind, self.token_env, "a HubSpot private app token")
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        kept, skipped = _vendor.usable(batch.members, hubspot_contact)
        calls = _vendor.Calls(client, self.policy, self.sleep)
        if skipped:
            calls.note(f"{skipped} member(s) without a usable e-mail skipped")
        if not kept:
            return calls.ok(0)
        inputs = [contact for _, contact in kept]
        objects = f"{self.base_url}/crm/v3/objects/contacts/batch"
        if batch.action == "add":
            step, url, body = "upsert contacts", f"{objects}/upsert", {"inputs": inputs}
        else:
            step, url = "read contacts", f"{objects}/read"
            body = {"idProperty": "email", "inputs": [{"id": c["id"]} for c in inputs], "properties": ["email"]}
        found = calls.send(step, lambda: client.build_request("POST", url, headers=headers, json=body))
        if not _vendor.succeeded(found):
            return calls.dead_letter(_hubspot_error(found))
        assert found is not None
        answer = _vendor.json_or_empty(found)
        ids = [str(r["id"]) for r in answer.get("results") or [] if r.get("id")]
        if len(ids) < len(inputs):
            what = "unknown to HubSpot (not on the list)" if batch.action == "remove" else "not upserted"
            calls.note(f"{len(inputs) - len(ids)} contact(s) {what}")
        if not ids:
            return calls.ok(0)
        verb = "add" if batch.action == "add" else "remove"
        changed = calls.send(f"memberships/{verb}", lambda: client.build_request(
            "PUT", f"{self.base_url}/crm/v3/lists/{self.list_id}/memberships/{verb}", headers=headers, json=ids))
        if not _vendor.succeeded(changed):
            return calls.dead_letter(_hubspot_error(changed))
        assert changed is not None
        missing = _vendor.json_or_empty(changed).get("recordIdsMissing") or []
        if missing:
            calls.note(f"{len(missing)} record id(s) missing in HubSpot")
        return calls.ok(len(ids) - len(missing))
