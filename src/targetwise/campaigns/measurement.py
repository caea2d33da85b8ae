"""Post-campaign measurement: incremental conversions and revenue, treated minus holdout.

Input: one row per customer exposed to the campaign decision, with columns
``customer_id``, ``arm`` (an arm label, or ``control_label`` for the random
holdout), ``converted`` (0/1), ``revenue`` (per customer over the measurement
window, any currency) and optionally ``segment`` and ``pre_spend`` (each customer's spend
before the send, e.g. over the 90 days before it; 0 for none).

For each treated arm (and each segment, when a ``segment`` column exists):

* **incremental conversion rate** ``p_T - p_C`` with Newcombe's hybrid score
  interval (Newcombe 1998, "Interval estimation for the difference between
  independent proportions", Statistics in Medicine 17, method 10: Wilson
  intervals of each rate combined), which keeps its coverage near 0 and 1
  where the Wald interval fails;
* **incremental revenue per customer** ``mean_T - mean_C`` with Welch's
  t interval (unequal variances, Welch-Satterthwaite degrees of freedom);
* **incremental totals**: both differences times the number of treated
  customers, i.e. what the campaign added over not contacting them;
* with ``pre_spend``: both differences again, **CUPED-adjusted** on it
  (:mod:`targetwise.campaigns.cuped`), with Welch intervals and the variance reduction.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from targetwise.campaigns.cuped import cuped_difference
from targetwise.errors import ConfigError, DataValidationError, SchemaError

__all__ = [
    "CampaignMeasurement",
    "measure_campaign",
    "newcombe_interval",
    "welch_interval",
    "wilson_interval",
]

_REQUIRED = ("customer_id", "arm", "converted", "revenue")


@dataclass(frozen=True)
class CampaignMeasurement:
    """``results``: one row per arm (``segment == "all"``) and per arm x segment.

    Columns: ``arm, segment, n_treated, n_control, conversion_rate_treated,
    conversion_rate_control, incremental_conversion_rate, icr_low, icr_high,
    revenue_per_customer_treated, revenue_per_customer_control,
    incremental_revenue_per_customer, irpc_low, irpc_high,
    incremental_conversions, incremental_conversions_low/high,
    incremental_revenue, incremental_revenue_low/high``; with a ``pre_spend`` column also
    ``icr_cuped, icr_cuped_low, icr_cuped_high, icr_variance_reduction`` and the same four
    ``irpc_cuped*`` / ``irpc_variance_reduction`` for revenue per customer (CUPED on pre_spend).
    """

    results: pd.DataFrame
    control_label: Any
    confidence: float


def wilson_interval(successes: int, n: int, *, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a proportion."""
    z = stats.norm.ppf(0.5 + confidence / 2)
    p = successes / n
    denominator = 1 + z**2 / n
    centre = (p + z**2 / (2 * n)) / denominator
    half = z * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / denominator
    return float(centre - half), float(centre + half)


def newcombe_interval(
    successes_t: int, n_t: int, successes_c: int, n_c: int, *, confidence: float = 0.95
) -> tuple[float, float]:
    """Newcombe's hybrid score interval for ``p_T - p_C`` (method 10)."""
    p_t, p_c = successes_t / n_t, successes_c / n_c
    low_t, high_t = wilson_interval(successes_t, n_t, confidence=confidence)
    low_c, high_c = wilson_interval(successes_c, n_c, confidence=confidence)
    difference = p_t - p_c
    return (
        float(difference - np.sqrt((p_t - low_t) ** 2 + (high_c - p_c) ** 2)),
        float(difference + np.sqrt((high_t - p_t) ** 2 + (p_c - low_c) ** 2)),
    )


def welch_interval(
    treated: np.ndarray, control: np.ndarray, *, confidence: float = 0.95
) -> tuple[float, float, float]:
    """Difference of means ``treated - control`` and its Welch t interval: (difference, low, high)."""
    n_t, n_c = len(treated), len(control)
    var_t, var_c = np.var(treated, ddof=1), np.var(control, ddof=1)
    difference = float(np.mean(treated) - np.mean(control))
    se2 = var_t / n_t + var_c / n_c
    if se2 == 0:
        return difference, difference, difference
    dof = se2**2 / ((var_t / n_t) ** 2 / (n_t - 1) + (var_c / n_c) ** 2 / (n_c - 1))
    half = stats.t.ppf(0.5 + confidence / 2, dof) * np.sqrt(se2)
    return difference, float(difference - half), float(difference + half)


