"""Send time and channel per customer: response rates per send slot, shrunk toward segment and shop.

The input is one row per send: ``customer_id``, ``channel``, ``weekday`` (0 = Monday) and ``hour``
(0-23) of the send in shop time, and ``responded`` (a human open or click of that message; machine
opens are not responses). Everything is a rate *per send*: a customer only ever mailed at 09:00 has
no evidence about 20:00, so their 20:00 estimate is their segment's pattern, not zero.

For each dimension (hour band of :data:`HOUR_BANDS`, weekday, channel) the estimate of customer c in
cell k is an empirical-Bayes posterior mean::

    rate[c, k] = (responses[c, k] + m * prior[c, k]) / (sends[c, k] + m)
    prior[c, k] = level[c] * pattern[segment(c), k]

``level[c]`` is the customer's overall response rate (itself shrunk toward the segment's), and
``pattern`` the segment's relative rate per cell (segment cells shrunk toward the shop's pattern),
so a responsive customer is not pulled down to an average customer's rates, only toward the shape of
their segment. The prior strength ``m`` of each dimension is chosen by maximising the beta-binomial
marginal likelihood of the customers' cells over a grid (empirical Bayes) unless it is given.

The recommendation is the cell with the highest posterior mean in each dimension; ``best_hour`` is the
hour inside the best band with the highest rate in the segment's (shrunk) hour pattern.
``confidence`` is the posterior probability that the recommended band is the customer's best one
(Monte Carlo over the Beta posteriors, ``n_draws`` draws, seeded). ``source`` names the level that
carries most of the weight in the band estimate: ``personal`` when the customer's own sends weigh at
least as much as the prior (``sends >= m``), else ``segment`` (a segment is known) or ``global``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.special import betaln
from sklearn.base import BaseEstimator

from targetwise._fitted import check_fitted
from targetwise.errors import DataValidationError

__all__ = ["HOUR_BANDS", "SOURCES", "SendTimeEstimator", "hour_band"]

#: hour bands, shop time: band k covers hours 4k .. 4k + 3
HOUR_BANDS = ((0, 4), (4, 8), (8, 12), (12, 16), (16, 20), (20, 24))
SOURCES = ("personal", "segment", "global")
_GRID = np.geomspace(0.5, 500.0, 31)
_REQUIRED = ("customer_id", "channel", "weekday", "hour", "responded")
_NO_SEGMENT = "\x00none"


def hour_band(hour: np.ndarray | int) -> np.ndarray:
    """The band index (0-5) of an hour of the day (0-23)."""
    return np.asarray(hour) // 4


def _eb_strength(responses: np.ndarray, sends: np.ndarray, prior: np.ndarray) -> float:
    """The prior strength m maximising the beta-binomial likelihood of the cells with sends."""
    cells = sends > 0
    r, s = responses[cells], sends[cells]
    p = np.clip(prior[cells], 1e-4, 1 - 1e-4)
    if r.size == 0:
        return float(_GRID[len(_GRID) // 2])
    loglik = [
        float((betaln(r + m * p, s - r + m * (1 - p)) - betaln(m * p, m * (1 - p))).sum()) for m in _GRID
    ]
    return float(_GRID[int(np.argmax(loglik))])


def _counts(row: np.ndarray, col: np.ndarray, hit: np.ndarray, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    flat = row * shape[1] + col
    size = shape[0] * shape[1]
    sends = np.bincount(flat, minlength=size).reshape(shape).astype(float)
    responses = np.bincount(flat, weights=hit, minlength=size).reshape(shape)
    return responses, sends


class SendTimeEstimator(BaseEstimator):
    """Best hour of week and channel per customer from response rates per send (see the module docstring).

    Parameters
    ----------
    prior_strength:
        ``m`` of every dimension; ``None`` chooses it per dimension by empirical Bayes.
    n_draws:
        Monte Carlo draws per customer for ``confidence``.
    random_state:
        Seed of those draws.

    Example
    -------
    >>> sends = pd.DataFrame({"customer_id": ["a"] * 4, "channel": ["email"] * 4,
    ...                       "weekday": [0, 0, 2, 2], "hour": [9, 9, 20, 20], "responded": [0, 0, 1, 1]})
    >>> SendTimeEstimator(prior_strength=1.0).fit(sends).predict().loc[0, "best_hour"] >= 20
    True
    """

    def __init__(self, *, prior_strength: float | None = None, n_draws: int = 200, random_state: int | None = 0) -> None:
        self.prior_strength = prior_strength
        self.n_draws = n_draws
        self.random_state = random_state

    # -- fit ------------------------------------------------------------------------------------
    def fit(self, sends: pd.DataFrame, segments: pd.Series | None = None) -> SendTimeEstimator:
        """Fit on one row per send; ``segments`` maps customer_id -> segment label (optional)."""
        missing = [c for c in _REQUIRED if c not in sends.columns]
        if missing:
            raise DataValidationError(
                f"sends lack the column(s) {', '.join(missing)}", fix=f"pass one row per send with {', '.join(_REQUIRED)}"
            )
        weekday = sends["weekday"].to_numpy()
        hour = sends["hour"].to_numpy()
        if len(sends) and (weekday.min() < 0 or weekday.max() > 6 or hour.min() < 0 or hour.max() > 23):
            raise DataValidationError(
                f"weekday must be 0-6 and hour 0-23; got weekday {weekday.min()}..{weekday.max()}, "
                f"hour {hour.min()}..{hour.max()}",
                fix="give the send's weekday (0 = Monday) and hour in shop time",
            )
        if self.prior_strength is not None and not self.prior_strength > 0:
            raise DataValidationError(
                f"prior_strength must be > 0, got {self.prior_strength!r}", fix="use a positive number or None"
            )
        cust_codes, customers = pd.factorize(sends["customer_id"], sort=True)
        known = pd.Index(customers)
        if segments is not None:
            known = known.union(pd.Index(segments.index))
        cust_idx = known.get_indexer(customers)[cust_codes]
        seg_of = (
            pd.Series(_NO_SEGMENT, index=known)
            if segments is None
            else segments.astype(object).reindex(known).fillna(_NO_SEGMENT).astype(str)
        )
        seg_codes, seg_names = pd.factorize(seg_of.to_numpy(), sort=True)
        chan_codes, channels = pd.factorize(sends["channel"], sort=True)
        hit = sends["responded"].to_numpy().astype(float)
        self.customers_ = known
        self.segment_of_ = seg_codes
        self.segment_names_ = np.asarray(seg_names)
        self.channels_ = np.asarray(channels)
        n_c, n_s = len(known), len(seg_names)
        seg_row = seg_codes[cust_idx]

        # the customer's overall level, shrunk toward the segment's overall rate
        tot_r, tot_s = _counts(cust_idx, np.zeros_like(cust_idx), hit, (n_c, 1))
        seg_r, seg_s = _counts(seg_codes, np.zeros_like(seg_codes), tot_r[:, 0], (n_s, 1))
        seg_s = np.bincount(seg_codes, weights=tot_s[:, 0], minlength=n_s)[:, None]
        shop_rate = hit.mean() if hit.size else 0.0
        seg_rate = (seg_r + 1.0 * shop_rate) / (seg_s + 1.0)
        m_level = self.prior_strength or _eb_strength(tot_r, tot_s, seg_rate[seg_codes])
        level = (tot_r + m_level * seg_rate[seg_codes]) / (tot_s + m_level)
        self.level_ = level[:, 0]
        self.sends_ = tot_s[:, 0]
        self.responses_ = tot_r[:, 0]

        self.strength_ = {"level": m_level}
        self.rates_ = {}
        self.prior_ = {}
        self.counts_ = {}
        for name, col, k in (
            ("band", hour_band(hour), len(HOUR_BANDS)),
            ("weekday", weekday, 7),
            ("channel", chan_codes, len(channels)),
            ("hour", hour, 24),
        ):
            r, s = _counts(cust_idx, col, hit, (n_c, k))
            pattern = self._pattern(seg_row, col, hit, n_s, k)  # segment's rate per cell / its overall rate
            prior = np.clip(level * pattern[seg_codes], 0, 1)
            m = self.prior_strength or _eb_strength(r, s, prior)
            self.strength_[name] = m
            self.rates_[name] = (r + m * prior) / (s + m)
            self.prior_[name] = prior
            self.counts_[name] = (r, s)
            if name == "band":
                self.segment_band_pattern_ = pattern
        return self

    @staticmethod
    def _pattern(seg_row: np.ndarray, col: np.ndarray, hit: np.ndarray, n_s: int, k: int) -> np.ndarray:
        """Per segment and cell: the rate relative to the segment's overall rate, shrunk toward the shop's."""
        r, s = _counts(seg_row, col, hit, (n_s, k))
        shop_r, shop_s = r.sum(axis=0), s.sum(axis=0)
        overall = shop_r.sum() / max(shop_s.sum(), 1.0)
        shop = (shop_r + 1.0 * overall) / (shop_s + 1.0) / max(overall, 1e-9)
        seg_overall = (r.sum(axis=1, keepdims=True) + overall) / (s.sum(axis=1, keepdims=True) + 1.0)
        m = _eb_strength(r, s, np.clip(seg_overall * shop, 0, 1))
        rate = (r + m * seg_overall * shop) / (s + m)
        return rate / np.maximum(seg_overall, 1e-9)

    # -- predict --------------------------------------------------------------------------------
    def predict(self) -> pd.DataFrame:
        """One row per customer: ``customer_id, best_weekday, best_hour, best_channel, confidence, source``."""
        check_fitted(self, "rates_", fix="call fit(sends) first")
        band = self.rates_["band"].argmax(axis=1)
        weekday = self.rates_["weekday"].argmax(axis=1)
        channel = self.rates_["channel"].argmax(axis=1)
        # the hour inside the band: the segment's (shrunk) hour pattern, the level's scale does not matter
        hour_prior = self.prior_["hour"].reshape(-1, len(HOUR_BANDS), 4)
        best_hour = band * 4 + hour_prior[np.arange(band.size), band].argmax(axis=1)
        m = self.strength_["band"]
        has_segment = self.segment_names_[self.segment_of_] != _NO_SEGMENT
        source = np.where(self.sends_ >= m, "personal", np.where(has_segment, "segment", "global"))
        return pd.DataFrame(
            {
                "customer_id": self.customers_.astype(str),
                "best_weekday": weekday.astype("int64"),
                "best_hour": best_hour.astype("int64"),
                "best_channel": self.channels_[channel] if self.channels_.size else None,
                "confidence": self._confidence(band),
                "source": source,
            }
        )

    def _confidence(self, band: np.ndarray, chunk: int = 50_000) -> np.ndarray:
        """P(the recommended band is the best) under the Beta posteriors of the band rates."""
        rng = np.random.default_rng(self.random_state)
        r, s = self.counts_["band"]
        m, prior = self.strength_["band"], np.clip(self.prior_["band"], 1e-6, 1 - 1e-6)
        a, b = r + m * prior, s - r + m * (1 - prior)
        out = np.empty(band.size)
        for lo in range(0, band.size, chunk):
            hi = min(lo + chunk, band.size)
            draws = rng.beta(a[lo:hi, None, :], b[lo:hi, None, :], size=(hi - lo, self.n_draws, a.shape[1]))
            out[lo:hi] = (draws.argmax(axis=2) == band[lo:hi, None]).mean(axis=1)
        return out.round(4)

    def segment_bands(self) -> pd.Series:
        """Each segment's best band (the pattern alone, no personal evidence): the baseline to beat."""
        check_fitted(self, "rates_", fix="call fit(sends) first")
        return pd.Series(self.segment_band_pattern_.argmax(axis=1), index=self.segment_names_)
