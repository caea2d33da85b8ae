"""Use cases: plan a campaign from a run's scores under a budget; measure a campaign afterwards.

One planner for ``targetwise campaign plan``, ``POST /v1/campaigns/plan`` and the UI:
the same request gives the same plan on every surface. A response probability is never
presented as incremental lift: only an uplift model (a randomised campaign's treated vs
holdout) plans for incremental conversions and profit; a response score gives a ranking of
expected responders (``kind`` 'responders') with no incremental or profit figure.

Two incremental plans: ``score='uplift'`` (conversion uplift times a value per conversion) and
``score='value_uplift'`` (the value learner's incremental revenue per customer times ``margin``:
incremental margin in money, ``plan.outcome == 'margin'``), where each customer's contact cost is
``contact_cost + discount_rate * revenue expected from them if contacted`` (a discount's cost
scales with the basket), and nobody with an expected incremental profit of 0 or less is contacted.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd

from targetwise.campaigns.measurement import CampaignMeasurement, measure_campaign
from targetwise.campaigns.planner import (
    HOLDOUT,
    NOT_CONTACTED,
    CampaignPlan,
    plan_campaign,
    plan_value_campaign,
)
from targetwise.errors import ConfigError, DataValidationError, Location, NotFoundError
from targetwise.io import outputs as out
from targetwise.io.audiences import AudienceStore
from targetwise.io.consent import opted_out
from targetwise.io.runs import RunStore
from targetwise.io.workspace import Workspace
from targetwise.usecases.runs import RunData

__all__ = [
    "CHANNEL_PURPOSE",
    "HOW_TO_GET_UPLIFT",
    "RESPONDERS_NOTE",
    "VALUE_NOTE",
    "PlanOutcome",
    "PlanRequest",
    "ResponderRanking",
    "is_value_score",
    "measure_workspace_campaign",
    "plan_from_run",
    "plan_kind",
    "rank_responders",
    "response_scores",
    "uplift_status",
]

#: which consent purpose a contact channel needs (profiling is always required)
CHANNEL_PURPOSE = {"email": "email", "sms": "sms", "ads": "ads"}
Channel = Literal["email", "sms", "ads"]


@dataclass(frozen=True)
class PlanRequest:
    """What to plan.

    ``score``: ``'uplift'`` (every ``uplift_<arm>`` column of the run) or one uplift column
    (``uplift_<arm>``) plans for incremental profit; any other numeric column is a *response*
    probability (e.g. ``p_purchase_30d``) and gives a ranking of expected responders under
    ``budget``/``max_contacts``: no incremental or profit claim, so ``value_per_conversion`` is
    not used. ``value_per_conversion`` (conversion-uplift plans only) is a fixed margin per incremental
    conversion or ``"clv"``: each customer's CLV times ``margin`` (never below 0).
    ``'value_uplift'`` (or ``value_uplift_<arm>``) plans on incremental revenue: ``margin`` is the
    share of revenue that is profit and ``discount_rate`` the share of a contacted customer's
    expected revenue the offer gives away (added to their contact cost)."""

    contact_cost: float
    value_per_conversion: float | Literal["clv"] | None = None
    margin: float = 1.0
    score: str = "uplift"
    budget: float | None = None
    max_contacts: int | None = None
    holdout_fraction: float = 0.10
    channel: Channel = "email"
    audience_id: str | None = None
    random_state: int = 0
    discount_rate: float = 0.0

    @property
    def value(self) -> bool:
        """True for a plan on value uplift (incremental revenue, money) rather than conversions."""
        return is_value_score(self.score)

    @property
    def kind(self) -> PlanKind:
        return plan_kind(self.score)


PlanKind = Literal["incremental", "responders"]

#: how to get an uplift model, said wherever an incremental plan is refused
HOW_TO_GET_UPLIFT = (
    "an uplift model needs a randomised campaign: (1) contact a random share of customers and keep a random "
    "holdout that is not contacted (e.g. `targetwise campaign plan --score p_purchase_30d --max-contacts 2000 "
    "--holdout 0.5 --out plan.csv`); (2) ingest who got which arm, 'control' for the holdout "
    "(`targetwise ingest campaign_exposures exposures.csv`) and the responses (`targetwise ingest responses "
    "responses.csv`); (3) run again (`targetwise run`): the uplift stage fits on that campaign. Until then, "
    "plan on a response score (e.g. p_purchase_30d) for a ranking of expected responders, which claims no "
    "incremental effect"
)
#: what a ranking by a response score is, and is not
RESPONDERS_NOTE = (
    "expected responders (not caused by the campaign): the customers most likely to respond, who would mostly "
    "do so without being contacted; a response probability is not the effect of contacting them, so no "
    "incremental conversions or profit are claimed"
)


def is_value_score(score: str) -> bool:
    """'value_uplift' or one ``value_uplift_<arm>`` column: a plan on incremental revenue."""
    bare = score.removeprefix("uplift.")
    return bare == "value_uplift" or bare.startswith("value_uplift_")


def plan_kind(score: str) -> PlanKind:
    """'incremental' for 'uplift', 'value_uplift' or one of their columns, 'responders' for any other score."""
    bare = score.removeprefix("uplift.")
    return "incremental" if score == "uplift" or bare.startswith("uplift_") or is_value_score(score) else "responders"


def uplift_status(run: RunData) -> tuple[bool, str]:
    """Whether the run has an uplift model, and if not, why (the uplift stage's record) and how to get one."""
    if run.has(out.UPLIFT):
        return True, ""
    record = run.info.stage("uplift")
    if record is None:
        why = "its uplift stage did not run"
    else:
        why = f"its uplift stage {record.status}" + (f" ({'; '.join(record.notes)})" if record.notes else "")
    return False, f"run {run.run_id} has no uplift model: {why}"


@dataclass(frozen=True)
class ResponderRanking:
    """Customers ranked by a response probability, contacted best first within the budget and contact limit.

    ``assignments`` (index = customer): ``action`` (``treatment``, ``holdout`` or ``not_contacted``),
    ``arm``, ``reason`` (``contact``, ``holdout``, ``no_score`` (probability 0), ``over_budget``,
    ``over_max_contacts``), ``rank`` and ``response_probability``. ``curve`` (one row per depth):
    ``depth, contact_fraction, cost, expected_responders, feasible``. ``expected_responders``: the sum
    of the contacted customers' probabilities (holdout excluded).
    """

    assignments: pd.DataFrame
    curve: pd.DataFrame
    chosen_depth: int
    n_contacted: int
    n_holdout: int
    total_cost: float
    expected_responders: float


def rank_responders(
    probability: pd.Series,
    *,
    contact_cost: float,
    budget: float | None,
    max_contacts: int | None,
    holdout_fraction: float,
    random_state: int | None,
) -> ResponderRanking:
    """Contact the most likely responders first, as many as ``budget`` and ``max_contacts`` allow, with a
    random ``holdout_fraction`` of them held out (drawn as :func:`plan_campaign` draws it)."""
    if not (math.isfinite(contact_cost) and contact_cost >= 0):
        raise ConfigError(f"contact_cost must be finite and >= 0, got {contact_cost!r}", fix="e.g. --contact-cost 0.5")
    if budget is None and max_contacts is None:
        raise DataValidationError(
            "a ranking by a response score needs a budget or a maximum number of contacts",
            location=Location(column="budget"),
            fix="give a budget (budget, --budget, e.g. 500) or a maximum number of contacts (max_contacts, "
            "--max-contacts, e.g. 1000): a response probability cannot say where contacting stops paying",
        )
    if budget is not None and not (math.isfinite(budget) and budget >= 0):
        raise ConfigError(f"budget must be >= 0, got {budget!r}", fix="e.g. --budget 500")
    if max_contacts is not None and (isinstance(max_contacts, bool) or max_contacts < 0):
        raise ConfigError(f"max_contacts must be >= 0, got {max_contacts!r}", fix="e.g. --max-contacts 1000")
    if not 0 <= holdout_fraction <= 0.9:
        raise ConfigError(f"holdout_fraction must lie in [0, 0.9], got {holdout_fraction!r}", fix="e.g. --holdout 0.1")
    p = probability.to_numpy(dtype=np.float64)
    n = len(p)
    candidates = np.flatnonzero(p > 0)
    order = candidates[np.lexsort((candidates, -p[candidates]))]  # most likely first, ties in customer order
    depth = np.arange(len(order) + 1)
    cost = depth * float(contact_cost)
    responders = np.r_[0.0, np.cumsum(p[order])]
    feasible = np.ones(len(depth), dtype=bool)
    if budget is not None:
        feasible &= cost <= budget + 1e-9
    if max_contacts is not None:
        feasible &= depth <= max_contacts
    chosen = int(np.flatnonzero(feasible).max())  # depth 0 is always feasible
    rng = np.random.default_rng(random_state)
    selected = order[:chosen]
    n_holdout = round(holdout_fraction * chosen)
    held = rng.choice(selected, size=n_holdout, replace=False) if n_holdout else np.array([], dtype=int)
    contacted = np.setdiff1d(selected, held)
    action = np.full(n, NOT_CONTACTED, dtype=object)
    reason = np.full(n, "no_score", dtype=object)
    for position, customer in enumerate(order[chosen:], start=chosen + 1):
        reason[customer] = "over_budget" if budget is not None and cost[position] > budget + 1e-9 else "over_max_contacts"
    action[contacted], reason[contacted] = "treatment", "contact"
    action[held], reason[held] = HOLDOUT, HOLDOUT
    rank = np.full(n, np.nan)
    rank[order] = np.arange(1, len(order) + 1)
    assignments = pd.DataFrame(
        {"action": action, "arm": np.where(p > 0, "treatment", None), "reason": reason, "rank": rank,
         "response_probability": p},
        index=probability.index,
    )
    curve = pd.DataFrame({"depth": depth, "contact_fraction": depth / n, "cost": cost,
                          "expected_responders": responders, "feasible": feasible})
    return ResponderRanking(
        assignments=assignments, curve=curve, chosen_depth=chosen, n_contacted=len(contacted), n_holdout=n_holdout,
        total_cost=float(len(contacted) * contact_cost), expected_responders=float(p[contacted].sum()),
    )


@dataclass
class PlanOutcome:
    """A plan (``kind`` 'incremental': ``plan`` holds the incremental-profit plan) or a ranking of expected
    responders (``kind`` 'responders': ``ranking``; ``plan`` is None and nothing incremental is claimed)."""

    kind: PlanKind
    run_id: str
    as_of: str | None
    score: str
    arms: list[str]
    customers_considered: int
    excluded_opt_out: int
    plan: CampaignPlan | None = None
    ranking: ResponderRanking | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def assignments(self) -> pd.DataFrame:
        """Who gets what, one row per customer considered (index = customer id)."""
        return self.plan.assignments if self.plan is not None else self.ranking.assignments  # type: ignore[union-attr]

    @property
    def n_contacted(self) -> int:
        return self.plan.n_contacted if self.plan is not None else self.ranking.n_contacted  # type: ignore[union-attr]

    @property
    def n_holdout(self) -> int:
        return self.plan.n_holdout if self.plan is not None else self.ranking.n_holdout  # type: ignore[union-attr]

    @property
    def total_cost(self) -> float:
        return self.plan.total_cost if self.plan is not None else self.ranking.total_cost  # type: ignore[union-attr]

    @property
    def chosen_depth(self) -> int:
        return self.plan.chosen_depth if self.plan is not None else self.ranking.chosen_depth  # type: ignore[union-attr]

    @property
    def by_reason(self) -> dict[str, int]:
        return {str(k): int(v) for k, v in self.assignments["reason"].value_counts().sort_index().items()}


def _effects(run: RunData, score: str) -> pd.DataFrame:
    frame = run.audience_frame().set_index("customer_id")
    if plan_kind(score) == "incremental":
        available, why = uplift_status(run)
        if not available:
            raise NotFoundError(
                f"{why}; without one no incremental conversions or profit can be planned",
                fix=HOW_TO_GET_UPLIFT,
                details={"run_id": run.run_id, "stage": "uplift", "output": out.UPLIFT.path},
            )
        prefix = "uplift.value_uplift_" if is_value_score(score) else "uplift.uplift_"
        arms = [c for c in frame.columns if c.startswith(prefix)]
        whole = "value_uplift" if is_value_score(score) else "uplift"
        if not arms:
            raise NotFoundError(
                f"run {run.run_id} has no value uplift model (incremental revenue): its campaign's responses carry "
                "no revenue",
                fix="plan on 'uplift' with a value per conversion, or ingest responses with revenue and run again",
                details={"run_id": run.run_id, "stage": "uplift", "output": out.UPLIFT.path},
            )
        if score.removeprefix("uplift.") != whole:
            wanted = "uplift." + score.removeprefix("uplift.")
            if wanted not in arms:
                raise DataValidationError(
                    f"run {run.run_id} has no uplift column {score!r}",
                    fix=f"use '{whole}' or one of: {', '.join(a.removeprefix('uplift.') for a in arms)}",
                )
            arms = [wanted]
        return frame[arms].rename(columns=lambda c: c.removeprefix(prefix))
    if score not in frame.columns or not pd.api.types.is_numeric_dtype(frame[score]):
        numeric = sorted(c for c in frame.columns if "." not in c and pd.api.types.is_numeric_dtype(frame[c]))
        raise DataValidationError(
            f"score {score!r} is not a numeric column of run {run.run_id}",
            fix=f"use 'uplift' or one of: {', '.join(numeric)}",
        )
    values = frame[score].astype(float)
    finite = values[np.isfinite(values)]
    if len(finite) and (finite.min() < 0 or finite.max() > 1):
        raise DataValidationError(
            f"score {score!r} is not a probability (values from {finite.min():,.4g} to {finite.max():,.4g})",
            fix="rank on a response probability between 0 and 1, e.g. p_purchase_30d",
        )
    return frame[[score]].rename(columns={score: "treatment"})


#: what a value-uplift plan's money figures are
VALUE_NOTE = (
    "incremental margin = the value model's incremental revenue per customer (treated minus holdout, over the "
    "campaign's response window) x margin {margin:g}; expected incremental profit = incremental margin - contact "
    "cost - discount {discount:g} x the revenue expected from the customer if contacted; no customer with an "
    "expected incremental profit of 0 or less is contacted"
)


def _value_costs(run: RunData, effects: pd.DataFrame, request: PlanRequest) -> pd.DataFrame:
    """Each customer's cost per arm: the contact cost plus the discount on the revenue expected if contacted."""
    if not (math.isfinite(request.contact_cost) and request.contact_cost >= 0):
        raise ConfigError(f"contact_cost must be finite and >= 0, got {request.contact_cost!r}", fix="e.g. --contact-cost 0.5")
    frame = run.audience_frame().set_index("customer_id").reindex(effects.index)
    costs = pd.DataFrame(index=effects.index)
    for arm in effects.columns:
        column = f"uplift.revenue_if_contacted_{arm}"
        basket = frame[column].fillna(0.0) if column in frame.columns else pd.Series(0.0, index=effects.index)
        costs[arm] = request.contact_cost + request.discount_rate * basket.clip(lower=0.0)
    return costs


def response_scores(run: RunData) -> list[str]:
    """The run's response probabilities a ranking may use (``p_*`` columns), in name order."""
    frame = run.audience_frame()
    return sorted(c for c in frame.columns if c.startswith("p_") and pd.api.types.is_numeric_dtype(frame[c]))


def plan_from_run(ws: Workspace, run: RunData, request: PlanRequest) -> PlanOutcome:
    """Budgeted plan over the run's customers: consent (profiling and the channel) and the audience applied.

    An uplift score plans for incremental profit; a response score ranks expected responders and claims
    nothing incremental (:class:`PlanRequest`). Without an uplift model, 'uplift' is refused (404) with
    how to get one (:data:`HOW_TO_GET_UPLIFT`).
    """
    if request.channel not in CHANNEL_PURPOSE:
        raise ConfigError(f"unknown channel {request.channel!r}", fix=f"use one of: {', '.join(CHANNEL_PURPOSE)}")
    kind = request.kind
    notes: list[str] = []
    if kind == "incremental" and request.value:
        if request.value_per_conversion is not None:
            notes.append("the value per conversion is not used: a value-uplift plan prices incremental revenue "
                         "times the margin")
        if not 0 <= request.margin <= 1:
            raise ConfigError(f"margin must be between 0 and 1, got {request.margin}", fix="e.g. --margin 0.3")
        if not (math.isfinite(request.discount_rate) and 0 <= request.discount_rate < 1):
            raise ConfigError(f"discount rate must lie in [0, 1), got {request.discount_rate}", fix="e.g. --discount 0.1")
    elif kind == "incremental":
        if request.discount_rate:
            raise ConfigError("a discount rate needs a value-uplift plan (score 'value_uplift')",
                              fix="plan with --score value_uplift, or drop --discount")
        if request.value_per_conversion != "clv" and (
            isinstance(request.value_per_conversion, bool) or not isinstance(request.value_per_conversion, int | float)
        ):
            raise ConfigError("give a value per conversion or 'clv'", fix="e.g. --value-per-conversion 25 or --value-from-clv")
        if not 0 <= request.margin <= 1:
            raise ConfigError(f"margin must be between 0 and 1, got {request.margin}", fix="e.g. --margin 0.3")
    elif request.value_per_conversion is not None:
        notes.append("the value per conversion is not used: a response score claims no profit")
    effects = _effects(run, request.score).dropna(how="all").fillna(0.0)
    if request.audience_id is not None:
        effects = effects[effects.index.isin(AudienceStore(ws).members(request.audience_id))]
    blocked = opted_out(ws, "profiling") | opted_out(ws, CHANNEL_PURPOSE[request.channel])
    before = len(effects)
    effects = effects[~effects.index.isin(blocked)]
    if effects.empty:
        raise DataValidationError("no customer is left to plan for", fix="widen the audience, or check the run has scores")
    outcome = PlanOutcome(
        kind=kind, run_id=run.run_id, as_of=run.as_of, score=request.score, arms=[str(a) for a in effects.columns],
        customers_considered=len(effects), excluded_opt_out=before - len(effects), notes=notes,
    )
    if kind == "responders":
        outcome.ranking = rank_responders(
            effects.iloc[:, 0], contact_cost=request.contact_cost, budget=request.budget,
            max_contacts=request.max_contacts, holdout_fraction=request.holdout_fraction,
            random_state=request.random_state,
        )
        outcome.notes.insert(0, RESPONDERS_NOTE)
        return outcome
    if request.value:
        outcome.plan = plan_value_campaign(
            effects * request.margin if effects.shape[1] > 1 else effects.iloc[:, 0] * request.margin,
            contact_cost=_value_costs(run, effects, request), budget=request.budget,
            max_contacts=request.max_contacts, holdout_fraction=request.holdout_fraction,
            random_state=request.random_state,
        )
        outcome.notes.insert(0, VALUE_NOTE.format(margin=request.margin, discount=request.discount_rate))
        return outcome
    if request.value_per_conversion == "clv":
        run.require(out.CLV)
        clv = run.table(out.CLV).set_index("customer_id")["clv"]
        values: float | pd.Series = (clv.reindex(effects.index).fillna(0.0) * request.margin).clip(lower=0.0)
    else:
        values = float(request.value_per_conversion)  # type: ignore[arg-type]
    frame: pd.DataFrame | pd.Series = effects if effects.shape[1] > 1 else effects.iloc[:, 0]
    outcome.plan = plan_campaign(
        frame,
        contact_cost=request.contact_cost,
        value_per_conversion=values,
        budget=request.budget,
        max_contacts=request.max_contacts,
        holdout_fraction=request.holdout_fraction,
        random_state=request.random_state,
    )
    return outcome


def measure_workspace_campaign(
    ws: Workspace, campaign_id: str, *, response_type: str = "conversion", pre_period_days: int | None = None,
    confidence: float = 0.95,
) -> CampaignMeasurement:
    """Incremental conversion and revenue of each arm vs control, overall and by the active run's segments;
    with ``pre_period_days`` also CUPED-adjusted on each customer's spend in those days before the send."""
    frame = ws.campaign_outcomes(campaign_id, response_type=response_type, pre_period_days=pre_period_days)
    if frame.empty:
        raise NotFoundError(f"campaign {campaign_id!r} has no exposures", fix="check the id with `targetwise status`")
    run = RunStore(ws).active()
    if run is not None and run.has(out.SEGMENTS):
        segments = run.read_table(out.SEGMENTS)[["customer_id", "cluster_name"]]
        frame = frame.merge(segments, on="customer_id", how="left")
        frame["segment"] = frame.pop("cluster_name").fillna("unsegmented")
    frame["converted"] = frame["converted"].astype(int)
    frame["revenue"] = frame["revenue"].astype(float)
    return measure_campaign(frame, control_label="control", confidence=confidence)
