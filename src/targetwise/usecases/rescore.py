"""Use case ``targetwise rescore``: re-score the customers with new lines with the active run's fitted models.

After ``POST /v1/events`` or a small ingest, a full ``targetwise run`` refits every model. A rescore
instead recomputes, for the **affected customers only** (those with a line at or after the active
run's cut-off, or a line that came with a load the active run did not see), their point-in-time
features at the new cut-off (lines before it only) and, with the active run's **fitted** models
(persisted in its folder: ``io/outputs.py`` ``*_MODEL``), their segments, CLV and propensity scores.
Every other output is copied from the active run unchanged, less any customer who has objected to
profiling since. The result is a new run whose manifest names its parent (``derived_from``: the
parent run and cut-off, the counts, which outputs were recomputed and which copied), promoted
unless ``promote=False`` (docs/rescore.md).

Untouched customers' rows are the parent's, bit for bit, so they stay as of the parent's cut-off;
the affected customers' rows are as of the new one.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import pandas as pd

from targetwise.errors import ConfigError, NotFoundError, WorkspaceError
from targetwise.io import outputs as out
from targetwise.io.modeldata import ModelData, open_model_data
from targetwise.io.run_urls import RunUrlStore
from targetwise.io.runs import RunInfo, RunStore
from targetwise.io.workspace import Workspace
from targetwise.usecases.clv import score_clv
from targetwise.usecases.propensity import score_task
from targetwise.usecases.segments import assign_segments

__all__ = ["RECOMPUTED", "RescoreResult", "affected_features", "rescore"]

#: the outputs a rescore recomputes for the affected customers (all others are copied from the parent)
RECOMPUTED: tuple[out.Output, ...] = (out.FEATURES, out.SEGMENTS, out.CLV, out.PROPENSITY)
#: a recomputed output and the fitted model it needs (the features need none)
_MODEL_OF = {out.SEGMENTS.path: out.SEGMENTS_MODEL, out.CLV.path: out.CLV_MODEL}


@dataclass
class RescoreResult:
    """What a rescore did: the derived run (None when nobody had new lines), counts, seconds."""

    parent: RunInfo
    run: RunInfo | None
    as_of: date
    affected_customers: int
    new_customers: int = 0
    removed_objectors: int = 0
    recomputed: list[str] = field(default_factory=list)
    copied: list[str] = field(default_factory=list)
    promoted: bool = False
    seconds: float = 0.0


def _as_date(value: date | datetime | str) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value).strip())
    except ValueError:
        raise ConfigError(f"as-of date {value!r} is not a date in the form YYYY-MM-DD",
                          fix="write it as YYYY-MM-DD, e.g. 2024-06-01") from None


def affected_features(data: ModelData, customers: list[str], as_of: date, *, channels: tuple[str, ...]) -> pd.DataFrame:
    """Point-in-time features at ``as_of`` of ``customers`` only (their lines before ``as_of``), with the
    channel-share columns of ``channels``: per customer the same values as the features of everyone."""
    import ibis

    from targetwise.features import customer_features

    transactions = data.backend.table("transactions")
    mine = transactions.filter(transactions.customer_id.isin(ibis.memtable({"customer_id": customers}).customer_id))
    products = data.backend.table("products") if data.has("products") else None
    frame = customer_features(mine, as_of, products=products, channels=list(channels)).to_pandas()
    return frame.sort_values("customer_id", kind="stable").reset_index(drop=True)


def _channels(data: ModelData, as_of: date, parent_columns: list[str]) -> tuple[str, ...]:
    """The raw channels the features at ``as_of`` use; refused if they are not the parent's columns."""
    from targetwise.features._inputs import channel_column_names, discover_channels
    from targetwise.features.columns import CHANNEL_SHARE_PREFIX

    channels = discover_channels(data.backend.table("transactions"), as_of)
    now = {CHANNEL_SHARE_PREFIX + s for s in channel_column_names(channels).values()}
    before = {c for c in parent_columns if c.startswith(CHANNEL_SHARE_PREFIX)}
    if now != before:
        raise WorkspaceError(
            f"the new lines bring channel columns the fitted models never saw ({', '.join(sorted(now ^ before))})",
            fix="run `targetwise run` to refit the models on the new channels",
        )
    return tuple(channels)


