"""POST /v1/audiences, GET /v1/audiences[/{id}], POST /v1/audiences/preview, /draft and /ids, GET .../export,
POST .../lookalike."""

from __future__ import annotations

from pathlib import PurePath
from typing import Annotated, Literal

from fastapi import APIRouter, File, Form, Path, Query, Request, Response, UploadFile
from starlette import datastructures

from targetwise.campaigns.audiences import EXPORT_COLUMNS, MAX_TOP_N
from targetwise.errors import DataValidationError, Location, NotFoundError
from targetwise.io.audiences import AudienceStore
from targetwise.io.keys import KeyStore
from targetwise.service import actions
from targetwise.service.deps import ActiveRun, ReadKey, State, WriteKey, audit_details
from targetwise.service.routing import EncodedSlashRoute
from targetwise.service.schemas import (
    AudienceCreate,
    AudienceDraftPublic,
    AudienceDraftRequest,
    AudienceList,
    AudiencePreview,
    AudiencePublic,
    AudienceSizePublic,
    ErrorPublic,
)
from targetwise.service.schemas_audiences import (
    AUDIENCE_NAME,
    IdsAudiencePublic,
    LookalikePublic,
    LookalikeRequest,
)
from targetwise.service.state import ServiceState
from targetwise.usecases import audiences as usecases
from targetwise.usecases import lookalikes
from targetwise.usecases.runs import RunData

#: largest id file POST /v1/audiences/ids reads (a million ids of up to ~60 characters)
MAX_ID_FILE_BYTES = 64 * 1024 * 1024

#: what AudienceStore names a saved version: "<slug>-v<N>" (the slug: lower case letters and digits, dashes between)
AUDIENCE_ID = r"[a-z0-9]+(?:-[a-z0-9]+)*-v[1-9][0-9]*"

# an id of another shape is no audience: GET /v1/audiences/preview is not a lookup of "preview" (405, Allow: POST)
router = APIRouter(
    prefix="/audiences", tags=["audiences"], route_class=EncodedSlashRoute.with_patterns(audience_id=AUDIENCE_ID)
)

AudienceId = Annotated[
    str,
    Path(min_length=1, max_length=60, pattern=f"^{AUDIENCE_ID}$", description="Audience id, e.g. lapsed-vip-v2."),
]


@router.post("", response_model=AudiencePublic, status_code=201)
def create_audience(request: Request, key: WriteKey, state: State, run: ActiveRun, body: AudienceCreate) -> AudiencePublic:
    """Select customers of the served run by conditions (AND), minus profiling objections; saved as a new version."""
    record = actions.create_audience(state, run, body, key_id=key.id)
    audit_details(request, audience_id=record.id, size=record.size)
    return AudiencePublic(**record.to_dict())


@router.post("/preview", response_model=AudienceSizePublic)
def preview_audience(key: ReadKey, state: State, run: ActiveRun, body: AudiencePreview) -> AudienceSizePublic:
    """The size an audience would have now (nothing is saved)."""
    return actions.audience_size(state, run, body.conditions)


@router.post(
    "/draft",
    response_model=AudienceDraftPublic,
    responses={
        422: {"model": ErrorPublic, "description": "Empty or too long text; a prompt refused for holding personal data"},
        502: {"model": ErrorPublic, "description": "The model endpoint failed, or answered invalid conditions twice"},
        504: {"model": ErrorPublic, "description": "The model endpoint did not answer in time"},
    },
)
def draft_audience(request: Request, key: ReadKey, state: State, run: ActiveRun,
                   body: AudienceDraftRequest) -> AudienceDraftPublic:
    """Read a sentence into audience conditions with their live size (nothing is saved: POST /v1/audiences saves).

    Uses the model endpoint when TARGETWISE_LLM_BASE_URL is set (only the field catalogue and the text are sent,
    after the personal-data check), else the embedded parser.
    """
    draft = actions.draft_audience(state, run, body.text, key_id=key.id)
    audit_details(request, engine=draft.engine, conditions=len(draft.conditions), unresolved=len(draft.unresolved))
    return draft


def id_file(file: datastructures.UploadFile) -> tuple[str, bytes]:
    """An uploaded id file's name (no folders) and bytes; refused over :data:`MAX_ID_FILE_BYTES` (the UI uses it too)."""
    source = PurePath(file.filename or "upload").name or "upload"
    content = file.file.read(MAX_ID_FILE_BYTES + 1)
    if len(content) > MAX_ID_FILE_BYTES:
        raise DataValidationError(f"{source} is over {MAX_ID_FILE_BYTES // 2**20} MiB", location=Location(file=source),
                                  fix="split the id list into smaller files, or use `targetwise audience create --ids`")
    return source, content


