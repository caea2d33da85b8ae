"""Draw customer summaries from BG/NBD and Pareto/NBD with known parameters.

Vectorised (no per-customer loop), for parameter-recovery tests, benchmarks and
what-if studies. Times are in the unit the parameters imply (``alpha``/``beta``
carry it). ``time_resolution`` records recency on a grid (e.g. ``1/7`` week =
one day) the way a transaction log does, which lets the fit compress
customers; ``None`` keeps exact times. Parameters may also be arrays with one value per
customer (e.g. ``alpha0 * exp(-x @ gamma)`` to simulate the covariate models).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from targetwise.errors import DataValidationError

__all__ = ["simulate_beta_geo", "simulate_pareto_nbd"]


def _observation_lengths(T: ArrayLike, n_customers: int) -> np.ndarray:
    lengths = np.broadcast_to(np.asarray(T, dtype=np.float64), (n_customers,)).copy()
    if not np.all(np.isfinite(lengths)) or np.any(lengths <= 0):
        raise DataValidationError(
            "T (observation length per customer) must be finite and positive",
            fix="pass one positive length, or one per customer",
        )
    return lengths


def _positive(**params: float | np.ndarray) -> None:
    for name, value in params.items():
        if not (np.all(np.isfinite(value)) and np.all(np.asarray(value) > 0)):
            raise DataValidationError(
                f"parameter {name} must be positive, got {value!r}", fix="use positive parameters"
            )


def _record(x: np.ndarray, t_x: np.ndarray, big_t: np.ndarray, resolution: float | None) -> pd.DataFrame:
    if resolution is not None:
        t_x = np.round(t_x / resolution) * resolution
        t_x = np.minimum(t_x, big_t)
    return pd.DataFrame({"frequency": x.astype(np.float64), "recency": t_x, "T": big_t})


def _order_statistic(rng: np.random.Generator, x: np.ndarray, n: np.ndarray) -> np.ndarray:
    """The x-th smallest of n uniforms on (0, 1) (0 where x = 0): Beta(x, n - x + 1)."""
    out = np.zeros(x.shape[0])
    repeat = x > 0
    out[repeat] = rng.beta(x[repeat], n[repeat] - x[repeat] + 1.0)
    return out


def simulate_beta_geo(
    n_customers: int,
    *,
    r: float,
    alpha: float | np.ndarray,
    a: float | np.ndarray,
    b: float | np.ndarray,
    T: ArrayLike,
    time_resolution: float | None = None,
    random_state: int | np.random.Generator | None = None,
) -> pd.DataFrame:
    """``frequency, recency, T`` for ``n_customers`` drawn from BG/NBD(r, alpha, a, b).

    λ ~ Gamma(r, rate α); p ~ Beta(a, b); a customer makes Poisson(λ) purchases
    and drops out after each repeat purchase with probability p, so the number of
    repeat purchases before dropout is Geometric(p) and the observed count is
    ``min(Geometric(p), Poisson(λT))``; its time is an order statistic of uniforms.
    """
    _positive(r=r, alpha=alpha, a=a, b=b)
    rng = np.random.default_rng(random_state)
    big_t = _observation_lengths(T, n_customers)
    rate = rng.gamma(r, 1.0 / alpha, n_customers)
    dropout = rng.beta(a, b, n_customers)
    arrivals = rng.poisson(rate * big_t)
    before_dropout = rng.geometric(np.clip(dropout, 1e-300, 1.0))
    x = np.minimum(arrivals, before_dropout)
    t_x = big_t * _order_statistic(rng, x, arrivals)
    return _record(x, t_x, big_t, time_resolution)


def simulate_pareto_nbd(
    n_customers: int,
    *,
    r: float,
    alpha: float | np.ndarray,
    s: float | np.ndarray,
    beta: float | np.ndarray,
    T: ArrayLike,
    time_resolution: float | None = None,
    random_state: int | np.random.Generator | None = None,
) -> pd.DataFrame:
    """``frequency, recency, T`` drawn from Pareto/NBD(r, alpha, s, beta).

    λ ~ Gamma(r, rate α), μ ~ Gamma(s, rate β); lifetime τ ~ Exponential(μ); the
    customer buys Poisson(λ) during ``min(τ, T)``.
    """
    _positive(r=r, alpha=alpha, s=s, beta=beta)
    rng = np.random.default_rng(random_state)
    big_t = _observation_lengths(T, n_customers)
    rate = rng.gamma(r, 1.0 / alpha, n_customers)
    death_rate = rng.gamma(s, 1.0 / beta, n_customers)
    active = np.minimum(rng.exponential(1.0, n_customers) / death_rate, big_t)
    x = rng.poisson(rate * active)
    # The last of x uniform arrival times on (0, active): active · U^(1/x).
    t_x = np.where(x > 0, active * rng.random(n_customers) ** (1.0 / np.maximum(x, 1)), 0.0)
    return _record(x, t_x, big_t, time_resolution)
