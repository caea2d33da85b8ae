"""Workspace-level entry points behind the CLI commands (and usable from Python).

Each reads the workspace at a cutoff, honours profiling consent, and calls the pure
models. The run pipeline (:mod:`targetwise.pipeline.stages`) chains the same steps.
"""

from __future__ import annotations

import warnings
from datetime import date, datetime
from typing import Any

import numpy as np
import pandas as pd

from targetwise.errors import ConfigError, NotFoundError
from targetwise.io.consent import opted_out
from targetwise.io.runs import RunStore
from targetwise.io.workspace import Workspace

__all__ = [
    "TIME_UNIT_DAYS",
    "calibration_holdout_split",
    "clv_workspace",
    "evaluate_recommendations",
    "recommend_for_customer",
    "segment_workspace",
    "workspace_features",
    "workspace_transactions",
]

TIME_UNIT_DAYS = {"D": 1, "W": 7}


def workspace_features(ws: Workspace, as_of: date | datetime | str, *, time_unit: str = "D") -> pd.DataFrame:
    """Customer features at ``as_of`` without the customers who objected to profiling."""
    from targetwise.features import compute_features

    frame = compute_features(ws.db_path, as_of, time_unit=time_unit)
    return frame[~frame["customer_id"].isin(opted_out(ws, "profiling"))].reset_index(drop=True)


def segment_workspace(
    ws: Workspace, as_of: date | datetime | str, *, n_clusters: int | None = None, random_state: int = 0
) -> Any:
    from targetwise.segment import segment_customers

    return segment_customers(
        workspace_features(ws, as_of), n_clusters=n_clusters, random_state=random_state, nan_policy="median"
    )


