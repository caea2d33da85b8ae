"""CUPED readouts (coverage over seeds, narrower with a correlated covariate, the workspace's pre-period spend,
`campaign report --json`) and the holdout power planner (hand-computed sample sizes)."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from typer.testing import CliRunner

from targetwise.campaigns.cuped import cuped_difference
from targetwise.campaigns.measurement import measure_campaign
from targetwise.campaigns.power import sample_size_two_proportions
from targetwise.cli import app
from targetwise.errors import ConfigError, DataValidationError
from targetwise.io.ingest import ingest_arrow
from targetwise.io.readers import source_from_frame
from targetwise.io.workspace import Workspace
from targetwise.usecases.readout import campaign_readout, plan_power, readout_dict

TRUE_EFFECT = 3.0


def _campaign(seed: int, *, n: int = 1000, slope: float = 0.6) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Revenue = 20 + slope * pre-period spend + 3 if treated + noise; half of 2n customers treated."""
    rng = np.random.default_rng(seed)
    pre = rng.gamma(2.0, 25.0, 2 * n)
    treated = rng.permutation(np.r_[np.ones(n, dtype=bool), np.zeros(n, dtype=bool)])
    revenue = 20 + slope * pre + TRUE_EFFECT * treated + rng.normal(0, 20, 2 * n)
    return revenue, pre, treated


def test_cuped_interval_covers_the_truth_at_the_nominal_rate_and_is_narrower() -> None:
    seeds = 200
    covered = covered_raw = 0
    ratios = []
    for seed in range(seeds):
        y, x, t = _campaign(seed)
        d = cuped_difference(y, x, t)
        covered += d.ci_low <= TRUE_EFFECT <= d.ci_high
        covered_raw += d.unadjusted_low <= TRUE_EFFECT <= d.unadjusted_high
        width, raw_width = d.ci_high - d.ci_low, d.unadjusted_high - d.unadjusted_low
        assert width < raw_width  # narrower on every seed: the covariate correlates
        ratios.append(width / raw_width)
        assert width / raw_width == pytest.approx(math.sqrt(1 - d.variance_reduction), rel=0.02)
    # 99.9 % acceptance region of Binomial(200, 0.95): a correct 95 % interval lands here
    low, high = stats.binom.interval(0.999, seeds, 0.95)
    assert low <= covered <= high and low <= covered_raw <= high
    # Var(0.6 x) = 0.36 * 2 * 25^2 = 450 of 450 + 400: the adjusted width is sqrt(400 / 850) of the raw one
    assert float(np.mean(ratios)) == pytest.approx(math.sqrt(400 / 850), abs=0.02)


def test_cuped_with_an_unrelated_covariate_changes_nearly_nothing() -> None:
    y, x, t = _campaign(7, slope=0.0)
    d = cuped_difference(y, x, t)
    assert abs(d.variance_reduction) < 0.01
    assert d.effect == pytest.approx(d.unadjusted_effect, abs=0.3)
    constant = cuped_difference(y, np.full(len(y), 5.0), t)
    assert (constant.theta, constant.variance_reduction) == (0.0, 0.0)
    assert constant.effect == pytest.approx(constant.unadjusted_effect)


def test_cuped_refuses_bad_input() -> None:
    y, x, t = _campaign(0, n=10)
    with pytest.raises(DataValidationError, match="covariate has 1 missing"):
        cuped_difference(y, np.r_[x[:-1], np.nan], t)
    with pytest.raises(DataValidationError, match="needs >= 2 treated"):
        cuped_difference(y[:3], x[:3], np.array([1, 0, 0]))
    with pytest.raises(DataValidationError, match="column 'pre_spend' has 1 missing"):
        measure_campaign(pd.DataFrame({"customer_id": ["a", "b", "c", "d"], "arm": ["t", "t", "control", "control"],
                                       "converted": [1, 0, 0, 1], "revenue": [1.0, 0, 0, 2], "pre_spend": [1, None, 2, 3]}))


