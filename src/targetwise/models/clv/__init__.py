"""Customer lifetime value models: BG/NBD, Pareto/NBD, Gamma-Gamma and discounted CLV.

Pure estimators (numpy/scipy, no I/O). Time is in whatever unit the
frequency/recency/T summary uses; money in the unit of the spend input.
"""

from targetwise.models.clv._base import CLVWarning, CovarianceWarning, rfm_arrays, validate_rfm
from targetwise.models.clv.beta_geo import BetaGeo
from targetwise.models.clv.gamma_gamma import CORRELATION_WARNING_THRESHOLD, DependenceWarning, GammaGamma
from targetwise.models.clv.pareto_nbd import ParetoNBD
from targetwise.models.clv.simulate import simulate_beta_geo, simulate_pareto_nbd
from targetwise.models.clv.value import customer_lifetime_value

__all__ = [
    "CORRELATION_WARNING_THRESHOLD",
    "BetaGeo",
    "CLVWarning",
    "CovarianceWarning",
    "DependenceWarning",
    "GammaGamma",
    "ParetoNBD",
    "customer_lifetime_value",
    "rfm_arrays",
    "simulate_beta_geo",
    "simulate_pareto_nbd",
    "validate_rfm",
]
