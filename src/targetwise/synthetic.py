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
  negative for one type ("sleeping dogs"); ``truth.true_uplift`` is each customer's planted
  effect on conversion and ``truth.true_revenue_uplift`` on revenue over the window
  (``true_uplift * mean_spend``: heterogeneous by type and by basket size).

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
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from targetwise._synthetic_engage import (
    ENGAGE_CHANNELS,
    EVENT_NAMES,
    engagement_truth,
    generate_engagements,
    truth_columns,
)
from targetwise._synthetic_offers import (
    AFFINITY_RATE,
    BASE_RATE,
    HOLDOUT_SHARE,
    HOUSE_PROBABILITIES,
    offer_frames,
)
from targetwise._synthetic_offers import OFFERS as SYNTHETIC_OFFERS
from targetwise._synthetic_params import (
    _ANON_SHARE,
    _BASE_AFFINITY,
    _CHANNELS,
    _DISCOUNT,
    _DISCOUNT_SHARE,
    _NEW_CUSTOMER_DAYS,
    _POSTAGE_PRICE,
    _POSTAGE_SHARE,
    CATEGORIES,
    CUSTOMER_TYPES,
    PANDAS_DTYPES,
)
from targetwise._synthetic_tables import (
    _bgnbd_orders,
    _campaign,
    _customers,
    _dirichlet_rows,
    _draw_rows,
    _ids,
    _products,
    _text,
    _timestamps,
)
from targetwise.errors import ConfigError

__all__ = [
    "CATEGORIES",
    "CUSTOMER_TYPES",
    "PANDAS_DTYPES",
    "SyntheticRetailer",
    "bgnbd_expected_repeat_purchases",
    "generate_retailer",
]


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
    engagements: pd.DataFrame | None = None
    offers: pd.DataFrame | None = None
    offer_decisions: pd.DataFrame | None = None

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
                "engagements",
                "offers",
                "offer_decisions",
            )
            if getattr(self, name) is not None
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
    engagements: bool = True,
    offers: bool = True,
) -> SyntheticRetailer:
    """Generate a synthetic retailer with planted ground truth.

    Every timestamp lies in ``[start, end]`` (``end`` at 00:00 is the observation end).
    Transactions carry returns ('C' + the returned order's id, negative quantity, 1-30 days
    after the purchase), ~0.5% anonymous lines (customer_id missing) and postage lines
    (product_id 'POST'). Campaign conversions are recorded in ``responses`` only, so the
    transactions follow the BG/NBD process exactly. ``truth.mean_spend`` is the expected
    gross product value of one order (before returns, postage excluded), in currency units.

    ``engagements``: the message log (sends, opens, clicks, machine opens, bounces, unsubscribes) of
    :mod:`targetwise._synthetic_engage`, drawn from its own generator so every other table is the same
    without it; the planted preferences are truth columns either way (``preferred_weekday`` (0 = Monday),
    ``preferred_hour_band`` (hours ``preferred_hour_from`` .. ``preferred_hour_to``, shop time),
    ``preferred_channel``, ``responsiveness``, ``machine_opener``, ``preferred_offer`` and
    ``offer_affinity_<kind>`` for each of ``OFFER_KINDS``).

    ``offers``: the offer catalogue (one offer per kind) and an offer log of a house policy with a uniform
    holdout, rewarded from the planted affinities (:mod:`targetwise._synthetic_offers`), from a third
    generator; ``params["offers"]`` holds the reward formula and the logging policy.
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
    # the engagement log's own generator: spawning does not advance ``rng``, so no other draw changes
    engage_rng = np.random.default_rng(rng.bit_generator.seed_seq.spawn(1)[0])
    offers_rng = np.random.default_rng(rng.bit_generator.seed_seq.spawn(1)[0])  # the second child
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
            "true_revenue_uplift": np.nan,
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
    planted = engagement_truth(engage_rng, type_names, ctype)
    for name, column in truth_columns(planted).items():
        truth[name] = column
    engagement_frame = None
    if engagements:
        log = generate_engagements(engage_rng, planted, t0=t0, signup=signup, horizon=horizon)
        n_messages = int(log["message"].max()) + 1 if log["message"].size else 0
        engagement_frame = pd.DataFrame(
            {
                "customer_id": _text(cust_ids).take(log["customer"]),
                "channel": _text(np.array(ENGAGE_CHANNELS, dtype=object)).take(log["channel"]),
                "event": _text(np.array(EVENT_NAMES, dtype=object)).take(log["event"]),
                "occurred_at": ts(log["at"]),
                "message_id": _text(_ids("M", n_messages, 8)).take(log["message"]),
                "is_machine": log["is_machine"].astype(bool),
            }
        )
    offer_tables: dict[str, pd.DataFrame | None] = {"offers": None, "offer_decisions": None}
    if offers:
        offer_tables = offer_frames(offers_rng, planted["offer_affinity"], t0=t0, signup=signup, horizon=horizon,
                                     cust_ids=cust_ids)
        params["offers"] = {
            "reward": f"conversion ~ Bernoulli({BASE_RATE} + {AFFINITY_RATE} x offer_affinity_<kind>)",
            "offer_kinds": {o[0]: o[2] for o in SYNTHETIC_OFFERS},
            "holdout_share": HOLDOUT_SHARE,
            "house_probabilities": dict(zip([o[0] for o in SYNTHETIC_OFFERS], HOUSE_PROBABILITIES.tolist(),
                                            strict=True)),
        }
    return SyntheticRetailer(
        engagements=engagement_frame,
        **offer_tables,
        transactions=transactions,
        customers=customers,
        customer_pii=pii_frame,
        products=products.drop(columns="_popularity"),
        truth=truth,
        params=params,
        consent=consent,
        **campaign_frames,
    )
