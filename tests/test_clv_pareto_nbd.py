"""Pareto/NBD on CDNOW (published fit), the stable hypergeometric term, and recovery."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.integrate import quad
from scipy.special import hyp2f1

from targetwise.clv import ParetoNBD, simulate_pareto_nbd
from targetwise.clv._special import pareto_log_tail_integral
from targetwise.errors import DataValidationError

CDNOW = Path(__file__).parent / "data" / "cdnow" / "cdnow_sample_cbs_with_holdout.csv"


@pytest.fixture(scope="module")
def cdnow() -> pd.DataFrame:
    return pd.read_csv(CDNOW)


@pytest.fixture(scope="module")
def pnbd(cdnow: pd.DataFrame) -> ParetoNBD:
    return ParetoNBD().fit(cdnow["x"], cdnow["t_x"], cdnow["T"])


def test_cdnow_parameters_and_log_likelihood(pnbd: ParetoNBD) -> None:
    # Fader, Hardie & Lee (2005) / Fader & Hardie's Pareto/NBD note: 0.5533, 10.578, 0.6062, 11.669, LL -9595.0.
    assert pnbd.params_["r"] == pytest.approx(0.5533, rel=2e-4)
    assert pnbd.params_["alpha"] == pytest.approx(10.578, rel=2e-4)
    assert pnbd.params_["s"] == pytest.approx(0.6062, rel=2e-4)
    assert pnbd.params_["beta"] == pytest.approx(11.669, rel=2e-4)
    assert pnbd.log_likelihood_ == pytest.approx(-9594.98, abs=0.01)
    assert pnbd.n_customers_ == 2357


def test_cdnow_predictions_agree_with_lifetimes(pnbd: ParetoNBD, cdnow: pd.DataFrame) -> None:
    # lifetimes 0.11.3 ParetoNBDFitter on the same data: P(alive) 0.86912 for customer 1 and a
    # holdout total of 1665.53 (its optimum differs from ours in the 5th digit).
    assert pnbd.prob_alive([2], [30.43], [38.86])[0] == pytest.approx(0.86912, abs=2e-5)
    total = pnbd.expected_purchases(39, cdnow["x"], cdnow["t_x"], cdnow["T"]).sum()
    assert total == pytest.approx(1665.53, abs=0.1)
    p = pnbd.params_
    # Unconditional mean: r β / (α (s-1)) · (1 - (β/(β+t))^(s-1)).
    hand = (
        p["r"]
        * p["beta"]
        / (p["alpha"] * (p["s"] - 1))
        * (1 - (p["beta"] / (p["beta"] + 39)) ** (p["s"] - 1))
    )
    assert pnbd.expected_purchases_unconditional(39.0) == pytest.approx(hand, rel=1e-12)


@pytest.mark.parametrize(("alpha", "beta"), [(10.6, 11.7), (11.7, 10.6), (30.0, 0.5), (0.5, 30.0)])
def test_tail_integral_matches_quadrature_and_hyp2f1(alpha: float, beta: float) -> None:
    r, s = 0.55, 0.61
    u = np.array([0.0, 5.0, 38.0, 38.0])
    x = np.array([0.0, 2.0, 7.0, 30.0])
    log_j, _ = pareto_log_tail_integral(u, x, r, alpha, s, beta)
    for i in range(u.shape[0]):
        integrand = lambda tau, i=i: (alpha + tau) ** -(r + x[i]) * (beta + tau) ** -(s + 1)  # noqa: E731
        numeric, _ = quad(integrand, u[i], np.inf, epsabs=0, epsrel=1e-12, limit=200)
        assert log_j[i] == pytest.approx(np.log(numeric), abs=1e-8)
        # The textbook hypergeometric form (fine at these moderate values).
        m = r + s + x[i]
        if alpha >= beta:
            closed = hyp2f1(m, s + 1, m + 1, (alpha - beta) / (alpha + u[i])) / (m * (alpha + u[i]) ** m)
        else:
            closed = hyp2f1(m, r + x[i], m + 1, (beta - alpha) / (beta + u[i])) / (m * (beta + u[i]) ** m)
        assert log_j[i] == pytest.approx(np.log(closed), abs=1e-9)


@pytest.mark.parametrize(
    "params", [(0.55, 10.6, 0.61, 11.7), (0.55, 11.7, 0.61, 10.6), (2.0, 40.0, 1.5, 0.8)]
)
def test_analytic_gradient_matches_finite_differences(cdnow: pd.DataFrame, params: tuple[float, ...]) -> None:
    model = ParetoNBD(penalizer_coef=0.01)
    from targetwise.clv.pareto_nbd import _row_loglik, prepare_summary

    x, t_x, big_t = (cdnow[c].to_numpy(float) for c in ("x", "t_x", "T"))
    objective = model._objective(prepare_summary(x, t_x, big_t), np.ones(len(cdnow)))
    # The fitting path and the per-row path agree.
    total, _ = model._loglik(np.array(params), prepare_summary(x, t_x, big_t), np.ones(len(cdnow)))
    assert total == pytest.approx(_row_loglik(np.array(params), x, t_x, big_t)[0].sum(), rel=1e-12)
    point = np.log(params)
    _, grad = objective(point)
    numeric = np.empty(4)
    for j in range(4):
        step = np.zeros(4)
        step[j] = 1e-6
        numeric[j] = (objective(point + step)[0] - objective(point - step)[0]) / 2e-6
    np.testing.assert_allclose(grad, numeric, rtol=2e-6, atol=1e-9)


def test_extreme_inputs_give_finite_values(pnbd: ParetoNBD) -> None:
    # Frequencies and horizons where the textbook 2F1 form overflows.
    x = np.array([0.0, 1000.0, 20000.0, 1e6])
    t_x = np.array([0.0, 999.5, 1500.0, 9.9e5])
    big_t = np.array([1e4, 1000.0, 2e4, 1e6])
    r, alpha, s, beta = (pnbd.params_[k] for k in ("r", "alpha", "s", "beta"))
    m = r + s + x[2]
    assert np.isinf(hyp2f1(m, r + x[2], m + 1, (beta - alpha) / beta))  # the textbook term at u = 0
    loglik = pnbd.log_likelihood_rows(x, t_x, big_t)
    alive = pnbd.prob_alive(x, t_x, big_t)
    expected = pnbd.expected_purchases(52, x, t_x, big_t)
    assert np.all(np.isfinite(loglik)) and np.all(np.isfinite(expected))
    assert np.all((alive >= 0) & (alive <= 1))
    assert alive[2] < 1e-10  # 20,000 purchases then silence for 18,500 weeks: gone
    assert alive[1] > 0.999  # buying every week until half a week ago: alive
    assert expected[1] == pytest.approx(52 * 1000 / 1000, rel=0.05)  # and keeps buying ~weekly
    # Same extremes with the far-apart scales (z near 1) branch.
    model = ParetoNBD().with_params(r=2.0, alpha=50.0, s=1.5, beta=0.05)
    assert np.all(np.isfinite(model.log_likelihood_rows(x, t_x, big_t)))


def test_with_params_validates() -> None:
    with pytest.raises(DataValidationError, match="missing"):
        ParetoNBD().with_params(r=1.0, alpha=1.0, s=1.0)
    with pytest.raises(DataValidationError, match="finite positive"):
        ParetoNBD().with_params(r=1.0, alpha=-1.0, s=1.0, beta=1.0)


def test_recovers_planted_parameters() -> None:
    truth = {"r": 0.5533, "alpha": 10.578, "s": 0.6062, "beta": 11.669}
    rng = np.random.default_rng(5)
    big_t = (273 - rng.integers(0, 84, 300_000)) / 7
    sample = simulate_pareto_nbd(300_000, **truth, T=big_t, time_resolution=1 / 7, random_state=6)
    model = ParetoNBD().fit(sample["frequency"], sample["recency"], sample["T"])
    se = np.sqrt(np.diag(model.covariance_))
    for j, (name, value) in enumerate(truth.items()):
        assert abs(model.params_[name] - value) < 4 * se[j], (name, model.params_[name], se[j])
    assert model.params_["r"] == pytest.approx(truth["r"], rel=0.03)
