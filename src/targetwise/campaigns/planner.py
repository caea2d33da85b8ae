"""Budget planner: who gets which arm, with a random holdout, from predicted uplift.

Two kinds of plan, one set of rules:

* :func:`plan_campaign` from conversion uplift (a probability difference): expected incremental
  profit per customer is ``uplift[arm] * value_per_conversion - contact_cost[arm]``;
* :func:`plan_value_campaign` from **value uplift** (incremental margin per customer, currency,
  e.g. a value learner's incremental revenue times the margin share): expected incremental profit
  is ``incremental_margin[arm] - contact_cost[customer, arm]``, with a cost that may differ by
  customer and arm (a discount's cost scales with the customer's basket).

Costs are one number, one per arm (a mapping), or one per customer and arm (a DataFrame indexed
by customer with one column per arm).

1. Each customer's candidate arm is the one with the highest expected profit
   among arms with **positive** predicted uplift. A customer with no positive
   arm is never contacted (reason ``negative_uplift``, the "sleeping dogs", or
   ``no_uplift`` when the best is exactly 0).
2. Candidates are ranked by expected profit; the **profit curve** gives the
   cumulative cost, incremental conversions and profit at every contact depth.
3. The chosen depth maximises expected profit subject to ``budget`` (total
   contact cost, currency of ``contact_cost``) and ``max_contacts``.
4. A random **holdout** of ``holdout_fraction`` of that would-be-contacted set
   is drawn *before* contacting and left alone, so the campaign can later be
   measured as treated minus holdout (:func:`~targetwise.campaigns.measurement.measure_campaign`).
   Holding out only removes contacts, so the budget still holds.

Expected figures cover the customers actually contacted (holdout excluded).
Their interval comes from ``uplift_lower``/``uplift_upper`` when given (summing
each customer's bounds: conservative, as it assumes the errors move together),
else from a bootstrap over the contacted customers (1,000 resamples; it
reflects how much the totals depend on which customers of this kind are
contacted, not model error).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from targetwise.errors import ConfigError, DataValidationError

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["CampaignPlan", "plan_campaign", "plan_value_campaign", "plot_profit_curve"]

HOLDOUT = "holdout"
NOT_CONTACTED = "not_contacted"
_N_BOOTSTRAP = 1000


@dataclass(frozen=True)
class CampaignPlan:
    """A campaign decision.

    ``assignments`` (index = customer): ``action`` (an arm label, ``"holdout"``
    or ``"not_contacted"``), ``arm`` (candidate arm, also for holdout), ``reason``
    (``contact``, ``holdout``, ``negative_uplift``, ``no_uplift``,
    ``unprofitable``, ``over_budget``, ``over_max_contacts``), ``rank`` (1 =
    best, candidates only), ``predicted_uplift`` and ``expected_profit`` for the
    candidate arm. ``profit_curve`` (one row per depth, 0..n candidates):
    ``depth, contact_fraction, cost, incremental_conversions, incremental_value,
    profit, feasible``. Money is in the units of ``contact_cost`` and
    ``value_per_conversion``.
    """

    assignments: pd.DataFrame
    profit_curve: pd.DataFrame
    chosen_depth: int
    n_contacted: int
    n_holdout: int
    total_cost: float
    expected_incremental_conversions: float | None
    incremental_conversions_interval: tuple[float, float] | None
    expected_profit: float
    profit_interval: tuple[float, float]
    interval_method: str
    confidence: float
    outcome: str = "conversions"
    expected_incremental_value: float = 0.0
    incremental_value_interval: tuple[float, float] = (0.0, 0.0)

    def contacted(self) -> pd.DataFrame:
        """Rows of customers to contact, with their arm."""
        return self.assignments[~self.assignments["action"].isin([HOLDOUT, NOT_CONTACTED])]


def _as_frame(uplift: pd.Series | pd.DataFrame, name: str) -> pd.DataFrame:
    if isinstance(uplift, pd.Series):
        frame = uplift.to_frame(uplift.name if uplift.name is not None else "treatment")
    elif isinstance(uplift, pd.DataFrame):
        frame = uplift
    else:
        raise DataValidationError(
            f"{name} must be a pandas Series (one arm) or DataFrame (one column per arm), got {type(uplift).__name__}",
            fix="pass learner.predict(X) wrapped in a Series/DataFrame indexed by customer_id",
        )
    if frame.empty:
        raise DataValidationError(f"{name} is empty", fix="pass at least one customer")
    if not frame.index.is_unique:
        raise DataValidationError(
            f"{name} has {int(frame.index.duplicated().sum())} duplicated customer id(s) in its index",
            fix="index by a unique customer_id",
        )
    values = frame.to_numpy(dtype=np.float64, na_value=np.nan)
    if not np.isfinite(values).all():
        raise DataValidationError(
            f"{name} has {int((~np.isfinite(values)).sum())} missing or infinite value(s)",
            fix="predict uplift for every customer and arm",
        )
    return frame.astype(np.float64)


def _cost_matrix(
    contact_cost: float | Mapping[Any, float] | pd.Series | pd.DataFrame, arms: list[Any], index: pd.Index
) -> np.ndarray:
    """Contact cost per customer (row) and arm (column) from one number, one per arm or one per both."""
    if isinstance(contact_cost, pd.DataFrame):
        missing_arms = [arm for arm in arms if arm not in contact_cost.columns]
        if missing_arms:
            raise ConfigError(f"contact_cost lacks arm(s) {missing_arms}", fix="give a cost column for every arm")
        missing = index.difference(contact_cost.index)
        if len(missing):
            raise DataValidationError(
                f"contact_cost lacks {len(missing)} customer(s), e.g. {missing[0]!r}",
                fix="give a contact cost for every customer and arm",
            )
        costs = contact_cost.reindex(index=index, columns=arms).to_numpy(dtype=np.float64, na_value=np.nan)
    elif isinstance(contact_cost, (Mapping, pd.Series)):
        missing_arms = [arm for arm in arms if arm not in contact_cost]
        if missing_arms:
            raise ConfigError(f"contact_cost lacks arm(s) {missing_arms}", fix="give a cost for every arm")
        costs = np.tile(np.array([float(contact_cost[arm]) for arm in arms]), (len(index), 1))
    else:
        costs = np.full((len(index), len(arms)), float(contact_cost))
    if not np.isfinite(costs).all() or (costs < 0).any():
        bad = costs[~(np.isfinite(costs) & (costs >= 0))]
        raise ConfigError(
            f"contact_cost must be finite and >= 0; {bad.size} value(s) are not, e.g. {bad[0]!r}",
            fix="pass a non-negative cost per contact",
        )
    return costs


def _per_customer_value(value: float | pd.Series, index: pd.Index) -> np.ndarray:
    if isinstance(value, pd.Series):
        missing = index.difference(value.index)
        if len(missing):
            raise DataValidationError(
                f"value_per_conversion lacks {len(missing)} customer(s), e.g. {missing[0]!r}",
                fix="give a value (e.g. CLV) for every customer in uplift",
            )
        values = value.reindex(index).to_numpy(dtype=np.float64, na_value=np.nan)
    else:
        values = np.full(len(index), float(value))
    if not np.isfinite(values).all() or (values < 0).any():
        raise DataValidationError(
            "value_per_conversion must be finite and >= 0 for every customer",
            fix="fill missing values (e.g. with the average order margin) and clip refunds upstream",
        )
    return values


def plan_campaign(
    uplift: pd.Series | pd.DataFrame,
    *,
    contact_cost: float | Mapping[Any, float] | pd.Series | pd.DataFrame,
    value_per_conversion: float | pd.Series,
    budget: float | None = None,
    max_contacts: int | None = None,
    holdout_fraction: float = 0.10,
    uplift_lower: pd.Series | pd.DataFrame | None = None,
    uplift_upper: pd.Series | pd.DataFrame | None = None,
    confidence: float = 0.95,
    random_state: int | None = None,
) -> CampaignPlan:
    """Choose whom to contact with which arm to maximise expected incremental profit.

    ``uplift``: predicted uplift (probability difference) per customer (index)
    and arm (columns; a Series is one arm named by the Series name).
    ``contact_cost``: cost per contact, scalar, per arm or per customer and arm.
    ``value_per_conversion``: scalar margin or per-customer value such as CLV. See the
    module docstring for the rules.
    """
    frame = _as_frame(uplift, "uplift")
    values = _per_customer_value(value_per_conversion, frame.index)
    return _plan(
        frame, values, contact_cost, outcome="conversions", budget=budget, max_contacts=max_contacts,
        holdout_fraction=holdout_fraction, uplift_lower=uplift_lower, uplift_upper=uplift_upper,
        confidence=confidence, random_state=random_state,
    )


def plan_value_campaign(
    incremental_margin: pd.Series | pd.DataFrame,
    *,
    contact_cost: float | Mapping[Any, float] | pd.Series | pd.DataFrame,
    budget: float | None = None,
    max_contacts: int | None = None,
    holdout_fraction: float = 0.10,
    margin_lower: pd.Series | pd.DataFrame | None = None,
    margin_upper: pd.Series | pd.DataFrame | None = None,
    confidence: float = 0.95,
    random_state: int | None = None,
) -> CampaignPlan:
    """Whom to contact with which arm for the most expected incremental profit, from value uplift.

    ``incremental_margin``: predicted incremental margin per customer (index) and arm (columns),
    in currency (a value learner's incremental revenue times the margin share). Expected
    incremental profit = ``incremental_margin - contact_cost``; a customer whose best arm's expected
    profit is 0 or less is never contacted (reasons ``negative_uplift`` when no arm adds margin,
    ``unprofitable`` when the cost eats it). ``contact_cost``: as :func:`plan_campaign`, including a
    DataFrame of one cost per customer and arm. ``margin_lower/upper``: per-customer bounds of
    ``incremental_margin`` for the interval (else a bootstrap over the contacted customers).
    """
    frame = _as_frame(incremental_margin, "incremental_margin")
    return _plan(
        frame, np.ones(len(frame)), contact_cost, outcome="margin", budget=budget, max_contacts=max_contacts,
        holdout_fraction=holdout_fraction, uplift_lower=margin_lower, uplift_upper=margin_upper,
        confidence=confidence, random_state=random_state,
    )


def _plan(
    frame: pd.DataFrame,
    values: np.ndarray,
    contact_cost: float | Mapping[Any, float] | pd.Series | pd.DataFrame,
    *,
    outcome: str,
    budget: float | None,
    max_contacts: int | None,
    holdout_fraction: float,
    uplift_lower: pd.Series | pd.DataFrame | None,
    uplift_upper: pd.Series | pd.DataFrame | None,
    confidence: float,
    random_state: int | None,
) -> CampaignPlan:
    arms = list(frame.columns)
    margin = outcome == "margin"
    if not 0 <= holdout_fraction <= 0.9:
        raise ConfigError(
            f"holdout_fraction must lie in [0, 0.9], got {holdout_fraction!r}",
            fix="pass e.g. holdout_fraction=0.1",
        )
    if budget is not None and not (np.isfinite(budget) and budget >= 0):
        raise ConfigError(f"budget must be >= 0, got {budget!r}", fix="pass a non-negative budget or None")
    if max_contacts is not None and (
        isinstance(max_contacts, bool) or not isinstance(max_contacts, (int, np.integer)) or max_contacts < 0
    ):
        raise ConfigError(
            f"max_contacts must be a non-negative integer, got {max_contacts!r}",
            fix="pass e.g. max_contacts=1000",
        )
    if not 0 < confidence < 1:
        raise ConfigError(
            f"confidence must lie in (0, 1), got {confidence!r}", fix="pass e.g. confidence=0.95"
        )
    cost_matrix = _cost_matrix(contact_cost, arms, frame.index)
    bounds = None
    if (uplift_lower is None) != (uplift_upper is None):
        raise ConfigError("pass both uplift_lower and uplift_upper, or neither", fix="give both bounds")
    if uplift_lower is not None and uplift_upper is not None:
        lower = _as_frame(uplift_lower, "uplift_lower").reindex(index=frame.index, columns=arms)
        upper = _as_frame(uplift_upper, "uplift_upper").reindex(index=frame.index, columns=arms)
        if lower.isna().any().any() or upper.isna().any().any():
            raise DataValidationError(
                "uplift_lower/uplift_upper must cover every customer and arm of uplift",
                fix="align the bounds",
            )
        bounds = (lower.to_numpy(), upper.to_numpy())

    effects = frame.to_numpy()
    profit = effects * values[:, None] - cost_matrix
    # Only arms with positive uplift are eligible; among them the most profitable wins.
    eligible_profit = np.where(effects > 0, profit, -np.inf)
    best = np.argmax(eligible_profit, axis=1)
    has_positive = (effects > 0).any(axis=1)
    rows = np.arange(len(frame))
    best_uplift = np.where(has_positive, effects[rows, best], effects.max(axis=1))
    best_profit = np.where(has_positive, profit[rows, best], np.nan)
    best_cost = cost_matrix[rows, best]

    candidates = np.flatnonzero(has_positive)
    order = candidates[np.lexsort((candidates, -best_profit[candidates]))]
    cum_cost = np.r_[0.0, np.cumsum(best_cost[order])]
    cum_conv = np.r_[0.0, np.cumsum(best_uplift[order])]
    cum_value = np.r_[0.0, np.cumsum((best_uplift * values)[order])]
    cum_profit = cum_value - cum_cost
    depth = np.arange(len(order) + 1)
    feasible = np.ones(len(depth), dtype=bool)
    if budget is not None:
        feasible &= cum_cost <= budget + 1e-9
    if max_contacts is not None:
        feasible &= depth <= max_contacts
    chosen = int(np.argmax(np.where(feasible, cum_profit, -np.inf)))  # first max: fewest contacts

    rng = np.random.default_rng(random_state)
    selected = order[:chosen]
    n_holdout = round(holdout_fraction * chosen)
    held = rng.choice(selected, size=n_holdout, replace=False) if n_holdout else np.array([], dtype=int)
    contacted = np.setdiff1d(selected, held)

    action = np.full(len(frame), NOT_CONTACTED, dtype=object)
    reason = np.where(best_uplift < 0, "negative_uplift", "no_uplift").astype(object)
    rank = np.full(len(frame), np.nan)
    rank[order] = np.arange(1, len(order) + 1)
    # Past the chosen depth: feasibility is monotone in depth and candidates are
    # sorted by profit, so a profitable customer left out broke a limit.
    for position, customer in enumerate(order[chosen:], start=chosen + 1):
        if best_profit[customer] <= 0:
            reason[customer] = "unprofitable"
        elif budget is not None and cum_cost[position] > budget + 1e-9:
            reason[customer] = "over_budget"
        else:
            reason[customer] = "over_max_contacts"
    arm_labels = np.asarray(arms, dtype=object)[best]
    action[contacted] = arm_labels[contacted]
    reason[contacted] = "contact"
    action[held] = HOLDOUT
    reason[held] = HOLDOUT
    assignments = pd.DataFrame(
        {
            "action": action,
            "arm": np.where(has_positive, arm_labels, None),
            "reason": reason,
            "rank": rank,
            "predicted_uplift": best_uplift,
            "expected_profit": best_profit,
        },
        index=frame.index,
    )

    conv = best_uplift[contacted]
    worth = conv * values[contacted]
    gain = worth - best_cost[contacted]
    alpha = 1 - confidence
    if bounds is not None:
        low_effect = bounds[0][contacted, best[contacted]]
        high_effect = bounds[1][contacted, best[contacted]]
        conv_interval = (float(low_effect.sum()), float(high_effect.sum()))
        value_interval = (float((low_effect * values[contacted]).sum()), float((high_effect * values[contacted]).sum()))
        profit_interval = (
            float((low_effect * values[contacted] - best_cost[contacted]).sum()),
            float((high_effect * values[contacted] - best_cost[contacted]).sum()),
        )
        method = "learner_bounds"
    elif len(contacted):
        draws = rng.integers(0, len(contacted), size=(_N_BOOTSTRAP, len(contacted)))
        conv_boot = conv[draws].sum(axis=1)
        gain_boot = gain[draws].sum(axis=1)
        conv_interval = tuple(float(q) for q in np.quantile(conv_boot, [alpha / 2, 1 - alpha / 2]))
        value_interval = tuple(float(q) for q in np.quantile(worth[draws].sum(axis=1), [alpha / 2, 1 - alpha / 2]))
        profit_interval = tuple(float(q) for q in np.quantile(gain_boot, [alpha / 2, 1 - alpha / 2]))
        method = "bootstrap_customers"
    else:
        conv_interval, profit_interval, method = (0.0, 0.0), (0.0, 0.0), "none_contacted"
        value_interval = (0.0, 0.0)

    curve = pd.DataFrame(
        {
            "depth": depth,
            "contact_fraction": depth / len(frame),
            "cost": cum_cost,
            "incremental_margin" if margin else "incremental_conversions": cum_conv,
            "incremental_value": cum_value,
            "profit": cum_profit,
            "feasible": feasible,
        }
    )
    return CampaignPlan(
        assignments=assignments,
        profit_curve=curve,
        chosen_depth=chosen,
        n_contacted=len(contacted),
        n_holdout=n_holdout,
        total_cost=float(best_cost[contacted].sum()),
        expected_incremental_conversions=None if margin else float(conv.sum()),
        incremental_conversions_interval=None if margin else conv_interval,  # type: ignore[arg-type]
        expected_profit=float(gain.sum()),
        profit_interval=profit_interval,  # type: ignore[arg-type]
        interval_method=method,
        confidence=confidence,
        outcome=outcome,
        expected_incremental_value=float(worth.sum()),
        incremental_value_interval=value_interval,  # type: ignore[arg-type]
    )


def plot_profit_curve(plan: CampaignPlan, *, ax: Axes | None = None) -> Axes:
    """Expected profit by contact depth, infeasible depths dashed, the chosen depth marked. Returns the Axes."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(6, 4))
    curve = plan.profit_curve
    feasible = curve["feasible"].to_numpy()
    ax.plot(curve["depth"], np.where(feasible, curve["profit"], np.nan), label="expected profit")
    ax.plot(
        curve["depth"],
        np.where(feasible, np.nan, curve["profit"]),
        linestyle="--",
        color="grey",
        label="over budget / max contacts",
    )
    ax.axvline(plan.chosen_depth, color="black", linestyle=":", label=f"chosen depth {plan.chosen_depth}")
    ax.set_xlabel("customers contacted (best expected profit first, before holdout)")
    ax.set_ylabel("expected incremental profit")
    ax.legend(loc="best")
    return ax
