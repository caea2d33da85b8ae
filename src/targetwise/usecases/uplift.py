"""Use case: learn campaign uplift from the latest randomised campaign (treatment arms vs control).

The learners train on the campaign's exposed customers with their features the day
of the send, all read through :class:`~targetwise.io.modeldata.ModelData`, so no
customer who objected to profiling trains them; they then score the run's customers:

* ``uplift_<arm>``: incremental conversion probability (S-learner on conversions);
* ``value_uplift_<arm>``: incremental revenue per customer over the campaign's response
  window, in the workspace currency (the two-part learner on each customer's response revenue,
  :class:`~targetwise.uplift.value.ValueTwoPartLearner`: conversion S-learner with arm x feature
  interactions times a log-basket model with the arm as a column; ``uplift.value_learner`` pins another,
  or ``"auto"`` picks the best held-out value Qini of :data:`VALUE_LEARNERS`, :func:`choose_value_learner`),
  and ``revenue_if_contacted_<arm>``, the revenue expected from the customer if contacted (what a discount's
  cost scales with).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from targetwise.errors import ConfigError
from targetwise.io.modeldata import ModelData
from targetwise.runconfig import UpliftConfig
from targetwise.uplift._base import DEFAULT_LGBM_PARAMS, default_classifier
from targetwise.usecases._common import Notes
from targetwise.usecases.features import features_at
from targetwise.usecases.propensity import feature_columns

__all__ = ["VALUE_LEARNERS", "UpliftResult", "ValueLearnerChoice", "choose_value_learner", "fit_uplift", "value_learner"]

#: the value learners the stage can fit, in tie-break order (the default first); runconfig.UPLIFT_VALUE_LEARNERS
VALUE_LEARNERS = ("two_part_shared", "two_part_pooled", "value_x", "value_t")


@dataclass
class UpliftResult:
    """``uplift``: customer_id and one ``uplift_<arm>`` column per treatment arm; or ``skipped`` with why."""

    uplift: pd.DataFrame | None = None
    skipped: str | None = None
    campaign_id: str | None = None
    trained_on: int = 0
    conversion_rate_by_arm: dict[str, float] = field(default_factory=dict)
    qini: pd.DataFrame | None = None  # targeted, incremental_responders (holdout check)
    holdout_check: dict[str, Any] | None = None
    value_holdout_check: dict[str, Any] | None = None  # the value learner's Qini on revenue, same holdout
    value_learner: str | None = None  # the VALUE_LEARNERS name fitted for value_uplift_<arm>
    min_leaf: int | None = None
    notes: Notes = field(default_factory=Notes)


def fit_uplift(
    data: ModelData,
    features: pd.DataFrame,
    *,
    as_of: date | datetime | str,
    config: UpliftConfig,
    random_state: int,
) -> UpliftResult:
    """An S-learner on the latest campaign before ``as_of``; scores every row of ``features``."""
    from targetwise.uplift import SLearner

    latest = data.latest_campaign(before=as_of)
    if latest is None:
        return UpliftResult(
            skipped=f"no campaign was sent before the run's date ({pd.Timestamp(as_of).date()}): ingest "
            "campaign_exposures and responses of a randomised campaign with a control group"
        )
    campaign_id, _first_sent = latest
    exposures = data.exposures(campaign_id)
    arms = sorted(set(exposures["arm"]) - {"control"})
    if "control" not in set(exposures["arm"]) or not arms:
        return UpliftResult(skipped=f"campaign {campaign_id} has no control group or no treatment arm")
    sent_at = pd.Timestamp(exposures["sent_at"].min()).floor("D")
    pre = features_at(data, sent_at)
    cols = feature_columns(pre)
    train = exposures.merge(pre, on="customer_id", how="inner").sort_values("customer_id", kind="stable")
    result = UpliftResult(campaign_id=campaign_id, trained_on=len(train))
    leaf = min_leaf(len(train), config)
    result.min_leaf = leaf
    _holdout_check(result, train, cols, arms[0], config=config, random_state=random_state, leaf=leaf)
    learner = SLearner(estimator=_classifier(leaf, random_state), control="control", random_state=random_state).fit(
        train[cols], train["arm"].to_numpy(), train["converted"].astype(int).to_numpy()
    )
    pred = learner.predict(features[cols])
    frame = pd.DataFrame({"customer_id": features["customer_id"].to_numpy()})
    if isinstance(pred, pd.DataFrame):
        for arm in pred.columns:
            frame[f"uplift_{arm}"] = pred[arm].to_numpy()
    else:
        frame[f"uplift_{arms[0]}"] = np.asarray(pred)
    if train["revenue"].abs().sum() > 0:
        refunds = int((train["revenue"] < 0).sum())
        if refunds:
            result.notes.add(
                f"{refunds} campaign customer(s) have a negative response revenue (a net refund), so the value "
                "learner models the basket on the revenue itself rather than on its log"
            )
        result.value_learner = _fitted_value_learner(result, config)
        value = value_learner(result.value_learner, leaf, random_state, log_basket=not refunds).fit(
            train[cols], train["arm"].to_numpy(), train["revenue"].astype(float).to_numpy()
        )
        outcomes = value.predict_outcomes(features[cols])
        for arm in arms:
            frame[f"value_uplift_{arm}"] = (outcomes[arm] - outcomes["control"]).to_numpy()
            frame[f"revenue_if_contacted_{arm}"] = outcomes[arm].clip(lower=0.0).to_numpy()
    else:
        result.notes.add(
            f"campaign {campaign_id}'s responses carry no revenue, so no value uplift (incremental revenue) is "
            "modelled; plans use the conversion uplift"
        )
    result.uplift = frame
    result.conversion_rate_by_arm = {str(k): float(v) for k, v in train.groupby("arm")["converted"].mean().items()}
    for col in (c for c in frame.columns if c.startswith("uplift_")):
        if frame[col].nunique() <= 1:
            arm = col.removeprefix("uplift_")
            observed = result.conversion_rate_by_arm.get(arm, 0.0) - result.conversion_rate_by_arm.get("control", 0.0)
            result.notes.add(
                f"the uplift model found no difference between customers for arm {arm!r} ({len(train):,} campaign "
                f"customers): every customer gets {float(frame[col].iloc[0]):+.3f}, while the campaign's observed "
                f"effect was {observed:+.3f}; a larger randomised campaign is needed for per-customer uplift"
            )
    return result


def min_leaf(n_train: int, config: UpliftConfig) -> int:
    """Customers per leaf: the configured value, else 300 (tuned on 64,000) or a twentieth of a smaller campaign."""
    if config.min_leaf is not None:
        return config.min_leaf
    return int(min(DEFAULT_LGBM_PARAMS["min_child_samples"], max(20, n_train // 20)))


def value_learner(
    name: str, leaf: int, random_state: int, *, log_basket: bool = True, control: Any = "control"
) -> Any:
    """The value learner called ``name`` (one of :data:`VALUE_LEARNERS`), unfitted, seeded.

    ``two_part_shared`` (the default): two-part; who buys: an S-learner on conversion with arm x feature
    interactions; how much: one basket model over every buyer with the arm as a column, on log revenue (a
    multiplicative basket lift; ``log_basket=False`` when some revenue is negative). Chosen by
    benchmarks/value_uplift_recovery.py: Spearman with the synthetic retailer's planted per-customer revenue
    effect >= 0.6 at 8 of 10 seeds at 20,000 customers (mean 0.73) where ``two_part_pooled`` (the S-learner
    with a basket blind to the arm, the learner before) reached it at 5 (mean 0.48). ``value_x`` and
    ``value_t``: the X- and T-learner on revenue (smooth LightGBM), the best Hillstrom spend rankers.
    """
    from targetwise.uplift import SLearner
    from targetwise.uplift.value import ValueTLearner, ValueTwoPartLearner, ValueXLearner

    if name == "two_part_shared":
        return ValueTwoPartLearner(
            SLearner(estimator=_classifier(leaf, random_state), interactions=True, control=control),
            basket="shared", basket_scale="log" if log_basket else "linear", control=control,
            random_state=random_state,
        )
    if name == "two_part_pooled":
        return ValueTwoPartLearner(
            SLearner(estimator=_classifier(leaf, random_state), control=control), control=control,
            random_state=random_state,
        )
    if name == "value_x":
        return ValueXLearner(control=control, random_state=random_state)
    if name == "value_t":
        return ValueTLearner(control=control, random_state=random_state)
    raise ConfigError(
        f"unknown value learner {name!r}; expected one of {', '.join(VALUE_LEARNERS)}",
        fix="set uplift.value_learner to 'auto' or one of those names",
    )


def _value_learner(leaf: int, random_state: int, *, log_basket: bool = True) -> Any:
    """The default value learner (``two_part_shared``) with control label ``"control"``."""
    return value_learner(VALUE_LEARNERS[0], leaf, random_state, log_basket=log_basket)


@dataclass(frozen=True)
class ValueLearnerChoice:
    """Each candidate's held-out value Qini (``value_qini_auc``, in candidate order) and the argmax, ``chosen``.

    ``predicted``: the chosen learner's incremental revenue per held-out customer for ``arm``; ``revenue`` and
    ``treated`` (1 = ``arm``, 0 = control): the held-out customers' outcome and group.
    """

    chosen: str
    value_qini_auc: dict[str, float]
    predicted: NDArray[np.float64]
    revenue: NDArray[np.float64]
    treated: NDArray[np.int_]


def choose_value_learner(
    X: pd.DataFrame,
    treatment: ArrayLike,
    revenue: ArrayLike,
    *,
    arm: Any,
    control: Any = "control",
    converted: ArrayLike | None = None,
    candidates: Sequence[str] = VALUE_LEARNERS,
    holdout_fraction: float,
    leaf: int,
    random_state: int,
) -> ValueLearnerChoice | None:
    """Fit each candidate on a stratified part of the campaign's ``arm`` and control rows, score its value Qini
    on revenue over the rest; the best is ``chosen`` (on a tie, the first in ``candidates``).

    The split is the stage's holdout check: ``train_test_split`` stratified on arm x ``converted`` (default
    ``revenue > 0``), ``test_size=holdout_fraction``, ``random_state``; the same inputs give the same choice.
    None when a stratum has fewer than 2 customers or either part has no revenue (nothing to rank on).
    """
    from sklearn.model_selection import train_test_split

    from targetwise.uplift.value_metrics import value_qini_auc_score

    unknown = [name for name in candidates if name not in VALUE_LEARNERS]
    if unknown or not candidates:
        raise ConfigError(
            f"unknown value learner(s) {unknown or list(candidates)!r}; expected some of {', '.join(VALUE_LEARNERS)}",
            fix="pass names from targetwise.usecases.uplift.VALUE_LEARNERS",
        )
    labels = np.asarray(treatment, dtype=object)
    outcome = np.asarray(revenue, dtype=np.float64)
    bought = outcome > 0 if converted is None else np.asarray(converted).astype(int) > 0
    rows = np.flatnonzero((labels == arm) | (labels == control))
    strata = pd.Series(labels[rows]).astype(str) + pd.Series(bought[rows].astype(int)).astype(str)
    if strata.value_counts().min() < 2:
        return None
    fit_rows, test_rows = train_test_split(
        rows, test_size=holdout_fraction, stratify=strata, random_state=random_state
    )
    if not np.abs(outcome[fit_rows]).sum() > 0 or not outcome[test_rows].any():
        return None
    log_basket = not (outcome[fit_rows] < 0).any()
    treated = (labels[test_rows] == arm).astype(int)
    scores: dict[str, float] = {}
    predictions: dict[str, NDArray[np.float64]] = {}
    for name in candidates:
        model = value_learner(name, leaf, random_state, log_basket=log_basket, control=control).fit(
            X.iloc[fit_rows], labels[fit_rows], outcome[fit_rows]
        )
        effect = model.predict(X.iloc[test_rows])
        predictions[name] = np.asarray(effect[arm] if isinstance(effect, pd.DataFrame) else effect, dtype=float)
        scores[name] = float(value_qini_auc_score(outcome[test_rows], predictions[name], treated))
    chosen = max(candidates, key=lambda name: (scores[name], -list(candidates).index(name)))
    return ValueLearnerChoice(chosen, scores, predictions[chosen], outcome[test_rows], treated)


def _fitted_value_learner(result: UpliftResult, config: UpliftConfig) -> str:
    """The learner the stage fits on the whole campaign: the pinned one, else the holdout's choice (else the default)."""
    if config.value_learner != "auto":
        return str(config.value_learner)
    check = result.value_holdout_check or {}
    if "value_learner" not in check:
        result.notes.add(
            f"uplift.value_learner is 'auto' but the campaign has no holdout check to choose on, so the value "
            f"learner is the default, {VALUE_LEARNERS[0]}"
        )
    return str(check.get("value_learner", VALUE_LEARNERS[0]))


