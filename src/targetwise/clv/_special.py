"""Numerically stable special-function pieces shared by the BTYD models.

The Pareto/NBD likelihood needs ``J(u) = ∫_u^∞ (α+τ)^-(r+x) (β+τ)^-(s+1) dτ``
(Fader & Hardie, "A Note on Deriving the Pareto/NBD Model and Related
Expressions", 2005, eq. for A0). Written with Gauss's hypergeometric function it
is ``(P+u)^-m / m · 2F1(m, e; m+1; z)`` with ``m = r+s+x`` and ``e`` either
``s+1`` or ``r+x``; for large ``x`` that series has terms near ``e^{x}`` and
overflows (the lifetimes failure). Applying Euler's transformation
``2F1(a,b;c;z) = (1-z)^{c-a-b} 2F1(c-a, c-b; c; z)`` gives

    log J(u) = -(r+x)·log(α+u) - s·log(β+u) - log m + log S      (α ≥ β)
    log J(u) = -(r+x-1)·log(α+u) - (s+1)·log(β+u) - log m + log S  (α < β)

with ``S = Σ_k (h)_k / (m+1)_k · z^k`` and ``h < m+1``: every term is positive and
at most ``z^k``, so the sum is bounded by ``1/(1-z)`` whatever the size of
``x``, ``T`` or the parameters, and its parameter derivatives are sums of
positive (or all negative) terms too: exact analytic gradients, no cancellation.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

__all__ = ["euler_series", "pareto_log_tail_integral"]

FloatArray = NDArray[np.float64]

#: Terms past this count are summed only for rows that still need them (z close to 1).
MAX_SERIES_TERMS = 20_000
_EPS = 1e-17


def euler_series(
    h: FloatArray, m1: FloatArray, z: FloatArray
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """``S = Σ_k (h)_k/(m1)_k z^k`` and its derivatives in ``h``, ``m1`` and ``z``.

    Requires ``0 < h < m1`` and ``0 <= z < 1`` elementwise. Summation stops per
    element once the next term is below ``1e-17`` of the running sum, so rows with
    small ``z`` cost a handful of iterations and only rows with ``z`` near 1 keep
    iterating (the active set shrinks as rows converge).
    """
    n = h.shape[0]
    total = np.ones(n)
    d_h = np.zeros(n)
    d_m = np.zeros(n)
    d_z = np.zeros(n)
    active = np.arange(n)
    hh, mm, zz = h, m1, z
    term = np.ones(n)  # t_k = c_k z^k
    cum_h = np.zeros(n)  # d log c_k / dh = Σ_{j<k} 1/(h+j)
    cum_m = np.zeros(n)  # d log c_k / dm1 = -Σ_{j<k} 1/(m1+j)
    s_loc, dh_loc, dm_loc, dz_loc = total, d_h, d_m, d_z
    for k in range(1, MAX_SERIES_TERMS + 1):
        ratio = (hh + (k - 1)) / (mm + (k - 1))
        cum_h = cum_h + 1.0 / (hh + (k - 1))
        cum_m = cum_m - 1.0 / (mm + (k - 1))
        u = term * ratio  # c_k z^(k-1): derivative of t_k in z is k*u
        term = u * zz
        s_loc = s_loc + term
        dh_loc = dh_loc + term * cum_h
        dm_loc = dm_loc + term * cum_m
        dz_loc = dz_loc + k * u
        if k % 8 == 0 or k == MAX_SERIES_TERMS:
            # The tail after term k is at most term*z/(1-z)·(1+log-growth of the cumulants).
            tail = (k + 1.0) * u * (1.0 + np.abs(cum_h) + np.abs(cum_m)) / np.maximum(1.0 - zz, 1e-300)
            done = tail <= _EPS * s_loc
            if done.any() or k == MAX_SERIES_TERMS:
                total[active] = s_loc
                d_h[active] = dh_loc
                d_m[active] = dm_loc
                d_z[active] = dz_loc
                if done.all() or k == MAX_SERIES_TERMS:
                    break
                keep = ~done
                active = active[keep]
                hh, mm, zz = hh[keep], mm[keep], zz[keep]
                term, cum_h, cum_m = term[keep], cum_h[keep], cum_m[keep]
                s_loc, dh_loc, dm_loc, dz_loc = s_loc[keep], dh_loc[keep], dm_loc[keep], dz_loc[keep]
    return total, d_h, d_m, d_z


def pareto_log_tail_integral(
    u: FloatArray, x: FloatArray, r: float, alpha: float, s: float, beta: float
) -> tuple[FloatArray, FloatArray]:
    """``log J(u)`` for the Pareto/NBD and its gradient in ``(r, alpha, s, beta)``.

    ``J(u) = ∫_u^∞ (α+τ)^-(r+x) (β+τ)^-(s+1) dτ``; ``u`` is a time (``t_x`` or ``T``)
    and ``x`` the repeat frequency, both arrays of the same length. Returns
    ``(log_j, grad)`` with ``grad`` of shape ``(n, 4)``. The parameters may be per-row arrays
    (the covariate models) provided ``alpha >= beta`` holds on all rows or on none.
    """
    m = r + s + x
    log_au = np.log(alpha + u)
    log_bu = np.log(beta + u)
    grad = np.empty((u.shape[0], 4))
    if np.all(np.asarray(alpha) >= beta):
        h = r + x
        z = (alpha - beta) / (alpha + u)
        series, s_h, s_m, s_z = euler_series(h, m + 1.0, z)
        log_j = -(r + x) * log_au - s * log_bu - np.log(m) + np.log(series)
        grad[:, 0] = -log_au - 1.0 / m + (s_h + s_m) / series
        grad[:, 1] = -(r + x) / (alpha + u) + s_z / series * (beta + u) / (alpha + u) ** 2
        grad[:, 2] = -log_bu - 1.0 / m + s_m / series
        grad[:, 3] = -s / (beta + u) - s_z / series / (alpha + u)
    else:
        h = s + 1.0 + np.zeros_like(x)
        z = (beta - alpha) / (beta + u)
        series, s_h, s_m, s_z = euler_series(h, m + 1.0, z)
        log_j = -(r + x - 1.0) * log_au - (s + 1.0) * log_bu - np.log(m) + np.log(series)
        grad[:, 0] = -log_au - 1.0 / m + s_m / series
        grad[:, 1] = -(r + x - 1.0) / (alpha + u) - s_z / series / (beta + u)
        grad[:, 2] = -log_bu - 1.0 / m + (s_h + s_m) / series
        grad[:, 3] = -(s + 1.0) / (beta + u) + s_z / series * (alpha + u) / (beta + u) ** 2
    return log_j, grad
