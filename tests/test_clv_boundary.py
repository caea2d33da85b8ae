"""BTYD at the edge of the parameter space (issue 19): a small shop where nobody lapses.

Planted shop: every customer buys on a regular schedule (every 14 to 45 days, a few days' jitter)
at their own price level (10 to 60, +-5 % per order) and nobody ever stops. BG/NBD then runs to
``a -> 0`` (no dropout) and Gamma-Gamma to ``q -> inf``; before, both raised a ModelError ("set
penalizer_coef", which no setting exposed) and the run had no CLV at all. Now the use case keeps
the model the data supports: the no-dropout NBD for purchases, a penalised Gamma-Gamma for spend,
and says so. The planted schedule continued past the cutoff is the truth the predictions meet.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from targetwise.clv import NBD, BetaGeo, GammaGamma, customer_lifetime_value, simulate_beta_geo
from targetwise.errors import ConvergenceError
from targetwise.io.ingest import ingest
from targetwise.io.modeldata import open_model_data
from targetwise.io.runs import RunStore
from targetwise.io.workspace import Workspace
from targetwise.pipeline.run import run_pipeline
from targetwise.runconfig import RunConfig
from targetwise.usecases._common import Notes
from targetwise.usecases.clv import fit_clv, fit_transaction_model
from targetwise.usecases.features import features_at

START = np.datetime64("2023-01-01")
CUTOFF_DAY = 540
HORIZON = 365


def _regular_shop(path: Path, n: int = 400, seed: int = 0) -> tuple[Path, pd.DataFrame]:
    """Transactions CSV of regular buyers who never lapse, and each customer's planted future."""
    rng = np.random.default_rng(seed)
    lines, truth = [], []
    order = 0
    for c in range(n):
        gap, first, price = int(rng.integers(14, 46)), int(rng.integers(0, 120)), float(rng.uniform(10, 60))
        day, future = first, 0
        while day < CUTOFF_DAY + HORIZON:
            if day < CUTOFF_DAY:
                order += 1
                lines.append(f"C{c:04d},O{order},{START + day} 10:00,P{rng.integers(0, 30)},1,"
                             f"{price * rng.uniform(0.95, 1.05):.2f}")
            else:
                future += 1
            day += gap + int(rng.integers(-3, 4))
        truth.append((f"C{c:04d}", future, price))
    csv = path / "regular_buyers.csv"
    csv.write_text("customer_id,order_id,ordered_at,product_id,quantity,unit_price\n" + "\n".join(lines) + "\n")
    return csv, pd.DataFrame(truth, columns=["customer_id", "future_purchases", "price"]).set_index("customer_id")


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> tuple[Workspace, pd.DataFrame, pd.DataFrame]:
    from targetwise.config import get_settings

    base = tmp_path_factory.mktemp("nobody-lapses")
    settings = get_settings(workspace=base / "ws", duckdb_threads=2)
    ws = Workspace.init(settings.workspace, settings)
    csv, truth = _regular_shop(base)
    ingest(ws, "transactions", csv)
    with open_model_data(ws) as data:
        features = features_at(data, str(START + CUTOFF_DAY))
    return ws, features, truth


def test_the_shop_is_at_the_edge_for_the_plain_models(shop) -> None:
    _ws, f, _truth = shop
    x, t_x, big_t, m = (f[c].to_numpy(float) for c in ("btyd_frequency", "btyd_recency", "btyd_T", "btyd_monetary_value"))
    with pytest.raises(ConvergenceError) as stopped:
        GammaGamma().fit(x[x > 0], m[x > 0])
    assert stopped.value.details["params"]["q"] > 1e5  # q -> infinity: the edge
    # BG/NBD runs to a -> 0 too; whether L-BFGS-B stops just inside the box or at its edge is chance
    try:
        params = BetaGeo().fit(x, t_x, big_t).params_
    except ConvergenceError as exc:
        params = exc.details["params"]
    assert params["a"] / (params["a"] + params["b"]) < 1e-6  # dropout probability ~ 0: nobody lapses


