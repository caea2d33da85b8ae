"""The synthetic retailer's offer catalogue and offer log, drawn from the planted offer preferences.

One offer per kind of :data:`~targetwise._synthetic_engage.OFFER_KINDS` (:data:`OFFERS`), all shown on
the web shop, live from the start of the log with no end and no eligibility condition, so every offer is
eligible at every logged decision and the logging propensities below are exact.

The log covers the last :data:`LOG_DAYS` days before the observation end. Each customer who had signed
up by then gets Poisson(:data:`DECISIONS_PER_CUSTOMER`) decisions at uniform times after the later of
their signup and the log's start. The shop's logging policy is a house rule with a uniform-random
holdout: a decision is a holdout with probability :data:`HOLDOUT_SHARE` (each offer 1/4, ``holdout``
true); otherwise the house offer (``OF-PCT10``) is given with probability 0.55 and each other offer with
0.15. ``propensity`` is the probability of the given offer under the branch that decided it.

The reward is a conversion, Bernoulli with the planted mean

    mu(customer, offer) = BASE_RATE + AFFINITY_RATE x offer_affinity_<kind>(customer)

(the affinities sum to 1 per customer), observed a few days after the decision; decisions in the last
:data:`PENDING_DAYS` days have no reward yet. Drawn from its own generator (spawned from the retailer's
seed), so every other table is the same with or without the offers.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from targetwise._dtypes import STRING_DTYPE
from targetwise._synthetic_engage import OFFER_KINDS, _draw
from targetwise._synthetic_tables import _text, _timestamps

__all__ = ["AFFINITY_RATE", "BASE_RATE", "OFFERS", "generate_offer_log", "offer_catalogue_frame", "offer_frames",
           "planted_offer_mu"]

#: offer id, name, kind, cost of one redemption, value of one conversion (currency units)
OFFERS = (
    ("OF-PCT10", "10% off the next order", "percent_discount", 3.0, 12.0),
    ("OF-FREESHIP", "Free delivery", "free_shipping", 4.0, 12.0),
    ("OF-BUNDLE", "Three for two on a bundle", "bundle", 5.0, 15.0),
    ("OF-POINTS", "Double loyalty points", "loyalty_points", 1.5, 10.0),
)
BASE_RATE, AFFINITY_RATE = 0.03, 0.35
LOG_DAYS, PENDING_DAYS = 180, 5
DECISIONS_PER_CUSTOMER = 4.0
HOLDOUT_SHARE = 0.1
HOUSE_PROBABILITIES = np.array([0.55, 0.15, 0.15, 0.15])

assert tuple(kind for _, _, kind, _, _ in OFFERS) == OFFER_KINDS  # one offer per planted kind, same order


def planted_offer_mu(affinity: np.ndarray) -> np.ndarray:
    """The planted conversion probability (customers, offers) from the offer affinities (customers, kinds)."""
    return BASE_RATE + AFFINITY_RATE * np.asarray(affinity, dtype=float)


def offer_catalogue_frame(start: pd.Timestamp) -> pd.DataFrame:
    """The ``offers`` table: :data:`OFFERS`, all on the web, live from ``start``."""
    return pd.DataFrame({
        "offer_id": pd.array([o[0] for o in OFFERS], dtype=STRING_DTYPE),
        "name": pd.array([o[1] for o in OFFERS], dtype=STRING_DTYPE),
        "channel": pd.array(["web"] * len(OFFERS), dtype=STRING_DTYPE),
        "cost": [o[3] for o in OFFERS],
        "value": [o[4] for o in OFFERS],
        "eligibility": pd.array([None] * len(OFFERS), dtype=STRING_DTYPE),  # everyone
        "starts_at": pd.Series([start] * len(OFFERS), dtype="datetime64[us]"),
        "ends_at": pd.Series([pd.NaT] * len(OFFERS), dtype="datetime64[us]"),
    })


def generate_offer_log(
    rng: np.random.Generator, affinity: np.ndarray, *, signup: np.ndarray, horizon: float,
) -> dict[str, Any]:
    """Decisions as arrays (customer index, offer index, decided/observed times in days since the start,
    propensity, holdout, reward (NaN: not observed yet)), sorted by time, and the log's first day."""
    first_day = max(horizon - LOG_DAYS, 0.0)
    begin = np.maximum(signup, first_day)
    span = np.maximum(horizon - begin, 0.0)
    n = rng.poisson(DECISIONS_PER_CUSTOMER, signup.size) * (span > 1.0)
    cust = np.repeat(np.arange(signup.size), n)
    decided = begin[cust] + rng.random(cust.size) * span[cust]
    decided = np.minimum(np.floor(decided * 86400.0) / 86400.0, horizon - 1e-6)
    holdout = rng.random(cust.size) < HOLDOUT_SHARE
    k = len(OFFERS)
    uniform = rng.integers(0, k, cust.size)
    house = _draw(rng, np.tile(HOUSE_PROBABILITIES, (cust.size, 1)))
    offer = np.where(holdout, uniform, house)
    propensity = np.where(holdout, 1.0 / k, HOUSE_PROBABILITIES[offer])
    mu = planted_offer_mu(affinity)[cust, offer]
    converted = (rng.random(cust.size) < mu).astype(float)
    delay = rng.uniform(0.5, 4.0, cust.size)
    observed = np.floor((decided + delay) * 86400.0) / 86400.0
    pending = decided >= horizon - PENDING_DAYS
    order = np.lexsort((cust, decided))
    return {
        "customer": cust[order], "offer": offer[order], "decided": decided[order],
        "observed": np.where(pending, np.nan, observed)[order], "propensity": propensity[order],
        "holdout": holdout[order], "reward": np.where(pending, np.nan, converted)[order], "first_day": first_day,
    }


def offer_frames(
    rng: np.random.Generator, affinity: np.ndarray, *, t0: pd.Timestamp, signup: np.ndarray, horizon: float,
    cust_ids: np.ndarray,
) -> dict[str, pd.DataFrame]:
    """The ``offers`` and ``offer_decisions`` tables (timestamps naive, like every synthetic timestamp)."""
    log = generate_offer_log(rng, affinity, signup=signup, horizon=horizon)
    offer_ids = np.array([o[0] for o in OFFERS], dtype=object)
    pending = np.isnan(log["reward"])
    decisions = pd.DataFrame({
        "customer_id": _text(np.asarray(cust_ids, dtype=object)[log["customer"]]),
        "offer_id": _text(offer_ids[log["offer"]]),
        "decided_at": _timestamps(t0, log["decided"]),
        "propensity": log["propensity"],
        "reward": log["reward"],
        "reward_kind": pd.array(np.where(pending, None, "conversion"), dtype=STRING_DTYPE),
        "observed_at": _timestamps(t0, log["observed"]),
        "holdout": log["holdout"].astype(bool),
    })
    start = _timestamps(t0, np.array([np.floor(log["first_day"])]))[0]
    return {"offers": offer_catalogue_frame(start), "offer_decisions": decisions}
