"""Use cases: a natural-language audience draft, and a golden set scored against the engine in use.

``targetwise audience draft``, ``POST /v1/audiences/draft`` and the UI builder's text box
call :func:`draft_audience`; ``targetwise assist eval`` calls :func:`evaluate_golden`.
The draft's ``size`` is the live size with consent applied (:func:`audience_size`), the
same number the builder, the API and ``audience create`` give for the same conditions.
"""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, TypeVar

import httpx

from targetwise.assist.audience_llm import draft_with_model
from targetwise.assist.audience_text import describe_condition, format_where, parse_audience_text
from targetwise.assist.catalogue import FieldCatalogue, build_catalogue
from targetwise.assist.client import LLMClient
from targetwise.assist.golden import GoldenCase, canonical, jaccard, resolve_values
from targetwise.assist.scrub import scrubber_for
from targetwise.assist.semantic import Matcher, minilm_matcher
from targetwise.campaigns.audiences import parse_conditions, select_audience
from targetwise.errors import ConfigError, DataValidationError, Location
from targetwise.io.audiences import AudienceRecord
from targetwise.io.audit import AuditLog
from targetwise.io.consent import opted_out
from targetwise.io.workspace import Workspace
from targetwise.usecases.audiences import audience_size, create_audience
from targetwise.usecases.runs import RunData

__all__ = ["MAX_TEXT", "AudienceDraft", "GoldenReport", "audience_catalogue", "draft_audience", "evaluate_golden"]

MAX_TEXT = 500
Engine = Literal["auto", "embedded", "llm"]
T = TypeVar("T")


def _direct(action: Callable[[], T]) -> T:
    return action()


@dataclass(frozen=True)
class AudienceDraft:
    """Conditions read from a text, their live size, and what could not be read."""

    text: str
    conditions: list[dict[str, Any]]
    where: list[str]
    size: int
    excluded: dict[str, int]
    explanation: list[str]
    unresolved: list[str]
    engine: str
    run_id: str
    saved: AudienceRecord | None = None
    shapes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        out = {k: v for k, v in asdict(self).items() if k not in ("saved", "shapes")}
        out["saved"] = None if self.saved is None else self.saved.to_dict()
        return out


def audience_catalogue(ws: Workspace, run: RunData) -> FieldCatalogue:
    """The run's field catalogue as this workspace may describe it (sensitive fields only if an admin allowed them)."""
    return build_catalogue(run.audience_frame(), allow_sensitive=ws.settings.llm_allow_sensitive_fields,
                           currency=run.currency)


def _client(ws: Workspace, engine: Engine, key_id: str | None, transport: httpx.BaseTransport | None,
            db: Callable[[Callable[[], Any]], Any]) -> LLMClient | None:
    """The model client the draft uses (None: the embedded parser)."""
    if engine == "embedded":
        return None
    if not ws.settings.llm_base_url:
        if engine == "llm":
            raise ConfigError("no model endpoint is configured", fix="set TARGETWISE_LLM_BASE_URL and "
                              "TARGETWISE_LLM_MODEL, or use the embedded engine")
        return None
    scrubber = db(lambda: scrubber_for(ws))
    return LLMClient.from_settings(ws.settings, scrubber=scrubber, audit=AuditLog(ws), key_id=key_id,
                                   transport=transport)


@dataclass(frozen=True)
class _Reading:
    conditions: list[dict[str, Any]]
    explanation: list[str]
    unresolved: list[str]
    shapes: list[str]
    engine: str


@functools.cache
def _semantic() -> Matcher | None:
    """MiniLM matching of unresolved words to the run's names, loaded once, when the [text] extra is installed."""
    return minilm_matcher()


def _read(ws: Workspace, run: RunData, text: str, *, engine: Engine, key_id: str | None,
          transport: httpx.BaseTransport | None, db: Callable[[Callable[[], Any]], Any]) -> _Reading:
    """The text read into conditions by the embedded parser or the model (no size, nothing saved)."""
    catalogue = audience_catalogue(ws, run)
    frame = run.audience_frame()
    client = _client(ws, engine, key_id, transport, db)
    if client is None:
        parsed = parse_audience_text(text, catalogue, frame=frame, matcher=_semantic())
        return _Reading(parsed.conditions, parsed.explanation, parsed.unresolved, parsed.shapes, "embedded")
    conditions, unresolved, _ = draft_with_model(client, text, catalogue, frame, currency_code=ws.settings.currency_code)
    return _Reading(conditions, [describe_condition(catalogue, c) for c in conditions], unresolved, [], "llm")