def test_measure_campaign_carries_cuped_per_segment() -> None:
    y, x, t = _campaign(3, n=600)
    frame = pd.DataFrame({
        "customer_id": [f"c{i}" for i in range(len(y))], "arm": np.where(t, "treatment", "control"),
        "converted": (y > np.median(y)).astype(int), "revenue": y, "pre_spend": x,
        "segment": np.where(np.arange(len(y)) % 2 == 0, "even", "odd"),
    })
    results = measure_campaign(frame).results.set_index("segment")
    for segment in ("all", "even", "odd"):
        part = frame if segment == "all" else frame[frame["segment"] == segment]
        expected = cuped_difference(part["revenue"], part["pre_spend"], part["arm"] == "treatment")
        row = results.loc[segment]
        assert (row["irpc_cuped"], row["irpc_cuped_low"], row["irpc_cuped_high"]) == pytest.approx(
            (expected.effect, expected.ci_low, expected.ci_high))
        assert row["irpc_variance_reduction"] > 0.3
        assert row["irpc_cuped_high"] - row["irpc_cuped_low"] < row["irpc_high"] - row["irpc_low"]


def _ingest_campaign(ws: Workspace) -> tuple[np.ndarray, np.ndarray]:
    """Campaign K1 sent 2023-05-01 to 400 customers; pre-period spend planted in transactions."""
    n = 400
    ids = [f"C{i:04d}" for i in range(n)]
    rng = np.random.default_rng(4)
    arm = np.where(np.arange(n) % 2 == 0, "treatment", "control")
    pre = rng.integers(1, 20, n) * 10.0
    revenue = np.round(0.5 * pre + np.where(arm == "treatment", 8.0, 0.0) + rng.normal(0, 4, n), 2).clip(0.01)
    lines = [(ids[i], f"O{i}", "2023-04-01", "P1", 1, pre[i]) for i in range(n)]
    lines += [
        ("C0000", "OLD", "2023-01-01", "P1", 1, 500.0),  # 120 days before: outside the 90-day pre-period
        ("C0000", "OPOST", "2023-04-01", "POST", 1, 4.95),  # postage is not spend
        ("C0000", "CO0", "2023-04-20", "P1", -1, 3.0),  # a return is subtracted
        ("C0000", "LATER", "2023-05-02", "P1", 1, 900.0),  # after the send
    ]
    pre[0] -= 3.0
    tx = pd.DataFrame(lines, columns=["customer_id", "order_id", "ordered_at", "product_id", "quantity", "unit_price"])
    ingest_arrow(ws, "transactions", source_from_frame(tx.astype(str), name="tx"))
    exposures = pd.DataFrame({"campaign_id": "K1", "customer_id": ids, "arm": arm, "sent_at": "2023-05-01"})
    responses = pd.DataFrame({"campaign_id": "K1", "customer_id": ids, "responded_at": "2023-05-03",
                              "response_type": "conversion", "revenue": revenue})
    ingest_arrow(ws, "campaign_exposures", source_from_frame(exposures, name="exp"))
    ingest_arrow(ws, "responses", source_from_frame(responses, name="resp"))
    return pre, revenue


def test_campaign_report_json_has_unadjusted_and_cuped(workspace: Workspace) -> None:
    pre, revenue = _ingest_campaign(workspace)
    outcomes = workspace.campaign_outcomes("K1", pre_period_days=90).set_index("customer_id")
    assert outcomes.loc["C0000", "pre_spend"] == pytest.approx(pre[0])
    assert outcomes["pre_spend"].to_numpy() == pytest.approx(pre)
    readout = readout_dict(campaign_readout(workspace, "K1"))
    r = CliRunner().invoke(app, ["campaign", "report", "K1", "--json", "-w", str(workspace.path)])
    assert r.exit_code == 0, r.output
    shown = json.loads(r.output)
    assert shown == readout
    row = next(x for x in shown["results"] if x["metric"] == "revenue_per_customer" and x["segment"] == "all")
    treated = np.arange(len(pre)) % 2 == 0
    expected = cuped_difference(revenue, pre, treated)
    assert row["cuped"] == pytest.approx({"effect": expected.effect, "ci_low": expected.ci_low, "ci_high": expected.ci_high})
    assert row["unadjusted"]["effect"] == pytest.approx(revenue[treated].mean() - revenue[~treated].mean())
    assert row["cuped"]["ci_low"] <= 8.0 <= row["cuped"]["ci_high"]
    assert row["variance_reduction"] > 0.5
    assert shown["covariate"] == "net spend in the 90 days before the send"
    text = CliRunner().invoke(app, ["campaign", "report", "K1", "-w", str(workspace.path)], env={"COLUMNS": "250"})
    assert f"variance reduction {row['variance_reduction']:.0%}" in " ".join(text.output.split())
    with pytest.raises(ConfigError, match="pre-period must be a whole number of days"):
        campaign_readout(workspace, "K1", pre_period_days=0)


