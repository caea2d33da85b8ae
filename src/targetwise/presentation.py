"""What a marketer reads: plain labels and definitions for code names, money, human numbers, plurals.

One place for the words and the number formats of every surface (report, web UI, CLI):

* :func:`label` / :func:`definition` / :func:`term`: the plain name and a one-line definition
  of a code name a user sees: feature columns (``btyd_T``, ``ipi_std_days``), scores and CLV
  columns (``p_churn_90d``, ``clv_lower``), model metrics (``roc_auc``, ``brier``, ``ece``),
  segment and uplift metrics. Model parameters are per model: :func:`parameter_label`
  (``("beta_geo", "r")``). Unknown names fall back to a readable version of the name, so
  nothing breaks when a column is added; ``tests/test_presentation.py`` fails when a feature
  column has no entry.
* :class:`Currency` and :func:`money`: amounts with the currency symbol and code from the
  settings (``TARGETWISE_CURRENCY_SYMBOL``, ``TARGETWISE_CURRENCY_CODE``; GBP, "£" by default,
  the currency of the bundled Online Retail data). No conversion is ever applied: it is the
  workspace's currency, as ingested.
* :func:`human_number` (``8.6M``, ``1.2k``, ``0.32``), :func:`percent`, :func:`count`.
* :func:`plural` (``1 order``, ``365 days``) and :func:`days`.
* :func:`duration` (``12.9 s``, ``12 min 57 s``) and :func:`memory` (``312 MB``, ``1.2 GB``): what a
  run's stage cost.
* :func:`format_value`: a value formatted by what its term measures (money, days, share, ...).

Nothing here reads files or the environment; callers pass the settings (or a Currency).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, Literal

__all__ = [
    "PARAMETERS",
    "TERMS",
    "Currency",
    "Term",
    "count",
    "days",
    "definition",
    "duration",
    "format_value",
    "human_number",
    "label",
    "memory",
    "money",
    "parameter_label",
    "percent",
    "plural",
    "term",
]

Kind = Literal["money", "days", "count", "share", "probability", "ratio", "times", "score", "number", "text", "id"]


@dataclass(frozen=True)
class Term:
    """A code name, its plain label, a one-line definition and what it measures (how to format it)."""

    name: str
    label: str
    definition: str
    kind: Kind = "number"


def _t(name: str, label_: str, definition_: str, kind: Kind = "number") -> tuple[str, Term]:
    return name, Term(name, label_, definition_, kind)


#: every code name a user may see, with its plain label and definition
TERMS: dict[str, Term] = dict(
    [
        # -- customer features (targetwise.features.columns) ------------------------------------
        _t("customer_id", "Customer", "The customer's identifier in your data.", "id"),
        _t("recency_days", "Days since last order", "Days from the customer's last order to the as-of date.", "days"),
        _t("frequency", "Orders", "Number of orders the customer placed (orders holding only returns or fees not counted).",
           "count"),
        _t("monetary_total", "Net spend", "Everything the customer bought minus what they returned (postage and fees "
           "excluded).", "money"),
        _t("monetary_mean", "Net spend per order", "Net spend divided by the number of orders.", "money"),
        _t("returns_value", "Value returned", "Value of the items the customer returned.", "money"),
        _t("tenure_days", "Days as a customer", "Days from the customer's first order to the as-of date.", "days"),
        _t("btyd_frequency", "Repeat purchase days", "Days on which the customer bought again after their first "
           "purchase day (the purchase count the lifetime-value model uses).", "count"),
        _t("btyd_recency", "Days from first to last purchase", "Days between the customer's first and last purchase "
           "day (the lifetime-value model's recency).", "days"),
        _t("btyd_T", "Days since first purchase", "Days from the customer's first purchase day to the as-of date (the "
           "lifetime-value model's observation time).", "days"),
        _t("btyd_monetary_value", "Average repeat purchase", "Average value of the customer's repeat purchase days "
           "(before returns); 0 for one-off buyers.", "money"),
        _t("ipi_mean_days", "Days between orders", "Average number of days between consecutive orders (needs 2 "
           "orders).", "days"),
        _t("ipi_std_days", "Regularity of orders (days)", "How much the gaps between orders vary, in days: small = "
           "buys like clockwork (needs 3 orders).", "days"),
        _t("orders_30d", "Orders, last 30 days", "Orders in the 30 days before the as-of date.", "count"),
        _t("orders_90d", "Orders, last 90 days", "Orders in the 90 days before the as-of date.", "count"),
        _t("orders_365d", "Orders, last 12 months", "Orders in the 365 days before the as-of date.", "count"),
        _t("trend_90d", "Order trend", "Orders in the last 90 days against the 90 days before: +1 = all recent, "
           "-1 = all earlier, 0 = steady.", "ratio"),
        _t("basket_size_mean", "Items per order", "Average number of units per order.", "number"),
        _t("lines_per_order_mean", "Lines per order", "Average number of different order lines per order.", "number"),
        _t("distinct_products", "Different products bought", "Number of different products the customer bought.",
           "count"),
        _t("distinct_categories", "Categories bought", "Number of product categories the customer bought from.",
           "count"),
        _t("top_category", "Favourite category", "The category the customer spent most on.", "text"),
        _t("top_category_share", "Share of spend in favourite category", "Share of the customer's spend that went to "
           "their favourite category.", "share"),
        _t("returns_rate", "Returns rate", "Value returned as a share of value bought (can exceed 100% when earlier "
           "purchases are returned).", "share"),
        _t("days_since_first_return", "Days since first return", "Days from the customer's first return to the as-of "
           "date.", "days"),
        _t("days_since_last_return", "Days since last return", "Days from the customer's latest return to the as-of "
           "date.", "days"),
        # -- labels and scores ----------------------------------------------------------------------
        _t("purchase_30d", "Buys in the next 30 days", "Whether the customer orders in the 30 days after the as-of "
           "date.", "text"),
        _t("churn_90d", "Lapses in the next 90 days", "Whether the customer places no order in the 90 days after the "
           "as-of date.", "text"),
        _t("next_order_90d", "Days to next order", "Days until the customer's next order.", "text"),
        _t("p_purchase_30d", "Chance to buy in 30 days", "Predicted chance that the customer orders in the next 30 "
           "days.", "probability"),
        _t("p_churn_90d", "Chance to lapse in 90 days", "Predicted chance that the customer places no order in the "
           "next 90 days.", "probability"),
        _t("expected_days_to_next_order", "Expected days to next order", "Predicted number of days until the "
           "customer's next order.", "days"),
        _t("days_to_next_order", "Days to next order", "Days from the as-of date to the customer's next order.", "days"),
        _t("p_alive", "Chance still active", "Chance that the customer has not left for good, from their purchase "
           "rhythm and the time since their last purchase (lifetime-value model).", "probability"),
        _t("expected_purchases", "Expected purchases", "Purchase days the lifetime-value model expects from the "
           "customer over the horizon.", "number"),
        _t("expected_spend", "Expected spend per purchase", "Average value the model expects per future purchase.",
           "money"),
        _t("clv", "Customer lifetime value", "Expected spend of the customer over the horizon (365 days by default), "
           "discounted to today's money.", "money"),
        _t("clv_lower", "CLV, low estimate", "Lower end of the 80% range of the customer's lifetime value (model "
           "uncertainty only).", "money"),
        _t("clv_upper", "CLV, high estimate", "Upper end of the 80% range of the customer's lifetime value (model "
           "uncertainty only).", "money"),
        # -- segments -------------------------------------------------------------------------------
        _t("rfm_segment", "RFM segment", "Segment from the customer's recency, frequency and spend scores (1-5 each).",
           "text"),
        _t("rfm_score", "RFM score", "Recency, frequency and spend scores, 1 (low) to 5 (high), e.g. 545.", "text"),
        _t("cluster", "Cluster number", "Number of the behavioural cluster.", "id"),
        _t("cluster_name", "Behavioural segment", "Group of customers who buy alike, found by clustering their "
           "behaviour.", "text"),
        _t("reason", "Why", "What sets the customer apart within their segment.", "text"),
        _t("silhouette", "Separation of the clusters", "How clearly customers sit in their own cluster rather than "
           "the nearest other one: -1 to 1, above 0.25 is a usable split.", "score"),
        _t("size", "Customers", "Customers in the segment.", "count"),
        _t("share", "Share of customers", "Customers in the segment as a share of all customers.", "share"),
        _t("revenue_share", "Share of revenue", "The segment's net spend as a share of all net spend.", "share"),
        # -- propensity metrics (out of time) ---------------------------------------------------
        _t("rows", "Customers tested", "Customers in the out-of-time test.", "count"),
        _t("positive_rate", "Actual rate", "Share of the tested customers for whom it actually happened.", "share"),
        _t("roc_auc", "Ranking quality (AUC)", "Chance that a random customer for whom it happened is ranked above a "
           "random one for whom it did not: 0.5 = guessing, 1 = perfect.", "score"),
        _t("pr_auc", "Precision-recall area", "Average precision over all cut-offs of the ranking; compare with the "
           "actual rate (what guessing gets).", "score"),
        _t("brier", "Probability error (Brier)", "Mean squared gap between the predicted chance and what happened: 0 = "
           "perfect, lower is better.", "score"),
        _t("log_loss", "Log loss", "Penalty for confident wrong predictions: lower is better.", "score"),
        _t("ece", "Calibration error", "Average gap between predicted chances and observed rates, over groups of "
           "similar scores: 0 = the chances can be taken at face value.", "share"),
        _t("top_decile_lift", "Lift in the top 10%", "How many times more often it happened among the 10% highest "
           "scored customers than on average.", "times"),
        _t("precision_at_k", "Precision in the top 10%", "Share of the 10% highest scored customers for whom it "
           "happened.", "share"),
        _t("recall_at_k", "Recall in the top 10%", "Share of all customers for whom it happened that are in the top "
           "10% of scores.", "share"),
        _t("f1_at_k", "F1 in the top 10%", "Balance of precision and recall in the top 10% of scores (0 to 1).", "score"),
        _t("recency_rule_auc", "AUC of a recency-only rule", "Ranking quality of simply sorting customers by days "
           "since last order: the model should beat it.", "score"),
        _t("bgnbd_p_alive_auc", "AUC of the 'still active' score", "Ranking quality of the lifetime-value model's "
           "chance still active: a baseline the model should beat.", "score"),
        _t("bgnbd_expected_purchases_auc", "AUC of expected purchases", "Ranking quality of the lifetime-value "
           "model's expected purchases: a baseline the model should beat.", "score"),
        _t("mae", "Average error", "Average absolute gap between the predicted and the actual value.", "number"),
        _t("rmse", "Typical error (RMSE)", "Root mean squared gap between the predicted and the actual value; large "
           "misses weigh more.", "number"),
        _t("r2", "Share of variation explained (R²)", "1 = perfect, 0 = no better than predicting the average.",
           "score"),
        _t("training_mean_mae", "Average error of a constant guess", "Average error of always predicting the training "
           "average: the model should beat it.", "number"),
        _t("training_mean_rmse", "RMSE of a constant guess", "RMSE of always predicting the training average: the "
           "model should beat it.", "number"),
        # -- recommendations --------------------------------------------------------------------
        _t("buy_again", "Buy again", "Products the customer bought before, weighted by how recently and how often.",
           "score"),
        _t("item_item", "Bought together", "Products often bought by customers who bought the same things.", "score"),
        _t("als", "Similar tastes", "Products liked by customers with similar tastes (matrix factorisation).", "score"),
        _t("trending", "Trending", "Products selling more and more lately.", "score"),
        _t("products_recommended", "Different products recommended", "Distinct products in anyone's list.", "count"),
        # -- uplift -----------------------------------------------------------------------------
        _t("qini_auc", "Qini coefficient", "Extra responders from targeting by predicted uplift rather than at random, "
           "on held-out customers: above 0 = better than random.", "score"),
        _t("uplift_at_30pct", "Uplift in the top 30%", "Conversion of treated minus control customers among the 30% "
           "with the highest predicted uplift.", "share"),
        _t("uplift_treatment", "Predicted uplift", "Predicted change in the customer's chance to convert when they get "
           "the campaign.", "share"),
    ]
)

#: model parameters, per model: (model, parameter) -> Term
PARAMETERS: dict[tuple[str, str], Term] = {
    (model, name): Term(name, text, why, "number")
    for model, name, text, why in (
        ("beta_geo", "r", "r (purchase rate shape)", "Shape of how purchase rates vary between customers."),
        ("beta_geo", "alpha", "alpha (purchase rate scale)", "Scale of the purchase rates: larger = slower buyers."),
        ("beta_geo", "a", "a (drop-out shape)", "With b, how likely a customer is to leave after each purchase."),
        ("beta_geo", "b", "b (drop-out shape)", "With a, how likely a customer is to leave after each purchase: "
         "mean drop-out chance a / (a + b)."),
        ("pareto_nbd", "r", "r (purchase rate shape)", "Shape of how purchase rates vary between customers."),
        ("pareto_nbd", "alpha", "alpha (purchase rate scale)", "Scale of the purchase rates: larger = slower buyers."),
        ("pareto_nbd", "s", "s (lifetime shape)", "Shape of how customer lifetimes vary."),
        ("pareto_nbd", "beta", "beta (lifetime scale)", "Scale of the customer lifetimes: larger = longer lives."),
        ("nbd", "r", "r (purchase rate shape)", "Shape of how purchase rates vary between customers (nobody "
         "leaves in this model)."),
        ("nbd", "alpha", "alpha (purchase rate scale)", "Scale of the purchase rates: larger = slower buyers."),
        ("gamma_gamma", "p", "p (spend shape)", "Shape of the spend per purchase of one customer."),
        ("gamma_gamma", "q", "q (spend spread shape)", "Shape of how average spend varies between customers "
         "(must be above 1)."),
        ("gamma_gamma", "v", "v (spend scale)", "Scale of the spend per purchase."),
    )
}

_MODEL_ALIASES = {"betageo": "beta_geo", "bgnbd": "beta_geo", "paretonbd": "pareto_nbd", "gammagamma": "gamma_gamma"}
_SUFFIXED = re.compile(r"^(?P<stem>.+)_(?P<n>\d+)d$")


def _humanise(name: str) -> str:
    text = name.replace("_", " ").strip()
    return text[:1].upper() + text[1:] if text else name


def term(name: str) -> Term:
    """The term for ``name``; an unknown name gets a readable label and an empty definition."""
    found = TERMS.get(name)
    if found is not None:
        return found
    if name.startswith("channel_share_"):
        channel = name.removeprefix("channel_share_").replace("_", " ")
        return Term(name, f"Share of orders via {channel}", f"Share of the customer's orders placed via {channel}.",
                    "share")
    if name.startswith("uplift_"):
        arm = name.removeprefix("uplift_").replace("_", " ")
        return Term(name, f"Predicted uplift ({arm})", f"Predicted change in the customer's chance to convert when "
                    f"they get the {arm} message.", "share")
    match = _SUFFIXED.match(name)
    if match:  # a horizon other than the default one: purchased_within_60d, churned_120d, p_churn_60d
        stem, n = match["stem"], int(match["n"])
        texts = {
            "purchased_within": (f"Bought within {n} days", f"Whether the customer ordered in the {n} days after the "
                                 "as-of date.", "text"),
            "spend_within": (f"Spend within {n} days", f"Net spend in the {n} days after the as-of date.", "money"),
            "churned": (f"Lapsed within {n} days", f"Whether the customer placed no order in the {n} days after the "
                        "as-of date.", "text"),
            "p_purchase": (f"Chance to buy in {n} days", f"Predicted chance that the customer orders in the next {n} "
                           "days.", "probability"),
            "p_churn": (f"Chance to lapse in {n} days", f"Predicted chance that the customer places no order in the "
                        f"next {n} days.", "probability"),
            "purchase": (f"Buys in the next {n} days", f"Whether the customer orders in the {n} days after the as-of "
                         "date.", "text"),
            "churn": (f"Lapses in the next {n} days", f"Whether the customer places no order in the {n} days after "
                      "the as-of date.", "text"),
            "spend": (f"Spend in the next {n} days", f"Net spend in the {n} days after the as-of date.", "text"),
            "next_order": ("Days to next order", "Days until the customer's next order.", "text"),
        }
        if stem in texts:
            text, why, kind = texts[stem]
            return Term(name, text, why, kind)  # type: ignore[arg-type]
    return Term(name, _humanise(name), "", "number")


def label(name: str) -> str:
    """The plain label of a code name (``btyd_T`` -> ``Days since first purchase``)."""
    return term(name).label


def definition(name: str) -> str:
    """The one-line definition of a code name ("" when none is known)."""
    return term(name).definition


def parameter_label(model: str, name: str) -> Term:
    """The term of one model parameter: ``parameter_label("beta_geo", "r")``; ``model`` may be a class name."""
    key = model.lower().replace("/", "").replace("-", "").replace(" ", "")
    key = _MODEL_ALIASES.get(key.replace("_", ""), key)
    return PARAMETERS.get((key, name), Term(name, name, "", "number"))


# -- numbers ---------------------------------------------------------------------------------------


def _finite(value: Any) -> float | None:
    if value is None or isinstance(value, bool | str):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _trim(text: str) -> str:
    return text.rstrip("0").rstrip(".") if "." in text else text


_SCALES = ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "k"))


def human_number(value: Any, *, missing: str = "–") -> str:
    """A number as people say it: ``8.6M``, ``12M``, ``1.2k``, ``950``, ``0.32``, ``3.14``; ``missing`` for none/NaN.

    From a thousand up: one decimal below 10 of the unit, none above (``8.6M``, ``86M``). Below a
    thousand: whole numbers as they are, others with two decimals below 10 (``0.32``, ``3.14``),
    one below 100 (``42.5``), none above; below 0.01 two significant digits (``0.0012``).
    """
    number = _finite(value)
    if number is None:
        return missing
    sign = "-" if number < 0 else ""
    size = abs(number)
    for threshold, suffix in _SCALES:
        if size >= threshold * 0.9995:  # 999,950 is 1M, not 1000k
            scaled = size / threshold
            text = f"{scaled:.1f}" if round(scaled, 1) < 10 else f"{scaled:.0f}"
            return f"{sign}{_trim(text)}{suffix}"
    if size == int(size):
        return f"{sign}{int(size)}"
    if size < 0.01:
        return f"{sign}{size:.2g}"
    if size < 10:
        return f"{sign}{_trim(f'{size:.2f}')}"
    if size < 100:
        return f"{sign}{_trim(f'{size:.1f}')}"
    return f"{sign}{size:.0f}"


def count(value: Any, *, missing: str = "–") -> str:
    """A whole count with thousands separators: ``4,334``."""
    number = _finite(value)
    return missing if number is None else f"{round(number):,}"


def percent(value: Any, *, digits: int = 0, missing: str = "–") -> str:
    """A share (0.32) as a percentage (``32%``); tiny non-zero shares say ``<1%`` rather than ``0%``."""
    number = _finite(value)
    if number is None:
        return missing
    text = f"{number:.{digits}%}"
    floor = 10.0 ** -digits / 100
    if number != 0 and abs(number) < floor / 2:
        return f"<{floor:.{digits}%}" if number > 0 else f">-{floor:.{digits}%}"
    return text


_IRREGULAR = {"person": "people", "child": "children"}


def _plural_form(singular: str) -> str:
    if singular in _IRREGULAR:
        return _IRREGULAR[singular]
    if re.search(r"[^aeiou]y$", singular):
        return singular[:-1] + "ies"
    if re.search(r"(s|x|z|ch|sh)$", singular):
        return singular + "es"
    return singular + "s"


def plural(n: Any, singular: str, plural_form: str | None = None, *, decimals: int | None = None) -> str:
    """``1 order``, ``2 orders``, ``365 days``, ``4,334 customers``, ``2.5 days``; ``plural_form`` for irregular words.

    Whole numbers print with thousands separators; others with ``decimals`` (default: one).
    The word is singular only for exactly 1 (as printed).
    """
    number = _finite(n)
    if number is None:
        return f"– {plural_form or _plural_form(singular)}"
    if decimals is None:
        decimals = 0 if number == int(number) else 1
    text = f"{number:,.{decimals}f}"
    one = float(text.replace(",", "")) in (1.0, -1.0)
    return f"{text} {singular if one else (plural_form or _plural_form(singular))}"


def days(value: Any, *, missing: str = "–") -> str:
    """A duration in days as people say it: ``1 day``, ``13 days``, ``2.5 days`` (whole days from 10 up)."""
    number = _finite(value)
    if number is None:
        return missing
    return plural(number, "day", decimals=0 if abs(number) >= 10 or number == int(number) else 1)


def duration(seconds: Any, *, missing: str = "–") -> str:
    """Seconds as people say a run's time: ``0.04 s``, ``12.9 s``, ``12 min 57 s``, ``2 h 5 min``."""
    number = _finite(seconds)
    if number is None:
        return missing
    if number < 0.095:
        return f"{number:.2f} s"
    if round(number, 1) < 60:
        return f"{number:.1f} s"
    whole = round(number)
    if whole < 3600:
        minutes, rest = divmod(whole, 60)
        return f"{minutes} min {rest} s" if rest else f"{minutes} min"
    hours, rest = divmod(round(number / 60), 60)
    return f"{hours} h {rest} min" if rest else f"{hours} h"


