"""Explanations in words: a segment's and a customer's summary, written from computed facts only.

The embedded template (:func:`segment_template`, :func:`customer_template`) turns a
:class:`~targetwise.assist.facts.FactSheet` into sentences; it adds no number of its
own, so its text always passes the number check. With a model endpoint the facts
(never a customer id, a contact value or a row of data: the sheet holds the
customer's own non-identifying figures and labels; targetwise's integers written ``5.0`` so that none
is a bare token equal to an integer customer id) are sent to be rephrased
(:func:`rephrase`), and the answer is checked: every number in it must be a number
of the facts, else the template's text is used and the check says why.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from targetwise.assist.client import LLMClient
from targetwise.assist.facts import Fact, FactSheet, unknown_numbers
from targetwise.errors import ModelEndpointError, PromptRefusedError
from targetwise.presentation import Currency, days, format_value, label, money, percent, plural

__all__ = ["MAX_SUMMARY_CHARS", "Summary", "customer_sheet", "customer_template", "rephrase", "segment_sheet",
           "segment_template"]

MAX_SUMMARY_CHARS = 1200
TOP_DRIVERS = 3
TOP_PRODUCTS = 3


@dataclass(frozen=True)
class Summary:
    """A summary in words: ``engine`` 'template' or 'llm'; ``check`` what the number check found
    ('passed', or why the template text is shown; None when no model was asked)."""

    text: str
    engine: str
    check: str | None
    facts: FactSheet

    def to_dict(self) -> dict[str, Any]:
        return {"text": self.text, "engine": self.engine, "check": self.check, "facts": self.facts.to_dict()}


def _finite(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _sentence(text: str) -> str:
    """``text`` with a capital first letter and one full stop."""
    text = text.strip().rstrip(".")
    return f"{text[:1].upper()}{text[1:]}." if text else ""


# -- segments ----------------------------------------------------------------------------------------
def segment_sheet(
    profile: dict[str, Any], *, clv: tuple[float, float, float] | None, products: list[str], currency: Currency
) -> FactSheet:
    """The facts of one segment: its profile (size, shares, description, the features that set it apart),
    its members' CLV (median and middle half: ``clv`` = (p25, median, p75)) and the products most
    recommended to them."""
    kind = "RFM segment" if profile.get("kind") == "rfm" else "behavioural cluster"
    facts = [Fact("name", kind, str(profile["name"])), Fact("size", "customers", f"{int(profile['size']):,}")]
    if _finite(profile.get("share")) is not None:
        facts.append(Fact("share", "share of all customers", f"{profile['share']:.1%}"))
    if _finite(profile.get("revenue_share")) is not None:
        facts.append(Fact("revenue_share", "share of revenue", f"{profile['revenue_share']:.1%}"))
    if profile.get("description"):
        facts.append(Fact("description", "description", str(profile["description"])))
    standing: list[tuple[float, str, float, float]] = []
    for feature, stats in (profile.get("features") or {}).items():
        ratio, median = _finite(stats.get("vs_overall")), _finite(stats.get("median"))
        if ratio is not None and median is not None and ratio > 0 and round(ratio, 2) != 1.0:
            standing.append((abs(math.log(ratio)), feature, median, ratio))
    for i, (_, feature, median, ratio) in enumerate(sorted(standing, key=lambda s: (-s[0], s[1]))[:TOP_DRIVERS], 1):
        facts.append(Fact(f"driver_{i}", "sets it apart",
                          f"{label(feature).lower()}: median {format_value(feature, median, currency)}, "
                          f"{ratio:,.2f}x the median of all customers"))
    if clv is not None:
        low, median, high = clv
        decimals = 2 if abs(high) < 10 else 0  # small values keep their pence: never "between £0 and £0"
        facts.append(Fact("clv_median", "median customer lifetime value", money(median, currency, decimals=decimals)))
        facts.append(Fact("clv_middle_half", "middle half of its members' lifetime values",
                          f"{money(low, currency, decimals=decimals)} to {money(high, currency, decimals=decimals)}"))
    if products:
        facts.append(Fact("products", "products most recommended to its members", ", ".join(products[:TOP_PRODUCTS])))
    return FactSheet(f"{kind} {profile['name']}", tuple(facts))


def segment_template(sheet: FactSheet) -> str:
    """The embedded summary of a segment (only the sheet's facts, as written)."""
    get = sheet.get
    head = f"{get('name')} has {get('size')} customers"
    if get("share"):
        head += f" ({get('share')} of all customers" + (f", {get('revenue_share')} of revenue" if get("revenue_share")
                                                         else "") + ")"
    parts = [head + "."]
    if get("description"):
        parts.append(_sentence(str(get("description"))))
    drivers = [f.text for f in sheet.facts if f.name.startswith("driver_")]
    if drivers:
        parts.append("What sets it apart: " + "; ".join(drivers) + ".")
    if get("clv_median"):
        parts.append(f"Median customer lifetime value {get('clv_median')}; the middle half of its members lie "
                     f"between {str(get('clv_middle_half')).replace(' to ', ' and ')}.")
    if get("products"):
        parts.append(f"Most recommended to its members: {get('products')}.")
    return " ".join(parts)


# -- customers ---------------------------------------------------------------------------------------
def customer_sheet(
    *, features: dict[str, Any] | None, segment: dict[str, Any] | None, clv: dict[str, Any] | None,
    propensity: dict[str, Any] | None, drivers: list[str], products: list[str], currency: Currency,
    horizon: str | None,
) -> FactSheet:
    """The facts of one customer from the run's sections (the customer's own figures; no id, no contact value)."""
    facts: list[Fact] = []
    if segment:
        if segment.get("rfm_segment"):
            facts.append(Fact("rfm_segment", "RFM segment", str(segment["rfm_segment"])))
        if segment.get("cluster_name"):
            facts.append(Fact("cluster_name", "behavioural cluster", str(segment["cluster_name"])))
        if segment.get("reason"):
            facts.append(Fact("reason", "why in the segment", str(segment["reason"])))
    if features:
        if _finite(features.get("frequency")) is not None:
            facts.append(Fact("orders", "orders", plural(round(features["frequency"]), "order")))
        if _finite(features.get("monetary_total")) is not None:
            facts.append(Fact("spend", "total spend", money(features["monetary_total"], currency, decimals=2)))
        if _finite(features.get("recency_days")) is not None:
            facts.append(Fact("recency", "time since the last order", days(features["recency_days"])))
    if clv and _finite(clv.get("clv")) is not None:
        facts.append(Fact("clv", "customer lifetime value" + (f" over the next {horizon}" if horizon else ""),
                          money(clv["clv"], currency, decimals=2)))
        if _finite(clv.get("clv_lower")) is not None and _finite(clv.get("clv_upper")) is not None:
            facts.append(Fact("clv_interval", "lifetime value interval",
                              f"{money(clv['clv_lower'], currency, decimals=2)} to "
                              f"{money(clv['clv_upper'], currency, decimals=2)}"))
        if _finite(clv.get("p_alive")) is not None:
            facts.append(Fact("p_alive", "probability still active", percent(clv["p_alive"])))
    if propensity:
        if _finite(propensity.get("p_purchase_30d")) is not None:
            facts.append(Fact("p_purchase", "chance of buying in the next 30 days", percent(propensity["p_purchase_30d"])))
        if _finite(propensity.get("p_churn_90d")) is not None:
            facts.append(Fact("p_churn", "churn risk over 90 days", percent(propensity["p_churn_90d"])))
        for i, text in enumerate(drivers[:TOP_DRIVERS], 1):
            facts.append(Fact(f"driver_{i}", "reason for the purchase chance", text))
    if products:
        facts.append(Fact("products", "recommended products", ", ".join(products[:TOP_PRODUCTS])))
    return FactSheet("one customer", tuple(facts))


def customer_template(sheet: FactSheet) -> str:
    """The embedded summary of a customer (only the sheet's facts, as written)."""
    get = sheet.get
    parts: list[str] = []
    where = [f"RFM segment {get('rfm_segment')}" if get("rfm_segment") else "",
             f"behavioural cluster {get('cluster_name')}" if get("cluster_name") else ""]
    where = [w for w in where if w]
    if where:
        parts.append("In " + " and ".join(where) + (f" ({get('reason')})" if get("reason") else "") + ".")
    behaviour = [str(get("orders") or ""),
                 f"{get('spend')} spent in total" if get("spend") else "",
                 f"last order {get('recency')} ago" if get("recency") else ""]
    if any(behaviour):
        parts.append(_sentence(", ".join(b for b in behaviour if b)))
    clv_label = next((f.label for f in sheet.facts if f.name == "clv"), "")
    if get("clv"):
        parts.append(_sentence(f"{clv_label}: {get('clv')}"
                     + (f" (between {str(get('clv_interval')).replace(' to ', ' and ')})" if get("clv_interval") else "")
                     + (f"; probability still active {get('p_alive')}" if get("p_alive") else "")))
    if get("p_purchase"):
        drivers = [f.text for f in sheet.facts if f.name.startswith("driver_")]
        parts.append(f"Chance of buying in the next 30 days: {get('p_purchase')}"
                     + (f", mainly because: {'; '.join(drivers)}" if drivers else "") + ".")
    if get("p_churn"):
        parts.append(f"Churn risk over 90 days: {get('p_churn')}.")
    if get("products"):
        parts.append(f"Recommended next: {get('products')}.")
    return " ".join(parts) or "No computed facts about this customer in this run."


# -- the model's rephrasing, checked -----------------------------------------------------------------
def _messages(sheet: FactSheet) -> list[dict[str, str]]:
    system = (
        "You rewrite computed facts as a short summary (two to four sentences) for a marketer. Use only the facts "
        "given. Copy every number as it is written in the facts, except that whole numbers are written here with "
        "a trailing .0 (as in 5.0 orders): write them without it. Write no other number, no number in words, and no "
        "advice or claim the facts do not state. Answer with the summary text only."
    )
    user = "\n".join([f"Facts about {sheet.title}:", *sheet.prompt_lines()])
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


def rephrase(client: LLMClient | None, sheet: FactSheet, template: str, *, purpose: str) -> Summary:
    """The model's summary if it passes the number check, else the template's (``check`` says why).

    An endpoint failure or a prompt the scrubber refuses also falls back to the template
    (a summary is never worth an error page); ``check`` names what happened.
    """
    if client is None:
        return Summary(template, "template", None, sheet)
    try:
        text, _ = client.chat_text(purpose=purpose, messages=_messages(sheet))
    except PromptRefusedError as exc:
        return Summary(template, "template", f"not sent: {exc.message}", sheet)
    except ModelEndpointError as exc:
        return Summary(template, "template", f"model endpoint failed: {exc.message}", sheet)
    text = " ".join(text.split())
    if not text:
        return Summary(template, "template", "the model answered an empty text: the template text is shown", sheet)
    if len(text) > MAX_SUMMARY_CHARS:
        return Summary(template, "template", f"the model's text has {len(text)} characters, more than "
                       f"{MAX_SUMMARY_CHARS}: the template text is shown", sheet)
    invented = unknown_numbers(text, sheet.numbers())
    if invented:
        return Summary(template, "template", f"the model's text states {', '.join(invented)}, not in the facts: the "
                       "template text is shown", sheet)
    return Summary(text, "llm", "passed", sheet)
