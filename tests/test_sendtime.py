"""Send time and channel (issue 22): the planted preferences recovered, the engagement log's ingest edge
cases (machine opens, clicks without sends, unsubscribes), consent and erasure, point in time, the CLI."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from targetwise.config import get_settings
from targetwise.engage import SendTimeEstimator, hour_band
from targetwise.errors import DataValidationError
from targetwise.io.consent import opted_out, record_consent
from targetwise.io.engagements import engagement_quality, send_responses
from targetwise.io.ingest import ingest, ingest_arrow
from targetwise.io.modeldata import open_model_data
from targetwise.io.readers import source_from_frame
from targetwise.io.workspace import Workspace
from targetwise.synthetic import generate_retailer
from targetwise.usecases.sendtime import local_sends, send_schedule, send_times_at

AS_OF = "2024-01-01"


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory) -> tuple[Workspace, pd.DataFrame]:
    """A workspace holding a synthetic shop's engagement log (3,000 customers, seed 6) and its truth."""
    path = tmp_path_factory.mktemp("sendtime") / "ws"
    settings = get_settings(workspace=path, duckdb_threads=2)
    ws = Workspace.init(path, settings)
    shop = generate_retailer(3000, random_state=6)
    ingest_arrow(ws, "engagements", source_from_frame(shop.engagements, name="synthetic:engagements"))
    return ws, shop.truth


def _fit(ws: Workspace, truth: pd.DataFrame) -> tuple[pd.DataFrame, SendTimeEstimator, pd.DataFrame]:
    with open_model_data(ws) as data:
        sends = local_sends(send_responses(data.con, before=AS_OF), "UTC")
    segments = truth.set_index("customer_id")["customer_type"]
    est = SendTimeEstimator(random_state=0).fit(sends, segments)
    return est.predict().set_index("customer_id"), est, sends


def test_planted_hour_band_and_channel_are_recovered_and_few_events_never_lose_to_the_segment(planted):
    ws, truth = planted
    predicted, est, sends = _fit(ws, truth)
    truth = truth.set_index("customer_id").reindex(predicted.index)
    responses = sends.groupby("customer_id")["responded"].sum().reindex(predicted.index, fill_value=0)
    band_ok = hour_band(predicted["best_hour"].to_numpy()) == truth["preferred_hour_band"].to_numpy()
    channel_ok = predicted["best_channel"].to_numpy() == truth["preferred_channel"].to_numpy()
    many = (responses >= 10).to_numpy()
    assert many.sum() >= 80  # enough customers for the thresholds to mean something
    assert band_ok[many].mean() >= 0.80
    assert channel_ok[many].mean() >= 0.85
    # with fewer events: never worse than recommending the segment's pattern
    segment_band = est.segment_bands().reindex(truth["customer_type"]).to_numpy()
    segment_ok = segment_band == truth["preferred_hour_band"].to_numpy()
    for lo, hi in ((0, 3), (3, 10)):
        few = ((responses >= lo) & (responses < hi)).to_numpy()
        assert band_ok[few].mean() >= segment_ok[few].mean(), (lo, hi)
    assert set(predicted["source"]) == {"personal", "segment"}
    assert predicted["confidence"].between(0, 1).all()
    # personal estimates are the confident ones
    by_source = predicted.groupby("source")["confidence"].mean()
    assert by_source["personal"] > by_source["segment"]


def test_raw_open_counts_would_pick_the_shops_usual_hour_rates_per_send_do_not(planted):
    ws, truth = planted
    _, _, sends = _fit(ws, truth)
    # 40% of sends go out at 09:00: counting responses picks band 2 (08-11) for most customers ...
    counts = sends[sends["responded"]].groupby(["customer_id", hour_band(sends.loc[sends["responded"], "hour"])]).size()
    by_count = counts.unstack(fill_value=0).idxmax(axis=1)
    count_ok = (by_count == truth.set_index("customer_id")["preferred_hour_band"].reindex(by_count.index)).mean()
    predicted, _, _ = _fit(ws, truth)
    rate_ok = (hour_band(predicted.loc[by_count.index, "best_hour"].to_numpy())
               == truth.set_index("customer_id")["preferred_hour_band"].reindex(by_count.index).to_numpy()).mean()
    assert rate_ok > count_ok + 0.05


