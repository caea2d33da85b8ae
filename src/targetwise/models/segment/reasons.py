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
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from targetwise.models.segment._validation import customer_frame, numeric_matrix

__all__ = ["TYPICAL", "describe_feature", "explain_customers"]

TYPICAL = "typical of its segment"

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


def describe_feature(feature: str, value: float, typical: float) -> str:
    """One feature of one customer in words, against the segment's median ``typical``."""
    if feature in _DAYS_TEMPLATES:
        return _DAYS_TEMPLATES[feature].format(v=value, t=typical)
    if feature in _MONEY_VERBS:
        verb = _MONEY_VERBS[feature]
        if typical > 0 and value >= 0:
            return f"{verb} {_ratio(value, typical)} the segment's median ({value:,.0f} vs {typical:,.0f})"
        return f"{verb} {value:,.0f} vs {typical:,.0f} typical"
    if feature in _COUNT_TEMPLATES:
        return _COUNT_TEMPLATES[feature].format(v=value, t=typical)
    if (
        feature in _RATE_TEMPLATES
        or feature.startswith("channel_share_")
        or feature.endswith(("_share", "_rate"))
    ):
        template = _RATE_TEMPLATES.get(feature, feature.replace("_", " ") + " {v:.0%} vs {t:.0%} typical")
        return template.format(v=value, t=typical)
    return f"{feature.replace('_', ' ')} {value:.3g} vs {typical:.3g} typical"


def explain_customers(
    features: pd.DataFrame,
    labels: pd.Series,
    *,
    scaled: pd.DataFrame,
    n_reasons: int = 3,
    min_abs_z: float = 0.5,
) -> pd.DataFrame:
    """Per customer, the ``n_reasons`` features that most set it apart within its segment.

    Parameters
    ----------
    features:
        The raw customer feature table (values quoted in the text).
    labels:
        Segment per customer, indexed by customer_id (noise -1 is explained against
        the other noise customers).
    scaled:
        The clusterer's scaled matrix (``BehaviourClusterer.scaled_`` or ``transform``).

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
    raw_values = raw.to_numpy()
    reasons: list[str] = []
    reason_features: list[str] = []
    for i in range(len(order)):
        phrases, names = [], []
        for j in order[i]:
            if abs_z[i, j] < min_abs_z:
                break
            phrases.append(describe_feature(columns[j], raw_values[i, j], typical_raw[i, j]))
            names.append(columns[j])
        reasons.append("; ".join(phrases) if phrases else TYPICAL)
        reason_features.append(",".join(names))
    return pd.DataFrame({"reason": reasons, "reason_features": reason_features}, index=scaled.index)
