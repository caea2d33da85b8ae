"""Customer lifetime value: the public facade of :mod:`targetwise.models.clv`.

Names follow lifetimes so users can switch::

    from targetwise.clv import BetaGeo, GammaGamma, customer_lifetime_value

    bgf = BetaGeo().fit(frequency, recency, T)            # any time unit, e.g. weeks
    ggf = GammaGamma().fit(frequency[frequency > 0], monetary_value[frequency > 0])
    clv = customer_lifetime_value(bgf, ggf, frequency, recency, T, monetary_value,
                                  horizon=52, discount_rate=0.0018, time_unit="week")
"""

from targetwise.models.clv import (
    CORRELATION_WARNING_THRESHOLD,
    BetaGeo,
    CLVWarning,
    CovarianceWarning,
    DependenceWarning,
    GammaGamma,
    ParetoNBD,
    customer_lifetime_value,
    rfm_arrays,
    simulate_beta_geo,
    simulate_pareto_nbd,
    validate_rfm,
)
from targetwise.models.clv.plotting import (
    calibration_holdout_table,
    plot_calibration_holdout,
    plot_prob_alive_matrix,
    plot_tracking,
    prob_alive_matrix,
    tracking_table,
)

__all__ = [
    "CORRELATION_WARNING_THRESHOLD",
    "BetaGeo",
    "CLVWarning",
    "CovarianceWarning",
    "DependenceWarning",
    "GammaGamma",
    "ParetoNBD",
    "calibration_holdout_table",
    "customer_lifetime_value",
    "plot_calibration_holdout",
    "plot_prob_alive_matrix",
    "plot_tracking",
    "prob_alive_matrix",
    "rfm_arrays",
    "simulate_beta_geo",
    "simulate_pareto_nbd",
    "tracking_table",
    "validate_rfm",
]
