"""Engagement models: send time and channel per customer (:mod:`targetwise.engage.sendtime`), next-best
offer by contextual bandit (:mod:`targetwise.engage.offers`), its off-policy evaluation
(:mod:`targetwise.engage.ope`) and a simulator with planted rewards (:mod:`targetwise.engage.offer_simulator`)."""

from targetwise.engage.offer_simulator import OfferSimulator, RoundRecord, regret_curves, simulate_rounds
from targetwise.engage.offers import METHODS, OfferBandit, OfferDecisions
from targetwise.engage.ope import ESTIMATORS, PolicyValue, evaluate_policies
from targetwise.engage.sendtime import HOUR_BANDS, SOURCES, SendTimeEstimator, hour_band

__all__ = [
    "ESTIMATORS",
    "HOUR_BANDS",
    "METHODS",
    "SOURCES",
    "OfferBandit",
    "OfferDecisions",
    "OfferSimulator",
    "PolicyValue",
    "RoundRecord",
    "SendTimeEstimator",
    "evaluate_policies",
    "hour_band",
    "regret_curves",
    "simulate_rounds",
]
