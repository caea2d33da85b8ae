"""Gamma-Gamma spend model on CDNOW's 946 repeat buyers (Fader, Hardie & Lee 2005)."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from targetwise.clv import CORRELATION_WARNING_THRESHOLD, DependenceWarning, GammaGamma
from targetwise.errors import DataValidationError, ModelError, NotFittedError

CDNOW = Path(__file__).parent / "data" / "cdnow" / "cdnow_customers_summary_with_transactions.csv"


@pytest.fixture(scope="module")
def repeat_buyers() -> pd.DataFrame:
    summary = pd.read_csv(CDNOW)
    return summary[summary["x"] > 0]


@pytest.fixture(scope="module")
def ggf(repeat_buyers: pd.DataFrame) -> GammaGamma:
    with warnings.catch_warnings():
        warnings.simplefilter("error", DependenceWarning)  # CDNOW's correlation (0.11) must not warn
        return GammaGamma().fit(repeat_buyers["x"], repeat_buyers["zbar"])


def test_cdnow_parameters_and_log_likelihood(ggf: GammaGamma, repeat_buyers: pd.DataFrame) -> None:
    assert len(repeat_buyers) == 946
    # Published to three significant digits: p 6.25, q 3.74, v 15.44 (lifetimes: 6.2488, 3.7446, 15.4477).
    assert ggf.params_["p"] == pytest.approx(6.2488, rel=1e-4)
    assert ggf.params_["q"] == pytest.approx(3.7446, rel=1e-4)
    assert ggf.params_["v"] == pytest.approx(15.4477, rel=1e-4)
    assert f"{ggf.params_['p']:.3g}/{ggf.params_['q']:.3g}" == "6.25/3.74"
    assert ggf.log_likelihood_ == pytest.approx(-4055.92, abs=0.01)
    assert ggf.frequency_spend_correlation_ == pytest.approx(0.1139, abs=1e-4)


def test_expected_spend_is_the_credibility_weighted_mean(ggf: GammaGamma) -> None:
    p, q, v = ggf.params_["p"], ggf.params_["q"], ggf.params_["v"]
    population = p * v / (q - 1)
    assert ggf.population_mean_spend() == pytest.approx(population, rel=1e-12)
    spend = ggf.expected_spend([0, 2, 10], [0.0, 22.35, 50.0])
    assert spend[0] == pytest.approx(population, rel=1e-12)
    weight = p * 2 / (p * 2 + q - 1)  # weight on the customer's own mean
    assert spend[1] == pytest.approx(weight * 22.35 + (1 - weight) * population, rel=1e-12)
    assert abs(spend[2] - 50.0) < abs(population - 50.0)  # shrunk towards, not past, the mean


def test_analytic_gradient_matches_finite_differences(repeat_buyers: pd.DataFrame) -> None:
    model = GammaGamma(penalizer_coef=0.001)
    columns = (repeat_buyers["x"].to_numpy(float), repeat_buyers["zbar"].to_numpy(float))
    objective = model._objective(columns, np.ones(len(repeat_buyers)))
    point = np.log([3.0, 2.5, 30.0])
    _, grad = objective(point)
    numeric = np.empty(3)
    for j in range(3):
        step = np.zeros(3)
        step[j] = 1e-6
        numeric[j] = (objective(point + step)[0] - objective(point - step)[0]) / 2e-6
    np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-9)


def test_warns_when_spend_depends_on_frequency() -> None:
    rng = np.random.default_rng(3)
    x = rng.integers(1, 20, 500).astype(float)
    spend = 5.0 * x * rng.gamma(20.0, 1 / 20.0, 500)  # spend grows with frequency: r ≈ 0.9
    with pytest.warns(DependenceWarning, match=r"Pearson correlation 0\.9\d+ \(\|r\| > 0\.3\)"):
        model = GammaGamma().fit(x, spend)
    assert model.frequency_spend_correlation_ > CORRELATION_WARNING_THRESHOLD


def test_refuses_undefined_mean_and_bad_spend(ggf: GammaGamma) -> None:
    heavy = ggf.with_params(p=6.25, q=0.9, v=15.44)
    with pytest.raises(ModelError, match=r"q = 0\.9 <= 1"):
        heavy.expected_spend([2], [20.0])
    with pytest.raises(DataValidationError, match=r"monetary_value at index 1 is 0\.0: is not positive"):
        GammaGamma().fit([1, 2, 3], [10.0, 0.0, 5.0])
    with pytest.raises(DataValidationError, match=r"monetary_value at index 0 is -4\.0"):
        GammaGamma().fit([1], [-4.0])
    with pytest.raises(
        DataValidationError, match=r"frequency at index 2 is 0\.0: is 0: Gamma-Gamma is fitted on repeat"
    ):
        GammaGamma().fit([1, 2, 0], [10.0, 4.0, 0.0])
    with pytest.raises(DataValidationError, match="is not positive for a repeat buyer"):
        ggf.expected_spend([0, 3], [0.0, -1.0])
    with pytest.raises(NotFittedError):
        GammaGamma().expected_spend([1], [1.0])


def test_identical_spends_do_not_converge() -> None:
    from targetwise.errors import ConvergenceError

    # Every buyer spends exactly 5: the between-customer spend distribution is degenerate.
    with pytest.raises(ConvergenceError, match=r"GammaGamma did not converge.*mean spend varies"):
        GammaGamma().fit([1, 1, 1], [5.0, 5.0, 5.0])
