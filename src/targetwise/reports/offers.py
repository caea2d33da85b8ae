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
from targetwise.reports.figures import figure_to_data_uri, new_axes
from targetwise.usecases.offers import (
    ESTIMATOR_LABELS,
    POLICY_LABELS,
    evaluate_offers,
    list_offers,
    offer_regret_curves,
)
from targetwise.usecases.runs import RunData

__all__ = ["offers_section", "plot_regret", "regret_figure"]

_CURVE_LABELS = {"thompson": "linear Thompson sampling (the default)", "linucb": "LinUCB", "uniform": "uniform random"}


def plot_regret(curves: dict[str, list[float]]) -> Any:
    """Regret per decision by round, one line per policy (uniform dashed); the axes."""
    ax = new_axes(5.5, 3.2)
    for name, values in curves.items():
        ax.plot(range(1, len(values) + 1), values, marker="o", ms=3, label=_CURVE_LABELS.get(name, name),
                ls="--" if name == "uniform" else "-", color={"uniform": "#999"}.get(name))
    ax.set_xlabel("round (1,000 new customers each)")
    ax.set_ylabel("regret per decision")
    ax.set_ylim(bottom=0)
    ax.legend(frameon=False, fontsize=8)
    ax.spines[["top", "right"]].set_visible(False)
    return ax


def regret_figure(n_offers: int, random_state: int = 0) -> tuple[str, dict[str, list[float]]]:
    """The regret curves of :func:`~targetwise.usecases.offers.offer_regret_curves` as a PNG data URI, and
    the curves."""
    curves = offer_regret_curves(n_offers, random_state=random_state)
    return figure_to_data_uri(plot_regret(curves).figure), curves


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
    live = sum(o.live for o in offers) or len(offers)
    regret_png, curves = regret_figure(live, random_state=workspace.settings.random_state)
    return {"offers": offers, "evaluation": evaluation, "gains": evaluation.gains(), "problem": None,
            "policies": POLICY_LABELS, "estimators": ESTIMATOR_LABELS, "regret_png": regret_png,
            "regret": curves, "regret_offers": live}