@router.post(
    "/ids",
    response_model=IdsAudiencePublic,
    status_code=201,
    responses={422: {"model": ErrorPublic, "description": "Not UTF-8, no customer_id column, too large, or no id is "
                                                          "a customer of the served run who may be profiled"}},
)
def create_audience_from_ids(
    request: Request,
    key: WriteKey,
    state: State,
    run: ActiveRun,
    file: Annotated[UploadFile, File(description="CSV with a customer_id column, or one id per line (UTF-8).")],
    name: Annotated[str, Form(description="The audience's name (at least one letter or digit).", **AUDIENCE_NAME)],
) -> IdsAudiencePublic:
    """Save the customers listed in an uploaded id file as a new audience version.

    Unknown ids, erased customers and profiling objectors are left out and counted; repeats count once.
    """
    source, content = id_file(file)
    made = state.when_free(lambda: usecases.create_audience_from_ids(
        state.workspace, run, name=name, content=content, source=source, created_by=key.id))
    audit_details(request, audience_id=made.record.id, size=made.record.size, listed=made.listed)
    return IdsAudiencePublic(audience=AudiencePublic(**made.record.to_dict()), listed=made.listed,
                             unknown=made.unknown, erased=made.erased, objected=made.objected,
                             repeated=made.repeated, blank=made.blank, notes=made.notes())


@router.get("", response_model=AudienceList)
def list_audiences(key: ReadKey, state: State) -> AudienceList:
    return AudienceList(audiences=[AudiencePublic(**r.to_dict()) for r in AudienceStore(state.workspace).list()])


@router.get("/{audience_id}", response_model=AudiencePublic)
def get_audience(key: ReadKey, state: State, audience_id: AudienceId) -> AudiencePublic:
    return AudiencePublic(**AudienceStore(state.workspace).get(audience_id).to_dict())


@router.post(
    "/{audience_id}/lookalike",
    response_model=LookalikePublic,
    responses={
        403: {"model": ErrorPublic, "description": "save_as given with a read key (saving needs a write key)"},
        422: {"model": ErrorPublic, "description": "A size outside 1 to the customers outside the seed, or a seed "
                                                   "too small to learn from"},
    },
)
def lookalike_audience(request: Request, key: ReadKey, state: State, run: ActiveRun, audience_id: AudienceId,
                       body: LookalikeRequest) -> LookalikePublic:
    """The customers of the served run outside the seed audience most like its members, with the size curve.

    A preview with a read key; ``save_as`` (a write key) also saves the list as an audience. The answer
    never holds member ids: export the saved audience for those.
    """
    if body.save_as is not None:
        KeyStore.require(key, "write")
    result = state.when_free(lambda: lookalikes.lookalike_audience(
        state.workspace, run, audience_id, size=body.size, method=body.method, save_as=body.save_as,
        created_by=key.id))
    audit_details(request, seed_id=result.seed_id, size=result.size, method=result.method,
                  audience_id=result.saved.id if result.saved else None)
    return LookalikePublic(**result.to_dict())


def _served_run(state: ServiceState) -> RunData | None:
    try:
        return state.runs.active()
    except NotFoundError:
        return None


@router.get(
    "/{audience_id}/export",
    response_class=Response,
    responses={
        200: {
            "content": {"text/csv": {}, "application/vnd.apache.parquet": {}},
            "description": "The file; X-Warning says what it lacks (members without identifiers, an empty file)",
        },
        422: {"model": ErrorPublic, "description": "Unknown column, or no member has an identifier for google/meta"},
    },
)
def export_audience(
    request: Request,
    key: WriteKey,
    state: State,
    audience_id: AudienceId,
    destination: Annotated[Literal["csv", "parquet", "google", "meta"], Query()] = "csv",
    channel: Annotated[Literal["email", "sms", "ads"] | None, Query(description="Also leave out this channel's opt-outs.")] = None,
    country_code: Annotated[str | None, Query(pattern=r"^[1-9][0-9]{0,2}$", description="For national phone numbers.")] = None,
    columns: Annotated[
        str | None,
        Query(
            max_length=200,
            pattern=r"^[A-Za-z, ]*$",
            description=(
                "csv/parquet only: comma-separated column groups after customer_id, any of "
                + "; ".join(f"{name} ({cols})" for name, cols in EXPORT_COLUMNS.items())
                + ". Values come from the run the audience was selected from."
            ),
        ),
    ] = None,
    top_n: Annotated[int, Query(ge=1, le=MAX_TOP_N, description="Recommendations per customer (columns=recommendations).")] = 5,
) -> Response:
    """Download a saved audience: customer ids and chosen columns (csv/parquet) or the upload template (google/meta).

    Google and Meta files have exactly their templates' headers with hashed identifiers.
    Members left out are counted in the X-* headers, and X-Warning says so in words;
    a google/meta export in which nobody has an e-mail or phone is refused (422).
    """
    run = _served_run(state) if columns else None
    export = state.when_free(
        lambda: usecases.export_audience(
            state.workspace, audience_id, destination=destination, channel=channel, country_code=country_code,
            columns=columns, top_n=top_n, run=run,
        )
    )
    content, result = export.data, export.result
    audit_details(
        request,
        audience_id=audience_id,
        destination=destination,
        exported=result.exported,
        excluded_opt_out=result.excluded_opt_out,
    )
    suffix = "parquet" if destination == "parquet" else "csv"
    headers = {
        "Content-Disposition": f'attachment; filename="{audience_id}-{destination}.{suffix}"',
        "X-Exported-Rows": str(result.exported),
        "X-Excluded-Opt-Out": str(result.excluded_opt_out),
        "X-Without-Identifier": str(result.without_identifier),
        "X-Invalid-Identifiers": str(result.invalid_identifiers),
    }
    if result.warnings:
        headers["X-Warning"] = "; ".join(result.warnings).encode("ascii", "replace").decode()
    return Response(content, media_type=export.media_type, headers=headers)