def test_fit_clv_falls_back_to_the_no_dropout_model_and_meets_the_planted_future(shop) -> None:
    _ws, f, truth = shop
    result = fit_clv(f, horizon=HORIZON, time_unit="D", discount_rate=0.0)
    assert isinstance(result.transaction_model, NBD)
    assert result.params()["transaction_model"] == "NBD"
    notes = " | ".join(result.notes)
    assert "BG/NBD " in notes and "the edge of its parameter space" in notes and "nobody lapses" in notes
    assert "fallback: the no-dropout NBD purchase model" in notes
    assert "Gamma-Gamma refitted with penalizer_coef 0.001 (clv.retry_penalizers)" in notes
    assert result.spend_model.penalizer_coef == 0.001
    table = result.table.set_index("customer_id").join(truth)
    assert (table["p_alive"] == 1.0).all()
    # purchases in the next 365 days against the planted schedule: the total within 5 %, each customer's
    # typically within 15 % (the NBD shrinks each rate towards the shop's), and the order of customers kept
    assert table["expected_purchases"].sum() == pytest.approx(table["future_purchases"].sum(), rel=0.05)
    rel_err = (table["expected_purchases"] / table["future_purchases"] - 1).abs()
    assert rel_err.median() < 0.15, rel_err.describe()
    assert table["expected_purchases"].corr(table["future_purchases"], method="spearman") > 0.9
    # spend per order: each customer's planted price level within 5 %
    assert ((table["expected_spend"] / table["price"] - 1).abs() < 0.05).mean() > 0.95
    # undiscounted CLV = purchases x spend, near the planted revenue
    planted = (table["future_purchases"] * table["price"]).sum()
    assert table["clv"].sum() == pytest.approx(planted, rel=0.06)
    assert table["clv_lower"].le(table["clv"]).all() and table["clv"].le(table["clv_upper"]).all()


def test_the_clv_stage_completes_with_the_fallback_and_says_so(shop) -> None:
    ws, _f, _truth = shop
    info = run_pipeline(ws, ws.settings, stages=["features", "clv"])
    record = info.stage("clv")
    assert record is not None and record.status == "ok", record
    assert record.metrics["transaction_model"] == "NBD (no dropout)"
    assert set(record.metrics["nbd"]) == {"r", "alpha"} and "beta_geo" not in record.metrics
    assert any("fallback: the no-dropout NBD purchase model" in n for n in record.notes)
    params = info.read_json("clv/params.json")
    assert params["transaction_model"] == "NBD (no dropout)" and params["spend_penalizer_coef"] == 0.001
    assert RunStore(ws).active_id() == info.run_id  # nothing failed: promoted as usual
    assert (info.read_table("clv/customer_clv.parquet")["p_alive"] == 1.0).all()


def test_without_retries_or_fallback_the_error_names_the_run_config(shop) -> None:
    _ws, f, _truth = shop
    config = RunConfig.load(overrides=["clv.retry_penalizers=[]", "clv.no_dropout_fallback=false"]).clv
    with pytest.raises(ConvergenceError) as failed:
        fit_clv(f, horizon=HORIZON, time_unit="D", retry_penalizers=config.retry_penalizers,
                no_dropout_fallback=config.no_dropout_fallback)
    assert "stopped at the edge of its parameter space" in failed.value.message
    assert failed.value.fix is not None and "clv.penalizer_coef" in failed.value.fix


def test_a_fit_stopped_at_the_no_dropout_edge_is_replaced_by_the_nbd(monkeypatch: pytest.MonkeyPatch) -> None:
    # The stopped-fit path, made deterministic: BG/NBD at penalizer 0 raises as it does on some shops.
    rng = np.random.default_rng(7)
    n = 3000
    big_t = rng.uniform(200, 500, n)
    x = rng.poisson(rng.gamma(4.0, 1 / 120.0, n) * big_t).astype(float)
    t_x = np.where(x > 0, big_t * rng.beta(np.maximum(x, 1), 1), 0.0)
    real_fit = BetaGeo.fit
    edge = {"r": 4.0, "alpha": 120.0, "a": 4e-10, "b": 4.6e5}

    def fit(self, *args, **kwargs):
        if self.penalizer_coef == 0:
            raise ConvergenceError("BetaGeo did not converge", fix="set penalizer_coef", details={"params": edge})
        return real_fit(self, *args, **kwargs)

    monkeypatch.setattr(BetaGeo, "fit", fit)
    notes = Notes()
    model = fit_transaction_model(x, t_x, big_t, notes=notes)
    assert isinstance(model, NBD)
    assert model.params_ == pytest.approx({"r": 4.0, "alpha": 120.0}, rel=0.1)  # the planted rates
    assert len(notes) == 1 and notes[0].startswith("BG/NBD stopped at the edge of its parameter space (r = 4")
    assert "nobody lapses (an expected" in notes[0] and "fallback: the no-dropout NBD purchase model" in notes[0]
    # a stop elsewhere (dropout present) is refitted penalised, never replaced by a model without dropout
    edge.update(a=0.8, b=2.5)
    sample = simulate_beta_geo(3000, r=0.24, alpha=4.4, a=0.79, b=2.4, T=rng.uniform(30, 39, 3000), random_state=8)
    x, t_x, big_t = (sample[c].to_numpy() for c in ("frequency", "recency", "T"))  # weeks, CDNOW-like
    notes.clear()
    model = fit_transaction_model(x, t_x, big_t, notes=notes)
    assert isinstance(model, BetaGeo) and model.penalizer_coef == 0.001
    assert "refitted with penalizer_coef 0.001 (clv.retry_penalizers)" in notes[0]


