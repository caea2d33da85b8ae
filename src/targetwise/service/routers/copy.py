"""POST /v1/campaigns/copy, GET /v1/campaigns/copy[/{id}], POST /v1/campaigns/copy/{id}/approve."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request

from targetwise.io.copy_drafts import CopyStore
from targetwise.service.deps import ActiveRun, ReadKey, State, WriteKey, audit_details
from targetwise.service.schemas import (
    CopyApprove,
    CopyList,
    CopyPublic,
    CopyRequest,
    CopySetPublic,
    ErrorPublic,
)
from targetwise.usecases import copy

router = APIRouter(prefix="/campaigns/copy", tags=["campaigns"])
CopyId = Annotated[str, Path(min_length=1, max_length=40, description="Copy set id, e.g. copy-20261203-1a2b3c4d.")]


@router.post(
    "",
    response_model=CopyPublic,
    responses={
        400: {"model": ErrorPublic, "description": "No model endpoint is configured (a dry run still works)"},
        422: {"model": ErrorPublic, "description": "Bad brief or variants; a prompt refused for holding personal data"},
        502: {"model": ErrorPublic, "description": "The model endpoint failed, or answered off-schema twice"},
        504: {"model": ErrorPublic, "description": "The model endpoint did not answer in time"},
    },
)
def create_copy(request: Request, key: WriteKey, state: State, run: ActiveRun, body: CopyRequest) -> CopyPublic:
    """Subject, preheader and body variants for a saved audience, from its facts sheet (aggregates only) and the
    workspace's brand rules (``brand.toml`` in the workspace, else the defaults); every variant carries its lint
    result and is saved with status ``draft``. Needs a model endpoint (TARGETWISE_LLM_BASE_URL) unless ``dry_run``.
    """
    outcome = copy.campaign_copy(state.workspace, run, audience_id=body.audience_id, brief=body.brief,
                                 n_variants=body.variants, dry_run=body.dry_run, created_by=key.id, db=state.when_free)
    record = outcome.record
    audit_details(request, dry_run=outcome.dry_run, copy_id=None if record is None else record["id"],
                  lint_passed=None if record is None else [v["lint"]["passed"] for v in record["variants"]])
    return CopyPublic(dry_run=outcome.dry_run, facts=outcome.facts.to_dict(), messages=outcome.messages,
                      copy_set=None if record is None else CopySetPublic(**record))


@router.get("", response_model=CopyList)
def list_copy(key: ReadKey, state: State) -> CopyList:
    """Every saved copy set, oldest first."""
    return CopyList(copy_sets=[CopySetPublic(**r) for r in copy.list_copy(state.workspace)])


@router.get("/{copy_id}", response_model=CopySetPublic)
def get_copy(key: ReadKey, state: State, copy_id: CopyId) -> CopySetPublic:
    return CopySetPublic(**CopyStore(state.workspace).get(copy_id))


@router.post("/{copy_id}/approve", response_model=CopySetPublic,
             responses={422: {"model": ErrorPublic, "description": "No such variant, or it fails its lints"}})
def approve_copy(request: Request, key: WriteKey, state: State, copy_id: CopyId, body: CopyApprove) -> CopySetPublic:
    """Mark one variant ``approved`` (one that fails its lints needs ``despite_lints``, recorded with it)."""
    record = copy.approve_copy(state.workspace, copy_id, variant=body.variant, approved_by=key.id,
                               despite_lints=body.despite_lints)
    audit_details(request, copy_id=copy_id, variant=body.variant, despite_lints=body.despite_lints)
    return CopySetPublic(**record)
