"""HTTP hardening shared by the API and the UI: security headers, HTTPS detection, same-origin checks.

Every response (JSON, HTML, static files, docs, errors, 404s, and the 500 of a
bug) leaves through :class:`SecurityHeadersMiddleware`, which adds the headers
below unless the route set its own (the API docs pages set a policy allowing
their CDN assets and the one inline script, by hash):

* ``Content-Security-Policy``: scripts and styles from this origin only, no
  inline script or style, no plugins, no framing, forms post only here;
* ``X-Frame-Options: DENY`` (framing, for browsers without CSP level 2);
* ``X-Content-Type-Options: nosniff`` (a CSV download is never run as a script);
* ``Referrer-Policy: same-origin``: other sites never see a UI address (which can
  hold a customer id), while the UI's own form posts keep their ``Origin``
  header, which :func:`require_same_origin` needs.

Forwarded headers (``X-Forwarded-Proto``/``-Host``) are believed only when
``Settings.trust_proxy`` is set: otherwise any client could claim HTTPS or
another host.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from targetwise.config import Settings
from targetwise.errors import CrossSiteError

__all__ = [
    "DEFAULT_POLICY",
    "SECURITY_HEADERS",
    "SecurityHeadersMiddleware",
    "is_https",
    "policy",
    "require_same_origin",
    "script_hash",
    "server_origin",
]

#: The policy of every page, API answer and error: this origin only, nothing inline.
DEFAULT_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; object-src 'none'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS: dict[str, str] = {
    "content-security-policy": DEFAULT_POLICY,
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
}
_DEFAULT_PORTS = {"http": 80, "https": 443}


def policy(**directives: Iterable[str]) -> str:
    """A CSP header value from directives (``script_src=[...]`` becomes ``script-src ...``)."""
    return "; ".join(f"{name.replace('_', '-')} {' '.join(values)}" for name, values in directives.items())


def script_hash(script: str) -> str:
    """The CSP source (``'sha256-...'``) allowing exactly this inline script or style."""
    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    return f"'sha256-{digest}'"


class SecurityHeadersMiddleware:
    """Adds :data:`SECURITY_HEADERS` to every HTTP response that does not set them itself (pure ASGI)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._headers = [(name.encode(), value.encode()) for name, value in SECURITY_HEADERS.items()]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", [])}
                message["headers"] = [
                    *message.get("headers", []), *(h for h in self._headers if h[0] not in present)
                ]
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _first(value: str | None) -> str | None:
    """The first (client-side) value of a comma-separated forwarded header."""
    if not value:
        return None
    return value.split(",", 1)[0].strip() or None


def is_https(request: Request, settings: Settings) -> bool:
    """Whether the browser talks HTTPS to us: the connection's scheme, or the proxy's word if trusted."""
    if settings.trust_proxy:
        forwarded = _first(request.headers.get("x-forwarded-proto"))
        if forwarded is not None:
            return forwarded.lower() == "https"
    return request.url.scheme == "https"


def _origin_of(url: str) -> tuple[str, str, int] | None:
    """(scheme, host, port) of a URL or an Origin value, default ports filled in; None if it has none."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname:
        return None
    return scheme, parts.hostname.lower(), port or _DEFAULT_PORTS[scheme]


def server_origin(request: Request, settings: Settings) -> tuple[str, str, int] | None:
    """This service's origin as the browser addressed it (Host header; the proxy's if trusted)."""
    host = request.headers.get("host")
    if settings.trust_proxy:
        host = _first(request.headers.get("x-forwarded-host")) or host
    if not host:
        server = request.scope.get("server")
        if not server:
            return None
        host = f"{server[0]}:{server[1]}"
    scheme = "https" if is_https(request, settings) else "http"
    return _origin_of(f"{scheme}://{host}")


def require_same_origin(request: Request, settings: Settings) -> None:
    """:class:`CrossSiteError` (403) unless the request's Origin (or, without one, its Referer) is this service.

    Browsers send ``Origin`` with every form post and ``fetch`` POST; ``null`` (a
    sandboxed frame, a ``data:`` page, a cross-site redirect) is refused, and so is
    a request carrying neither header: it did not come from a page of this UI.
    """
    expected = server_origin(request, settings)
    origin = request.headers.get("origin")
    referer = request.headers.get("referer")
    if origin is not None:
        claimed, what = _origin_of(origin), "Origin"
    elif referer is not None:
        claimed, what = _origin_of(referer), "Referer"
    else:
        raise CrossSiteError(
            "refused: this form post carries neither an Origin nor a Referer header",
            fix="submit the form from the targetwise UI in a browser (another site cannot post it)",
        )
    if claimed is None or expected is None or claimed != expected:
        raise CrossSiteError(
            f"refused a cross-site request: its {what} is not this service",
            fix="open the targetwise UI itself and submit the form there; behind a reverse proxy set "
            "TARGETWISE_TRUST_PROXY so the proxy's host and scheme are known",
        )
