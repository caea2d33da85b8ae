"""The report's next-best offers section: the off-policy evaluation of the learned policy against the logging
policy and uniform random, exactly as :func:`targetwise.usecases.offers.evaluate_offers` returns it with its
defaults (what ``targetwise offers evaluate --json``, ``GET /v1/offers/evaluate`` and the UI's offers page show).

The section is there only when the workspace has offers and rewarded decisions; otherwise there is nothing
to evaluate and the report leaves it out.
"""

from __future__ import annotations

from typing import Any

from targetwise.errors import ConfigError, DataValidationError, NotFoundError
from targetwise.io.workspace import Workspace
from targetwise.usecases.offers import ESTIMATOR_LABELS, POLICY_LABELS, evaluate_offers, list_offers
from targetwise.usecases.runs import RunData

__all__ = ["offers_section"]


def offers_section(workspace: Workspace, run: RunData) -> dict[str, Any] | None:
    """The catalogue and the evaluation for the report; None without offers or without a rewarded decision.

    A log that mixes reward kinds, or an offer whose eligibility cannot be read, has no evaluation: the section
    then says why and how to fix it.
    """
    offers = list_offers(workspace)
    if not offers:
        return None
    try:
        evaluation = evaluate_offers(workspace, run)
    except NotFoundError:  # no rewarded decision yet: nothing to evaluate
        return None
    except (ConfigError, DataValidationError) as exc:  # mixed reward kinds, an offer's bad eligibility
        return {"offers": offers, "evaluation": None, "problem": f"{exc.message} ({exc.fix})"}
    return {"offers": offers, "evaluation": evaluation, "gains": evaluation.gains(), "problem": None,
            "policies": POLICY_LABELS, "estimators": ESTIMATOR_LABELS}