def _validate(exposures: pd.DataFrame, control_label: Any) -> pd.DataFrame:
    if not isinstance(exposures, pd.DataFrame):
        raise DataValidationError(
            f"exposures must be a DataFrame, got {type(exposures).__name__}", fix="pass a pandas DataFrame"
        )
    missing = [c for c in _REQUIRED if c not in exposures.columns]
    if missing:
        raise SchemaError(
            f"exposures lacks column(s) {missing}; expected {list(_REQUIRED)} (+ optional 'segment')",
            fix="rename your columns to customer_id, arm, converted, revenue",
        )
    if exposures.empty:
        raise DataValidationError("exposures is empty", fix="pass the campaign's exposure log")
    duplicated = exposures["customer_id"].duplicated()
    if duplicated.any():
        raise DataValidationError(
            f"{int(duplicated.sum())} customer_id(s) appear more than once, e.g. "
            f"{exposures.loc[duplicated, 'customer_id'].iloc[0]!r}",
            fix="keep one row per customer (a customer belongs to one arm)",
        )
    converted = exposures["converted"]
    if not pd.api.types.is_numeric_dtype(converted) or not converted.isin([0, 1]).all():
        raise DataValidationError(
            "column 'converted' must be 0/1 for every row", fix="encode conversions as 0/1"
        )
    revenue = pd.to_numeric(exposures["revenue"], errors="coerce")
    if revenue.isna().any() or not np.isfinite(revenue.to_numpy(dtype=float)).all():
        raise DataValidationError(
            f"column 'revenue' has {int(revenue.isna().sum())} missing or non-numeric value(s)",
            fix="use 0 for customers who spent nothing",
        )
    if exposures["arm"].isna().any():
        raise DataValidationError("column 'arm' has missing labels", fix="label every row with its arm")
    if "pre_spend" in exposures.columns:
        pre = pd.to_numeric(exposures["pre_spend"], errors="coerce")
        if pre.isna().any() or not np.isfinite(pre.to_numpy(dtype=float)).all():
            raise DataValidationError(
                f"column 'pre_spend' has {int(pre.isna().sum())} missing or non-numeric value(s)",
                fix="use 0 for customers who spent nothing before the send",
            )
        exposures = exposures.assign(pre_spend=pre.astype(float))
    if not (exposures["arm"] == control_label).any():
        raise DataValidationError(
            f"no row has arm == control_label {control_label!r}; arms present: "
            f"{sorted(map(str, exposures['arm'].unique()))}",
            fix="pass control_label=<the holdout's label>",
        )
    return exposures.assign(revenue=revenue.astype(float), converted=converted.astype(int))


def _compare(treated: pd.DataFrame, control: pd.DataFrame, confidence: float) -> dict[str, float]:
    n_t, n_c = len(treated), len(control)
    s_t, s_c = int(treated["converted"].sum()), int(control["converted"].sum())
    icr = s_t / n_t - s_c / n_c
    icr_low, icr_high = newcombe_interval(s_t, n_t, s_c, n_c, confidence=confidence)
    rev_t, rev_c = treated["revenue"].to_numpy(), control["revenue"].to_numpy()
    irpc, irpc_low, irpc_high = welch_interval(rev_t, rev_c, confidence=confidence)
    cuped: dict[str, float] = {}
    if "pre_spend" in treated.columns:
        both = pd.concat([treated, control])
        flag = np.r_[np.ones(n_t, dtype=bool), np.zeros(n_c, dtype=bool)]
        for prefix, column in (("icr", "converted"), ("irpc", "revenue")):
            adjusted = cuped_difference(
                both[column].to_numpy(dtype=float), both["pre_spend"].to_numpy(), flag, confidence=confidence
            )
            cuped.update({
                f"{prefix}_cuped": adjusted.effect, f"{prefix}_cuped_low": adjusted.ci_low,
                f"{prefix}_cuped_high": adjusted.ci_high, f"{prefix}_variance_reduction": adjusted.variance_reduction,
            })  # fmt: skip
    return {
        "n_treated": n_t,
        "n_control": n_c,
        "conversion_rate_treated": s_t / n_t,
        "conversion_rate_control": s_c / n_c,
        "incremental_conversion_rate": icr,
        "icr_low": icr_low,
        "icr_high": icr_high,
        "revenue_per_customer_treated": float(rev_t.mean()),
        "revenue_per_customer_control": float(rev_c.mean()),
        "incremental_revenue_per_customer": irpc,
        "irpc_low": irpc_low,
        "irpc_high": irpc_high,
        "incremental_conversions": icr * n_t,
        "incremental_conversions_low": icr_low * n_t,
        "incremental_conversions_high": icr_high * n_t,
        "incremental_revenue": irpc * n_t,
        "incremental_revenue_low": irpc_low * n_t,
        "incremental_revenue_high": irpc_high * n_t,
        **cuped,
    }


def measure_campaign(
    exposures: pd.DataFrame, *, control_label: Any = "control", confidence: float = 0.95
) -> CampaignMeasurement:
    """Incremental conversions and revenue of each arm against the holdout, overall and by segment.

    :func:`~targetwise.campaigns.planner.plan_campaign` labels its holdout
    ``"holdout"``: pass ``control_label="holdout"`` when measuring such a plan.

    Every compared group needs at least 2 customers (Welch's variance). A
    segment in which an arm or the holdout has fewer is skipped and listed in
    ``results.attrs["skipped_segments"]``.
    """
    if not 0 < confidence < 1:
        raise ConfigError(
            f"confidence must lie in (0, 1), got {confidence!r}", fix="pass e.g. confidence=0.95"
        )
    frame = _validate(exposures, control_label)
    arms = sorted((a for a in frame["arm"].unique() if a != control_label), key=str)
    if not arms:
        raise DataValidationError(
            "exposures holds only the holdout; no treated arm to measure", fix="include treated rows"
        )
    rows: list[dict[str, Any]] = []
    skipped: list[str] = []
    segments = ["all"] + (sorted(frame["segment"].dropna().unique(), key=str) if "segment" in frame else [])
    for segment in segments:
        part = frame if segment == "all" else frame[frame["segment"] == segment]
        control = part[part["arm"] == control_label]
        for arm in arms:
            treated = part[part["arm"] == arm]
            if len(treated) < 2 or len(control) < 2:
                if segment == "all":
                    raise DataValidationError(
                        f"arm {arm!r} has {len(treated)} and the holdout {len(control)} customer(s); need >= 2 each",
                        fix="measure once more customers have been exposed",
                    )
                skipped.append(f"{segment}/{arm}")
                continue
            rows.append({"arm": arm, "segment": segment, **_compare(treated, control, confidence)})
    results = pd.DataFrame(rows)
    results.attrs["skipped_segments"] = skipped
    return CampaignMeasurement(results=results, control_label=control_label, confidence=confidence)
