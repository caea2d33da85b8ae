"""UI pages of campaign measurement: a campaign's readout (unadjusted and CUPED) and the holdout power planner.

Both are the objects the API returns (:func:`targetwise.service.actions.campaign_readout`,
:func:`targetwise.service.actions.power`), which are what `targetwise campaign report --json` and
`targetwise campaign power --json` print, so the UI shows the same numbers. The power planner sits
on the planner page (``/ui/campaigns/power``); the readout has a page per campaign.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse
from pydantic import ValidationError

from targetwise.errors import DataValidationError, Location, TargetwiseError
from targetwise.io.keys import ApiKey
from targetwise.service import actions, schemas
from targetwise.service.deps import State
from targetwise.service.ui import planner
from targetwise.service.ui.pages import _campaigns_page, _page, _render, _run_or_none

router = APIRouter(include_in_schema=False)  # included by pages.router, which adds /ui

#: power form field -> (label, what to enter)
POWER_FIELDS: dict[str, tuple[str, str]] = {
    "baseline_rate": ("Holdout conversion rate", "enter a rate between 0 and 1, e.g. 0.1"),
    "mde": ("Smallest effect to detect", "enter an absolute change of the rate, e.g. 0.01 (one point)"),
    "alpha": ("Significance level", "enter a level between 0 and 1, e.g. 0.05"),
    "power": ("Power", "enter a chance between 0 and 1, e.g. 0.8"),
    "cuped_r2": ("CUPED r2", "enter the share of variance the pre-period explains, e.g. 0.2, or leave it empty"),
}


def power_body(form: dict[str, str]) -> schemas.PowerRequest:
    """The power request the form describes; a bad number is a 422 naming the field and the fix."""
    data: dict[str, Any] = {}
    for field, (label, fix) in POWER_FIELDS.items():
        raw = form.get(field, "").strip()
        if raw == "":
            continue
        try:
            data[field] = float(raw)
        except ValueError:
            raise DataValidationError(f"{label}: {raw!r} is not a number", fix=fix,
                                      location=Location(column=field, value=raw)) from None
    try:
        return schemas.PowerRequest(**data)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = str(first["loc"][0]) if first["loc"] else "baseline_rate"
        label, fix = POWER_FIELDS.get(field, (field, "check the form"))
        raise DataValidationError(f"{label}: {first['msg'].lower()}", fix=fix,
                                  location=Location(column=field, value=form.get(field))) from None


@router.get("/campaigns/power", response_class=HTMLResponse)
def power_page(request: Request, state: State) -> Response:
    """The planner page with the sample size the power form asks for (the same object as POST /v1/campaigns/power)."""
    form = {k: v for k, v in request.query_params.items() if k in POWER_FIELDS}

    def build(key: ApiKey) -> Response:
        run = _run_or_none(state)
        try:
            result = actions.power(state, power_body(form))
        except TargetwiseError as exc:
            return _campaigns_page(request, state, key, run, form={}, status_code=422,
                                   problem=planner.problem_of(exc), power_form=form)
        return _campaigns_page(request, state, key, run, form={}, power=result, power_form=form)

    return _page(request, state, "read", build)


@router.get("/campaigns/{campaign_id}/report", response_class=HTMLResponse)
def readout_page(request: Request, state: State, campaign_id: str) -> Response:
    """A campaign measured against its holdout, unadjusted and CUPED-adjusted, overall and by segment."""

    def build(key: ApiKey) -> Response:
        readout = actions.campaign_readout(state, campaign_id, pre_period_days=90)
        return _render(request, "campaign_report.html", key=key, readout=readout)

    return _page(request, state, "read", build)
