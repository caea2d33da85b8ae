"""Gamma-Gamma spend model (Fader, Hardie & Lee 2005, "RFM and CLV: Using Iso-Value Curves").

A customer's transaction values are Gamma(p, ν) with ν ~ Gamma(q, v) across
customers; the model is fitted on repeat buyers' mean repeat-transaction value
``m̄`` and their number of repeat transactions ``x``. It assumes spend is
independent of purchase frequency: :class:`DependenceWarning` flags data where
that looks broken. Money is in the unit of ``monetary_value`` (e.g. USD).
"""

from __future__ import annotations

import warnings

import numpy as np
from numpy.typing import ArrayLike
from scipy.special import digamma, gammaln

from targetwise.clv._base import (
    CLVWarning,
    FloatArray,
    MaximumLikelihoodModel,
    as_column,
    check_finite,
    compress_rows,
    fail_at,
)
from targetwise.errors import DataValidationError, ModelError

__all__ = ["CORRELATION_WARNING_THRESHOLD", "DependenceWarning", "GammaGamma"]

#: |Pearson r| between frequency and mean spend above which the independence assumption is flagged.
CORRELATION_WARNING_THRESHOLD = 0.3


class DependenceWarning(CLVWarning):
    """Frequency and mean spend are correlated: Gamma-Gamma's independence assumption looks broken."""


def validate_spend(
    frequency: ArrayLike, monetary_value: ArrayLike, *, for_fit: bool
) -> tuple[FloatArray, FloatArray]:
    """Check (frequency, monetary_value); in fit, only repeat buyers with positive spend are allowed."""
    x, x_labels = as_column(frequency, "frequency")
    spend, spend_labels = as_column(monetary_value, "monetary_value")
    if x.shape != spend.shape:
        raise DataValidationError(
            f"frequency and monetary_value must have the same length, got {x.shape[0]} and {spend.shape[0]}",
            fix="pass one value per customer in both inputs",
        )
    if x.shape[0] == 0:
        raise DataValidationError(
            "no customers: frequency and monetary_value are empty", fix="pass at least one customer"
        )
    check_finite(x, x_labels, "frequency")
    check_finite(spend, spend_labels, "monetary_value")
    fail_at(
        x < 0, x, x_labels, "frequency", "must not be negative", "frequency counts repeat purchases (>= 0)"
    )
    fail_at(
        x != np.round(x),
        x,
        x_labels,
        "frequency",
        "must be a whole number of repeat purchases",
        "frequency counts repeat transactions, an integer",
    )
    if for_fit:
        fail_at(
            x == 0,
            x,
            x_labels,
            "frequency",
            "is 0: Gamma-Gamma is fitted on repeat buyers only",
            "fit on customers with frequency > 0, e.g. GammaGamma().fit(f[f > 0], m[f > 0])",
        )
        fail_at(
            spend <= 0,
            spend,
            spend_labels,
            "monetary_value",
            "is not positive: the Gamma-Gamma model needs a positive mean transaction value",
            "drop refunds/zero-value customers (or net them out upstream) before fitting",
        )
    else:
        fail_at(
            (x > 0) & (spend <= 0),
            spend,
            spend_labels,
            "monetary_value",
            "is not positive for a repeat buyer",
            "a repeat buyer's mean transaction value must be > 0; drop refunds or zero-value customers",
        )
    return x, spend


