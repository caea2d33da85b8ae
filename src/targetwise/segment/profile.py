"""Segment profiles and their plain-language names and descriptions.

A profile says, per segment: how many customers (and what share), what share
of revenue (``monetary_total``), and the mean and median of the key features
next to the overall median.

Names describe the segment's *typical* member, from robust statistics only, so
that a few extreme members cannot give a segment a name most of its members do
not fit. In the scaled space of the clusterer, a feature's deviation is

    (segment median - overall median) / (overall IQR / 1.349)

(the overall standard deviation where the IQR is 0). The two features with the
largest deviation are read through :data:`FEATURE_WORDS`: e.g. high
``frequency`` then high ``monetary_total`` gives "Frequent high spenders".
Deviations under ``min_deviation`` (0.3) are not named; a segment with no such
deviation is "Typical customers". A claim in absolute terms needs the members'
own values: low ``frequency`` is "One-off" / "one-off buyers" only when at least
half the members bought exactly once (the share is computed from ``features``),
"Infrequent" / "infrequent buyers" otherwise. Duplicates get the third feature's
adjective, then the segment id, so every name is unique. Everything is
deterministic: same table, same labels, same names.

:func:`name_claims` reads back what a name claims (feature, high or low), also for
a name inherited from an earlier run; :func:`targetwise.segment.reasons.explain_customers`
uses it so that a member whose own values contradict the name is told so.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from targetwise.segment._validation import customer_frame, numeric_matrix

__all__ = [
    "FEATURE_WORDS",
    "KEY_FEATURES",
    "NOISE_NAME",
    "ONE_OFF_WORDS",
    "Claim",
    "name_claims",
    "name_segments",
    "profile_segments",
]

NOISE_NAME = "Unclustered (noise)"

#: Columns summarised in profiles when present.
KEY_FEATURES: tuple[str, ...] = (
    "recency_days",
    "frequency",
    "monetary_total",
    "monetary_mean",
    "ipi_mean_days",
    "tenure_days",
    "returns_rate",
    "distinct_products",
    "basket_size_mean",
)

#: feature -> (adjective if high, noun if high, adjective if low, noun if low)
FEATURE_WORDS: dict[str, tuple[str, str, str, str]] = {
    "recency_days": ("Lapsed", "lapsed customers", "Recent", "recent buyers"),
    "frequency": ("Frequent", "regulars", "Infrequent", "infrequent buyers"),
    "monetary_total": ("High-value", "high spenders", "Low-value", "low spenders"),
    "monetary_mean": ("Big-ticket", "big-ticket buyers", "Low-ticket", "small-order buyers"),
    "tenure_days": ("Long-standing", "veterans", "New", "newcomers"),
    "returns_rate": ("Return-prone", "returners", "Low-return", "keepers"),
    "returns_value": ("Return-heavy", "returners", "Low-return", "keepers"),
    "distinct_products": ("Wide-range", "explorers", "Narrow-range", "specialists"),
    "distinct_categories": ("Multi-category", "cross-shoppers", "Single-category", "category loyalists"),
    "basket_size_mean": ("Bulk", "bulk buyers", "Small-basket", "light buyers"),
    "lines_per_order_mean": ("Long-list", "list shoppers", "Short-list", "quick shoppers"),
    "ipi_mean_days": ("Slow-cycle", "occasional buyers", "Fast-cycle", "habitual buyers"),
    "orders_30d": ("Active", "active buyers", "Quiet", "quiet customers"),
    "orders_90d": ("Active", "active buyers", "Quiet", "quiet customers"),
    "orders_365d": ("Active", "active buyers", "Quiet", "quiet customers"),
    "trend_90d": ("Growing", "growing customers", "Declining", "declining customers"),
}


#: Low ``frequency`` words for a segment where at least half the members bought exactly once.
ONE_OFF_WORDS: tuple[str, str] = ("One-off", "one-off buyers")


def _words(feature: str, high: bool, *, one_off: bool = False) -> tuple[str, str]:
    if feature == "frequency" and not high and one_off:
        return ONE_OFF_WORDS
    if feature in FEATURE_WORDS:
        words = FEATURE_WORDS[feature]
        return (words[0], words[1]) if high else (words[2], words[3])
    label = feature.replace("_", " ")
    level = "High" if high else "Low"
    return f"{level}-{label}", f"{level.lower()}-{label} customers"


#: (feature, high?, the words of the name that claim it)
Claim = tuple[str, bool, str]


def name_claims(name: str, features: Iterable[str]) -> list[Claim]:
    """What a segment name claims about ``features``: ``(feature, high, word)`` per claim found.

    Reads the adjectives and nouns of :data:`FEATURE_WORDS` (and :data:`ONE_OFF_WORDS`)
    back out of the name, as whole words, case-insensitively, in the order of
    ``features`` (one claim per feature and direction, the first word found);
    words shared by several features (e.g. "returners") claim each of those given. Works on any name (an inherited one too); a hand-written name
    with none of the words claims nothing.
    """
    text = name.lower()
    claims: list[Claim] = []
    for feature in features:
        options = [(word, True) for word in _words(feature, True)] + [
            (word, False) for word in _words(feature, False)
        ]
        if feature == "frequency":
            options += [(word, False) for word in ONE_OFF_WORDS]
        found: set[bool] = set()
        for word, high in options:
            if high not in found and re.search(rf"(?<![\w-]){re.escape(word.lower())}(?![\w-])", text):
                claims.append((feature, high, word))
                found.add(high)
    return claims


def _robust_scale(scaled: pd.DataFrame) -> pd.Series:
    """IQR / 1.349 per column (the sd of a normal), the sd where the IQR is 0, else 1."""
    iqr = (scaled.quantile(0.75) - scaled.quantile(0.25)) / 1.349
    sd = scaled.std(ddof=0)
    return iqr.where(iqr > 0, sd).where(lambda v: v > 0, 1.0)


def name_segments(
    scaled: pd.DataFrame,
    labels: pd.Series,
    *,
    min_deviation: float = 0.3,
    reserved: Sequence[str] = (),
    features: pd.DataFrame | None = None,
) -> dict[int, str]:
    """Plain-language, unique names per cluster id from the deviations of its median.

    ``scaled`` is the clusterer's scaled matrix (``scaled_``), ``labels`` the
    cluster per customer (same index). Noise (-1) is :data:`NOISE_NAME`. Names in
    ``reserved`` (e.g. inherited from a previous run) are not reused. ``features``
    (the raw feature table, customer_id column or index) gives the members' own
    order counts for the "One-off" test; without it low frequency is "Infrequent".
    """
    labels = labels.reindex(scaled.index)
    group = labels.to_numpy()
    overall_median = scaled.median()
    overall_scale = _robust_scale(scaled)
    medians = scaled.groupby(group).median()
    one_off_share = pd.Series(dtype=float)
    if features is not None:
        frame = customer_frame(features)
        if "frequency" in frame.columns:
            orders = numeric_matrix(frame.reindex(scaled.index), ["frequency"])["frequency"]
            one_off_share = (orders <= 1).groupby(group).mean()
    used = set(reserved)
    names: dict[int, str] = {}
    for cluster in sorted(medians.index):
        if cluster == -1:
            names[-1] = NOISE_NAME
            continue
        dev = (medians.loc[cluster] - overall_median) / overall_scale
        # stable order: largest |deviation| first, ties by column order
        order = sorted(range(len(dev)), key=lambda j: (-abs(dev.iloc[j]), j))
        strong = [j for j in order if abs(dev.iloc[j]) >= min_deviation and dev.iloc[j] != 0]
        parts = [(scaled.columns[j], bool(dev.iloc[j] > 0)) for j in strong]
        one_off = bool(one_off_share.get(cluster, 0.0) >= 0.5)

        def words(part: tuple[str, bool], one_off: bool = one_off) -> tuple[str, str]:
            return _words(*part, one_off=one_off)

        if not parts:
            name = "Typical customers"
        elif len(parts) == 1:
            name = f"{words(parts[0])[0]} customers"
        else:
            name = f"{words(parts[0])[0]} {words(parts[1])[1]}"
        if name in used and len(parts) > 2:
            name = f"{name}, {words(parts[2])[0].lower()}"
        if name in used:
            name = f"{name} (segment {cluster})"
        used.add(name)
        names[int(cluster)] = name
    return names


def _money(value: float, currency: str) -> str:
    """'£326', '-£12' (or '326' without a currency)."""
    return f"{'-' if value < 0 else ''}{currency}{abs(value):,.0f}"


def _share(value: float) -> str:
    if not np.isfinite(value):
        return "n/a"
    if 0 < value < 0.01:
        return "<1%"
    return f"{value:.0%}"


def profile_segments(
    features: pd.DataFrame,
    labels: pd.Series,
    *,
    names: Mapping[object, str] | None = None,
    key_features: Sequence[str] | None = None,
    revenue_col: str = "monetary_total",
    currency: str = "",
) -> pd.DataFrame:
    """One row per segment: size, shares, key-feature means/medians, name and description
    (amounts in the description carry ``currency``, e.g. "£").

    Parameters
    ----------
    features:
        The customer feature table (customer_id column or index).
    labels:
        Segment per customer (cluster id or RFM segment name), indexed by customer_id.
    names:
        Segment -> display name; defaults to the label itself as text.
    key_features:
        Columns to summarise; default :data:`KEY_FEATURES` present in the table.

    Returns
    -------
    DataFrame indexed by segment with ``name, description, n_customers,
    customer_share, revenue_share`` and for each key feature ``<f>_mean``,
    ``<f>_median``, ``<f>_overall`` (median over all customers) and ``<f>_vs_overall``
    (segment median / overall median).
    Money is in the shop's currency, days in days. Revenue is ``revenue_col`` with
    customers whose net spend is negative (returns exceed purchases) counted as 0.
    Sorted by size, largest first.
    """
    frame = customer_frame(features)
    labels = labels.copy()
    labels.index = labels.index.astype(str)
    labels = labels.reindex(frame.index)
    if labels.isna().any():
        from targetwise.errors import DataValidationError

        raise DataValidationError(
            f"{int(labels.isna().sum())} customer(s) of the feature table have no segment label",
            fix="pass labels for every customer (same customer_id index as the features)",
        )
    keys = [c for c in (key_features or KEY_FEATURES) if c in frame.columns]
    values = numeric_matrix(frame, keys)
    group = labels.to_numpy()
    n_total = len(frame)
    revenue = (
        numeric_matrix(frame, [revenue_col])[revenue_col].fillna(0.0)
        if revenue_col in frame.columns
        else None
    )
    total_revenue = float(revenue.clip(lower=0).sum()) if revenue is not None else float("nan")

    grouped = values.groupby(group)
    # in segment order, so the stable sort by size below breaks ties by segment id, not by hash order
    sizes = pd.Series(group).value_counts(sort=False).sort_index()
    table = pd.DataFrame(index=pd.Index(sizes.index, name="segment"))
    table["n_customers"] = sizes.astype("int64")
    table["customer_share"] = table["n_customers"] / n_total
    if revenue is not None and total_revenue > 0:
        table["revenue_share"] = revenue.clip(lower=0).groupby(group).sum() / total_revenue
    else:
        table["revenue_share"] = np.nan
    overall_median = values.median()
    means, medians = grouped.mean(), grouped.median()
    for col in keys:
        table[f"{col}_mean"] = means[col]
        table[f"{col}_median"] = medians[col]
        base = overall_median[col]
        table[f"{col}_overall"] = base
        table[f"{col}_vs_overall"] = medians[col] / base if base and np.isfinite(base) else np.nan
    table["name"] = [str(names.get(s, s)) if names else str(s) for s in table.index]
    table["description"] = [_describe(row, currency) for _, row in table.iterrows()]
    table = table.sort_values(["n_customers"], ascending=False, kind="stable")
    front = ["name", "description", "n_customers", "customer_share", "revenue_share"]
    return table[front + [c for c in table.columns if c not in front]]


def _describe(row: pd.Series, currency: str = "") -> str:
    """'<name>: 6% of customers, 38% of revenue; typically buy every 21 days, ...' (medians)."""
    parts = [f"{_share(row['customer_share'])} of customers"]
    if np.isfinite(row["revenue_share"]):
        parts.append(f"{_share(row['revenue_share'])} of revenue")
    typical = []
    repeat = row.get("frequency_median", np.nan)
    # the purchase cycle only describes a segment whose typical customer has bought more than once
    if np.isfinite(row.get("ipi_mean_days_median", np.nan)) and not (np.isfinite(repeat) and repeat < 2):
        typical.append(f"buy every {row['ipi_mean_days_median']:.0f} days")
    if np.isfinite(row.get("frequency_median", np.nan)):
        orders = row["frequency_median"]
        typical.append(f"{orders:.0f} order{'s' if orders != 1 else ''}")
    if np.isfinite(row.get("monetary_mean_median", np.nan)):
        typical.append(f"{_money(row['monetary_mean_median'], currency)} per order")
    if np.isfinite(row.get("recency_days_median", np.nan)):
        typical.append(f"last order {row['recency_days_median']:.0f} days ago")
    text = f"{row['name']}: " + ", ".join(parts)
    if typical:
        text += "; typically " + ", ".join(typical)
    return text
