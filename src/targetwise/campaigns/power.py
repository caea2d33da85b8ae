"""Sample size per arm for a holdout test of a conversion rate (two-sided two-proportion z-test).

With baseline rate ``p1``, the rate to detect ``p2 = p1 + mde`` (``mde`` absolute: 0.01 is one
percentage point), ``z_a = z(1 - alpha/2)``, ``z_b = z(power)`` and ``p_bar = (p1 + p2) / 2``
(Fleiss, Levin & Paik, *Statistical Methods for Rates and Proportions*, 3rd ed., eq. 4.14,
without continuity correction)::

    n = (z_a * sqrt(2 p_bar (1 - p_bar)) + z_b * sqrt(p1 (1 - p1) + p2 (1 - p2)))^2 / mde^2

customers in each arm (treated and holdout), rounded up. Example: ``p1 = 0.10``, ``mde = 0.02``,
``alpha = 0.05``, power 0.8 give 3,841 per arm.

With CUPED (:mod:`targetwise.campaigns.cuped`) a pre-period covariate explaining the share
``r2`` of the outcome's variance shrinks every variance term by ``1 - r2``, so ``n`` becomes
``n * (1 - r2)`` (Deng et al. 2013), again rounded up; this assumes the same ``r2`` in both arms.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from scipy import stats

from targetwise.errors import ConfigError

__all__ = ["PowerPlan", "sample_size_two_proportions"]


#: The smallest absolute effect planned for: below it n per arm passes 10^11 (and 1/delta^2 overflows).
MIN_MDE = 1e-6


@dataclass(frozen=True)
class PowerPlan:
    """``n_per_arm``: customers needed in each of treated and holdout (with CUPED when ``cuped_r2`` > 0);
    ``n_per_arm_unadjusted``: the same without CUPED; ``n_total``: both arms."""

    baseline_rate: float
    mde: float
    target_rate: float
    alpha: float
    power: float
    cuped_r2: float
    n_per_arm: int
    n_per_arm_unadjusted: int
    n_total: int
    test: str = "two-sided two-proportion z-test (Fleiss eq. 4.14, no continuity correction)"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _share(value: float, name: str, fix: str, *, low_open: bool = True, high: float = 1.0) -> float:
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or not ((value > 0) if low_open else (value >= 0)) or not value < high:
        bounds = f"{'(' if low_open else '['}0, {high:g})"
        raise ConfigError(f"{name} must lie in {bounds}, got {value!r}", fix=fix)
    return float(value)


def sample_size_two_proportions(
    baseline_rate: float, mde: float, *, alpha: float = 0.05, power: float = 0.8, cuped_r2: float = 0.0
) -> PowerPlan:
    """Customers per arm to detect an absolute change ``mde`` of ``baseline_rate`` (see the module docstring)."""
    p1 = _share(baseline_rate, "baseline rate", "give the holdout's expected conversion rate, e.g. --baseline-rate 0.1")
    delta = _share(mde, "minimum detectable effect", "give an absolute change of the rate, e.g. --mde 0.01 (1 point)")
    if delta < MIN_MDE:
        raise ConfigError(
            f"minimum detectable effect {delta!r} is below {MIN_MDE:g}: no holdout can detect it "
            "(it would need over 10^11 customers per arm)",
            fix="give an absolute change of at least 0.000001, e.g. --mde 0.01 (1 point)",
        )
    p2 = p1 + delta
    if p2 >= 1:
        raise ConfigError(
            f"baseline rate {p1} + minimum detectable effect {delta} = {p2:.4g} is not a rate below 1",
            fix="lower --mde (it is absolute: 0.01 is one percentage point)",
        )
    a = _share(alpha, "alpha", "e.g. --alpha 0.05")
    b = _share(power, "power", "e.g. --power 0.8")
    r2 = _share(cuped_r2, "CUPED r2", "give the share of variance the pre-period explains, e.g. --cuped-r2 0.2",
                low_open=False)
    z_a = float(stats.norm.ppf(1 - a / 2))
    z_b = float(stats.norm.ppf(b))
    p_bar = (p1 + p2) / 2
    root = z_a * math.sqrt(2 * p_bar * (1 - p_bar)) + z_b * math.sqrt(p1 * (1 - p1) + p2 * (1 - p2))
    exact = root**2 / delta**2
    n_raw = math.ceil(exact - 1e-9)
    n = math.ceil(exact * (1 - r2) - 1e-9)
    return PowerPlan(
        baseline_rate=p1, mde=delta, target_rate=round(p2, 12), alpha=a, power=b, cuped_r2=r2, n_per_arm=n,
        n_per_arm_unadjusted=n_raw, n_total=2 * n,
    )
