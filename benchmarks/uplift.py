"""Benchmark: uplift learners on Hillstrom (women's e-mail vs none, outcome visit).

Protocol (issue 8): 70/30 splits stratified on treatment x outcome, seeds 0..9,
scikit-uplift's metric definitions (``qini_auc_score`` with negative_effect=True,
``uplift_auc_score``, ``uplift_at_k`` k=0.3 strategy "overall"). Reported per
learner: mean ± sd over the splits, and fit+predict seconds per split.

Also reported:
* peers on the same splits and the same LightGBM settings, when importable:
  scikit-uplift (SoloModel, TwoModels, ClassTransformation) and causalml
  (BaseSClassifier, BaseTClassifier, BaseXClassifier with constant propensity);
  they get one-hot features (they do not encode categoricals themselves) and the
  same LightGBM settings as the matching targetwise learner (S: DEFAULT, T/X/class
  transformation: SMOOTH);
* the three-arm setting (men's, women's, none): class transformation's best-arm policy vs
  sending everyone (or the top 30 %) a single arm, valued on the held-out 30 % by
  inverse-propensity weighting (each arm is 1/3 of a randomised experiment);
* the budget planner at 30 % contact depth: share of all incremental visits captured
  by the uplift plan vs a plan from the response model;
* **revenue** (``--only revenue``, issue 24): the outcome ``spend``, all three arms, the same
  10 splits (stratified on arm x spent); per arm vs no e-mail, the value Qini on spend,
  incremental spend per customer in the top 30 % and fit+predict time of the value learners
  (two-part, T, X, S) next to causalml's BaseT/X/SRegressor with the same LightGBM settings and
  the conversion-based ranking (conversion uplift x mean basket); then the margin planner
  (margin 30 % of spend, 0.10 per e-mail) choosing an arm per customer, valued on the held-out
  30 % by inverse-propensity weighting, next to the plan from conversion uplift.

Usage::

    /work/bench-venvs/uplift/bin/python benchmarks/uplift.py [--seeds 10]   # with peers
    .venv/bin/python benchmarks/uplift.py                                 # targetwise only
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))

from _machine import datasets_dir, describe  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402

from targetwise.campaigns.planner import plan_campaign, plan_value_campaign  # noqa: E402
from targetwise.runconfig import UpliftConfig  # noqa: E402
from targetwise.uplift import (  # noqa: E402
    ClassTransformation,
    ResponseModel,
    SLearner,
    TLearner,
    XLearner,
    evaluate_uplift,
)
from targetwise.uplift._base import DEFAULT_LGBM_PARAMS, SMOOTH_LGBM_PARAMS  # noqa: E402
from targetwise.uplift.value import (  # noqa: E402
    VALUE_LGBM_PARAMS,
    ValueSLearner,
    ValueTLearner,
    ValueTwoPartLearner,
    ValueXLearner,
)
from targetwise.uplift.value_metrics import value_qini_auc_score, value_uplift_at_k  # noqa: E402

FEATURES = ["recency", "history_segment", "history", "mens", "womens", "zip_code", "newbie", "channel"]
CATEGORICAL = ["history_segment", "zip_code", "channel"]


def load(path: Path) -> pd.DataFrame:
    return pd.read_csv(path / "hillstrom" / "hillstrom.csv.gz")


def lgbm(seed: int, params: dict[str, Any] = DEFAULT_LGBM_PARAMS) -> Any:
    from lightgbm import LGBMClassifier

    return LGBMClassifier(**params, random_state=seed, n_jobs=1)


def one_hot(X: pd.DataFrame) -> pd.DataFrame:
    encoded = pd.get_dummies(X, columns=CATEGORICAL, dtype=float)
    return encoded.rename(columns=lambda c: "".join(ch if ch.isalnum() else "_" for ch in c))


class _Peer:
    """Adapter giving a peer library's model our fit(X, t, y) / predict(X) -> (n,) shape."""

    def __init__(self, library: str, kind: str, seed: int) -> None:
        self.library, self.kind, self.seed = library, kind, seed

    def fit(self, X: pd.DataFrame, t: np.ndarray, y: np.ndarray) -> _Peer:
        X = one_hot(X)
        if self.library == "sklift":
            from sklift import models

            if self.kind == "S":
                self.model = models.SoloModel(estimator=lgbm(self.seed))
            elif self.kind == "T":
                self.model = models.TwoModels(
                    estimator_trmnt=lgbm(self.seed, SMOOTH_LGBM_PARAMS),
                    estimator_ctrl=lgbm(self.seed + 1, SMOOTH_LGBM_PARAMS),
                )
            else:
                self.model = models.ClassTransformation(estimator=lgbm(self.seed, SMOOTH_LGBM_PARAMS))
            self.model.fit(X, y, t)
        else:
            from causalml.inference import meta
            from lightgbm import LGBMRegressor

            if self.kind == "S":
                self.model = meta.BaseSClassifier(learner=lgbm(self.seed))
            elif self.kind == "T":
                self.model = meta.BaseTClassifier(learner=lgbm(self.seed, SMOOTH_LGBM_PARAMS))
            else:
                self.model = meta.BaseXClassifier(
                    outcome_learner=lgbm(self.seed, SMOOTH_LGBM_PARAMS),
                    effect_learner=LGBMRegressor(**SMOOTH_LGBM_PARAMS, random_state=self.seed, n_jobs=1),
                )
            kwargs = {"p": np.full(len(t), t.mean())} if self.kind == "X" else {}
            self.share = t.mean()
            self.model.fit(X.to_numpy(), t, y, **kwargs)
        return self

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        X = one_hot(X)
        if self.library == "sklift":
            return np.asarray(self.model.predict(X))
        kwargs = {"p": np.full(len(X), self.share)} if self.kind == "X" else {}
        return np.asarray(self.model.predict(X.to_numpy(), **kwargs)).reshape(len(X), -1)[:, 0]


