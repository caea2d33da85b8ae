"""Render HTML with the report templates (Jinja2, autoescaped)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape

import targetwise
from targetwise.io.profile import DataProfile
from targetwise.reports.figures import figure_to_data_uri, plot_lines_per_day

__all__ = ["environment", "profile_context", "render_profile_html"]


def environment() -> Environment:
    return Environment(
        loader=PackageLoader("targetwise.reports", "templates"),
        autoescape=select_autoescape(["html", "j2"]),
    )


def _base_context(title: str, workspace: Path | None) -> dict[str, Any]:
    return {
        "title": title,
        "generated_at": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "version": targetwise.__version__,
        "workspace": str(workspace) if workspace else None,
    }


def profile_context(profile: DataProfile) -> dict[str, Any]:
    ax = plot_lines_per_day(profile.lines_per_day)
    return {
        "p": profile,
        "lines_per_day_png": figure_to_data_uri(ax.figure),
        "top_products": profile.top_products.to_dict("records"),
    }


def render_profile_html(profile: DataProfile, *, workspace: Path | None = None) -> str:
    context = _base_context("targetwise data profile", workspace) | profile_context(profile)
    return environment().get_template("profile.html.j2").render(**context)
