"""Use cases: a segment's and a customer's summary in words, the same text on every surface.

``GET /v1/segments/{name}``, ``GET /v1/customers/{id}``, the UI's segment and customer
pages and ``targetwise explain`` call :func:`segment_summary` / :func:`customer_summary`.
Facts come from the run's outputs (the numbers the pages show next to the text); the
text is the embedded template's, or with a model endpoint the model's rephrasing when
it passes the number check (:func:`targetwise.assist.explain.rephrase`). A summary is
computed once per run and subject and kept with the run's data, so the API and the UI
show the same text; a check that fails is written to the audit log (action
``llm_check``: the outcome only, the customer as the log's pseudonym).
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections.abc import Callable
from typing import Any, TypeVar

import httpx

from targetwise.assist.client import LLMClient
from targetwise.assist.explain import (
    Summary,
    customer_sheet,
    customer_template,
    rephrase,
    segment_sheet,
    segment_template,
)
from targetwise.assist.scrub import scrubber_for
from targetwise.errors import NotFoundError
from targetwise.io import outputs as out
from targetwise.io.audit import AuditLog
from targetwise.io.consent import opted_out
from targetwise.io.workspace import Workspace
from targetwise.presentation import Currency, plural
from targetwise.usecases.runs import RunData, parse_drivers
from targetwise.usecases.segments_browse import find_segment

__all__ = ["CHECK_ACTION", "OBJECTED", "customer_summary", "segment_summary"]

CHECK_ACTION = "llm_check"
OBJECTED = "not sent: the customer objected to profiling, so their figures go to no model"
T = TypeVar("T")
log = logging.getLogger("targetwise.assist")
_CACHE: weakref.WeakKeyDictionary[RunData, dict[tuple[str, str], Summary]] = weakref.WeakKeyDictionary()
_LOCK = threading.Lock()
_UNITS = {"D": "day", "W": "week", "M": "month"}


def _direct(action: Callable[[], T]) -> T:
    return action()


def _client(ws: Workspace, key_id: str | None, transport: httpx.BaseTransport | None,
            db: Callable[[Callable[[], Any]], Any]) -> LLMClient | None:
    if not ws.settings.llm_base_url:
        return None
    return LLMClient.from_settings(ws.settings, scrubber=db(lambda: scrubber_for(ws)), audit=AuditLog(ws),
                                   key_id=key_id, transport=transport)


def _summary(ws: Workspace, run: RunData, kind: str, subject: str, build: Callable[[], Summary], *,
             key_id: str | None, customer_id: str | None = None) -> Summary:
    """The cached summary of (kind, subject) in ``run``, built once; a failed check is logged."""
    with _LOCK:
        cached = _CACHE.get(run, {}).get((kind, subject))
    if cached is not None:
        return cached
    summary = build()
    if summary.check not in (None, "passed"):
        log.warning("%s summary: %s", kind, summary.check)
        AuditLog(ws).record(key_id=key_id, action=CHECK_ACTION, method="-", route=f"summary/{kind}", status=0,
                            customer_id=customer_id, details={"outcome": summary.check, "engine": summary.engine})
    if summary.check is not None and summary.check.startswith("model endpoint failed"):
        return summary  # a passing failure of the endpoint: ask again next time
    with _LOCK:
        return _CACHE.setdefault(run, {}).setdefault((kind, subject), summary)


def _clv_spread(run: RunData, members: set[str]) -> tuple[float, float, float] | None:
    if not run.has(out.CLV) or not members:
        return None
    clv = run.table(out.CLV)
    values = clv.loc[clv["customer_id"].astype(str).isin(members), "clv"].astype(float).dropna()
    if values.empty:
        return None
    low, median, high = values.quantile([0.25, 0.5, 0.75])
    return float(low), float(median), float(high)


def _top_products(run: RunData, members: set[str], n: int = 3) -> list[str]:
    if not run.has(out.RECOMMENDATIONS) or not members:
        return []
    recs = run.table(out.RECOMMENDATIONS)
    recs = recs[recs["customer_id"].astype(str).isin(members) & (recs["rank"] <= 3)]
    counts = recs.groupby(recs["product_id"].astype(str)).size()
    names = run.product_names()
    return [names.get(pid, pid) for pid, _ in sorted(counts.items(), key=lambda i: (-i[1], i[0]))[:n]]


def segment_summary(
    ws: Workspace, run: RunData, name: str, *, key_id: str | None = None,
    transport: httpx.BaseTransport | None = None, db: Callable[[Callable[[], Any]], Any] = _direct,
) -> Summary:
    """The summary of a behavioural cluster or RFM segment of ``run`` (404 as :func:`find_segment`)."""
    profile, members = find_segment(run, name)
    ids = set(members["customer_id"].astype(str))

    def build() -> Summary:
        sheet = segment_sheet(profile, clv=_clv_spread(run, ids), products=_top_products(run, ids),
                              currency=Currency.from_settings(ws.settings))
        return rephrase(_client(ws, key_id, transport, db), sheet, segment_template(sheet), purpose="segment summary")

    return _summary(ws, run, "segment", f"{profile['kind']}:{profile['name']}", build, key_id=key_id)


def _horizon(run: RunData) -> str | None:
    record = run.info.stage("clv")
    params = {} if record is None else {**record.metrics, **record.params}
    horizon, unit = params.get("horizon"), params.get("time_unit")
    if horizon is None or unit not in _UNITS:
        return None
    return plural(horizon, _UNITS[unit])


def customer_summary(
    ws: Workspace, run: RunData, customer_id: str, *, key_id: str | None = None,
    transport: httpx.BaseTransport | None = None, db: Callable[[Callable[[], Any]], Any] = _direct,
) -> Summary:
    """The summary of one customer of ``run`` (404 when the run knows nothing of them).

    The facts are the customer's own figures from the run; the customer id is never one
    of them, and with a model endpoint the scrubber refuses a prompt that holds it anyway.
    A customer who objected to profiling gets the template's text: their figures go to no model.
    """
    sections = {name: run.by_customer(output).get(customer_id)
                for name, output in (("features", out.FEATURES), ("segment", out.SEGMENTS), ("clv", out.CLV),
                                     ("propensity", out.PROPENSITY))}
    if not any(sections.values()):
        raise NotFoundError(f"customer {customer_id!r} is not in run {run.run_id}",
                            fix="check the id; a customer is left out of a run when they had no purchase before its "
                            "as_of date or objected to profiling", details={"run_id": run.run_id})

    def build() -> Summary:
        scores = sections["propensity"] or {}
        drivers = [str(d.get("text") or d.get("feature")) for d in parse_drivers(scores.get("drivers_purchase_30d"))]
        products: list[str] = []
        if run.has(out.RECOMMENDATIONS):
            names = run.product_names()
            rows = run.grouped(out.RECOMMENDATIONS, "customer_id").get(customer_id, [])
            products = [names.get(str(r["product_id"]), str(r["product_id"])) for r in rows]
        sheet = customer_sheet(features=sections["features"], segment=sections["segment"], clv=sections["clv"],
                               propensity=sections["propensity"], drivers=drivers, products=products,
                               currency=Currency.from_settings(ws.settings), horizon=_horizon(run))
        client = _client(ws, key_id, transport, db)
        if client is not None and customer_id in db(lambda: opted_out(ws, "profiling")):
            return Summary(customer_template(sheet), "template", OBJECTED, sheet)
        return rephrase(client, sheet, customer_template(sheet), purpose="customer summary")

    return _summary(ws, run, "customer", customer_id, build, key_id=key_id, customer_id=customer_id)
