"""Engagement benchmarks (issue 22). Each part is its own function; run all or one with --only.

    .venv/bin/python benchmarks/engage.py [--only sendtime] [--sizes 10000 1000000]

sendtime: on the synthetic retailer's planted engagement log (targetwise._synthetic_engage: preferred
weekday, hour band and channel per customer; the shop sends 40% at 09:00 over email/sms/push at 60/20/20),
the share of customers whose recommended hour band and channel match the planted ones, by how many
human responses they have, for our estimator (rates per send, shrunk toward the customer type's and the
shop's pattern) next to three baselines: the segment's pattern alone, the band with most raw responses,
and the shop's usual 09:00 email. No open-source peer exists (Braze Intelligent Timing and Klaviyo
smart send time are closed services). Timings: generating the log, fitting, predicting (confidence by
Monte Carlo included); at the smallest size also the whole path through a workspace (ingest, the io
read that matches responses to sends, the use case).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _machine import describe

from targetwise._synthetic_engage import ENGAGE_CHANNELS, engagement_truth, generate_engagements
from targetwise._synthetic_params import CUSTOMER_TYPES
from targetwise.engage import SendTimeEstimator, hour_band

HORIZON = 729.0  # days, as the retailer's default 2022-01-01 .. 2023-12-31
T0 = pd.Timestamp("2022-01-01")


def planted_log(n: int, seed: int) -> tuple[pd.DataFrame, dict[str, np.ndarray], np.ndarray]:
    """One row per send (integer customer ids) with ``responded``, the planted truth and the customer types."""
    rng = np.random.default_rng(seed)
    names = list(CUSTOMER_TYPES)
    shares = np.array([CUSTOMER_TYPES[t].share for t in names])
    ctype = rng.choice(len(names), size=n, p=shares / shares.sum())
    signup = rng.uniform(0.0, 0.7 * HORIZON, n)
    planted = engagement_truth(rng, names, ctype)
    log = generate_engagements(rng, planted, t0=T0, signup=signup, horizon=HORIZON)
    is_send = log["event"] == 0
    human = ((log["event"] == 2) | (log["event"] == 3)) & ~log["is_machine"]
    answered = np.zeros(int(log["message"].max()) + 1, dtype=bool)
    answered[log["message"][human]] = True
    at = T0 + pd.to_timedelta(log["at"][is_send] * 86400.0, unit="s")
    sends = pd.DataFrame({
        "customer_id": log["customer"][is_send],
        "channel": pd.Categorical.from_codes(log["channel"][is_send], categories=list(ENGAGE_CHANNELS)),
        "weekday": at.dayofweek.to_numpy(), "hour": at.hour.to_numpy(),
        "responded": answered[log["message"][is_send]],
    })
    return sends, planted, ctype


def sendtime(sizes: list[int], seed: int = 0) -> list[str]:
    lines = ["## Send time and channel (synthetic retailer, planted preferences)", "", f"Machine: {describe()}", "",
             "Accuracy: share of customers whose recommended hour band (4 hours) / channel is the planted one.", "",
             "| customers | sends | responses per customer | customers in group | ours: band | segment pattern: band "
             "| most raw responses: band | shop's 09:00: band | ours: channel | most raw responses: channel |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    timing = ["", "| customers | sends | generate (s) | fit (s) | predict incl. confidence (s) |",
              "|---|---|---|---|---|"]
    for n in sizes:
        t = time.perf_counter()
        sends, planted, ctype = planted_log(n, seed)
        t_gen = time.perf_counter() - t
        segments = pd.Series(np.array(list(CUSTOMER_TYPES))[ctype], index=np.arange(n))
        t = time.perf_counter()
        est = SendTimeEstimator(random_state=seed).fit(sends, segments)
        t_fit = time.perf_counter() - t
        t = time.perf_counter()
        pred = est.predict()
        t_pred = time.perf_counter() - t
        ids = pred["customer_id"].astype(np.int64).to_numpy()
        band_true = planted["preferred_hour_band"][ids]
        chan_true = np.array(ENGAGE_CHANNELS)[planted["preferred_channel"][ids]]
        ours_band = hour_band(pred["best_hour"].to_numpy()) == band_true
        ours_chan = pred["best_channel"].astype(str).to_numpy() == chan_true
        seg_band = est.segment_bands().reindex(segments.iloc[ids].to_numpy()).to_numpy() == band_true
        r, _ = est.counts_["band"]
        raw_band = r.argmax(axis=1) == band_true
        rc, _ = est.counts_["channel"]
        raw_chan = est.channels_[rc.argmax(axis=1)].astype(str) == chan_true
        usual = band_true == 2
        resp = est.responses_
        for label, mask in (("0-2", resp < 3), ("3-9", (resp >= 3) & (resp < 10)), (">= 10", resp >= 10),
                            ("all", resp >= 0)):
            lines.append(
                f"| {n:,} | {len(sends):,} | {label} | {int(mask.sum()):,} | {ours_band[mask].mean():.1%} | "
                f"{seg_band[mask].mean():.1%} | {raw_band[mask].mean():.1%} | {usual[mask].mean():.1%} | "
                f"{ours_chan[mask].mean():.1%} | {raw_chan[mask].mean():.1%} |")
        timing.append(f"| {n:,} | {len(sends):,} | {t_gen:.1f} | {t_fit:.1f} | {t_pred:.1f} |")
        print(lines[-4:], timing[-1], flush=True)
    out = lines + timing
    if sizes:
        out += ["", workspace_path(min(sizes), seed)]
    return out


def workspace_path(n: int, seed: int) -> str:
    """The whole path at ``n`` customers: ingest of the retailer's log, the io read, the use case."""
    from targetwise.config import get_settings
    from targetwise.io.ingest import ingest_arrow
    from targetwise.io.modeldata import open_model_data
    from targetwise.io.readers import source_from_frame
    from targetwise.io.workspace import Workspace
    from targetwise.synthetic import generate_retailer
    from targetwise.usecases.sendtime import send_times_at

    shop = generate_retailer(n, random_state=seed)
    with tempfile.TemporaryDirectory() as folder:
        settings = get_settings(workspace=Path(folder) / "ws")
        ws = Workspace.init(settings.workspace, settings)
        t = time.perf_counter()
        ingest_arrow(ws, "engagements", source_from_frame(shop.engagements, name="engagements"))
        t_ingest = time.perf_counter() - t
        segments = shop.truth[["customer_id", "customer_type"]].rename(columns={"customer_type": "segment"})
        t = time.perf_counter()
        with open_model_data(ws) as data:
            result = send_times_at(data, "2024-01-01", timezone="UTC", segments=segments, random_state=seed)
        t_use = time.perf_counter() - t
    return (f"Whole path at {n:,} customers ({len(shop.engagements):,} events): ingest {t_ingest:.1f} s; "
            f"read (responses matched to sends) + fit + predict {t_use:.1f} s for {result.sends:,} sends.")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", choices=("sendtime",), default=None)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 1_000_000])
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    sections = []
    if args.only in (None, "sendtime"):
        sections.append("\n".join(sendtime(args.sizes, args.seed)))
    print("\n\n".join(sections))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