def draft_audience(
    ws: Workspace,
    run: RunData,
    text: str,
    *,
    engine: Engine = "auto",
    key_id: str | None = None,
    save_as: str | None = None,
    created_by: str | None = None,
    transport: httpx.BaseTransport | None = None,
    db: Callable[[Callable[[], Any]], Any] = _direct,
) -> AudienceDraft:
    """Read ``text`` into audience conditions over ``run`` (the model endpoint if configured, else embedded).

    ``save_as`` also saves the audience, unless part of the text was unresolved (422: say
    it differently, or build the audience from the conditions shown). ``db`` runs each
    step that opens the workspace database (the service passes its lock, so a slow
    model answer never holds it); ``transport`` is the HTTP transport for the endpoint.
    """
    clean = " ".join(str(text).split())
    if not clean:
        raise DataValidationError("the audience text is empty", location=Location(column="text"),
                                  fix="describe the audience, e.g. 'champions who spent over 500'")
    if len(clean) > MAX_TEXT:
        raise DataValidationError(f"the audience text has {len(clean)} characters, more than {MAX_TEXT}",
                                  location=Location(column="text"), fix="describe the audience in a sentence or two")
    read = _read(ws, run, clean, engine=engine, key_id=key_id, transport=transport, db=db)
    conditions, unresolved = read.conditions, read.unresolved
    size = db(lambda: audience_size(ws, run, conditions))
    saved = None
    if save_as is not None:
        if unresolved:
            raise DataValidationError(
                f"not saved: part of the text could not be read ({'; '.join(repr(u) for u in unresolved)})",
                location=Location(column="text"),
                fix="say it with the fields of this run, or save the conditions shown with `targetwise audience create "
                "NAME --where ...`",
                details={"unresolved": unresolved},
            )
        saved = db(lambda: create_audience(ws, run, name=save_as, conditions=conditions, created_by=created_by))
    return AudienceDraft(
        text=clean, conditions=conditions, where=[format_where(c) for c in conditions], size=size.size,
        excluded=size.excluded, explanation=read.explanation, unresolved=unresolved, engine=read.engine,
        run_id=run.run_id, saved=saved, shapes=read.shapes,
    )


@dataclass(frozen=True)
class GoldenReport:
    """Accuracy of an engine on a golden set: overall and per shape."""

    engine: str
    cases: int
    exact: int
    mean_jaccard: float
    by_shape: dict[str, dict[str, float]]
    failures: list[dict[str, Any]]

    @property
    def exact_share(self) -> float:
        return self.exact / self.cases if self.cases else 0.0


def evaluate_golden(
    ws: Workspace, run: RunData, cases: list[GoldenCase], *, engine: Engine = "auto",
    transport: httpx.BaseTransport | None = None,
) -> GoldenReport:
    """Run every case through :func:`draft_audience` and score it (:mod:`targetwise.assist.golden`)."""
    if not cases:
        raise DataValidationError("the golden set has no cases for this workspace",
                                  fix="check the file, or the --only tag")
    frame = run.audience_frame()
    objected = opted_out(ws, "profiling")
    exact = 0
    jaccards: list[float] = []
    shapes: dict[str, list[tuple[bool, float]]] = defaultdict(list)
    failures: list[dict[str, Any]] = []
    used = engine
    for case in cases:
        expected = resolve_values(case.conditions, frame)
        read = _read(ws, run, case.text, engine=engine, key_id=None, transport=transport, db=_direct)
        used = read.engine
        same = canonical(read.conditions) == canonical(expected) and bool(read.unresolved) == case.unresolved
        got = select_audience(frame, parse_conditions(read.conditions), exclude=objected)
        want = select_audience(frame, parse_conditions(expected), exclude=objected)
        score = jaccard(got, want)
        exact += same
        jaccards.append(score)
        shapes[case.shape].append((same, score))
        if not same:
            failures.append({"id": case.id, "text": case.text, "expected": expected, "got": read.conditions,
                             "unresolved": read.unresolved, "jaccard": round(score, 4)})
    by_shape = {
        shape: {"cases": len(rows), "exact": sum(s for s, _ in rows) / len(rows),
                "mean_jaccard": sum(j for _, j in rows) / len(rows)}
        for shape, rows in sorted(shapes.items())
    }
    return GoldenReport(engine=used, cases=len(cases), exact=exact, mean_jaccard=sum(jaccards) / len(jaccards),
                        by_shape=by_shape, failures=failures)
