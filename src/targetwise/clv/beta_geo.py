"""BG/NBD ("beta-geometric / negative binomial") transaction model.

Fader, Hardie & Lee (2005), "'Counting Your Customers' the Easy Way: An
Alternative to the Pareto/NBD Model", Marketing Science 24(2). While alive a
customer buys at Poisson rate λ ~ Gamma(r, α); after each repeat purchase they
drop out with probability p ~ Beta(a, b). Times are in whatever unit the
summary uses (weeks for CDNOW); ``α`` carries that unit, ``r, a, b`` are unitless.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.special import betaln, digamma, gammaln, hyp2f1

from targetwise.clv._base import (
    FloatArray,
    MaximumLikelihoodModel,
    compress_rows,
    validate_rfm,
)
from targetwise.errors import DataValidationError

__all__ = ["BetaGeo"]


def _check_horizon(t: ArrayLike) -> FloatArray | float:
    horizon = np.asarray(t, dtype=np.float64)
    if not np.all(np.isfinite(horizon)) or np.any(horizon < 0):
        raise DataValidationError(
            f"the prediction horizon t must be finite and >= 0 (in the fitted time unit), got {t!r}",
            fix="pass t as a number of time units, e.g. 39 for 39 weeks when the summary is in weeks",
        )
    return float(horizon) if horizon.ndim == 0 else horizon


class BetaGeo(MaximumLikelihoodModel):
    """BG/NBD model fitted by maximum likelihood (lifetimes' ``BetaGeoFitter`` API).

    Example (CDNOW, weeks)::

        model = BetaGeo().fit(frequency, recency, T)
        model.params_            # {'r': 0.2426, 'alpha': 4.4135, 'a': 0.7929, 'b': 2.4258}
        model.expected_purchases(39, frequency, recency, T)   # next 39 weeks, per customer
    """

    _param_names = ("r", "alpha", "a", "b")

    def fit(
        self, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike, *, weights: ArrayLike | None = None
    ) -> BetaGeo:
        """Fit on a calibration summary; ``weights`` (optional) counts identical customers."""
        x, t_x, big_t, counts, mean_rate = self._calibration_summary(frequency, recency, T, weights)
        initial = np.array([1.0, 1.0 / max(mean_rate, 1e-6), 1.0, 1.0])
        self._maximise(initial, prepare_summary(x, t_x, big_t, counts), counts)
        return self

    def _loglik(
        self, params: FloatArray, columns: tuple[FloatArray, ...], weights: FloatArray
    ) -> tuple[float, FloatArray]:
        return _loglik(params, columns, weights)

    def log_likelihood_rows(self, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike) -> FloatArray:
        """Per-customer log-likelihood at the fitted parameters."""
        x, t_x, big_t = validate_rfm(frequency, recency, T)
        return _row_loglik(self._param_array(), x, t_x, big_t)[0]

    # --- predictions ---------------------------------------------------------------------
    def prob_alive(self, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike) -> FloatArray:
        """P(customer still alive at T | x, t_x, T); 1 for customers without repeat purchases."""
        r, alpha, a, b = self._param_array()
        x, t_x, big_t = validate_rfm(frequency, recency, T)
        return _prob_alive(r, alpha, a, b, x, t_x, big_t)

    def expected_purchases(
        self, t: float, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike
    ) -> FloatArray:
        """E[purchases in (T, T+t] | x, t_x, T]: conditional expectation for the next ``t`` time units."""
        params = self._param_array()
        horizon = _check_horizon(t)
        x, t_x, big_t = validate_rfm(frequency, recency, T)
        return _conditional_expectation(params, horizon, x, t_x, big_t)

    def expected_purchases_unconditional(self, t: ArrayLike) -> FloatArray | float:
        """E[X(t)] for a customer just acquired: expected repeat purchases in (0, t]."""
        r, alpha, a, b = self._param_array()
        horizon = _check_horizon(t)
        z = horizon / (alpha + horizon)
        hyp = hyp2f1(r, b, a + b - 1.0, z)
        value = (a + b - 1.0) / (a - 1.0) * (1.0 - (alpha / (alpha + horizon)) ** r * hyp)
        return float(value) if np.ndim(value) == 0 else value

    def expected_purchases_conditional_path(
        self, times: FloatArray, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike
    ) -> FloatArray:
        """Conditional expectations at several horizons, shape (len(times), n_customers)."""
        params = self._param_array()
        x, t_x, big_t = validate_rfm(frequency, recency, T)
        return np.stack(
            [_conditional_expectation(params, float(t), x, t_x, big_t) for t in np.asarray(times)]
        )

    def _discounted_expected_purchases(
        self,
        params: FloatArray,
        x: FloatArray,
        t_x: FloatArray,
        big_t: FloatArray,
        times: FloatArray,
        discounts: FloatArray,
    ) -> FloatArray:
        """Σ_i (E[X(t_i)|·] - E[X(t_(i-1))|·]) · discounts_i for each customer (inputs already validated).

        The hypergeometric part depends on (x, T) only, so it is evaluated once per
        distinct pair and shared by customers; P(alive) carries the recency.
        """
        r, alpha, a, b = params
        (pair_x, pair_t), _, inverse = compress_rows(x, big_t)
        previous = np.zeros_like(pair_x)
        total = np.zeros_like(pair_x)
        for t, discount in zip(times, discounts, strict=True):
            one_minus_z = (alpha + pair_t) / (alpha + pair_t + t)
            hyp = hyp2f1(a + b - 1.0 - r, a - 1.0, a + b + pair_x - 1.0, 1.0 - one_minus_z)
            head = (a + b + pair_x - 1.0) / (a - 1.0) * (1.0 - one_minus_z ** (a - 1.0) * hyp)
            total += (head - previous) * discount
            previous = head
        return total[inverse] * _prob_alive(r, alpha, a, b, x, t_x, big_t)


def _check_weights(weights: ArrayLike, n: int) -> FloatArray:
    counts = np.asarray(weights, dtype=np.float64)
    if counts.shape != (n,) or not np.all(np.isfinite(counts)) or np.any(counts < 0) or counts.sum() <= 0:
        raise DataValidationError(
            f"weights must be {n} finite non-negative numbers with a positive sum",
            fix="pass one weight (number of identical customers) per row, or leave weights=None",
        )
    return counts


def _row_loglik(
    params: FloatArray, x: FloatArray, t_x: FloatArray, big_t: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """Per-row log-likelihood and its gradient in natural parameters, shape (n, 4)."""
    r, alpha, a, b = params
    rx = r + x
    log_a_t = np.log(alpha + big_t)
    log_a_tx = np.log(alpha + t_x)
    repeat = x > 0
    a1 = gammaln(rx) - gammaln(r) + r * np.log(alpha)
    a2 = betaln(a, b + x) - betaln(a, b)
    a3 = -rx * log_a_t
    bx1 = np.where(repeat, b + x - 1.0, 1.0)
    a4 = np.where(repeat, np.log(a) - np.log(bx1) - rx * log_a_tx, -np.inf)
    top = np.maximum(a3, a4)
    w3 = np.exp(a3 - top)
    w4 = np.exp(a4 - top)
    norm = w3 + w4
    w3 /= norm
    w4 /= norm
    loglik = a1 + a2 + top + np.log(norm)
    grad = np.empty((x.shape[0], 4))
    grad[:, 0] = digamma(rx) - digamma(r) + np.log(alpha) - w3 * log_a_t - w4 * log_a_tx
    grad[:, 1] = r / alpha - rx * (w3 / (alpha + big_t) + w4 / (alpha + t_x))
    psi_ab, psi_abx = digamma(a + b), digamma(a + b + x)
    grad[:, 2] = psi_ab - psi_abx + w4 / a
    grad[:, 3] = psi_ab + digamma(b + x) - digamma(b) - psi_abx - w4 / bx1
    return loglik, grad


def _codes(values: FloatArray) -> tuple[FloatArray, NDArray[np.intp]]:
    unique, code = np.unique(values, return_inverse=True)
    return unique, code.ravel()


def prepare_summary(
    x: FloatArray, t_x: FloatArray, big_t: FloatArray, weights: FloatArray
) -> tuple[FloatArray, ...]:
    """Split a compressed summary into the pieces :func:`_loglik` reads.

    Customers without repeat purchases contribute ``per_x(0) - r·log(α+T)`` only, so
    they are reduced to weights per distinct ``T``. For repeat buyers, ``x``, ``T`` and
    ``t_x`` are coded against their distinct values so logs and gamma functions are
    evaluated on a few hundred values and gathered, not recomputed per row.
    """
    repeat = x > 0
    t0_unique, t0_code = _codes(big_t[~repeat])
    w0_by_t = np.bincount(t0_code, weights=weights[~repeat], minlength=t0_unique.shape[0])
    x1, tx1, t1, w1 = x[repeat], t_x[repeat], big_t[repeat], weights[repeat]
    x_unique, x_code = _codes(x1)
    x_weight = np.bincount(x_code, weights=w1, minlength=x_unique.shape[0])
    t_unique, t_code = _codes(t1)
    tx_unique, tx_code = _codes(tx1)
    return (t0_unique, w0_by_t, x_unique, x_code, x_weight, t_unique, t_code, tx_unique, tx_code, w1)


def _loglik(
    params: FloatArray, columns: tuple[FloatArray, ...], weights: FloatArray
) -> tuple[float, FloatArray]:
    """Weighted total log-likelihood and its gradient in (r, alpha, a, b).

    ``log L = per_x + A3 + softplus(A4 - A3)`` with ``per_x`` the gamma/beta-function
    terms, ``A3 = -(r+x) log(α+T)`` and, for repeat buyers,
    ``A4 = log a - log(b+x-1) - (r+x) log(α+t_x)`` (Fader, Hardie & Lee 2005, eq. 6).
    """
    t0_unique, w0_by_t, x_unique, x_code, x_weight, t_unique, t_code, tx_unique, tx_code, w1 = columns
    r, alpha, a, b = params
    log_alpha = np.log(alpha)
    w0 = float(w0_by_t.sum())
    w_rep = float(x_weight.sum())
    grad = np.zeros(4)
    # customers without repeat purchases: per_x(0) = 0 and A3 = -r log(α+T)
    log_a_t0 = np.log(alpha + t0_unique)
    loglik = w0 * r * log_alpha - r * float(w0_by_t @ log_a_t0)
    grad[0] = w0 * log_alpha - float(w0_by_t @ log_a_t0)
    grad[1] = w0 * r / alpha - r * float(w0_by_t @ (1.0 / (alpha + t0_unique)))
    if w_rep > 0:
        rx_unique = r + x_unique
        per_x = gammaln(rx_unique) - gammaln(r) + r * log_alpha + betaln(a, b + x_unique) - betaln(a, b)
        psi_ab, psi_abx = digamma(a + b), digamma(a + b + x_unique)
        inv_bx1 = 1.0 / (b + x_unique - 1.0)
        rx = rx_unique[x_code]
        log_a_t = np.log(alpha + t_unique)[t_code]
        log_a_tx = np.log(alpha + tx_unique)[tx_code]
        gap = (np.log(a) + np.log(inv_bx1))[x_code] + rx * (log_a_t - log_a_tx)
        small = np.exp(-np.abs(gap))
        softplus = np.maximum(gap, 0.0) + np.log1p(small)
        w4 = np.where(gap > 0, 1.0, small) / (1.0 + small)  # expit(gap): share of A4
        wrx = w1 * rx
        loglik += float(x_weight @ per_x) - float(wrx @ log_a_t) + float(w1 @ softplus)
        ww4 = w1 * w4
        grad[0] += (
            float(x_weight @ (digamma(rx_unique) - digamma(r) + log_alpha))
            - float(w1 @ log_a_t)
            + float(ww4 @ (log_a_t - log_a_tx))
        )
        wrx4 = ww4 * rx
        grad[1] += r / alpha * w_rep - float(
            (wrx - wrx4) @ (1.0 / (alpha + t_unique))[t_code] + wrx4 @ (1.0 / (alpha + tx_unique))[tx_code]
        )
        grad[2] += float(x_weight @ (psi_ab - psi_abx)) + float(ww4.sum()) / a
        ww4_by_x = np.bincount(x_code, weights=ww4, minlength=x_unique.shape[0])
        grad[3] += float(x_weight @ (psi_ab + digamma(b + x_unique) - digamma(b) - psi_abx)) - float(
            ww4_by_x @ inv_bx1
        )
    return loglik, grad


def _prob_alive(
    r: float, alpha: float, a: float, b: float, x: FloatArray, t_x: FloatArray, big_t: FloatArray
) -> FloatArray:
    """``1 / (1 + a/(b+x-1) · ((α+T)/(α+t_x))^(r+x))`` for repeat buyers, 1 otherwise."""
    # log((α+T)/(α+t_x)) as log1p of the gap keeps precision when t_x is close to T.
    log_odds = big_t - t_x
    log_odds /= alpha + t_x
    np.log1p(log_odds, out=log_odds)
    log_odds *= r + x
    x_max = int(x.max()) if x.shape[0] else 0
    if x_max <= 4 * x.shape[0] + 1024:
        # x is a validated whole number: look log(a/(b+x-1)) up instead of taking n logs.
        table = np.log(a) - np.log(np.maximum(b + np.arange(x_max + 1.0) - 1.0, 1e-300))
        table[0] = -np.inf  # no repeat purchase: cannot have dropped out
        log_odds += table[x.astype(np.intp)]
    else:
        repeat = x > 0
        log_odds += np.where(repeat, np.log(a) - np.log(np.where(repeat, b + x - 1.0, 1.0)), -np.inf)
    with np.errstate(over="ignore", invalid="ignore"):
        odds = np.exp(log_odds, out=log_odds)
    odds += 1.0
    return np.reciprocal(odds, out=odds)


def _conditional_expectation(
    params: FloatArray, t: FloatArray | float, x: FloatArray, t_x: FloatArray, big_t: FloatArray
) -> FloatArray:
    """Fader-Hardie-Lee eq. (10), with Euler's transformation for a non-overflowing 2F1.

    ``2F1(r+x, b+x; a+b+x-1; z) (1-z)^(r+x)`` equals
    ``(1-z)^(a-1) 2F1(a+b-1-r, a-1; a+b+x-1; z)``; the latter's numerator
    parameters do not grow with ``x`` so large frequencies stay finite.
    """
    r, alpha, a, b = params
    if x.shape[0] > 4096 and np.ndim(t) == 0:
        # The 2F1 factor depends on (x, T) only; real summaries repeat those pairs a lot.
        pairs = _pair_codes(x, big_t)
        if pairs is not None:
            pair_x, pair_t, inverse = pairs
            return _expectation_if_alive(params, t, pair_x, pair_t)[inverse] * _prob_alive(
                r, alpha, a, b, x, t_x, big_t
            )
    return _expectation_if_alive(params, t, x, big_t) * _prob_alive(r, alpha, a, b, x, t_x, big_t)


def _pair_codes(x: FloatArray, big_t: FloatArray) -> tuple[FloatArray, FloatArray, NDArray[np.intp]] | None:
    """Distinct (x, T) pairs and each row's pair, when there are far fewer pairs than rows.

    ``x`` is a validated whole number, so it serves as its own code; only ``T`` is hashed.
    """
    import pandas as pd

    t_code, t_unique = pd.factorize(big_t)
    n_t = len(t_unique)
    x_int = x.astype(np.int64)
    if (int(x_int.max()) + 1) * n_t > 4 * x.shape[0]:
        return None
    key = x_int * n_t + t_code
    present = np.bincount(key, minlength=(int(x_int.max()) + 1) * n_t) > 0
    pair_keys = np.flatnonzero(present)
    if pair_keys.shape[0] > x.shape[0] // 2:
        return None
    rank = np.cumsum(present) - 1
    return (
        (pair_keys // n_t).astype(np.float64),
        np.asarray(t_unique, dtype=np.float64)[pair_keys % n_t],
        rank[key],
    )


def _expectation_if_alive(
    params: FloatArray, t: FloatArray | float, x: FloatArray, big_t: FloatArray
) -> FloatArray:
    r, alpha, a, b = params
    one_minus_z = (alpha + big_t) / (alpha + big_t + t)
    z = t / (alpha + big_t + t)
    hyp = hyp2f1(a + b - 1.0 - r, a - 1.0, a + b + x - 1.0, z)
    # 1 - (1-z)^(a-1)·F, written with expm1 to keep precision for short horizons where F > 0.
    # For a < 1 the series F can be zero or negative; then the direct form is exact enough.
    log_scale = (a - 1.0) * np.log(one_minus_z)
    positive = hyp > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        precise = -np.expm1(log_scale + np.log(np.where(positive, hyp, 1.0)))
    head = np.where(positive, precise, 1.0 - np.exp(log_scale) * hyp)
    return (a + b + x - 1.0) / (a - 1.0) * head
