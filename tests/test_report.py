"""The report reads like marketing and says what the UI says (issue 19).

One small synthetic shop (150 customers) with two planted facts, run through features,
segments, CLV and recommendations:

* a 5,000-unit order of a planted product cancelled ten minutes later: the largest sale of
  the shop before returns, worth nothing after them;
* a customer who only returned goods (bought before the data starts).

Checked: the data profile ranks products by net revenue and counts customers and net
revenue as the run does; the report shows the numbers of ``run_overview`` (what the UI
shows), with the currency, labels instead of code names, parameters as a table, notes in
the appendix, a money axis on the CLV histogram and product names for the popular list.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
import pytest
from markupsafe import escape

matplotlib.use("Agg")

from conftest import fetch_rows
from targetwise.config import Settings
from targetwise.io import outputs as out
from targetwise.io.ingest import ingest_arrow
from targetwise.io.profile import profile_workspace
from targetwise.io.readers import source_from_frame
from targetwise.io.runs import RunInfo, RunStore
from targetwise.io.workspace import Workspace
from targetwise.pipeline.run import run_pipeline
from targetwise.presentation import Currency, count, money
from targetwise.reports.report import _rows, clv_distribution_axes, render_report
from targetwise.synthetic import generate_retailer
from targetwise.usecases.overview import NET_REVENUE_DEFINITION, run_overview
from targetwise.usecases.runs import RunData

BIG = "PBIG"
BIG_NAME = "Planted Giant Floor Vase"


@dataclasses.dataclass
class Shop:
    ws: Workspace
    run: RunInfo
    transactions: pd.DataFrame
    html: str


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Shop:
    path = tmp_path_factory.mktemp("report19") / "ws"
    settings = Settings(workspace=path)
    ws = Workspace.init(path, settings)
    retailer = generate_retailer(n_customers=150, random_state=0)
    tx = retailer.transactions.copy()
    buyer = str(tx["customer_id"].iloc[0])
    when = pd.Timestamp(tx["ordered_at"].quantile(0.5)).floor("h")
    planted = pd.DataFrame(
        {
            "customer_id": [buyer, buyer, "CRETURNONLY"],
            "order_id": ["OBIG1", "COBIG1", "CRET1"],
            "ordered_at": [when, when + pd.Timedelta(minutes=10), when + pd.Timedelta(days=3)],
            "product_id": [BIG, BIG, str(retailer.products["product_id"].iloc[0])],
            "quantity": [5000, -5000, -2],
            "unit_price": [20.0, 20.0, 10.0],
            "channel": ["web", "web", "web"],
        }
    )
    tx = pd.concat([tx, planted.astype({"ordered_at": tx["ordered_at"].dtype})], ignore_index=True)
    products = pd.concat(
        [retailer.products, pd.DataFrame({"product_id": [BIG], "name": [BIG_NAME], "category": ["home"],
                                          "price": [20.0], "active": [True]})],
        ignore_index=True,
    )
    for table, frame in (("products", products), ("customers", retailer.customers), ("transactions", tx)):
        ingest_arrow(ws, table, source_from_frame(frame, name=table))
    info = run_pipeline(ws, settings, stages=["features", "segments", "clv", "recommendations"])
    run = RunStore(ws).get(info.run_id)
    return Shop(ws=ws, run=run, transactions=tx, html=render_report(ws, run))


def overview_of(shop: Shop):
    return run_overview(RunData(shop.run, product_names=shop.ws.product_names))


def test_top_products_are_ranked_by_net_revenue(shop: Shop) -> None:
    profile = profile_workspace(shop.ws)
    top = profile.top_products
    gross = shop.transactions[shop.transactions["quantity"] > 0].assign(
        value=lambda f: f["quantity"] * f["unit_price"]).groupby("product_id")["value"].sum()
    assert gross.idxmax() == BIG and gross[BIG] == 100_000.0  # before returns the cancelled order would lead
    assert BIG not in set(top["product_id"])
    assert list(top["revenue"]) == sorted(top["revenue"], reverse=True)
    np.testing.assert_allclose(top["revenue"], top["gross_revenue"] - top["returned_value"], atol=1e-6)
    every = profile_workspace(shop.ws, top_n=10_000).top_products.set_index("product_id")
    assert every.loc[BIG, "revenue"] == 0.0 and every.loc[BIG, "units"] == 0
    assert every.loc[BIG, "gross_revenue"] == every.loc[BIG, "returned_value"] == 100_000.0
    # the leader's net revenue from its stored lines: sales minus the returns that follow a purchase of the same
    # customer (linked at ingest); a return with no earlier purchase reverses no sale in the data
    leader = top["product_id"].iloc[0]
    lines = pd.DataFrame(fetch_rows(shop.ws, f"SELECT customer_id, ordered_at, quantity * unit_price FROM transactions "
                                             f"WHERE product_id = '{leader}'"), columns=["customer_id", "at", "amount"])
    sales = lines[lines["amount"] > 0]
    first_sale = sales.groupby("customer_id")["at"].min()
    returns = lines[lines["amount"] < 0]
    linked = returns[returns["at"] >= returns["customer_id"].map(first_sale)]
    assert top["revenue"].iloc[0] == pytest.approx(sales["amount"].sum() + linked["amount"].sum())
    assert top["returned_value"].iloc[0] == pytest.approx(-linked["amount"].sum())
    # and the report lists the leader by name, never the cancelled order
    profile_part = shop.html[shop.html.index('id="data-profile"'):shop.html.index('id="segments"')]
    assert BIG_NAME not in profile_part
    assert str(escape(top["name"].iloc[0])) in profile_part


def test_the_profile_counts_customers_and_net_revenue_as_the_run_does(shop: Shop) -> None:
    profile = profile_workspace(shop.ws)
    overview = overview_of(shop)
    features = shop.run.read_table(out.FEATURES)
    assert profile.customers == overview.customers == len(features)  # the returns-only customer is in neither
    assert "CRETURNONLY" not in set(features["customer_id"])
    assert profile.returns_only_customers == 1 and profile.returns_only_value == pytest.approx(20.0)
    assert profile.revenue == pytest.approx(overview.net_revenue, abs=0.01)
    assert money(profile.revenue) == money(overview.net_revenue)


def test_the_overview_figures(shop: Shop) -> None:
    overview = overview_of(shop)
    features = shop.run.read_table(out.FEATURES)
    clv = shop.run.read_table(out.CLV)
    assert overview.customers == len(features)
    assert overview.net_revenue == pytest.approx(features["monetary_total"].sum())
    assert overview.total_clv == pytest.approx(clv["clv"].sum())
    assert overview.median_clv == pytest.approx(clv["clv"].median())
    assert overview.segments == len(shop.run.read_json(out.PROFILES))
    assert overview.clv_horizon_days == 365
    assert overview.clv_interval == 0.8
    assert clv["clv_lower"].notna().all()
    assert overview.clv_interval_available
    width = np.median(((clv["clv_upper"] - clv["clv_lower"]) / (2 * clv["clv"]))[clv["clv"] > 0])
    assert overview.clv_interval_typical_width == pytest.approx(width)
    assert f"±{width:.0%}" in overview.clv_interval_note


class _Noted:
    """A run whose CLV stage carries extra notes and, optionally, a CLV table without intervals."""

    def __init__(self, info: RunInfo, notes: list[str], *, drop_interval: bool = False) -> None:
        self._info, self._notes, self._drop = info, notes, drop_interval
        self.run_id, self.as_of = info.run_id, info.as_of

    def has(self, output):
        return self._info.has(output)

    def read_json(self, output):
        return self._info.read_json(output)

    def read_table(self, output, **kw):
        frame = self._info.read_table(output, **kw)
        if self._drop and str(output) == out.CLV.path:
            frame = frame.assign(clv_lower=np.nan, clv_upper=np.nan)
        return frame

    def stage(self, name):
        record = self._info.stage(name)
        if name == "clv" and record is not None:
            record = dataclasses.replace(record, notes=[*record.notes, *self._notes])
        return record


def test_interval_availability_comes_from_the_table_not_from_notes(shop: Shop) -> None:
    # the holdout check fits a second model; its covariance warning must not hide the CLV model's interval
    check = ("calibration check: BetaGeo: the observed information is not positive definite at the fitted "
             "parameters; covariance_ is NaN and CLV intervals are unavailable")
    noted = run_overview(RunData(_Noted(shop.run, [check]), product_names=dict))  # type: ignore[arg-type]
    assert noted.clv_interval_available and "±" in noted.clv_interval_note
    why = "no CLV intervals: BetaGeo has no usable covariance"
    missing = run_overview(RunData(_Noted(shop.run, [why], drop_interval=True), product_names=dict))  # type: ignore[arg-type]
    assert not missing.clv_interval_available
    assert missing.clv_interval_note == "No CLV range in this run: BetaGeo has no usable covariance."


def test_the_report_shows_the_overview_numbers_with_their_currency(shop: Shop) -> None:
    overview = overview_of(shop)
    html = shop.html
    glance = html[html.index('id="glance"'):html.index('id="data-profile"')]
    assert f"<b>{money(overview.net_revenue)}</b>net revenue" in glance
    assert f'title="{escape(NET_REVENUE_DEFINITION)}"' in glance
    assert f"<b>{count(overview.customers)}</b>customers" in glance
    assert f"<b>{money(overview.total_clv)}</b>" in glance and money(overview.total_clv).startswith("£")
    assert f"<b>{money(overview.median_clv)}</b>" in glance
    assert "±" in glance and "unavailable" not in glance
    # the run's numbers once: the profile section does not repeat its own customers / revenue KPIs
    profile_part = html[html.index('id="data-profile"'):html.index('id="segments"')]
    assert "net revenue</div>" not in profile_part
    assert "365 days" in html and "365 day " not in html


def test_the_report_reads_like_marketing(shop: Shop) -> None:
    html = shop.html
    for code in ("btyd_T", "ipi_std_days", "monetary_total", "log10", "beta_geo", "gamma_gamma", "{'r':", "silhouette "):
        assert code not in html, code
    appendix = html.index('id="appendix"')
    assert html.index("r (purchase rate shape)") > appendix  # parameters: a table, in the appendix
    assert "<td><span title=\"Shape of how purchase rates vary between customers.\">r (purchase rate shape)" in html
    for record in shop.run.stages().values():
        for note in record.notes:
            assert html.index(str(escape(note))) > appendix, note
    assert html.index('alt="predicted vs actual purchases after the cutoff"') > appendix
    # popular products by name (from the catalogue), in the recommendations section
    names = shop.ws.product_names()
    first = shop.run.read_table(out.POPULAR).sort_values("rank").iloc[0]["product_id"]
    recs = html[html.index('id="recommendations"'):html.index('id="uplift"')]
    assert f"<td>{escape(names[str(first)])}</td>" in recs
    assert "Bought together" in recs and "item_item" not in recs


def test_the_clv_histogram_has_a_money_axis() -> None:
    values = pd.Series(np.r_[0.0, 0.4, np.geomspace(5, 50_000, 400)])
    ax = clv_distribution_axes(values, Currency("EUR", "€"), horizon_days=365)
    ax.figure.canvas.draw()
    assert ax.get_xscale() == "log"
    ticks = [t.get_text() for t in ax.get_xticklabels() if t.get_text()]
    assert "€10" in ticks and "€1k" in ticks and "€10k" in ticks
    assert all(t.startswith("€") for t in ticks)
    assert "next 365 days" in ax.get_xlabel() and "2 customers under €1" in ax.get_xlabel()
    assert "log10" not in ax.get_xlabel()
    heights = [p.get_height() for p in ax.patches]
    assert sum(heights) == len(values)  # every customer is in a bar (values under the floor in the first)


def test_propensity_metrics_get_labels_and_formats() -> None:
    rows = _rows({"roc_auc": 0.91547, "brier": 0.1234, "top_decile_lift": 2.1048, "positive_rate": 0.475,
                  "rows": 261.0, "fallback": True}, ("roc_auc", "top_decile_lift", "positive_rate", "brier", "rows",
                                                      "ece"), Currency())
    assert [(r["label"], r["value"]) for r in rows] == [
        ("Ranking quality (AUC)", "0.92"), ("Lift in the top 10%", "2.1×"), ("Actual rate", "48%"),
        ("Probability error (Brier)", "0.12"), ("Customers tested", "261"),
    ]
    assert rows[0]["definition"].startswith("Chance that a random customer")


def test_a_report_without_a_run_still_renders(tmp_path: Path) -> None:
    ws = Workspace.init(tmp_path / "empty", Settings(workspace=tmp_path / "empty", currency_symbol="", currency_code="EUR"))
    html = render_report(ws, None)
    assert "No run yet" in html and "Amounts in EUR" in html and 'id="appendix"' not in html
