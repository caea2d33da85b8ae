"""Propensity drivers read like marketing: amounts in the workspace currency, channel shares in words."""

from __future__ import annotations

import json

import pytest

from targetwise.usecases.propensity import DRIVER_TEMPLATES, driver_templates


def test_money_drivers_carry_the_currency_and_channel_shares_have_words() -> None:
    templates = driver_templates(["recency_days", "channel_share_store", "channel_share_web_shop"], "£")
    assert templates["monetary_total"].format(value=622.4) == "spent £622 in total"
    assert templates["monetary_mean"].format(value=1234.0) == "spends £1,234 per order"
    assert templates["returns_value"].format(value=50) == "returned £50 in value"
    assert templates["channel_share_store"].format(value=0.05) == "5% of orders through store"
    assert templates["channel_share_web_shop"].format(value=0.5) == "50% of orders through web shop"
    assert templates["recency_days"] == DRIVER_TEMPLATES["recency_days"]
    assert driver_templates([], "")["monetary_total"].format(value=622.4) == "spent 622 in total"


@pytest.mark.slow
def test_the_pipeline_drivers_use_the_currency(synthetic_demo) -> None:
    from targetwise.io.runs import RunStore

    scores = RunStore(synthetic_demo).active().read_table("propensity/scores.parquet")
    texts = [d["text"] for cell in scores["drivers_purchase_30d"] for d in json.loads(cell)]
    money = [t for t in texts if t.startswith(("spent ", "spends ", "returned ", "repeat orders worth"))]
    assert texts and all("£" in t for t in money)
    # every driver is said in words: no code name (channel_share_store, ipi_std_days) reaches the marketer
    assert not [t for t in texts if "_" in t]


def test_every_feature_a_model_may_use_has_a_template() -> None:
    from targetwise.features import FEATURE_COLUMNS

    named = {c.name for c in FEATURE_COLUMNS} - {"customer_id", "top_category", "channel_share_<channel>"}
    assert named <= set(driver_templates(["channel_share_app"]))
