"""BG/NBD against Fader, Hardie & Lee (2005) on CDNOW, plus planted-parameter recovery."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from targetwise.clv import BetaGeo, simulate_beta_geo
from targetwise.errors import DataValidationError, NotFittedError

CDNOW = Path(__file__).parent / "data" / "cdnow" / "cdnow_sample_cbs_with_holdout.csv"


@pytest.fixture(scope="module")
def cdnow() -> pd.DataFrame:
    return pd.read_csv(CDNOW)


@pytest.fixture(scope="module")
def bgf(cdnow: pd.DataFrame) -> BetaGeo:
    return BetaGeo().fit(cdnow["x"], cdnow["t_x"], cdnow["T"])


def test_cdnow_parameters_and_log_likelihood_match_the_paper(bgf: BetaGeo) -> None:
    # Fader, Hardie & Lee (2005), section 5: r 0.243, alpha 4.414, a 0.793, b 2.426, LL -9582.4.
    assert bgf.params_["r"] == pytest.approx(0.2426, rel=2e-4)
    assert bgf.params_["alpha"] == pytest.approx(4.4135, rel=2e-4)
    assert bgf.params_["a"] == pytest.approx(0.7929, rel=2e-4)
    assert bgf.params_["b"] == pytest.approx(2.4258, rel=2e-4)
    assert bgf.log_likelihood_ == pytest.approx(-9582.43, abs=0.01)
    assert bgf.n_customers_ == 2357


def test_cdnow_predictions_match_the_paper(bgf: BetaGeo) -> None:
    # Customer 1 (x=2, t_x=30.43, T=38.86): 1.226 purchases expected in the next 39 weeks.
    assert bgf.expected_purchases(39, [2], [30.43], [38.86])[0] == pytest.approx(1.226, abs=5e-4)
    unconditional = bgf.expected_purchases_unconditional(np.array([1.0, 32.0, 78.0]))
    np.testing.assert_allclose(unconditional, [0.0532, 1.0437, 1.8576], rtol=3e-4)
    assert bgf.expected_purchases_unconditional(0.0) == 0.0


def test_cdnow_holdout_total_matches_lifetimes(bgf: BetaGeo, cdnow: pd.DataFrame) -> None:
    predicted = bgf.expected_purchases(39, cdnow["x"], cdnow["t_x"], cdnow["T"])
    # lifetimes 0.11.3 BetaGeoFitter gives 1653.42 on the same data; 1,882 were actually made.
    assert predicted.sum() == pytest.approx(1653.42, abs=0.05)
    assert int(cdnow["xstar"].sum()) == 1882


def test_prob_alive_known_cases(bgf: BetaGeo) -> None:
    p = bgf.params_
    alive = bgf.prob_alive([0, 2, 2, 2], [0.0, 38.86, 30.43, 5.0], [38.86] * 4)
    assert alive[0] == 1.0  # no repeat purchase: BG/NBD customers cannot have dropped out yet
    odds = p["a"] / (p["b"] + 1.0) * ((p["alpha"] + 38.86) / (p["alpha"] + 30.43)) ** (p["r"] + 2)
    assert alive[2] == pytest.approx(1.0 / (1.0 + odds), rel=1e-12)
    assert alive[1] > alive[2] > alive[3]  # a later last purchase means more likely alive


def test_conditional_expectation_is_additive_over_horizons(bgf: BetaGeo) -> None:
    # With t = 0 nothing is expected, and the expectation grows with the horizon.
    x, t_x, big_t = np.array([0.0, 3.0, 10.0]), np.array([0.0, 20.0, 35.0]), np.array([38.0, 38.0, 38.0])
    assert np.all(bgf.expected_purchases(0.0, x, t_x, big_t) == 0.0)
    path = bgf.expected_purchases_conditional_path(np.array([1.0, 10.0, 52.0]), x, t_x, big_t)
    assert np.all(np.diff(path, axis=0) > 0)


def test_analytic_gradient_matches_finite_differences(cdnow: pd.DataFrame) -> None:
    model = BetaGeo(penalizer_coef=0.01)
    x, t_x, big_t = (cdnow[c].to_numpy(float) for c in ("x", "t_x", "T"))
    from targetwise.clv.beta_geo import prepare_summary

    weights = np.ones_like(x)
    objective = model._objective(prepare_summary(x, t_x, big_t, weights), weights)
    point = np.log([0.5, 3.0, 1.3, 4.0])
    _, grad = objective(point)
    numeric = np.empty(4)
    for j in range(4):
        step = np.zeros(4)
        step[j] = 1e-6
        numeric[j] = (objective(point + step)[0] - objective(point - step)[0]) / 2e-6
    np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-9)


def test_fit_on_weights_equals_fit_on_expanded_rows(cdnow: pd.DataFrame, bgf: BetaGeo) -> None:
    summary = cdnow.groupby(["x", "t_x", "T"]).size().reset_index(name="n")
    weighted = BetaGeo().fit(summary["x"], summary["t_x"], summary["T"], weights=summary["n"])
    for name, value in bgf.params_.items():
        assert weighted.params_[name] == pytest.approx(value, rel=1e-6)
    assert weighted.log_likelihood_ == pytest.approx(bgf.log_likelihood_, rel=1e-10)


def test_covariance_is_the_inverse_information(bgf: BetaGeo) -> None:
    cov = bgf.covariance_
    assert np.allclose(cov, cov.T)
    assert np.all(np.linalg.eigvalsh(cov) > 0)
    # The standard error of r on 2,357 customers is small but not zero (~0.0126).
    assert np.sqrt(cov[0, 0]) == pytest.approx(0.01256, rel=0.02)


def test_penalizer_shrinks_parameters(cdnow: pd.DataFrame, bgf: BetaGeo) -> None:
    penalised = BetaGeo(penalizer_coef=0.1).fit(cdnow["x"], cdnow["t_x"], cdnow["T"])
    squared = lambda params: sum(v**2 for v in params.values())  # noqa: E731
    assert squared(penalised.params_) < squared(bgf.params_)
    assert penalised.log_likelihood_ < bgf.log_likelihood_


def test_extreme_inputs_stay_finite(bgf: BetaGeo) -> None:
    x = np.array([0.0, 500.0, 5000.0, 1e5])
    t_x = np.array([0.0, 900.0, 9000.0, 1e5])
    big_t = np.array([1000.0, 1000.0, 1e4, 1e5])
    expected = bgf.expected_purchases(52, x, t_x, big_t)
    assert np.all(np.isfinite(expected)) and np.all(expected >= 0)
    # A customer buying every few days and last seen at T keeps buying at ~x/T per week.
    assert expected[3] == pytest.approx(52.0, rel=0.02)
    assert np.all(np.isfinite(bgf.log_likelihood_rows(x, t_x, big_t)))


def test_invalid_inputs_name_the_offending_row() -> None:
    model = BetaGeo()
    with pytest.raises(DataValidationError, match=r"recency at index 'b' is 40\.0: is greater than T"):
        model.fit(pd.Series([1, 2], index=["a", "b"]), pd.Series([5.0, 40.0], index=["a", "b"]), [39.0, 39.0])
    with pytest.raises(DataValidationError, match=r"frequency at index 1 is -1\.0: must not be negative"):
        model.fit([0, -1], [0.0, 1.0], [10.0, 10.0])
    with pytest.raises(
        DataValidationError, match=r"recency at index 0 is 3\.0: is positive although frequency is 0"
    ):
        model.fit([0], [3.0], [10.0])
    with pytest.raises(DataValidationError, match=r"T at index 2 is nan: values must be finite"):
        model.fit([0, 0, 0], [0.0, 0.0, 0.0], [1.0, 2.0, np.nan])
    with pytest.raises(DataValidationError, match=r"frequency at index 0 is 1\.5: must be a whole number"):
        model.fit([1.5], [1.0], [2.0])
    with pytest.raises(DataValidationError, match="same length"):
        model.fit([1, 2], [1.0], [2.0, 3.0])


def test_predicting_before_fit_raises() -> None:
    with pytest.raises(NotFittedError, match="not fitted"):
        BetaGeo().prob_alive([1], [1.0], [2.0])


def test_recovers_planted_parameters_on_a_million_customers() -> None:
    truth = {"r": 0.2426, "alpha": 4.4135, "a": 0.7929, "b": 2.4258}
    rng = np.random.default_rng(11)
    # CDNOW-like cohort: first purchases over 12 weeks, observed to week 39, recorded by day.
    big_t = (273 - rng.integers(0, 84, 1_000_000)) / 7
    sample = simulate_beta_geo(1_000_000, **truth, T=big_t, time_resolution=1 / 7, random_state=12)
    model = BetaGeo().fit(sample["frequency"], sample["recency"], sample["T"])
    se = np.sqrt(np.diag(model.covariance_))
    for j, (name, value) in enumerate(truth.items()):
        assert model.params_[name] == pytest.approx(value, rel=0.03)
        assert abs(model.params_[name] - value) < 4 * se[j], name


def test_unidentified_fits_are_refused() -> None:
    from targetwise.errors import ModelError

    with pytest.raises(ModelError, match="needs some repeat purchases"):
        BetaGeo().fit([0] * 50, [0.0] * 50, [10.0] * 25 + [20.0] * 25)


def test_summary_reports_standard_errors(bgf: BetaGeo) -> None:
    table = bgf.summary()
    assert list(table.index) == ["r", "alpha", "a", "b"]
    np.testing.assert_allclose(table["se(coef)"], np.sqrt(np.diag(bgf.covariance_)), rtol=1e-10)
    assert np.all(table["lower 95% bound"] < table["coef"]) and np.all(
        table["coef"] < table["upper 95% bound"]
    )


def test_expected_purchases_finite_when_a_below_one() -> None:
    """For a < 1 the hypergeometric series can be negative; the value must still match
    lifetimes' closed form (computed here independently with scipy)."""
    from scipy.special import hyp2f1

    r, alpha, a, b = 1.92255184346067, 6.167670308218986, 0.05626436212455562, 0.25202620049112984
    model = BetaGeo().with_params(r=r, alpha=alpha, a=a, b=b)
    x, tx, big_t, t = np.array([0.0, 0.0, 3.0]), np.array([0.0, 0.0, 10.0]), np.array([16.0, 52.0, 40.0]), 26.0
    first = (a + b + x - 1) / (a - 1)
    second = 1 - hyp2f1(r + x, b + x, a + b + x - 1, t / (alpha + big_t + t)) * ((alpha + big_t) / (alpha + t + big_t)) ** (r + x)
    denominator = 1 + (x > 0) * (a / (b + x - 1)) * ((alpha + big_t) / (alpha + tx)) ** (r + x)
    expected = first * second / denominator
    got = model.expected_purchases(t, x, tx, big_t)
    assert np.all(np.isfinite(got))
    np.testing.assert_allclose(got, expected, rtol=1e-10)
    np.testing.assert_allclose(got, [1.9321692022, 0.7893528416, 0.5045767003], rtol=1e-9)
