"""targetwise.presentation: labels, definitions, money, human numbers and plurals with known answers."""

from __future__ import annotations

import math

import pytest

from targetwise.config import Settings, get_settings
from targetwise.errors import ConfigError
from targetwise.features.columns import CHANNEL_SHARE_PREFIX, FEATURE_COLUMNS
from targetwise.presentation import (
    Currency,
    count,
    days,
    definition,
    format_value,
    human_number,
    label,
    money,
    parameter_label,
    percent,
    plural,
    term,
)


def test_every_feature_column_has_a_plain_label_and_a_definition() -> None:
    for column in FEATURE_COLUMNS:
        name = column.name.replace("<channel>", "web") if column.name.startswith(CHANNEL_SHARE_PREFIX) else column.name
        found = term(name)
        assert found.definition, f"{name} has no definition"
        assert found.label != name and "_" not in found.label, f"{name} has no plain label"


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("btyd_T", "Days since first purchase"),
        ("ipi_std_days", "Regularity of orders (days)"),
        ("recency_days", "Days since last order"),
        ("roc_auc", "Ranking quality (AUC)"),
        ("brier", "Probability error (Brier)"),
        ("pr_auc", "Precision-recall area"),
        ("ece", "Calibration error"),
        ("p_churn_90d", "Chance to lapse in 90 days"),
        ("p_purchase_60d", "Chance to buy in 60 days"),  # another horizon, same words
        ("channel_share_web", "Share of orders via web"),
        ("uplift_email_a", "Predicted uplift (email a)"),
        ("some_new_column", "Some new column"),  # unknown: readable, never the raw code name
    ],
)
def test_labels(name: str, expected: str) -> None:
    assert label(name) == expected


def test_definitions_are_one_line_sentences() -> None:
    assert definition("roc_auc").startswith("Chance that a random customer")
    assert "0.5 = guessing" in definition("roc_auc")
    assert definition("some_new_column") == ""
    for found in (term(n) for n in ("btyd_T", "brier", "ece", "clv", "silhouette")):
        assert "\n" not in found.definition and found.definition.endswith(".")


def test_model_parameters_are_per_model() -> None:
    assert parameter_label("beta_geo", "r").label == "r (purchase rate shape)"
    assert parameter_label("BetaGeo", "b").definition.endswith("a / (a + b).")
    assert parameter_label("gamma_gamma", "q").label == "q (spend spread shape)"
    assert parameter_label("ParetoNBD", "s").label == "s (lifetime shape)"
    assert parameter_label("beta_geo", "zeta").label == "zeta"  # unknown parameter: its own name


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (8_264_925.08, "8.3M"),
        (8_644_631, "8.6M"),
        (86_446_310, "86M"),
        (1_234, "1.2k"),
        (12_345, "12k"),
        (999_400, "999k"),
        (999_950, "1M"),  # not "1000k"
        (2_500_000_000, "2.5B"),
        (365, "365"),
        (0.3217, "0.32"),
        (3.14159, "3.14"),
        (42.25, "42.2"),
        (0.00123, "0.0012"),
        (-1_500, "-1.5k"),
        (0, "0"),
        (float("nan"), "–"),
        (None, "–"),
    ],
)
def test_human_numbers(value: float | None, expected: str) -> None:
    assert human_number(value) == expected


def test_money_carries_the_currency() -> None:
    gbp = Currency()
    assert (gbp.code, gbp.symbol) == ("GBP", "£")
    assert money(8_268_848.06) == "£8,268,848"
    assert money(8_268_848.06, gbp, compact=True) == "£8.3M"
    assert money(-12.5, gbp, decimals=2) == "-£12.50"
    assert money(12.5, Currency("USD", "$"), decimals=2) == "$12.50"
    assert money(1234, Currency("EUR", "")) == "1,234 EUR"  # no symbol: the code after the amount
    assert money(math.inf) == "–"
    assert gbp.format(950, compact=True) == "£950"


def test_currency_from_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Currency.from_settings(Settings()) == Currency("GBP", "£")
    monkeypatch.setenv("TARGETWISE_CURRENCY_CODE", "EUR")
    monkeypatch.setenv("TARGETWISE_CURRENCY_SYMBOL", "€")
    settings = get_settings()
    assert Currency.from_settings(settings) == Currency("EUR", "€")
    assert money(2_000, Currency.from_settings(settings)) == "€2,000"
    monkeypatch.setenv("TARGETWISE_CURRENCY_CODE", "euro")
    with pytest.raises(ConfigError, match="currency_code"):
        get_settings()


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ((1, "order"), "1 order"),
        ((2, "order"), "2 orders"),
        ((0, "order"), "0 orders"),
        ((365, "day"), "365 days"),
        ((1.0, "day"), "1 day"),
        ((2.5, "day"), "2.5 days"),
        ((4_334, "customer"), "4,334 customers"),
        ((3, "category"), "3 categories"),
        ((2, "box"), "2 boxes"),
        ((2, "person"), "2 people"),
        ((2, "datum", "data"), "2 data"),
    ],
)
def test_plurals(args: tuple, expected: str) -> None:
    assert plural(*args) == expected


def test_days_counts_and_percentages() -> None:
    assert days(1) == "1 day"
    assert days(13.4) == "13 days"
    assert days(2.5) == "2.5 days"
    assert days(None) == "–"
    assert count(4_334.0) == "4,334"
    assert percent(0.32) == "32%"
    assert percent(0.001) == "<1%"  # a tiny share is not "0%"
    assert percent(0.0) == "0%"
    assert percent(0.0512, digits=1) == "5.1%"


def test_values_are_formatted_by_what_they_measure() -> None:
    eur = Currency("EUR", "€")
    assert format_value("monetary_total", 1234.5, eur) == "€1,234"
    assert format_value("clv", 10.0) == "£10"
    assert format_value("recency_days", 1.0) == "1 day"
    assert format_value("tenure_days", 365.2) == "365 days"
    assert format_value("frequency", 3) == "3"
    assert format_value("p_churn_90d", 0.257) == "26%"
    assert format_value("roc_auc", 0.91547) == "0.92"
    assert format_value("top_decile_lift", 2.1048) == "2.1×"
    assert format_value("cluster_name", "Champions") == "Champions"
    assert format_value("monetary_total", float("nan")) == "–"
