"""The pipeline's stages. Each reads the workspace (through io) and earlier stages'
results from the :class:`RunContext`, fits models, and writes the run outputs named
in the run output contract (see ``targetwise.io.runs``)."""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from targetwise.errors import ModelError
from targetwise.io.consent import opted_out

if TYPE_CHECKING:
    from targetwise.pipeline.run import RunContext

__all__ = ["clv", "features", "propensity", "recommendations", "segments", "uplift"]

CLV_HORIZON_DAYS = 365
CLV_ANNUAL_DISCOUNT = 0.10
PROPENSITY_TASKS = (("purchase", 30), ("churn", 90), ("next_order", 90))


def _note_warnings(record: dict[str, Any], caught: list[warnings.WarningMessage]) -> None:
    for w in caught:
        if issubclass(w.category, UserWarning):
            text = str(w.message).splitlines()[0]
            if text not in record["notes"]:
                record["notes"].append(text)


def features(ctx: RunContext, record: dict[str, Any]) -> None:
    from targetwise.features import compute_features

    frame = compute_features(ctx.workspace.db_path, ctx.as_of)
    objected = opted_out(ctx.workspace, "profiling")
    before = len(frame)
    frame = frame[~frame["customer_id"].isin(objected)].reset_index(drop=True)
    ctx.features = frame
    ctx.writer.write_table("features/customer_features.parquet", frame)
    record["metrics"].update(
        {"customers": len(frame), "columns": len(frame.columns), "excluded_profiling_objection": before - len(frame)}
    )


def segments(ctx: RunContext, record: dict[str, Any]) -> None:
    from targetwise.segment import segment_customers

    assert ctx.features is not None
    previous = _previous_centers(ctx)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = segment_customers(
            ctx.features, random_state=ctx.settings.random_state, nan_policy="median", previous=previous
        )
    _note_warnings(record, caught)
    ctx.results["segments"] = result
    ctx.writer.write_table("segments/customer_segments.parquet", result.customers)
    ctx.writer.write_table("segments/centers.parquet", result.cluster_centers_table().reset_index())
    profiles = result.cluster_profiles.reset_index()
    ctx.writer.write_json("segments/profiles.json", _profiles_json(profiles))
    rfm_counts = result.customers["rfm_segment"].value_counts().to_dict()
    ctx.writer.write_json("segments/rfm_counts.json", {k: int(v) for k, v in rfm_counts.items()})
    fig = result.plot_segment_map().figure
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    ctx.writer.write_bytes("segments/segment_map.png", buf.getvalue())
    clusterer = result.clusterer
    record["metrics"].update(
        {
            "clusters": len(result.cluster_names),
            "silhouette": _maybe_float(getattr(clusterer, "silhouette_", None)),
            "pca_explained_variance": [float(v) for v in getattr(clusterer, "pca_explained_variance_ratio_", [])],
            "rfm_segments": len(rfm_counts),
        }
    )


def _previous_centers(ctx: RunContext) -> pd.DataFrame | None:
    """The active run's cluster centres, so cluster ids and names stay put from run to run."""
    from targetwise.io.runs import RunStore

    active = RunStore(ctx.workspace).active()
    if active is None or not active.has("segments/centers.parquet"):
        return None
    return active.read_table("segments/centers.parquet").set_index("cluster")


def _maybe_float(value: Any) -> float | None:
    try:
        return None if value is None else float(value)
    except (TypeError, ValueError):
        return None


def _profiles_json(profiles: pd.DataFrame) -> list[dict[str, Any]]:
    out = []
    cluster_col = next((c for c in ("cluster", "index") if c in profiles.columns), None)
    for rec in profiles.to_dict("records"):
        feats: dict[str, dict[str, float]] = {}
        for key, value in rec.items():
            for suffix, name in (("_mean", "mean"), ("_median", "median"), ("_vs_overall", "vs_overall")):
                if key.endswith(suffix) and key not in ("customer_share",):
                    feats.setdefault(key[: -len(suffix)], {})[name] = None if pd.isna(value) else float(value)
        out.append(
            {
                "name": rec.get("name"),
                "cluster": None if cluster_col is None else int(rec[cluster_col]),
                "size": int(rec.get("n_customers", 0)),
                "share": float(rec.get("customer_share", 0.0)),
                "revenue_share": float(rec.get("revenue_share", 0.0)),
                "description": rec.get("description"),
                "features": feats,
            }
        )
    return out