def clv_workspace(
    ws: Workspace,
    as_of: date | datetime | str,
    *,
    horizon: float,
    time_unit: str = "W",
    discount_rate: float = 0.0,
    interval: float | None = 0.8,
    model: str = "bgnbd",
    random_state: int = 0,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Per-customer CLV over ``horizon`` time units (D or W) discounted at ``discount_rate`` per unit."""
    from targetwise.clv import BetaGeo, GammaGamma, ParetoNBD, customer_lifetime_value

    if time_unit not in TIME_UNIT_DAYS:
        raise ConfigError(f"unknown time unit {time_unit!r}", fix="use D (days) or W (weeks)")
    if model not in ("bgnbd", "paretonbd"):
        raise ConfigError(f"unknown CLV model {model!r}", fix="use bgnbd or paretonbd")
    f = workspace_features(ws, as_of, time_unit=time_unit)
    freq, rec, T = (f[c].to_numpy(dtype=float) for c in ("btyd_frequency", "btyd_recency", "btyd_T"))
    money = f["btyd_monetary_value"].to_numpy(dtype=float)
    repeat = (freq > 0) & (money > 0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        trans = (BetaGeo() if model == "bgnbd" else ParetoNBD()).fit(freq, rec, T)
        spend = GammaGamma().fit(freq[repeat], money[repeat])
        value = customer_lifetime_value(
            trans, spend, freq, rec, T, np.where(repeat, money, 0.0), horizon=horizon,
            discount_rate=discount_rate, time_unit=time_unit, interval=interval, random_state=random_state,
        )
    out = pd.DataFrame({"customer_id": f["customer_id"].to_numpy(), "p_alive": trans.prob_alive(freq, rec, T)})
    for col in value.columns:
        out[col] = value[col].to_numpy()
    info = {
        "transaction_model": type(trans).__name__,
        "params": trans.params_,
        "spend_params": spend.params_,
        "log_likelihood": trans.log_likelihood_,
        "warnings": sorted({str(w.message).splitlines()[0] for w in caught if issubclass(w.category, UserWarning)}),
    }
    return out, info


def calibration_holdout_split(
    ws: Workspace, cutoff: date | datetime | str, end: date | datetime | str, *, time_unit: str = "W"
) -> pd.DataFrame:
    """BTYD summary at ``cutoff`` plus ``holdout_frequency``: purchase days in [cutoff, end).

    Purchases are collapsed per day, like the calibration frequency, so the two are
    comparable (lifetimes' calibration_and_holdout_data with freq='D').
    """
    cut, stop = pd.Timestamp(cutoff), pd.Timestamp(end)
    if stop <= cut:
        raise ConfigError(f"holdout end {stop.date()} must be after the cutoff {cut.date()}", fix="swap the dates")
    summary = workspace_features(ws, cut, time_unit=time_unit)
    with ws.connect(read_only=True) as con:
        holdout = con.execute(
            """
            SELECT customer_id, count(DISTINCT CAST(ordered_at AS DATE)) AS holdout_frequency
            FROM transactions WHERE NOT is_return AND NOT is_non_product AND ordered_at >= ? AND ordered_at < ?
            GROUP BY 1
            """,
            [cut.to_pydatetime(), stop.to_pydatetime()],
        ).df()
    frame = summary.merge(holdout, on="customer_id", how="left")
    frame["holdout_frequency"] = frame["holdout_frequency"].fillna(0).astype(int)
    frame.attrs["holdout_duration"] = (stop - cut).days / TIME_UNIT_DAYS[time_unit]
    return frame


def recommend_for_customer(ws: Workspace, customer_id: str, *, n: int = 10) -> pd.DataFrame:
    """The active run's recommendations for one customer; popular products for unknown customers."""
    run = RunStore(ws).active()
    if run is None or not run.has("recommendations/recommendations.parquet"):
        raise NotFoundError("no run with recommendations is active", fix="run `targetwise run` first")
    recs = pd.read_parquet(run.file("recommendations/recommendations.parquet"), filters=[("customer_id", "==", customer_id)])
    if recs.empty:
        if customer_id in opted_out(ws, "profiling"):
            raise NotFoundError(f"customer {customer_id!r} objected to profiling; no recommendations are made")
        recs = run.read_table("recommendations/popular.parquet").head(n).assign(customer_id=customer_id, reason="popular")
    return recs.sort_values("rank").head(n).reset_index(drop=True)


def workspace_transactions(ws: Workspace, *, before: Any = None) -> pd.DataFrame:
    sql = ("SELECT customer_id, order_id, ordered_at, product_id, quantity, unit_price, is_return, is_non_product "
           "FROM transactions")
    params: list[Any] = []
    if before is not None:
        sql += " WHERE ordered_at < ?"
        params.append(pd.Timestamp(before).to_pydatetime())
    with ws.connect(read_only=True) as con:
        return con.execute(sql, params).df()


def evaluate_recommendations(
    ws: Workspace, test_start: date | datetime | str, *, k: int = 10, models: list[str] | None = None, random_state: int = 0
) -> pd.DataFrame:
    """Fit on lines before ``test_start``, evaluate on lines from it on, under both protocols."""
    from targetwise.recommend import evaluate_recommenders, make_recommender, split_by_date

    names = models or ["popularity", "buy_again", "item_item", "als", "hybrid"]
    lines = workspace_transactions(ws)
    lines = lines[~lines["customer_id"].isin(opted_out(ws, "profiling"))]
    train, test = split_by_date(lines, test_start)
    if train.empty or test.empty:
        raise ConfigError(
            f"test start {test_start} leaves no training or no test lines",
            fix=f"choose a date between {lines['ordered_at'].min():%Y-%m-%d} and {lines['ordered_at'].max():%Y-%m-%d}",
        )
    with ws.connect(read_only=True) as con:
        products = con.execute(
            "SELECT product_id, name, description, category, price, coalesce(active, true) AS active FROM products"
        ).df()
    params = {"als": {"random_state": random_state}, "hybrid": {"random_state": random_state}}
    recommenders = {name: make_recommender(name, **params.get(name, {})) for name in names}
    return evaluate_recommenders(recommenders, train, test, k=k, products=products)


def tracking_data(ws: Workspace, as_of: Any, *, unit_days: int = 7) -> tuple[np.ndarray, np.ndarray, pd.Timestamp]:
    """Repeat purchases per period (all customers) and each customer's first purchase time.

    Purchases are collapsed per customer-day; time is measured in periods of
    ``unit_days`` from the first purchase in the data. Used by the tracking plot.
    """
    with ws.connect(read_only=True) as con:
        days = con.execute(
            """
            SELECT customer_id, CAST(ordered_at AS DATE) AS day FROM transactions
            WHERE NOT is_return AND NOT is_non_product AND ordered_at < ? GROUP BY 1, 2
            """,
            [pd.Timestamp(as_of).to_pydatetime()],
        ).df()
    objected = opted_out(ws, "profiling")
    days = days[~days["customer_id"].isin(objected)]
    origin = pd.Timestamp(days["day"].min())
    t = (pd.to_datetime(days["day"]) - origin).dt.days.to_numpy() / unit_days
    days = days.assign(t=t).sort_values(["customer_id", "t"])
    first = days.groupby("customer_id", sort=False)["t"].transform("min")
    repeat_t = days.loc[days["t"] > first, "t"].to_numpy()
    n_periods = int(np.ceil((pd.Timestamp(as_of) - origin).days / unit_days))
    per_period = np.bincount(np.clip(np.ceil(repeat_t).astype(int) - 1, 0, None), minlength=n_periods)[:n_periods]
    first_times = days.groupby("customer_id")["t"].min().to_numpy()
    return per_period.astype(float), first_times, origin


def clv_checks(ws: Workspace, as_of: Any, *, holdout_weeks: int | None = None) -> dict[str, Any]:
    """BG/NBD fitted in weeks on data before a calibration cutoff, checked against the holdout after it."""
    from targetwise.clv import BetaGeo, calibration_holdout_table, tracking_table

    end = pd.Timestamp(as_of)
    with ws.connect(read_only=True) as con:
        first = pd.Timestamp(con.execute("SELECT min(ordered_at) FROM transactions").fetchone()[0])  # type: ignore[index]
    span_weeks = (end - first).days / 7
    weeks = holdout_weeks or int(max(4, min(26, span_weeks // 3)))
    cutoff = (end - pd.Timedelta(weeks=weeks)).normalize()
    cal = calibration_holdout_split(ws, cutoff, end, time_unit="W")
    f, r, T = (cal[c].to_numpy(dtype=float) for c in ("btyd_frequency", "btyd_recency", "btyd_T"))
    model = BetaGeo().fit(f, r, T)
    holdout = cal["holdout_frequency"].to_numpy(dtype=float)
    table = calibration_holdout_table(model, f, r, T, holdout, holdout_duration=cal.attrs["holdout_duration"])
    per_period, first_times, _origin = tracking_data(ws, end, unit_days=7)
    cal_end = (cutoff - _origin).days / 7
    # customers acquired before the calibration cutoff only (the model has not seen later cohorts)
    tracking = tracking_table(model, per_period, first_times[first_times < cal_end])
    return {
        "model": model,
        "cutoff": cutoff,
        "holdout_weeks": weeks,
        "calibration_holdout": pd.DataFrame(table),
        "tracking": pd.DataFrame(tracking),
        "calibration_end_period": cal_end,
        "arrays": (f, r, T, holdout, cal.attrs["holdout_duration"], per_period, first_times[first_times < cal_end]),
        "holdout_actual": float(holdout.sum()),
        "holdout_predicted": float(model.expected_purchases(cal.attrs["holdout_duration"], f, r, T).sum()),
    }
