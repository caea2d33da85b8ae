"""NBD (Poisson-Gamma) purchase model without dropout: the BTYD model when nobody lapses.

Ehrenberg (1959); Morrison & Schmittlein (1988). A customer buys at Poisson rate
λ ~ Gamma(r, α) and never drops out. It is the edge of both dropout models: BG/NBD as
``a → 0`` (dropout probability ``a/(a+b) → 0``) and Pareto/NBD as ``s → 0`` (no deaths),
where their likelihoods become this one. So when a BG/NBD or Pareto/NBD fit runs to that
edge because nobody in the data lapses, this two-parameter model is the one the data
supports, with (at most) the same maximum likelihood. ``α`` carries the time unit.

Per customer the likelihood of ``(x, t_x, T)`` is ``Γ(r+x) α^r / (Γ(r) (α+T)^(r+x))`` (the
BG/NBD's with ``a = 0``; recency carries no information without dropout), so the posterior
purchase rate is Gamma(r+x, α+T) and ``E[X(T, T+t] | x, T] = t (r+x)/(α+T)``.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike
from scipy.special import digamma, gammaln

from targetwise.clv._base import FloatArray, MaximumLikelihoodModel, compress_rows, validate_rfm
from targetwise.clv.beta_geo import _check_horizon

__all__ = ["NBD"]


class NBD(MaximumLikelihoodModel):
    """No-dropout NBD purchase model by maximum likelihood; the prediction API of :class:`BetaGeo`.

    Example (days)::

        model = NBD().fit(frequency, recency, T)
        model.params_                                     # {'r': 14.5, 'alpha': 383.6}
        model.expected_purchases(365, frequency, recency, T)   # next year, per customer
        model.prob_alive(frequency, recency, T)           # 1 for everyone: nobody lapses
    """

    _param_names = ("r", "alpha")
    _convergence_fix = (
        "purchase rates barely vary between customers (r and alpha grow without bound); set penalizer_coef "
        "to a small value (e.g. 0.001) or fit on a longer history"
    )

    def fit(
        self, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike, *, weights: ArrayLike | None = None
    ) -> NBD:
        """Fit on a calibration summary (recency is validated but carries no information here)."""
        x, _t_x, big_t, counts, mean_rate = self._calibration_summary(frequency, recency, T, weights)
        (x, big_t), _, inverse = compress_rows(x, big_t)
        counts = np.bincount(inverse, weights=counts, minlength=x.shape[0])
        self._maximise(np.array([1.0, 1.0 / max(mean_rate, 1e-6)]), (x, big_t), counts)
        return self

    def _loglik(
        self, params: FloatArray, columns: tuple[FloatArray, ...], weights: FloatArray
    ) -> tuple[float, FloatArray]:
        r, alpha = params
        x, big_t = columns
        rx = r + x
        log_a_t = np.log(alpha + big_t)
        rows = gammaln(rx) - gammaln(r) + r * np.log(alpha) - rx * log_a_t
        grad = np.empty(2)
        grad[0] = float(weights @ (digamma(rx) - digamma(r) + np.log(alpha) - log_a_t))
        grad[1] = float(weights @ (r / alpha - rx / (alpha + big_t)))
        return float(weights @ rows), grad

    def log_likelihood_rows(self, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike) -> FloatArray:
        """Per-customer log-likelihood at the fitted parameters (comparable with BetaGeo's)."""
        r, alpha = self._param_array()
        x, _t_x, big_t = validate_rfm(frequency, recency, T)
        return gammaln(r + x) - gammaln(r) + r * np.log(alpha) - (r + x) * np.log(alpha + big_t)

    # --- predictions ---------------------------------------------------------------------
    def prob_alive(self, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike) -> FloatArray:
        """1 for every customer: the model has no dropout."""
        self._check_fitted()
        x, _t_x, _big_t = validate_rfm(frequency, recency, T)
        return np.ones_like(x)

    def expected_purchases(self, t: float, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike) -> FloatArray:
        """E[purchases in (T, T+t] | x, T] = t (r+x)/(α+T): the posterior mean rate times ``t``."""
        r, alpha = self._param_array()
        horizon = _check_horizon(t)
        x, _t_x, big_t = validate_rfm(frequency, recency, T)
        return horizon * (r + x) / (alpha + big_t)

    def expected_purchases_unconditional(self, t: ArrayLike) -> FloatArray | float:
        """E[X(t)] for a customer just acquired: r t / α."""
        r, alpha = self._param_array()
        value = r * _check_horizon(t) / alpha
        return float(value) if np.ndim(value) == 0 else value

    def expected_purchases_conditional_path(
        self, times: FloatArray, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike
    ) -> FloatArray:
        """Conditional expectations at several horizons, shape (len(times), n_customers)."""
        return np.stack([self.expected_purchases(float(t), frequency, recency, T) for t in np.asarray(times)])

    def _discounted_expected_purchases(
        self,
        params: FloatArray,
        x: FloatArray,
        t_x: FloatArray,
        big_t: FloatArray,
        times: FloatArray,
        discounts: FloatArray,
    ) -> FloatArray:
        """Σ_i (t_i - t_(i-1)) · discounts_i · (r+x)/(α+T) for each customer (inputs already validated)."""
        r, alpha = params
        steps = np.diff(np.concatenate(([0.0], np.asarray(times, dtype=np.float64))))
        return float(steps @ discounts) * (r + x) / (alpha + big_t)