def clv(ctx: RunContext, record: dict[str, Any]) -> None:
    """BG/NBD + Gamma-Gamma in days; CLV over 365 days at 10 % a year, with 80 % intervals."""
    from targetwise.clv import BetaGeo, GammaGamma, customer_lifetime_value

    assert ctx.features is not None
    f = ctx.features
    freq, rec, T = (f[c].to_numpy(dtype=float) for c in ("btyd_frequency", "btyd_recency", "btyd_T"))
    money = f["btyd_monetary_value"].to_numpy(dtype=float)
    daily = (1 + CLV_ANNUAL_DISCOUNT) ** (1 / 365) - 1
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        bgf = BetaGeo().fit(freq, rec, T)
        repeat = (freq > 0) & (money > 0)
        ggf = GammaGamma().fit(freq[repeat], money[repeat])
        kwargs = dict(horizon=CLV_HORIZON_DAYS, discount_rate=daily, time_unit="day", step=7.0,
                      n_draws=200, random_state=ctx.settings.random_state)
        try:
            value = customer_lifetime_value(bgf, ggf, freq, rec, T, np.where(repeat, money, 0.0), interval=0.8, **kwargs)
        except ModelError as exc:  # e.g. a singular information matrix on a tiny shop: say so, keep point values
            record["notes"].append(f"no CLV intervals: {exc.message}")
            value = customer_lifetime_value(bgf, ggf, freq, rec, T, np.where(repeat, money, 0.0), interval=None, **kwargs)
            value["clv_lower"] = np.nan
            value["clv_upper"] = np.nan
    _note_warnings(record, caught)
    out = pd.DataFrame(
        {
            "customer_id": f["customer_id"].to_numpy(),
            "p_alive": bgf.prob_alive(freq, rec, T),
            "expected_purchases": bgf.expected_purchases(CLV_HORIZON_DAYS, freq, rec, T),
            "expected_spend": ggf.expected_spend(freq, np.where(repeat, money, 0.0)),
        }
    )
    for col in ("clv", "clv_lower", "clv_upper"):
        out[col] = value[col].to_numpy()
    ctx.results["clv"] = out
    ctx.writer.write_table("clv/customer_clv.parquet", out)
    _clv_checks(ctx, record, bgf, T)
    ctx.writer.write_json(
        "clv/params.json",
        {"beta_geo": bgf.params_, "gamma_gamma": ggf.params_, "beta_geo_log_likelihood": bgf.log_likelihood_,
         "time_unit": "day", "horizon_days": CLV_HORIZON_DAYS, "annual_discount_rate": CLV_ANNUAL_DISCOUNT},
    )
    record["params"] = {"horizon": CLV_HORIZON_DAYS, "time_unit": "day", "annual_discount_rate": CLV_ANNUAL_DISCOUNT,
                        "interval": 0.8}
    record["metrics"].update(
        {
            "customers": len(out),
            "repeat_buyers": int(repeat.sum()),
            "total_clv": float(out["clv"].sum()),
            "median_p_alive": float(np.median(out["p_alive"])),
            "beta_geo": {k: float(v) for k, v in bgf.params_.items()},
            "gamma_gamma": {k: float(v) for k, v in ggf.params_.items()},
        }
    )


def _png(ax: Any) -> bytes:
    import io

    import matplotlib.pyplot as plt

    fig = ax.figure
    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight", dpi=100)
    plt.close(fig)
    return buf.getvalue()


