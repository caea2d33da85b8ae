"""customer_lifetime_value: discounting in explicit units, invariants and intervals."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from targetwise.clv import BetaGeo, GammaGamma, ParetoNBD, customer_lifetime_value
from targetwise.clv.value import horizon_steps
from targetwise.errors import DataValidationError, ModelError

CDNOW = Path(__file__).parent / "data" / "cdnow" / "cdnow_sample_cbs_with_holdout.csv"


@pytest.fixture(scope="module")
def cdnow() -> pd.DataFrame:
    return pd.read_csv(CDNOW).head(400)  # a slice keeps the interval tests fast


@pytest.fixture(scope="module")
def models() -> tuple[BetaGeo, GammaGamma]:
    full = pd.read_csv(CDNOW)
    repeat = full[full["x"] > 0]
    return BetaGeo().fit(full["x"], full["t_x"], full["T"]), GammaGamma().fit(repeat["x"], repeat["zbar"])


def _clv(models: tuple[BetaGeo, GammaGamma], frame: pd.DataFrame, **kwargs: object) -> pd.DataFrame:
    bgf, ggf = models
    return customer_lifetime_value(bgf, ggf, frame["x"], frame["t_x"], frame["T"], frame["zbar"], **kwargs)


def test_undiscounted_value_is_expected_purchases_times_spend(models, cdnow) -> None:
    bgf, ggf = models
    frame = _clv(models, cdnow, horizon=39, discount_rate=0.0, interval=None)
    purchases = bgf.expected_purchases(39, cdnow["x"], cdnow["t_x"], cdnow["T"])
    spend = ggf.expected_spend(cdnow["x"], cdnow["zbar"])
    np.testing.assert_allclose(frame["expected_purchases"], purchases, rtol=1e-10)
    np.testing.assert_allclose(frame["clv"], purchases * spend, rtol=1e-10)
    assert list(frame.columns) == ["expected_purchases", "expected_spend", "clv"]
    assert frame.attrs["time_unit"] == "period" and frame.attrs["horizon"] == 39.0


def test_discounting_sums_unit_steps(models, cdnow) -> None:
    bgf, ggf = models
    rate = 0.01
    frame = _clv(models, cdnow, horizon=10, discount_rate=rate, interval=None, time_unit="week")
    args = (cdnow["x"], cdnow["t_x"], cdnow["T"])
    hand = np.zeros(len(cdnow))
    for week in range(1, 11):
        step = bgf.expected_purchases(week, *args) - bgf.expected_purchases(week - 1, *args)
        hand += step / (1 + rate) ** week
    np.testing.assert_allclose(frame["clv"], hand * ggf.expected_spend(cdnow["x"], cdnow["zbar"]), rtol=1e-10)
    assert np.all(frame["clv"] < _clv(models, cdnow, horizon=10, discount_rate=0.0, interval=None)["clv"])


def test_value_does_not_depend_on_the_time_unit(models, cdnow) -> None:
    # Refit in days: alpha scales by 7, the rest is unchanged, and a 52-week horizon at a weekly
    # rate equals a 364-day horizon discounted per day in 7-day steps. No hidden month length.
    bgf, ggf = models
    full = pd.read_csv(CDNOW)
    daily = BetaGeo().fit(full["x"], full["t_x"] * 7, full["T"] * 7)
    assert daily.params_["alpha"] == pytest.approx(7 * bgf.params_["alpha"], rel=1e-5)
    assert daily.params_["r"] == pytest.approx(bgf.params_["r"], rel=1e-5)
    weekly_rate = 0.002
    weeks = _clv(models, cdnow, horizon=52, discount_rate=weekly_rate, interval=None)
    days = customer_lifetime_value(
        daily,
        ggf,
        cdnow["x"],
        cdnow["t_x"] * 7,
        cdnow["T"] * 7,
        cdnow["zbar"],
        horizon=364,
        step=7,
        discount_rate=(1 + weekly_rate) ** (1 / 7) - 1,
        time_unit="day",
        interval=None,
    )
    np.testing.assert_allclose(days["clv"], weeks["clv"], rtol=1e-4)


def test_pareto_nbd_works_as_transaction_model(models, cdnow) -> None:
    _, ggf = models
    full = pd.read_csv(CDNOW)
    pnbd = ParetoNBD().fit(full["x"], full["t_x"], full["T"])
    frame = customer_lifetime_value(
        pnbd,
        ggf,
        cdnow["x"],
        cdnow["t_x"],
        cdnow["T"],
        cdnow["zbar"],
        horizon=26,
        discount_rate=0.0,
        interval=None,
    )
    expected = pnbd.expected_purchases(26, cdnow["x"], cdnow["t_x"], cdnow["T"])
    np.testing.assert_allclose(
        frame["clv"], expected * ggf.expected_spend(cdnow["x"], cdnow["zbar"]), rtol=1e-10
    )


def test_intervals_bracket_the_estimate_and_shrink_with_more_data(models, cdnow) -> None:
    frame = _clv(models, cdnow, horizon=52, discount_rate=0.002, interval=0.8, n_draws=100, random_state=1)
    assert np.all(frame["clv_lower"] < frame["clv"]) and np.all(frame["clv"] < frame["clv_upper"])
    again = _clv(models, cdnow, horizon=52, discount_rate=0.002, interval=0.8, n_draws=100, random_state=1)
    pd.testing.assert_frame_equal(frame, again)
    # 100x the customers (same summary, weights 100) gives 10x smaller parameter errors.
    full = pd.read_csv(CDNOW)
    repeat = full[full["x"] > 0]
    weights = np.full(len(full), 100.0)
    big_bg = BetaGeo().fit(full["x"], full["t_x"], full["T"], weights=weights)
    big_gg = GammaGamma().fit(repeat["x"], repeat["zbar"], weights=np.full(len(repeat), 100.0))
    narrow = customer_lifetime_value(
        big_bg,
        big_gg,
        cdnow["x"],
        cdnow["t_x"],
        cdnow["T"],
        cdnow["zbar"],
        horizon=52,
        discount_rate=0.002,
        interval=0.8,
        n_draws=100,
        random_state=1,
    )
    ratio = (frame["clv_upper"] - frame["clv_lower"]) / (narrow["clv_upper"] - narrow["clv_lower"])
    assert ratio.median() == pytest.approx(10.0, rel=0.2)
    # Half-width for customer 1 is a few percent of the value, as the parameter errors imply.
    assert 0.01 < (frame["clv_upper"][0] - frame["clv_lower"][0]) / frame["clv"][0] < 0.3


def test_horizon_steps() -> None:
    np.testing.assert_allclose(horizon_steps(3.0, 1.0), [1.0, 2.0, 3.0])
    np.testing.assert_allclose(horizon_steps(2.5, 1.0), [1.0, 2.0, 2.5])
    np.testing.assert_allclose(horizon_steps(0.5, 0.5), [0.5])


def test_invalid_settings_are_refused(models, cdnow) -> None:
    bgf, ggf = models
    with pytest.raises(DataValidationError, match="discount_rate must be in"):
        _clv(models, cdnow, horizon=52, discount_rate=-0.1)
    with pytest.raises(DataValidationError, match="horizon must be a positive"):
        _clv(models, cdnow, horizon=0, discount_rate=0.01)
    with pytest.raises(DataValidationError, match="interval must be between 0 and 1"):
        _clv(models, cdnow, horizon=5, discount_rate=0.01, interval=80)
    with pytest.raises(ModelError, match="transaction_model must be a fitted BetaGeo or ParetoNBD"):
        customer_lifetime_value(ggf, ggf, [1], [1.0], [2.0], [3.0], horizon=5, discount_rate=0.0)
    with pytest.raises(ModelError, match=r"q = 0\.5 <= 1"):
        heavy = ggf.with_params(p=1.0, q=0.5, v=1.0)
        customer_lifetime_value(bgf, heavy, [1], [1.0], [2.0], [3.0], horizon=5, discount_rate=0.0)
    copied = bgf.with_params(**bgf.params_)  # parameters without a fit: no covariance
    with pytest.raises(ModelError, match="no usable covariance"):
        customer_lifetime_value(copied, ggf, [1], [1.0], [2.0], [3.0], horizon=5, discount_rate=0.0)


def test_rfm_arrays_reads_the_btyd_block() -> None:
    from targetwise.clv import rfm_arrays

    table = pd.DataFrame(
        {"btyd_frequency": [2, 0], "btyd_recency": [30.43, 0.0], "btyd_T": [38.86, 38.86], "other": [1, 2]}
    )
    rfm = rfm_arrays(table)
    assert sorted(rfm) == ["T", "frequency", "recency"]
    assert BetaGeo().with_params(r=0.2426, alpha=4.4135, a=0.7929, b=2.4258).expected_purchases(39, **rfm)[
        0
    ] == pytest.approx(1.226, abs=5e-4)
    with pytest.raises(DataValidationError, match=r"lacks the BTYD column\(s\) \['btyd_T'\]"):
        rfm_arrays(table.drop(columns="btyd_T"))


def test_public_facade_exports_resolve() -> None:
    import targetwise.clv as facade

    assert sorted(facade.__all__) == sorted(set(facade.__all__))
    for name in facade.__all__:
        assert getattr(facade, name) is not None, name
