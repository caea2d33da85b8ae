"""Routing details: ids containing '/', the ``Allow`` header of a 405, route templates for logs.

Ids with a slash
----------------
Customer and product ids come from the shop's data and may contain ``/``
(``AB/12``). A client sends it percent-encoded, ``/v1/customers/AB%2F12``, but
ASGI servers decode the path before routing, so a plain ``{customer_id}``
segment would see two segments and answer 404. :class:`EncodedSlashRoute`
matches such routes against the raw path instead, where only a literal ``/``
separates segments: ``/v1/customers/AB%2F12/recommendations`` is the customer
``AB/12``'s recommendations, with no ambiguity (a ``{customer_id:path}``
converter could not tell that from the customer ``AB/12/recommendations``).

Ids with a shape
----------------
A route may also require a path parameter to have a shape (an audience id is
``<slug>-v<N>``): :meth:`EncodedSlashRoute.with_patterns`. Another shape is then
not this route at all, so ``GET /v1/audiences/preview`` is not a lookup of the
audience "preview" and answers 405 with ``Allow: POST``, as the OpenAPI document
says (each such parameter declares the same pattern there).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any, ClassVar
from urllib.parse import unquote

from fastapi.routing import APIRoute
from starlette.routing import BaseRoute, Match, Mount
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

__all__ = ["NO_ROUTE", "EncodedSlashRoute", "allowed_methods", "route_template"]

#: What the access log shows for a request that matched no route (its path could hold an id).
NO_ROUTE = "(no route)"
_METHOD_ORDER = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def _segment_path(raw_path: bytes) -> str:
    """The decoded path, except that '/' and '%' inside a segment stay encoded (%2F, %25)."""
    segments = raw_path.decode("latin-1").split("/")
    return "/".join(unquote(s).replace("%", "%25").replace("/", "%2F") for s in segments)


class EncodedSlashRoute(APIRoute):
    """An API route whose ``{param}`` segments may hold ``/`` sent as ``%2F`` (see the module docstring)."""

    #: path parameter -> the full-match pattern it must have for this route to match
    patterns: ClassVar[dict[str, re.Pattern[str]]] = {}

    @classmethod
    def with_patterns(cls, **patterns: str) -> type[EncodedSlashRoute]:
        """A route class whose parameters ``name`` must fully match ``patterns[name]``."""
        compiled = {name: re.compile(pattern) for name, pattern in patterns.items()}
        return type(f"{cls.__name__}With{''.join(n.title() for n in patterns)}", (cls,), {"patterns": compiled})

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        match, child_scope = self._match_raw(scope)
        if match is not Match.NONE and self.patterns:
            params = child_scope.get("path_params", {})
            for name, pattern in self.patterns.items():
                if name in params and not pattern.fullmatch(str(params[name])):
                    return Match.NONE, {}
        return match, child_scope

    def _match_raw(self, scope: Scope) -> tuple[Match, Scope]:
        raw_path = scope.get("raw_path")
        if scope["type"] != "http" or not raw_path or b"%2f" not in raw_path.lower():
            return super().matches(scope)
        decoded = unquote(raw_path.decode("latin-1"))
        path = scope["path"]
        if not path.endswith(decoded):  # the server rewrote the path: route it as it is
            return super().matches(scope)
        rebuilt = path[: len(path) - len(decoded)] + _segment_path(raw_path)
        match, child_scope = super().matches({**scope, "path": rebuilt})
        if match is not Match.NONE:
            child_scope["path_params"] = {
                name: unquote(value) if isinstance(value, str) else value
                for name, value in child_scope.get("path_params", {}).items()
            }
        return match, child_scope


def allowed_methods(routes: Iterable[BaseRoute], scope: Scope) -> list[str]:
    """Every method some route serves at this request's path (for the ``Allow`` header of a 405).

    Starlette's own 405 names only the first route that matched the path, so
    ``GET`` and ``DELETE /v1/customers/{id}``, two routes, answered ``Allow: GET``.
    Each method is tried against every route through the routes' own ``matches``
    (what routing itself does), on a copy of the request's scope without the
    routing state the first match left in it.
    """
    routes = list(routes)
    base = {k: v for k, v in scope.items() if k not in ("fastapi", "route", "endpoint", "path_params")}
    allowed: list[str] = []
    for method in _METHOD_ORDER:
        probe = {**base, "method": method}
        for route in routes:
            if isinstance(route, Mount):  # a mount answers any method itself: ask what it serves
                if isinstance(route.app, StaticFiles) and method in ("GET", "HEAD") and route.matches(probe)[0] is Match.FULL:
                    allowed.append(method)
                    break
                continue
            if route.matches(probe)[0] is Match.FULL:
                allowed.append(method)
                break
    return allowed


def route_template(scope: Scope) -> str:
    """The matched route's path template (``/v1/customers/{customer_id}``), never the raw path."""
    route: Any = scope.get("route")
    if route is not None:
        context = (scope.get("fastapi") or {}).get("effective_route_context")
        return str(getattr(context, "path", None) or getattr(route, "path", NO_ROUTE))
    app = scope.get("app")
    for candidate in getattr(getattr(app, "router", None), "routes", ()):
        if isinstance(candidate, Mount) and scope.get("endpoint") is candidate.app:
            return f"{candidate.path}/{{path}}"
    return NO_ROUTE