def _merge(parent: pd.DataFrame, fresh: pd.DataFrame, drop: set[str]) -> pd.DataFrame:
    """The parent's rows less ``drop`` (the affected customers and new objectors), plus ``fresh``; sorted."""
    kept = parent[~parent["customer_id"].astype(str).isin(drop)]
    missing = [c for c in parent.columns if c not in fresh.columns]
    if missing:
        raise WorkspaceError(f"re-scored rows lack column(s) {', '.join(missing)} of the parent run",
                             fix="run `targetwise run` to refit the models")
    fresh = fresh[list(parent.columns)].astype(parent.dtypes.to_dict())
    merged = pd.concat([kept, fresh], ignore_index=True) if len(kept) else fresh.reset_index(drop=True)
    return merged.sort_values("customer_id", kind="stable").reset_index(drop=True)


def _propensity_models(parent: RunInfo) -> dict[str, Any]:
    cards = parent.read_json(out.MODEL_CARDS) if parent.has(out.MODEL_CARDS) else {}
    missing = [key for key in cards if not parent.has(out.PROPENSITY_MODEL.at(key))]
    if missing:
        raise WorkspaceError(
            f"run {parent.run_id} has no fitted propensity model for {', '.join(missing)} (written before models "
            "were kept in the run folder)", fix="run `targetwise run` once; later runs can be re-scored")
    return {key: parent.load_model(out.PROPENSITY_MODEL.at(key)) for key in cards}


def _recompute(
    parent: RunInfo, fresh_features: pd.DataFrame, *, currency: str
) -> dict[str, pd.DataFrame]:
    """The affected customers' rows of each recomputed output the parent holds."""
    rows: dict[str, pd.DataFrame] = {out.FEATURES.path: fresh_features}
    for output_path, model_output in _MODEL_OF.items():
        if parent.has(output_path) and not parent.has(model_output):
            raise WorkspaceError(
                f"run {parent.run_id} has {output_path} but not its fitted model {model_output.path} (written before "
                "models were kept in the run folder)", fix="run `targetwise run` once; later runs can be re-scored")
    if parent.has(out.SEGMENTS):
        population = parent.read_table(out.FEATURES)
        clusters = parent.read_table(out.SEGMENTS, columns=["customer_id", "cluster"]).set_index("customer_id")
        rows[out.SEGMENTS.path] = assign_segments(
            parent.load_model(out.SEGMENTS_MODEL), fresh_features, population=population,
            population_clusters=clusters["cluster"],
        )
    if parent.has(out.CLV):
        m = parent.load_model(out.CLV_MODEL)
        rows[out.CLV.path] = score_clv(
            m["transaction_model"], m["spend_model"], fresh_features, horizon=m["horizon"], time_unit=m["time_unit"],
            discount_rate=m["discount_rate"], interval=m["interval"], n_draws=m["n_draws"],
            random_state=m["random_state"],
        )
    if parent.has(out.PROPENSITY):
        scores = fresh_features[["customer_id"]].copy()
        for fitted in _propensity_models(parent).values():
            scores = scores.merge(score_task(fitted, fresh_features, currency=currency), on="customer_id", how="left")
        rows[out.PROPENSITY.path] = scores
    return rows


