"""Pareto/NBD transaction model (Schmittlein, Morrison & Colombo 1987).

While alive a customer buys at Poisson rate λ ~ Gamma(r, α); their lifetime is
exponential with rate μ ~ Gamma(s, β). The likelihood follows Fader & Hardie,
"A Note on Deriving the Pareto/NBD Model and Related Expressions" (2005), with
the hypergeometric term computed by :func:`pareto_log_tail_integral` (Euler
transformation, positive-term series): finite for any frequency or horizon, with
exact analytic gradients. ``α`` and ``β`` carry the time unit of the summary.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike
from scipy.special import digamma, gammaln

from targetwise.models.clv._base import (
    FloatArray,
    MaximumLikelihoodModel,
    compress_rows,
    require_repeat_buyers,
    validate_rfm,
)
from targetwise.models.clv._special import pareto_log_tail_integral
from targetwise.models.clv.beta_geo import _check_horizon, _check_weights

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
        x, t_x, big_t = validate_rfm(frequency, recency, T)
        if weights is None:
            (x, t_x, big_t), counts, _ = compress_rows(x, t_x, big_t)
        else:
            counts = _check_weights(weights, x.shape[0])
        self.n_customers_ = int(round(counts.sum()))
        require_repeat_buyers(type(self).__name__, x, counts)
        mean_rate = float(np.sum(counts * x) / max(np.sum(counts * big_t), 1e-12))
        scale = 1.0 / max(mean_rate, 1e-6)
        initial = np.array([1.0, scale, 1.0, scale])
        self._maximise(initial, (x, t_x, big_t), counts)
        return self

    def _loglik(
        self, params: FloatArray, columns: tuple[FloatArray, ...], weights: FloatArray
    ) -> tuple[float, FloatArray]:
        x, t_x, big_t = columns
        loglik, grad, _ = _row_loglik(params, x, t_x, big_t)
        return float(weights @ loglik), weights @ grad

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
        return (r + x) * (beta + big_t) / (alpha + big_t) * _survival_integral(s, beta + big_t, horizon) * alive

    def expected_purchases_unconditional(self, t: ArrayLike) -> FloatArray | float:
        """E[X(t)] for a customer just acquired: ``r β / α · (1 - (β/(β+t))^(s-1)) / (s-1)``."""
        r, alpha, s, beta = self._param_array()
        horizon = _check_horizon(t)
        value = r * beta / alpha * _survival_integral(s, beta, horizon)
        return float(value) if np.ndim(value) == 0 else value

    def _discounted_expected_purchases(
        self, params: FloatArray, x: FloatArray, t_x: FloatArray, big_t: FloatArray,
        times: FloatArray, discounts: FloatArray,
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


def _row_loglik(
    params: FloatArray, x: FloatArray, t_x: FloatArray, big_t: FloatArray, *, with_grad: bool = True
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Per-row log-likelihood, its gradient (n, 4) in natural parameters, and P(alive).

    ``L = Γ(r+x) α^r β^s / Γ(r) · [(α+T)^-(r+x) (β+T)^-s + s (J(t_x) - J(T))]``.
    """
    r, alpha, s, beta = params
    rx = r + x
    log_a_t = np.log(alpha + big_t)
    log_b_t = np.log(beta + big_t)
    log_c = gammaln(rx) - gammaln(r) + r * np.log(alpha) + s * np.log(beta)
    log_alive_term = -rx * log_a_t - s * log_b_t
    log_j_tx, grad_tx = pareto_log_tail_integral(t_x, x, r, alpha, s, beta)
    log_j_t, grad_t = pareto_log_tail_integral(big_t, x, r, alpha, s, beta)
    log_s = np.log(s)
    top = np.maximum(log_alive_term, log_s + log_j_tx)
    e_alive = np.exp(log_alive_term - top)
    e_tx = s * np.exp(log_j_tx - top)
    e_t = s * np.exp(log_j_t - top)
    # J(t_x) >= J(T); equal (and exactly cancelling) when t_x == T.
    norm = e_alive + np.maximum(e_tx - e_t, 0.0)
    loglik = log_c + top + np.log(norm)
    alive = e_alive / norm
    if not with_grad:
        return loglik, np.empty((0, 4)), alive
    w_alive, w_tx, w_t = alive, e_tx / norm, e_t / norm
    grad = (w_tx[:, None] * grad_tx) - (w_t[:, None] * grad_t)
    grad[:, 0] += digamma(rx) - digamma(r) + np.log(alpha) - w_alive * log_a_t
    grad[:, 1] += r / alpha - w_alive * rx / (alpha + big_t)
    grad[:, 2] += np.log(beta) - w_alive * log_b_t + (w_tx - w_t) / s
    grad[:, 3] += s / beta - w_alive * s / (beta + big_t)
    return loglik, grad, alive
