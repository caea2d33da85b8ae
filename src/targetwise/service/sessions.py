"""Web UI sessions and CSRF tokens, held by the server.

The UI cookie holds only a random session id (32 bytes), never the API key:
the key is checked once at login and the session remembers the key's id, so a
stolen cookie is worth one session, which expires after
``Settings.ui_session_hours`` and ends at logout. Every request re-reads the
key by its id, so revoking the key also ends its sessions at once.

Each session has its own CSRF token, sent as a hidden field of every form that
changes state and compared in constant time on every UI ``POST``. The login
form, shown before any session exists, carries a signed token instead
(:class:`LoginTokens`): an HMAC of its issue time under a per-process secret,
valid for an hour, so a login is only accepted from a form this server
rendered, and an anonymous visit leaves no state or cookie behind. Cross-site
posts are stopped first by the Origin/Referer check
(:func:`targetwise.service.security.require_same_origin`).

Sessions live in memory: one process serves a workspace (see ``targetwise
serve``), and a restart logs everyone out, which is the safe direction.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["COOKIE", "CSRF_FIELD", "LoginTokens", "SessionStore", "UiSession"]

COOKIE = "targetwise_session"
CSRF_FIELD = "csrf_token"
#: At most this many live sessions; the oldest is dropped beyond it (a bound on memory, not a limit users meet).
MAX_SESSIONS = 10_000


@dataclass(frozen=True)
class UiSession:
    """One login of one browser: which key, its CSRF token, when it ends (epoch seconds)."""

    id: str
    key_id: str
    csrf_token: str
    expires_at: float


def _digest(session_id: str) -> str:
    # the store is keyed by a hash, so what the server holds cannot be replayed as a cookie
    return hashlib.sha256(session_id.encode()).hexdigest()


class SessionStore:
    """Live UI sessions of this process, each expiring ``lifetime_seconds`` after login."""

    def __init__(self, *, lifetime_seconds: int, clock: Callable[[], float] = time.time) -> None:
        if lifetime_seconds < 1:
            raise ValueError("lifetime_seconds must be >= 1")
        self.lifetime_seconds = lifetime_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._sessions: OrderedDict[str, UiSession] = OrderedDict()
        self._flashes: dict[tuple[str, str], Any] = {}

    def create(self, key_id: str) -> UiSession:
        """A new session for the key ``key_id`` (after the key was verified)."""
        now = self._clock()
        session = UiSession(
            id=secrets.token_urlsafe(32),
            key_id=key_id,
            csrf_token=secrets.token_urlsafe(32),
            expires_at=now + self.lifetime_seconds,
        )
        with self._lock:
            self._purge(now)
            self._sessions[_digest(session.id)] = session
            while len(self._sessions) > MAX_SESSIONS:
                self._sessions.popitem(last=False)
        return session

    def get(self, session_id: str | None) -> UiSession | None:
        """The live session with this id; None if unknown, ended or expired (an expired one is dropped)."""
        if not session_id:
            return None
        digest = _digest(session_id)
        with self._lock:
            session = self._sessions.get(digest)
            if session is None:
                return None
            if self._clock() >= session.expires_at:
                del self._sessions[digest]
                return None
            return session

    def end(self, session_id: str | None) -> None:
        """End a session (logout): its cookie no longer authenticates anything."""
        if session_id:
            with self._lock:
                digest = _digest(session_id)
                self._sessions.pop(digest, None)
                for name in [k for k in self._flashes if k[0] == digest]:
                    del self._flashes[name]

    def flash(self, session_id: str, name: str, value: Any) -> None:
        """Keep ``value`` for the session's next page named ``name`` (post/redirect/get: a form's result
        is shown once, on the page the post redirects to, so a reload does not post the form again).
        Held in this process's memory only, like the sessions; at most one per (session, name)."""
        with self._lock:
            digest = _digest(session_id)
            if digest in self._sessions:
                self._flashes[(digest, name)] = value
                while len(self._flashes) > MAX_SESSIONS:
                    self._flashes.pop(next(iter(self._flashes)))

    def take_flash(self, session_id: str | None, name: str) -> Any:
        """The value flashed for ``name`` in this session, removed as it is read (None if none)."""
        if not session_id:
            return None
        with self._lock:
            return self._flashes.pop((_digest(session_id), name), None)

    def __len__(self) -> int:
        with self._lock:
            self._purge(self._clock())
            return len(self._sessions)

    def _purge(self, now: float) -> None:
        expired = [digest for digest, s in self._sessions.items() if now >= s.expires_at]
        for digest in expired:
            del self._sessions[digest]
        if expired:
            gone = set(expired)
            for name in [k for k in self._flashes if k[0] in gone]:
                del self._flashes[name]


class LoginTokens:
    """Signed, expiring CSRF tokens for the login form (there is no session to bind them to yet)."""

    def __init__(
        self, *, lifetime_seconds: int = 3600, secret: bytes | None = None, clock: Callable[[], float] = time.time
    ) -> None:
        self.lifetime_seconds = lifetime_seconds
        self._secret = secret or secrets.token_bytes(32)
        self._clock = clock

    def issue(self) -> str:
        """``<issued at>.<nonce>.<hmac>``: the hidden field of one rendered login form."""
        body = f"{int(self._clock())}.{secrets.token_urlsafe(12)}"
        return f"{body}.{self._sign(body)}"

    def valid(self, token: str | None) -> bool:
        """Whether ``token`` was issued by this process within the last ``lifetime_seconds``."""
        if not token or token.count(".") != 2:
            return False
        body, _, signature = token.rpartition(".")
        if not hmac.compare_digest(signature, self._sign(body)):
            return False
        issued = int(body.split(".", 1)[0])
        return 0 <= self._clock() - issued <= self.lifetime_seconds

    def _sign(self, body: str) -> str:
        return hmac.new(self._secret, body.encode(), hashlib.sha256).hexdigest()