def peers() -> dict[str, Any]:
    found: dict[str, Any] = {}
    try:
        import sklift

        for kind, name in [("S", "SoloModel"), ("T", "TwoModels"), ("C", "ClassTransformation")]:
            found[f"sklift {name}"] = lambda seed, k=kind: _Peer("sklift", k, seed)
        print(f"scikit-uplift {sklift.__version__}: installed")
    except ImportError:
        print("scikit-uplift: peer not installed")
    try:
        import causalml

        for kind, name in [("S", "BaseSClassifier"), ("T", "BaseTClassifier"), ("X", "BaseXClassifier")]:
            found[f"causalml {name}"] = lambda seed, k=kind: _Peer("causalml", k, seed)
        from importlib.metadata import version

        print(f"causalml {version('causalml')}: installed ({causalml.__name__})")
    except ImportError:
        print("causalml: peer not installed")
    return found


def check_metrics_against_sklift(trials: int = 200) -> None:
    """Largest absolute difference between targetwise's and scikit-uplift's metrics on random cases."""
    try:
        from sklift import metrics as sk
    except ImportError:
        print("metric cross-check: scikit-uplift not installed")
        return
    from targetwise.uplift import metrics as tw

    rng = np.random.default_rng(0)
    worst = 0.0
    for trial in range(trials):
        n = int(rng.integers(20, 400))
        t, y = rng.integers(0, 2, n), rng.integers(0, 2, n)
        # odd trials: continuous scores; even trials: heavy ties
        u = rng.normal(size=n) if trial % 2 else rng.integers(0, 5, n).astype(float)
        pairs = [
            (sk.qini_auc_score(y, u, t), tw.qini_auc_score(y, u, t)),
            (sk.uplift_auc_score(y, u, t), tw.uplift_auc_score(y, u, t)),
            (sk.uplift_at_k(y, u, t, strategy="overall", k=0.3), tw.uplift_at_k(y, u, t, k=0.3)),
            (
                sk.uplift_at_k(y, u, t, strategy="by_group", k=0.3),
                tw.uplift_at_k(y, u, t, k=0.3, strategy="by_group"),
            ),
        ]
        if y[t == 1].mean() > y[t == 0].mean():  # sklift's auc() rejects its own non-monotone x otherwise
            pairs.append(
                (
                    sk.qini_auc_score(y, u, t, negative_effect=False),
                    tw.qini_auc_score(y, u, t, negative_effect=False),
                )
            )
        worst = max([worst, *(abs(a - b) for a, b in pairs)])
        for name in ("qini_curve", "uplift_curve"):
            xa, ya = getattr(sk, name)(y, u, t)
            xb, yb = getattr(tw, name)(y, u, t)
            worst = max(worst, float(np.abs(xa - xb).max()), float(np.abs(ya - yb).max()))
        for group in ("treatment", "control"):
            a = sk.response_rate_by_percentile(y, u, t, group=group, strategy="overall", bins=5)
            b = tw.response_rate_by_percentile(y, u, t, group=group, strategy="overall", bins=5)
            worst = max(worst, float(np.nanmax(np.abs(np.array(a, dtype=float) - np.array(b, dtype=float)))))
    print(f"metric cross-check vs scikit-uplift: {trials} random cases, max |difference| = {worst:.2e}")


