"""Use case: acquisition-month cohorts (retention and revenue by month since the first order).

One computation (:func:`cohorts_at`, on the data's engine over the consent-filtered views) serves
the ``cohorts`` stage, ``targetwise cohorts`` and the API, so a cohort's numbers are the same on
every surface; the definitions are in :mod:`targetwise.features.cohorts` and the docs' "Cohorts".
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import pandas as pd

from targetwise.io import outputs as out
from targetwise.io.modeldata import ModelData, open_model_data
from targetwise.io.workspace import Workspace
from targetwise.usecases.runs import RunData, records

__all__ = ["CohortSummary", "Cohorts", "cohort_summary", "cohorts_at", "cohorts_of_run", "cohorts_workspace",
           "heatmap_rows", "retention_matrix"]

AsOf = date | datetime | str | pd.Timestamp


@dataclass(frozen=True)
class Cohorts:
    """A cohort table (columns :data:`~targetwise.features.cohorts.COHORT_COLUMNS`) and its cutoff."""

    as_of: datetime
    table: pd.DataFrame
    #: lines the cohorts were computed from (purchase and return lines before as_of, non-product left out)
    lines: int = 0

    def rows(self) -> list[dict[str, Any]]:
        return records(self.table)


@dataclass(frozen=True)
class CohortSummary:
    """What the heatmap says in figures: cohorts, customers, and mean retention a month and three
    months after the first order (over the cohorts old enough to have that month, weighted by size)."""

    cohorts: int
    customers: int
    retention_month_1: float | None
    retention_month_3: float | None


def cohorts_at(data: ModelData, as_of: AsOf) -> Cohorts:
    """The cohort table from lines before ``as_of`` (objectors are not in ``data``'s views)."""
    from targetwise.features._inputs import (
        check_as_of,
        data_range,
        normalize_as_of,
        resolve_inputs,
        timestamp_literal,
    )
    from targetwise.features.cohorts import cohort_activity, cohort_table

    cutoff = normalize_as_of(as_of)
    transactions = resolve_inputs(data.backend).transactions
    check_as_of(cutoff, data_range(transactions))
    sizes, activity = cohort_activity(transactions, cutoff)
    used = transactions.filter(
        transactions.ordered_at < timestamp_literal(cutoff), transactions.customer_id.notnull(),
        ~transactions.is_non_product.fill_null(False),
    ).count().to_pandas()
    table = cohort_table(sizes.to_pandas(), activity.to_pandas(), as_of=cutoff)
    return Cohorts(as_of=cutoff, table=table, lines=int(used))


def cohorts_workspace(ws: Workspace, as_of: AsOf, *, out_path: str | os.PathLike[str] | None = None) -> Cohorts:
    """``targetwise cohorts``: the table at ``as_of``, written to ``out_path`` (.csv or .parquet) if given."""
    from targetwise.io.exports import write_table

    with open_model_data(ws) as data:
        result = cohorts_at(data, as_of)
    if out_path is not None:
        write_table(result.table, out_path)
    return result


def cohorts_of_run(run: RunData) -> Cohorts:
    """The cohort table a run's ``cohorts`` stage wrote (404 naming the stage when it did not run)."""
    table = run.table(out.COHORTS)
    record = run.info.stage("cohorts")
    lines = int((record.metrics if record else {}).get("lines", 0) or 0)
    return Cohorts(as_of=pd.Timestamp(run.as_of).to_pydatetime(), table=table, lines=lines)


def retention_matrix(table: pd.DataFrame, value: str = "retention") -> pd.DataFrame:
    """Cohorts as rows (oldest first), months since first as columns, ``value`` in the cells (NaN where a
    cohort is too young to have that month): the heatmap's layout."""
    if table.empty:
        return pd.DataFrame()
    matrix = table.pivot(index="cohort_month", columns="months_since_first", values=value)
    return matrix.sort_index().reindex(columns=sorted(matrix.columns))


def cohort_summary(table: pd.DataFrame) -> CohortSummary:
    """Counts and size-weighted mean retention in months 1 and 3 (see :class:`CohortSummary`)."""
    sizes = table[table["months_since_first"] == 0]

    def mean_retention(month: int) -> float | None:
        rows = table[table["months_since_first"] == month]
        total = int(rows["customers"].sum())
        return None if total == 0 else float(rows["active_customers"].sum() / total)

    return CohortSummary(
        cohorts=len(sizes), customers=int(sizes["customers"].sum()),
        retention_month_1=mean_retention(1), retention_month_3=mean_retention(3),
    )


def heatmap_rows(table: pd.DataFrame, value: str = "retention") -> list[dict[str, Any]]:
    """The heatmap as rows for a template: per cohort (oldest first) its size and one cell per month since
    first (``None`` where the cohort is too young), each with ``value`` and a ``shade`` 0-5.

    Shades scale with the largest value in months 1 and later (month 0's retention is 100% by
    definition and would wash the scale out); month 0 cells get shade 5 at most.
    """
    import math

    matrix = retention_matrix(table, value)
    if matrix.empty:
        return []
    later = matrix.loc[:, [c for c in matrix.columns if c >= 1]] if len(matrix.columns) > 1 else matrix
    top = float(later.max().max()) if later.notna().to_numpy().any() else 0.0
    sizes = table[table["months_since_first"] == 0].set_index("cohort_month")["customers"]
    rows = []
    for cohort, series in matrix.iterrows():
        cells: list[dict[str, Any] | None] = []
        for month, cell in series.items():
            if cell != cell:  # NaN: the cohort has no such month yet
                cells.append(None)
                continue
            shade = 0 if top <= 0 or cell <= 0 else min(5, math.ceil(5 * float(cell) / top))
            cells.append({"month": int(month), "value": float(cell), "shade": shade})
        rows.append({"cohort_month": str(cohort), "customers": int(sizes[cohort]), "cells": cells})
    return rows
