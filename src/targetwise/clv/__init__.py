"""Customer lifetime value models: BG/NBD, Pareto/NBD, the no-dropout NBD, Gamma-Gamma and discounted CLV.

With time-invariant covariates (Fader & Hardie 2007): ``CovariateBetaGeo``,
``CovariateParetoNBD``, ``CovariateGammaGamma`` (:mod:`targetwise.clv.covariates`).

Pure estimators (numpy/scipy, no I/O). Time is in whatever unit the
frequency/recency/T summary uses; money in the unit of the spend input.
Names follow lifetimes so users can switch::

    from targetwise.clv import BetaGeo, GammaGamma, customer_lifetime_value

    bgf = BetaGeo().fit(frequency, recency, T)            # any time unit, e.g. weeks
    ggf = GammaGamma().fit(frequency[frequency > 0], monetary_value[frequency > 0])
    clv = customer_lifetime_value(bgf, ggf, frequency, recency, T, monetary_value,
                                  horizon=52, discount_rate=0.0018, time_unit="week")
"""

from targetwise.clv._base import CLVWarning, CovarianceWarning, rfm_arrays, validate_rfm
from targetwise.clv.beta_geo import BetaGeo
from targetwise.clv.covariate_value import customer_lifetime_value_with_covariates, one_hot_covariates
from targetwise.clv.covariates import (
    CovariateBetaGeo,
    CovariateGammaGamma,
    CovariateParetoNBD,
    CovariateWarning,
)
from targetwise.clv.gamma_gamma import CORRELATION_WARNING_THRESHOLD, DependenceWarning, GammaGamma
from targetwise.clv.nbd import NBD
from targetwise.clv.pareto_nbd import ParetoNBD
from targetwise.clv.plotting import (
    calibration_holdout_table,
    plot_calibration_holdout,
    plot_prob_alive_matrix,
    plot_tracking,
    prob_alive_matrix,
    tracking_table,
)
from targetwise.clv.simulate import simulate_beta_geo, simulate_pareto_nbd
from targetwise.clv.value import customer_lifetime_value

__all__ = [
    "CORRELATION_WARNING_THRESHOLD",
    "NBD",
    "BetaGeo",
    "CLVWarning",
    "CovarianceWarning",
    "CovariateBetaGeo",
    "CovariateGammaGamma",
    "CovariateParetoNBD",
    "CovariateWarning",
    "DependenceWarning",
    "GammaGamma",
    "ParetoNBD",
    "calibration_holdout_table",
    "customer_lifetime_value",
    "customer_lifetime_value_with_covariates",
    "one_hot_covariates",
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
