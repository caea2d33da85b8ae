"""The field catalogue: what an audience can be filtered on in one run, described for people and models.

Built from a run's audience frame (:func:`targetwise.campaigns.audiences.audience_frame`):
each filterable field with its kind (``number``/``text``), unit (``money``, ``days``,
``count``, ``probability``, ``share``, ``score``), a description, its range
(numbers) or its values (texts with at most :data:`MAX_ENUM` values: the RFM
segments, cluster names, top categories) and the synonyms a marketer uses for it.
The catalogue is the only description of the data a model ever sees: aggregates
(ranges, names), never a row.

Demographic or sensitive fields (country, age, gender, ...: :data:`SENSITIVE`) are
left out unless ``allow_sensitive`` (the admin setting
``TARGETWISE_LLM_ALLOW_SENSITIVE_FIELDS``) is on.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from targetwise.campaigns.audiences import audience_fields

__all__ = ["MAX_ENUM", "SENSITIVE", "FieldCatalogue", "FieldInfo", "build_catalogue"]

MAX_ENUM = 50
#: field names that describe who someone is rather than how they buy; off the catalogue by default
SENSITIVE = re.compile(
    r"(^|[._])(age|gender|sex|birth|dob|ethnic\w*|race|religion|nationality|country|postcode|post_code|zip|city|"
    r"region|income|marital\w*|health|disabilit\w*|language|signup_country)($|[._])",
    re.IGNORECASE,
)
_NOT_OFFERED = re.compile(r"^(drivers_|reason$)")
#: text fields that are codes, not names: not listed as values ("555" could equal a customer id in a prompt)
_CODES = {"rfm_score"}

# name -> (unit, description, synonyms). Synonyms are lower-case phrases a marketer writes for the field.
KNOWN: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "clv": ("money", "predicted customer lifetime value over the CLV horizon",
            ("predicted customer lifetime value", "predicted lifetime value", "predicted clv", "customer lifetime value",
             "lifetime value", "predicted value", "future value", "clv", "ltv", "worth",
             "valued at", "value")),
    "clv_lower": ("money", "lower end of the CLV interval", ("lower clv", "clv lower bound")),
    "clv_upper": ("money", "upper end of the CLV interval", ("upper clv", "clv upper bound")),
    "expected_spend": ("money", "expected value of a future order (Gamma-Gamma)",
                       ("expected spend", "expected order value", "predicted order value")),
    "expected_purchases": ("count", "expected number of purchases over the CLV horizon",
                           ("expected purchases", "predicted purchases", "expected orders")),
    "p_alive": ("probability", "probability the customer is still active (BG/NBD)",
                ("probability alive", "chance of being alive", "p alive", "p_alive")),
    "monetary_total": ("money", "total spend so far (net of returns)",
                       ("total spend", "total spent", "lifetime spend", "total revenue", "revenue", "spent", "spend",
                        "spending", "sales")),
    "monetary_mean": ("money", "average order value so far",
                      ("average order value", "average order", "average basket value", "aov", "spend per order",
                       "order value", "per order")),
    "frequency": ("count", "number of orders so far",
                  ("number of orders", "order count", "orders", "purchases", "times", "order")),
    "recency_days": ("days", "days since the last order",
                     ("days since the last order", "days since last order", "days since last purchase",
                      "last purchase", "last order", "last ordered", "last bought", "recency")),
    "tenure_days": ("days", "days since the first order", ("days since the first order", "tenure", "first order",
                                                          "first purchase")),
    "orders_30d": ("count", "orders in the last 30 days", ()),
    "orders_90d": ("count", "orders in the last 90 days", ()),
    "orders_365d": ("count", "orders in the last 365 days", ()),
    "returns_rate": ("share", "share of bought units returned", ("return rate", "returns rate", "returns",
                                                                  "returned")),
    "returns_value": ("money", "value of returns", ("returned value", "value returned", "returns value")),
    "distinct_products": ("count", "distinct products bought", ("distinct products", "different products", "products")),
    "distinct_categories": ("count", "distinct categories bought", ("distinct categories", "different categories",
                                                                    "categories")),
    "basket_size_mean": ("count", "units per order on average", ("basket size", "units per order", "items per order")),
    "lines_per_order_mean": ("count", "order lines per order on average", ("lines per order",)),
    "top_category": ("", "the category the customer bought most", ("top category", "favourite category",
                                                                  "favorite category")),
    "top_category_share": ("share", "share of spend in the top category", ("top category share",)),
    "p_purchase_30d": ("probability", "probability of an order in the next 30 days",
                       ("purchase probability", "probability to buy", "probability of buying", "chance to buy",
                        "buying probability", "propensity to buy", "purchase propensity", "purchase score")),
    "p_churn_90d": ("probability", "probability of no order in the next 90 days (churn)",
                    ("churn probability", "churn risk", "churn score", "probability to churn", "risk of churn",
                     "chance of churning", "churn")),
    "expected_days_to_next_order": ("days", "expected days until the next order (capped at the horizon)",
                                    ("days to next order", "days until next order", "next order in")),
    "rfm_segment": ("", "RFM segment name", ("rfm segment", "segment")),
    "rfm_score": ("", "RFM score, three digits R, F, M from 1 to 5", ("rfm score",)),
    "cluster": ("score", "behavioural cluster number", ("cluster number",)),
    "cluster_name": ("", "behavioural segment (cluster) name", ("cluster", "behavioural segment")),
    "ipi_mean_days": ("days", "average days between orders", ("days between orders", "purchase interval",
                                                             "inter-purchase time")),
    "ipi_std_days": ("days", "spread of the days between orders", ()),
    "trend_90d": ("score", "change in order rate over the last 90 days (-1 to 1)", ("trend",)),
    "btyd_frequency": ("count", "repeat purchase days (BTYD frequency)", ("repeat purchases", "repeat purchase days")),
}
_PREFIXES = {"p_": ("probability", "probability of {}"), "uplift_": ("score", "uplift of treatment {}"),
             "channel_share_": ("share", "share of orders through {}")}


@dataclass(frozen=True)
class FieldInfo:
    """One filterable field of a run."""

    name: str
    kind: str
    unit: str
    description: str
    synonyms: tuple[str, ...] = ()
    minimum: float | None = None
    maximum: float | None = None
    values: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "kind": self.kind, "unit": self.unit or None,
                               "description": self.description}
        if self.kind == "number" and self.minimum is not None:
            out["range"] = [_rounded(self.minimum), _rounded(self.maximum)]
        if self.values:
            out["values"] = list(self.values)
        return out


@dataclass(frozen=True)
class FieldCatalogue:
    """The fields of one run that may be filtered on (sensitive ones left out unless allowed)."""

    fields: dict[str, FieldInfo]
    excluded_sensitive: tuple[str, ...] = ()
    currency: str = ""
    lookup: dict[str, str] = field(default_factory=dict)  # qualified or bare name -> catalogue name

    def get(self, name: str) -> FieldInfo | None:
        key = self.lookup.get(name, name)
        return self.fields.get(key)

    def names_of(self, field_name: str) -> tuple[str, ...]:
        info = self.get(field_name)
        return info.values if info is not None else ()

    def money(self, value: float) -> str:
        text = f"{value:,.0f}" if float(value).is_integer() else f"{value:,.2f}"
        return f"{self.currency}{text}" if self.currency else text


def _rounded(value: float | None) -> float | None:
    if value is None or not math.isfinite(value):
        return None
    return round(float(value), 2)


def _describe(name: str) -> tuple[str, str, tuple[str, ...]]:
    if name in KNOWN:
        return KNOWN[name]
    for prefix, (unit, text) in _PREFIXES.items():
        if name.startswith(prefix):
            rest = name[len(prefix):].replace("_", " ")
            return unit, text.format(rest), ()
    return "", name.replace("_", " "), ()


def build_catalogue(frame: pd.DataFrame, *, allow_sensitive: bool = False, currency: str = "") -> FieldCatalogue:
    """The catalogue of an audience frame: bare names where unique, ``table.column`` otherwise."""
    kinds = audience_fields(frame)
    bare = {name for name in kinds if "." not in name}
    fields: dict[str, FieldInfo] = {}
    lookup: dict[str, str] = {}
    excluded: list[str] = []
    for qualified, kind in kinds.items():
        if "." not in qualified:
            continue
        column = qualified.split(".", 1)[1]
        name = column if column in bare else qualified
        if _NOT_OFFERED.match(column):
            continue
        if SENSITIVE.search(column) and not allow_sensitive:
            excluded.append(name)
            continue
        unit, description, synonyms = _describe(column)
        series = frame[name]
        if kind == "number":
            numbers = pd.to_numeric(series, errors="coerce").dropna()
            info = FieldInfo(name, kind, unit, description, synonyms,
                             float(numbers.min()) if len(numbers) else None,
                             float(numbers.max()) if len(numbers) else None)
        else:
            distinct = sorted({str(v) for v in series.dropna().unique()})
            if not distinct:
                continue  # a text column with no value (no categories in this shop) offers nothing to filter
            enumerate_values = len(distinct) <= MAX_ENUM and column not in _CODES
            info = FieldInfo(name, kind, unit, description, synonyms,
                             values=tuple(distinct) if enumerate_values else ())
        fields[name] = info
        lookup[qualified] = name
        lookup[name] = name
    return FieldCatalogue(fields, tuple(sorted(excluded)), currency, lookup)
