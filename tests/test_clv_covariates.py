"""CLV models with time-invariant covariates (Fader & Hardie 2007): planted-coefficient recovery,
the plain fit when covariates are constant, the two likelihood paths, gradients and input errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from targetwise.clv import (
    BetaGeo,
    CovariateBetaGeo,
    CovariateGammaGamma,
    CovariateParetoNBD,
    CovariateWarning,
    GammaGamma,
    ParetoNBD,
    _covariate_base,
    customer_lifetime_value,
    customer_lifetime_value_with_covariates,
    one_hot_covariates,
    simulate_beta_geo,
    simulate_pareto_nbd,
)
from targetwise.errors import ConfigError, DataValidationError

# planted truth: a three-level channel (reference "web") as two one-hot columns
GAMMA_PURCHASE = np.array([0.5, -0.4])
GAMMA_A = np.array([0.6, 0.0])
GAMMA_B = np.array([-0.3, 0.4])
GAMMA_DEATH = np.array([0.5, -0.5])
GAMMA_SPEND = np.array([0.4, -0.3])


def channel_covariates(n: int, rng: np.random.Generator) -> pd.DataFrame:
    channel = rng.choice(["web", "app", "store"], size=n, p=[0.4, 0.3, 0.3])
    return pd.DataFrame({"channel=app": (channel == "app") * 1.0, "channel=store": (channel == "store") * 1.0})


def bg_sample(seed: int, n: int = 3000) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    cov = channel_covariates(n, rng)
    x = cov.to_numpy()
    T = (273 - rng.integers(0, 84, n)) / 7
    sim = simulate_beta_geo(
        n, r=0.25, alpha=4.4 * np.exp(-x @ GAMMA_PURCHASE), a=0.8 * np.exp(x @ GAMMA_A),
        b=2.4 * np.exp(x @ GAMMA_B), T=T, time_resolution=1 / 7, random_state=rng,
    )
    return sim, cov


def pareto_sample(seed: int, n: int = 3000) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    cov = channel_covariates(n, rng)
    x = cov.to_numpy()
    T = (273 - rng.integers(0, 84, n)) / 7
    sim = simulate_pareto_nbd(
        n, r=0.55, alpha=10.0 * np.exp(-x @ GAMMA_PURCHASE), s=0.6, beta=11.0 * np.exp(-x @ GAMMA_DEATH), T=T,
        time_resolution=1 / 7, random_state=rng,
    )
    return sim, cov


def spend_sample(seed: int, n: int = 1500) -> tuple[np.ndarray, np.ndarray, pd.DataFrame]:
    """Gamma-Gamma: nu ~ Gamma(q, rate v_i), a mean of x Gamma(p, nu) values is Gamma(p x, rate x nu)."""
    rng = np.random.default_rng(seed)
    cov = channel_covariates(n, rng)
    v = 15.0 * np.exp(cov.to_numpy() @ GAMMA_SPEND)
    x = rng.integers(1, 12, n).astype(float)
    nu = rng.gamma(3.7, 1.0 / v)
    mean_spend = rng.gamma(6.2 * x, 1.0 / (x * nu))
    return x, mean_spend, cov


def coverage(model, truth: dict[str, float]) -> dict[str, bool]:
    summary = model.summary()
    return {k: abs(summary.loc[k, "coef"] - v) <= 2 * summary.loc[k, "se(coef)"] for k, v in truth.items()}


def truth_names(blocks: dict[str, np.ndarray]) -> dict[str, float]:
    return {f"{block}:{col}": float(g) for block, gamma in blocks.items()
            for col, g in zip(["channel=app", "channel=store"], gamma, strict=True)}


def test_bg_nbd_recovers_planted_coefficients_within_two_se() -> None:
    truth = truth_names({"purchase": GAMMA_PURCHASE, "dropout_a": GAMMA_A, "dropout_b": GAMMA_B})
    truth |= {"r": 0.25, "alpha": 4.4, "a": 0.8, "b": 2.4}
    hits = []
    for seed in range(20):
        sim, cov = bg_sample(seed)
        hits.append(coverage(CovariateBetaGeo().fit(sim["frequency"], sim["recency"], sim["T"], cov), truth))
    frame = pd.DataFrame(hits)
    assert frame.to_numpy().mean() >= 0.9, frame.mean()
    assert frame.mean().min() >= 0.8, frame.mean()  # no coefficient is systematically off


def test_gamma_gamma_recovers_planted_spend_coefficients_within_two_se() -> None:
    truth = truth_names({"spend": GAMMA_SPEND}) | {"p": 6.2, "q": 3.7, "v": 15.0}
    hits = []
    for seed in range(20):
        x, spend, cov = spend_sample(seed)
        hits.append(coverage(CovariateGammaGamma().fit(x, spend, cov), truth))
    frame = pd.DataFrame(hits)
    assert frame.to_numpy().mean() >= 0.9, frame.mean()
    assert frame.mean().min() >= 0.8, frame.mean()


def test_pareto_nbd_recovers_planted_coefficients_on_one_sample() -> None:
    sim, cov = pareto_sample(0, n=4000)
    model = CovariateParetoNBD().fit(sim["frequency"], sim["recency"], sim["T"], cov)
    truth = truth_names({"purchase": GAMMA_PURCHASE, "dropout": GAMMA_DEATH})
    assert all(coverage(model, truth).values()), model.summary()
    # a positive purchase coefficient means a smaller alpha: alpha_i = alpha0 exp(-gamma x_i)
    params = model.customer_params(cov.iloc[:3])
    expected = model.params_["alpha"] * np.exp(-cov.iloc[:3].to_numpy() @ np.array(list(model.coefficients_["purchase"].values())))
    assert params["alpha"].to_numpy() == pytest.approx(expected, rel=1e-12)


@pytest.mark.slow
def test_pareto_nbd_recovers_planted_coefficients_within_two_se() -> None:
    truth = truth_names({"purchase": GAMMA_PURCHASE, "dropout": GAMMA_DEATH}) | {"r": 0.55, "alpha": 10.0}
    hits = []
    for seed in range(20):
        sim, cov = pareto_sample(100 + seed, n=2000)
        hits.append(coverage(CovariateParetoNBD().fit(sim["frequency"], sim["recency"], sim["T"], cov), truth))
    frame = pd.DataFrame(hits)
    assert frame.to_numpy().mean() >= 0.9, frame.mean()


@pytest.mark.parametrize("kind", ["bgnbd", "paretonbd", "gammagamma"])
def test_constant_covariates_give_the_plain_fit(kind: str) -> None:
    if kind == "gammagamma":
        x, spend, _cov = spend_sample(3, n=600)
        inputs, plain = (x, spend), GammaGamma().fit(x, spend)
        cls = CovariateGammaGamma
    else:
        sim, _cov = (bg_sample if kind == "bgnbd" else pareto_sample)(3, n=800)
        inputs = (sim["frequency"], sim["recency"], sim["T"])
        plain = (BetaGeo if kind == "bgnbd" else ParetoNBD)().fit(*inputs)
        cls = CovariateBetaGeo if kind == "bgnbd" else CovariateParetoNBD
    constant = pd.DataFrame({"everyone": np.ones(len(inputs[0])), "zero": np.zeros(len(inputs[0]))})
    with pytest.warns(CovariateWarning, match=r"\['everyone', 'zero'\] are constant over the customers"):
        model = cls().fit(*inputs, constant)
    for name, value in plain.params_.items():
        assert model.params_[name] == pytest.approx(value, rel=1e-6)
    assert model.log_likelihood_ == pytest.approx(plain.log_likelihood_, rel=1e-9)
    summary, plain_summary = model.summary(), plain.summary()
    for name in plain.params_:
        assert summary.loc[name, "se(coef)"] == pytest.approx(plain_summary.loc[name, "se(coef)"], rel=1e-4)
    fixed = [i for i in summary.index if ":" in i]
    assert (summary.loc[fixed, "coef"] == 0).all() and summary.loc[fixed, "se(coef)"].isna().all()


def test_group_and_row_likelihood_paths_agree(monkeypatch: pytest.MonkeyPatch) -> None:
    sim, cov = bg_sample(7, n=1000)
    args = (sim["frequency"], sim["recency"], sim["T"], cov)
    grouped = CovariateBetaGeo().fit(*args)
    psim, pcov = pareto_sample(7, n=600)
    pargs = (psim["frequency"], psim["recency"], psim["T"], pcov)
    pgrouped = CovariateParetoNBD().fit(*pargs)
    monkeypatch.setattr(_covariate_base, "MAX_GROUPS", 0)
    rows = CovariateBetaGeo().fit(*args)
    prows = CovariateParetoNBD().fit(*pargs)
    assert (grouped._path, rows._path) == ("groups", "rows")
    for a, b in ((grouped, rows), (pgrouped, prows)):
        assert a.log_likelihood_ == pytest.approx(b.log_likelihood_, rel=1e-9)
        pd.testing.assert_frame_equal(a.summary(), b.summary(), rtol=1e-4)


@pytest.mark.filterwarnings("ignore::targetwise.clv.CovarianceWarning")  # the start is no optimum
@pytest.mark.parametrize("cls", [CovariateBetaGeo, CovariateParetoNBD, CovariateGammaGamma])
def test_analytic_gradient_matches_finite_differences(cls, monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(0)
    if cls is CovariateGammaGamma:
        x, spend, cov = spend_sample(1, n=300)
        inputs = (x, spend)
    else:
        sim, cov = (bg_sample if cls is CovariateBetaGeo else pareto_sample)(1, n=400)
        inputs = (sim["frequency"], sim["recency"], sim["T"])
    cov = cov.assign(score=rng.normal(size=len(cov)))  # a continuous covariate: the per-row path
    captured = {}

    def capture(self, objective, log_initial):  # keep the objective, skip the optimisation
        captured["objective"], captured["start"] = objective, log_initial
        return np.concatenate([log_initial, np.zeros(sum(len(b.columns) for b in self._blocks))])

    monkeypatch.setattr(_covariate_base._CovariateModel, "_optimise", capture)
    model = cls().fit(*inputs, cov)
    assert model._path == "rows"
    objective = captured["objective"]
    n_gamma = len(model.summary()) - len(model.params_)
    theta = np.concatenate([captured["start"] + 0.05, 0.1 * rng.normal(size=n_gamma)])
    _value, grad = objective(theta)
    numeric = np.array([(objective(theta + h)[0] - objective(theta - h)[0]) / 2e-6 for h in np.eye(theta.size) * 1e-6])
    assert grad == pytest.approx(numeric, rel=1e-4, abs=1e-7)


def test_clv_with_constant_covariates_is_the_plain_clv() -> None:
    sim, _cov = bg_sample(5, n=800)
    f, r, T = sim["frequency"].to_numpy(), sim["recency"].to_numpy(), sim["T"].to_numpy()
    _x, spend, _ = spend_sample(5, n=800)
    money = np.where(f > 0, spend, 0.0)
    constant = pd.DataFrame({"c": np.ones(800)})
    with pytest.warns(CovariateWarning):
        trans = CovariateBetaGeo().fit(f, r, T, constant)
        ggf = CovariateGammaGamma().fit(f[f > 0], money[f > 0], constant[f > 0])
    kwargs = dict(horizon=52.0, discount_rate=0.002, interval=0.8, n_draws=50)
    with_cov = customer_lifetime_value_with_covariates(trans, ggf, f, r, T, money, constant, random_state=1, **kwargs)
    plain = customer_lifetime_value(BetaGeo().fit(f, r, T), GammaGamma().fit(f[f > 0], money[f > 0]), f, r, T, money,
                                    random_state=1, **kwargs)
    for column in ("expected_purchases", "expected_spend", "clv"):
        assert with_cov[column].to_numpy() == pytest.approx(plain[column].to_numpy(), rel=1e-6)
    assert (with_cov["clv_lower"] <= with_cov["clv"]).all() and (with_cov["clv"] <= with_cov["clv_upper"]).all()


def test_group_models_carry_each_groups_parameters_and_covariance() -> None:
    sim, cov = bg_sample(0)
    model = CovariateBetaGeo().fit(sim["frequency"], sim["recency"], sim["T"], cov)
    rows = pd.DataFrame({"channel=app": [0.0, 1.0], "channel=store": [0.0, 0.0]})
    (web, app), codes = model.group_models(rows)
    assert codes.tolist() == [0, 1] and web.params_ == pytest.approx(model.params_)
    gamma = model.coefficients_["purchase"]["channel=app"]
    assert app.params_["alpha"] == pytest.approx(model.params_["alpha"] * np.exp(-gamma), rel=1e-12)
    assert app.params_["a"] == pytest.approx(model.params_["a"] * np.exp(model.coefficients_["dropout_a"]["channel=app"]))
    # var(log alpha_app) = var(log alpha0) + var(gamma) - 2 cov(log alpha0, gamma)
    names = list(model.summary().index)
    cov_theta = model.theta_covariance_
    i, j = names.index("alpha"), names.index("purchase:channel=app")
    expected = cov_theta[i, i] + cov_theta[j, j] - 2 * cov_theta[i, j]
    assert app.log_covariance_[1, 1] == pytest.approx(expected, rel=1e-10)
    # the expected purchases of an app customer are those of the plain model with the app parameters
    f, r, T = sim["frequency"].to_numpy(), sim["recency"].to_numpy(), sim["T"].to_numpy()
    on_app = cov["channel=app"].to_numpy() == 1
    assert model.expected_purchases(10, f, r, T, cov)[on_app] == pytest.approx(
        app.expected_purchases(10, f[on_app], r[on_app], T[on_app]), rel=1e-12
    )


def test_one_hot_covariates_reference_pooling_and_missing() -> None:
    frame = pd.DataFrame({"channel": ["web"] * 6 + ["app"] * 3 + ["fax"] + [None] * 3, "region": ["UK"] * 13})
    table, notes = one_hot_covariates(frame, ["channel", "region"], min_customers=2)
    assert list(table.columns) == ["channel=(missing)", "channel=app", "channel=(other)"]
    assert table["channel=(missing)"].tolist() == [0.0] * 10 + [1.0] * 3
    assert table["channel=(other)"].tolist() == [0.0] * 9 + [1.0] + [0.0] * 3
    assert "channel: 1 level(s) with fewer than 2 customers pooled into (other) (fax)" in notes
    assert "channel: reference level web (6 customers)" in notes
    assert "region: one level only (UK), so it cannot explain differences; left out" in notes
    with pytest.raises(DataValidationError, match=r"covariate 'country' is not a column of the table"):
        one_hot_covariates(frame, ["country"])


def test_bad_covariates_are_refused_with_the_column_and_row() -> None:
    sim, cov = bg_sample(1, n=300)
    args = (sim["frequency"], sim["recency"], sim["T"])
    with pytest.raises(DataValidationError, match=r"covariate 'channel' has non-numeric type.*one-hot encode"):
        CovariateBetaGeo().fit(*args, pd.DataFrame({"channel": ["web"] * 300}))
    holes = cov.copy()
    holes.iloc[17, 1] = np.nan
    with pytest.raises(DataValidationError, match=r"covariate 'channel=store' at row 17 is nan"):
        CovariateBetaGeo().fit(*args, holes)
    with pytest.raises(DataValidationError, match=r"covariates have 299 rows for 300 customers"):
        CovariateBetaGeo().fit(*args, cov.iloc[:299])
    with pytest.raises(ConfigError, match=r"purchase_covariates names \['tenure'\]"):
        CovariateBetaGeo(purchase_covariates=["tenure"]).fit(*args, cov)
    model = CovariateBetaGeo(dropout_covariates=[]).fit(*args, cov)
    assert set(model.coefficients_) == {"purchase", "dropout_a", "dropout_b"} and model.coefficients_["dropout_a"] == {}
    assert model.get_params()["dropout_covariates"] == [] and model.get_params()["purchase_covariates"] is None
    with pytest.raises(DataValidationError, match=r"the model was fitted on \['channel=app', 'channel=store'\]"):
        model.prob_alive(*args, cov[["channel=store", "channel=app"]])