def _clv_checks(ctx: RunContext, record: dict[str, Any], model: Any, T: np.ndarray) -> None:
    """Calibration-vs-holdout, tracking and P(alive) matrix: what the marketer checks before trusting CLV."""
    import matplotlib

    matplotlib.use("Agg")
    from targetwise.clv import plot_calibration_holdout, plot_prob_alive_matrix, plot_tracking
    from targetwise.pipeline.workflows import clv_checks

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        checks = clv_checks(ctx.workspace, ctx.as_of)
        f, r, t, holdout, duration, per_period, first_times = checks["arrays"]
        cal_model = checks["model"]
        ctx.writer.write_bytes("clv/calibration_holdout.png", _png(plot_calibration_holdout(
            cal_model, f, r, t, holdout, holdout_duration=duration, time_unit="week")))
        ctx.writer.write_bytes("clv/tracking.png", _png(plot_tracking(
            cal_model, per_period, first_times, calibration_end=checks["calibration_end_period"], time_unit="week")))
        ctx.writer.write_bytes("clv/prob_alive_matrix.png", _png(plot_prob_alive_matrix(
            model, T=float(np.median(T)), time_unit="day")))
    _note_warnings(record, caught)
    ctx.writer.write_table("clv/calibration_holdout.parquet", checks["calibration_holdout"].reset_index())
    record["metrics"]["holdout_check"] = {
        "calibration_cutoff": str(checks["cutoff"].date()),
        "holdout_weeks": checks["holdout_weeks"],
        "actual_repeat_purchases": checks["holdout_actual"],
        "predicted_repeat_purchases": checks["holdout_predicted"],
    }


def propensity(ctx: RunContext, record: dict[str, Any]) -> None:
    from targetwise.io.engines import open_duckdb
    from targetwise.pipeline.tasks import predict_task

    assert ctx.features is not None
    backend = open_duckdb(ctx.workspace.db_path)
    merged = ctx.features[["customer_id"]].copy()
    cards = {}
    for task, horizon in PROPENSITY_TASKS:
        try:
            result = predict_task(
                backend, task, as_of=ctx.as_of, horizon_days=horizon, random_state=ctx.settings.random_state,
                features_at_as_of=ctx.features,
            )
        except ModelError as exc:  # e.g. too little history for this horizon: the other tasks still run
            record["notes"].append(f"{task} in {horizon} days not trained: {exc.message}")
            continue
        merged = merged.merge(result.scores, on="customer_id", how="left")
        cards[f"{task}_{horizon}d"] = result.model_card
        record["metrics"][f"{task}_{horizon}d"] = {**result.metrics, **result.baselines}
        if not result.feature_importance.empty:
            ctx.writer.write_table(f"propensity/importance_{task}_{horizon}d.parquet", result.feature_importance)
        ctx.writer.write_table(f"propensity/backtest_{task}_{horizon}d.parquet", result.test_predictions)
    if not cards:
        raise ModelError("no propensity task could be trained", fix="load more history (see the stage notes)")
    ctx.results["propensity"] = merged
    ctx.writer.write_table("propensity/scores.parquet", merged)
    ctx.writer.write_json("propensity/model_cards.json", cards)
    record["model_cards"] = list(cards)


def _transactions(ctx: RunContext) -> pd.DataFrame:
    with ctx.workspace.connect(read_only=True) as con:
        return con.execute(
            "SELECT customer_id, order_id, ordered_at, product_id, quantity, unit_price, is_return, is_non_product "
            "FROM transactions WHERE ordered_at < ?",
            [pd.Timestamp(ctx.as_of).to_pydatetime()],
        ).df()


def _products(ctx: RunContext) -> pd.DataFrame:
    with ctx.workspace.connect(read_only=True) as con:
        return con.execute("SELECT product_id, name, description, category, price, coalesce(active, true) AS active FROM products").df()


