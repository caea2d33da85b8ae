"""Mailchimp: a live audience as a tag (static segment) of a Mailchimp audience (list).

Mailchimp Marketing API 3.0 (https://mailchimp.com/developer/marketing/api/), host
``https://<dc>.api.mailchimp.com/3.0`` where ``<dc>`` is the API key's suffix (``...-us6``), HTTP Basic
auth with any user name and the key as password.

* add: ``POST /lists/{list_id}`` (batch subscribe, at most 500 members) with ``{"members":
  [{"email_address", "status": "subscribed"|"pending", "merge_fields": {"FNAME", "LNAME"}}],
  "update_existing": false}``: people not yet in the audience join it (``new_status``; only members
  whose e-mail consent is in force are sent), existing contacts are left exactly as they are
  (their ``ERROR_CONTACT_EXISTS`` is expected, not a failure), so an unsubscribed contact is never
  resubscribed; then ``POST /lists/{list_id}/segments/{segment_id}`` with ``{"members_to_add":
  [...]}`` tags them;
* remove: ``POST /lists/{list_id}/segments/{segment_id}`` with ``{"members_to_remove": [...]}``: the
  tag comes off, the contact stays subscribed (leaving an audience is not an unsubscribe).

The segment answer is ``{"members_added", "members_removed", "errors": [{"email_addresses", "error"}],
"total_added", "total_removed", "error_count"}``: applied = addresses sent - addresses in ``errors``.
A batch is at most 500 members (both endpoints' limit). Errors are problem documents ``{"type",
"title", "status", "detail", "instance"}``; 429 is retried with backoff. Addresses are sent trimmed and
lower case. Using it for real needs a Mailchimp account, an audience, a static segment (tag) and an
API key.
"""

from __future__ import annotations

import base64
import re
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar

import httpx

from targetwise.campaigns.hashing import normalise_contact_email
from targetwise.destinations import _options, _vendor
from targetwise.destinations.base import Batch, BatchResult, Destination, Member, RetryPolicy
from targetwise.errors import ConfigError

if TYPE_CHECKING:
    from targetwise.config import Settings

__all__ = ["MailchimpDestination", "mailchimp_member"]

_DATACENTER = re.compile(r"-([a-z]+[0-9]+)$")
_NEW_STATUSES = ("subscribed", "pending")
_OPTIONS = {"list_id", "segment_id", "token_env", "new_status", "base_url"}


def mailchimp_member(member: Member, status: str = "subscribed") -> dict[str, Any] | None:
    """A batch-subscribe member for a member with a usable e-mail (None otherwise)."""
    if not member.email:
        return None
    row: dict[str, Any] = {"email_address": normalise_contact_email(member.email), "status": status}
    merge = {k: v.strip() for k, v in (("FNAME", member.first_name), ("LNAME", member.last_name)) if v and v.strip()}
    if merge:
        row["merge_fields"] = merge
    return row


def _mailchimp_error(response: httpx.Response | None) -> str:
    if response is None:
        return "no answer"
    body = _vendor.json_or_empty(response)
    text = " ".join(str(body.get(k)) for k in ("title", "detail") if body.get(k)) or response.text[:120]
    return f"Mailchimp HTTP {response.status_code}: {_vendor.redact(text)}"


def mailchimp_host(api_key: str) -> str:
    """``https://us6.api.mailchimp.com/3.0`` for a key ending in ``-us6``."""
    match = _DATACENTER.search(api_key)
    if match is None:
        raise ConfigError("mailchimp destination: the API key has no data-centre suffix (like -us6)",
                          fix="copy the whole key from Account > Extras > API keys")
    return f"https://{match.group(1)}.api.mailchimp.com/3.0"


