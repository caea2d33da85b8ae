"""Use cases: campaign copy for a saved audience (facts sheet, model variants, lints, drafts, approval).

``targetwise campaign copy`` and ``POST /v1/campaigns/copy`` call :func:`campaign_copy`;
``targetwise campaign copy approve`` and ``POST /v1/campaigns/copy/{id}/approve`` call
:func:`approve_copy`. The facts sheet (:func:`audience_facts`) is computed from the
run's outputs over the audience's members, profiling objections left out, and holds
aggregates only: no customer row, id or contact value is ever in it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pandas as pd

from targetwise.assist.brand import DEFAULT_BRAND, BrandRules, parse_brand_rules
from targetwise.assist.client import LLMClient
from targetwise.assist.copy import MAX_VARIANTS, copy_messages, generate_copy
from targetwise.assist.facts import Fact, FactSheet
from targetwise.assist.scrub import scrubber_for
from targetwise.errors import ConfigError, DataValidationError, Location
from targetwise.io import outputs as out
from targetwise.io.audiences import AudienceStore
from targetwise.io.audit import AuditLog
from targetwise.io.consent import opted_out
from targetwise.io.copy_drafts import CopyStore, read_brand_text
from targetwise.io.workspace import Workspace
from targetwise.presentation import Currency, count, days, money, percent
from targetwise.usecases.runs import RunData

__all__ = ["MAX_BRIEF", "CopyOutcome", "approve_copy", "audience_facts", "campaign_copy", "list_copy", "load_brand"]

MAX_BRIEF = 1000
T = TypeVar("T")


def _direct(action: Callable[[], T]) -> T:
    return action()


@dataclass(frozen=True)
class CopyOutcome:
    """What one copy request produced: the facts and prompt, and (unless a dry run) the saved set."""

    facts: FactSheet
    messages: list[dict[str, str]]
    brand: BrandRules
    record: dict[str, Any] | None
    dry_run: bool


def load_brand(ws: Workspace, path: Path | None = None) -> BrandRules:
    """The brand rules of ``path``, else the workspace's ``brand.toml`` if there is one, else the defaults."""
    chosen = path if path is not None else CopyStore(ws).brand_path()
    if path is None and not chosen.exists():
        return DEFAULT_BRAND
    return parse_brand_rules(read_brand_text(chosen), source=str(chosen))


def _mix(values: pd.Series, top: int = 3) -> str:
    shares = values.dropna().astype(str).value_counts(normalize=True, sort=True)
    shares = shares.sort_index(kind="stable").sort_values(ascending=False, kind="stable").head(top)
    return ", ".join(f"{name} {percent(share)}" for name, share in shares.items())


def _product_names(run: RunData, members: set[str], top: int = 5) -> str:
    names = run.product_names()
    if run.has(out.RECOMMENDATIONS):
        recs = run.table(out.RECOMMENDATIONS)
        recs = recs[recs["customer_id"].astype(str).isin(members) & (recs["rank"] <= 3)]
        counts = recs.groupby(recs["product_id"].astype(str)).size()
        ordered = sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:top]
        if ordered:
            return ", ".join(names.get(pid, pid) for pid, _ in ordered)
    return ""


def _clv_band(run: RunData, members: set[str], currency: Currency) -> list[Fact]:
    if not run.has(out.CLV):
        return []
    clv = run.table(out.CLV)
    everyone = clv["clv"].astype(float).dropna()
    mine = clv.loc[clv["customer_id"].astype(str).isin(members), "clv"].astype(float).dropna()
    if mine.empty or everyone.empty:
        return []
    median = float(mine.median())
    low, high = (float(q) for q in everyone.quantile([1 / 3, 2 / 3]))
    # a median on a tertile (up to interpolation rounding, which differs between pandas versions)
    # belongs to the band below it
    tol = 1e-9 * max(abs(high), abs(low), 1.0)
    band = "high (the top third of all customers)" if median > high + tol else (
        "low (the bottom third of all customers)" if median <= low + tol else "middle (the middle third of all customers)")
    return [
        Fact("clv_median", "median customer lifetime value", money(median, currency)),
        Fact("clv_band", "CLV band", band),
    ]


def audience_facts(ws: Workspace, run: RunData, audience_id: str) -> FactSheet:
    """The facts sheet of a saved audience over ``run``: size, segment mix, typical behaviour, categories,
    recommended products by name and CLV band (members who objected to profiling left out)."""
    store = AudienceStore(ws)
    record = store.get(audience_id)
    objected = opted_out(ws, "profiling")
    members = {m for m in store.members(audience_id) if m not in objected}
    currency = Currency.from_settings(ws.settings)
    facts = [Fact("audience", "audience", record.name), Fact("size", "customers", count(len(members)))]
    if run.has(out.SEGMENTS) and members:
        segments = run.table(out.SEGMENTS)
        mine = segments[segments["customer_id"].astype(str).isin(members)]
        facts.append(Fact("rfm_mix", "RFM segments", _mix(mine["rfm_segment"])))
        if "cluster_name" in mine and mine["cluster_name"].notna().any():
            facts.append(Fact("cluster_mix", "behavioural clusters", _mix(mine["cluster_name"])))
    if run.has(out.FEATURES) and members:
        features = run.table(out.FEATURES)
        mine = features[features["customer_id"].astype(str).isin(members)]
        if len(mine):
            facts += [
                Fact("median_orders", "median orders per customer", count(mine["frequency"].median())),
                Fact("median_spend", "median total spend per customer", money(mine["monetary_total"].median(), currency)),
                Fact("median_order_value", "median spend per order", money(mine["monetary_mean"].median(), currency)),
                Fact("median_recency", "median time since the last order", days(mine["recency_days"].median())),
            ]
            if "top_category" in mine and mine["top_category"].notna().any():
                facts.append(Fact("top_categories", "top categories (share of members)", _mix(mine["top_category"])))
    products = _product_names(run, members)
    if products:
        facts.append(Fact("recommended_products", "products most recommended to them", products))
    facts += _clv_band(run, members, currency)
    return FactSheet(f"audience {record.name!r}", tuple(f for f in facts if f.text))


