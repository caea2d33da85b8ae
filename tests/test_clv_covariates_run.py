"""CLV covariates end to end: attributes from the workspace (objectors left out), the clv stage
with ``clv.covariates`` recovering a planted channel effect, and the config errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from targetwise.errors import ConfigError
from targetwise.io.clv_attributes import customer_attributes
from targetwise.io.consent import record_consent
from targetwise.io.ingest import ingest
from targetwise.io.modeldata import open_model_data
from targetwise.io.workspace import Workspace
from targetwise.pipeline.run import run_pipeline
from targetwise.runconfig import RunConfig
from targetwise.usecases.clv_covariates import clv_covariate_table
from targetwise.usecases.features import features_at

START = np.datetime64("2023-01-01")
END_DAY = 540
APP_RATE, STORE_SPEND = 2.0, 1.5  # planted: app customers buy twice as often, store customers spend 1.5x


def _shop(path: Path, n: int = 900, seed: int = 11) -> dict[str, Path]:
    """BG/NBD-like shop in days: lambda ~ Gamma(2, rate 120/APP_RATE^app), dropout after a purchase ~ Beta(1, 8);
    order values Gamma(6, nu), nu ~ Gamma(4, rate 100 * STORE_SPEND^store)."""
    rng = np.random.default_rng(seed)
    channel = rng.choice(["web", "app", "store"], size=n, p=[0.5, 0.25, 0.25])
    lines, customers = [], []
    order = 0
    for c in range(n):
        cid = f"C{c:04d}"
        rate = rng.gamma(2.0, 1.0 / (120.0 / (APP_RATE if channel[c] == "app" else 1.0)))
        p_drop = rng.beta(1.0, 8.0)
        nu = rng.gamma(4.0, 1.0 / (100.0 * (STORE_SPEND if channel[c] == "store" else 1.0)))
        day = float(rng.integers(0, 120))
        days = [int(day)]
        while True:
            day += rng.exponential(1.0 / rate)
            if day >= END_DAY:
                break
            if int(day) == days[-1]:
                continue  # a second purchase the same day is the same purchase day
            days.append(int(day))
            if rng.random() < p_drop:
                break
        for d in days:
            order += 1
            value = rng.gamma(6.0, 1.0 / nu)
            # the first order: a cheap line in "cards" and the main line in "gifts" (the highest value wins)
            lines.append(f"{cid},O{order},{START + d} 10:00,P1,1,{value:.2f},{channel[c]}")
            if d == days[0]:
                lines.append(f"{cid},O{order},{START + d} 10:00,P2,1,0.50,{channel[c]}")
        customers.append(f"{cid},{'France' if c % 3 == 0 else 'United Kingdom'}")
    files = {"transactions": path / "tx.csv", "products": path / "products.csv", "customers": path / "customers.csv"}
    files["transactions"].write_text(
        "customer_id,order_id,ordered_at,product_id,quantity,unit_price,channel\n" + "\n".join(lines) + "\n"
    )
    files["products"].write_text("product_id,name,category\nP1,Gift box,gifts\nP2,Card,cards\n")
    files["customers"].write_text("customer_id,country\n" + "\n".join(customers) + "\n")
    return files


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    from targetwise.config import get_settings

    base = tmp_path_factory.mktemp("clv-covariates")
    settings = get_settings(workspace=base / "ws", duckdb_threads=2)
    ws = Workspace.init(settings.workspace, settings)
    for table, csv in _shop(base).items():
        ingest(ws, table, csv)
    record_consent(ws, "C0001", purpose="profiling", status="denied", source="test")
    return ws


def test_attributes_are_the_first_orders_channel_and_main_category_and_the_country(shop: Workspace) -> None:
    with open_model_data(shop) as data:
        frame = customer_attributes(data, before=str(START + END_DAY)).set_index("customer_id")
    tx = pd.read_csv(Path(shop.settings.workspace).parent / "tx.csv")
    first_channel = tx.sort_values(["ordered_at", "order_id"]).groupby("customer_id")["channel"].first()
    assert "C0001" not in frame.index  # the profiling objector never reaches a model
    expected = first_channel.drop("C0001")
    assert frame["acquisition_channel"].sort_index().tolist() == expected.sort_index().tolist()
    assert set(frame["first_order_category"]) == {"gifts"}  # P1 (gifts) is the highest-value line
    assert frame.loc["C0003", "region"] == "France" and frame.loc["C0002", "region"] == "United Kingdom"


@pytest.mark.slow  # ~10-15 s: the stage's holdout check and plots
def test_the_clv_stage_with_covariates_recovers_the_planted_channel_effects(shop: Workspace) -> None:
    config = RunConfig.load(overrides=['clv.covariates=["acquisition_channel", "region"]', "clv.n_draws=20", "random_state=0"])
    info = run_pipeline(shop, shop.settings, stages=["features", "clv"], config=config)
    record = info.stage("clv")
    assert record is not None and record.status == "ok", record
    assert record.metrics["transaction_model"] == "BG/NBD with covariates"
    assert "covariates: acquisition_channel: reference level web" in " ".join(record.notes)
    params = info.read_json("clv/params.json")
    assert params["transaction_model"] == "BG/NBD with covariates"
    rows = {r["parameter"]: r for r in params["covariates"]["transaction"]}
    spend = {r["parameter"]: r for r in params["covariates"]["spend"]}
    app = rows["purchase:acquisition_channel=app"]
    assert abs(app["coef"] - np.log(APP_RATE)) <= 2 * app["se"], app
    store = spend["spend:acquisition_channel=store"]
    assert abs(store["coef"] - np.log(STORE_SPEND)) <= 2 * store["se"], store
    # region was not planted: its coefficients are near 0
    france = rows["purchase:region=France"]
    assert abs(france["coef"]) <= 3 * france["se"] and france["se"] > 0
    clv = info.read_table("clv/customer_clv.parquet")
    assert "C0001" not in set(clv["customer_id"]) and len(clv) == 899
    # 20 draws: the point value is inside its own 80 % percentile interval for nearly every customer
    assert (clv["clv_lower"] <= clv["clv_upper"]).all()
    assert ((clv["clv_lower"] <= clv["clv"]) & (clv["clv"] <= clv["clv_upper"])).mean() >= 0.95


def test_covariate_names_that_are_not_categories_are_config_errors(shop: Workspace) -> None:
    with open_model_data(shop) as data:
        features = features_at(data, str(START + END_DAY), time_unit="D")
        with pytest.raises(ConfigError, match=r"clv.covariates names 'colour', which is neither a customer attribute"):
            clv_covariate_table(data, str(START + END_DAY), features, ["colour"])
        with pytest.raises(ConfigError, match=r"feature 'monetary_total' is numeric with \d+ distinct values"):
            clv_covariate_table(data, str(START + END_DAY), features, ["monetary_total"])


def test_targetwise_clv_with_covariates_prints_coefficients_with_standard_errors(shop: Workspace) -> None:
    from typer.testing import CliRunner

    from targetwise.cli import app

    args = ["clv", "--as-of", str(START + END_DAY), "--time-unit", "D", "--horizon", "28", "--covariate",
            "acquisition_channel", "-w", str(shop.path)]
    r = CliRunner().invoke(app, args, env={"TARGETWISE_WORKSPACE": "", "COLUMNS": "400"})
    assert r.exit_code == 0, r.output
    text = " ".join(r.output.split())
    assert text.startswith("CovariateBetaGeo: r=") or "CovariateBetaGeo: r=" in text
    line = next(x for x in r.output.splitlines() if "purchase:acquisition_channel=app" in x)
    coef, se = float(line.split("= ")[1].split(" ")[0]), float(line.split("SE ")[1].rstrip(")"))
    assert abs(coef - np.log(APP_RATE)) <= 2 * se
    assert "spend:acquisition_channel=store" in text and "acquisition_channel: reference level web" in text