class MailchimpDestination(Destination):
    kind: ClassVar[str] = "mailchimp"
    max_batch_size: ClassVar[int] = 500
    needs: ClassVar[frozenset[str]] = frozenset({"email", "first_name", "last_name"})
    consent_purpose: ClassVar[str] = "email"

    def __init__(
        self,
        *,
        list_id: str,
        segment_id: str,
        token_env: str,
        new_status: str = "subscribed",
        base_url: str | None = None,
        policy: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.list_id = list_id
        self.segment_id = segment_id
        self.token_env = token_env
        self.new_status = new_status
        self.base_url = base_url
        self.policy = policy or RetryPolicy()
        self.sleep = sleep

    @classmethod
    def from_options(cls, options: dict[str, str], settings: Settings) -> MailchimpDestination:
        kind = cls.kind
        _options.check_known(kind, options, _OPTIONS)
        list_id = _vendor.text_id(kind, options, "list_id", "pass --list-id ID (Audience > Settings > Audience ID)")
        segment = _vendor.digits_id(kind, options, "segment_id", "pass --segment-id N (the tag's static segment id)")
        token_env = _options.env_name(kind, _options.required(
            kind, options, "token_env", "pass --token-env VAR (the variable holding the API key)"))
        status = (options.get("new_status") or "subscribed").strip()
        if status not in _NEW_STATUSES:
            raise ConfigError(f"{kind} destination: new_status {status!r} is not one of {list(_NEW_STATUSES)}",
                              fix="pass new_status=subscribed, or pending for double opt-in")
        base = _vendor.base_url(kind, options, "https://mailchimp.invalid") if options.get("base_url") else None
        return cls(list_id=list_id, segment_id=str(segment), token_env=token_env, new_status=status, base_url=base)

    def describe(self) -> dict[str, str]:
        described = {"list_id": self.list_id, "segment_id": self.segment_id, "token_env": self.token_env,
                     "new_status": self.new_status}
        if self.base_url:
            described["base_url"] = self.base_url
        return described

    def send(self, batch: Batch, client: httpx.Client) -> BatchResult:
        key = _vendor.read_secret(self.kind, self.token_env, "a Mailchimp API key")
        root = self.base_url or mailchimp_host(key)
        basic = base64.b64encode(f"targetwise:{key}".encode()).decode("ascii")
        headers = {"Authorization": f"Basic {basic}"}
        kept, skipped = _vendor.usable(batch.members, lambda m: mailchimp_member(m, self.new_status))
        calls = _vendor.Calls(client, self.policy, self.sleep)
        if skipped:
            calls.note(f"{skipped} member(s) without a usable e-mail skipped")
        if not kept:
            return calls.ok(0)
        rows = [row for _, row in kept]
        emails = [row["email_address"] for row in rows]

        def request(url: str, body: dict[str, Any]) -> httpx.Request:
            return client.build_request("POST", url, headers=headers, json=body)

        if batch.action == "add":
            joined = calls.send("batch subscribe", lambda: request(
                f"{root}/lists/{self.list_id}", {"members": rows, "update_existing": False}))
            if not _vendor.succeeded(joined):
                return calls.dead_letter(_mailchimp_error(joined))
            assert joined is not None
            answer = _vendor.json_or_empty(joined)
            refused = [e for e in answer.get("errors") or [] if e.get("error_code") != "ERROR_CONTACT_EXISTS"]
            if answer.get("total_created"):
                calls.note(f"{answer['total_created']} new contact(s) joined the audience as {self.new_status}")
            if refused:
                codes = sorted({str(e.get("error_code") or "error") for e in refused})
                calls.note(f"{len(refused)} address(es) refused by Mailchimp ({', '.join(codes)})")
            body = {"members_to_add": emails}
        else:
            body = {"members_to_remove": emails}
        tagged = calls.send("tag" if batch.action == "add" else "untag", lambda: request(
            f"{root}/lists/{self.list_id}/segments/{self.segment_id}", body))
        if not _vendor.succeeded(tagged):
            return calls.dead_letter(_mailchimp_error(tagged))
        assert tagged is not None
        failed = {a for e in _vendor.json_or_empty(tagged).get("errors") or [] for a in e.get("email_addresses") or []}
        if failed:
            calls.note(f"{len(failed)} address(es) not {'tagged' if batch.action == 'add' else 'untagged'}")
        return calls.ok(len([e for e in emails if e not in failed]))