def test_a_lapsing_shop_keeps_bg_nbd() -> None:
    # Planted BG/NBD with real dropout: the first fit converges, nothing is replaced.
    rng = np.random.default_rng(3)
    sample = simulate_beta_geo(4000, r=0.8, alpha=20.0, a=0.8, b=2.5, T=rng.uniform(100, 400, 4000), random_state=4)
    x, t_x, big_t = (sample[c].to_numpy() for c in ("frequency", "recency", "T"))
    notes = Notes()
    model = fit_transaction_model(x, t_x, big_t, notes=notes)
    assert isinstance(model, BetaGeo) and notes == []
    assert model.params_["a"] == pytest.approx(0.8, rel=0.3)


def test_nbd_recovers_planted_parameters_and_is_the_bg_nbd_edge() -> None:
    truth = {"r": 2.0, "alpha": 40.0}
    rng = np.random.default_rng(11)
    n = 20_000
    big_t = rng.uniform(60, 400, n)
    rate = rng.gamma(truth["r"], 1 / truth["alpha"], n)
    x = rng.poisson(rate * big_t).astype(float)
    t_x = np.where(x > 0, big_t * rng.beta(np.maximum(x, 1), 1), 0.0)  # last of x uniform times
    model = NBD().fit(x, t_x, big_t)
    se = np.sqrt(np.diag(model.covariance_))
    for j, (name, value) in enumerate(truth.items()):
        assert abs(model.params_[name] - value) < 4 * se[j], (name, model.params_[name], se[j])
    # expected purchases in the next 100 days vs each customer's planted rate: totals within 3 %
    assert model.expected_purchases(100, x, t_x, big_t).sum() == pytest.approx((rate * 100).sum(), rel=0.03)
    assert model.expected_purchases_unconditional(100.0) == pytest.approx(100 * model.params_["r"] / model.params_["alpha"])
    # BG/NBD with a -> 0 has the same likelihood and predictions (the edge this model is)
    edge = BetaGeo().with_params(r=model.params_["r"], alpha=model.params_["alpha"], a=1e-12, b=1.0)
    np.testing.assert_allclose(model.log_likelihood_rows(x[:50], t_x[:50], big_t[:50]),
                               edge.log_likelihood_rows(x[:50], t_x[:50], big_t[:50]), rtol=1e-9)
    np.testing.assert_allclose(model.expected_purchases(30, x[:50], t_x[:50], big_t[:50]),
                               edge.expected_purchases(30, x[:50], t_x[:50], big_t[:50]), rtol=1e-6)
    assert model.log_likelihood_ == pytest.approx(model.log_likelihood_rows(x, t_x, big_t).sum(), rel=1e-12)
    assert (model.prob_alive(x, t_x, big_t) == 1.0).all()


def test_nbd_clv_discounts_each_step() -> None:
    from targetwise.clv import GammaGamma

    model = NBD().with_params(r=2.0, alpha=40.0)
    spend = GammaGamma().with_params(p=6.0, q=4.0, v=15.0)
    x, t_x, big_t, m = np.array([0.0, 3.0]), np.array([0.0, 50.0]), np.array([100.0, 100.0]), np.array([0.0, 20.0])
    value = customer_lifetime_value(model, spend, x, t_x, big_t, m, horizon=3.0, discount_rate=0.1, interval=None)
    rate = (2.0 + x) / (40.0 + big_t)
    discounted = rate * sum(1.1 ** -k for k in (1, 2, 3))  # one unit per step, discounted at its end
    expected_spend = (6.0 * 15.0 + 6.0 * x * m) / (6.0 * x + 4.0 - 1.0)
    np.testing.assert_allclose(value["expected_purchases"], 3.0 * rate)
    np.testing.assert_allclose(value["clv"], discounted * expected_spend)


def test_targetwise_run_prints_which_model_the_clv_stage_used(shop) -> None:
    from typer.testing import CliRunner

    from targetwise.cli import app

    ws, _f, _truth = shop
    r = CliRunner().invoke(app, ["run", "-w", str(ws.path), "--stage", "features", "--stage", "clv"],
                           env={"TARGETWISE_WORKSPACE": "", "COLUMNS": "400"})
    assert r.exit_code == 0, r.output
    text = " ".join(r.output.split())
    assert "clv: ok" in text and "transaction_model=NBD (no dropout)" in text
    assert "note: BG/NBD " in text and "fallback: the no-dropout NBD purchase model" in text
    assert "note: Gamma-Gamma stopped at the edge of its parameter space" in text
    assert "promoted: the service now serves this run" in text
