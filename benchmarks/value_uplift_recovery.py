"""Benchmark: do the value learners recover the synthetic retailer's planted per-customer revenue effect?

Protocol (issue 24): per seed, ``generate_retailer(--customers, random_state=seed)``; the features of
the exposed customers are the pipeline's own (``targetwise.features.customer_features`` on in-memory
DuckDB at the day of the send, so only lines before it; the numeric columns the uplift stage trains
on); each value learner is fitted on the campaign (arm, response revenue over the 14-day window) and
predicts every exposed customer's incremental revenue, in sample (the planted truth is not the training
label). Reported per learner: Spearman(predicted, ``truth.true_revenue_uplift``) per seed, its mean,
min and sd over the seeds, the number of seeds >= 0.6, and fit+predict seconds (one thread). The
pipeline's learner is ``targetwise.usecases.uplift._value_learner`` (``pipeline``); ``chosen by holdout`` is
the stage's ``uplift.value_learner = "auto"``: ``usecases.uplift.choose_value_learner`` on the campaign (the
stage's stratified holdout), the winner refitted on the whole campaign (:class:`ChosenByHoldout`).

Benchmark-only references that use the planted truth (never used by the product): ``oracle types`` knows
each exposed customer's planted type (``truth.customer_type``) and predicts every customer its type's
treated-minus-control mean response revenue in the campaign (the learners' training data): what perfect
segmentation scores when the effects come from this campaign's noisy arms. ``oracle types (adjusted)``: the
same with each type's effect estimated by Lin's (2013) regression adjustment on the pipeline's features
(treated and control fitted separately by OLS within the type; a less noisy estimate of the same
quantity). Printed per seed: each type's planted mean effect, its difference-in-means estimate and Welch
standard error; ``--bootstrap N`` adds the oracle's Spearman over N bootstrap resamples of the campaign
(within arm), its mean, 10th percentile and share >= 0.6.

Usage::

    .venv/bin/python benchmarks/value_uplift_recovery.py --customers 20000 --seeds 0-9
    .venv/bin/python benchmarks/value_uplift_recovery.py --seeds 0,1 --learners pipeline,value-T
    .venv/bin/python benchmarks/value_uplift_recovery.py --learners "pipeline,two-part pooled,value-X,value-T,chosen by holdout"
    .venv/bin/python benchmarks/value_uplift_recovery.py --learners "pipeline,oracle types,oracle types (adjusted)" --bootstrap 200
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))

from _machine import describe  # noqa: E402
from scipy.stats import spearmanr  # noqa: E402

from targetwise.runconfig import UpliftConfig  # noqa: E402
from targetwise.uplift import SLearner  # noqa: E402
from targetwise.uplift.value import (  # noqa: E402
    ValueDRLearner,
    ValueTLearner,
    ValueTwoPartLearner,
    ValueXLearner,
)
from targetwise.usecases.propensity import feature_columns  # noqa: E402
from targetwise.usecases.uplift import (  # noqa: E402
    VALUE_LEARNERS,
    ValueLearnerChoice,
    _classifier,
    _value_learner,
    choose_value_learner,
    min_leaf,
    value_learner,
)

Campaign = tuple[pd.DataFrame, np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def synthetic_campaign(customers: int, seed: int) -> Campaign:
    """Features at the send (the pipeline's), arm, response revenue, planted effect and planted type
    (``truth.customer_type``: for the benchmark's oracle references only) of the exposed customers."""
    import duckdb

    from targetwise.features import customer_features
    from targetwise.io.engines import open_duckdb
    from targetwise.schema import TABLES, ddl
    from targetwise.synthetic import generate_retailer

    retailer = generate_retailer(customers, random_state=seed, pii=False)
    sent_day = pd.Timestamp(retailer.params["campaign"]["sent_at"]).floor("D")  # as the uplift stage does
    lines = retailer.transactions.copy()
    lines["is_non_product"] = lines["product_id"] == "POST"
    lines["source_row"] = np.arange(1, len(lines) + 1)
    con = duckdb.connect()
    for name, frame in (("transactions", lines), ("products", retailer.products)):
        columns = [c.name for c in TABLES[name].stored_columns]
        for column in columns:
            if column not in frame.columns:
                frame[column] = None
        con.execute(ddl(TABLES[name]))
        con.register("incoming", frame[columns])
        con.execute(f"INSERT INTO {name} ({', '.join(columns)}) SELECT {', '.join(columns)} FROM incoming")
        con.unregister("incoming")
    features = customer_features(open_duckdb(con), sent_day).to_pandas().set_index("customer_id")
    con.close()
    exposed = retailer.campaign_exposures.set_index("customer_id").sort_index()
    exposed = exposed[exposed.index.isin(features.index)]
    revenue = retailer.responses.groupby("customer_id")["revenue"].sum().reindex(exposed.index).fillna(0.0)
    X = features.loc[exposed.index, feature_columns(features.reset_index())]
    truth = retailer.truth.set_index("customer_id").loc[exposed.index]
    planted, types = truth["true_revenue_uplift"], truth["customer_type"]
    return (X, exposed["arm"].to_numpy(dtype=object), revenue.to_numpy(dtype=float), planted.to_numpy(dtype=float),
            types.to_numpy(dtype=object))


class ChosenByHoldout:
    """The uplift stage with ``uplift.value_learner = "auto"``: each of ``VALUE_LEARNERS`` fitted on the stage's
    stratified holdout split of the campaign, the best held-out value Qini refitted on the whole campaign."""

    def __init__(self, leaf: int, seed: int, *, arm: Any = "treatment", control: Any = "control") -> None:
        self.leaf, self.seed, self.arm, self.control = leaf, seed, arm, control

    def fit(self, X: pd.DataFrame, treatment: np.ndarray, revenue: np.ndarray) -> ChosenByHoldout:
        self.choice_: ValueLearnerChoice | None = choose_value_learner(
            X, treatment, revenue, arm=self.arm, control=self.control,
            holdout_fraction=UpliftConfig().holdout_fraction, leaf=self.leaf, random_state=self.seed,
        )
        self.chosen_ = self.choice_.chosen if self.choice_ is not None else VALUE_LEARNERS[0]
        self.model_ = value_learner(
            self.chosen_, self.leaf, self.seed, log_basket=not (np.asarray(revenue) < 0).any(), control=self.control
        ).fit(X, treatment, revenue)
        return self

    def predict(self, X: pd.DataFrame) -> Any:
        return self.model_.predict(X)

    def describe(self) -> str:
        scores = self.choice_.value_qini_auc if self.choice_ is not None else {}
        return f"chose {self.chosen_} (held-out value Qini: " + ", ".join(f"{k} {v:+.4f}" for k, v in scores.items()) + ")"


def welch(revenue: np.ndarray, treated: np.ndarray, control: np.ndarray) -> tuple[float, float]:
    """Treated-minus-control mean revenue and its Welch standard error."""
    effect = revenue[treated].mean() - revenue[control].mean()
    se = np.sqrt(revenue[treated].var(ddof=1) / treated.sum() + revenue[control].var(ddof=1) / control.sum())
    return float(effect), float(se)


def lin_adjusted(X: np.ndarray, revenue: np.ndarray, treated: np.ndarray, control: np.ndarray) -> tuple[float, float]:
    """Lin's (2013) regression-adjusted effect: OLS of revenue on the covariates (centred on the pooled mean)
    in each arm separately; the difference of the two intercepts, and its approximate standard error
    (each arm's residual variance over its size, summed)."""
    rows = treated | control
    centred = X - X[rows].mean(axis=0)
    intercepts, variances = [], []
    for arm in (treated, control):
        design = np.column_stack([np.ones(arm.sum()), centred[arm]])
        coef, *_ = np.linalg.lstsq(design, revenue[arm], rcond=None)
        residual = revenue[arm] - design @ coef
        intercepts.append(coef[0])
        variances.append(residual @ residual / max(arm.sum() - design.shape[1], 1) / arm.sum())
    return float(intercepts[0] - intercepts[1]), float(np.sqrt(sum(variances)))


class OracleTypes:
    """BENCHMARK-ONLY REFERENCE USING THE PLANTED TRUTH (never used by the product): knows each exposed
    customer's planted type and predicts every customer its type's effect estimated from the campaign
    (treated-minus-control mean response revenue, or with ``adjusted`` Lin's regression adjustment on the
    features). ``types`` is aligned row by row with the ``X`` it is fitted on and predicts."""

    def __init__(self, types: np.ndarray, *, adjusted: bool = False, arm: Any = "treatment",
                 control: Any = "control") -> None:
        self.types, self.adjusted, self.arm, self.control = np.asarray(types, dtype=object), adjusted, arm, control

    def fit(self, X: pd.DataFrame, treatment: np.ndarray, revenue: np.ndarray) -> OracleTypes:
        assert len(X) == len(self.types)
        treatment, revenue = np.asarray(treatment, dtype=object), np.asarray(revenue, dtype=float)
        if self.adjusted:
            values = X.to_numpy(dtype=float)
            values = np.where(np.isnan(values), np.nanmedian(values, axis=0), values)
            values = values[:, values.std(axis=0) > 0]
        self.effect_: dict[Any, float] = {}
        self.se_: dict[Any, float] = {}
        for name in np.unique(self.types):
            mine = self.types == name
            treated, control = mine & (treatment == self.arm), mine & (treatment == self.control)
            self.effect_[name], self.se_[name] = (lin_adjusted(values, revenue, treated, control) if self.adjusted
                                                  else welch(revenue, treated, control))
        return self

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        assert len(X) == len(self.types)
        return np.array([self.effect_[name] for name in self.types], dtype=float)


def type_effects(X: pd.DataFrame, arm: np.ndarray, revenue: np.ndarray, planted: np.ndarray,
                 types: np.ndarray) -> pd.DataFrame:
    """Per planted type: customers, planted mean effect, the campaign's difference-in-means estimate ± Welch
    standard error, (estimate - planted) / se, and the regression-adjusted estimate ± its standard error."""
    adjusted = OracleTypes(types, adjusted=True).fit(X, arm, revenue)
    rows = []
    for name in sorted(np.unique(types), key=lambda n: planted[types == n].mean()):
        mine = types == name
        treated, control = mine & (arm == "treatment"), mine & (arm == "control")
        effect, se = welch(revenue, treated, control)
        truth = float(planted[mine].mean())
        rows.append({"type": name, "customers": int(mine.sum()), "planted": truth, "estimate": effect, "se": se,
                     "z": (effect - truth) / se if se > 0 else np.nan, "adjusted": adjusted.effect_[name], "adjusted se": adjusted.se_[name]})
    return pd.DataFrame(rows).set_index("type")


def bootstrap_oracle(arm: np.ndarray, revenue: np.ndarray, planted: np.ndarray, types: np.ndarray,
                     resamples: int, seed: int) -> np.ndarray:
    """Spearman of the (difference-in-means) oracle refitted on ``resamples`` bootstrap resamples of the
    campaign (customers drawn with replacement within each arm), scored on the campaign's customers."""
    rng = np.random.default_rng(seed)
    names = np.unique(types)
    code = np.searchsorted(names, types)
    arms = [np.flatnonzero(arm == a) for a in ("treatment", "control")]
    scores = np.empty(resamples)
    for b in range(resamples):
        treated, control = (rng.choice(rows, rows.size) for rows in arms)
        mean_t = np.bincount(code[treated], revenue[treated], names.size) / np.bincount(code[treated], None, names.size)
        mean_c = np.bincount(code[control], revenue[control], names.size) / np.bincount(code[control], None, names.size)
        scores[b] = spearmanr((mean_t - mean_c)[code], planted).statistic
    return scores


def learners(leaf: int, types: np.ndarray | None = None) -> dict[str, Callable[[int], Any]]:
    """Name -> factory(seed) of a value learner with control label ``"control"`` (LightGBM, one thread); with
    ``types`` (the planted types of the rows it will be fitted on) also the benchmark-only oracle references."""

    def conversion(seed: int, *, interactions: bool = False) -> SLearner:
        return SLearner(estimator=_classifier(leaf, seed), interactions=interactions, control="control")

    return {
        # conversion S-learner with arm x feature interactions x one log-basket model with the arm as a column
        "pipeline": lambda seed: _value_learner(leaf, seed),
        # the pipeline's learner until this benchmark: plain S-learner x one basket model blind to the arm
        "two-part pooled": lambda seed: ValueTwoPartLearner(conversion(seed), control="control", random_state=seed),
        "two-part shared": lambda seed: ValueTwoPartLearner(
            conversion(seed), basket="shared", control="control", random_state=seed
        ),
        "two-part shared log": lambda seed: ValueTwoPartLearner(
            conversion(seed), basket="shared", basket_scale="log", control="control", random_state=seed
        ),
        "two-part interactions pooled": lambda seed: ValueTwoPartLearner(
            conversion(seed, interactions=True), control="control", random_state=seed
        ),
        "value-T": lambda seed: ValueTLearner(control="control", random_state=seed),
        "value-X": lambda seed: ValueXLearner(control="control", random_state=seed),
        "value-DR": lambda seed: ValueDRLearner(control="control", random_state=seed),
        # the stage's uplift.value_learner = "auto" (usecases.uplift.choose_value_learner)
        "chosen by holdout": lambda seed: ChosenByHoldout(leaf, seed),
        # benchmark-only references using the planted types (truth.customer_type); never used by the product
        **({} if types is None else {
            "oracle types": lambda seed: OracleTypes(types),
            "oracle types (adjusted)": lambda seed: OracleTypes(types, adjusted=True),
        }),
    }


def negative_segment(arm: np.ndarray, revenue: np.ndarray, planted: np.ndarray) -> str:
    """What the campaign itself shows for the customers whose planted effect is negative (the loyal high
    spenders): their treated-minus-control mean revenue (± its standard error) and conversion difference.
    Where the data show no negative effect, no learner fitted on them can rank these customers last."""
    segment = planted < 0
    treated, control = segment & (arm == "treatment"), segment & (arm == "control")
    effect = revenue[treated].mean() - revenue[control].mean()
    se = np.sqrt(revenue[treated].var(ddof=1) / treated.sum() + revenue[control].var(ddof=1) / control.sum())
    conversion = (revenue[treated] > 0).mean() - (revenue[control] > 0).mean()
    return (f"negative-effect segment ({int(segment.sum()):,} customers): planted {planted[segment].mean():+.1f}, "
            f"observed {effect:+.1f} ± {se:.1f} per customer, conversion {conversion:+.3f}")


def parse_seeds(text: str) -> list[int]:
    """``"0-9"`` or ``"0,1,2"`` -> the seeds."""
    seeds: list[int] = []
    for part in text.split(","):
        low, _, high = part.partition("-")
        seeds.extend(range(int(low), int(high or low) + 1))
    return seeds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--seeds", default="0-9", help="e.g. 0-9 or 0,1,2")
    parser.add_argument("--learners", default=None, help="comma-separated names (default: all)")
    parser.add_argument("--bootstrap", type=int, default=0, help="resamples of the oracle-types bootstrap (0: none)")
    args = parser.parse_args()
    warnings.filterwarnings("ignore", category=UserWarning)
    print(describe())
    seeds = parse_seeds(args.seeds)
    rows: list[dict[str, Any]] = []
    bootstrap: list[dict[str, Any]] = []
    for seed in seeds:
        started = time.perf_counter()
        X, arm, revenue, planted, types = synthetic_campaign(args.customers, seed)
        prepare_s = time.perf_counter() - started
        print(f"seed {seed}: {negative_segment(arm, revenue, planted)}", flush=True)
        effects = type_effects(X, arm, revenue, planted, types)
        print(f"seed {seed}: per planted type (estimate = treated - control mean revenue ± Welch se; "
              f"adjusted = Lin's regression adjustment):\n{effects.round(3).to_string()}", flush=True)
        per_type = np.array([effects.loc[name, "planted"] for name in types])
        print(f"seed {seed}: each customer its type's planted mean effect (no campaign noise): spearman "
              f"{spearmanr(per_type, planted).statistic:+.3f}", flush=True)
        if args.bootstrap:
            boot = bootstrap_oracle(arm, revenue, planted, types, args.bootstrap, seed)
            bootstrap.append({"seed": seed, "mean": boot.mean(), "p10": np.percentile(boot, 10),
                              "p50": np.median(boot), "share >= 0.6": (boot >= 0.6).mean()})
            print(f"seed {seed}: oracle types over {args.bootstrap} bootstrap resamples: spearman mean "
                  f"{boot.mean():+.3f}, p10 {np.percentile(boot, 10):+.3f}, share >= 0.6 {(boot >= 0.6).mean():.2f}",
                  flush=True)
        candidates = learners(min_leaf(len(X), UpliftConfig()), types)
        names = args.learners.split(",") if args.learners else list(candidates)
        for name in names:
            started = time.perf_counter()
            model = candidates[name](seed).fit(X, arm, revenue)
            predicted = np.asarray(model.predict(X), dtype=float)
            seconds = time.perf_counter() - started
            rho = float(spearmanr(predicted, planted).statistic)
            if name.startswith("oracle"):
                print(f"seed {seed}: {name}: " + ", ".join(f"{k} {v:+.2f}" for k, v in sorted(
                    model.effect_.items(), key=lambda kv: kv[1])), flush=True)
            rows.append({"learner": name, "seed": seed, "spearman": rho, "seconds": seconds})
            chose = f"  {model.describe()}" if isinstance(model, ChosenByHoldout) else ""
            print(f"seed {seed} ({len(X):,} exposed, data {prepare_s:.0f} s)  {name:<18} "
                  f"spearman {rho:+.4f}  {seconds:.1f} s{chose}", flush=True)
    scores = pd.DataFrame(rows)
    per_seed = scores.pivot(index="learner", columns="seed", values="spearman").loc[names]
    grouped = scores.groupby("learner", sort=False)
    summary = pd.DataFrame({
        "mean": grouped["spearman"].mean(), "min": grouped["spearman"].min(), "sd": grouped["spearman"].std(ddof=1),
        "seeds >= 0.6": grouped["spearman"].apply(lambda s: f"{int((s >= 0.6).sum())}/{len(s)}"),
        "seconds": grouped["seconds"].mean(),
    }).loc[names]  # fmt: skip
    pd.set_option("display.width", 200)
    print(f"\nSpearman(predicted, planted) at {args.customers:,} customers, per seed:")
    print(per_seed.round(3).to_string())
    print("\nover the seeds (seconds: fit + predict per seed):")
    print(summary.round(3).to_string())
    if bootstrap:
        print(f"\noracle types over {args.bootstrap} bootstrap resamples of each seed's campaign:")
        print(pd.DataFrame(bootstrap).set_index("seed").round(3).to_string())


if __name__ == "__main__":
    main()