def test_a_customer_only_sent_at_nine_says_nothing_about_the_evening() -> None:
    rows = [("a", "email", 0, 9, i % 3 == 0) for i in range(30)]  # only ever sent at 09:00
    rows += [("b", "email", 0, h, h >= 20) for h in (9, 20) * 15]  # answers only in the evening
    sends = pd.DataFrame(rows, columns=["customer_id", "channel", "weekday", "hour", "responded"])
    est = SendTimeEstimator(prior_strength=5.0).fit(sends)
    a = est.customers_.get_loc("a")
    # no sends in band 5: a's estimate there is the prior, untouched by a's 09:00 responses
    assert est.rates_["band"][a, 5] == pytest.approx(est.prior_["band"][a, 5])
    # hand-computed: band 2 holds 10 responses in 30 sends; rate = (10 + 5 * prior) / (30 + 5)
    assert est.rates_["band"][a, 2] == pytest.approx((10 + 5 * est.prior_["band"][a, 2]) / 35)
    b = est.predict().set_index("customer_id").loc["b"]
    assert hour_band(b["best_hour"]) == 5 and b["source"] == "personal"


def test_bad_sends_are_refused_in_words() -> None:
    sends = pd.DataFrame({"customer_id": ["a"], "channel": ["email"], "weekday": [7], "hour": [9], "responded": [True]})
    with pytest.raises(DataValidationError, match="weekday must be 0-6 and hour 0-23; got weekday 7"):
        SendTimeEstimator().fit(sends)
    with pytest.raises(DataValidationError, match="sends lack the column"):
        SendTimeEstimator().fit(sends.drop(columns="responded"))
    with pytest.raises(DataValidationError, match="prior_strength must be > 0"):
        SendTimeEstimator(prior_strength=-1.0).fit(sends.assign(weekday=1))


# ------------------------------------------------------------------ the engagement log's edge cases

def _log(tmp_path: Path, rows: list[tuple]) -> Path:
    frame = pd.DataFrame(rows, columns=["customer_id", "channel", "event", "occurred_at", "message_id", "is_machine"])
    target = tmp_path / f"engagements_{len(list(tmp_path.glob('*.csv')))}.csv"
    frame.to_csv(target, index=False)
    return target


EDGE_ROWS = [
    ("a", "email", "sent", "2023-03-01 09:00:00", "m1", ""),
    ("a", "email", "open", "2023-03-01 09:01:00", "m1", "true"),  # machine open: not a response
    ("a", "email", "sent", "2023-03-02 20:00:00", "m2", ""),
    ("a", "email", "open", "2023-03-02 21:00:00", "m2", "false"),
    ("a", "email", "click", "2023-03-02 21:02:00", "m2", ""),
    ("b", "sms", "click", "2023-03-03 12:00:00", "", ""),  # a click without any send
    ("b", "sms", "sent", "2023-03-04 12:00:00", "", ""),
    ("b", "sms", "click", "2023-03-04 12:30:00", "", ""),  # no message id: matched by time to that send
    ("c", "email", "sent", "2023-03-05 10:00:00", "m3", ""),
    ("c", "email", "unsubscribe", "2023-03-05 11:00:00", "m3", ""),
    ("c", "fax", "sent", "2023-03-05 10:00:00", "m4", ""),  # not a channel
]


def test_machine_opens_unmatched_clicks_and_bad_channels(workspace: Workspace, tmp_path: Path) -> None:
    summary = ingest(workspace, "engagements", _log(tmp_path, EDGE_ROWS))
    assert (summary.rows_loaded, summary.rows_quarantined, summary.reasons) == (10, 1, {"invalid_value": 1})
    with workspace.connect(read_only=True) as con:
        (column, value) = con.execute("SELECT column_name, value FROM quarantine").fetchone()
        sends = send_responses(con).set_index(["customer_id", "channel", "sent_at"])["responded"]
        quality = engagement_quality(con)
    assert (column, value) == ("channel", "fax")
    assert sends.to_dict() == {
        ("a", "email", pd.Timestamp("2023-03-01 09:00")): False,  # only a machine opened it
        ("a", "email", pd.Timestamp("2023-03-02 20:00")): True,
        ("b", "sms", pd.Timestamp("2023-03-04 12:00")): True,
        ("c", "email", pd.Timestamp("2023-03-05 10:00")): False,
    }
    assert quality["opens"] == 2 and quality["machine_opens"] == 1 and quality["machine_open_share"] == 0.5
    assert quality["unmatched_responses"] == 1  # b's click before any send
    email = next(c for c in quality["by_channel"] if c["channel"] == "email")
    assert (email["sends"], email["delivered"], email["open_rate"]) == (3, 3, pytest.approx(1 / 3))
    # the same file again adds nothing
    assert ingest(workspace, "engagements", _log(tmp_path, EDGE_ROWS)).rows_loaded == 0


