"""Customer lifetime value with parameter-uncertainty intervals.

``CLV_i = E[spend per transaction]_i · Σ_k (E[X(t_k)] - E[X(t_(k-1))]) / (1 + d)^(t_k)``

The horizon ``H`` is split into steps ``t_k = step, 2·step, ..., H`` (the last
one may be shorter), in the *time unit of the fitted summary* (weeks if
frequency/recency/T were in weeks). ``d`` is the discount rate *per that time
unit*: a 10 % annual rate on weekly data is ``1.10 ** (1/52) - 1``. No month
length is assumed anywhere. This is lifetimes' ``customer_lifetime_value``
without its hidden 30-day months.

Intervals reflect parameter uncertainty only: ``n_draws`` parameter vectors are
drawn from the asymptotic normal of each fitted model's log-parameters (mean the
MLE, covariance the inverse observed information, ``log_covariance_``),
independently for the transaction and the spend model; each draw is pushed
through the same formula for every customer and the per-customer quantiles
``(1 ∓ interval)/2`` are reported. They do not include the Poisson noise of
future purchases (they bound the *expected* value, not the realised one).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from targetwise.clv._base import FloatArray, MaximumLikelihoodModel, validate_rfm
from targetwise.clv.beta_geo import BetaGeo
from targetwise.clv.gamma_gamma import GammaGamma, validate_spend
from targetwise.clv.nbd import NBD
from targetwise.clv.pareto_nbd import ParetoNBD
from targetwise.errors import DataValidationError, ModelError

__all__ = ["customer_lifetime_value", "horizon_steps"]

_MAX_CELLS = 5_000_000  # draws × customers held in memory at once (40 MB)


def horizon_steps(horizon: float, step: float) -> FloatArray:
    """Step end-times ``step, 2·step, ..., horizon`` (the last one clipped to ``horizon``)."""
    if not (np.isfinite(horizon) and horizon > 0):
        raise DataValidationError(
            f"horizon must be a positive number of time units, got {horizon!r}",
            fix="e.g. horizon=52 for one year when the model was fitted in weeks",
        )
    if not (np.isfinite(step) and 0 < step <= horizon):
        raise DataValidationError(
            f"step must be positive and at most the horizon ({horizon}), got {step!r}",
            fix="use step=1 to discount once per time unit",
        )
    n_full = int(np.floor(horizon / step + 1e-9))
    times = step * np.arange(1, n_full + 1, dtype=np.float64)
    if times.size == 0 or horizon - times[-1] > 1e-9 * horizon:
        times = np.append(times, horizon)
    times[-1] = horizon
    return times


def customer_lifetime_value(
    transaction_model: BetaGeo | ParetoNBD | NBD,
    spend_model: GammaGamma,
    frequency: ArrayLike,
    recency: ArrayLike,
    T: ArrayLike,
    monetary_value: ArrayLike,
    *,
    horizon: float,
    discount_rate: float,
    time_unit: str = "period",
    step: float = 1.0,
    interval: float | None = 0.8,
    n_draws: int = 200,
    random_state: int | np.random.Generator | None = None,
) -> pd.DataFrame:
    """Discounted expected value of each customer over the next ``horizon`` time units.

    Returns a DataFrame indexed like the inputs (a pandas index of ``frequency``
    if it has one) with ``expected_purchases`` (undiscounted, over the horizon),
    ``expected_spend`` (per transaction), ``clv`` and, when ``interval`` is set,
    ``clv_lower``/``clv_upper``. Settings are kept in ``frame.attrs``.

    Example: 52-week CLV at 10 %/year from weekly CDNOW fits::

        customer_lifetime_value(bgf, ggf, f, r, T, m, horizon=52,
                                discount_rate=1.10 ** (1 / 52) - 1, time_unit="week")
    """
    if not isinstance(transaction_model, BetaGeo | ParetoNBD | NBD):
        raise ModelError(
            f"transaction_model must be a fitted BetaGeo or ParetoNBD, got {type(transaction_model).__name__}",
            fix="fit BetaGeo() or ParetoNBD() (or NBD() when nobody lapses) on the calibration summary first",
        )
    if not isinstance(spend_model, GammaGamma):
        raise ModelError(
            f"spend_model must be a fitted GammaGamma, got {type(spend_model).__name__}",
            fix="fit GammaGamma() on the repeat buyers' frequency and mean spend first",
        )
    trans_params = transaction_model._param_array()
    spend_params = spend_model._param_array()
    spend_model._check_mean_defined(spend_params[1])
    if not (np.isfinite(discount_rate) and 0 <= discount_rate < 1):
        raise DataValidationError(
            f"discount_rate must be in [0, 1) per {time_unit}, got {discount_rate!r}",
            fix="give the rate per time unit of the fitted data, e.g. 1.10 ** (1/52) - 1 for 10 %/year on weeks",
        )
    if interval is not None and not (0 < interval < 1):
        raise DataValidationError(
            f"interval must be between 0 and 1 (e.g. 0.8 for an 80 % interval), got {interval!r}",
            fix="pass interval=0.8, or interval=None for point estimates only",
        )
    if interval is not None and not (isinstance(n_draws, int | np.integer) and n_draws >= 10):
        raise DataValidationError(
            f"n_draws must be an integer >= 10 to estimate interval quantiles, got {n_draws!r}",
            fix="use n_draws=200 (the default) or more for stable quantiles",
        )
    x, t_x, big_t = validate_rfm(frequency, recency, T)
    _x_spend, spend = validate_spend(frequency, monetary_value, for_fit=False)
    if spend.shape != x.shape:
        raise DataValidationError(
            f"monetary_value has {spend.shape[0]} values for {x.shape[0]} customers",
            fix="pass one mean transaction value per customer",
        )
    times = horizon_steps(horizon, step)
    discounts = (1.0 + discount_rate) ** (-times)

    purchases = transaction_model._discounted_expected_purchases(
        trans_params, x, t_x, big_t, times, discounts
    )
    undiscounted = transaction_model._discounted_expected_purchases(
        trans_params, x, t_x, big_t, times, np.ones_like(times)
    )
    expected_spend = _spend(spend_params, x, spend)
    index = frequency.index if isinstance(frequency, pd.Series) else None
    frame = pd.DataFrame(
        {
            "expected_purchases": undiscounted,
            "expected_spend": expected_spend,
            "clv": purchases * expected_spend,
        },
        index=index if index is not None else pd.RangeIndex(x.shape[0]),
    )
    attrs: dict[str, Any] = {
        "horizon": float(horizon),
        "time_unit": time_unit,
        "discount_rate": float(discount_rate),
        "step": float(step),
        "model": type(transaction_model).__name__,
    }
    if interval is not None:
        lower, upper, n_dropped = _interval(
            transaction_model,
            spend_model,
            x,
            t_x,
            big_t,
            spend,
            times,
            discounts,
            interval=interval,
            n_draws=int(n_draws),
            random_state=random_state,
        )
        frame["clv_lower"] = lower
        frame["clv_upper"] = upper
        attrs.update(
            {"interval": float(interval), "n_draws": int(n_draws), "n_draws_dropped_q_le_1": n_dropped}
        )
    frame.attrs.update(attrs)
    return frame


def _spend(params: FloatArray, x: FloatArray, spend: FloatArray) -> FloatArray:
    p, q, v = params
    spend = np.where(x > 0, spend, 0.0)
    return (p * v + p * x * spend) / (p * x + q - 1.0)


def _draw_log_params(model: MaximumLikelihoodModel, n_draws: int, rng: np.random.Generator) -> FloatArray:
    log_cov = getattr(model, "log_covariance_", None)
    if log_cov is None or not np.all(np.isfinite(log_cov)):
        raise ModelError(
            f"{type(model).__name__} has no usable covariance (not fitted here, or a singular information "
            "matrix), so CLV intervals cannot be computed",
            fix="refit the model on the data, add a small penalizer_coef, or pass interval=None",
        )
    mean = np.log(model._param_array())
    return rng.multivariate_normal(mean, log_cov, size=n_draws, method="cholesky")


def _interval(
    transaction_model: BetaGeo | ParetoNBD | NBD,
    spend_model: GammaGamma,
    x: FloatArray,
    t_x: FloatArray,
    big_t: FloatArray,
    spend: FloatArray,
    times: FloatArray,
    discounts: FloatArray,
    *,
    interval: float,
    n_draws: int,
    random_state: int | np.random.Generator | None,
) -> tuple[FloatArray, FloatArray, int]:
    rng = np.random.default_rng(random_state)
    trans_draws = np.exp(_draw_log_params(transaction_model, n_draws, rng))
    spend_draws = np.exp(_draw_log_params(spend_model, n_draws, rng))
    # q <= 1 leaves the mean spend undefined: such draws are dropped and counted.
    usable = spend_draws[:, 1] > 1.0
    trans_draws, spend_draws = trans_draws[usable], spend_draws[usable]
    n_dropped = int((~usable).sum())
    if trans_draws.shape[0] < 10:
        raise ModelError(
            f"only {trans_draws.shape[0]} of {n_draws} parameter draws have a defined mean spend (q > 1)",
            fix="the spend model is too uncertain for intervals; fit on more repeat buyers or pass interval=None",
        )
    # Customers sharing (x, t_x, T, m̄) share every draw: evaluate unique rows only.
    stacked = np.column_stack([x, t_x, big_t, np.where(x > 0, spend, 0.0)])
    unique, inverse = np.unique(stacked, axis=0, return_inverse=True)
    inverse = inverse.ravel()
    ux, utx, ut, um = (np.ascontiguousarray(unique[:, j]) for j in range(4))
    quantiles = [(1.0 - interval) / 2.0, (1.0 + interval) / 2.0]
    lower = np.empty(ux.shape[0])
    upper = np.empty(ux.shape[0])
    n_kept = trans_draws.shape[0]
    chunk = max(1, _MAX_CELLS // n_kept)
    for start in range(0, ux.shape[0], chunk):
        rows = slice(start, start + chunk)
        values = np.empty((n_kept, ux[rows].shape[0]))
        for k in range(n_kept):
            purchases = transaction_model._discounted_expected_purchases(
                trans_draws[k], ux[rows], utx[rows], ut[rows], times, discounts
            )
            values[k] = purchases * _spend(spend_draws[k], ux[rows], um[rows])
        lower[rows], upper[rows] = np.quantile(values, quantiles, axis=0)
    return lower[inverse], upper[inverse], n_dropped
