"""Use cases: next-best offers, assigned to an audience and evaluated off-policy from the offer log.

``targetwise offers assign`` and ``targetwise offers evaluate`` (and, later, the API) call
:func:`assign_offers` and :func:`evaluate_offers`, so a decision and an estimate are the same on every
surface. The model is :class:`targetwise.engage.OfferBandit` (one ridge reward model per offer, linear
Thompson sampling or LinUCB, a uniform holdout), fitted on the rewarded decisions of ``offer_decisions``;
the estimators are :mod:`targetwise.engage.ope`. See docs/offers.md.

* **Features**: each customer's numeric features from the run's feature table (at the run's as-of, also
  for log rows decided earlier: the policy learns "customers like this took offer k"); a missing value
  is filled with the column's median and counted in the notes.
* **Eligibility**: an offer's ``eligibility`` is a JSON list of audience-language conditions over the
  run's audience fields, applied by :func:`targetwise.campaigns.audiences.select_audience` (parsed,
  never evaluated as code); an offer is live at ``now`` when ``starts_at <= now < ends_at`` (an empty end
  is no limit). An offer on a channel with a consent purpose (e-mail, SMS, ads) is never given to a
  customer who opted out of that channel.
* **Consent**: profiling objectors are left out of the training log (io's :func:`offer_log`) and of the
  assignment (counted in ``excluded``).
* **Logging**: every decision is written to ``offer_decisions`` through the ingest (validated, a load of
  its own) with its exact propensity under the whole logging policy and its holdout flag, so the next
  fit and every evaluation can use it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import numpy as np
import pandas as pd

from targetwise.campaigns.audiences import parse_conditions, select_audience
from targetwise.engage.offer_simulator import OfferSimulator, regret_curves
from targetwise.engage.offers import OfferBandit
from targetwise.engage.ope import PolicyValue, evaluate_policies
from targetwise.errors import ConfigError, DataValidationError, Location, NotFoundError
from targetwise.io import outputs as out
from targetwise.io.consent import opted_out
from targetwise.io.offers import offer_catalogue, offer_log, record_decisions
from targetwise.io.workspace import Workspace
from targetwise.schema import CONSENT_PURPOSES
from targetwise.segment.lookalike import numeric_feature_matrix
from targetwise.usecases.live_audiences import resolve_saved_audience
from targetwise.usecases.runs import RunData

__all__ = ["ASSIGNMENT_COLUMNS", "ESTIMATOR_LABELS", "POLICY_LABELS", "OfferAssignment", "OfferEvaluation", "OfferSummary", "assign_offers",
           "evaluate_offers", "list_offers", "offer_regret_curves"]

When = date | datetime | str | pd.Timestamp
ASSIGNMENT_COLUMNS = ("customer_id", "offer_id", "propensity", "holdout", "n_eligible")
#: what each evaluated policy and estimator is, in words (the UI's offers page and the report label them so)
POLICY_LABELS = {"learned": "learned policy (cross-fitted)", "logging": "logging policy (what chose the logged offers)",
                 "uniform": "uniform random over the eligible offers"}
ESTIMATOR_LABELS = {"ipw": "IPW (inverse propensity weighting)", "snipw": "SNIPW (self-normalised IPW)",
                    "dr": "DR (doubly robust)", "on_policy": "observed mean (on-policy)"}
_DEFAULT_EXPLORATION = 0.5  # Thompson's posterior scale when the log has no rewards yet (a 0/1 reward's sd)


@dataclass(frozen=True)
class OfferAssignment:
    """One decision per assigned audience member (``table``: :data:`ASSIGNMENT_COLUMNS`) and how they were made."""

    run_id: str
    audience_id: str
    decided_at: str
    method: str
    holdout: float
    offers: tuple[str, ...]
    audience_size: int
    by_offer: dict[str, int]
    holdout_decisions: int
    excluded: dict[str, int]
    trained_on: int
    load_id: int
    notes: tuple[str, ...] = ()
    table: pd.DataFrame = field(default_factory=pd.DataFrame, repr=False, compare=False)

    @property
    def assigned(self) -> int:
        return len(self.table)

    def to_dict(self, *, assignments: bool = False) -> dict[str, Any]:
        """Plain values; ``assignments=True`` adds one record per decision."""
        data: dict[str, Any] = {
            "run_id": self.run_id, "audience_id": self.audience_id, "decided_at": self.decided_at,
            "method": self.method, "holdout": self.holdout, "offers": list(self.offers),
            "audience_size": self.audience_size, "assigned": self.assigned, "by_offer": dict(self.by_offer),
            "holdout_decisions": self.holdout_decisions, "excluded": dict(self.excluded),
            "trained_on": self.trained_on, "load_id": self.load_id, "notes": list(self.notes),
        }
        if assignments:
            data["assignments"] = [
                {"customer_id": str(r.customer_id), "offer_id": str(r.offer_id), "propensity": float(r.propensity),
                 "holdout": bool(r.holdout), "n_eligible": int(r.n_eligible)}
                for r in self.table.itertuples(index=False)
            ]
        return data


@dataclass(frozen=True)
class OfferEvaluation:
    """Off-policy estimates (expected reward per decision) of the learned, logging and uniform policies.

    ``values`` holds one :class:`PolicyValue` per policy and estimator (the logging policy by its
    on-policy mean). ``rows`` (customer_id, offer_id, decided_at of each evaluated log row), ``offer_order``
    and ``probabilities`` (policy -> (rows, offers)) say exactly what was evaluated; they stay out of
    :meth:`to_dict`.
    """

    run_id: str
    reward_kind: str | None
    decisions: int
    evaluated: int
    offers: tuple[str, ...]
    values: tuple[PolicyValue, ...]
    excluded: dict[str, int]
    notes: tuple[str, ...] = ()
    rows: pd.DataFrame = field(default_factory=pd.DataFrame, repr=False, compare=False)
    probabilities: dict[str, np.ndarray] = field(default_factory=dict, repr=False, compare=False)

    def value(self, policy: str, estimator: str) -> PolicyValue:
        return next(v for v in self.values if v.policy == policy and v.estimator == estimator)

    def gains(self) -> dict[str, float]:
        """The learned policy's doubly robust value minus the logging and the uniform policy's."""
        learned = self.value("learned", "dr").value
        return {"over_logging": learned - self.value("logging", "on_policy").value,
                "over_uniform": learned - self.value("uniform", "dr").value}

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id, "reward_kind": self.reward_kind, "decisions": self.decisions,
            "evaluated": self.evaluated, "offers": list(self.offers), "values": [v.to_dict() for v in self.values],
            "gains": self.gains(), "excluded": dict(self.excluded), "notes": list(self.notes),
        }


@dataclass(frozen=True)
class OfferSummary:
    """One offer of the catalogue as a reader sees it: its eligibility as condition lines, its window, live or not."""

    offer_id: str
    name: str | None
    channel: str | None
    cost: float | None
    value: float | None
    eligibility: tuple[str, ...]
    starts_at: str | None
    ends_at: str | None
    live: bool
    eligibility_problem: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"offer_id": self.offer_id, "name": self.name, "channel": self.channel, "cost": self.cost,
                "value": self.value, "eligibility": list(self.eligibility), "starts_at": self.starts_at,
                "ends_at": self.ends_at, "live": self.live, "eligibility_problem": self.eligibility_problem}


def _text(value: Any) -> str | None:
    return None if value is None or pd.isna(value) or not str(value).strip() else str(value)


def _number(value: Any) -> float | None:
    return None if value is None or pd.isna(value) else float(value)


def _stamp(value: Any) -> str | None:
    if value is None or pd.isna(value):
        return None
    stamp = pd.Timestamp(value)
    return f"{stamp:%Y-%m-%d}" if stamp == stamp.normalize() else f"{stamp:%Y-%m-%d %H:%M}"


def list_offers(ws: Workspace, *, now: When | None = None) -> tuple[OfferSummary, ...]:
    """The offers catalogue by id, each with its eligibility written as ``field op value`` lines (empty:
    everyone) and whether it is live at ``now`` (default: the current time, UTC); the web UI's offers page.
    Eligibility that is not a JSON list of conditions is listed as ``eligibility_problem`` (the message
    assign and evaluate would raise), so the catalogue still shows every offer."""
    moment = pd.Timestamp(_naive_utc(now))
    summaries = []
    for offer in offer_catalogue(ws).itertuples(index=False):
        offer_id = str(offer.offer_id)
        problem = None
        try:
            conditions = _conditions(offer_id, offer.eligibility)
        except DataValidationError as exc:
            conditions, problem = [], f"{exc.message} ({exc.fix})"
        lines = tuple(f"{c.get('field')} {c.get('op')} {c.get('value')}" if isinstance(c, dict) else str(c)
                      for c in conditions)
        starts, ends = offer.starts_at, offer.ends_at
        live = (pd.isna(starts) or pd.Timestamp(starts) <= moment) and (pd.isna(ends) or moment < pd.Timestamp(ends))
        summaries.append(OfferSummary(
            offer_id=offer_id, name=_text(offer.name), channel=_text(offer.channel), cost=_number(offer.cost),
            value=_number(offer.value), eligibility=lines, starts_at=_stamp(starts), ends_at=_stamp(ends),
            live=bool(live), eligibility_problem=problem))
    return tuple(summaries)


# -- shared pieces ---------------------------------------------------------------------------------
def _naive_utc(value: When | None) -> datetime:
    if value is None:
        return datetime.now(UTC).replace(tzinfo=None)
    stamp = pd.Timestamp(value)
    if stamp.tzinfo is not None:
        stamp = stamp.tz_convert("UTC").tz_localize(None)
    return stamp.to_pydatetime()


def _features(run: RunData) -> tuple[pd.Index, np.ndarray, int]:
    """Customer ids, their numeric features (NaN filled with the column median; an all-missing column
    dropped) and how many values were filled."""
    table = run.table(out.FEATURES)
    numeric = numeric_feature_matrix(table).replace([np.inf, -np.inf], np.nan)
    numeric = numeric.loc[:, numeric.notna().any()]
    filled = int(numeric.isna().sum().sum())
    numeric = numeric.fillna(numeric.median())
    return pd.Index(table["customer_id"].astype(str)), numeric.to_numpy(dtype=float), filled


def _conditions(offer_id: str, text: Any) -> list[dict[str, Any]]:
    if text is None or pd.isna(text) or not str(text).strip():
        return []
    try:
        raw = json.loads(str(text))
    except json.JSONDecodeError as exc:
        raise DataValidationError(
            f"offer {offer_id!r} has eligibility that is not JSON: {exc.msg}",
            location=Location(file="offers", column="eligibility", value=str(text)[:80]),
            fix='write a JSON list of conditions, e.g. [{"field": "frequency", "op": ">=", "value": 2}]',
        ) from None
    if isinstance(raw, dict):
        raw = [raw]
    if not isinstance(raw, list):
        raise DataValidationError(
            f"offer {offer_id!r} has eligibility {raw!r}, not a list of conditions",
            location=Location(file="offers", column="eligibility", value=str(text)[:80]),
            fix='write a JSON list of conditions, e.g. [{"field": "frequency", "op": ">=", "value": 2}]',
        )
    return raw


def _eligible_sets(ws: Workspace, run: RunData, catalogue: pd.DataFrame) -> dict[str, set[str]]:
    """offer_id -> the run's customers who may get it (its conditions, and the offer's channel consent)."""
    frame = run.audience_frame()
    channel_optouts: dict[str, set[str]] = {}
    sets: dict[str, set[str]] = {}
    for offer in catalogue.itertuples(index=False):
        offer_id = str(offer.offer_id)
        try:
            members = set(select_audience(frame, parse_conditions(_conditions(offer_id, offer.eligibility))))
        except DataValidationError as exc:
            raise DataValidationError(f"offer {offer_id!r}'s eligibility: {exc.message}", location=exc.location,
                                      fix=exc.fix) from None
        channel = None if pd.isna(offer.channel) else str(offer.channel).strip().lower()
        if channel in CONSENT_PURPOSES and channel != "profiling":
            if channel not in channel_optouts:
                channel_optouts[channel] = opted_out(ws, channel)
            members -= channel_optouts[channel]
        sets[offer_id] = members
    return sets


def _rewarded_log(
    ws: Workspace, *, before: datetime | None, reward_kind: str | None, offers: Sequence[str] | None,
    known: pd.Index,
) -> tuple[pd.DataFrame, str | None, dict[str, int]]:
    """The log's rewarded decisions of ``offers`` (all when None) by customers in ``known``, one reward
    kind; and how many decisions were left out, by reason."""
    log = offer_log(ws, before=before)
    left_out: dict[str, int] = {"no_reward_yet": int(log["reward"].isna().sum())}
    log = log[log["reward"].notna()]
    kinds = sorted({str(k) for k in log["reward_kind"].dropna().unique()})
    if reward_kind is None and len(kinds) > 1:
        raise ConfigError(f"the offer log mixes reward kinds {', '.join(kinds)}; a policy learns one",
                          fix=f"choose one with reward_kind (--reward-kind {kinds[0]})")
    if reward_kind is not None:
        same = log["reward_kind"].isna() | (log["reward_kind"].astype(str) == reward_kind)
        left_out["other_reward_kind"] = int((~same).sum())
        log = log[same]
    chosen = reward_kind if reward_kind is not None else (kinds[0] if kinds else None)
    if offers is not None:
        live = log["offer_id"].astype(str).isin(list(offers))
        left_out["offer_not_live"] = int((~live).sum())
        log = log[live]
    featured = log["customer_id"].astype(str).isin(known)
    left_out["no_features"] = int((~featured).sum())
    log = log[featured].reset_index(drop=True)
    return log, chosen, {k: v for k, v in left_out.items() if v}


def _bandit(
    method: str, holdout: float, offers: Sequence[str], exploration: float | None, random_state: int,
    reward: np.ndarray,
) -> OfferBandit:
    if exploration is None:
        exploration = float(np.std(reward)) if reward.size > 1 and np.std(reward) > 0 else _DEFAULT_EXPLORATION
    return OfferBandit(method=method, holdout=holdout, offers=tuple(offers), exploration=exploration,
                       random_state=random_state)


# -- assign ----------------------------------------------------------------------------------------
def assign_offers(
    ws: Workspace,
    run: RunData,
    audience_id: str,
    *,
    holdout: float = 0.1,
    method: str = "thompson",
    exploration: float | None = None,
    reward_kind: str | None = None,
    random_state: int | None = None,
    now: When | None = None,
) -> OfferAssignment:
    """Give each member of a saved audience one eligible, live offer and log the decisions.

    The policy is fitted on the rewarded decisions logged before ``now`` (default: the current time, UTC)
    for the offers live at ``now``; a share ``holdout`` of the decisions is uniform over the customer's
    eligible offers (propensity ``1 / n_eligible``). Members who objected to profiling, have no features
    in ``run`` or no eligible live offer get nothing and are counted in ``excluded``. ``exploration``:
    Thompson's posterior scale (default: the logged rewards' sd).
    """
    decided_at = _naive_utc(now)
    seed = ws.settings.random_state if random_state is None else int(random_state)
    record = resolve_saved_audience(ws, audience_id)
    from targetwise.io.audiences import AudienceStore

    members = AudienceStore(ws).members(record.id)
    catalogue = offer_catalogue(ws, live_at=decided_at)
    if catalogue.empty:
        raise NotFoundError(f"no offer is live at {decided_at:%Y-%m-%d %H:%M} UTC",
                            fix="ingest offers whose active window holds it: targetwise ingest offers FILE")
    offer_ids = tuple(str(o) for o in catalogue["offer_id"])
    ids, matrix, filled = _features(run)
    eligible_sets = _eligible_sets(ws, run, catalogue)

    objected = opted_out(ws, "profiling")
    position = pd.Series(np.arange(len(ids)), index=ids)
    excluded = {"profiling_objection": 0, "no_features": 0, "no_eligible_offer": 0}
    chosen_ids: list[str] = []
    for cid in members:
        if cid in objected:
            excluded["profiling_objection"] += 1
        elif cid not in position.index:
            excluded["no_features"] += 1
        elif not any(cid in eligible_sets[o] for o in offer_ids):
            excluded["no_eligible_offer"] += 1
        else:
            chosen_ids.append(cid)
    if not chosen_ids:
        raise DataValidationError(
            f"no member of audience {record.id} ({len(members):,}) can get a live offer: "
            + ", ".join(f"{n:,} {k.replace('_', ' ')}" for k, n in excluded.items() if n),
            fix="check the offers' eligibility and active windows, and that the audience is from this run",
        )
    mask = np.array([[cid in eligible_sets[o] for o in offer_ids] for cid in chosen_ids], dtype=bool)

    log, kind, left_out = _rewarded_log(ws, before=decided_at, reward_kind=reward_kind, offers=offer_ids, known=ids)
    reward = log["reward"].to_numpy(dtype=float)
    bandit = _bandit(method, holdout, offer_ids, exploration, seed, reward)
    log_rows = position.loc[log["customer_id"].astype(str)].to_numpy()
    bandit.fit(matrix[log_rows], log["offer_id"].astype(str).to_numpy(dtype=object), reward,
               log["propensity"].to_numpy(dtype=float))
    decisions = bandit.decide(matrix[position.loc[chosen_ids].to_numpy()], mask)

    table = pd.DataFrame({
        "customer_id": pd.array(chosen_ids, dtype="string"),
        "offer_id": pd.array([str(o) for o in decisions.offer], dtype="string"),
        "propensity": decisions.propensity.astype(float),
        "holdout": decisions.holdout.astype(bool),
        "n_eligible": mask.sum(axis=1).astype("int64"),
    })
    logged = table[["customer_id", "offer_id"]].assign(
        decided_at=pd.Timestamp(decided_at), propensity=table["propensity"], holdout=table["holdout"])
    source = f"offers-assign:{record.id}:{decided_at.isoformat()}"
    summary = record_decisions(ws, logged, source=source, now=max(decided_at, _naive_utc(None)).replace(tzinfo=UTC))
    notes = _assign_notes(log, kind, left_out, filled, summary.rows_quarantined)
    counts = table["offer_id"].value_counts()
    return OfferAssignment(
        run_id=run.run_id, audience_id=record.id, decided_at=decided_at.isoformat(), method=method,
        holdout=float(holdout), offers=offer_ids, audience_size=len(members),
        by_offer={o: int(counts.get(o, 0)) for o in offer_ids}, holdout_decisions=int(table["holdout"].sum()),
        excluded=excluded, trained_on=len(log), load_id=summary.load_id, notes=tuple(notes), table=table,
    )


def _assign_notes(log: pd.DataFrame, kind: str | None, left_out: dict[str, int], filled: int,
                  quarantined: int) -> list[str]:
    notes = []
    if log.empty:
        notes.append("no rewarded decision in the offer log yet: the policy explores from its prior "
                     "(record rewards in offer_decisions and assign again)")
    else:
        notes.append(f"learned from {len(log):,} rewarded decisions ({kind or 'reward kind not given'})")
    for reason, n in left_out.items():
        notes.append(f"{n:,} logged decisions not learned from: {reason.replace('_', ' ')}")
    if filled:
        notes.append(f"{filled:,} missing feature values filled with the column median")
    if quarantined:
        notes.append(f"{quarantined:,} decisions were quarantined by the ingest (see `targetwise quarantine`)")
    return notes


# -- evaluate --------------------------------------------------------------------------------------
def evaluate_offers(
    ws: Workspace,
    run: RunData,
    *,
    method: str = "thompson",
    exploration: float | None = None,
    reward_kind: str | None = None,
    before: When | None = None,
    n_folds: int = 2,
    n_bootstrap: int = 200,
    random_state: int | None = None,
) -> OfferEvaluation:
    """IPW, SNIPW and doubly robust estimates, with bootstrap intervals, of three policies over the
    rewarded log (decided before ``before``, default: all): the **learned** policy (the bandit
    :func:`assign_offers` would fit, without its holdout, cross-fitted: each customer's decisions are
    judged by a policy fitted on the other customers' folds), the **logging** policy (its mean logged
    reward) and **uniform** random over the offers eligible at each decision.

    An offer counts as eligible at a logged decision when its conditions hold for the customer in
    ``run`` and it was live then; the logged offer always counts (it was given).
    """
    seed = ws.settings.random_state if random_state is None else int(random_state)
    ids, matrix, filled = _features(run)
    cutoff = None if before is None else _naive_utc(before)
    log, kind, left_out = _rewarded_log(ws, before=cutoff, reward_kind=reward_kind, offers=None, known=ids)
    decisions = len(log) + sum(left_out.values())
    if log.empty:
        raise NotFoundError("the offer log has no rewarded decision to evaluate with",
                            fix="ingest decisions with their rewards: targetwise ingest offer_decisions FILE")
    catalogue = offer_catalogue(ws)
    logged_ids = log["offer_id"].astype(str)
    offer_ids = tuple(sorted(set(catalogue["offer_id"].astype(str)) | set(logged_ids)))
    index = {o: k for k, o in enumerate(offer_ids)}
    logged = logged_ids.map(index).to_numpy(dtype=np.int64)
    customers = log["customer_id"].astype(str)
    mask = _log_eligibility(ws, run, catalogue, offer_ids, customers, log["decided_at"], logged)

    position = pd.Series(np.arange(len(ids)), index=ids)
    X = matrix[position.loc[customers].to_numpy()]
    reward = log["reward"].to_numpy(dtype=float)
    propensity = log["propensity"].to_numpy(dtype=float)
    learned = _cross_fitted_policy(X, logged, reward, propensity, mask, customers.to_numpy(), offer_ids,
                                   method=method, exploration=exploration, n_folds=n_folds, random_state=seed)
    values = evaluate_policies(X, logged, reward, propensity, {"learned": learned}, eligible_mask=mask,
                               n_offers=len(offer_ids), n_bootstrap=n_bootstrap, random_state=seed)
    uniform = mask / mask.sum(axis=1, keepdims=True)
    notes = []
    for reason, n in left_out.items():
        notes.append(f"{n:,} logged decisions not evaluated: {reason.replace('_', ' ')}")
    if filled:
        notes.append(f"{filled:,} missing feature values filled with the column median")
    weight = learned[np.arange(logged.size), logged] / propensity
    ess = float(weight.sum() ** 2 / max((weight**2).sum(), 1e-300))
    notes.append(f"the learned policy's importance weights have an effective sample size of {ess:,.0f} of "
                 f"{len(log):,} decisions")
    return OfferEvaluation(
        run_id=run.run_id, reward_kind=kind, decisions=decisions, evaluated=len(log), offers=offer_ids,
        values=tuple(values), excluded=left_out, notes=tuple(notes),
        rows=log[["customer_id", "offer_id", "decided_at"]].copy(),
        probabilities={"learned": learned, "uniform": uniform},
    )


def _log_eligibility(
    ws: Workspace, run: RunData, catalogue: pd.DataFrame, offer_ids: Sequence[str], customers: pd.Series,
    decided_at: pd.Series, logged: np.ndarray,
) -> np.ndarray:
    sets = _eligible_sets(ws, run, catalogue)
    windows = catalogue.set_index(catalogue["offer_id"].astype(str))
    when = pd.to_datetime(decided_at).to_numpy()
    mask = np.zeros((len(customers), len(offer_ids)), dtype=bool)
    for k, offer_id in enumerate(offer_ids):
        if offer_id not in sets:
            continue
        live = np.ones(len(customers), dtype=bool)
        starts, ends = windows.at[offer_id, "starts_at"], windows.at[offer_id, "ends_at"]
        if not pd.isna(starts):
            live &= when >= np.datetime64(pd.Timestamp(starts))
        if not pd.isna(ends):
            live &= when < np.datetime64(pd.Timestamp(ends))
        mask[:, k] = customers.isin(sets[offer_id]).to_numpy() & live
    mask[np.arange(logged.size), logged] = True
    return mask


def _cross_fitted_policy(
    X: np.ndarray, logged: np.ndarray, reward: np.ndarray, propensity: np.ndarray, mask: np.ndarray,
    customers: np.ndarray, offer_ids: Sequence[str], *, method: str, exploration: float | None, n_folds: int,
    random_state: int,
) -> np.ndarray:
    """Each row's learned-policy probabilities from a bandit fitted on the other folds (folds by customer,
    so a customer's own rewards never judge the policy fitted on them)."""
    unique = np.unique(customers)
    n_folds = max(2, min(int(n_folds), unique.size))
    fold_of = dict(zip(unique, np.random.default_rng(random_state).permutation(unique.size) % n_folds, strict=True))
    folds = np.array([fold_of[c] for c in customers])
    labels = np.asarray(offer_ids, dtype=object)
    probabilities = np.zeros(mask.shape)
    for fold in range(n_folds):
        test, train = folds == fold, folds != fold
        if not test.any():
            continue
        bandit = _bandit(method, 0.0, offer_ids, exploration, random_state, reward[train])
        bandit.fit(X[train], labels[logged[train]], reward[train], propensity[train])
        probabilities[test] = bandit.policy_probabilities(X[test], mask[test])
    return probabilities


def offer_regret_curves(n_offers: int, *, random_state: int = 0) -> dict[str, list[float]]:
    """How the bandit learns, on a simulated shop with a planted reward and ``n_offers`` offers (the
    validation of docs/offers.md, not the shop's own data): regret per decision round by round of linear
    Thompson sampling and LinUCB (500 uniform decisions to start, rounds of 1,000 fresh customers, a 10 %
    uniform holdout) and of uniform random (:func:`targetwise.engage.offer_simulator.regret_curves`)."""
    simulator = OfferSimulator.planted(n_offers=max(2, int(n_offers)), random_state=random_state)
    return regret_curves(simulator, random_state=random_state)

