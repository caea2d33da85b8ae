"""Google Ads Customer Match: a live audience's adds and removes as an offline user data job.

Google Ads API (REST), OfflineUserDataJobService
(https://developers.google.com/google-ads/api/reference/rpc/latest/OfflineUserDataJobService), one job
per batch, three calls:

1. ``POST /{version}/customers/{customer_id}/offlineUserDataJobs:create`` with
   ``{"job": {"type": "CUSTOMER_MATCH_USER_LIST", "customerMatchUserListMetadata":
   {"userList": "customers/{customer_id}/userLists/{user_list_id}", "consent": {"adUserData": "GRANTED",
   "adPersonalization": "GRANTED"}}}}`` -> ``{"resourceName": "customers/.../offlineUserDataJobs/..."}``
   (only members whose ``ads`` consent is in force are sent, so both consents are granted);
2. ``POST /{version}/{resourceName}:addOperations`` with ``{"enablePartialFailure": true, "operations":
   [{"create"|"remove": {"userIdentifiers": [{"hashedEmail": ...}, {"hashedPhoneNumber": ...},
   {"addressInfo": {...}}]}}]}``: one operation (one UserData) per member, at most 20 identifiers each and
   100,000 per request (``TOO_MANY_USER_IDENTIFIERS``); Google recommends about 10,000 per call, so a
   batch is at most 10,000 members (3 identifiers each at most);
3. ``POST /{version}/{resourceName}:run`` with ``{}`` -> a long-running operation.

Headers: ``Authorization: Bearer <OAuth access token>``, ``developer-token``, and ``login-customer-id``
when the account is reached through a manager account. Identifiers are normalised and SHA-256 hashed
by ``targetwise.campaigns.hashing`` (Google's rules: Gmail dots and +suffix dropped, E.164 phone with
``+``; names hashed, country code and postal code in plain text, an address sent only when all four
parts are known). A partial failure (``partialFailureError``) names the failed operations by index:
those members are not counted as applied. Using it for real needs a Google Ads account with Customer
Match allowed, a developer token and an OAuth token with the ``adwords`` scope.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar

import httpx

from targetwise.campaigns.hashing import hash_address_part, hash_identifier
from targetwise.destinations import _options, _vendor
from targetwise.destinations.base import Batch, BatchResult, Destination, Member, RetryPolicy
from targetwise.errors import ConfigError

if TYPE_CHECKING:
    from targetwise.config import Settings

__all__ = ["GoogleCustomerMatchDestination", "google_user_data"]

_HOST = "https://googleads.googleapis.com"
_VERSION = "v26"
_PLATFORM = "google_customer_match"
_OPTIONS = {"customer_id", "user_list_id", "token_env", "developer_token_env", "login_customer_id",
            "api_version", "base_url", "default_country_code"}


def google_user_data(
    member: Member, default_country_code: str | None = None, dropped: list[str] | None = None
) -> dict[str, Any] | None:
    """The ``UserData`` of one member (``{"userIdentifiers": [...]}``), or None when nothing is usable.

    An invalid e-mail, phone or address is left out and named in ``dropped`` (the other identifiers
    still match the person); an address needs first name, last name, country and postal code.
    """
    identifiers: list[dict[str, Any]] = []
    if member.email:
        email = _vendor.attempt(lambda: hash_identifier(member.email, kind="email", destination=_PLATFORM),
                                "e-mail", dropped)
        if email:
            identifiers.append({"hashedEmail": email})
    if member.phone:
        phone = _vendor.attempt(lambda: hash_identifier(member.phone, kind="phone", destination=_PLATFORM,
                                                        default_country_code=default_country_code), "phone", dropped)
        if phone:
            identifiers.append({"hashedPhoneNumber": phone})
    if member.first_name and member.last_name and member.country and member.postal_code:
        address = _vendor.attempt(lambda: {
            "hashedFirstName": hash_address_part(member.first_name, kind="first_name", destination=_PLATFORM),
            "hashedLastName": hash_address_part(member.last_name, kind="last_name", destination=_PLATFORM),
            "countryCode": hash_address_part(member.country, kind="country", destination=_PLATFORM).upper(),
            "postalCode": hash_address_part(member.postal_code, kind="zip", destination=_PLATFORM),
        }, "address", dropped)
        if address:
            identifiers.append({"addressInfo": address})
    return {"userIdentifiers": identifiers} if identifiers else None


def _failed_operations(body: dict[str, Any]) -> tuple[set[int], str]:
    """Operation indexes named by a ``partialFailureError`` and its first error's message."""
    failure = body.get("partialFailureError") or {}
    indexes: set[int] = set()
    first = ""
    for detail in failure.get("details") or []:
        for error in detail.get("errors") or []:
            first = first or str(error.get("message") or error.get("errorCode") or "")
            for element in (error.get("location") or {}).get("fieldPathElements") or []:
                if element.get("fieldName") == "operations" and "index" in element:
                    indexes.add(int(element["index"]))
    return indexes, first or str(failure.get("message") or "")


def _google_error(response: httpx.Response | None) -> str:
    if response is None:
        return "no answer"
    error = _vendor.json_or_empty(response).get("error") or {}
    parts = [str(error.get("status") or ""), str(error.get("message") or "")]
    for detail in error.get("details") or []:
        for item in detail.get("errors") or []:
            codes = item.get("errorCode") or {}
            parts.append(", ".join(f"{k}={v}" for k, v in codes.items()))
            break
    text = " ".join(p for p in parts if p) or response.text[:120]
    return f"Google Ads HTTP {response.status_code}: {_vendor.redact(text)}"


