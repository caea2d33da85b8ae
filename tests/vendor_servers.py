"""Local stand-ins for the vendor APIs the destination adapters call (no network is reachable here).

Each fake checks every request field by field against the vendor's documented schema (method, path,
headers with auth and version, body structure, identifier normal forms and hashes, batch limits),
records what it finds wrong in ``violations``, keeps the vendor's state (who is on the list) and
answers like the vendor: its success bodies and its documented error bodies. ``script`` holds answers
served before the normal handling (a 429 with Retry-After, a 500), one per request, in order.

The limits below are the vendors' documented numbers, written here independently of the adapters.
"""

from __future__ import annotations

import base64
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlsplit

HEX64 = re.compile(r"^[0-9a-f]{64}$")
E164 = re.compile(r"^\+[1-9][0-9]{7,14}$")
Answer = tuple[int, dict[str, str], bytes]


def as_json(status: int, body: object, headers: dict[str, str] | None = None) -> Answer:
    return status, {"Content-Type": "application/json", **(headers or {})}, json.dumps(body).encode()


class Fake:
    """What every vendor fake shares: the request log, violations, scripted answers."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str]] = []  # (method, path) in order
        self.violations: list[str] = []
        self.script: list[Answer] = []
        self.lock = threading.Lock()

    def expect(self, condition: bool, what: str) -> bool:
        if not condition:
            self.violations.append(what)
        return condition

    def dispatch(self, method: str, target: str, headers: dict[str, str], body: bytes) -> Answer:
        parts = urlsplit(target)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        with self.lock:
            self.requests.append((method, parts.path))
            if self.script:
                return self.script.pop(0)
            return self.handle(method, parts.path, query, {k.lower(): v for k, v in headers.items()}, body)

    def handle(self, method: str, path: str, query: dict[str, str], headers: dict[str, str], body: bytes) -> Answer:
        raise NotImplementedError


class VendorServer:
    """A threaded HTTP server on 127.0.0.1 that hands every request to the installed fake."""

    def __init__(self) -> None:
        server = self
        self.fake: Fake | None = None

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _any(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0") or 0))
                assert server.fake is not None
                status, headers, payload = server.fake.dispatch(self.command, self.path, dict(self.headers), body)
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_DELETE = _any  # http.server's method names

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def install(self, fake: Fake) -> Fake:
        self.fake = fake
        return fake

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


# --- Google Ads API: OfflineUserDataJobService (REST) -------------------------------------------------

class GoogleAds(Fake):
    MAX_IDENTIFIERS_PER_REQUEST = 100_000  # TOO_MANY_USER_IDENTIFIERS: 100,000 per request, 20 per operation
    MAX_IDENTIFIERS_PER_OPERATION = 20

    def __init__(self, *, customer_id: str, user_list_id: str, token: str, developer_token: str,
                 version: str = "v26", login_customer_id: str | None = None) -> None:
        super().__init__()
        self.customer_id, self.user_list_id, self.version = customer_id, user_list_id, version
        self.token, self.developer_token, self.login_customer_id = token, developer_token, login_customer_id
        self.jobs: dict[str, dict[str, Any]] = {}
        self.members: set[str] = set()  # hashed e-mails (or phones) on the user list once jobs ran
        self.refuse_emails: set[str] = set()  # hashed e-mails answered with a partial failure

    def _error(self, status: int, code: str, message: str, error_code: dict[str, str]) -> Answer:
        return as_json(status, {"error": {"code": status, "message": message, "status": code, "details": [{
            "@type": f"type.googleapis.com/google.ads.googleads.{self.version}.errors.GoogleAdsFailure",
            "errors": [{"errorCode": error_code, "message": message}], "requestId": "req-1"}]}})

    def handle(self, method, path, query, headers, body):
        self.expect(method == "POST", f"method {method}")
        self.expect(headers.get("content-type", "").startswith("application/json"), "content-type")
        if headers.get("authorization") != f"Bearer {self.token}" or headers.get("developer-token") != self.developer_token:
            return self._error(401, "UNAUTHENTICATED", "Request is missing required authentication credential.",
                               {"authenticationError": "AUTHENTICATION_ERROR"})
        self.expect(headers.get("login-customer-id") == self.login_customer_id, "login-customer-id header")
        payload = json.loads(body or b"null")
        prefix = f"/{self.version}/customers/{self.customer_id}/offlineUserDataJobs"
        if path == f"{prefix}:create":
            job = payload.get("job") or {}
            self.expect(set(payload) == {"job"}, f"create body keys {sorted(payload)}")
            self.expect(job.get("type") == "CUSTOMER_MATCH_USER_LIST", "job.type")
            meta = job.get("customerMatchUserListMetadata") or {}
            if meta.get("userList") != f"customers/{self.customer_id}/userLists/{self.user_list_id}":
                return self._error(400, "INVALID_ARGUMENT", "The user list does not exist.",
                                   {"offlineUserDataJobError": "INVALID_USER_LIST_ID"})
            self.expect(meta.get("consent") == {"adUserData": "GRANTED", "adPersonalization": "GRANTED"}, "consent")
            job_id = str(len(self.jobs) + 1)
            self.jobs[job_id] = {"operations": [], "ran": False}
            return as_json(200, {"resourceName": f"customers/{self.customer_id}/offlineUserDataJobs/{job_id}"})
        match = re.fullmatch(re.escape(prefix) + r"/([0-9]+):(addOperations|run)", path)
        if match is None or match.group(1) not in self.jobs:
            return self._error(404, "NOT_FOUND", "Resource not found.", {"requestError": "RESOURCE_NOT_FOUND"})
        job = self.jobs[match.group(1)]
        if match.group(2) == "run":
            self.expect(payload == {}, "run body")
            self.expect(not job["ran"], "job run twice")
            for verb, key in job["operations"]:
                (self.members.add if verb == "create" else self.members.discard)(key)
            job["ran"] = True
            return as_json(200, {"name": f"customers/{self.customer_id}/operations/{match.group(1)}"})
        self.expect(payload.get("enablePartialFailure") is True, "enablePartialFailure")
        operations = payload.get("operations") or []
        total = 0
        failures = []
        for index, operation in enumerate(operations):
            self.expect(len(operation) == 1 and next(iter(operation)) in ("create", "remove"), f"operation {index}")
            verb, data = next(iter(operation.items()))
            identifiers = data.get("userIdentifiers") or []
            total += len(identifiers)
            self.expect(0 < len(identifiers) <= self.MAX_IDENTIFIERS_PER_OPERATION, f"identifiers in op {index}")
            key = None
            for identifier in identifiers:
                self.expect(len(identifier) == 1, f"identifier keys {sorted(identifier)}")
                name, value = next(iter(identifier.items()))
                if name in ("hashedEmail", "hashedPhoneNumber"):
                    self.expect(bool(HEX64.match(value)), f"{name} not lowercase SHA-256 hex")
                    key = key or value
                elif name == "addressInfo":
                    self.expect(set(value) == {"hashedFirstName", "hashedLastName", "countryCode", "postalCode"},
                                f"addressInfo keys {sorted(value)}")
                    self.expect(bool(HEX64.match(value.get("hashedFirstName", ""))), "hashedFirstName")
                    self.expect(bool(re.fullmatch(r"[A-Z]{2}", value.get("countryCode", ""))), "countryCode")
                else:
                    self.expect(False, f"identifier {name}")
            if key in self.refuse_emails:
                failures.append({"errorCode": {"offlineUserDataJobError": "INVALID_SHA256_FORMAT"},
                                 "message": "The SHA256 encoded value is malformed.",
                                 "location": {"fieldPathElements": [{"fieldName": "operations", "index": index},
                                                                    {"fieldName": verb}]}})
            elif key is not None:
                job["operations"].append((verb, key))
        if total > self.MAX_IDENTIFIERS_PER_REQUEST:
            return self._error(400, "INVALID_ARGUMENT", "Too many user identifiers.",
                               {"offlineUserDataJobError": "TOO_MANY_USER_IDENTIFIERS"})
        if not failures:
            return as_json(200, {})
        return as_json(200, {"partialFailureError": {"code": 3, "message": "Multiple errors in details.",
                                                     "details": [{"@type": "GoogleAdsFailure", "errors": failures}]}})


# --- Meta Marketing API: /{audience_id}/users -----------------------------------------------------------

class MetaAudiences(Fake):
    MAX_USERS = 10_000  # "only a maximum of 10000 at a time"
    SCHEMA_KEYS: ClassVar[set[str]] = {"EMAIL", "PHONE", "FN", "LN", "ZIP", "COUNTRY", "GEN", "DOBY", "DOBM", "DOBD", "FI", "CT", "ST",
                   "MADID", "EXTERN_ID"}

    def __init__(self, *, audience_id: str, token: str, version: str = "v25.0") -> None:
        super().__init__()
        self.audience_id, self.token, self.version = audience_id, token, version
        self.members: set[str] = set()  # hashed e-mails on the audience
        self.rows: list[list[str]] = []  # every data row received, in order
        self.received_per_request: list[int] = []

    @staticmethod
    def error(status: int, code: int, message: str, kind: str = "OAuthException") -> Answer:
        return as_json(status, {"error": {"message": message, "type": kind, "code": code, "fbtrace_id": "AbCdEf"}})

    def handle(self, method, path, query, headers, body):
        self.expect(method in ("POST", "DELETE"), f"method {method}")
        self.expect(headers.get("content-type", "").startswith("application/x-www-form-urlencoded"), "content-type")
        form = {k: v[0] for k, v in parse_qs(body.decode()).items()}
        self.expect(set(form) == {"payload", "access_token"}, f"form fields {sorted(form)}")
        if form.get("access_token") != self.token:
            return self.error(400, 190, "Invalid OAuth access token - Cannot parse access token")
        if path != f"/{self.version}/{self.audience_id}/users":
            return self.error(400, 100, "(#100) Unsupported post request. Object does not exist", "GraphMethodException")
        payload = json.loads(form.get("payload", "{}"))
        schema, data = payload.get("schema"), payload.get("data") or []
        self.expect(set(payload) == {"schema", "data"}, f"payload keys {sorted(payload)}")
        self.expect(isinstance(schema, list) and set(schema) <= self.SCHEMA_KEYS, f"schema {schema}")
        if len(data) > self.MAX_USERS:
            return self.error(400, 100, "(#100) Too many users in payload; max 10000")
        email_at = schema.index("EMAIL") if "EMAIL" in schema else None
        invalid = 0
        for row in data:
            self.expect(len(row) == len(schema), "row length differs from schema")
            for value in row:
                self.expect(value == "" or bool(HEX64.match(value)), "value not empty or lowercase SHA-256 hex")
            self.rows.append(row)
            if email_at is None or not row[email_at]:
                invalid += 0 if any(row) else 1
                continue
            (self.members.add if method == "POST" else self.members.discard)(row[email_at])
        self.received_per_request.append(len(data))
        return as_json(200, {"audience_id": self.audience_id, "session_id": "1", "num_received": len(data),
                             "num_invalid_entries": invalid, "invalid_entry_samples": {}})


# --- Klaviyo REST API (JSON:API) ------------------------------------------------------------------------

class Klaviyo(Fake):
    MAX_IMPORT = 10_000  # Bulk Import Profiles: up to 10,000 profiles per job
    MAX_RELATIONSHIPS = 1000  # Add/Remove Profiles to/from List: 1000 per call
    MAX_PAGE = 100  # Get Profiles: page[size] 1-100

    def __init__(self, *, list_id: str, key: str, revision: str = "2026-10-15") -> None:
        super().__init__()
        self.list_id, self.key, self.revision = list_id, key, revision
        self.profiles: dict[str, str] = {}  # email -> profile id
        self.phones: dict[str, str] = {}  # email -> phone_number as received
        self.members: set[str] = set()  # profile ids on the list

    @staticmethod
    def error(status: int, code: str, title: str, detail: str) -> Answer:
        return status, {"Content-Type": "application/vnd.api+json"}, json.dumps({"errors": [
            {"id": "e1", "status": status, "code": code, "title": title, "detail": detail,
             "source": {"pointer": "/data/"}}]}).encode()

    def handle(self, method, path, query, headers, body):
        if headers.get("authorization") != f"Klaviyo-API-Key {self.key}":
            return self.error(401, "not_authenticated", "Authentication credentials were not provided.",
                              "Missing or invalid private key.")
        self.expect(headers.get("revision") == self.revision, f"revision {headers.get('revision')}")
        self.expect(headers.get("accept") == "application/vnd.api+json", "accept")
        if method in ("POST", "DELETE"):
            self.expect(headers.get("content-type") == "application/vnd.api+json", "content-type")
        if method == "POST" and path == "/api/profile-bulk-import-jobs":
            data = json.loads(body)["data"]
            self.expect(data.get("type") == "profile-bulk-import-job", "type")
            lists = data.get("relationships", {}).get("lists", {}).get("data")
            if lists != [{"type": "list", "id": self.list_id}]:
                return self.error(400, "invalid", "Invalid input.", "List does not exist.")
            profiles = data["attributes"]["profiles"]["data"]
            self.expect(0 < len(profiles) <= self.MAX_IMPORT, "profiles per job")
            for profile in profiles:
                self.expect(profile.get("type") == "profile", "profile type")
                attributes = profile.get("attributes", {})
                self.expect(set(attributes) <= {"email", "phone_number", "first_name", "last_name"},
                            f"attributes {sorted(attributes)}")
                email = attributes.get("email", "")
                self.expect(email == email.strip().lower() and "@" in email, "email not trimmed lower case")
                if "phone_number" in attributes:
                    self.expect(bool(E164.match(attributes["phone_number"])), "phone_number not E.164")
                    self.phones[email] = attributes["phone_number"]
                profile_id = self.profiles.setdefault(email, f"01P{len(self.profiles):05d}")
                self.members.add(profile_id)
            return 202, {"Content-Type": "application/vnd.api+json"}, json.dumps({"data": {
                "type": "profile-bulk-import-job", "id": "job-1",
                "attributes": {"status": "queued", "total_count": len(profiles)}}}).encode()
        if method == "GET" and path == "/api/profiles":
            match = re.fullmatch(r"any\(email,(\[.*\])\)", query.get("filter", ""))
            if not self.expect(match is not None, f"filter {query.get('filter')!r}"):
                return self.error(400, "invalid", "Invalid filter.", "Invalid filter provided.")
            emails = json.loads(match.group(1))
            size = int(query.get("page[size]", "20"))
            self.expect(1 <= size <= self.MAX_PAGE and len(emails) <= size, "page size / filter values")
            self.expect(query.get("fields[profile]") == "email", "fields[profile]")
            found = [{"type": "profile", "id": self.profiles[e], "attributes": {"email": e}}
                     for e in emails if e in self.profiles]
            return 200, {"Content-Type": "application/vnd.api+json"}, json.dumps(
                {"data": found, "links": {"self": path, "next": None}}).encode()
        if method == "DELETE" and path == f"/api/lists/{self.list_id}/relationships/profiles":
            data = json.loads(body)["data"]
            self.expect(0 < len(data) <= self.MAX_RELATIONSHIPS, "profiles per call")
            for item in data:
                self.expect(set(item) == {"type", "id"} and item["type"] == "profile", "relationship item")
                self.members.discard(item["id"])
            return 204, {}, b""
        return self.error(404, "not_found", "Not found.", f"No route {method} {path}")


# --- HubSpot CRM API v3 ---------------------------------------------------------------------------------

class HubSpot(Fake):
    MAX_BATCH = 100  # batch upsert/read: 100 inputs
    MAX_MEMBERSHIPS = 100_000  # memberships add/remove: record ids per call

    def __init__(self, *, list_id: str, token: str) -> None:
        super().__init__()
        self.list_id, self.token = list_id, token
        self.contacts: dict[str, str] = {}  # email -> record id
        self.properties: dict[str, dict[str, str]] = {}
        self.members: set[str] = set()

    @staticmethod
    def error(status: int, category: str, message: str) -> Answer:
        return as_json(status, {"status": "error", "message": message, "correlationId": "c0ffee", "category": category})

    def handle(self, method, path, query, headers, body):
        if headers.get("authorization") != f"Bearer {self.token}":
            return self.error(401, "INVALID_AUTHENTICATION", "Authentication credentials not found.")
        self.expect(headers.get("content-type", "").startswith("application/json"), "content-type")
        payload = json.loads(body or b"null")
        if method == "POST" and path == "/crm/v3/objects/contacts/batch/upsert":
            inputs = payload.get("inputs") or []
            if len(inputs) > self.MAX_BATCH:
                return self.error(400, "VALIDATION_ERROR", "Batch input must have no more than 100 inputs.")
            results = []
            for item in inputs:
                props = item.get("properties") or {}
                self.expect(item.get("idProperty") == "email" and item.get("id") == props.get("email"), "upsert input")
                self.expect(set(props) <= {"email", "firstname", "lastname", "phone"}, f"properties {sorted(props)}")
                email = props.get("email", "")
                self.expect(email == email.strip().lower(), "email not trimmed lower case")
                record = self.contacts.setdefault(email, str(1000 + len(self.contacts)))
                self.properties[record] = props
                results.append({"id": record, "properties": {"email": email}, "new": False})
            return as_json(200, {"status": "COMPLETE", "results": results, "startedAt": "2026-12-03T00:00:00Z",
                                 "completedAt": "2026-12-03T00:00:01Z"})
        if method == "POST" and path == "/crm/v3/objects/contacts/batch/read":
            self.expect(payload.get("idProperty") == "email" and payload.get("properties") == ["email"], "read body")
            inputs = payload.get("inputs") or []
            self.expect(len(inputs) <= self.MAX_BATCH, "read inputs")
            found = [{"id": self.contacts[i["id"]], "properties": {"email": i["id"]}}
                     for i in inputs if i["id"] in self.contacts]
            missing = [i["id"] for i in inputs if i["id"] not in self.contacts]
            answer: dict[str, Any] = {"status": "COMPLETE", "results": found}
            if missing:
                answer.update(numErrors=1, errors=[{"status": "error", "category": "OBJECT_NOT_FOUND",
                                                    "message": "Could not get some CONTACT objects, they may be deleted "
                                                               "or not exist.", "context": {"ids": missing}}])
                return as_json(207, answer)
            return as_json(200, answer)
        match = re.fullmatch(r"/crm/v3/lists/([0-9]+)/memberships/(add|remove)", path)
        if method == "PUT" and match:
            if match.group(1) != self.list_id:
                return self.error(404, "OBJECT_NOT_FOUND", f"List {match.group(1)} does not exist.")
            self.expect(isinstance(payload, list) and all(isinstance(i, str) for i in payload), "body: array of ids")
            self.expect(len(payload) <= self.MAX_MEMBERSHIPS, "ids per call")
            known = [i for i in payload if i in self.properties]
            missing = [i for i in payload if i not in self.properties]
            if match.group(2) == "add":
                added = [i for i in known if i not in self.members]
                self.members.update(known)
                return as_json(200, {"recordIdsAdded": added, "recordIdsMissing": missing})
            removed = [i for i in known if i in self.members]
            self.members.difference_update(known)
            return as_json(200, {"recordIdsRemoved": removed, "recordIdsMissing": missing})
        return self.error(404, "OBJECT_NOT_FOUND", f"No route {method} {path}")


# --- Mailchimp Marketing API 3.0 ------------------------------------------------------------------------

class Mailchimp(Fake):
    MAX_MEMBERS = 500  # batch subscribe and static segment members: 500 per call

    def __init__(self, *, list_id: str, segment_id: str, key: str) -> None:
        super().__init__()
        self.list_id, self.segment_id, self.key = list_id, segment_id, key
        self.contacts: dict[str, str] = {}  # email -> status
        self.tagged: set[str] = set()

    @staticmethod
    def error(status: int, title: str, detail: str) -> Answer:
        return status, {"Content-Type": "application/problem+json"}, json.dumps({
            "type": "https://mailchimp.com/developer/marketing/docs/errors/", "title": title, "status": status,
            "detail": detail, "instance": "abc-123"}).encode()

    def handle(self, method, path, query, headers, body):
        auth = headers.get("authorization", "")
        password = base64.b64decode(auth[6:]).decode().split(":", 1)[-1] if auth.startswith("Basic ") else ""
        if password != self.key:
            return self.error(401, "API Key Invalid", "Your API key may be invalid, or you've attempted to access "
                                                      "the wrong datacenter.")
        self.expect(method == "POST", f"method {method}")
        payload = json.loads(body)
        if path == f"/3.0/lists/{self.list_id}":
            members = payload.get("members") or []
            self.expect(payload.get("update_existing") is False, "update_existing must be false")
            if len(members) > self.MAX_MEMBERS:
                return self.error(400, "Invalid Resource", "Maximum of 500 members per request.")
            new, errors = [], []
            for member in members:
                self.expect(set(member) <= {"email_address", "status", "merge_fields"}, f"member keys {sorted(member)}")
                self.expect(member.get("status") in ("subscribed", "pending"), "status")
                email = member.get("email_address", "")
                self.expect(email == email.strip().lower(), "email not trimmed lower case")
                if email in self.contacts:
                    errors.append({"email_address": email, "error": f"{email} is already a list member",
                                   "error_code": "ERROR_CONTACT_EXISTS", "field": "", "field_message": ""})
                else:
                    self.contacts[email] = member["status"]
                    new.append({"email_address": email, "status": member["status"]})
            return as_json(200, {"new_members": new, "updated_members": [], "errors": errors,
                                 "total_created": len(new), "total_updated": 0, "error_count": len(errors)})
        if path == f"/3.0/lists/{self.list_id}/segments/{self.segment_id}":
            to_add, to_remove = payload.get("members_to_add", []), payload.get("members_to_remove", [])
            self.expect(len(to_add) <= self.MAX_MEMBERS and len(to_remove) <= self.MAX_MEMBERS, "members per call")
            unknown = [e for e in to_add + to_remove if e not in self.contacts]
            self.tagged.update(e for e in to_add if e in self.contacts)
            self.tagged.difference_update(to_remove)
            errors = [{"email_addresses": unknown, "error": "Email addresses not subscribed to this list"}] if unknown else []
            return as_json(200, {"members_added": [{"email_address": e} for e in to_add if e in self.contacts],
                                 "members_removed": [{"email_address": e} for e in to_remove if e in self.contacts],
                                 "errors": errors, "total_added": len([e for e in to_add if e in self.contacts]),
                                 "total_removed": len([e for e in to_remove if e in self.contacts]),
                                 "error_count": len(unknown)})
        return self.error(404, "Resource Not Found", "The requested resource could not be found.")
