"""Use case: supervised tasks on the workspace (purchase, churn, spend, days to next order).

Point in time by construction: training rows are feature snapshots at cutoffs
whose label windows close on or before the scoring cutoff (``as_of``); the
model then scores the features at ``as_of``. The default evaluation is out of
time: train on the earlier cutoffs, test on the latest complete one.
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from json.encoder import encode_basestring_ascii  # type: ignore[attr-defined]
from typing import Any, Literal

import numpy as np
import pandas as pd

from targetwise.errors import ConfigError, DataValidationError, ModelError
from targetwise.io.modeldata import ModelData, open_model_data
from targetwise.io.workspace import Workspace
from targetwise.runconfig import PropensityConfig
from targetwise.usecases._snapshots import SnapshotStore

__all__ = [
    "DRIVER_TEMPLATES",
    "TASKS",
    "PropensityResult",
    "TaskResult",
    "predict_task",
    "predict_workspace",
    "score_task",
    "train_propensity",
    "training_cutoffs",
]

Task = Literal["purchase", "churn", "spend", "next_order"]
TASKS: dict[str, tuple[str, str]] = {
    # task -> (label column template, kind)
    "purchase": ("purchased_within_{N}d", "classification"),
    "churn": ("churned_{N}d", "classification"),
    "spend": ("spend_within_{N}d", "regression"),
    "next_order": ("days_to_next_order", "regression"),
}

DRIVER_TEMPLATES: dict[str, str] = {
    "recency_days": "no order for {value:.0f} days",
    "frequency": "{value:.0f} orders so far",
    "monetary_total": "spent {value:,.0f} in total",
    "monetary_mean": "spends {value:,.0f} per order",
    "tenure_days": "customer for {value:.0f} days",
    "orders_30d": "{value:.0f} orders in the last 30 days",
    "orders_90d": "{value:.0f} orders in the last 90 days",
    "orders_365d": "{value:.0f} orders in the last year",
    "ipi_mean_days": "buys every {value:.0f} days on average",
    "ipi_std_days": "gaps between orders vary by {value:.0f} days",
    "trend_90d": "order trend {value:+.2f} (last 90 vs previous 90 days)",
    "distinct_products": "bought {value:.0f} different products",
    "returns_rate": "returns {value:.0%} of what they buy",
    "btyd_frequency": "bought again on {value:.0f} separate days",
    "btyd_recency": "last repeat purchase {value:.0f} days after the first",
    "btyd_T": "first order {value:.0f} days ago",
    "btyd_monetary_value": "repeat orders worth {value:,.0f} on average",
    "basket_size_mean": "{value:.0f} units per order",
    "lines_per_order_mean": "{value:.0f} lines per order",
    "returns_value": "returned {value:,.0f} in value",
    "days_since_last_return": "last return {value:.0f} days ago",
    "days_since_first_return": "first return {value:.0f} days ago",
    "distinct_categories": "bought from {value:.0f} categories",
    "top_category_share": "{value:.0%} of spend in one category",
}

EXCLUDED_FEATURES = ("customer_id", "cutoff", "top_category")


@dataclass
class TaskResult:
    task: str
    horizon_days: int
    as_of: date
    scores: pd.DataFrame  # customer_id, score column, drivers (classification)
    metrics: dict[str, Any]
    baselines: dict[str, float]
    model_card: dict[str, Any]
    feature_importance: pd.DataFrame = field(repr=False, default_factory=pd.DataFrame)
    test_predictions: pd.DataFrame = field(repr=False, default_factory=pd.DataFrame)  # customer_id, y_true, score
    #: the final model and what scoring with it needs (persisted by the stage, read by ``targetwise rescore``)
    fitted: dict[str, Any] | None = field(repr=False, default=None)


def score_task(fitted: dict[str, Any], features: pd.DataFrame, *, currency: str = "") -> pd.DataFrame:
    """One task's scores (and, for a classifier, drivers) of the customers in ``features`` with its fitted model.

    ``fitted`` is :attr:`TaskResult.fitted` (``model``, ``columns``, ``task``, ``horizon_days``):
    the same computation as at training time, so a customer's score depends only on their own features.
    """
    model, cols, task, horizon_days = fitted["model"], fitted["columns"], fitted["task"], fitted["horizon_days"]
    missing = [c for c in cols if c not in features.columns]
    if missing:
        raise DataValidationError(
            f"the features lack column(s) {', '.join(missing)} the {task} model was trained on",
            fix="run `targetwise run` to refit the models on the current feature set",
        )
    kind = TASKS[task][1]
    if kind == "classification":
        score = model.predict_proba(features[cols])[:, 1]
    else:
        # a mean of min(T, H) lies in [0, H]; boosting can step slightly outside it. Spend is not
        # bounded (returns can make it negative).
        bounds = (0.0, float(horizon_days)) if task == "next_order" else (-np.inf, np.inf)
        score = np.clip(model.predict(features[cols]), *bounds)
    score_col = {"purchase": f"p_purchase_{horizon_days}d", "churn": f"p_churn_{horizon_days}d",
                 "spend": f"spend_{horizon_days}d", "next_order": "expected_days_to_next_order"}[task]
    scores = pd.DataFrame({"customer_id": features["customer_id"].to_numpy(), score_col: score})
    if kind == "classification":
        scores[f"drivers_{score_col.removeprefix('p_')}"] = _drivers(model, features[cols], currency=currency)
    return scores


def restricted_days_to_next_order(days: pd.Series, horizon_days: int) -> pd.Series:
    """``min(T, H)``: the days to the next order, counted up to the horizon ``H``.

    ``days_to_next_order`` is null when no order followed before the data ends (right-censored);
    every snapshot's label window is covered by the data, so such a customer, like one whose next
    order came after ``H`` days, waited at least ``H`` days: ``min(T, H) = H`` is known exactly. The
    restricted mean ``E[min(T, H)]`` is therefore learnable without bias from every row, where
    training on the observed gaps alone (the rows with ``T < H``) leaves out the slow and lapsing
    buyers and biases the estimate low.
    """
    return days.astype(float).fillna(float(horizon_days)).clip(upper=float(horizon_days))


def default_step_days(horizon_days: int) -> int:
    """Days between training cutoffs by default: the horizon, at least two weeks."""
    return max(horizon_days, 14)


def training_cutoffs(as_of: date, *, horizon_days: int, n_cutoffs: int, step_days: int) -> list[date]:
    """Cutoffs whose label windows end on or before ``as_of``, oldest first."""
    last = as_of - timedelta(days=horizon_days)
    return sorted(last - timedelta(days=step_days * k) for k in range(n_cutoffs))


def feature_columns(frame: pd.DataFrame) -> list[str]:
    return [c for c in frame.columns if c not in EXCLUDED_FEATURES and pd.api.types.is_numeric_dtype(frame[c])]


def predict_task(
    backend: Any,
    task: str,
    *,
    as_of: date | datetime | str,
    horizon_days: int = 30,
    n_cutoffs: int = 6,
    step_days: int | None = None,
    model: str = "lightgbm",
    random_state: int = 0,
    features_at_as_of: pd.DataFrame | None = None,
    min_history_days: int = 60,
    currency: str = "",
    store: SnapshotStore | None = None,
) -> TaskResult:
    """Train on snapshots before ``as_of``, validate out of time, score every customer at ``as_of``
    (the drivers' amounts in ``currency``, e.g. "£").

    ``store`` shares the features at each cutoff between tasks and caps the training rows
    per cutoff (see :mod:`targetwise.usecases._snapshots`); by default every row is used.
    """
    from targetwise.features import customer_features, label_names
    from targetwise.propensity import (
        PropensityClassifier,
        SpendRegressor,
        classification_metrics,
        regression_metrics,
    )

    if task not in TASKS:
        raise ConfigError(f"unknown task {task!r}", fix=f"use one of: {', '.join(TASKS)}")
    if horizon_days < 1:
        raise ConfigError(f"horizon must be at least 1 day, got {horizon_days}", fix="e.g. --horizon-days 30")
    as_of_date = pd.Timestamp(as_of).date()
    step = step_days or default_step_days(horizon_days)
    template, kind = TASKS[task]
    label = template.replace("{N}", str(horizon_days))
    assert label in label_names(horizon_days) or label == "days_to_next_order"
    cutoffs = usable_cutoffs(
        backend, as_of_date, horizon_days=horizon_days, n_cutoffs=n_cutoffs, step_days=step,
        min_history_days=min_history_days,
    )
    if len(cutoffs) < 2:
        first = _first_day(backend)
        raise ModelError(
            f"not enough history before {as_of_date} for a {horizon_days}-day {task} model "
            f"(data starts {first}; need {min_history_days} days of history plus two cutoffs {step} days apart "
            f"whose {horizon_days}-day outcome windows end by {as_of_date})",
            fix="choose a later --as-of, a shorter horizon, or load more history",
        )
    store = store or SnapshotStore(backend, random_state=random_state)
    snapshots = _snapshots(store, cutoffs, horizon_days)
    if task == "next_order":
        snapshots = snapshots.assign(**{label: restricted_days_to_next_order(snapshots[label], horizon_days)})
    if snapshots.empty or snapshots["cutoff"].nunique() < 2:
        raise ModelError(
            f"not enough history before {as_of_date} for a {horizon_days}-day {task} model "
            f"(need purchases before at least two cutoffs {step} days apart)",
            fix="choose a later --as-of, a shorter horizon, or fewer cutoffs",
        )
    features = features_at_as_of if features_at_as_of is not None else customer_features(backend, as_of_date).to_pandas()
    cols = feature_columns(features)
    last_cutoff = snapshots["cutoff"].max()
    train = snapshots[snapshots["cutoff"] < last_cutoff - pd.Timedelta(days=horizon_days) + pd.Timedelta(days=1)]
    test = snapshots[snapshots["cutoff"] == last_cutoff]
    if train.empty:
        raise ModelError(
            "no training cutoff closes its label window before the test cutoff",
            fix="use more cutoffs (n_cutoffs) or a step at least as long as the horizon",
        )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if kind == "classification":
            y_train = train[label].astype(bool).to_numpy()
            backtest_model, final = _fit_pair(
                lambda: PropensityClassifier(model=model, random_state=random_state),
                (train[cols], y_train),
                (snapshots[cols], snapshots[label].astype(bool).to_numpy()),
            )
            proba = backtest_model.predict_proba(test[cols])[:, 1]
            test_predictions = pd.DataFrame(
                {"customer_id": test["customer_id"].to_numpy(), "y_true": test[label].astype(bool).to_numpy(), "score": proba}
            )
            metrics = classification_metrics(test[label].astype(bool).to_numpy(), proba)
            baselines = _baselines(test, label, task, horizon_days)
        else:
            y_train = train[label].astype(float).to_numpy()
            backtest_model, final = _fit_pair(
                lambda: SpendRegressor(random_state=random_state),
                (train[cols], y_train),
                (snapshots[cols], snapshots[label].astype(float).to_numpy()),
            )
            # a mean of min(T, H) lies in [0, H]; boosting can step slightly outside it. Spend is not
            # bounded (returns can make it negative).
            bounds = (0.0, float(horizon_days)) if task == "next_order" else (-np.inf, np.inf)
            pred = np.clip(backtest_model.predict(test[cols]), *bounds)
            test_predictions = pd.DataFrame(
                {"customer_id": test["customer_id"].to_numpy(), "y_true": test[label].astype(float).to_numpy(), "score": pred}
            )
            metrics = regression_metrics(test[label].astype(float).to_numpy(), pred)
            # the constant baseline: the training rows' mean target, scored on the same test rows
            constant = regression_metrics(test[label].astype(float).to_numpy(), np.full(len(test), y_train.mean()))
            baselines = {"training_mean_mae": constant["mae"], "training_mean_rmse": constant["rmse"]}
        fitted = {"model": final, "columns": cols, "task": task, "horizon_days": horizon_days}
        scores = score_task(fitted, features, currency=currency)
    importance = _importance(final, cols)
    notes = [str(w.message) for w in caught if issubclass(w.category, UserWarning)]
    card = {
        "task": task,
        "label": label,
        "horizon_days": horizon_days,
        "as_of": str(as_of_date),
        "model": getattr(final, "model_used_", model),
        "fallback_reason": getattr(final, "fallback_reason_", None),
        "training_cutoffs": [str(pd.Timestamp(c).date()) for c in sorted(snapshots["cutoff"].unique())],
        "test_cutoff": str(pd.Timestamp(last_cutoff).date()),
        "training_rows": len(snapshots),
        "training_sample": store.sampling(cutoffs),
        "features": cols,
        "metrics_out_of_time": metrics,
        "baselines_out_of_time": baselines,
        "calibration": getattr(final, "calibration_report_", None),
        "known_limits": [
            "trained on this shop's history only; distribution shifts (season, promotions) degrade it",
            "customers with no purchase before as_of are not scored",
            *(
                [f"expected_days_to_next_order is the restricted mean E[min(T, {horizon_days})] of the time T to "
                 f"the next order: {horizon_days} means no order expected within the horizon, not a date; "
                 "it does not say how long after the horizon a lapsing customer would return"]
                if task == "next_order"
                else []
            ),
            *notes,
        ],
    }
    return TaskResult(
        task, horizon_days, as_of_date, scores, metrics, baselines, card, importance, test_predictions, fitted=fitted
    )


@dataclass
class PropensityResult:
    """Every configured task trained on the same data: merged scores, one model card per task."""

    scores: pd.DataFrame
    tasks: dict[str, TaskResult]
    notes: list[str] = field(default_factory=list)

    @property
    def model_cards(self) -> dict[str, dict[str, Any]]:
        return {key: result.model_card for key, result in self.tasks.items()}


def task_key(task: str, horizon_days: int) -> str:
    """``purchase_30d``: the name of a task's model card and outputs."""
    return f"{task}_{horizon_days}d"


def train_propensity(
    data: ModelData,
    features: pd.DataFrame,
    *,
    as_of: date | datetime | str,
    config: PropensityConfig,
    random_state: int,
    currency: str = "",
) -> PropensityResult:
    """Train and score every task of ``config``; a task without enough history is left out with a note.

    Training snapshots come from ``data`` (objectors are not in it) and scoring uses
    ``features`` (the stage's features at ``as_of``, objectors left out too).
    """
    merged = features[["customer_id"]].copy()
    results: dict[str, TaskResult] = {}
    notes: list[str] = []
    as_of_date = pd.Timestamp(as_of).date()
    store = SnapshotStore(data.backend, max_rows_per_cutoff=config.max_rows_per_cutoff, random_state=random_state)
    first = _first_day(data.backend)
    store.plan([
        c for task, horizon in config.tasks for c in usable_cutoffs(
            data.backend, as_of_date, horizon_days=horizon, n_cutoffs=config.n_cutoffs,
            step_days=default_step_days(horizon), min_history_days=config.min_history_days, first=first,
        )
    ])
    for task, horizon in config.tasks:
        try:
            result = predict_task(
                data.backend, task, as_of=as_of, horizon_days=horizon, n_cutoffs=config.n_cutoffs, model=config.model,
                random_state=random_state, features_at_as_of=features, min_history_days=config.min_history_days,
                currency=currency, store=store,
            )
        except ModelError as exc:  # e.g. too little history for this horizon: the other tasks still run
            notes.append(f"{task} in {horizon} days not trained: {exc.message}")
            continue
        merged = merged.merge(result.scores, on="customer_id", how="left")
        results[task_key(task, horizon)] = result
    if not results:
        raise ModelError("no propensity task could be trained", fix="load more history (see the stage notes)")
    return PropensityResult(scores=merged, tasks=results, notes=notes)


def predict_workspace(
    ws: Workspace,
    task: str,
    *,
    as_of: date | datetime | str,
    horizon_days: int = 30,
    model: str = "lightgbm",
    random_state: int = 0,
) -> TaskResult:
    """``targetwise predict``: one task at ``as_of`` on the workspace (objectors left out)."""
    from targetwise.usecases.features import features_at

    with open_model_data(ws) as data:
        features = features_at(data, as_of)
        return predict_task(
            data.backend, task, as_of=as_of, horizon_days=horizon_days, model=model, random_state=random_state,
            features_at_as_of=features, currency=ws.settings.currency_symbol,
        )


def _first_day(backend: Any) -> date:
    from targetwise.features._inputs import data_range, resolve_inputs

    return data_range(resolve_inputs(backend).transactions).first.date()


def usable_cutoffs(
    backend: Any, as_of: date, *, horizon_days: int, n_cutoffs: int, step_days: int, min_history_days: int,
    first: date | None = None,
) -> list[date]:
    """The training cutoffs of a task that leave at least ``min_history_days`` of history before them."""
    first = first or _first_day(backend)
    cutoffs = training_cutoffs(as_of, horizon_days=horizon_days, n_cutoffs=n_cutoffs, step_days=step_days)
    return [c for c in cutoffs if c >= first + timedelta(days=min_history_days)]


def _snapshots(store: SnapshotStore, cutoffs: list[date], horizon_days: int) -> pd.DataFrame:
    if len(cutoffs) < 2:
        return pd.DataFrame(columns=["cutoff"])
    frame = store.snapshots(cutoffs, horizon_days)
    frame["cutoff"] = pd.to_datetime(frame["cutoff"])
    return frame


def _baselines(test: pd.DataFrame, label: str, task: str, horizon_days: int) -> dict[str, float]:
    """Out-of-time AUC of the recency rule and BG/NBD P(alive) on the same test rows."""
    from sklearn.metrics import roc_auc_score

    from targetwise.clv import BetaGeo

    y = test[label].astype(bool).to_numpy()
    if y.all() or not y.any():
        return {}
    sign = 1.0 if task == "churn" else -1.0  # purchase: recent = likely; churn: the opposite
    out = {"recency_rule_auc": float(roc_auc_score(y, sign * test["recency_days"].to_numpy()))}
    try:
        f, r, t = (test[c].to_numpy(dtype=float) for c in ("btyd_frequency", "btyd_recency", "btyd_T"))
        model = BetaGeo().fit(f, r, t)
        p_alive = model.prob_alive(f, r, t)
        out["bgnbd_p_alive_auc"] = float(roc_auc_score(y, -sign * p_alive))
        # the stronger BTYD baseline: expected purchases in the label window (time unit: days)
        expected = model.expected_purchases(float(horizon_days), f, r, t)
        out["bgnbd_expected_purchases_auc"] = float(roc_auc_score(y, -sign * expected))
    except Exception as exc:  # the baseline must not break the task; say why it is missing
        out["bgnbd_p_alive_error"] = str(exc).splitlines()[0]  # type: ignore[assignment]
    return out


#: driver templates whose value is an amount of money (the currency goes before it)
MONEY_DRIVERS = ("monetary_total", "monetary_mean", "btyd_monetary_value", "returns_value")


def driver_templates(columns: list[str], currency: str = "") -> dict[str, str]:
    """:data:`DRIVER_TEMPLATES` with ``currency`` before amounts, plus one for each channel-share column."""
    templates = dict(DRIVER_TEMPLATES)
    for name in MONEY_DRIVERS:
        templates[name] = templates[name].replace("{value:,.0f}", currency + "{value:,.0f}")
    for column in columns:
        if column.startswith("channel_share_"):
            channel = column.removeprefix("channel_share_").replace("_", " ")
            templates[column] = "{value:.0%} of orders through " + channel
    return templates


def _drivers(model: Any, X: pd.DataFrame, k: int = 3, *, currency: str = "") -> list[str]:
    """Each row's top ``k`` drivers as a JSON list of ``{feature, value, contribution, text}`` (row by
    position), the records :func:`targetwise.propensity.top_drivers` gives, written without building them."""
    from targetwise.propensity import contributions
    from targetwise.propensity.explain import BASELINE, driver_text, top_columns

    templates = driver_templates(list(X.columns), currency)
    try:
        contrib = contributions(model, X).drop(columns=BASELINE)
    except Exception:  # models without contributions (fallbacks) explain nothing rather than guess
        return ["[]"] * len(X)
    values = contrib.to_numpy()
    names = [str(c) for c in contrib.columns]
    order = top_columns(values, k)
    raw = X[names].to_numpy(dtype=object)
    quoted = [_json_text(name) for name in names]
    texts: dict[tuple[int, type, Any], str] = {}
    out = []
    for i in range(len(X)):
        items = []
        for j in order[i]:
            value = raw[i, j]
            c = float(values[i, j])
            # the text depends on the feature and value only: cached for numbers, except float zeros
            # (0.0 == -0.0, but they format as "0" and "-0")
            key = (j, type(value), value)
            cacheable = isinstance(value, int | float | np.number) and not (isinstance(value, float | np.floating) and value == 0.0)
            text = texts.get(key) if cacheable else None
            if text is None:
                text = driver_text(names[j], value, templates=templates)
                if cacheable:
                    texts[key] = text
            items.append(
                f'{{"feature": {quoted[j]}, "value": {_json_value(value)}, "contribution": {_json_float(c)}, '
                f'"text": {_json_text(f"{text} ({c:+.2f})")}}}'
            )
        out.append("[" + ", ".join(items) + "]")
    return out


def _json_float(value: float) -> str:
    """``json.dumps(value)`` for a float."""
    return float.__repr__(value) if np.isfinite(value) else json.dumps(value)


def _json_text(text: str) -> str:
    """``json.dumps(text)`` (ASCII, as json.dumps writes it)."""
    return encode_basestring_ascii(text)


def _json_value(value: Any) -> str:
    """A driver's value as ``json.dumps`` wrote the record: null when missing, a float for numbers
    (booleans too), else text."""
    if value is None or value is pd.NA or (not isinstance(value, str) and bool(pd.isna(value))):
        return "null"
    if isinstance(value, int | float | np.number | np.bool_):
        return _json_float(float(value))
    return _json_text(str(value))


def _fit_pair(make: Callable[[], Any], first: tuple[Any, Any], second: tuple[Any, Any]) -> tuple[Any, Any]:
    """Fit two fresh estimators from ``make()`` on ``first`` and ``second`` at the same time (the backtest
    model and the final one). Each fit keeps its own single LightGBM thread, so every value is the one a
    sequential fit gives on any machine; LightGBM releases the GIL while it trains, so two cores halve the
    wall time."""
    workers = min(2, os.cpu_count() or 1)
    if workers < 2:
        return make().fit(*first), make().fit(*second)
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="targetwise-fit") as pool:
        futures = [pool.submit(lambda rows=rows: make().fit(*rows)) for rows in (first, second)]
        return futures[0].result(), futures[1].result()


def _importance(model: Any, cols: list[str]) -> pd.DataFrame:
    values = getattr(model, "feature_importances_", None)
    if values is None or len(values) != len(cols):
        return pd.DataFrame(columns=["feature", "importance"])
    frame = pd.DataFrame({"feature": cols, "importance": np.asarray(values, dtype=float)})
    return frame.sort_values("importance", ascending=False, ignore_index=True)
