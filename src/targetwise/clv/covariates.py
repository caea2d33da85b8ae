"""BG/NBD, Pareto/NBD and Gamma-Gamma with time-invariant covariates, by exact maximum likelihood.

Fader & Hardie, "Incorporating Time-Invariant Covariates into the Pareto/NBD and BG/NBD
Models" (2007, brucehardie.com note 023): a covariate enters a model through the scale of
its population distribution, so each customer keeps the closed-form likelihood of the
plain model with customer-specific parameters:

* purchase process (both models): ``alpha_i = alpha0 · exp(-gamma1' x1_i)``, so a positive
  coefficient raises the mean purchase rate ``r / alpha_i``;
* BG/NBD dropout: ``a_i = a0 · exp(gamma2' x2_i)`` and ``b_i = b0 · exp(gamma3' x2_i)``
  (two coefficient vectors on the same dropout covariates, as in the note);
* Pareto/NBD dropout: ``beta_i = beta0 · exp(-gamma2' x2_i)`` (positive: a higher death rate
  ``s / beta_i``);
* Gamma-Gamma spend (the same device on its scale): ``v_i = v0 · exp(gamma' x_i)``, so the
  mean spend ``p v_i / (q - 1)`` is multiplied by ``exp(gamma' x_i)``.

``params_`` holds ``r, alpha, a, b`` (resp. ``r, alpha, s, beta``; ``p, q, v``) at covariates
0, named as in the plain models; ``coefficients_`` the gammas by process and covariate;
``summary()`` both with standard errors from the observed information (a central finite
difference of the analytic gradient). Covariates are a DataFrame with named numeric columns
(or a 2-D array, named ``x0, x1, ...``); categorical attributes enter one-hot
(:func:`one_hot_covariates`). The optimiser works on centred, scaled covariates (reported
back in the caller's units) and starts at gamma = 0, the plain model. A covariate that is
constant over the customers is not identified next to the intercept: its coefficient is
fixed at 0 (a :class:`CovariateWarning`, SE NaN), which makes a fit whose covariates are all
constant the plain model's fit exactly.

Customers with the same covariate row form a group; with few groups (one-hot attributes) the
likelihood is the plain model's compressed likelihood per group, otherwise it is evaluated
per distinct (x, t_x, T, covariates) row. Predictions go through :meth:`group_models`: one
plain model per distinct covariate row, with that row's parameters and their covariance.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from targetwise.clv import beta_geo as _bg
from targetwise.clv import pareto_nbd as _pnbd
from targetwise.clv._base import FloatArray, require_repeat_buyers, validate_rfm
from targetwise.clv._covariate_base import CovariateWarning, _CovariateModel, covariate_matrix
from targetwise.clv.beta_geo import BetaGeo, _check_horizon
from targetwise.clv.gamma_gamma import GammaGamma, validate_spend
from targetwise.clv.pareto_nbd import ParetoNBD

__all__ = [
    "CovariateBetaGeo",
    "CovariateGammaGamma",
    "CovariateParetoNBD",
    "CovariateWarning",
    "covariate_matrix",
]


class _TransactionCovariates(_CovariateModel):
    _roles_doc = ("purchase", "dropout")

    def __init__(
        self,
        *,
        purchase_covariates: Sequence[str] | None = None,
        dropout_covariates: Sequence[str] | None = None,
        penalizer_coef: float = 0.0,
        max_iter: int = 2000,
        tol: float = 1e-10,
    ) -> None:
        super().__init__(penalizer_coef=penalizer_coef, max_iter=max_iter, tol=tol)
        self.purchase_covariates = purchase_covariates
        self.dropout_covariates = dropout_covariates

    def fit(
        self, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike, covariates: Any, *, weights: ArrayLike | None = None
    ) -> _TransactionCovariates:
        """Fit on a calibration summary and one covariate row per customer."""
        x, t_x, big_t = validate_rfm(frequency, recency, T)
        counts = np.ones_like(x) if weights is None else _bg._check_weights(weights, x.shape[0])
        require_repeat_buyers(type(self).__name__, x, counts)
        mean_rate = float(np.sum(counts * x) / max(np.sum(counts * big_t), 1e-12))
        self._fit_covariates((x, t_x, big_t), covariates, weights, self._initial(mean_rate))
        return self

    def _initial(self, mean_rate: float) -> FloatArray:
        raise NotImplementedError

    def prob_alive(self, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike, covariates: Any) -> FloatArray:
        """P(alive at T | x, t_x, T, covariates)."""
        x, t_x, big_t = validate_rfm(frequency, recency, T)
        return self._per_group(covariates, x.shape[0], lambda m, s: m.prob_alive(x[s], t_x[s], big_t[s]))

    def expected_purchases(
        self, t: float, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike, covariates: Any
    ) -> FloatArray:
        """E[purchases in (T, T+t] | x, t_x, T, covariates]."""
        horizon = _check_horizon(t)
        x, t_x, big_t = validate_rfm(frequency, recency, T)
        return self._per_group(
            covariates, x.shape[0], lambda m, s: m.expected_purchases(horizon, x[s], t_x[s], big_t[s])
        )


class CovariateBetaGeo(_TransactionCovariates):
    """BG/NBD with covariates (Fader & Hardie 2007): ``alpha_i = alpha0·exp(-γ1'x1)``,
    ``a_i = a0·exp(γ2'x2)``, ``b_i = b0·exp(γ3'x2)``.

    Example::

        model = CovariateBetaGeo().fit(frequency, recency, T, covariates)   # DataFrame, named columns
        model.coefficients_   # {'purchase': {...}, 'dropout_a': {...}, 'dropout_b': {...}}
        model.summary()       # every parameter with its standard error
    """

    _base_cls = BetaGeo
    _param_names = ("r", "alpha", "a", "b")
    _blocks_spec = (
        ("purchase", "alpha", -1.0, "purchase"),
        ("dropout_a", "a", 1.0, "dropout"),
        ("dropout_b", "b", 1.0, "dropout"),
    )

    def _initial(self, mean_rate: float) -> FloatArray:
        return np.array([1.0, 1.0 / max(mean_rate, 1e-6), 1.0, 1.0])

    def _group_columns(self, rows: tuple[FloatArray, ...], weights: FloatArray) -> tuple[Any, ...]:
        return _bg.prepare_summary(*rows, weights)

    def _group_loglik(self, params: FloatArray, columns: tuple[Any, ...], weights: FloatArray) -> tuple[float, FloatArray]:
        return _bg._loglik(params, columns, weights)

    def _rows_loglik(self, params: FloatArray, rows: tuple[FloatArray, ...]) -> tuple[FloatArray, FloatArray]:
        return _bg._row_loglik(tuple(params.T), *rows)  # type: ignore[arg-type]


class CovariateParetoNBD(_TransactionCovariates):
    """Pareto/NBD with covariates (Fader & Hardie 2007): ``alpha_i = alpha0·exp(-γ1'x1)``,
    ``beta_i = beta0·exp(-γ2'x2)``; coefficients under ``purchase`` and ``dropout``."""

    _base_cls = ParetoNBD
    _param_names = ("r", "alpha", "s", "beta")
    _blocks_spec = (("purchase", "alpha", -1.0, "purchase"), ("dropout", "beta", -1.0, "dropout"))

    def _initial(self, mean_rate: float) -> FloatArray:
        scale = 1.0 / max(mean_rate, 1e-6)
        return np.array([1.0, scale, 1.0, scale])

    def _group_columns(self, rows: tuple[FloatArray, ...], weights: FloatArray) -> tuple[Any, ...]:
        return _pnbd.prepare_summary(*rows)

    def _group_loglik(self, params: FloatArray, columns: tuple[Any, ...], weights: FloatArray) -> tuple[float, FloatArray]:
        return _pnbd._loglik(params, columns, weights)

    def _rows_loglik(self, params: FloatArray, rows: tuple[FloatArray, ...]) -> tuple[FloatArray, FloatArray]:
        return _pareto_rows(params, *rows)


def _pareto_rows(params: FloatArray, x: FloatArray, t_x: FloatArray, big_t: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Pareto/NBD log-likelihood and gradient per row with per-row ``(r, alpha, s, beta)`` (n, 4)."""
    from scipy.special import digamma, gammaln

    from targetwise.clv._special import pareto_log_tail_integral

    r, alpha, s, beta = params.T
    n = x.shape[0]

    def tail(u: FloatArray) -> tuple[FloatArray, FloatArray]:
        log_j, grad = np.empty(n), np.empty((n, 4))
        for part in (alpha >= beta, alpha < beta):
            if part.any():
                log_j[part], grad[part] = pareto_log_tail_integral(
                    u[part], x[part], r[part], alpha[part], s[part], beta[part]  # type: ignore[arg-type]
                )
        return log_j, grad

    rx = r + x
    log_a_t, log_b_t = np.log(alpha + big_t), np.log(beta + big_t)
    log_alive_term = -rx * log_a_t - s * log_b_t
    log_j_tx, grad_tx = tail(t_x)
    log_j_t, grad_t = tail(big_t)
    top = np.maximum(log_alive_term, np.log(s) + log_j_tx)
    e_alive = np.exp(log_alive_term - top)
    e_tx = s * np.exp(log_j_tx - top)
    e_t = s * np.exp(log_j_t - top)
    norm = e_alive + np.maximum(e_tx - e_t, 0.0)
    log_c = gammaln(rx) - gammaln(r) + r * np.log(alpha) + s * np.log(beta)
    loglik = log_c + top + np.log(norm)
    w_alive, w_tx, w_t = e_alive / norm, e_tx / norm, e_t / norm
    grad = (w_tx[:, None] * grad_tx) - (w_t[:, None] * grad_t)
    grad[:, 0] += digamma(rx) - digamma(r) + np.log(alpha) - w_alive * log_a_t
    grad[:, 1] += r / alpha - w_alive * rx / (alpha + big_t)
    grad[:, 2] += np.log(beta) - w_alive * log_b_t + (w_tx - w_t) / s
    grad[:, 3] += s / beta - w_alive * s / (beta + big_t)
    return loglik, grad


class CovariateGammaGamma(_CovariateModel):
    """Gamma-Gamma with covariates on spend: ``v_i = v0·exp(γ'x_i)`` (mean spend × exp(γ'x_i)).

    Fitted on repeat buyers like :class:`~targetwise.clv.GammaGamma`; coefficients under ``spend``.
    """

    _base_cls = GammaGamma
    _param_names = ("p", "q", "v")
    _blocks_spec = (("spend", "v", 1.0, "spend"),)
    _convergence_fix = GammaGamma._convergence_fix

    def __init__(
        self, *, spend_covariates: Sequence[str] | None = None, penalizer_coef: float = 0.0, max_iter: int = 2000,
        tol: float = 1e-10,
    ) -> None:
        super().__init__(penalizer_coef=penalizer_coef, max_iter=max_iter, tol=tol)
        self.spend_covariates = spend_covariates

    def fit(
        self, frequency: ArrayLike, monetary_value: ArrayLike, covariates: Any, *, weights: ArrayLike | None = None
    ) -> CovariateGammaGamma:
        """Fit on repeat buyers (frequency > 0), their mean repeat-transaction value and covariates."""
        x, spend = validate_spend(frequency, monetary_value, for_fit=True)
        counts = np.ones_like(x) if weights is None else _bg._check_weights(weights, x.shape[0])
        mean_spend = float(np.sum(counts * spend) / counts.sum())
        self._fit_covariates((x, spend), covariates, weights, np.array([1.0, 2.0, mean_spend]))
        return self

    def _group_columns(self, rows: tuple[FloatArray, ...], weights: FloatArray) -> tuple[Any, ...]:
        return rows

    def _group_loglik(self, params: FloatArray, columns: tuple[Any, ...], weights: FloatArray) -> tuple[float, FloatArray]:
        return GammaGamma._loglik(self, params, columns, weights)  # type: ignore[arg-type]

    def _rows_loglik(self, params: FloatArray, rows: tuple[FloatArray, ...]) -> tuple[FloatArray, FloatArray]:
        from scipy.special import digamma, gammaln

        p, q, v = params.T
        x, spend = rows
        px = p * x
        log_spend, log_x, log_total = np.log(spend), np.log(x), np.log(x * spend + v)
        loglik = (gammaln(px + q) - gammaln(px) - gammaln(q) + q * np.log(v) + (px - 1.0) * log_spend
                  + px * log_x - (px + q) * log_total)
        psi_pq = digamma(px + q)
        grad = np.empty((x.shape[0], 3))
        grad[:, 0] = x * (psi_pq - digamma(px) + log_spend + log_x - log_total)
        grad[:, 1] = psi_pq - digamma(q) + np.log(v) - log_total
        grad[:, 2] = q / v - (px + q) / (x * spend + v)
        return loglik, grad

    def expected_spend(self, frequency: ArrayLike, monetary_value: ArrayLike, covariates: Any) -> FloatArray:
        """E[mean transaction value | x, m̄, covariates] (the group's population mean for x = 0)."""
        x, spend = validate_spend(frequency, monetary_value, for_fit=False)
        return self._per_group(covariates, x.shape[0], lambda m, s: m.expected_spend(x[s], spend[s]))  # type: ignore[attr-defined]
