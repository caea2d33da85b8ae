"""A seeded synthetic retailer with planted ground truth.

:func:`generate_retailer` returns every canonical table (see :mod:`targetwise.schema`)
plus the truth that produced them, so tests and demos can check that models recover
what was planted:

* **Customer types** (:data:`CUSTOMER_TYPES`) with clearly distinct behaviour on
  recency, frequency, monetary value, tenure, basket size and returns.
* **Purchase timing** from the BG/NBD process (Fader, Hardie & Lee 2005): the first
  purchase happens at sign-up; while alive a customer buys as a Poisson process with
  rate ``lambda ~ Gamma(r, alpha)`` (per day, ``alpha`` a rate); after every repeat
  purchase they drop out for good with probability ``p ~ Beta(a, b)`` (as in BG/NBD,
  never right after the first purchase).
* **Product affinities**: each type prefers two or three categories and has its own
  price sensitivity; each customer's category mix is a Dirichlet draw around it.
* **A past randomized e-mail campaign** (50/50 split of consenting customers, about
  two months before ``end``) whose effect on 14-day conversion differs by type and is
  negative for one type ("sleeping dogs").

Everything is vectorised (one loop per type or category at most), so a million order
lines take seconds. Same arguments and ``random_state`` give identical frames.

Example
-------
>>> retailer = generate_retailer(500, random_state=1)
>>> sorted(retailer.truth["customer_type"].unique())[:2]
['bargain_hunter', 'lapsed']
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from targetwise.errors import ConfigError
from targetwise.schema import CONSENT_PURPOSES, TABLES

__all__ = [
    "CATEGORIES",
    "CUSTOMER_TYPES",
    "PANDAS_DTYPES",
    "SyntheticRetailer",
    "bgnbd_expected_repeat_purchases",
    "generate_retailer",
]

#: pandas dtype for each schema column kind (pandas 3: "str" is the NaN-backed string dtype).
PANDAS_DTYPES: dict[str, str] = {
    "id": "str",
    "string": "str",
    "json": "str",
    "timestamp": "datetime64[us]",
    "integer": "int64",
    "number": "float64",
    "boolean": "bool",
}

# --- product catalogue vocabulary -------------------------------------------------
# category -> (base price, nouns, materials, selling phrases). Words are category
# specific so that TF-IDF similarity of names/descriptions follows the category.
# fmt: off
CATEGORIES: dict[str, tuple[float, tuple[str, ...], tuple[str, ...], tuple[str, ...]]] = {
    "kitchen": (
        7.5,
        ("mug", "teapot", "mixing bowl", "cake tin", "spatula", "apron", "chopping board", "tea towel",
         "storage jar"),
        ("ceramic", "enamel", "bamboo", "stoneware", "cotton"),
        ("Dishwasher safe and made for everyday baking and cooking.",
         "A kitchen essential for tea, coffee and weekend bakes.",
         "Food safe glaze; lovely on an open kitchen shelf."),
    ),
    "home_decor": (
        14.0,
        ("cushion cover", "candle holder", "photo frame", "vase", "wall clock", "lantern", "mirror", "throw"),
        ("velvet", "brass", "linen", "rattan", "glass"),
        ("Brings warmth to a living room, bedroom or hallway.",
         "A decorative accent for the mantelpiece or sideboard.",
         "Pairs well with soft lighting and natural interiors."),
    ),
    "garden": (
        11.0,
        ("planter", "watering can", "bird feeder", "trowel", "seed tin", "hanging basket", "garden kneeler"),
        ("zinc", "terracotta", "galvanised steel", "wicker", "weatherproof wood"),
        ("Weatherproof for the patio, balcony or allotment.",
         "For keen gardeners: sow, grow and water through the seasons.",
         "Attracts garden birds and survives frost and rain."),
    ),
    "toys": (
        9.0,
        ("jigsaw puzzle", "spinning top", "skipping rope", "rag doll", "building blocks", "kite", "toy car"),
        ("wooden", "tin", "plush", "felt"),
        ("Hours of play for children aged three and up.",
         "A classic toy for playtime in the nursery or garden.",
         "Safety tested; a favourite party bag and birthday toy."),
    ),
    "stationery": (
        3.5,
        ("notebook", "pencil case", "greeting card", "wrapping paper", "gift tag", "diary", "postcard set"),
        ("kraft paper", "recycled card", "letterpress", "leather-bound"),
        ("Write, sketch and plan: lined pages with a sturdy cover.",
         "For letters, lists and thank-you notes at the desk.",
         "Printed on FSC paper; envelopes included."),
    ),
    "gifts": (
        24.0,
        ("keepsake box", "jewellery dish", "hip flask", "photo album", "music box", "gift hamper"),
        ("silver-plated", "porcelain", "engraved leather", "mother-of-pearl"),
        ("Arrives gift wrapped: a memorable present for birthdays and anniversaries.",
         "A thoughtful keepsake for weddings, christenings and Christmas.",
         "Personalise it for someone special."),
    ),
    "lighting": (
        18.0,
        ("fairy lights", "LED lantern", "night light", "table lamp", "string lights"),
        ("battery powered", "USB rechargeable", "solar", "warm white"),
        ("Bulbs last 10,000 hours; a soft glow for evenings.",
         "Timer function and low energy LEDs.",
         "Indoor and outdoor lighting for festive and cosy nights."),
    ),
    "accessories": (
        13.0,
        ("scarf", "tote bag", "purse", "umbrella", "hair clip", "gloves"),
        ("wool", "canvas", "silk", "faux leather"),
        ("A wardrobe staple to wear every day of the week.",
         "Lightweight fashion accessory that folds into a handbag.",
         "Soft to the touch; hand wash cold."),
    ),
}
# fmt: on
_COLOURS = ("red", "blue", "pink", "green", "ivory", "black", "mustard", "sage")
_STYLES = ("vintage", "retro", "floral", "polka dot", "scandi", "rustic", "regency", "botanical")


@dataclass(frozen=True)
class _Type:
    share: float
    r: float  # Gamma shape of lambda
    alpha: float  # Gamma rate of lambda (days): mean lambda = r / alpha purchases/day
    a: float  # Beta(a, b) of the dropout probability p
    b: float
    signup: tuple[float, float]  # sign-up window as fractions of the observation window
    basket_extra_lines: float  # lines per order = 1 + Poisson(this)
    extra_units: float  # mean of the customer's extra units per line (Gamma across customers)
    price_sensitivity: float  # product weight *= price ** -this
    return_prob: float  # probability a purchased line is returned
    affinity: dict[str, float]  # category preference (unnormalised)
    channels: tuple[float, float, float]  # web, app, store
    campaign_uplift: float  # effect of the e-mail on 14-day conversion probability


_BASE_AFFINITY = 0.5
#: The planted customer types. ``signup`` of 'new_customer' is overridden to the last 75 days.
# fmt: off
#   share, r, alpha, a, b, signup window, extra lines, extra units, price sensitivity, return prob,
#   category affinity, channel mix (web, app, store), campaign uplift
CUSTOMER_TYPES: dict[str, _Type] = {
    "loyal_high_spender": _Type(0.15, 8.0, 80.0, 2.0, 398.0, (0.0, 0.5), 7.0, 2.0, 0.0, 0.02,
                                {"home_decor": 6, "kitchen": 5, "lighting": 4}, (0.5, 0.3, 0.2), -0.04),
    "bargain_hunter": _Type(0.25, 8.0, 100.0, 2.0, 598.0, (0.0, 0.7), 1.0, 0.3, 2.0, 0.20,
                            {"stationery": 6, "kitchen": 4, "accessories": 4}, (0.6, 0.35, 0.05), 0.08),
    "occasional_gifter": _Type(0.25, 8.0, 480.0, 2.0, 398.0, (0.0, 0.6), 1.5, 0.3, -0.5, 0.03,
                               {"gifts": 6, "toys": 4, "lighting": 3}, (0.4, 0.1, 0.5), 0.03),
    "new_customer": _Type(0.15, 8.0, 200.0, 2.0, 40.0, (0.0, 0.0), 3.0, 1.0, 0.5, 0.05,
                          {"accessories": 5, "home_decor": 4, "garden": 3}, (0.5, 0.4, 0.1), 0.05),
    "lapsed": _Type(0.20, 8.0, 240.0, 16.0, 4.0, (0.0, 0.3), 2.0, 0.5, 0.5, 0.05,
                    {"garden": 6, "toys": 4, "kitchen": 3}, (0.3, 0.1, 0.6), 0.0),
}
# fmt: on
_NEW_CUSTOMER_DAYS = 75.0
_CAMPAIGN_DAYS_BEFORE_END = 60
_CAMPAIGN_WINDOW_DAYS = 14
# fmt: off
_CHANNELS = np.array(["web", "app", "store"], dtype=object)
# (country, E.164 mobile prefix, national digits after the prefix, share)
_COUNTRIES = (("United Kingdom", "+447", 9, 0.7), ("Germany", "+4915", 9, 0.1), ("France", "+336", 8, 0.1),
              ("Netherlands", "+316", 8, 0.05), ("Ireland", "+35387", 7, 0.05))
_FIRST = ("Olivia", "Amelia", "Isla", "Ava", "Mia", "Sophie", "Grace", "Lily", "Emma", "Chloe", "Hannah",
          "Lea", "Oliver", "George", "Harry", "Noah", "Jack", "Leo", "Arthur", "Thomas", "James", "Lukas",
          "Louis", "Finn")
_LAST = ("Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Johnson", "Davies", "Patel", "Wright",
         "Walker", "Evans", "Murphy", "Kelly", "Muller", "Schmidt", "Martin", "Bernard", "de Vries", "Jansen",
         "Byrne", "Hughes")
_DOMAINS = ("example.com", "example.org", "example.net", "mail.example")
# fmt: on
_DISCOUNT_SHARE, _DISCOUNT = 0.10, 0.20  # 10% of lines sold at 20% off
_ANON_SHARE = 0.005
_POSTAGE_SHARE, _POSTAGE_PRICE = 0.03, 4.95


@dataclass(frozen=True)
class SyntheticRetailer:
    """Canonical tables of a synthetic shop, the per-customer truth and the parameters used."""

    transactions: pd.DataFrame
    customers: pd.DataFrame
    customer_pii: pd.DataFrame
    products: pd.DataFrame
    campaigns: pd.DataFrame
    campaign_exposures: pd.DataFrame
    responses: pd.DataFrame
    consent: pd.DataFrame
    truth: pd.DataFrame
    params: dict[str, Any]

    def tables(self) -> dict[str, pd.DataFrame]:
        """The canonical (ingestible) tables by name, ready for ingest."""
        return {
            name: getattr(self, name)
            for name in (
                "transactions",
                "customers",
                "customer_pii",
                "products",
                "campaigns",
                "campaign_exposures",
                "responses",
                "consent",
            )
        }


def bgnbd_expected_repeat_purchases(
    t: np.ndarray | float, *, r: float, alpha: float, a: float, b: float
) -> np.ndarray:
    """E[X(t)]: expected repeat purchases in (0, t] after the first, under BG/NBD (FHL 2005, eq. 9).

    ``t`` and ``alpha`` share one time unit (days here). Needs ``a != 1``. Uses the
    Gaussian hypergeometric closed form, with numerical integration where it is not finite.
    """
    from scipy.special import hyp2f1

    t = np.asarray(t, dtype=float)
    z = t / (alpha + t)
    c = a + b - 1
    if a - 1 > r:  # the plain series converges at z -> 1
        tail = (alpha / (alpha + t)) ** r * hyp2f1(r, b, c, z)
    else:  # Euler's transformation keeps it finite when b is large (plain form gives inf * 0)
        tail = (alpha / (alpha + t)) ** (a - 1) * hyp2f1(c - r, a - 1, c, z)
    expected = np.asarray(c / (a - 1) * (1 - tail))
    bad = ~np.isfinite(expected)
    if bad.any():
        # scipy's hyp2f1 returns nan for some large parameters near z = 1; integrate over
        # p ~ Beta(a, b) instead, using E[exp(-lambda p t)] = (alpha / (alpha + p t)) ** r
        from scipy import stats

        # Gauss-Legendre over the Beta quantile u: E_p[g(p)] = int_0^1 g(F^-1(u)) du
        nodes, weights = np.polynomial.legendre.leggauss(256)
        q = stats.beta(a, b).ppf((nodes + 1) / 2)[:, None]
        tb = np.broadcast_to(t, expected.shape)[bad][None, :]
        expected[bad] = (weights[:, None] / 2 * (1 - (alpha / (alpha + q * tb)) ** r) / q).sum(axis=0)
    return expected


def generate_retailer(
    n_customers: int = 2000,
    *,
    start: str = "2022-01-01",
    end: str = "2023-12-31",
    n_products: int = 300,
    random_state: int | np.random.Generator | None = 0,
    campaign: bool = True,
    pii: bool = True,
) -> SyntheticRetailer:
    """Generate a synthetic retailer with planted ground truth.

    Every timestamp lies in ``[start, end]`` (``end`` at 00:00 is the observation end).
    Transactions carry returns ('C' + the returned order's id, negative quantity, 1-30 days
    after the purchase), ~0.5% anonymous lines (customer_id missing) and postage lines
    (product_id 'POST'). Campaign conversions are recorded in ``responses`` only, so the
    transactions follow the BG/NBD process exactly. ``truth.mean_spend`` is the expected
    gross product value of one order (before returns, postage excluded), in currency units.
    """
    if not isinstance(n_customers, (int, np.integer)) or n_customers < 20:
        raise ConfigError(
            f"n_customers must be an integer >= 20, got {n_customers!r}",
            fix="ask for at least 20 customers so every customer type is present",
        )
    if not isinstance(n_products, (int, np.integer)) or n_products < 2 * len(CATEGORIES):
        raise ConfigError(
            f"n_products must be an integer >= {2 * len(CATEGORIES)}, got {n_products!r}",
            fix=f"ask for at least two products per category ({len(CATEGORIES)} categories)",
        )
    try:
        t0, t1 = pd.Timestamp(start), pd.Timestamp(end)
    except (ValueError, TypeError) as exc:
        raise ConfigError(
            f"start/end must be dates, got {start!r} and {end!r}", fix="use ISO dates like 2022-01-01"
        ) from exc
    if t0.tz is not None or t1.tz is not None:
        raise ConfigError("start/end must be naive UTC dates", fix="drop the time zone, e.g. '2022-01-01'")
    horizon = (t1 - t0) / pd.Timedelta(days=1)
    if horizon < 365:
        raise ConfigError(
            f"the window from {start} to {end} is {horizon:.0f} days; at least 365 are needed",
            fix="choose start and end at least a year apart",
        )
    rng = np.random.default_rng(random_state)
    type_names = list(CUSTOMER_TYPES)
    types = [CUSTOMER_TYPES[n] for n in type_names]

    products, cat_of_product, price = _products(rng, n_products)
    cat_names = list(CATEGORIES)
    n_cat = len(cat_names)

    # ---- customers and their latent parameters -------------------------------------------
    shares = np.array([t.share for t in types])
    counts = np.floor(shares * n_customers).astype(int)
    counts[np.argmax(shares)] += n_customers - counts.sum()
    ctype = rng.permutation(np.repeat(np.arange(len(types)), counts))
    lam = np.empty(n_customers)
    p = np.empty(n_customers)
    signup = np.empty(n_customers)  # days since start
    extra_units = np.empty(n_customers)
    for k, spec in enumerate(types):
        idx = np.flatnonzero(ctype == k)
        lam[idx] = rng.gamma(spec.r, 1.0 / spec.alpha, idx.size)
        p[idx] = rng.beta(spec.a, spec.b, idx.size)
        if type_names[k] == "new_customer":
            lo, hi = horizon - _NEW_CUSTOMER_DAYS, horizon - 1.0
        else:
            lo, hi = spec.signup[0] * horizon, spec.signup[1] * horizon
        signup[idx] = rng.uniform(lo, hi, idx.size)
        extra_units[idx] = rng.gamma(4.0, spec.extra_units / 4.0, idx.size)
    type_affinity = np.array([[t.affinity.get(c, 0.0) + _BASE_AFFINITY for c in cat_names] for t in types])
    type_affinity /= type_affinity.sum(axis=1, keepdims=True)
    cust_affinity = _dirichlet_rows(rng, 40.0 * type_affinity[ctype])

    # ---- BG/NBD purchase times (vectorised via order statistics of uniforms) -------------
    signup = np.floor(signup * 86400.0) / 86400.0  # whole seconds, like every timestamp here
    first = signup + rng.uniform(1.0 / 86400.0, 2.0 / 24.0, n_customers)  # first order 1 s to 2 h later
    order_cust, order_t, dropout_days = _bgnbd_orders(rng, lam, p, first, horizon)

    # ---- anonymous orders, order ids in time order ----------------------------------------
    expected_lines = (1 + np.array([t.basket_extra_lines for t in types]))[ctype[order_cust]].sum()
    n_anon_orders = round(expected_lines * _ANON_SHARE / (1 - _ANON_SHARE) / 2.0)
    order_cust = np.concatenate([order_cust, np.full(n_anon_orders, -1)])
    order_t = np.concatenate([order_t, rng.uniform(0.0, horizon, n_anon_orders)])
    order_t = np.minimum(np.floor(order_t * 86400.0) / 86400.0, horizon)  # whole seconds
    perm = np.lexsort((order_cust, order_t))
    order_cust, order_t = order_cust[perm], order_t[perm]
    n_orders = order_cust.size
    anon = order_cust < 0
    order_type = np.where(anon, -1, ctype[np.maximum(order_cust, 0)])
    width = max(7, len(str(n_orders)))
    order_ids = np.strings.add(
        "O", np.strings.zfill(np.arange(1, n_orders + 1).astype(np.dtypes.StringDType()), width)
    )
    basket = np.array([t.basket_extra_lines for t in types] + [1.0])[order_type]
    lines_per_order = 1 + rng.poisson(basket)
    chan_p = np.array([t.channels for t in types] + [(0.0, 0.0, 1.0)])  # anonymous orders: in store
    order_channel = _draw_rows(rng, chan_p, np.where(order_type < 0, len(types), order_type))

    # ---- lines: category from the customer's mix, product by type within category --------
    line_order = np.repeat(np.arange(n_orders), lines_per_order)
    line_cust = order_cust[line_order]
    line_type = order_type[line_order]
    line_owner = np.where(line_cust < 0, n_customers, line_cust)  # anonymous lines -> extra last row
    line_cat = _draw_rows(rng, np.vstack([cust_affinity, np.full((1, n_cat), 1.0 / n_cat)]), line_owner)
    line_product = np.empty(line_order.size, dtype=np.int64)
    popularity = products["_popularity"].to_numpy()
    within = np.zeros((len(types) + 1, n_cat))  # expected unit price by type and category
    group = np.where(line_type < 0, len(types), line_type) * n_cat + line_cat  # anonymous = last "type"
    by_group = np.argsort(group, kind="stable")
    bounds = np.concatenate([[0], np.cumsum(np.bincount(group, minlength=(len(types) + 1) * n_cat))])
    for k in range(len(types) + 1):
        sens = types[k].price_sensitivity if k < len(types) else 0.0
        for c in range(n_cat):
            members = np.flatnonzero(cat_of_product == c)
            weight = popularity[members] * price[members] ** -sens
            weight /= weight.sum()
            within[k, c] = (weight * price[members]).sum() * (1 - _DISCOUNT_SHARE * _DISCOUNT)
            sel = by_group[bounds[k * n_cat + c] : bounds[k * n_cat + c + 1]]
            line_product[sel] = rng.choice(members, size=sel.size, p=weight)
    cust_units = np.append(extra_units, 0.5)[line_owner]
    quantity = 1 + rng.poisson(cust_units)
    unit_price = np.round(
        price[line_product] * np.where(rng.random(line_order.size) < _DISCOUNT_SHARE, 1 - _DISCOUNT, 1.0), 2
    )
    # one line per (order, product): a product drawn twice in an order adds to its quantity at the
    # first draw's price (independent of the quantities, so expected order values are unchanged);
    # real baskets have no repeated product lines, and an ingest would quarantine exact duplicates
    by_line = np.lexsort((line_product, line_order))  # stable: the first drawn line leads
    key = np.stack([line_order[by_line], line_product[by_line]])
    starts = np.flatnonzero(np.concatenate([[True], (np.diff(key, axis=1) != 0).any(axis=0)]))
    quantity = np.add.reduceat(quantity[by_line], starts)
    keep = by_line[starts]
    line_order, line_product, unit_price, line_type = (
        line_order[keep],
        line_product[keep],
        unit_price[keep],
        line_type[keep],
    )

    # ---- returns: whole returned lines, one 'C' order per returned order -------------------
    return_delay = 1.0 + np.minimum(rng.exponential(6.0, n_orders), 29.0)
    return_ok = (order_t + return_delay <= horizon) & ~anon
    ret_p = np.array([t.return_prob for t in types] + [0.0])[line_type]
    returned = (rng.random(line_order.size) < ret_p) & return_ok[line_order]
    ret_order = line_order[returned]
    post = (rng.random(n_orders) < _POSTAGE_SHARE) & (order_channel != 2)
    post_order = np.flatnonzero(post)

    cust_ids = _ids("C", n_customers, 6)
    ts = functools.partial(_timestamps, t0)
    # assemble with integer codes, sort, then map codes to strings with one Arrow take per column
    ret_unique, ret_code = np.unique(ret_order, return_inverse=True)
    tx_order = np.concatenate([line_order, post_order, ret_order])
    tx_t = np.concatenate([order_t[line_order], order_t[post_order], (order_t + return_delay)[ret_order]])
    kind = np.concatenate([np.zeros(line_order.size), np.ones(post_order.size), np.full(ret_order.size, 2)])
    perm = np.lexsort((kind, tx_order, tx_t))
    order_code = np.concatenate([line_order, post_order, n_orders + ret_code])[perm]
    product_code = np.concatenate(
        [line_product, np.full(post_order.size, n_products), line_product[returned]]
    )[perm]
    owner_code = np.where(anon, n_customers, order_cust)[tx_order[perm]]
    transactions = pd.DataFrame(
        {
            "customer_id": _text(np.append(cust_ids, None)).take(owner_code),
            "order_id": _text(np.concatenate([order_ids, "C" + order_ids[ret_unique]])).take(order_code),
            "ordered_at": ts(tx_t[perm]),
            "product_id": _text(np.append(products["product_id"].to_numpy(dtype=object), "POST")).take(
                product_code
            ),
            "quantity": np.concatenate(
                [quantity, np.ones(post_order.size, dtype=np.int64), -quantity[returned]]
            ).astype("int64")[perm],
            "unit_price": np.concatenate(
                [unit_price, np.full(post_order.size, _POSTAGE_PRICE), unit_price[returned]]
            )[perm],
            "channel": _text(_CHANNELS).take(order_channel[tx_order[perm]]),
        }
    )

    # ---- truth ------------------------------------------------------------------------------
    mean_spend = (
        (1 + np.array([t.basket_extra_lines for t in types])[ctype])
        * (1 + extra_units)
        * (cust_affinity * within[ctype]).sum(axis=1)
    )
    top = np.argsort(-cust_affinity, axis=1)[:, :2]
    favourite = np.array(cat_names, dtype=object)[top]
    truth = pd.DataFrame(
        {
            "customer_id": _text(cust_ids),
            "customer_type": _text(np.array(type_names, dtype=object)[ctype]),
            "lambda": lam,
            "p_dropout": p,
            "dropout_at": ts(dropout_days),
            "mean_spend": mean_spend,
            "true_uplift": np.nan,
            "baseline_conversion_prob": np.nan,
            "favourite_categories": _text(favourite[:, 0] + "|" + favourite[:, 1]),
        }
    )
    customers, pii_frame, consent, email_ok_at = _customers(rng, cust_ids, signup, horizon, ts, pii=pii)

    params: dict[str, Any] = {
        "start": t0,
        "end": t1,
        "random_state": random_state,
        "types": {
            n: {
                "share": t.share,
                "r": t.r,
                "alpha": t.alpha,
                "a": t.a,
                "b": t.b,
                "mean_lambda_per_day": t.r / t.alpha,
                "mean_p_dropout": t.a / (t.a + t.b),
                "signup_window_days": (
                    (horizon - _NEW_CUSTOMER_DAYS, horizon - 1.0)
                    if n == "new_customer"
                    else (t.signup[0] * horizon, t.signup[1] * horizon)
                ),
                "mean_product_draws_per_order": 1 + t.basket_extra_lines,  # before merging repeats
                "mean_extra_units": t.extra_units,
                "price_sensitivity": t.price_sensitivity,
                "return_prob": t.return_prob,
                "category_affinity": dict(zip(cat_names, type_affinity[k].round(4).tolist(), strict=True)),
                "channels": dict(zip(_CHANNELS.tolist(), t.channels, strict=True)),
                "campaign_uplift": t.campaign_uplift,
            }
            for k, (n, t) in enumerate(zip(type_names, types, strict=True))
        },
        "anonymous_line_share": _ANON_SHARE,
        "postage_order_share": _POSTAGE_SHARE,
        "discount": {"share": _DISCOUNT_SHARE, "rate": _DISCOUNT},
    }
    campaign_frames = _campaign(
        rng,
        enabled=campaign,
        horizon=horizon,
        ts=ts,
        cust_ids=cust_ids,
        ctype=ctype,
        types=types,
        signup=signup,
        email_ok_at=email_ok_at,
        order_cust=order_cust,
        order_t=order_t,
        mean_spend=mean_spend,
        truth=truth,
        params=params,
    )
    return SyntheticRetailer(
        transactions=transactions,
        customers=customers,
        customer_pii=pii_frame,
        products=products.drop(columns="_popularity"),
        truth=truth,
        params=params,
        consent=consent,
        **campaign_frames,
    )


def _bgnbd_orders(
    rng: np.random.Generator, lam: np.ndarray, p: np.ndarray, first: np.ndarray, horizon: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """BG/NBD order times, vectorised: (customer index, day) of every order, and dropout day or NaN.

    Given N ~ Poisson(lambda T) arrivals on (0, T], they are uniform order statistics; the first
    k of N come from exponential spacings S_i / S_{N+1}, with S_{N+1} = S_k + Gamma(N + 1 - k).
    So only the k purchases actually made are drawn, never the N a dropped-out customer skips.
    """
    span = horizon - first  # T: days from first purchase to the observation end
    # BG/NBD: dropout can follow any *repeat* purchase, so repeats before dropout ~ Geometric(p) >= 1
    alive_repeats = rng.geometric(p)
    n_poisson = rng.poisson(lam * span)
    n_repeat = np.minimum(alive_repeats, n_poisson)
    owner = np.repeat(np.arange(first.size), n_repeat)
    spacing = np.cumsum(rng.exponential(1.0, owner.size))
    offsets = np.concatenate([[0], np.cumsum(n_repeat)])
    base = np.concatenate([[0.0], spacing])[offsets[:-1]]
    spacing -= np.repeat(base, n_repeat)  # cumulative spacings S_1..S_k per customer
    last_spacing = np.zeros(first.size)
    has = n_repeat > 0
    last_spacing[has] = spacing[offsets[1:][has] - 1]
    total = last_spacing + rng.gamma(n_poisson - n_repeat + 1.0)  # S_{N+1}
    repeat_t = first[owner] + span[owner] * spacing / total[owner]
    order_cust = np.concatenate([np.arange(first.size), owner])
    order_t = np.concatenate([first, repeat_t])
    last_t = first.copy()
    last_t[has] = repeat_t[offsets[1:][has] - 1]
    dropped = alive_repeats <= n_poisson
    dropout_days = np.where(dropped, np.floor(last_t * 86400.0) / 86400.0, np.nan)  # floored like order times
    return order_cust, order_t, dropout_days


def _timestamps(t0: pd.Timestamp, days: np.ndarray) -> pd.DatetimeIndex:
    """Days since ``t0`` (NaN allowed) to naive UTC timestamps at whole-second precision."""
    seconds = np.round(np.asarray(days, dtype=float) * 86400.0)
    return (t0 + pd.to_timedelta(seconds * 1e9, unit="ns")).astype("datetime64[us]")


def _text(values: Any) -> pd.api.extensions.ExtensionArray:
    """pandas 3 string array (missing values as NaN) from a sequence or object array."""
    return pd.array(np.asarray(values, dtype=object), dtype="str")


def _ids(prefix: str, n: int, width: int) -> np.ndarray:
    width = max(width, len(str(n)))
    return np.array([f"{prefix}{i:0{width}d}" for i in range(1, n + 1)], dtype=object)


def _empty_frame(table: str, columns: list[str]) -> pd.DataFrame:
    spec = TABLES[table]
    return pd.DataFrame({c: pd.Series(dtype=PANDAS_DTYPES[spec.column(c).kind]) for c in columns})


def _draw_rows(rng: np.random.Generator, probs: np.ndarray, row: np.ndarray) -> np.ndarray:
    """One categorical draw per element of ``row`` from ``probs[row]``, without an n x k matrix."""
    cum = np.cumsum(probs, axis=1)
    cum[:, -1] = 1.0
    flat = (cum + np.arange(probs.shape[0])[:, None]).ravel()
    return np.searchsorted(flat, row + rng.random(row.size), side="right") - row * probs.shape[1]


def _dirichlet_rows(rng: np.random.Generator, conc: np.ndarray) -> np.ndarray:
    draws = rng.gamma(conc)
    return draws / draws.sum(axis=1, keepdims=True)


def _products(rng: np.random.Generator, n_products: int) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    cat_names = list(CATEGORIES)
    cat = np.concatenate(
        [np.arange(len(cat_names)), rng.integers(0, len(cat_names), n_products - len(cat_names))]
    )
    cat = np.sort(rng.permutation(cat), kind="stable")
    price = np.empty(n_products)
    names, descriptions = [], []
    popularity = np.empty(n_products)
    for c, cname in enumerate(cat_names):
        base, nouns, materials, phrases = CATEGORIES[cname]
        members = np.flatnonzero(cat == c)
        price[members] = np.maximum(
            np.round(base * rng.lognormal(0.0, 0.35, members.size) * 20) / 20 - 0.01, 0.29
        )
        popularity[members] = 1.0 / (1.0 + rng.permutation(members.size)) ** 0.8
        for _i in members:
            noun, mat = nouns[rng.integers(len(nouns))], materials[rng.integers(len(materials))]
            colour, style = _COLOURS[rng.integers(len(_COLOURS))], _STYLES[rng.integers(len(_STYLES))]
            names.append(f"{style} {colour} {mat} {noun}".title())
            descriptions.append(
                f"A {colour} {mat} {noun} with a {style} pattern. {phrases[rng.integers(len(phrases))]}"
            )
    active = rng.random(n_products) >= 0.04
    products = pd.DataFrame(
        {
            "product_id": _text(_ids("P", n_products, 4)),
            "name": _text(names),
            "description": _text(descriptions),
            "category": _text(np.array(cat_names, dtype=object)[cat]),
            "price": price,
            "active": active,
            "_popularity": popularity,
        }
    )
    return products, cat, price


def _customers(
    rng: np.random.Generator, cust_ids: np.ndarray, signup: np.ndarray, horizon: float, ts: Any, *, pii: bool
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, np.ndarray]:
    n = cust_ids.size
    country_p = np.array([c[3] for c in _COUNTRIES])
    country = rng.choice(len(_COUNTRIES), size=n, p=country_p / country_p.sum())
    age_band = rng.choice(np.array(["18-24", "25-34", "35-44", "45-54", "55-64", "65+"], dtype=object), n)
    newsletter = rng.random(n) < 0.6
    attributes = [
        json.dumps({"age_band": a, "newsletter": bool(s)}) for a, s in zip(age_band, newsletter, strict=True)
    ]
    customers = pd.DataFrame(
        {
            "customer_id": _text(cust_ids),
            "signup_at": ts(signup),
            "country": _text(np.array([c[0] for c in _COUNTRIES], dtype=object)[country]),
            "attributes": _text(attributes),
        }
    )
    pii_cols = {"customer_id": [], "email": [], "phone": [], "name": []}
    pii_rng = np.random.default_rng(rng.integers(2**63))  # drawn either way: pii=False changes nothing else
    if pii:
        first = np.array(_FIRST, dtype=object)[pii_rng.integers(len(_FIRST), size=n)]
        last = np.array(_LAST, dtype=object)[pii_rng.integers(len(_LAST), size=n)]
        domain = np.array(_DOMAINS, dtype=object)[pii_rng.integers(len(_DOMAINS), size=n)]
        digits = pii_rng.integers(0, 10, size=(n, 9)).astype(str)
        pii_cols = {
            "customer_id": cust_ids,
            # unique: the customer number is part of the address
            "email": [
                f"{given.lower()}.{family.lower().replace(' ', '')}{cid[1:].lstrip('0')}@{dom}"
                for given, family, cid, dom in zip(first, last, cust_ids, domain, strict=True)
            ],
            "phone": [
                _COUNTRIES[c][1] + "".join(d[: _COUNTRIES[c][2]])
                for c, d in zip(country, digits, strict=True)
            ],
            "name": first + " " + last,
        }
    pii_frame = pd.DataFrame({k: _text(v) for k, v in pii_cols.items()})

    # consent: granted at sign-up unless denied (3%); 4% of grants revoked later
    purposes = np.array(CONSENT_PURPOSES, dtype=object)
    n_p = purposes.size
    who = np.repeat(np.arange(n), n_p)
    what = np.tile(np.arange(n_p), n)
    denied = rng.random(who.size) < 0.03
    revoked = ~denied & (rng.random(who.size) < 0.04)
    revoke_t = signup[who] + rng.uniform(0.0, 1.0, who.size) * (horizon - signup[who])
    rows_who = np.concatenate([who, who[revoked]])
    consent = pd.DataFrame(
        {
            "customer_id": _text(cust_ids[rows_who]),
            "purpose": _text(np.concatenate([purposes[what], purposes[what[revoked]]])),
            "status": _text(
                np.concatenate(
                    [
                        np.where(denied, "denied", "granted").astype(object),
                        np.full(revoked.sum(), "revoked", dtype=object),
                    ]
                ),
            ),
            "recorded_at": ts(np.concatenate([signup[who], revoke_t[revoked]])),
            "source": _text(
                np.concatenate(
                    [
                        np.full(who.size, "signup form", dtype=object),
                        np.full(revoked.sum(), "preference centre", dtype=object),
                    ]
                ),
            ),
        }
    )
    consent = consent.sort_values(["recorded_at", "customer_id", "purpose"], kind="stable").reset_index(
        drop=True
    )
    # day from which e-mail may be sent: inf if denied; [signup, revoke) if revoked
    email = what == CONSENT_PURPOSES.index("email")
    email_until = np.where(denied[email], -np.inf, np.where(revoked[email], revoke_t[email], np.inf))
    return customers, pii_frame, consent, email_until


def _campaign(
    rng: np.random.Generator,
    *,
    enabled: bool,
    horizon: float,
    ts: Any,
    cust_ids: np.ndarray,
    ctype: np.ndarray,
    types: list[_Type],
    signup: np.ndarray,
    email_ok_at: np.ndarray,
    order_cust: np.ndarray,
    order_t: np.ndarray,
    mean_spend: np.ndarray,
    truth: pd.DataFrame,
    params: dict[str, Any],
) -> dict[str, pd.DataFrame]:
    """One randomized e-mail campaign; fills truth's uplift columns in place (a fresh frame)."""
    empty = {
        name: _empty_frame(name, cols)
        for name, cols in (
            ("campaigns", ["campaign_id", "name", "channel", "started_at", "ended_at"]),
            ("campaign_exposures", ["campaign_id", "customer_id", "arm", "sent_at", "channel"]),
            ("responses", ["campaign_id", "customer_id", "responded_at", "response_type", "revenue"]),
        )
    }
    if not enabled:
        return empty
    sent = np.floor(horizon) - _CAMPAIGN_DAYS_BEFORE_END + 9.0 / 24.0
    # recency/frequency at send time, from customer orders only
    before = (order_cust >= 0) & (order_t < sent)
    freq = np.bincount(order_cust[before], minlength=cust_ids.size)
    last = np.full(cust_ids.size, -np.inf)
    np.maximum.at(last, order_cust[before], order_t[before])
    recency = sent - last
    logit = -2.2 + 0.8 * np.log1p(freq) - np.where(freq > 0, recency, np.inf) / 60.0
    baseline = np.where(signup < sent, 1.0 / (1.0 + np.exp(-logit)), np.nan)
    effect = np.array([t.campaign_uplift for t in types])[ctype]
    treated_p = np.clip(baseline + effect, 0.0, 1.0)
    truth["baseline_conversion_prob"] = baseline
    truth["true_uplift"] = treated_p - baseline
    eligible = np.flatnonzero((signup < sent) & (email_ok_at > sent) & (freq > 0))
    arm_treat = np.zeros(eligible.size, dtype=bool)
    arm_treat[rng.permutation(eligible.size)[: eligible.size // 2]] = True
    conv_p = np.where(arm_treat, treated_p[eligible], baseline[eligible])
    converted = rng.random(eligible.size) < conv_p
    responders = eligible[converted]
    respond_t = sent + rng.uniform(0.0, _CAMPAIGN_WINDOW_DAYS, responders.size)
    revenue = np.round(rng.gamma(4.0, mean_spend[responders] / 4.0), 2)
    cid = "E001"
    params["campaign"] = {
        "campaign_id": cid,
        "sent_at": ts(np.array([sent]))[0],
        "window_days": _CAMPAIGN_WINDOW_DAYS,
        "baseline_logit": "-2.2 + 0.8*log1p(orders before send) - days since last order / 60",
        "uplift_by_type": {k: v["campaign_uplift"] for k, v in params["types"].items()},
        "eligibility": "signed up and purchased before sending, e-mail consent in force",
    }
    campaigns = pd.DataFrame(
        {
            "campaign_id": _text([cid]),
            "name": _text(["Spring newsletter with 10% voucher"]),
            "channel": _text(["email"]),
            "started_at": ts(np.array([sent])),
            "ended_at": ts(np.array([sent + _CAMPAIGN_WINDOW_DAYS])),
        }
    )
    exposures = pd.DataFrame(
        {
            "campaign_id": _text(np.full(eligible.size, cid, dtype=object)),
            "customer_id": _text(cust_ids[eligible]),
            "arm": _text(np.where(arm_treat, "treatment", "control").astype(object)),
            "sent_at": ts(np.full(eligible.size, sent)),
            "channel": _text(np.full(eligible.size, "email", dtype=object)),
        }
    )
    order = np.argsort(respond_t, kind="stable")
    responses = pd.DataFrame(
        {
            "campaign_id": _text(np.full(responders.size, cid, dtype=object)),
            "customer_id": _text(cust_ids[responders][order]),
            "responded_at": ts(respond_t[order]),
            "response_type": _text(np.full(responders.size, "conversion", dtype=object)),
            "revenue": revenue[order],
        }
    )
    return {"campaigns": campaigns, "campaign_exposures": exposures, "responses": responses}