def memory(gigabytes: Any, *, missing: str = "–") -> str:
    """A memory size given in GB (10^9 bytes): ``312 MB`` below a gigabyte, ``1.2 GB``, ``12 GB``."""
    number = _finite(gigabytes)
    if number is None:
        return missing
    if round(number * 1000) < 1000:
        return f"{number * 1000:.0f} MB"
    return f"{_trim(f'{number:.1f}')} GB" if round(number, 1) < 10 else f"{number:.0f} GB"


# -- money -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Currency:
    """The workspace currency: ISO 4217 ``code`` and display ``symbol`` ("" = show the code after the amount)."""

    code: str = "GBP"
    symbol: str = "£"

    @classmethod
    def from_settings(cls, settings: Any) -> Currency:
        """The currency named by ``Settings.currency_code`` / ``currency_symbol`` (defaults when absent)."""
        return cls(
            code=str(getattr(settings, "currency_code", cls.code) or cls.code),
            symbol=str(getattr(settings, "currency_symbol", cls.symbol) or ""),
        )

    def format(self, value: Any, *, decimals: int = 0, compact: bool = False, missing: str = "–") -> str:
        return money(value, self, decimals=decimals, compact=compact, missing=missing)


def money(
    value: Any,
    currency: Currency | None = None,
    *,
    decimals: int = 0,
    compact: bool = False,
    missing: str = "–",
) -> str:
    """An amount with its currency: ``£8,268,848``, ``-£12.50``, ``£8.3M`` (``compact``), ``8,268,848 EUR`` (no symbol)."""
    currency = currency or Currency()
    number = _finite(value)
    if number is None:
        return missing
    sign = "-" if number < 0 else ""
    size = abs(number)
    digits = human_number(size) if compact and size >= 1000 else f"{size:,.{decimals}f}"
    if currency.symbol:
        return f"{sign}{currency.symbol}{digits}"
    return f"{sign}{digits} {currency.code}"


def format_value(name: str, value: Any, currency: Currency | None = None, *, missing: str = "–") -> str:
    """``value`` formatted by what ``name`` measures: money with the currency, days, counts, shares, scores."""
    kind = term(name).kind
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return missing
    if kind == "money":
        return money(value, currency, missing=missing)
    if kind == "days":
        return days(value, missing=missing)
    if kind == "count":
        return count(value, missing=missing)
    if kind in ("share", "probability"):
        return percent(value, missing=missing)
    if kind in ("text", "id"):
        return str(value)
    if kind == "ratio":
        number = _finite(value)
        return missing if number is None else f"{number:.2f}"
    if kind == "score":
        number = _finite(value)
        return missing if number is None else f"{number:.2f}"
    if kind == "times":
        number = _finite(value)
        return missing if number is None else f"{number:.1f}×"
    return human_number(value, missing=missing)
