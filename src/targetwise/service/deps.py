"""Dependencies as ``Annotated`` aliases, so route signatures read like prose.

They are ``async`` on purpose: each is a few microseconds of non-blocking work
(a ``stat``, a SHA-256), and a sync dependency would cost a thread-pool hop each.

``ReadKey``/``WriteKey``/``AdminKey``: the caller's API key, checked (401 if
missing, unknown or revoked; 403 if its scope is too low) and rate limited
(429). ``ActiveRun``: the served run, resolved once for the request.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.exceptions import RequestValidationError
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from targetwise.io.keys import ApiKey, KeyStore
from targetwise.io.workspace import Workspace
from targetwise.service.state import RunData, ServiceState

__all__ = [
    "ActiveRun",
    "AdminKey",
    "ReadKey",
    "State",
    "WorkspaceDep",
    "WriteKey",
    "admit",
    "audit_details",
    "authenticate",
    "single_valued_query",
]

_bearer = HTTPBearer(auto_error=False, description="`Authorization: Bearer <key>`")
_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="`X-API-Key: <key>`")


async def get_state(request: Request) -> ServiceState:
    return request.app.state.service


State = Annotated[ServiceState, Depends(get_state)]


async def get_workspace(state: State) -> Workspace:
    return state.workspace


WorkspaceDep = Annotated[Workspace, Depends(get_workspace)]


def authenticate(request: Request, state: ServiceState, token: str | None) -> ApiKey:
    """Verify ``token``, spend a rate-limit token, and remember the key id for the audit log."""
    return admit(request, state, state.keys.verify(token))


def admit(request: Request, state: ServiceState, key: ApiKey) -> ApiKey:
    """Let a verified key in: remember its id for the audit log and spend a rate-limit token."""
    request.state.key_id = key.id
    state.limiter.take(key.id)
    return key


async def _current_key(
    request: Request,
    state: State,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    header: Annotated[str | None, Depends(_header)],
) -> ApiKey:
    token = bearer.credentials if bearer is not None else header
    return authenticate(request, state, token)


def _scoped(scope: str) -> Any:
    async def dependency(key: Annotated[ApiKey, Depends(_current_key)]) -> ApiKey:
        KeyStore.require(key, scope)
        return key

    dependency.__name__ = f"require_{scope}"
    return dependency


ReadKey = Annotated[ApiKey, Depends(_scoped("read"))]
WriteKey = Annotated[ApiKey, Depends(_scoped("write"))]
AdminKey = Annotated[ApiKey, Depends(_scoped("admin"))]


async def single_valued_query(request: Request) -> None:
    """422 for a query parameter given twice (``?n=1&n=2``): no /v1 parameter is a list, and
    taking the last value silently would accept what the OpenAPI document forbids."""
    seen: set[str] = set()
    for name, _ in request.query_params.multi_items():
        if name in seen:
            raise RequestValidationError(
                [{"loc": ("query", name), "msg": "given more than once; give it once", "type": "repeated_parameter"}]
            )
        seen.add(name)


async def get_active_run(state: State) -> RunData:
    return state.runs.active()


ActiveRun = Annotated[RunData, Depends(get_active_run)]


def audit_details(request: Request, **details: Any) -> None:
    """Attach details (counts, ids; never personal data) to this request's audit entry."""
    current = getattr(request.state, "audit_details", None) or {}
    current.update(details)
    request.state.audit_details = current