def test_an_unsubscribe_suppresses_that_channel_at_once(workspace: Workspace, tmp_path: Path) -> None:
    assert "c" not in opted_out(workspace, "email")
    summary = ingest(workspace, "engagements", _log(tmp_path, EDGE_ROWS))
    assert any("unsubscribe(s) recorded as consent revoked" in w for w in summary.warnings)
    assert opted_out(workspace, "email") == {"c"}
    assert "c" not in opted_out(workspace, "sms")
    # a later grant brings them back; an unsubscribe after it removes them again
    record_consent(workspace, "c", purpose="email", status="granted", source="test",
                   recorded_at=pd.Timestamp("2023-04-01").to_pydatetime())
    assert opted_out(workspace, "email") == set()
    ingest(workspace, "engagements", _log(tmp_path, [("c", "email", "unsubscribe", "2023-05-01 08:00:00", "m9", "")]))
    assert opted_out(workspace, "email") == {"c"}


def test_objectors_are_out_and_erasure_removes_exactly_that_person(workspace: Workspace, tmp_path: Path) -> None:
    from targetwise.usecases.privacy import erase

    ingest(workspace, "engagements", _log(tmp_path, EDGE_ROWS))
    record_consent(workspace, "a", purpose="profiling", status="denied", source="test")
    with open_model_data(workspace) as data:
        assert set(send_responses(data.con)["customer_id"]) == {"b", "c"}
    erase(workspace, "b", actor="test")
    with workspace.connect(read_only=True) as con:
        left = con.execute("SELECT customer_id, count(*) FROM engagements GROUP BY 1 ORDER BY 1").fetchall()
    assert left == [("a", 5), ("c", 2)]


def test_point_in_time_and_the_send_schedule(planted) -> None:
    ws, truth = planted
    segments = truth[["customer_id", "customer_type"]].rename(columns={"customer_type": "segment"})
    with open_model_data(ws) as data:
        early = send_times_at(data, "2023-06-01", timezone="UTC", segments=segments).table
        sends = send_responses(data.con, before="2023-06-01")
    assert sends["sent_at"].max() < pd.Timestamp("2023-06-01")
    # the later events do not change the earlier estimate: the same table from the log cut at the as-of
    cut = local_sends(sends, "UTC")
    again = SendTimeEstimator(random_state=0).fit(cut, segments.set_index("customer_id")["segment"]).predict()
    pd.testing.assert_frame_equal(early.reset_index(drop=True), again.reset_index(drop=True))
    ids = [early["customer_id"].iloc[0], "nobody"]
    plan = send_schedule(early, ids, week_of="2024-03-27", timezone="Europe/London").set_index("customer_id")
    first = early.iloc[0]
    local = pd.Timestamp("2024-04-01") + pd.Timedelta(days=int(first["best_weekday"]), hours=int(first["best_hour"]))
    assert plan.loc[ids[0], "send_at_local"] == local
    assert plan.loc[ids[0], "send_at_utc"] == local - pd.Timedelta(hours=1)  # British Summer Time from 31 March
    assert plan.loc["nobody", "source"] == "global" and plan.loc["nobody", "confidence"] == 0.0


def test_cli_writes_the_table_the_use_case_computes(planted, tmp_path: Path) -> None:
    from targetwise.cli.app import app
    from targetwise.usecases.sendtime import send_times_workspace

    ws, _ = planted
    target = tmp_path / "send_times.csv"
    result = CliRunner().invoke(app, ["sendtime", "--as-of", "2023-06-01", "--out", str(target),
                                      "--workspace", str(ws.path)])
    assert result.exit_code == 0, result.output
    written = pd.read_csv(target, dtype={"customer_id": str})
    assert list(written.columns) == ["customer_id", "best_weekday", "best_hour", "best_channel", "confidence", "source"]
    direct = send_times_workspace(ws, "2023-06-01").table
    assert np.array_equal(written["best_hour"].to_numpy(), direct["best_hour"].to_numpy())
    assert np.allclose(written["confidence"].to_numpy(), direct["confidence"].to_numpy())
    assert "human responses" in result.output


def test_profile_shows_the_logs_quality_on_the_cli_and_in_html(workspace: Workspace, tmp_path: Path) -> None:
    from targetwise.cli.app import app
    from targetwise.io.profile import profile_workspace
    from targetwise.reports.render import render_profile_html

    ingest(workspace, "engagements", _log(tmp_path, EDGE_ROWS))
    profile = profile_workspace(workspace)
    assert profile.engagement["machine_opens"] == 1 and profile.engagement["unmatched_responses"] == 1
    result = CliRunner().invoke(app, ["profile", "--workspace", str(workspace.path)], env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    assert "email 3 sends, opens 33.3%, clicks 33.3%" in result.output
    assert "machine opens 1 of 2 (50.0%)" in result.output
    assert "opens and clicks without a matching send 1" in result.output
    page = render_profile_html(profile)
    assert "Machine opens: 1 of 2 opens (50.0%)" in page and "without a matching send: 1" in page
