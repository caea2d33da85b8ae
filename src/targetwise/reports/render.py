"""Render HTML with the report templates (Jinja2, autoescaped).

Templates format every number through :mod:`targetwise.presentation` (filters ``money``,
``count``, ``percent``, ``days``, ``plural``, ``human``, ``value``) and name every code name
through ``label`` with its ``definition`` as a tooltip, so the report reads in the
workspace's currency and in plain words.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape

import targetwise
from targetwise import presentation as pr
from targetwise.io.profile import DataProfile
from targetwise.presentation import Currency
from targetwise.reports.figures import figure_to_data_uri, plot_lines_per_day

__all__ = ["environment", "profile_context", "profile_currency", "render_profile_html"]


def environment(currency: Currency | None = None) -> Environment:
    """The template environment, its number filters writing amounts in ``currency``."""
    cur = currency or Currency()
    env = Environment(
        loader=PackageLoader("targetwise.reports", "templates"),
        autoescape=select_autoescape(["html", "j2"]),
    )
    env.filters.update(
        money=lambda v, decimals=0: pr.money(v, cur, decimals=decimals),
        money_compact=lambda v: pr.money(v, cur, compact=True),
        count=pr.count,
        percent=lambda v, digits=0: pr.percent(v, digits=digits),
        days=pr.days,
        plural=lambda n, singular, plural_form=None: pr.plural(n, singular, plural_form),
        human=pr.human_number,
        label=pr.label,
        definition=pr.definition,
        value=lambda v, name: pr.format_value(name, v, cur),
        param_label=lambda name, model: pr.parameter_label(model, name).label,
        param_definition=lambda name, model: pr.parameter_label(model, name).definition,
    )
    env.globals["currency"] = cur
    return env


def _base_context(title: str, workspace: Path | None) -> dict[str, Any]:
    return {
        "title": title,
        "generated_at": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "version": targetwise.__version__,
        "workspace": str(workspace) if workspace else None,
    }


def profile_currency(profile: DataProfile) -> Currency:
    return Currency(profile.currency_code, profile.currency_symbol)


def profile_context(profile: DataProfile) -> dict[str, Any]:
    ax = plot_lines_per_day(profile.lines_per_day)
    return {
        "p": profile,
        "lines_per_day_png": figure_to_data_uri(ax.figure),
        "top_products": profile.top_products.to_dict("records"),
    }


def render_profile_html(profile: DataProfile, *, workspace: Path | None = None) -> str:
    context = _base_context("Data profile", workspace) | profile_context(profile)
    return environment(profile_currency(profile)).get_template("profile.html.j2").render(**context)
