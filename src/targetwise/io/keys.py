"""API keys: created once, shown once, stored hashed; scopes read < write < admin.

A key reads ``tw_<key id>_<secret>``. The key id (8 hex characters) is public:
it names the key in listings and in the audit log. The secret (32 random
bytes, URL-safe base64) is never stored: ``keys.json`` keeps a per-key random
salt and ``sha256(salt + secret)``. A fast hash is enough here, unlike for
passwords: the secret has 256 bits of entropy, so there is nothing to guess;
the salt only stops two stores from sharing hashes. Comparison is constant
time.

``artifacts/keys.json`` is replaced atomically (temp file + rename) under a
process lock and an ``fcntl`` file lock, so the CLI and a running service can
both change it. Readers cache it and re-read when its mtime changes; a revoked
key is therefore refused by a running service on its next request.
"""

from __future__ import annotations

import fcntl
import hashlib
import hmac
import json
import os
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from targetwise.errors import AuthError, ConfigError, NotFoundError, PermissionDeniedError
from targetwise.io.workspace import Workspace

__all__ = ["SCOPES", "ApiKey", "KeyStore", "scope_allows"]

SCOPES: tuple[str, ...] = ("read", "write", "admin")
PREFIX = "tw_"
KEYS_FILE = "keys.json"


def scope_allows(held: str, needed: str) -> bool:
    """Whether a key with scope ``held`` may do what needs ``needed`` (read < write < admin)."""
    return SCOPES.index(held) >= SCOPES.index(needed)


@dataclass(frozen=True)
class ApiKey:
    """A stored key, without its secret."""

    id: str
    name: str
    scope: str
    created_at: str
    revoked_at: str | None = None

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    def public(self) -> dict[str, Any]:
        return asdict(self)


class KeyStore:
    """The workspace's API keys (``artifacts/keys.json``)."""

    def __init__(self, workspace: Workspace) -> None:
        self.path = workspace.artifacts / KEYS_FILE
        self._lock = threading.Lock()
        self._cache: tuple[tuple[int, int, int], dict[str, dict[str, Any]]] | None = None

    # -- file ------------------------------------------------------------------------------
    def _read(self) -> dict[str, dict[str, Any]]:
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return {}
        stamp = (st.st_mtime_ns, st.st_ino, st.st_size)
        cached = self._cache
        if cached is not None and cached[0] == stamp:
            return cached[1]
        records = {r["id"]: r for r in json.loads(self.path.read_text(encoding="utf-8"))["keys"]}
        self._cache = (stamp, records)
        return records

    @contextmanager
    def _locked(self) -> Iterator[dict[str, dict[str, Any]]]:
        """Read-modify-write under a process lock and a file lock; the yielded dict is written back."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._lock, open(self.path.with_suffix(".lock"), "a+") as lock_file:
            fcntl.flock(lock_file, fcntl.LOCK_EX)
            try:
                self._cache = None
                records = {k: dict(v) for k, v in self._read().items()}
                yield records
                tmp = self.path.with_name(f".{KEYS_FILE}.{secrets.token_hex(6)}")
                tmp.write_text(json.dumps({"keys": list(records.values())}, indent=2), encoding="utf-8")
                os.chmod(tmp, 0o600)
                os.replace(tmp, self.path)
                self._cache = None
            finally:
                fcntl.flock(lock_file, fcntl.LOCK_UN)

    # -- public ----------------------------------------------------------------------------
    def create(self, *, scope: str, name: str | None = None) -> tuple[ApiKey, str]:
        """A new key; returns the record and the plaintext key (shown once, never stored)."""
        if scope not in SCOPES:
            raise ConfigError(f"unknown scope {scope!r}", fix=f"use one of: {', '.join(SCOPES)}")
        secret = secrets.token_urlsafe(32)
        salt = secrets.token_hex(16)
        with self._locked() as records:
            key_id = secrets.token_hex(4)
            while key_id in records:
                key_id = secrets.token_hex(4)
            key = ApiKey(
                id=key_id,
                name=name or f"{scope} key",
                scope=scope,
                created_at=datetime.now(UTC).isoformat(timespec="seconds"),
            )
            records[key_id] = {**key.public(), "salt": salt, "hash": _digest(salt, secret)}
        return key, f"{PREFIX}{key_id}_{secret}"

    def list(self) -> list[ApiKey]:
        return [_public(r) for r in sorted(self._read().values(), key=lambda r: (r["created_at"], r["id"]))]

    def revoke(self, key_id: str) -> ApiKey:
        with self._locked() as records:
            if key_id not in records:
                raise NotFoundError(f"no API key with id {key_id!r}", fix="see `targetwise keys list`")
            if records[key_id]["revoked_at"] is None:
                records[key_id]["revoked_at"] = datetime.now(UTC).isoformat(timespec="seconds")
            record = records[key_id]
        return _public(record)

    def verify(self, token: str | None) -> ApiKey:
        """The key a presented token belongs to; :class:`AuthError` if missing, unknown or revoked."""
        if not token:
            raise AuthError(
                "this endpoint needs an API key",
                fix="send 'Authorization: Bearer <key>' or 'X-API-Key: <key>'; create one with `targetwise keys create`",
            )
        parts = token.strip().split("_", 2)
        if len(parts) != 3 or f"{parts[0]}_" != PREFIX:
            raise AuthError("the API key is malformed", fix="keys look like tw_<id>_<secret>; copy the whole key")
        record = self._read().get(parts[1])
        if record is None or not hmac.compare_digest(record["hash"], _digest(record["salt"], parts[2])):
            raise AuthError("the API key is not valid", fix="check the key or create a new one")
        if record["revoked_at"] is not None:
            raise AuthError(f"API key {record['id']} was revoked", fix="ask an admin for a new key")
        return _public(record)

    def active(self, key_id: str) -> ApiKey:
        """The key with this id, if it still exists and is not revoked (a UI session's key, re-read per request)."""
        record = self._read().get(key_id)
        if record is None:
            raise AuthError(f"API key {key_id} no longer exists", fix="log in again with a current key")
        if record["revoked_at"] is not None:
            raise AuthError(f"API key {record['id']} was revoked", fix="ask an admin for a new key")
        return _public(record)

    @staticmethod
    def require(key: ApiKey, scope: str) -> None:
        """:class:`PermissionDeniedError` unless ``key`` holds ``scope`` or a higher one."""
        if not scope_allows(key.scope, scope):
            raise PermissionDeniedError(
                f"API key {key.id} has scope {key.scope!r}; this needs {scope!r}",
                fix=f"use a key created with `targetwise keys create --scope {scope}`",
            )


def _digest(salt: str, secret: str) -> str:
    return hashlib.sha256(f"{salt}{secret}".encode()).hexdigest()


def _public(record: dict[str, Any]) -> ApiKey:
    return ApiKey(
        id=record["id"],
        name=record["name"],
        scope=record["scope"],
        created_at=record["created_at"],
        revoked_at=record.get("revoked_at"),
    )


def keys_path(workspace: Workspace) -> Path:
    return workspace.artifacts / KEYS_FILE
