"""UI pages of syncs: the list of syncs (``/ui/syncs``) and one sync's history (``/ui/syncs/{id}``).

Both read the same use cases as ``targetwise sync list|history`` and ``GET /v1/syncs[/{id}/history]``,
so the counts and outcomes are the same on every surface. Read-only: adding and running syncs is
an admin action (CLI or API).
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse

from targetwise.io.keys import ApiKey
from targetwise.service.deps import State
from targetwise.service.ui.pages import _page, _render
from targetwise.usecases.syncs import list_syncs, sync_history

router = APIRouter(include_in_schema=False)  # included by pages.router, which adds /ui


@router.get("/syncs", response_class=HTMLResponse)
def syncs_page(request: Request, state: State) -> Response:
    def build(key: ApiKey) -> Response:
        return _render(request, "syncs.html", key=key, syncs=list_syncs(state.workspace), history=None)

    return _page(request, state, "read", build)


@router.get("/syncs/{sync_id}", response_class=HTMLResponse)
def sync_page(request: Request, state: State, sync_id: str) -> Response:
    def build(key: ApiKey) -> Response:
        return _render(request, "syncs.html", key=key, syncs=None, history=sync_history(state.workspace, sync_id))

    return _page(request, state, "read", build)
