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

from targetwise.errors import DataValidationError
from targetwise.models.clv._base import FloatArray, MaximumLikelihoodModel, compress_rows, validate_rfm

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
        x, t_x, big_t = validate_rfm(frequency, recency, T)
        if weights is None:
            (x, t_x, big_t), counts, _ = compress_rows(x, t_x, big_t)
        else:
            counts = _check_weights(weights, x.shape[0])
        self.n_customers_ = int(round(counts.sum()))
        mean_rate = float(np.sum(counts * x) / max(np.sum(counts * big_t), 1e-12))
        initial = np.array([1.0, 1.0 / max(mean_rate, 1e-6), 1.0, 1.0])
        self._maximise(initial, (x, t_x, big_t, *group_by_frequency(x, counts)), counts)
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
        return np.stack([_conditional_expectation(params, float(t), x, t_x, big_t) for t in np.asarray(times)])

    def _discounted_expected_purchases(
        self, params: FloatArray, x: FloatArray, t_x: FloatArray, big_t: FloatArray,
        times: FloatArray, discounts: FloatArray,
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


def group_by_frequency(x: FloatArray, weights: FloatArray) -> tuple[FloatArray, NDArray[np.intp], FloatArray]:
    """Distinct frequencies, each row's position among them, and the weight per frequency."""
    x_unique, x_code = np.unique(x, return_inverse=True)
    return x_unique, x_code, np.bincount(x_code, weights=weights, minlength=x_unique.shape[0])


def _loglik(params: FloatArray, columns: tuple[FloatArray, ...], weights: FloatArray) -> tuple[float, FloatArray]:
    """Weighted total log-likelihood and gradient; the gamma-function terms depend on x
    only, so they are evaluated once per distinct frequency (a few dozen values)."""
    x, t_x, big_t, x_unique, x_code, x_weight = columns
    r, alpha, a, b = params
    repeat = x > 0
    rx_unique = r + x_unique
    per_x = gammaln(rx_unique) - gammaln(r) + r * np.log(alpha) + betaln(a, b + x_unique) - betaln(a, b)
    psi_ab, psi_abx = digamma(a + b), digamma(a + b + x_unique)
    log_bx1_unique = np.log(np.where(x_unique > 0, b + x_unique - 1.0, 1.0))
    rx = rx_unique[x_code]
    log_a_t = np.log(alpha + big_t)
    log_a_tx = np.log(alpha + t_x)
    # log L = per_x + A3 + softplus(A4 - A3); A4 exists for repeat buyers only.
    gap = np.where(repeat, np.log(a) - log_bx1_unique[x_code] + rx * (log_a_t - log_a_tx), -np.inf)
    small = np.exp(-np.abs(gap))
    softplus = np.maximum(gap, 0.0) + np.log1p(small)
    w4 = np.where(gap > 0, 1.0 / (1.0 + small), small / (1.0 + small))  # expit(gap): weight of A4
    loglik = float(x_weight @ per_x) - float(weights @ (rx * log_a_t)) + float(weights @ softplus)
    ww4 = weights * w4
    ww4_by_x = np.bincount(x_code, weights=ww4, minlength=x_unique.shape[0])
    grad = np.empty(4)
    grad[0] = float(x_weight @ (digamma(rx_unique) - digamma(r) + np.log(alpha))) + float(
        -(weights @ log_a_t) + ww4 @ (log_a_t - log_a_tx)
    )
    grad[1] = r / alpha * float(x_weight.sum()) - float(
        (weights - ww4) @ (rx / (alpha + big_t)) + ww4 @ (rx / (alpha + t_x))
    )
    grad[2] = float(x_weight @ (psi_ab - psi_abx)) + float(ww4.sum()) / a
    grad[3] = float(x_weight @ (psi_ab + digamma(b + x_unique) - digamma(b) - psi_abx)) - float(
        ww4_by_x @ np.where(x_unique > 0, 1.0 / np.exp(log_bx1_unique), 0.0)
    )
    return loglik, grad


def _prob_alive(r: float, alpha: float, a: float, b: float, x: FloatArray, t_x: FloatArray, big_t: FloatArray) -> FloatArray:
    repeat = x > 0
    log_odds_dead = np.where(
        repeat,
        np.log(a) - np.log(np.where(repeat, b + x - 1.0, 1.0)) + (r + x) * (np.log(alpha + big_t) - np.log(alpha + t_x)),
        -np.inf,
    )
    return 1.0 / (1.0 + np.exp(log_odds_dead))


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
        (pair_x, pair_t), _, inverse = compress_rows(x, big_t)
        if pair_x.shape[0] < x.shape[0] // 2:
            return _expectation_if_alive(params, t, pair_x, pair_t)[inverse] * _prob_alive(
                r, alpha, a, b, x, t_x, big_t
            )
    return _expectation_if_alive(params, t, x, big_t) * _prob_alive(r, alpha, a, b, x, t_x, big_t)


def _expectation_if_alive(params: FloatArray, t: FloatArray | float, x: FloatArray, big_t: FloatArray) -> FloatArray:
    r, alpha, a, b = params
    one_minus_z = (alpha + big_t) / (alpha + big_t + t)
    z = t / (alpha + big_t + t)
    hyp = hyp2f1(a + b - 1.0 - r, a - 1.0, a + b + x - 1.0, z)
    # 1 - (1-z)^(a-1)·F, written with expm1 to keep precision for short horizons.
    head = -(np.expm1((a - 1.0) * np.log(one_minus_z) + np.log(hyp)))
    return (a + b + x - 1.0) / (a - 1.0) * head
