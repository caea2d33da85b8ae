"""Uplift modelling: meta-learners, scikit-uplift-compatible metrics and repeated-split evaluation."""