def binary_table(data: pd.DataFrame, seeds: int, with_peers: bool) -> pd.DataFrame:
    rows = data[data["segment"].isin(["Womens E-Mail", "No E-Mail"])].reset_index(drop=True)
    X = rows[FEATURES]
    t = (rows["segment"] == "Womens E-Mail").to_numpy().astype(int)
    y = rows["visit"].to_numpy()
    learners: dict[str, Any] = {
        "S-learner": SLearner(),
        "T-learner": TLearner(),
        "X-learner (constant propensity)": XLearner(propensity="constant"),
        "class transformation": ClassTransformation(),
    }
    if with_peers:
        learners.update(peers())
    result = evaluate_uplift(learners, X, t, y, n_splits=seeds, test_size=0.3, k=0.3, random_state=0)
    return result.summary


def three_arms(data: pd.DataFrame, seeds: int) -> pd.DataFrame:
    """Policy values (visits per 1,000 customers above no e-mail) on the held-out 30 %, IPW."""
    X, arm, y = data[FEATURES], data["segment"].to_numpy(dtype=object), data["visit"].to_numpy()
    share = {label: float((arm == label).mean()) for label in np.unique(arm)}
    results: list[dict[str, float]] = []
    for seed in range(seeds):
        train, test = train_test_split(
            np.arange(len(data)),
            test_size=0.3,
            stratify=pd.Series(arm).astype(str) + y.astype(str),
            random_state=seed,
        )
        model = ClassTransformation(control="No E-Mail", random_state=seed).fit(
            X.iloc[train], arm[train], y[train]
        )
        uplift = model.predict(X.iloc[test])
        best = model.best_arm(X.iloc[test]).to_numpy()
        a_test, y_test = arm[test], y[test]
        weight = np.array([1 / share[a] for a in a_test])

        def value(
            policy: np.ndarray,
            a_test: np.ndarray = a_test,
            y_test: np.ndarray = y_test,
            weight: np.ndarray = weight,
        ) -> float:
            return float(np.mean((a_test == policy) * y_test * weight))

        none = value(np.full(len(test), "No E-Mail", dtype=object))
        n30 = int(0.3 * len(test))
        row = {
            "all Womens": value(np.full(len(test), "Womens E-Mail", dtype=object)) - none,
            "all Mens": value(np.full(len(test), "Mens E-Mail", dtype=object)) - none,
            "best arm (all)": value(best) - none,
        }
        for label in ["Womens E-Mail", "Mens E-Mail"]:
            policy = np.full(len(test), "No E-Mail", dtype=object)
            policy[np.argsort(-uplift[label].to_numpy(), kind="stable")[:n30]] = label
            row[f"top 30% {label.split()[0]}"] = value(policy) - none
        policy = np.full(len(test), "No E-Mail", dtype=object)
        top = np.argsort(-uplift.max(axis=1).to_numpy(), kind="stable")[:n30]
        policy[top] = best[top]
        row["top 30% best arm"] = value(policy) - none
        results.append({k: 1000 * v for k, v in row.items()})
    frame = pd.DataFrame(results)
    return pd.DataFrame({"mean": frame.mean(), "sd": frame.std(ddof=1)})


def captured_share(y: np.ndarray, t: np.ndarray, chosen: np.ndarray) -> float:
    """Incremental visits in the chosen set, (rate_T - rate_C) * size, over the whole-sample increment."""
    inside = (y[chosen & (t == 1)].mean() - y[chosen & (t == 0)].mean()) * chosen.sum()
    total = (y[t == 1].mean() - y[t == 0].mean()) * len(y)
    return float(inside / total)


