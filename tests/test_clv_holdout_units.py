"""The CLV holdout check counts holdout purchases in the unit the model was fitted in (a hand-made log).

The calibration fit is in weeks, so the holdout count must be purchase weeks: counting purchase days
(as the check did before) made the check report -45% on The Complete Journey where the model was
within 1.2% of the purchase weeks.
"""

from __future__ import annotations

import pandas as pd
import pytest

from targetwise.config import get_settings
from targetwise.errors import ConfigError
from targetwise.io.consent import record_consent
from targetwise.io.ingest import ingest
from targetwise.io.modeldata import open_model_data
from targetwise.io.workspace import Workspace
from targetwise.usecases.clv import calibration_holdout_split, clv_checks

CUTOFF, END = "2024-03-04", "2024-03-25"  # Monday to Monday: three whole weeks of holdout

# customer, order, time (UTC), product, quantity, unit price
_LINES = [
    # calibration purchases (before the cutoff) for everyone who has a holdout row
    ("A", "a1", "2024-01-08 10:00", "P1", 1, 10.0),
    ("A", "a2", "2024-02-05 10:00", "P1", 1, 10.0),
    ("B", "b1", "2024-01-15 10:00", "P1", 2, 10.0),
    ("C", "c1", "2024-02-20 10:00", "P2", 1, 20.0),
    ("D", "d1", "2024-01-10 10:00", "P1", 1, 10.0),  # D objects to profiling
    # holdout: A buys on Mon 4, Tue 5 (two orders that day) and Mon 11 March: 3 days, 2 weeks
    ("A", "a3", "2024-03-04 09:00", "P1", 1, 10.0),
    ("A", "a4", "2024-03-05 09:00", "P1", 1, 10.0),
    ("A", "a5", "2024-03-05 18:00", "P2", 1, 20.0),
    ("A", "a6", "2024-03-11 09:00", "P1", 1, 10.0),
    # B buys on Wed 13, Thu 14 and Sun 24 March: 3 days, 2 weeks (24th is in the week of the 18th)
    ("B", "b2", "2024-03-13 09:00", "P1", 1, 10.0),
    ("B", "b3", "2024-03-14 09:00", "P1", 1, 10.0),
    ("B", "b4", "2024-03-24 23:00", "P1", 1, 10.0),
    ("B", "b5", "2024-03-25 00:30", "P1", 1, 10.0),  # at the end: outside [cutoff, end)
    # C only returns in the holdout and pays postage: no purchase
    ("C", "C9", "2024-03-06 09:00", "P2", -1, 20.0),
    ("C", "c2", "2024-03-07 09:00", "POST", 1, 3.0),
    ("D", "d2", "2024-03-12 09:00", "P1", 1, 10.0),
    # E's first purchase is in the holdout: not a calibration customer
    ("E", "e1", "2024-03-12 09:00", "P1", 1, 10.0),
]
# worked by hand from _LINES
EXPECTED_WEEKS = {"A": 2, "B": 2, "C": 0}
EXPECTED_DAYS = {"A": 3, "B": 3, "C": 0}


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    path = tmp_path_factory.mktemp("clv_units") / "ws"
    settings = get_settings(workspace=path, duckdb_threads=2, business_timezone="UTC")
    ws = Workspace.init(path, settings)
    csv = path.parent / "lines.csv"
    columns = ["customer_id", "order_id", "ordered_at", "product_id", "quantity", "unit_price"]
    pd.DataFrame(_LINES, columns=columns).to_csv(csv, index=False)
    summary = ingest(ws, "transactions", csv)
    assert (summary.rows_loaded, summary.rows_quarantined) == (len(_LINES), 0)
    record_consent(ws, "D", purpose="profiling", status="denied", source="test objection")
    return ws


def _counts(frame: pd.DataFrame) -> dict[str, int]:
    return dict(zip(frame["customer_id"], frame["holdout_frequency"].astype(int), strict=True))


def test_holdout_counts_purchase_weeks_for_a_weekly_fit(shop: Workspace) -> None:
    with open_model_data(shop) as data:
        weeks = calibration_holdout_split(data, CUTOFF, END, time_unit="W")
        days = calibration_holdout_split(data, CUTOFF, END, time_unit="D")
    assert _counts(weeks) == EXPECTED_WEEKS
    assert _counts(days) == EXPECTED_DAYS
    assert weeks.attrs["holdout_duration"] == pytest.approx(3.0)
    assert days.attrs["holdout_duration"] == pytest.approx(21.0)
    # the calibration side is in the same unit: A bought in the weeks of 8 Jan and 5 Feb, one repeat week
    a = weeks.set_index("customer_id").loc["A"]
    assert (a["btyd_frequency"], a["btyd_recency"], a["btyd_T"]) == (1.0, 4.0, 8.0)


def test_clv_checks_compares_weeks_with_weeks(shop: Workspace) -> None:
    with open_model_data(shop) as data:
        checks = clv_checks(data, END, holdout_weeks=3)
    assert checks.cutoff == pd.Timestamp(CUTOFF)
    assert checks.holdout_actual == sum(EXPECTED_WEEKS.values())  # 4 purchase weeks, not 6 purchase days
    assert checks.arrays[4] == pytest.approx(3.0)  # holdout duration in weeks


def test_unknown_time_unit_is_refused(shop: Workspace) -> None:
    with open_model_data(shop) as data, pytest.raises(ConfigError, match="unknown time unit 'M'"):
        data.holdout_frequency(CUTOFF, END, time_unit="M")
