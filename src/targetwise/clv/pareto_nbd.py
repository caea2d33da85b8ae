"""Pareto/NBD transaction model (Schmittlein, Morrison & Colombo 1987).

While alive a customer buys at Poisson rate λ ~ Gamma(r, α); their lifetime is
exponential with rate μ ~ Gamma(s, β). The likelihood follows Fader & Hardie,
"A Note on Deriving the Pareto/NBD Model and Related Expressions" (2005), with
the hypergeometric term computed by :func:`pareto_log_tail_integral` (Euler
transformation, positive-term series): finite for any frequency or horizon, with
exact analytic gradients. ``α`` and ``β`` carry the time unit of the summary.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.special import digamma, gammaln

from targetwise.clv._base import (
    FloatArray,
    MaximumLikelihoodModel,
    compress_rows,
    validate_rfm,
)
from targetwise.clv._special import pareto_log_tail_integral
from targetwise.clv.beta_geo import _check_horizon

__all__ = ["ParetoNBD"]


class ParetoNBD(MaximumLikelihoodModel):
    """Pareto/NBD fitted by maximum likelihood (lifetimes' ``ParetoNBDFitter`` API).

    Example (CDNOW, weeks)::

        model = ParetoNBD().fit(frequency, recency, T)
        model.params_   # {'r': 0.5533, 'alpha': 10.578, 's': 0.6062, 'beta': 11.669}
    """

    _param_names = ("r", "alpha", "s", "beta")

    def fit(
        self, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike, *, weights: ArrayLike | None = None
    ) -> ParetoNBD:
        """Fit on a calibration summary; ``weights`` (optional) counts identical customers."""
        x, t_x, big_t, counts, mean_rate = self._calibration_summary(frequency, recency, T, weights)
        scale = 1.0 / max(mean_rate, 1e-6)
        initial = np.array([1.0, scale, 1.0, scale])
        self._maximise(initial, prepare_summary(x, t_x, big_t), counts)
        return self

    def _loglik(
        self, params: FloatArray, columns: tuple[FloatArray, ...], weights: FloatArray
    ) -> tuple[float, FloatArray]:
        return _loglik(params, columns, weights)

    def log_likelihood_rows(self, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike) -> FloatArray:
        """Per-customer log-likelihood at the fitted parameters."""
        x, t_x, big_t = validate_rfm(frequency, recency, T)
        return _row_loglik(self._param_array(), x, t_x, big_t)[0]

    def prob_alive(self, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike) -> FloatArray:
        """P(customer still alive at T | x, t_x, T)."""
        params = self._param_array()
        x, t_x, big_t = validate_rfm(frequency, recency, T)
        return _row_loglik(params, x, t_x, big_t, with_grad=False)[2]

    def expected_purchases(
        self, t: float, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike
    ) -> FloatArray:
        """E[purchases in (T, T+t] | x, t_x, T] (Fader & Hardie 2005 note, eq. 22)."""
        params = self._param_array()
        horizon = _check_horizon(t)
        x, t_x, big_t = validate_rfm(frequency, recency, T)
        alive = _row_loglik(params, x, t_x, big_t, with_grad=False)[2]
        r, alpha, s, beta = params
        return (
            (r + x) * (beta + big_t) / (alpha + big_t) * _survival_integral(s, beta + big_t, horizon) * alive
        )

    def expected_purchases_unconditional(self, t: ArrayLike) -> FloatArray | float:
        """E[X(t)] for a customer just acquired: ``r β / α · (1 - (β/(β+t))^(s-1)) / (s-1)``."""
        r, alpha, s, beta = self._param_array()
        horizon = _check_horizon(t)
        value = r * beta / alpha * _survival_integral(s, beta, horizon)
        return float(value) if np.ndim(value) == 0 else value

    def _discounted_expected_purchases(
        self,
        params: FloatArray,
        x: FloatArray,
        t_x: FloatArray,
        big_t: FloatArray,
        times: FloatArray,
        discounts: FloatArray,
    ) -> FloatArray:
        """Σ_i (E[X(t_i)|·] - E[X(t_(i-1))|·]) · discounts_i for each customer (inputs already validated)."""
        r, alpha, s, beta = params
        alive = _row_loglik(params, x, t_x, big_t, with_grad=False)[2]
        previous = np.zeros_like(big_t)
        total = np.zeros_like(big_t)
        for t, discount in zip(times, discounts, strict=True):
            current = _survival_integral(s, beta + big_t, t)
            total += (current - previous) * discount
            previous = current
        return (r + x) * (beta + big_t) / (alpha + big_t) * total * alive


def _survival_integral(s: float, scale: FloatArray | float, t: FloatArray | float) -> FloatArray:
    """``(1 - (scale/(scale+t))^(s-1)) / (s-1)``, continuous through s = 1 (where it is log(1+t/scale))."""
    log_ratio = np.log1p(np.asarray(t) / scale)
    if abs(s - 1.0) < 1e-10:
        return log_ratio
    return -np.expm1(-(s - 1.0) * log_ratio) / (s - 1.0)


Pairs = tuple[FloatArray, FloatArray, NDArray[np.intp]]


def _all_pairs(x: FloatArray, u: FloatArray) -> Pairs:
    """(x, u) pairs for :func:`_loglik`: the distinct ones when that saves work, else every row."""
    pairs = distinct_pairs(x, u)
    return pairs if pairs is not None else (x, u, np.arange(x.shape[0]))


def prepare_summary(x: FloatArray, t_x: FloatArray, big_t: FloatArray) -> tuple[Any, ...]:
    """Codes that let :func:`_loglik` evaluate series, logs and gamma functions on distinct values."""
    x_unique, x_code = np.unique(x, return_inverse=True)
    t_unique, t_code = np.unique(big_t, return_inverse=True)
    return (
        x,
        x_unique,
        x_code.ravel(),
        t_unique,
        t_code.ravel(),
        _all_pairs(x, t_x),
        _all_pairs(x, big_t),
    )


def _loglik(params: FloatArray, columns: tuple[Any, ...], weights: FloatArray) -> tuple[float, FloatArray]:
    """Weighted total log-likelihood and gradient (the fitting path of :func:`_row_loglik`).

    Gradients of the ``J`` terms are accumulated per distinct (x, u) pair through
    ``bincount`` instead of gathering an (n, 4) array per evaluation.
    """
    x, x_unique, x_code, t_unique, t_code, pairs_tx, pairs_t = columns
    r, alpha, s, beta = params
    rx = r + x
    log_a_t = np.log(alpha + t_unique)[t_code]
    log_b_t = np.log(beta + t_unique)[t_code]
    log_c = (gammaln(r + x_unique) - gammaln(r))[x_code] + r * np.log(alpha) + s * np.log(beta)
    log_alive_term = -rx * log_a_t - s * log_b_t
    lj_tx_pairs, grad_tx_pairs = pareto_log_tail_integral(pairs_tx[1], pairs_tx[0], r, alpha, s, beta)
    lj_t_pairs, grad_t_pairs = pareto_log_tail_integral(pairs_t[1], pairs_t[0], r, alpha, s, beta)
    log_j_tx = lj_tx_pairs[pairs_tx[2]]
    log_j_t = lj_t_pairs[pairs_t[2]]
    log_s = np.log(s)
    top = np.maximum(log_alive_term, log_s + log_j_tx)
    e_alive = np.exp(log_alive_term - top)
    e_tx = s * np.exp(log_j_tx - top)
    e_t = s * np.exp(log_j_t - top)
    norm = e_alive + np.maximum(e_tx - e_t, 0.0)
    total = float(weights @ (log_c + top + np.log(norm)))
    w_norm = weights / norm
    wa, wtx, wt = w_norm * e_alive, w_norm * e_tx, w_norm * e_t
    grad = np.bincount(pairs_tx[2], weights=wtx, minlength=grad_tx_pairs.shape[0]) @ grad_tx_pairs
    grad -= np.bincount(pairs_t[2], weights=wt, minlength=grad_t_pairs.shape[0]) @ grad_t_pairs
    w_total = float(weights.sum())
    w_by_x = np.bincount(x_code, weights=weights, minlength=x_unique.shape[0])
    grad[0] += (
        float(w_by_x @ digamma(r + x_unique)) + w_total * (np.log(alpha) - digamma(r)) - float(wa @ log_a_t)
    )
    grad[1] += w_total * r / alpha - float((wa * rx) @ (1.0 / (alpha + t_unique))[t_code])
    grad[2] += w_total * np.log(beta) - float(wa @ log_b_t) + float((wtx - wt).sum()) / s
    grad[3] += w_total * s / beta - s * float(wa @ (1.0 / (beta + t_unique))[t_code])
    return total, grad


def distinct_pairs(x: FloatArray, u: FloatArray) -> Pairs | None:
    """Distinct (x, u) pairs and each row's pair; None when that would not save work."""
    if u.shape[0] <= 2048:
        return None
    (pair_x, pair_u), _, inverse = compress_rows(x, u)
    return (pair_x, pair_u, inverse) if pair_x.shape[0] <= u.shape[0] // 2 else None


def _tail_on_pairs(
    u: FloatArray, x: FloatArray, params: FloatArray, *, with_grad: bool = True
) -> tuple[FloatArray, FloatArray | None]:
    """``log J(u)`` and its gradient, evaluated once per distinct (x, u) pair.

    The series is the expensive part of the likelihood and depends on (x, u) only;
    a million customers recorded by day have a few thousand distinct pairs.
    """
    r, alpha, s, beta = params
    pairs = distinct_pairs(x, u)
    if pairs is not None:
        pair_x, pair_u, inverse = pairs
        log_j, grad = pareto_log_tail_integral(pair_u, pair_x, r, alpha, s, beta)
        return log_j[inverse], grad[inverse] if with_grad else None
    return pareto_log_tail_integral(u, x, r, alpha, s, beta)


def _row_loglik(
    params: FloatArray,
    x: FloatArray,
    t_x: FloatArray,
    big_t: FloatArray,
    *,
    with_grad: bool = True,
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Per-row log-likelihood, its gradient (n, 4) in natural parameters, and P(alive).

    ``L = Γ(r+x) α^r β^s / Γ(r) · [(α+T)^-(r+x) (β+T)^-s + s (J(t_x) - J(T))]``.
    """
    r, alpha, s, beta = params
    rx = r + x
    log_a_t = np.log(alpha + big_t)
    log_b_t = np.log(beta + big_t)
    log_alive_term = -rx * log_a_t - s * log_b_t
    log_j_tx, grad_tx = _tail_on_pairs(t_x, x, params, with_grad=with_grad)
    log_j_t, grad_t = _tail_on_pairs(big_t, x, params, with_grad=with_grad)
    log_s = np.log(s)
    top = np.maximum(log_alive_term, log_s + log_j_tx)
    e_alive = np.exp(log_alive_term - top)
    e_tx = s * np.exp(log_j_tx - top)
    e_t = s * np.exp(log_j_t - top)
    # J(t_x) >= J(T); equal (and exactly cancelling) when t_x == T.
    norm = e_alive + np.maximum(e_tx - e_t, 0.0)
    alive = e_alive / norm
    if not with_grad:
        return np.empty(0), np.empty((0, 4)), alive
    log_c = gammaln(rx) - gammaln(r) + r * np.log(alpha) + s * np.log(beta)
    loglik = log_c + top + np.log(norm)
    w_alive, w_tx, w_t = alive, e_tx / norm, e_t / norm
    assert grad_tx is not None and grad_t is not None
    grad = (w_tx[:, None] * grad_tx) - (w_t[:, None] * grad_t)
    grad[:, 0] += digamma(rx) - digamma(r) + np.log(alpha) - w_alive * log_a_t
    grad[:, 1] += r / alpha - w_alive * rx / (alpha + big_t)
    grad[:, 2] += np.log(beta) - w_alive * log_b_t + (w_tx - w_t) / s
    grad[:, 3] += s / beta - w_alive * s / (beta + big_t)
    return loglik, grad, alive
