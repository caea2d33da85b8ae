"""A planted offer log on a copy of the small synthetic demo: known eligibility, known logging propensities
and Bernoulli rewards from a planted expected reward per (customer, offer), so every policy's true value
over the log is exact.

Live offers: ``A`` (from 2026-01-01, no end), ``B`` (no window), ``C`` (by SMS, only for customers with
``frequency >= 10``, until 2099); ``X`` ended on 2026-01-01 and ``F`` starts in 2099 (never live now).
The planted mean reward, with ``web`` the customer's ``channel_share_web`` feature (0 to 1)::

    A: 0.15 + 0.5 web      B: 0.35      C: 0.65 - 0.5 web

The logging policy chose among the eligible offers with weights A 3, B 1, C 1 (its propensities are the
normalised weights), ``N_PER_CUSTOMER`` decisions per customer in 2026-03 .. 2026-05.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from targetwise.io import outputs as out
from targetwise.io.consent import opted_out
from targetwise.io.ingest import ingest
from targetwise.io.workspace import Workspace
from targetwise.usecases.runs import active_run

LIVE = ("A", "B", "C")
N_PER_CUSTOMER = 20
LOG_WEIGHTS = np.array([3.0, 1.0, 1.0])


@dataclass(frozen=True)
class PlantedLog:
    log: pd.DataFrame  # customer_id, offer_id, decided_at, propensity, reward, reward_kind
    mu: pd.DataFrame  # customer_id -> planted mean reward of A, B, C
    eligible: pd.DataFrame  # customer_id -> eligible for A, B, C (bool)


def planted_mu(features: pd.DataFrame) -> pd.DataFrame:
    web = features.set_index(features["customer_id"].astype(str))["channel_share_web"].fillna(0.0).clip(0, 1)
    return pd.DataFrame({"A": 0.15 + 0.5 * web, "B": 0.35 + 0.0 * web, "C": 0.65 - 0.5 * web})


def offers_frame() -> pd.DataFrame:
    frequent = json.dumps([{"field": "frequency", "op": ">=", "value": 10}])
    return pd.DataFrame({
        "offer_id": ["A", "B", "C", "X", "F"],
        "name": ["Ten percent off", "Free delivery", "Loyalty bonus", "Old sale", "Next century"],
        "channel": ["web", "web", "sms", "web", "web"],
        "cost": [1.0, 2.0, 0.5, 1.0, 1.0],
        "value": [10.0, 8.0, 12.0, 5.0, 5.0],
        "eligibility": ["", "[]", frequent, "", ""],
        "starts_at": ["2026-01-01", "", "2026-01-01", "2025-01-01", "2099-01-01"],
        "ends_at": ["", "", "2099-01-01", "2026-01-01", ""],
    })


def clear_offer_tables(ws: Workspace) -> None:
    """Empty ``offers`` and ``offer_decisions`` (the synthetic demo's own catalogue and log), so a planted log
    is the only one: test set-up on a copy, never on the shared demo."""
    with ws.connect() as con:
        con.execute("DELETE FROM offer_decisions")
        con.execute("DELETE FROM offers")


def plant_offer_log(ws: Workspace, folder: Path, *, random_state: int = 7) -> PlantedLog:
    """Ingest the offers and a planted log (both as CSV files through the ingest) into ``ws``, replacing the
    demo's own offers and log."""
    clear_offer_tables(ws)
    offers_csv = folder / "offers.csv"
    offers_frame().to_csv(offers_csv, index=False)
    loaded = ingest(ws, "offers", offers_csv)
    assert loaded.rows_loaded == 5 and loaded.rows_quarantined == 0, loaded
    run = active_run(ws)
    features = run.table(out.FEATURES)
    mu = planted_mu(features)
    frequency = features.set_index(features["customer_id"].astype(str))["frequency"]
    eligible = pd.DataFrame({"A": True, "B": True, "C": frequency >= 10}, index=mu.index)
    eligible.loc[eligible.index.isin(opted_out(ws, "sms")), "C"] = False
    rng = np.random.default_rng(random_state)
    rows = []
    start = pd.Timestamp("2026-03-01")
    for cid in mu.index:
        weights = LOG_WEIGHTS * eligible.loc[cid].to_numpy()
        p = weights / weights.sum()
        for j in range(N_PER_CUSTOMER):
            k = int(rng.choice(3, p=p))
            reward = float(rng.random() < mu.loc[cid].iloc[k])
            decided = start + pd.Timedelta(days=3 * j, minutes=int(rng.integers(0, 1440)))
            rows.append((cid, LIVE[k], decided, p[k], reward, "conversion"))
    log = pd.DataFrame(rows, columns=["customer_id", "offer_id", "decided_at", "propensity", "reward", "reward_kind"])
    log_csv = folder / "offer_log.csv"
    log.to_csv(log_csv, index=False, float_format="%.17g")
    loaded = ingest(ws, "offer_decisions", log_csv)
    assert loaded.rows_quarantined == 0 and loaded.rows_loaded == len(log), loaded
    return PlantedLog(log=log, mu=mu, eligible=eligible)


def true_value(planted: PlantedLog, rows: pd.DataFrame, offers: tuple[str, ...], probabilities: np.ndarray) -> float:
    """The exact expected reward per decision of a policy (rows, offers) over the given log rows."""
    mu = np.zeros(probabilities.shape)
    ids = rows["customer_id"].astype(str).to_numpy()
    for k, offer in enumerate(offers):
        if offer in planted.mu.columns:
            mu[:, k] = planted.mu.loc[ids, offer].to_numpy()
    return float((probabilities * mu).sum(axis=1).mean())


def logging_true_value(planted: PlantedLog, rows: pd.DataFrame) -> float:
    ids = rows["customer_id"].astype(str).to_numpy()
    weights = LOG_WEIGHTS * planted.eligible.loc[ids].to_numpy()
    p = weights / weights.sum(axis=1, keepdims=True)
    return float((p * planted.mu.loc[ids].to_numpy()).sum(axis=1).mean())