def _fleiss(p1: float, p2: float, z_a: float, z_b: float) -> float:
    p_bar = (p1 + p2) / 2
    return (z_a * math.sqrt(2 * p_bar * (1 - p_bar)) + z_b * math.sqrt(p1 * (1 - p1) + p2 * (1 - p2))) ** 2 / (p2 - p1) ** 2


def test_power_matches_hand_computed_sample_sizes() -> None:
    # 10 % -> 12 %, alpha 0.05 two-sided (z 1.959964), power 0.8 (z 0.841621):
    # p_bar 0.11; (1.959964 * sqrt(0.1958) + 0.841621 * sqrt(0.1956))^2 / 0.02^2 = 3840.9 -> 3,841 per arm
    plan = sample_size_two_proportions(0.10, 0.02)
    assert (plan.n_per_arm, plan.n_per_arm_unadjusted, plan.n_total) == (3841, 3841, 7682)
    assert plan.target_rate == 0.12
    # 5 % -> 6 %, alpha 0.01 (z 2.575829), power 0.9 (z 1.281552)
    assert sample_size_two_proportions(0.05, 0.01, alpha=0.01, power=0.9).n_per_arm == math.ceil(
        _fleiss(0.05, 0.06, 2.575829, 1.281552))
    assert math.ceil(_fleiss(0.05, 0.06, 2.575829, 1.281552)) == 15465
    # CUPED removing 30 % of the variance needs 70 % of the customers: ceil(3840.85 * 0.7) = 2,689
    cuped = sample_size_two_proportions(0.10, 0.02, cuped_r2=0.3)
    assert (cuped.n_per_arm, cuped.n_per_arm_unadjusted) == (2689, 3841)
    with pytest.raises(ConfigError, match=r"baseline rate 0.95 \+ minimum detectable effect 0.06 = 1.01"):
        sample_size_two_proportions(0.95, 0.06)
    with pytest.raises(ConfigError, match=r"alpha must lie in \(0, 1\), got 1.5"):
        sample_size_two_proportions(0.1, 0.01, alpha=1.5)
    with pytest.raises(ConfigError, match=r"CUPED r2 must lie in \[0, 1\)"):
        sample_size_two_proportions(0.1, 0.01, cuped_r2=1.0)
    # a vanishing effect (5e-324 once divided by zero) is refused in words, the smallest allowed is planned
    with pytest.raises(ConfigError, match=r"minimum detectable effect 5e-324 is below 1e-06"):
        sample_size_two_proportions(0.1, 5e-324)
    assert sample_size_two_proportions(0.1, 1e-6).n_per_arm > 10**11


def test_power_cli_and_cuped_from_a_campaign(workspace: Workspace) -> None:
    r = CliRunner().invoke(app, ["campaign", "power", "--baseline-rate", "0.1", "--mde", "0.02", "--json"])
    assert r.exit_code == 0, r.output
    shown = json.loads(r.output)
    assert shown["n_per_arm"] == 3841 and (shown["baseline_rate"], shown["mde"], shown["alpha"], shown["power"]) == (
        0.1, 0.02, 0.05, 0.8)
    bad = CliRunner().invoke(app, ["campaign", "power", "--baseline-rate", "10", "--mde", "0.02"])
    assert bad.exit_code != 0 and "baseline rate must lie in (0, 1), got 10.0" in bad.output
    _ingest_campaign(workspace)
    readout = campaign_readout(workspace, "K1").measurement.results
    r2 = float(readout.loc[readout["segment"] == "all", "icr_variance_reduction"].iloc[0])
    plan = plan_power(workspace, baseline_rate=0.1, mde=0.02, cuped_from_campaign="K1")
    assert plan.cuped_r2 == pytest.approx(max(r2, 0.0))
    assert plan.n_per_arm == math.ceil(_fleiss(0.1, 0.12, 1.959964, 0.841621) * (1 - plan.cuped_r2) - 1e-6)
    with pytest.raises(ConfigError, match="not both"):
        plan_power(workspace, baseline_rate=0.1, mde=0.02, cuped_r2=0.1, cuped_from_campaign="K1")