def planner_capture(data: pd.DataFrame, seeds: int) -> pd.DataFrame:
    rows = data[data["segment"].isin(["Womens E-Mail", "No E-Mail"])].reset_index(drop=True)
    X = rows[FEATURES]
    t = (rows["segment"] == "Womens E-Mail").to_numpy().astype(int)
    y = rows["visit"].to_numpy()
    out = []
    for seed in range(seeds):
        train, test = train_test_split(
            np.arange(len(rows)), test_size=0.3, stratify=t * 2 + y, random_state=seed
        )
        shares = {}
        for name, model in [
            ("uplift (class transformation)", ClassTransformation(random_state=seed)),
            ("uplift (S-learner)", SLearner(random_state=seed)),
            ("response model", ResponseModel(random_state=seed)),
        ]:
            score = pd.Series(
                model.fit(X.iloc[train], t[train], y[train]).predict(X.iloc[test]), name="email"
            )
            plan = plan_campaign(
                score,
                contact_cost=0.0,
                value_per_conversion=1.0,
                max_contacts=int(0.3 * len(test)),
                holdout_fraction=0.0,
            )
            chosen = (plan.assignments["action"] == "email").to_numpy()
            shares[name] = captured_share(y[test], t[test], chosen)
        out.append(shares)
    frame = pd.DataFrame(out)
    return pd.DataFrame({"mean": frame.mean(), "sd": frame.std(ddof=1)})


ARMS = ["Mens E-Mail", "Womens E-Mail"]
CONTROL = "No E-Mail"
MARGIN, EMAIL_COST = 0.3, 0.10


class _PeerRegressor:
    """causalml's meta-learners for a continuous outcome, fit(X, t, y) / predict(X) -> (n,)."""

    def __init__(self, kind: str, seed: int) -> None:
        self.kind, self.seed = kind, seed

    def fit(self, X: pd.DataFrame, t: np.ndarray, y: np.ndarray) -> _PeerRegressor:
        from causalml.inference import meta
        from lightgbm import LGBMRegressor

        def reg(params: dict[str, Any] = VALUE_LGBM_PARAMS) -> Any:
            return LGBMRegressor(**params, random_state=self.seed, n_jobs=1)

        cls = {"S": meta.BaseSRegressor, "T": meta.BaseTRegressor, "X": meta.BaseXRegressor}[self.kind]
        self.model = cls(learner=reg())
        self.share = float(t.mean())
        kwargs = {"p": np.full(len(t), self.share)} if self.kind == "X" else {}
        self.model.fit(one_hot(X).to_numpy(), t, y, **kwargs)
        return self

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        kwargs = {"p": np.full(len(X), self.share)} if self.kind == "X" else {}
        return np.asarray(self.model.predict(one_hot(X).to_numpy(), **kwargs)).reshape(len(X), -1)[:, 0]


class _ConversionTimesBasket:
    """The conversion-based ranking: conversion uplift (S-learner) x the arm's mean spend per converter."""

    def __init__(self, seed: int) -> None:
        self.seed = seed

    def fit(self, X: pd.DataFrame, t: np.ndarray, y: np.ndarray) -> _ConversionTimesBasket:
        self.model = SLearner(random_state=self.seed).fit(X, t, (y > 0).astype(int))
        self.basket = float(y[(t == 1) & (y > 0)].mean())
        return self

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return np.asarray(self.model.predict(X)) * self.basket


def _chosen_by_holdout(seed: int) -> Any:
    """Treatment 0/1 (0 = no e-mail); leaf from the stage's min_leaf on the training split (300 here)."""
    from value_uplift_recovery import ChosenByHoldout

    from targetwise.usecases.uplift import min_leaf

    class _Chosen(ChosenByHoldout):
        def fit(self, X: pd.DataFrame, treatment: np.ndarray, revenue: np.ndarray) -> _Chosen:
            self.leaf = min_leaf(len(X), UpliftConfig())
            super().fit(X, treatment, revenue)
            chosen.append(self.chosen_)
            return self

    return _Chosen(0, seed, arm=1, control=0)


chosen: list[str] = []  # the learner "chosen by holdout" picked, per fit (printed after the revenue table)


def value_learners(with_peers: bool, only: list[str] | None = None) -> dict[str, Any]:
    learners: dict[str, Any] = {
        "two-part (S on purchase x basket)": lambda seed: ValueTwoPartLearner(random_state=seed),
        # the pipeline's value learner since benchmarks/value_uplift_recovery.py (usecases.uplift._value_learner)
        "two-part (interaction S x shared log basket)": lambda seed: ValueTwoPartLearner(
            SLearner(interactions=True), basket="shared", basket_scale="log", random_state=seed
        ),
        "value T-learner": lambda seed: ValueTLearner(random_state=seed),
        # the uplift stage's uplift.value_learner = "auto" (usecases.uplift.choose_value_learner on the training
        # split, the winner refitted on all of it); the same class as benchmarks/value_uplift_recovery.py
        "chosen by holdout": lambda seed: _chosen_by_holdout(seed),
        "value X-learner": lambda seed: ValueXLearner(random_state=seed),
        "value S-learner": lambda seed: ValueSLearner(random_state=seed),
        "conversion uplift x mean basket": lambda seed: _ConversionTimesBasket(seed),
    }
    if with_peers:
        try:
            from importlib.metadata import version

            import causalml  # noqa: F401

            print(f"causalml {version('causalml')}: installed")
            for kind in ("T", "X", "S"):
                learners[f"causalml Base{kind}Regressor"] = lambda seed, k=kind: _PeerRegressor(k, seed)
        except ImportError:
            print("causalml: peer not installed")
    return learners if only is None else {name: learners[name] for name in only}


