"""Why is this customer where it is: the features that set it apart within its segment.

For a customer in segment ``s`` and each clustering feature ``j`` (scaled space,
i.e. after the log of money and counts):

    z_j = (x_j - median_s(x_j)) / sd_s(x_j)

where ``median_s`` and ``sd_s`` are the segment's median and standard deviation
(the overall standard deviation where the segment's is 0, e.g. a one-customer
segment). The ``n_reasons`` features with the largest ``|z|`` (at least
``min_abs_z``; ties by column order) are written in words with the raw values
next to the segment's median: "spends 3.2x the segment's median (1,204 vs 376)",
"last order 120 days ago vs 30 typical". A customer with no such feature is
"typical of its segment".

A segment's name describes its typical member (:mod:`targetwise.segment.profile`);
a member can still contradict it. Given the names, every claim a name makes
(:func:`~targetwise.segment.profile.name_claims`) is checked against the member's
own raw value: a "high" claim is contradicted by a value below the median of all
customers, a "low" claim by a value above it, and "One-off" by more than one
order. Each contradicted feature comes first in the member's reason, stated
with their own value and marked :data:`UNLIKE` ("3 orders vs 1 typical, unlike
most of this segment"), so the reason never repeats the claim the member does
not fit; the usual reasons fill the remaining places.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

import numpy as np
import pandas as pd

from targetwise.segment._validation import customer_frame, numeric_matrix
from targetwise.segment.profile import ONE_OFF_WORDS, name_claims

__all__ = ["TYPICAL", "UNLIKE", "contradicted_claims", "describe_feature", "explain_customers"]

TYPICAL = "typical of its segment"
#: Appended to a reason phrase whose value contradicts the segment's name.
UNLIKE = "unlike most of this segment"

_DAYS_TEMPLATES = {
    "recency_days": "last order {v:.0f} days ago vs {t:.0f} typical",
    "tenure_days": "customer for {v:.0f} days vs {t:.0f} typical",
    "ipi_mean_days": "buys every {v:.0f} days vs {t:.0f} typical",
    "ipi_std_days": "order gaps vary by {v:.0f} days vs {t:.0f} typical",
    "days_since_first_return": "first return {v:.0f} days ago vs {t:.0f} typical",
    "days_since_last_return": "last return {v:.0f} days ago vs {t:.0f} typical",
    "btyd_recency": "repeat-purchase age {v:.0f} days vs {t:.0f} typical",
    "btyd_T": "observed for {v:.0f} days vs {t:.0f} typical",
}
_MONEY_VERBS = {
    "monetary_total": "spends",
    "monetary_mean": "spends per order",
    "btyd_monetary_value": "spends per repeat order",
    "returns_value": "returns goods worth",
}
_COUNT_TEMPLATES = {
    "frequency": "{v:.0f} orders vs {t:.0f} typical",
    "btyd_frequency": "{v:.0f} repeat orders vs {t:.0f} typical",
    "orders_30d": "{v:.0f} orders in the last 30 days vs {t:.0f} typical",
    "orders_90d": "{v:.0f} orders in the last 90 days vs {t:.0f} typical",
    "orders_365d": "{v:.0f} orders in the last year vs {t:.0f} typical",
    "distinct_products": "bought {v:.0f} different products vs {t:.0f} typical",
    "distinct_categories": "bought from {v:.0f} categories vs {t:.0f} typical",
    "basket_size_mean": "{v:.1f} items per order vs {t:.1f} typical",
    "lines_per_order_mean": "{v:.1f} lines per order vs {t:.1f} typical",
}
_RATE_TEMPLATES = {
    "returns_rate": "returns {v:.0%} of purchases vs {t:.0%} typical",
    "top_category_share": "{v:.0%} of spend in the top category vs {t:.0%} typical",
}


def _ratio(value: float, typical: float) -> str:
    ratio = value / typical
    return f"{ratio:.2f}x" if ratio < 0.1 else f"{ratio:.1f}x"


_SINGULAR = re.compile(r"\b1 (day|order|repeat order|different product)s\b|\b1 categories\b")


def _singular(text: str) -> str:
    """'1 days' -> '1 day', '1 categories' -> '1 category' (only called when a quoted count is 1)."""
    return _SINGULAR.sub(lambda m: f"1 {m.group(1)}" if m.group(1) else "1 category", text)


def _money(value: float, currency: str) -> str:
    return f"{'-' if value < 0 else ''}{currency}{abs(value):,.0f}"


def _formatter(feature: str, currency: str = "") -> Callable[[float, float], str]:
    """The phrase builder for one feature, resolved once per feature."""
    if feature in _DAYS_TEMPLATES or feature in _COUNT_TEMPLATES:
        template = _DAYS_TEMPLATES.get(feature) or _COUNT_TEMPLATES[feature]

        def counted(value: float, typical: float) -> str:
            text = template.format(v=value, t=typical)
            # '{:.0f}' shows 1 exactly for 0.5 < x < 1.5 (round half to even)
            return _singular(text) if 0.5 < value < 1.5 or 0.5 < typical < 1.5 else text

        return counted
    if feature in _MONEY_VERBS:
        verb = _MONEY_VERBS[feature]

        def money(value: float, typical: float) -> str:
            if typical > 0 and value >= 0:
                return (
                    f"{verb} {_ratio(value, typical)} the segment's median "
                    f"({_money(value, currency)} vs {_money(typical, currency)})"
                )
            return f"{verb} {_money(value, currency)} vs {_money(typical, currency)} typical"

        return money
    if (
        feature in _RATE_TEMPLATES
        or feature.startswith("channel_share_")
        or feature.endswith(("_share", "_rate"))
    ):
        rate = _RATE_TEMPLATES.get(feature, feature.replace("_", " ") + " {v:.0%} vs {t:.0%} typical")
        return lambda value, typical: rate.format(v=value, t=typical)
    label = feature.replace("_", " ")
    return lambda value, typical: f"{label} {value:.3g} vs {typical:.3g} typical"


def describe_feature(feature: str, value: float, typical: float, *, currency: str = "") -> str:
    """One feature of one customer in words, against the segment's median ``typical`` (amounts in ``currency``)."""
    return _formatter(feature, currency)(value, typical)


