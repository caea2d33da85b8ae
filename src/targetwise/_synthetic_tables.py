"""The draws behind :func:`targetwise.synthetic.generate_retailer`: BG/NBD order times, the product
catalogue, customers with identity data and consent, and the randomized e-mail campaign."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd

from targetwise._dtypes import STRING_DTYPE
from targetwise._synthetic_params import (
    _CAMPAIGN_BASKET_LIFT,
    _CAMPAIGN_DAYS_BEFORE_END,
    _CAMPAIGN_WINDOW_DAYS,
    _COLOURS,
    _COUNTRIES,
    _DOMAINS,
    _FIRST,
    _LAST,
    _STYLES,
    CATEGORIES,
    PANDAS_DTYPES,
    _Type,
)
from targetwise.schema import CONSENT_PURPOSES, TABLES


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
    return pd.array(np.asarray(values, dtype=object), dtype=STRING_DTYPE)


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
    # a control responder spends Gamma(4, mean_spend / 4) (mean mean_spend), a treated one (1 + lift) times
    # that (the voucher's basket lift, by type), so the planted effect on revenue per customer over the
    # window is treated_p * (1 + lift) * mean_spend - baseline * mean_spend
    lift = np.array([_CAMPAIGN_BASKET_LIFT.get(name, 0.0) for name in params["types"]])[ctype]
    truth["true_revenue_uplift"] = (treated_p * (1 + lift) - baseline) * mean_spend
    eligible = np.flatnonzero((signup < sent) & (email_ok_at > sent) & (freq > 0))
    arm_treat = np.zeros(eligible.size, dtype=bool)
    arm_treat[rng.permutation(eligible.size)[: eligible.size // 2]] = True
    conv_p = np.where(arm_treat, treated_p[eligible], baseline[eligible])
    converted = rng.random(eligible.size) < conv_p
    responders = eligible[converted]
    respond_t = sent + rng.uniform(0.0, _CAMPAIGN_WINDOW_DAYS, responders.size)
    treated_responder = arm_treat[converted]
    revenue = np.round(rng.gamma(4.0, mean_spend[responders] / 4.0) * np.where(treated_responder, 1 + lift[responders], 1.0), 2)
    cid = "E001"
    params["campaign"] = {
        "campaign_id": cid,
        "sent_at": ts(np.array([sent]))[0],
        "window_days": _CAMPAIGN_WINDOW_DAYS,
        "baseline_logit": "-2.2 + 0.8*log1p(orders before send) - days since last order / 60",
        "uplift_by_type": {k: v["campaign_uplift"] for k, v in params["types"].items()},
        "basket_lift_by_type": dict(_CAMPAIGN_BASKET_LIFT),
        "revenue_uplift": "treated_p * (1 + basket lift) * mean_spend - baseline * mean_spend (a control responder "
        "spends Gamma(4, mean_spend / 4), a treated one (1 + basket lift) times that)",
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