def recommendations(ctx: RunContext, record: dict[str, Any], *, n: int = 10) -> None:
    from targetwise.recommend import HybridRecommender, PopularityRecommender

    assert ctx.features is not None
    lines = _transactions(ctx)
    objected = opted_out(ctx.workspace, "profiling")
    lines = lines[~lines["customer_id"].isin(objected)]
    products = _products(ctx)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = HybridRecommender(random_state=ctx.settings.random_state).fit(lines, products=products)
        customers = ctx.features["customer_id"].tolist()
        recs = model.recommend(customers, n=n, exclude_purchased=False)
        popular = PopularityRecommender().fit(lines, products=products)
    _note_warnings(record, caught)
    recs = _explain_recommendations(recs, lines, products)
    top = popular.recommend(["__cold_start__"], n=50, exclude_purchased=False)
    popular_frame = top[["rank", "product_id", "score"]].reset_index(drop=True)
    similar = _similar_table(model, products, lines, n=n)
    ctx.writer.write_table("recommendations/recommendations.parquet", recs)
    ctx.writer.write_table("recommendations/popular.parquet", popular_frame)
    ctx.writer.write_table("recommendations/similar_products.parquet", similar)
    weights = getattr(model, "weights_", None)
    record["metrics"].update(
        {
            "customers": int(recs["customer_id"].nunique()),
            "products_recommended": int(recs["product_id"].nunique()),
            "hybrid_weights": weights or {},
        }
    )


def _explain_recommendations(recs: pd.DataFrame, lines: pd.DataFrame, products: pd.DataFrame) -> pd.DataFrame:
    """Per-item reasons a marketer can read: repeat purchases are named as such, new items say why."""
    bought = lines.loc[(lines["quantity"] > 0) & ~lines["is_non_product"]]
    counts = bought.groupby(["customer_id", "product_id"])["order_id"].nunique().rename("times_bought").reset_index()
    out = recs.merge(counts, on=["customer_id", "product_id"], how="left")
    times = out["times_bought"].fillna(0).astype(int)
    repeat_text = "bought " + times.astype(str) + " times before"
    repeat_text = repeat_text.where(times != 1, "bought once before")
    fallback = out["reason"].where(out["reason"].str.startswith("popular"), "new for this customer: bought by customers with similar baskets")
    out["reason"] = repeat_text.where(times > 0, fallback)
    return out.drop(columns="times_bought")


def _similar_table(model: Any, products: pd.DataFrame, lines: pd.DataFrame, *, n: int) -> pd.DataFrame:
    """Neighbours of the most-bought products (the long tail is computed on demand by the service)."""
    counts = lines.loc[~lines["is_non_product"] & (lines["quantity"] > 0), "product_id"].value_counts()
    frames = []
    for product_id in counts.index[:500]:
        try:
            sim = model.similar_products(product_id, n=n)
        except Exception:  # a product the model cannot place (no interactions, no text)
            continue
        frames.append(sim[["product_id", "rank", "similar_product_id", "score"]])
    if not frames:
        return pd.DataFrame(columns=["product_id", "rank", "similar_product_id", "score"])
    return pd.concat(frames, ignore_index=True)