def rescore(ws: Workspace, *, as_of: date | datetime | str | None = None, promote: bool = True) -> RescoreResult:
    """Re-score the customers with new lines since the active run into a run derived from it (module docstring).

    ``as_of`` (default: the day after the last line) must not lie before the active run's cut-off.
    Nobody with new lines: nothing is written (``run`` is None). Promotion goes through
    :func:`_promote`, so whatever follows a promotion (live audiences) follows this one too.
    """
    started = time.perf_counter()
    store = RunStore(ws)
    if ws.settings.runs_url and store.active_id() is None:
        RunUrlStore(ws.settings.runs_url).follow(store)  # a fresh driver re-scores from the URL's active run
    parent = store.active()
    if parent is None:
        raise NotFoundError("no active run to re-score from", fix="run `targetwise run` first")
    if parent.manifest.get("derived_from") is None and parent.as_of is None:
        raise WorkspaceError(f"run {parent.run_id} has no cut-off", fix="run `targetwise run`")
    parent_as_of = _as_date(str(parent.as_of))
    if as_of is None:
        last = ws.last_ordered_at()
        cutoff = parent_as_of if last is None else max(parent_as_of, (last + timedelta(days=1)).date())
    else:
        cutoff = _as_date(as_of)
    if cutoff < parent_as_of:
        raise ConfigError(
            f"a rescore cut-off {cutoff} before the active run's {parent_as_of} would move time backwards",
            fix=f"use --as-of {parent_as_of} or later (or `targetwise run --as-of {cutoff}`)",
        )
    if not parent.has(out.FEATURES):
        raise WorkspaceError(f"run {parent.run_id} has no features to re-score", fix="run `targetwise run`")
    loads_seen = [int(x) for x in parent.manifest.get("data_snapshot", {}).get("loads", [])]
    with open_model_data(ws) as data:
        affected = data.customers_with_new_lines(since=parent_as_of, before=cutoff, loads_seen=loads_seen)
        if not affected:
            return RescoreResult(parent=parent, run=None, as_of=cutoff, affected_customers=0,
                                 seconds=time.perf_counter() - started)
        parent_features = parent.read_table(out.FEATURES)
        channels = _channels(data, cutoff, list(parent_features.columns))
        fresh = affected_features(data, affected, cutoff, channels=channels)
        objectors = set(data.objectors)
    rows = _recompute(parent, fresh, currency=ws.settings.currency_symbol)
    drop = set(affected) | objectors
    known = set(parent_features["customer_id"].astype(str))
    removed = len(objectors & known)
    result = RescoreResult(
        parent=parent, run=None, as_of=cutoff, affected_customers=len(affected),
        new_customers=len(set(fresh["customer_id"].astype(str)) - known), removed_objectors=removed,
    )
    parameters = {**parent.manifest.get("parameters", {}), "rescore": True}
    writer = store.begin(as_of=cutoff, parameters=parameters)
    try:
        for relative in sorted(parent.manifest.get("files", {})):
            if relative == "manifest.json":
                continue
            declared = out.output_for(relative)
            if relative in rows:
                writer.write_table(relative, _merge(parent.read_table(relative), rows[relative], drop))
                result.recomputed.append(relative)
            elif declared.customer_rows and objectors:
                table = parent.read_table(relative)
                writer.write_table(relative, table[~table["customer_id"].astype(str).isin(objectors)])
                result.copied.append(relative)
            else:
                writer.copy_from(parent, relative)
                result.copied.append(relative)
        writer.records.update(parent.stages())  # the parent's stage records (metrics, model cards, notes)
        writer.manifest["derived_from"] = {
            "run_id": parent.run_id, "parent_as_of": str(parent_as_of), "as_of": str(cutoff),
            "affected_customers": result.affected_customers, "new_customers": result.new_customers,
            "removed_objectors": result.removed_objectors, "recomputed": result.recomputed, "copied": result.copied,
            "note": "recomputed outputs hold the affected customers' rows at the new cut-off with the parent's fitted "
                    "models and every other customer's rows as of the parent's cut-off; copied outputs are the "
                    "parent's (less new objectors)",
        }
        result.seconds = time.perf_counter() - started
        writer.manifest["derived_from"]["seconds"] = round(result.seconds, 3)
        result.run = writer.commit()
    except BaseException:
        writer.abort()
        raise
    if ws.settings.runs_url:  # published there too (promoted or not); a promotion then moves the URL's pointer
        RunUrlStore(ws.settings.runs_url).publish(result.run)
    if promote:
        _promote(ws, result.run.run_id)
        result.promoted = True
    result.seconds = time.perf_counter() - started
    return result


def _promote(ws: Workspace, run_id: str) -> None:
    """Promote the derived run the way ``targetwise runs promote`` does: the live audiences are refreshed on it."""
    from targetwise.usecases.live_audiences import promote_and_refresh

    promote_and_refresh(ws, run_id)