class GoogleCustomerMatchDestination(Destination):
    kind: ClassVar[str] = _PLATFORM
    max_batch_size: ClassVar[int] = 10_000
    needs: ClassVar[frozenset[str]] = frozenset({"email", "phone", "first_name", "last_name", "country", "postal_code"})
    consent_purpose: ClassVar[str] = "ads"

    def __init__(
        self,
        *,
        customer_id: str,
        user_list_id: str,
        token_env: str,
        developer_token_env: str,
        login_customer_id: str | None = None,
        api_version: str = _VERSION,
        base_url: str = _HOST,
        default_country_code: str | None = None,
        policy: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.customer_id = customer_id
        self.user_list_id = user_list_id
        self.token_env = token_env
        self.developer_token_env = developer_token_env
        self.login_customer_id = login_customer_id
        self.api_version = api_version
        self.base_url = base_url
        self.default_country_code = default_country_code
        self.policy = policy or RetryPolicy()
        self.sleep = sleep

    @classmethod
    def from_options(cls, options: dict[str, str], settings: Settings) -> GoogleCustomerMatchDestination:
        kind = cls.kind
        _options.check_known(kind, options, _OPTIONS)
        customer = _vendor.digits_id(kind, options, "customer_id", "pass --customer-id 1234567890 (the Ads account)")
        user_list = _vendor.digits_id(kind, options, "user_list_id", "pass --user-list-id N (a Customer Match list)")
        login = _vendor.digits_id(kind, options, "login_customer_id", "pass the manager account's id, digits",
                                  optional=True)
        token_env = _options.env_name(kind, _options.required(
            kind, options, "token_env", "pass --token-env VAR (the variable holding an OAuth access token)"))
        developer_env = _options.env_name(kind, _options.required(
            kind, options, "developer_token_env", "pass --developer-token-env VAR (the variable holding it)"))
        version = (options.get("api_version") or _VERSION).strip()
        if not (version.startswith("v") and version[1:].isdigit()):
            raise ConfigError(f"{kind} destination: api_version {version!r} is not like v26",
                                      fix=f"omit it (default {_VERSION})")
        return cls(
            customer_id=str(customer), user_list_id=str(user_list), token_env=token_env,
            developer_token_env=developer_env, login_customer_id=login, api_version=version,
            base_url=_vendor.base_url(kind, options, _HOST),
            default_country_code=_vendor.country_code(kind, options),
        )

    def describe(self) -> dict[str, str]:
        described = {
            "customer_id": self.customer_id, "user_list_id": self.user_list_id, "token_env": self.token_env,
            "developer_token_env": self.developer_token_env, "api_version": self.api_version,
        }
        if self.login_customer_id:
            described["login_customer_id"] = self.login_customer_id
        if self.base_url != _HOST:
            described["base_url"] = self.base_url
        if self.default_country_code:
            described["default_country_code"] = self.default_country_code
        return described

    def _headers(self) -> dict[str, str]:
        headers = {
            "Authorization": f"Bearer {_vendor.read_secret(self.kind, self.token_env, 'an OAuth access token')}",
            "developer-token": _vendor.read_secret(self.kind, self.developer_token_env, "the developer token"),
            "Content-Type": "application/json",
        }
        if self.login_customer_id:
            headers["login-customer-id"] = self.login_customer_id
        return headers

    def send(self, batch: Batch, client: httpx.Client) -> BatchResult:
        headers = self._headers()
        dropped: list[str] = []
        kept, skipped = _vendor.usable(
            batch.members, lambda m: google_user_data(m, self.default_country_code, dropped))
        calls = _vendor.Calls(client, self.policy, self.sleep)
        calls.note_dropped(dropped)
        if skipped:
            calls.note(f"{skipped} member(s) without a usable e-mail, phone or address skipped")
        if not kept:
            return calls.ok(0)
        root = f"{self.base_url}/{self.api_version}"
        job = {"job": {"type": "CUSTOMER_MATCH_USER_LIST", "customerMatchUserListMetadata": {
            "userList": f"customers/{self.customer_id}/userLists/{self.user_list_id}",
            "consent": {"adUserData": "GRANTED", "adPersonalization": "GRANTED"},
        }}}
        created = calls.send("create job", lambda: client.build_request(
            "POST", f"{root}/customers/{self.customer_id}/offlineUserDataJobs:create", headers=headers, json=job))
        if not _vendor.succeeded(created):
            return calls.dead_letter(_google_error(created))
        assert created is not None
        resource = _vendor.json_or_empty(created).get("resourceName")
        if not isinstance(resource, str) or "/offlineUserDataJobs/" not in resource:
            return calls.dead_letter("Google Ads answered the job creation without a job resourceName")
        verb = "create" if batch.action == "add" else "remove"
        operations = {"enablePartialFailure": True, "operations": [{verb: data} for _, data in kept]}
        added = calls.send("addOperations", lambda: client.build_request(
            "POST", f"{root}/{resource}:addOperations", headers=headers, json=operations))
        if not _vendor.succeeded(added):
            return calls.dead_letter(_google_error(added))
        assert added is not None
        failed, message = _failed_operations(_vendor.json_or_empty(added))
        if failed:
            calls.note(f"{len(failed)} operation(s) refused by Google: {_vendor.redact(message)}")
        ran = calls.send("run job", lambda: client.build_request(
            "POST", f"{root}/{resource}:run", headers=headers, json={}))
        if not _vendor.succeeded(ran):
            return calls.dead_letter(_google_error(ran))
        return calls.ok(len(kept) - len(failed))