class GammaGamma(MaximumLikelihoodModel):
    """Gamma-Gamma spend model by maximum likelihood (lifetimes' ``GammaGammaFitter`` API).

    Example (CDNOW, 946 repeat buyers)::

        model = GammaGamma().fit(frequency, monetary_value)
        model.params_   # {'p': 6.25, 'q': 3.74, 'v': 15.44}
        model.expected_spend(frequency, monetary_value)  # conditional mean spend per transaction
    """

    _param_names = ("p", "q", "v")
    _edge_params = ("q",)
    _convergence_fix = (
        "set penalizer_coef to a small value (e.g. 0.001), or fit on more repeat buyers whose mean "
        "spend varies (identical spends give no information on the spend distribution)"
    )

    def fit(
        self, frequency: ArrayLike, monetary_value: ArrayLike, *, weights: ArrayLike | None = None
    ) -> GammaGamma:
        """Fit on repeat buyers (frequency > 0) and their mean repeat-transaction value."""
        x, spend = validate_spend(frequency, monetary_value, for_fit=True)
        self.frequency_spend_correlation_ = _correlation(x, spend)
        if abs(self.frequency_spend_correlation_) > CORRELATION_WARNING_THRESHOLD:
            warnings.warn(
                f"frequency and monetary_value have Pearson correlation {self.frequency_spend_correlation_:.3f} "
                f"(|r| > {CORRELATION_WARNING_THRESHOLD}): Gamma-Gamma assumes spend is independent of "
                "purchase frequency, so its expected spend may be biased; check the segments driving the "
                "correlation or model spend another way",
                DependenceWarning,
                stacklevel=2,
            )
        if weights is None:
            (x, spend), counts, _ = compress_rows(x, spend)
        else:
            from targetwise.clv.beta_geo import _check_weights

            counts = _check_weights(weights, x.shape[0])
        self.n_customers_ = round(counts.sum())
        mean_spend = float(np.sum(counts * spend) / counts.sum())
        # Moment-style start: mean spend = p v / (q - 1) with p = 1, q = 2.
        initial = np.array([1.0, 2.0, mean_spend])
        self._maximise(initial, (x, spend), counts)
        return self

    def _loglik(
        self, params: FloatArray, columns: tuple[FloatArray, ...], weights: FloatArray
    ) -> tuple[float, FloatArray]:
        p, q, v = params
        x, spend = columns
        px = p * x
        log_spend = np.log(spend)
        log_x = np.log(x)
        log_total = np.log(x * spend + v)
        loglik = (
            gammaln(px + q)
            - gammaln(px)
            - gammaln(q)
            + q * np.log(v)
            + (px - 1.0) * log_spend
            + px * log_x
            - (px + q) * log_total
        )
        psi_pq = digamma(px + q)
        grad = np.empty((x.shape[0], 3))
        grad[:, 0] = x * (psi_pq - digamma(px) + log_spend + log_x - log_total)
        grad[:, 1] = psi_pq - digamma(q) + np.log(v) - log_total
        grad[:, 2] = q / v - (px + q) / (x * spend + v)
        return float(weights @ loglik), weights @ grad

    def expected_spend(self, frequency: ArrayLike, monetary_value: ArrayLike) -> FloatArray:
        """E[mean transaction value | x, m̄] = (p v + p x m̄) / (p x + q - 1); the population mean for x = 0.

        Refuses (``ModelError``) a fit with ``q <= 1``, where the mean spend is undefined.
        """
        p, q, v = self._param_array()
        self._check_mean_defined(q)
        x, spend = validate_spend(frequency, monetary_value, for_fit=False)
        spend = np.where(x > 0, spend, 0.0)
        return (p * v + p * x * spend) / (p * x + q - 1.0)

    def population_mean_spend(self) -> float:
        """E[transaction value] of a new customer: p v / (q - 1)."""
        p, q, v = self._param_array()
        self._check_mean_defined(q)
        return float(p * v / (q - 1.0))

    @staticmethod
    def _check_mean_defined(q: float) -> None:
        if q <= 1.0:
            raise ModelError(
                f"Gamma-Gamma fitted q = {q:.4g} <= 1: the expected spend (p v / (q - 1)) is undefined or negative",
                fix="the spend distribution is too heavy-tailed for this model; cap extreme mean spends "
                "(and report how many), fit on a more homogeneous segment, or use a penalizer_coef",
            )


def _correlation(x: FloatArray, spend: FloatArray) -> float:
    if x.shape[0] < 3 or np.std(x) == 0 or np.std(spend) == 0:
        return 0.0
    return float(np.corrcoef(x, spend)[0, 1])