def _classifier(leaf: int, random_state: int) -> Any:
    return default_classifier(random_state, 1, {**DEFAULT_LGBM_PARAMS, "min_child_samples": leaf})


def _holdout_check(
    result: UpliftResult, train: pd.DataFrame, cols: list[str], arm: str, *, config: UpliftConfig, random_state: int,
    leaf: int,
) -> None:
    """Qini curve and uplift@30% on a stratified holdout of the campaign (one arm vs control)."""
    from sklearn.model_selection import train_test_split

    from targetwise.uplift import SLearner, qini_auc_score, qini_curve, uplift_at_k
    from targetwise.uplift.value_metrics import value_uplift_at_k

    rows = train[train["arm"].isin([arm, "control"])]
    strata = rows["arm"].astype(str) + rows["converted"].astype(str)
    if strata.value_counts().min() < 2:
        result.notes.add("campaign too small for a holdout uplift check")
        return
    fit_part, test_part = train_test_split(
        rows, test_size=config.holdout_fraction, stratify=strata, random_state=random_state
    )
    learner = SLearner(estimator=_classifier(leaf, random_state), control="control", random_state=random_state).fit(
        fit_part[cols], fit_part["arm"].to_numpy(), fit_part["converted"].astype(int).to_numpy()
    )
    pred = learner.predict(test_part[cols])
    uplift_pred = np.asarray(pred[arm] if isinstance(pred, pd.DataFrame) else pred, dtype=float)
    y = test_part["converted"].astype(int).to_numpy()
    treated = (test_part["arm"] == arm).astype(int).to_numpy()
    x, qini = qini_curve(y, uplift_pred, treated)
    result.qini = pd.DataFrame({"targeted": x, "incremental_responders": qini})
    result.holdout_check = {
        "arm": arm,
        "test_rows": len(test_part),
        "qini_auc": float(qini_auc_score(y, uplift_pred, treated)),
        "uplift_at_30pct": float(uplift_at_k(y, uplift_pred, treated, k=0.3)),
    }
    choice = choose_value_learner(
        rows[cols], rows["arm"].to_numpy(dtype=object), rows["revenue"].astype(float).to_numpy(), arm=arm,
        converted=rows["converted"].astype(int).to_numpy(),
        candidates=VALUE_LEARNERS if config.value_learner == "auto" else (str(config.value_learner),),
        holdout_fraction=config.holdout_fraction, leaf=leaf, random_state=random_state,
    )
    if choice is None:
        return
    revenue, value_pred, treated = choice.revenue, choice.predicted, choice.treated
    result.value_holdout_check = {
        "arm": arm,
        "test_rows": len(revenue),
        "value_qini_auc": choice.value_qini_auc[choice.chosen],
        "incremental_revenue_per_customer_at_30pct": float(value_uplift_at_k(revenue, value_pred, treated, k=0.3)),
        "observed_incremental_revenue_per_customer": float(revenue[treated == 1].mean() - revenue[treated == 0].mean()),
        "value_learner": choice.chosen,
        "value_learner_selection": "auto" if config.value_learner == "auto" else "pinned",
        "value_qini_auc_by_learner": dict(choice.value_qini_auc),
    }
