"""The campaign planner page: its form read into a :class:`schemas.PlanRequest`, and the plan drawn.

Every refused number names its field and the fix (422), never a raw error. The plan itself
comes from :func:`targetwise.service.actions.plan_outcome`, the use case behind the CLI and the
API, so the three give the same numbers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from pydantic import ValidationError

from targetwise import presentation
from targetwise.errors import DataValidationError, Location, TargetwiseError
from targetwise.service import schemas
from targetwise.service.ui.charts import Chart, line_chart

__all__ = ["FIELDS", "FormProblem", "chart_of", "download_query", "plan_body", "problem_of"]

#: form field -> (label, what to enter)
FIELDS: dict[str, tuple[str, str]] = {
    "score": ("Score", "choose 'uplift' or one of the listed response scores"),
    "channel": ("Channel", "choose email, sms or ads"),
    "audience_id": ("Audience", "choose a saved audience, or all customers"),
    "contact_cost": ("Cost per contact", "enter an amount of 0 or more, e.g. 0.5"),
    "value_per_conversion": ("Value per conversion", "enter an amount of 0 or more, e.g. 20, or 'clv'"),
    "margin": ("Share of CLV or revenue that is profit", "enter a share between 0 and 1, e.g. 0.3"),
    "budget": ("Budget", "enter an amount of 0 or more, e.g. 500, or leave it empty for no limit"),
    "max_contacts": ("Maximum contacts", "enter a whole number of 0 or more, e.g. 1000, or leave it empty"),
    "holdout_fraction": ("Holdout share", "enter a share between 0 and 0.9, e.g. 0.1"),
    "discount_rate": ("Discount given to contacted customers", "enter a share between 0 and 1, e.g. 0.1, or 0"),
}
_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")
_THOUSANDS = re.compile(r"^\d{1,3}(,\d{3})+(\.\d+)?$")
#: the form fields a plan is made of (and a download repeats)
PLAN_FIELDS = tuple(FIELDS)


@dataclass(frozen=True)
class FormProblem:
    field: str | None
    label: str | None
    message: str
    fix: str | None


def _refuse(field: str, raw: str, why: str) -> DataValidationError:
    label, fix = FIELDS[field]
    return DataValidationError(f"{label}: {why}", fix=fix, location=Location(column=field, value=raw))


def _number(
    form: dict[str, str], field: str, *, default: float | None = None, whole: bool = False, required: bool = False
) -> Any:
    raw = form.get(field, "").strip()
    if raw == "":
        if required:
            raise _refuse(field, raw, "is required")
        return default
    text = raw.replace(" ", "").replace("_", "")
    if _THOUSANDS.match(text):
        text = text.replace(",", "")
    if not _NUMBER.match(text):
        hint = " (write decimals with a point: 0.5)" if "," in raw else ""
        raise _refuse(field, raw, f"{raw!r} is not a number{hint}")
    value = float(text)
    if whole:
        if not value.is_integer():
            raise _refuse(field, raw, f"{raw!r} is not a whole number")
        return int(value)
    return value


def plan_body(form: dict[str, str]) -> schemas.PlanRequest:
    """The request a planner form (or a download link) describes; bad input is a 422 naming the field."""
    raw_value = form.get("value_per_conversion", "").strip()
    value: float | str | None = "clv" if raw_value.lower() == "clv" else _number(form, "value_per_conversion")
    data: dict[str, Any] = {
        "score": form.get("score", "uplift").strip() or "uplift",
        "channel": form.get("channel", "email") or "email",
        "audience_id": form.get("audience_id", "").strip() or None,
        "contact_cost": _number(form, "contact_cost", required=True),
        "value_per_conversion": value,
        "margin": _number(form, "margin", default=1.0),
        "budget": _number(form, "budget"),
        "max_contacts": _number(form, "max_contacts", whole=True),
        "holdout_fraction": _number(form, "holdout_fraction", default=0.1),
        "discount_rate": _number(form, "discount_rate", default=0.0),
    }
    try:
        return schemas.PlanRequest(**data)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = str(first["loc"][0]) if first["loc"] else "score"
        label, fix = FIELDS.get(field, (field, None))
        raise DataValidationError(
            f"{label}: {first['msg'].lower()}", fix=fix, location=Location(column=field, value=form.get(field))
        ) from None


def problem_of(exc: TargetwiseError) -> FormProblem:
    """A refused plan as the form shows it: the field (when one is to blame), the message and the fix."""
    field = exc.location.column if exc.location is not None else None
    label = FIELDS[field][0] if field in FIELDS else None
    message = exc.message
    if label and message.startswith(f"{label}: "):
        message = message[len(label) + 2 :]
    return FormProblem(field=field if label else None, label=label, message=message, fix=exc.fix)


def download_query(form: dict[str, str]) -> str:
    """The query string of the assignments download for the plan on the page."""
    return urlencode({k: form[k] for k in PLAN_FIELDS if form.get(k)})


def chart_of(plan: schemas.PlanPublic, currency: presentation.Currency) -> Chart:
    """Expected profit (incremental plans) or expected responders (rankings) by customers contacted."""
    if plan.kind == "incremental":
        points = plan.profit_curve  # profit: conversion plans and margin plans alike
        ys = [p.profit for p in points]
        y_title = f"expected incremental profit ({currency.code})"
        y_format = lambda v: presentation.money(v, currency, compact=True)  # noqa: E731
    else:
        responders = plan.responder_curve
        points = responders  # type: ignore[assignment]
        ys = [p.expected_responders for p in responders]
        y_title = "expected responders (not caused by the campaign)"
        y_format = presentation.human_number
    return line_chart(
        [p.depth for p in points], ys, feasible=[p.feasible for p in points],
        x_title="customers contacted, best first (before the holdout)", y_title=y_title,
        x_format=presentation.human_number, y_format=y_format,
        marker=plan.chosen_depth, marker_label=f"chosen: {plan.chosen_depth:,}",
    )
