"""Every file a run may hold, declared once: path, kind, columns, the stage that writes it, who reads it.

Stages write outputs through :class:`targetwise.io.runs.RunWriter`, which refuses a
path not declared here (or declared for another stage) and a table missing a
declared column; readers (:class:`targetwise.io.runs.RunInfo`, the service, the
report, erasure) ask for outputs by these declarations, and an undeclared name is
refused too. Adding an output is one entry below (see ``docs/architecture.md``).

A path may hold one ``{key}`` placeholder for outputs written once per model
(``propensity/importance_{key}.parquet`` with key ``purchase_30d``): use
:meth:`Output.at`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

from targetwise.errors import WorkspaceError

__all__ = ["OUTPUTS", "Output", "declared", "output_for"]

Kind = Literal["table", "json", "png", "model"]


@dataclass(frozen=True)
class Output:
    """One declared run file."""

    path: str
    stage: str
    kind: Kind
    description: str
    columns: tuple[str, ...] = ()  # columns a table must have: what its readers rely on (others are described)
    readers: tuple[str, ...] = ()  # who reads it: service, ui, report, audiences, campaigns, cli, erasure
    customer_rows: bool = False  # rows name customers (erasure removes them; objectors never appear)
    _pattern: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        pattern = re.escape(self.path).replace(re.escape("{key}"), r"[a-z0-9_]+")
        object.__setattr__(self, "_pattern", re.compile(pattern))

    @property
    def templated(self) -> bool:
        return "{key}" in self.path

    def at(self, key: str) -> str:
        """The concrete path of a templated output (``key`` e.g. ``purchase_30d``)."""
        if not self.templated:
            raise WorkspaceError(f"run output {self.path!r} takes no key")
        concrete = self.path.replace("{key}", key)
        if not self._pattern.fullmatch(concrete):
            raise WorkspaceError(f"run output key {key!r} must be lower-case letters, digits and _")
        return concrete

    def matches(self, relative: str) -> bool:
        return bool(self._pattern.fullmatch(relative))

    def __str__(self) -> str:
        return self.path


def _o(path: str, stage: str, kind: Kind, description: str, **kw: object) -> Output:
    return Output(path, stage, kind, description, **kw)  # type: ignore[arg-type]


FEATURES = _o("features/customer_features.parquet", "features", "table",
              "One row per customer: point-in-time features at as_of (profiling objectors left out).",
              columns=("customer_id",),
              readers=("service", "ui", "audiences", "campaigns"), customer_rows=True)
SEGMENTS = _o("segments/customer_segments.parquet", "segments", "table",
              "Per customer: RFM score and segment, cluster id and name, reason.",
              columns=("customer_id", "rfm_segment", "cluster_name"),
              readers=("service", "ui", "audiences", "campaigns"), customer_rows=True)
CENTERS = _o("segments/centers.parquet", "segments", "table",
             "Cluster centres; the next run matches its clusters to them so ids and names stay put.",
             columns=("cluster",), readers=("pipeline",))
PROFILES = _o("segments/profiles.json", "segments", "json",
              "Per segment: name, size, shares, description, feature means vs overall.",
              readers=("service", "ui", "report"))
RFM_COUNTS = _o("segments/rfm_counts.json", "segments", "json", "Customers per RFM segment.", readers=("report",))
SEGMENT_MAP = _o("segments/segment_map.png", "segments", "png", "The customers on the first two principal components.",
                 readers=("report",))
CLV = _o("clv/customer_clv.parquet", "clv", "table",
         "Per customer: P(alive), expected purchases and spend, CLV with its interval (horizon in the manifest).",
         columns=("customer_id", "clv"),
         readers=("service", "ui", "report", "audiences", "campaigns"), customer_rows=True)
CLV_PARAMS = _o("clv/params.json", "clv", "json", "Fitted BG/NBD and Gamma-Gamma parameters, units, horizon.",
                readers=("report",))
CLV_HOLDOUT = _o("clv/calibration_holdout.parquet", "clv", "table",
                 "Predicted vs actual holdout purchases by calibration frequency.", readers=("report",))
CLV_HOLDOUT_PNG = _o("clv/calibration_holdout.png", "clv", "png", "Calibration vs holdout plot.", readers=("report",))
CLV_TRACKING_PNG = _o("clv/tracking.png", "clv", "png", "Repeat purchases per week, actual vs model.", readers=("report",))
CLV_ALIVE_PNG = _o("clv/prob_alive_matrix.png", "clv", "png", "P(alive) by frequency and recency.", readers=("report",))
PROPENSITY = _o("propensity/scores.parquet", "propensity", "table",
                "Per customer: one score column per task (e.g. p_purchase_30d) and its drivers.",
                columns=("customer_id",), readers=("service", "ui", "audiences", "campaigns"), customer_rows=True)
MODEL_CARDS = _o("propensity/model_cards.json", "propensity", "json", "One model card per task.",
                 readers=("service", "report"))
IMPORTANCE = _o("propensity/importance_{key}.parquet", "propensity", "table", "Feature importance of one task's model.",
                columns=("feature", "importance"), readers=("report",))
BACKTEST = _o("propensity/backtest_{key}.parquet", "propensity", "table",
              "One task's out-of-time test rows: customer, outcome, score.",
              columns=("customer_id", "y_true", "score"), readers=("report",), customer_rows=True)
RECOMMENDATIONS = _o("recommendations/recommendations.parquet", "recommendations", "table",
                     "Per customer: ranked products with score and a reason in words.",
                     columns=("customer_id", "rank", "product_id", "score", "reason"),
                     readers=("service", "ui", "cli"), customer_rows=True)
POPULAR = _o("recommendations/popular.parquet", "recommendations", "table",
             "Most popular products (cold start).", columns=("rank", "product_id", "score"),
             readers=("service", "ui", "cli", "report"))
SIMILAR = _o("recommendations/similar_products.parquet", "recommendations", "table",
             "Neighbours of the most-bought products.",
             columns=("product_id", "rank", "similar_product_id", "score"), readers=("service", "ui"))
UPLIFT = _o("uplift/uplift.parquet", "uplift", "table",
            "Per customer: predicted incremental conversion probability per treatment arm (uplift_<arm>); when the "
            "campaign's responses carry revenue, incremental revenue over its response window (value_uplift_<arm>, "
            "currency) and the revenue expected if contacted (revenue_if_contacted_<arm>).",
            columns=("customer_id",), readers=("service", "ui", "audiences", "campaigns"), customer_rows=True)
QINI = _o("uplift/qini_curve.parquet", "uplift", "table", "Qini curve of the holdout check.",
          columns=("targeted", "incremental_responders"), readers=("report",))
COHORTS = _o("cohorts/cohorts.parquet", "cohorts", "table",
             "Acquisition-month cohorts: customers, active customers, retention, revenue and cumulative revenue per "
             "customer by month since the first order (docs/cohorts.md).",
             columns=("cohort_month", "months_since_first", "customers", "active_customers", "retention", "revenue",
                      "cumulative_revenue_per_customer"),
             readers=("service", "ui", "report", "cli"))
FORECASTS = _o("forecast/forecasts.parquet", "forecast", "table",
               "Demand forecasts: per measure (net_sales in the shop's currency, orders), level (total, category, "
               "segment) and series, the next periods' forecast and 80% interval, and the model chosen by backtest "
               "(docs/forecasts.md).",
               columns=("series", "level", "measure", "period_start", "forecast", "lo_80", "hi_80", "model"),
               readers=("service", "ui", "report", "cli"))
FORECAST_HISTORY = _o("forecast/history.parquet", "forecast", "table",
                      "The whole periods each forecast continues: net sales or orders per series and period.",
                      columns=("series", "level", "measure", "period_start", "y"), readers=("service", "ui", "report"))
FORECAST_SCORES = _o("forecast/backtest.parquet", "forecast", "table",
                     "Rolling-origin backtest per series and candidate model: mean MASE, sMAPE (%), 80% interval "
                     "coverage over the windows, and which model was chosen.",
                     columns=("series", "level", "measure", "model", "mase", "smape", "coverage", "windows", "chosen"),
                     readers=("service", "ui", "report"))
SEND_TIMES = _o("sendtime/send_times.parquet", "sendtime", "table",
                 "Per customer: best weekday (0 = Monday) and hour (0-23, shop time) to send, best channel, "
                 "confidence (P(the recommended hour band is the best)) and the level it came from (personal, "
                 "segment, global) (docs/engage.md).",
                 columns=("customer_id", "best_weekday", "best_hour", "best_channel", "confidence", "source"),
                 readers=("service", "ui", "cli", "campaigns"), customer_rows=True)
DRIFT = _o("drift/drift.json", "drift", "json",
           "This run against the previous promoted run: PSI per feature and score, share of customers changing "
           "segment, out-of-time metrics then and now, and the breaches of the drift thresholds "
           "(targetwise.features.drift).",
           readers=("service", "ui", "report", "cli"))

# Fitted models, so `targetwise rescore` scores new events without refitting (docs/rescore.md). Pickles
# (joblib), loaded only from this workspace's own run folder after their SHA-256 matches the manifest's;
# they hold no customer id (erasure has nothing to rewrite in them).
SEGMENTS_MODEL = _o("segments/model.joblib", "segments", "model",
                    "The fitted RFM thresholds and behavioural clusterer with the cluster names.",
                    readers=("rescore",))
CLV_MODEL = _o("clv/model.joblib", "clv", "model",
               "The fitted transaction and spend models with the CLV horizon, discount and interval settings.",
               readers=("rescore",))
PROPENSITY_MODEL = _o("propensity/model_{key}.joblib", "propensity", "model",
                      "One task's final fitted model, its feature columns and score column.", readers=("rescore",))

#: every declared output, in the order the stages write them
OUTPUTS: tuple[Output, ...] = (
    FEATURES, SEGMENTS, CENTERS, PROFILES, RFM_COUNTS, SEGMENT_MAP,
    CLV, CLV_PARAMS, CLV_HOLDOUT, CLV_HOLDOUT_PNG, CLV_TRACKING_PNG, CLV_ALIVE_PNG,
    PROPENSITY, MODEL_CARDS, IMPORTANCE, BACKTEST,
    SEGMENTS_MODEL, CLV_MODEL, PROPENSITY_MODEL,
    RECOMMENDATIONS, POPULAR, SIMILAR,
    UPLIFT, QINI,
    FORECASTS, FORECAST_HISTORY, FORECAST_SCORES,
    COHORTS,
    SEND_TIMES,
    DRIFT,
)
_EXACT = {o.path: o for o in OUTPUTS if not o.templated}
_TEMPLATED = tuple(o for o in OUTPUTS if o.templated)


def output_for(relative: str | Output) -> Output:
    """The declaration behind a run-relative path; WorkspaceError for an undeclared one."""
    if isinstance(relative, Output):
        return relative
    found = _EXACT.get(relative) or next((o for o in _TEMPLATED if o.matches(relative)), None)
    if found is None:
        raise WorkspaceError(
            f"{relative!r} is not a declared run output",
            fix="declare it in targetwise.io.outputs (path, kind, columns, stage, readers)",
        )
    return found


def declared(relative: str) -> bool:
    try:
        output_for(relative)
    except WorkspaceError:
        return False
    return True


def path_of(relative: str | Output) -> str:
    """The run-relative path of an output given as a declaration or a path."""
    out = output_for(relative)
    if isinstance(relative, Output):
        if out.templated:
            raise WorkspaceError(f"run output {out.path!r} needs a key: use .at(key)")
        return out.path
    return relative
