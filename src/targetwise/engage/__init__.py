"""Engagement models: send time and channel per customer (:mod:`targetwise.engage.sendtime`)."""

from targetwise.engage.sendtime import HOUR_BANDS, SOURCES, SendTimeEstimator, hour_band

__all__ = ["HOUR_BANDS", "SOURCES", "SendTimeEstimator", "hour_band"]