def uplift(ctx: RunContext, record: dict[str, Any]) -> None:
    """Learn campaign uplift from the latest randomised campaign (treatment vs control)."""
    from targetwise.uplift import SLearner

    assert ctx.features is not None
    with ctx.workspace.connect(read_only=True) as con:
        campaign = con.execute(
            "SELECT campaign_id, min(sent_at) AS sent_at FROM campaign_exposures WHERE sent_at < ? "
            "GROUP BY 1 ORDER BY sent_at DESC LIMIT 1",
            [pd.Timestamp(ctx.as_of).to_pydatetime()],
        ).fetchone()
        if campaign is None:
            raise _Skip("no campaign with exposures before as_of")
        campaign_id = campaign[0]
        exposures = con.execute(
            """
            SELECT e.customer_id, e.arm, e.sent_at,
                   EXISTS (SELECT 1 FROM responses r WHERE r.campaign_id = e.campaign_id
                           AND r.customer_id = e.customer_id AND r.response_type = 'conversion') AS converted
            FROM campaign_exposures e WHERE e.campaign_id = ?
            """,
            [campaign_id],
        ).df()
    arms = sorted(set(exposures["arm"]) - {"control"})
    if "control" not in set(exposures["arm"]) or not arms:
        raise _Skip(f"campaign {campaign_id} has no control group or no treatment arm")
    from targetwise.features import customer_features
    from targetwise.io.engines import open_duckdb
    from targetwise.pipeline.tasks import feature_columns

    sent_at = exposures["sent_at"].min()
    backend = open_duckdb(ctx.workspace.db_path)
    pre = customer_features(backend, pd.Timestamp(sent_at).floor("D").to_pydatetime()).to_pandas()
    cols = feature_columns(pre)
    train = exposures.merge(pre, on="customer_id", how="inner")
    _uplift_holdout_check(ctx, record, train, cols, arms[0])
    learner = SLearner(control="control", random_state=ctx.settings.random_state).fit(
        train[cols], train["arm"].to_numpy(), train["converted"].astype(int).to_numpy()
    )
    now = ctx.features
    pred = learner.predict(now[cols])
    out = pd.DataFrame({"customer_id": now["customer_id"].to_numpy()})
    if isinstance(pred, pd.DataFrame):
        for arm in pred.columns:
            out[f"uplift_{arm}"] = pred[arm].to_numpy()
    else:
        out[f"uplift_{arms[0]}"] = np.asarray(pred)
    ctx.results["uplift"] = out
    ctx.writer.write_table("uplift/uplift.parquet", out)
    rates = train.groupby("arm")["converted"].mean().to_dict()
    record["metrics"].update(
        {
            "campaign_id": campaign_id,
            "trained_on": len(train),
            "conversion_rate_by_arm": {k: float(v) for k, v in rates.items()},
            "mean_predicted_uplift": {c: float(out[c].mean()) for c in out.columns if c != "customer_id"},
        }
    )


def _uplift_holdout_check(ctx: RunContext, record: dict[str, Any], train: pd.DataFrame, cols: list[str], arm: str) -> None:
    """Qini curve and uplift@30% on a stratified 30% holdout of the campaign (one arm vs control)."""
    from sklearn.model_selection import train_test_split

    from targetwise.uplift import SLearner, qini_auc_score, qini_curve, uplift_at_k

    rows = train[train["arm"].isin([arm, "control"])]
    strata = rows["arm"].astype(str) + rows["converted"].astype(str)
    if strata.value_counts().min() < 2:
        record["notes"].append("campaign too small for a holdout uplift check")
        return
    fit_part, test_part = train_test_split(rows, test_size=0.3, stratify=strata, random_state=ctx.settings.random_state)
    learner = SLearner(control="control", random_state=ctx.settings.random_state).fit(
        fit_part[cols], fit_part["arm"].to_numpy(), fit_part["converted"].astype(int).to_numpy()
    )
    pred = learner.predict(test_part[cols])
    uplift_pred = np.asarray(pred[arm] if isinstance(pred, pd.DataFrame) else pred, dtype=float)
    y = test_part["converted"].astype(int).to_numpy()
    treated = (test_part["arm"] == arm).astype(int).to_numpy()
    x, qini = qini_curve(y, uplift_pred, treated)
    ctx.writer.write_table("uplift/qini_curve.parquet", pd.DataFrame({"targeted": x, "incremental_responders": qini}))
    record["metrics"]["holdout_check"] = {
        "arm": arm,
        "test_rows": len(test_part),
        "qini_auc": float(qini_auc_score(y, uplift_pred, treated)),
        "uplift_at_30pct": float(uplift_at_k(y, uplift_pred, treated, k=0.3)),
    }


class _Skip(Exception):
    """A stage that does not apply to this workspace (e.g. no campaign data)."""


def run_stage(name: str, ctx: RunContext, record: dict[str, Any]) -> None:
    try:
        STAGE_FUNCTIONS[name](ctx, record)
    except _Skip as skip:
        record["status_override"] = "skipped"
        record["notes"].append(str(skip))


STAGE_FUNCTIONS = {
    "features": features,
    "segments": segments,
    "clv": clv,
    "propensity": propensity,
    "recommendations": recommendations,
    "uplift": uplift,
}
