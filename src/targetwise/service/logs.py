"""The service's access log: route templates, never raw paths (which hold customer ids).

uvicorn's own access log prints each request's raw path and query string, so
``GET /v1/customers/17850`` or ``/ui/customers?customer_id=17850`` would put a
customer id into every server log, where erasure cannot reach it.
``targetwise serve`` therefore turns uvicorn's access log off
(:func:`uvicorn_options`) and the app logs each request itself
(:class:`AccessLogMiddleware`, logger ``targetwise.access``) in uvicorn's format
and through uvicorn's access formatter, with the matched route template in place
of the path and no query string::

    INFO:     127.0.0.1:50412 - "GET /v1/customers/{customer_id} HTTP/1.1" 404

A request that matched no route is logged as ``(no route)``. Running the app
under another server, keep that server's access log off as well.
"""

from __future__ import annotations

import copy
import logging
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from targetwise.config import Settings
from targetwise.service.routing import route_template

__all__ = ["ACCESS_LOGGER", "AccessLogMiddleware", "log_config", "uvicorn_options"]

ACCESS_LOGGER = "targetwise.access"


class AccessLogMiddleware:
    """Logs one line per HTTP request, with the route template as the path (pure ASGI)."""

    def __init__(self, app: ASGIApp, *, logger: logging.Logger | None = None) -> None:
        self.app = app
        self.log = logger or logging.getLogger(ACCESS_LOGGER)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.log.isEnabledFor(logging.INFO):
            await self.app(scope, receive, send)
            return
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            client = scope.get("client")
            where = f"{client[0]}:{client[1]}" if client else "-"
            # the five arguments uvicorn's AccessFormatter expects, so the line looks like uvicorn's own
            self.log.info(
                '%s - "%s %s HTTP/%s" %d',
                where, scope["method"], route_template(scope), scope.get("http_version", "1.1"), status,
            )  # fmt: skip


def log_config() -> dict[str, Any]:
    """uvicorn's logging configuration plus the ``targetwise`` loggers (access lines, service errors)."""
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config["loggers"][ACCESS_LOGGER] = {"handlers": ["access"], "level": "INFO", "propagate": False}
    config["loggers"]["targetwise"] = {"handlers": ["default"], "level": "INFO", "propagate": False}
    return config


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for ``uvicorn.run`` / ``uvicorn.Config`` serving this app.

    uvicorn's access log is off (the app logs route templates instead), and so is
    its handling of forwarded headers unless ``settings.trust_proxy`` is set: by
    default uvicorn believes ``X-Forwarded-Proto``/``-For`` from any local process.
    """
    return {
        "log_config": log_config(),
        "access_log": False,
        "proxy_headers": settings.trust_proxy,
        "forwarded_allow_ips": "*" if settings.trust_proxy else None,
        "server_header": False,
    }