def revenue(
    data: pd.DataFrame, seeds: int, with_peers: bool, only: list[str] | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per arm and learner: value Qini on spend, incremental spend per customer in the top 30 %, time;
    and the margin planner's policy value per 1,000 customers (IPW on the held-out 30 %)."""
    X, arm, spend = data[FEATURES], data["segment"].to_numpy(dtype=object), data["spend"].to_numpy(dtype=float)
    share = {label: float((arm == label).mean()) for label in np.unique(arm)}
    learners = value_learners(with_peers, only)
    rows: list[dict[str, Any]] = []
    plans: list[dict[str, float]] = []
    for seed in range(seeds):
        train, test = train_test_split(
            np.arange(len(data)), test_size=0.3, stratify=pd.Series(arm).astype(str) + (spend > 0).astype(str),
            random_state=seed,
        )
        effects: dict[str, pd.DataFrame] = {name: pd.DataFrame(index=test) for name in learners}
        for label in ARMS:
            fit_rows = train[np.isin(arm[train], [label, CONTROL])]
            score_rows = test[np.isin(arm[test], [label, CONTROL])]
            t_fit = (arm[fit_rows] == label).astype(int)
            t_score = (arm[score_rows] == label).astype(int)
            for name, make in learners.items():
                model = make(seed)
                started = time.perf_counter()
                model.fit(X.iloc[fit_rows], t_fit, spend[fit_rows])
                predicted = np.asarray(model.predict(X.iloc[test]), dtype=float)
                seconds = time.perf_counter() - started
                effects[name][label] = predicted
                on_arm = pd.Series(predicted, index=test).loc[score_rows].to_numpy()
                rows.append({
                    "arm": label, "learner": name, "split": seed,
                    "value_qini": value_qini_auc_score(spend[score_rows], on_arm, t_score),
                    "spend_uplift_at_30": value_uplift_at_k(spend[score_rows], on_arm, t_score, k=0.3),
                    "seconds": seconds,
                })  # fmt: skip
        a_test, y_test = arm[test], spend[test]
        weight = np.array([1 / share[a] for a in a_test])

        def value(policy: np.ndarray, a_test: np.ndarray = a_test, y_test: np.ndarray = y_test,
                  weight: np.ndarray = weight) -> float:
            contacted = policy != CONTROL
            return float(np.mean((a_test == policy) * y_test * weight) * MARGIN - EMAIL_COST * contacted.mean())

        row = {"send nobody": value(np.full(len(test), CONTROL, dtype=object))}
        for label in ARMS:
            row[f"everyone gets {label}"] = value(np.full(len(test), label, dtype=object))
        for name in ("two-part (S on purchase x basket)", "two-part (interaction S x shared log basket)",
                     "value T-learner", "chosen by holdout", "conversion uplift x mean basket", "causalml BaseTRegressor"):
            if name not in effects:
                continue
            plan = plan_value_campaign(effects[name] * MARGIN, contact_cost=EMAIL_COST, holdout_fraction=0.0)
            action = plan.assignments["action"].to_numpy(dtype=object)
            policy = np.where(action == "not_contacted", CONTROL, action)
            row[f"margin plan: {name}"] = value(policy)
        plans.append({k: 1000 * (v - row["send nobody"]) for k, v in row.items()})
    scores = pd.DataFrame(rows)
    metrics = ["value_qini", "spend_uplift_at_30", "seconds"]
    grouped = scores.groupby(["arm", "learner"], sort=False)[metrics]
    summary = pd.concat([grouped.mean().add_suffix("_mean"), grouped.std(ddof=1).add_suffix("_sd")], axis=1)
    frame = pd.DataFrame(plans)
    return summary, pd.DataFrame({"mean": frame.mean(), "sd": frame.std(ddof=1)})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--no-peers", action="store_true")
    parser.add_argument("--only", choices=["metrics", "binary", "arms", "planner", "revenue"], default=None)
    parser.add_argument("--value-learners", default=None,
                        help="revenue part: comma-separated learner names to run (default: all)")
    args = parser.parse_args()
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", category=UserWarning)
    print(describe())
    print(f"LightGBM settings, S-learner and response model (and matching peers): {DEFAULT_LGBM_PARAMS}")
    print(
        f"LightGBM settings, T-/X-learner and class transformation (and matching peers): {SMOOTH_LGBM_PARAMS}"
    )
    data = load(datasets_dir())
    started = time.perf_counter()
    pd.set_option("display.width", 200)
    if args.only in (None, "metrics"):
        check_metrics_against_sklift()
    if args.only in (None, "binary"):
        summary = binary_table(data, args.seeds, with_peers=not args.no_peers)
        table = pd.DataFrame(
            {
                "qini_auc": [
                    f"{m:.4f} ± {s:.4f}"
                    for m, s in zip(summary["qini_auc_mean"], summary["qini_auc_sd"], strict=True)
                ],
                "uplift_auc": [
                    f"{m:.4f} ± {s:.4f}"
                    for m, s in zip(summary["uplift_auc_mean"], summary["uplift_auc_sd"], strict=True)
                ],
                "uplift@30%": [
                    f"{m:.4f} ± {s:.4f}"
                    for m, s in zip(summary["uplift_at_k_mean"], summary["uplift_at_k_sd"], strict=True)
                ],
                "fit+predict s/split": (summary["fit_seconds_mean"] + summary["predict_seconds_mean"]).round(
                    3
                ),
            },
            index=summary.index,
        )
        print(f"\nHillstrom women's e-mail vs none, visit, {args.seeds} stratified 70/30 splits")
        print(table.to_string())
        base = summary["fit_seconds_mean"] + summary["predict_seconds_mean"]
        pairs = [
            ("S-learner", "sklift SoloModel"),
            ("S-learner", "causalml BaseSClassifier"),
            ("T-learner", "sklift TwoModels"),
            ("T-learner", "causalml BaseTClassifier"),
            ("X-learner (constant propensity)", "causalml BaseXClassifier"),
            ("class transformation", "sklift ClassTransformation"),
        ]
        for ours, theirs in pairs:
            if theirs in base.index:
                print(f"time ratio {ours} / {theirs}: {base[ours] / base[theirs]:.2f}")
    if args.only in (None, "arms"):
        print(
            f"\nThree arms (Mens, Womens, none): incremental visits per 1,000 customers vs no e-mail, IPW on held-out 30 %, {args.seeds} splits"
        )
        print(three_arms(data, args.seeds).round(2).to_string())
    if args.only in (None, "planner"):
        print(
            f"\nPlanner at 30 % contact depth: share of all incremental visits captured, {args.seeds} splits"
        )
        print(planner_capture(data, args.seeds).round(3).to_string())
    if args.only in (None, "revenue"):
        only = args.value_learners.split(",") if args.value_learners else None
        summary, plans = revenue(data, args.seeds, with_peers=not args.no_peers, only=only)
        table = pd.DataFrame({
            "value Qini (spend)": [f"{m:.4f} ± {s:.4f}" for m, s in zip(summary["value_qini_mean"], summary["value_qini_sd"], strict=True)],
            "incremental spend/customer, top 30%": [
                f"{m:.3f} ± {s:.3f}" for m, s in zip(summary["spend_uplift_at_30_mean"], summary["spend_uplift_at_30_sd"], strict=True)],
            "fit+predict s": summary["seconds_mean"].round(2),
        }, index=summary.index)  # fmt: skip
        print(f"\nHillstrom, outcome spend, each arm vs no e-mail, {args.seeds} stratified 70/30 splits")
        print(table.to_string())
        print(f"\nMargin planner (margin {MARGIN:.0%} of spend, {EMAIL_COST:.2f} per e-mail, best arm per customer): "
              f"incremental profit per 1,000 customers over sending nothing, IPW on held-out 30 %, {args.seeds} splits")
        print(plans.round(2).to_string())
        if chosen:
            print(f"\nchosen by holdout, per fit (split x arm): {pd.Series(chosen).value_counts().to_dict()}")
    print(f"\nTotal wall time {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
