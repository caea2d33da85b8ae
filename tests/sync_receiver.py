"""A local webhook receiver for the sync tests: checks every request against docs/syncs.md and dedups by key.

It speaks the documented protocol: POST JSON ``{"audience","audience_id","version","action","members"}``
with ``X-Targetwise-Timestamp``, ``X-Targetwise-Signature`` (verified with the shared secret) and
``Idempotency-Key``. A scripted list of answers (status, headers) is served first; then 200. A key it
already applied is answered 200 without applying it again (what a well-behaved receiver does).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

KEY = re.compile(r"^[a-z0-9-]+-v[0-9]+-p[0-9]+-(add|remove)-[0-9]{5}$")


class Receiver:
    def __init__(self, secret: bytes) -> None:
        self.secret = secret
        self.script: list[tuple[int, dict[str, str]]] = []
        self.requests: list[dict[str, Any]] = []  # every request, in order: key, action, size, answer
        self.errors: list[str] = []  # protocol violations found
        self.applied: dict[str, int] = {}  # customer_id -> times applied (add +1, remove -1)
        self.held: set[str] = set()
        self.hashes: dict[str, str | None] = {}
        self.applied_keys: set[str] = set()
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                status, headers = receiver.handle(self.path, dict(self.headers), body)
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def check(self, path: str, headers: dict[str, str], body: bytes) -> dict[str, Any] | None:
        lower = {k.lower(): v for k, v in headers.items()}
        problems = []
        if path != "/hook":
            problems.append(f"path {path}")
        if lower.get("content-type") != "application/json":
            problems.append("content-type")
        stamp = lower.get("x-targetwise-timestamp", "")
        if not stamp.isdigit() or abs(int(stamp) - time.time()) > 300:
            problems.append(f"timestamp {stamp!r}")
        expected = "sha256=" + hmac.new(self.secret, f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(lower.get("x-targetwise-signature", ""), expected):
            problems.append("signature")
        key = lower.get("idempotency-key", "")
        if not KEY.match(key):
            problems.append(f"idempotency key {key!r}")
        payload = json.loads(body)
        if set(payload) != {"audience", "audience_id", "version", "action", "members"}:
            problems.append(f"keys {sorted(payload)}")
        if payload.get("action") not in ("add", "remove") or not isinstance(payload.get("version"), int):
            problems.append("action/version")
        for member in payload.get("members", []):
            if not set(member) <= {"customer_id", "email_sha256"} or not isinstance(member.get("customer_id"), str):
                problems.append(f"member fields {sorted(member)}")
            sha = member.get("email_sha256")
            if sha is not None and not re.fullmatch(r"[0-9a-f]{64}", sha):
                problems.append("email_sha256 not a hex SHA-256")
        if problems:
            self.errors.append(", ".join(problems))
            return None
        return {**payload, "key": key}

    def handle(self, path: str, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, str]]:
        with self.lock:
            payload = self.check(path, headers, body)
            if payload is None:
                self.requests.append({"answer": 400})
                return 400, {}
            status, answer_headers = self.script.pop(0) if self.script else (200, {})
            self.requests.append({"key": payload["key"], "action": payload["action"], "size": len(payload["members"]),
                                  "version": payload["version"], "answer": status})
            if status == 200 and payload["key"] not in self.applied_keys:
                self.applied_keys.add(payload["key"])
                for member in payload["members"]:
                    cid = member["customer_id"]
                    self.applied[cid] = self.applied.get(cid, 0) + (1 if payload["action"] == "add" else -1)
                    if payload["action"] == "add":
                        self.held.add(cid)
                        self.hashes[cid] = member.get("email_sha256")
                    else:
                        self.held.discard(cid)
            return status, answer_headers