def _checked_brief(brief: str, n_variants: int) -> str:
    clean = " ".join(str(brief).split())
    if not clean:
        raise DataValidationError("the brief is empty", location=Location(column="brief"),
                                  fix="say what the e-mail is for, e.g. 'win back lapsed customers with the new range'")
    if len(clean) > MAX_BRIEF:
        raise DataValidationError(f"the brief has {len(clean)} characters, more than {MAX_BRIEF}",
                                  location=Location(column="brief", value=len(clean)), fix="shorten the brief")
    if not 1 <= n_variants <= MAX_VARIANTS:
        raise DataValidationError(f"variants must be 1 to {MAX_VARIANTS}, got {n_variants}",
                                  location=Location(column="variants", value=n_variants), fix="e.g. --variants 3")
    return clean


def campaign_copy(
    ws: Workspace,
    run: RunData,
    *,
    audience_id: str,
    brief: str,
    n_variants: int = 3,
    brand_path: Path | None = None,
    dry_run: bool = False,
    created_by: str | None = None,
    transport: httpx.BaseTransport | None = None,
    db: Callable[[Callable[[], Any]], Any] = _direct,
) -> CopyOutcome:
    """Variants of an e-mail for ``audience_id``, linted and saved as drafts (``dry_run``: the prompt only).

    Needs a model endpoint (``TARGETWISE_LLM_BASE_URL``) unless ``dry_run``. ``db`` runs the steps
    that open the workspace database (the service passes its lock; the model call runs outside it).
    """
    clean = _checked_brief(brief, n_variants)
    brand = load_brand(ws, brand_path)
    facts = db(lambda: audience_facts(ws, run, audience_id))
    messages = copy_messages(facts, brand, clean, n_variants)
    if dry_run:
        return CopyOutcome(facts=facts, messages=messages, brand=brand, record=None, dry_run=True)
    if not ws.settings.llm_base_url:
        raise ConfigError(
            "no model endpoint is configured, and campaign copy is written by a model",
            fix="set TARGETWISE_LLM_BASE_URL and TARGETWISE_LLM_MODEL (any OpenAI-compatible server), or use "
            "--dry-run (dry_run=true) to see the facts sheet and the prompt that would be sent",
        )
    scrubber = db(lambda: scrubber_for(ws))
    client = LLMClient.from_settings(ws.settings, scrubber=scrubber, audit=AuditLog(ws), key_id=created_by,
                                     transport=transport)
    assert client is not None  # llm_base_url is set
    checked = facts.with_facts([Fact("brief", "brief", clean)])  # the brief's own numbers (an offer) are facts too
    variants, _ = generate_copy(client, facts=checked, brand=brand, brief=clean, n_variants=n_variants)
    store = CopyStore(ws)
    record = {
        "id": store.new_id(),
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "created_by": created_by,
        "audience_id": audience_id,
        "run_id": run.run_id,
        "brief": clean,
        "brand_source": brand.source,
        "model": client.model,
        "facts": facts.to_dict(),
        "variants": [
            {"variant": i, **v.texts(), "lint": v.lint.to_dict(), "status": "draft", "approved_by": None,
             "approved_at": None, "approved_despite": []}
            for i, v in enumerate(variants, start=1)
        ],
    }
    store.save(record)
    return CopyOutcome(facts=facts, messages=messages, brand=brand, record=record, dry_run=False)


def list_copy(ws: Workspace) -> list[dict[str, Any]]:
    """Every saved copy set of the workspace, oldest first."""
    return CopyStore(ws).list()


def approve_copy(
    ws: Workspace, copy_id: str, *, variant: int, approved_by: str | None, despite_lints: bool = False
) -> dict[str, Any]:
    """Mark one variant ``approved``; a variant that fails lints needs ``despite_lints`` (recorded with it)."""

    def change(record: dict[str, Any]) -> dict[str, Any]:
        numbers = [v["variant"] for v in record["variants"]]
        if variant not in numbers:
            raise DataValidationError(
                f"copy set {copy_id} has no variant {variant}", location=Location(column="variant", value=variant),
                fix=f"choose one of {', '.join(map(str, numbers))}",
            )
        chosen = record["variants"][numbers.index(variant)]
        broken = list(chosen["lint"]["rules_broken"])
        if broken and not despite_lints:
            raise DataValidationError(
                f"variant {variant} of {copy_id} fails its lints ({', '.join(broken)}): not approved",
                location=Location(column="variant", value=variant),
                fix="approve a variant that passes, generate new copy, or approve it anyway with --despite-lints "
                "(despite_lints=true; recorded with the approval)",
                details={"findings": chosen["lint"]["findings"]},
            )
        if chosen["status"] != "approved":
            chosen.update(status="approved", approved_by=approved_by, approved_despite=broken,
                          approved_at=datetime.now(UTC).isoformat(timespec="seconds"))
        return record

    return CopyStore(ws).update(copy_id, change)
