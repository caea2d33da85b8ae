"""The synthetic retailer's engagement log: planted send-time, channel and offer preferences.

Per customer the generator plants a preferred weekday (0 = Monday), a preferred hour band
(:data:`HOUR_BANDS`, four hours each, shop time), a preferred channel (email, sms or push), a
responsiveness and an offer preference (:data:`OFFER_KINDS`). Each type has its own tendency, so a
customer's segment says something about them, but each customer is drawn around it.

The shop sends at varied times: 40 % of sends at its usual 09:00, the rest spread over 07:00-22:59
on every weekday, and over all three channels in a fixed mix that ignores the customer's preference
(so counting raw opens would favour 09:00 e-mail; only rates per send recover the truth). A send is
answered with probability ``responsiveness x band factor x weekday factor x channel factor``
(1 at the preferred value; the band factor 0.4 one band away, 0.15 further; weekday 0.6; channel 0.35
elsewhere). E-mail and push answers are opens (a click follows 30 % of them), sms answers are clicks.
A third of the customers read mail through a privacy proxy: every delivered e-mail of theirs gets a
machine open (``is_machine``) a few minutes after the send, whatever they prefer. 2 % of sends bounce;
a rare unsubscribe stops that channel's later sends to the customer.

Everything is drawn from its own generator (spawned from the retailer's seed), so the other tables
are identical with or without it. Timestamps are naive shop time, like every synthetic timestamp.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from targetwise._dtypes import STRING_DTYPE

__all__ = ["ENGAGE_CHANNELS", "HOUR_BANDS", "OFFER_KINDS", "engagement_truth", "generate_engagements"]

#: hour bands of the planted preference, in shop time: band k covers hours 4k .. 4k + 3
HOUR_BANDS = ((0, 4), (4, 8), (8, 12), (12, 16), (16, 20), (20, 24))
ENGAGE_CHANNELS = ("email", "sms", "push")
#: the offer kinds a customer prefers (read by the offers simulator)
OFFER_KINDS = ("percent_discount", "free_shipping", "bundle", "loyalty_points")

# by customer type (the order of CUSTOMER_TYPES): preferred band, weekday, channel and offer tendencies
# fmt: off
_BAND_P = {
    "loyal_high_spender": (0.01, 0.04, 0.15, 0.15, 0.30, 0.35),
    "bargain_hunter":     (0.01, 0.04, 0.40, 0.30, 0.15, 0.10),
    "occasional_gifter":  (0.01, 0.04, 0.10, 0.20, 0.30, 0.35),
    "new_customer":       (0.01, 0.09, 0.35, 0.25, 0.15, 0.15),
    "lapsed":             (0.02, 0.13, 0.30, 0.25, 0.15, 0.15),
}
_DAY_P = {
    "loyal_high_spender": (0.10, 0.10, 0.10, 0.10, 0.10, 0.30, 0.20),
    "bargain_hunter":     (0.25, 0.15, 0.15, 0.15, 0.10, 0.10, 0.10),
    "occasional_gifter":  (0.10, 0.10, 0.10, 0.15, 0.25, 0.15, 0.15),
    "new_customer":       (0.14, 0.14, 0.14, 0.14, 0.14, 0.15, 0.15),
    "lapsed":             (0.10, 0.10, 0.10, 0.10, 0.10, 0.20, 0.30),
}
_CHANNEL_P = {
    "loyal_high_spender": (0.60, 0.15, 0.25),
    "bargain_hunter":     (0.35, 0.40, 0.25),
    "occasional_gifter":  (0.70, 0.20, 0.10),
    "new_customer":       (0.35, 0.20, 0.45),
    "lapsed":             (0.60, 0.30, 0.10),
}
_OFFER_P = {
    "loyal_high_spender": (0.10, 0.20, 0.25, 0.45),
    "bargain_hunter":     (0.60, 0.20, 0.15, 0.05),
    "occasional_gifter":  (0.15, 0.45, 0.30, 0.10),
    "new_customer":       (0.35, 0.35, 0.15, 0.15),
    "lapsed":             (0.50, 0.25, 0.15, 0.10),
}
# fmt: on
_SEND_MIX = (0.6, 0.2, 0.2)  # the shop's sends by channel, whatever the customer prefers
_USUAL_HOUR, _USUAL_SHARE = 9, 0.4
_SENDS_PER_WEEK = 0.5  # mean across customers (Gamma shape 2)
_BAND_FACTOR = (1.0, 0.4, 0.15, 0.15)  # by circular distance in bands from the preferred one
_DAY_FACTOR, _CHANNEL_FACTOR = 0.6, 0.35
_PROXY_SHARE, _BOUNCE, _UNSUBSCRIBE, _CLICK_AFTER_OPEN = 1 / 3, 0.02, 0.002, 0.3


def _draw(rng: np.random.Generator, probs: np.ndarray) -> np.ndarray:
    """One categorical draw per row of ``probs``."""
    cum = probs.cumsum(axis=1)
    cum[:, -1] = 1.0
    return (rng.random((probs.shape[0], 1)) > cum).sum(axis=1)


def engagement_truth(
    rng: np.random.Generator, type_names: list[str], ctype: np.ndarray
) -> dict[str, np.ndarray]:
    """The planted per-customer preferences (arrays aligned with the customers)."""
    n = ctype.size
    names = [type_names[k] for k in ctype]
    band = _draw(rng, np.array([_BAND_P[t] for t in names]))
    weekday = _draw(rng, np.array([_DAY_P[t] for t in names]))
    channel = _draw(rng, np.array([_CHANNEL_P[t] for t in names]))
    offers = rng.gamma(20.0 * np.array([_OFFER_P[t] for t in names]))
    offers /= offers.sum(axis=1, keepdims=True)
    return {
        "preferred_weekday": weekday,
        "preferred_hour_band": band,
        "preferred_channel": channel,
        "responsiveness": rng.uniform(0.3, 0.6, n),
        "machine_opener": rng.random(n) < _PROXY_SHARE,
        "offer_affinity": offers,
    }


def truth_columns(planted: dict[str, np.ndarray]) -> dict[str, Any]:
    """The planted preferences as truth columns with plain names."""
    columns: dict[str, Any] = {
        "preferred_weekday": planted["preferred_weekday"].astype("int64"),
        "preferred_hour_band": planted["preferred_hour_band"].astype("int64"),
        "preferred_hour_from": (4 * planted["preferred_hour_band"]).astype("int64"),
        "preferred_hour_to": (4 * planted["preferred_hour_band"] + 3).astype("int64"),
        "preferred_channel": pd.array(np.array(ENGAGE_CHANNELS, dtype=object)[planted["preferred_channel"]],
                                      dtype=STRING_DTYPE),
        "responsiveness": planted["responsiveness"],
        "machine_opener": planted["machine_opener"],
        "preferred_offer": pd.array(np.array(OFFER_KINDS, dtype=object)[planted["offer_affinity"].argmax(axis=1)],
                                    dtype=STRING_DTYPE),
    }
    for k, kind in enumerate(OFFER_KINDS):
        columns[f"offer_affinity_{kind}"] = planted["offer_affinity"][:, k]
    return columns


def generate_engagements(
    rng: np.random.Generator,
    planted: dict[str, np.ndarray],
    *,
    t0: pd.Timestamp,
    signup: np.ndarray,
    horizon: float,
) -> dict[str, np.ndarray]:
    """Sends and their answers as integer-coded arrays (customer index, channel index, event, time in days
    since ``t0``, message index, is_machine), sorted by time; see the module docstring."""
    n = signup.size
    monday = (-t0.dayofweek) % 7  # days from t0 to its first Monday 00:00
    first_week = np.ceil((signup - monday) / 7.0)
    last_week = np.floor((horizon - monday) / 7.0) - 1
    weeks = np.maximum(last_week - first_week, 0)
    rate = rng.gamma(2.0, _SENDS_PER_WEEK / 2.0, n)
    n_sends = rng.poisson(rate * weeks)
    cust = np.repeat(np.arange(n), n_sends)
    m = cust.size
    week = first_week[cust] + np.floor(rng.random(m) * weeks[cust])
    weekday = rng.integers(0, 7, m)
    hour = np.where(rng.random(m) < _USUAL_SHARE, _USUAL_HOUR, rng.integers(7, 23, m))
    minute = np.where(hour == _USUAL_HOUR, 0, rng.integers(0, 60, m))
    sent = monday + 7 * week + weekday + hour / 24 + minute / 1440
    channel = _draw(rng, np.tile(np.array(_SEND_MIX), (m, 1))) if m else np.zeros(0, dtype=int)
    ok = (sent >= signup[cust]) & (sent < horizon - 1)
    order = np.lexsort((sent, channel, cust))
    order = order[ok[order]]
    cust, channel, sent, weekday, hour = cust[order], channel[order], sent[order], weekday[order], hour[order]
    # unsubscribes: the channel's later sends to that customer are not made
    bounced = rng.random(cust.size) < _BOUNCE
    unsub = (rng.random(cust.size) < _UNSUBSCRIBE) & ~bounced
    group = np.concatenate([[True], (np.diff(cust) != 0) | (np.diff(channel) != 0)]) if cust.size else np.zeros(0, bool)
    gid = np.cumsum(group) - 1
    before = np.cumsum(unsub) - unsub  # unsubscribes earlier in the array
    start_count = (np.cumsum(unsub) - unsub)[group][gid] if cust.size else before
    keep = (before - start_count) == 0
    cust, channel, sent, weekday, hour, unsub, bounced = (
        a[keep] for a in (cust, channel, sent, weekday, hour, unsub, bounced)
    )
    m = cust.size
    message = np.arange(m)
    band = hour // 4
    distance = np.abs(band - planted["preferred_hour_band"][cust])
    distance = np.minimum(distance, len(HOUR_BANDS) - distance)
    prob = (
        planted["responsiveness"][cust]
        * np.asarray(_BAND_FACTOR)[distance]
        * np.where(weekday == planted["preferred_weekday"][cust], 1.0, _DAY_FACTOR)
        * np.where(channel == planted["preferred_channel"][cust], 1.0, _CHANNEL_FACTOR)
    )
    answered = (rng.random(m) < prob) & ~bounced
    delay = rng.exponential(2.0 / 24, m)
    is_sms = channel == 1
    open_idx = np.flatnonzero(answered & ~is_sms)
    click_idx = np.concatenate([
        np.flatnonzero(answered & is_sms), open_idx[rng.random(open_idx.size) < _CLICK_AFTER_OPEN]
    ])
    click_delay = np.where(is_sms[click_idx], delay[click_idx], delay[click_idx] + rng.uniform(1, 10, click_idx.size) / 1440)
    machine_idx = np.flatnonzero((channel == 0) & ~bounced & planted["machine_opener"][cust])
    unsub_idx = np.flatnonzero(unsub)
    parts = [
        (message, 0, sent, False),  # sent
        (np.flatnonzero(bounced), 5, sent[bounced] + 1 / 1440, False),  # bounce
        (open_idx, 2, sent[open_idx] + delay[open_idx], False),  # human open
        (click_idx, 3, sent[click_idx] + click_delay, False),  # click
        (machine_idx, 2, sent[machine_idx] + rng.uniform(1, 10, machine_idx.size) / 1440, True),  # machine open
        (unsub_idx, 4, sent[unsub_idx] + delay[unsub_idx] + 1 / 1440, False),  # unsubscribe
    ]
    msg = np.concatenate([p[0] for p in parts]).astype(np.int64)
    event = np.concatenate([np.full(p[0].size, p[1]) for p in parts]).astype(np.int8)
    at = np.concatenate([p[2] for p in parts])
    machine = np.concatenate([np.full(p[0].size, p[3]) for p in parts])
    at = np.floor(np.minimum(at, horizon - 1e-6) * 86400.0) / 86400.0  # whole seconds, inside the window
    order = np.lexsort((event, msg, at))
    return {
        "customer": cust[msg][order],
        "channel": channel[msg][order],
        "event": event[order],
        "at": at[order],
        "message": msg[order],
        "is_machine": machine[order],
    }


#: event codes of :func:`generate_engagements` -> canonical event names
EVENT_NAMES = ("sent", "delivered", "open", "click", "unsubscribe", "bounce")