def contradicted_claims(raw: pd.DataFrame, group: np.ndarray, names: Mapping[object, str]) -> np.ndarray:
    """Boolean (customers x columns of ``raw``): the member's value contradicts a claim of its segment's name."""
    columns = list(raw.columns)
    values = raw.to_numpy(dtype=float)
    overall = np.nanmedian(values, axis=0) if len(values) else np.full(len(columns), np.nan)
    out = np.zeros(values.shape, dtype=bool)
    for segment, name in names.items():
        members = group == segment
        if not members.any():
            continue
        for feature, high, word in name_claims(str(name), columns):
            j = columns.index(feature)
            column = values[members, j]
            with np.errstate(invalid="ignore"):
                if word in ONE_OFF_WORDS:
                    bad = column > 1
                elif high:
                    bad = column < overall[j]
                else:
                    bad = column > overall[j]
            out[np.flatnonzero(members), j] |= np.nan_to_num(bad, nan=0).astype(bool)
    return out


def explain_customers(
    features: pd.DataFrame,
    labels: pd.Series,
    *,
    scaled: pd.DataFrame,
    n_reasons: int = 3,
    min_abs_z: float = 0.5,
    names: Mapping[object, str] | None = None,
    currency: str = "",
) -> pd.DataFrame:
    """Per customer, the ``n_reasons`` features that most set it apart within its segment
    (amounts in ``currency``, e.g. "£").

    Parameters
    ----------
    features:
        The raw customer feature table (values quoted in the text).
    labels:
        Segment per customer, indexed by customer_id (noise -1 is explained against
        the other noise customers).
    scaled:
        The clusterer's scaled matrix (``BehaviourClusterer.scaled_`` or ``transform``).
    names:
        Segment -> name; a member whose own values contradict a claim of its
        segment's name gets that feature first, marked :data:`UNLIKE` (module docstring).

    Returns
    -------
    DataFrame indexed by customer_id with ``reason`` (phrases joined by "; ") and
    ``reason_features`` (the feature names, joined by ",", most distinctive first).
    """
    frame = customer_frame(features)
    columns = list(scaled.columns)
    raw = numeric_matrix(frame.reindex(scaled.index), columns)
    labels = labels.copy()
    labels.index = labels.index.astype(str)
    group = labels.reindex(scaled.index).to_numpy()
    z_values = scaled.to_numpy(dtype=float)
    overall_sd = np.nanstd(z_values, axis=0)
    overall_sd[overall_sd == 0] = 1.0
    grouped = scaled.groupby(group)
    centre = grouped.median().reindex(group).to_numpy()
    spread = grouped.std(ddof=0).reindex(group).to_numpy()
    spread = np.where((spread > 0) & np.isfinite(spread), spread, overall_sd)
    z = (z_values - centre) / spread
    typical_raw = raw.groupby(group).median().reindex(group).to_numpy()

    abs_z = np.nan_to_num(np.abs(z), nan=0.0)
    # a value the clusterer imputed is not quoted as a reason (there is no raw value to quote)
    abs_z[np.isnan(raw.to_numpy())] = 0.0
    # stable argsort on -|z| keeps column order among ties
    order = np.argsort(-abs_z, axis=1, kind="stable")[:, :n_reasons]
    # Python floats: formatting and comparing numpy scalars one by one is several times slower
    raw_values = raw.to_numpy().tolist()
    typical_values = typical_raw.tolist()
    formatters = [_formatter(c, currency) for c in columns]
    top_z = np.take_along_axis(abs_z, order, axis=1)
    n_kept = (top_z >= min_abs_z).cumprod(axis=1).sum(axis=1)  # leading reasons over the threshold
    contradicted = contradicted_claims(raw, group, names) if names else np.zeros(raw.shape, dtype=bool)
    # a value the clusterer imputed is not quoted (there is no raw value to quote)
    contradicted &= ~np.isnan(raw.to_numpy())
    has_contradiction = contradicted.any(axis=1).tolist()
    reasons: list[str] = []
    reason_features: list[str] = []
    for i, (row_order, kept) in enumerate(zip(order.tolist(), n_kept.tolist(), strict=True)):
        values, typical = raw_values[i], typical_values[i]
        if has_contradiction[i]:
            # the member's own facts that contradict the segment's name first, then the usual reasons
            unlike = np.flatnonzero(contradicted[i]).tolist()[:n_reasons]
            rest = [j for j in row_order[:kept] if j not in unlike][: n_reasons - len(unlike)]
            phrases = [f"{formatters[j](values[j], typical[j])}, {UNLIKE}" for j in unlike]
            reasons.append("; ".join(phrases + [formatters[j](values[j], typical[j]) for j in rest]))
            reason_features.append(",".join(columns[j] for j in unlike + rest))
            continue
        if not kept:
            reasons.append(TYPICAL)
            reason_features.append("")
            continue
        chosen = row_order[:kept]
        reasons.append("; ".join(formatters[j](values[j], typical[j]) for j in chosen))
        reason_features.append(",".join(columns[j] for j in chosen))
    return pd.DataFrame({"reason": reasons, "reason_features": reason_features}, index=scaled.index)
