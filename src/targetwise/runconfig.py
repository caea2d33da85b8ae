"""The run config: every hyperparameter of ``targetwise run``, declared once.

A :class:`RunConfig` is passed explicitly to :func:`targetwise.pipeline.run.run_pipeline`
and recorded in the run's manifest (``parameters.config``), so a run says how it was
made and the same data, config and ``random_state`` give the same outputs. It is read
from a TOML file (``targetwise run --config run.toml``) whose tables are the sections
below, and single values can be set on the command line
(``targetwise run --set clv.horizon_days=180``). The README's "Run config" section is
generated from these fields and a test fails if it drifts.

Example ``run.toml``::

    [clv]
    horizon_days = 180
    annual_discount_rate = 0.08

    [propensity]
    tasks = [["purchase", 30], ["churn", 60]]
"""

from __future__ import annotations

import tomllib
from datetime import date
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from targetwise.errors import ConfigError

__all__ = [
    "ClvConfig",
    "DriftConfig",
    "ForecastConfig",
    "PropensityConfig",
    "RecommendationsConfig",
    "RunConfig",
    "SegmentsConfig",
    "UpliftConfig",
    "run_config_markdown",
]

PROPENSITY_TASK_NAMES = ("purchase", "churn", "spend", "next_order")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SegmentsConfig(_Section):
    """Stage ``segments``: RFM segments and behavioural clusters."""

    n_clusters: int | None = Field(default=None, ge=2, le=30, description="Fixed number of clusters (none: the largest stable k by prediction strength, the silhouette where none is stable).")
    algorithm: Literal["kmeans", "dbscan", "hdbscan"] = Field(default="kmeans", description="Clustering algorithm.")
    n_reasons: int = Field(default=3, ge=1, le=10, description="Reasons given per customer.")


class ClvConfig(_Section):
    """Stage ``clv``: BG/NBD + Gamma-Gamma, in days."""

    horizon_days: int = Field(default=365, ge=1, le=3650, description="CLV horizon in days.")
    annual_discount_rate: float = Field(default=0.10, ge=0.0, lt=1.0, description="Yearly discount rate of future spend.")
    interval: float | None = Field(default=0.8, gt=0.0, lt=1.0, description="Width of the CLV interval (none: point values only).")
    n_draws: int = Field(default=200, ge=10, le=10_000, description="Parameter draws behind the CLV interval.")
    penalizer_coef: float = Field(default=0.0, ge=0.0, description="L2 penalty of the BG/NBD fit (0: plain maximum likelihood).")
    spend_penalizer_coef: float = Field(default=0.0, ge=0.0, description="L2 penalty of the Gamma-Gamma fit.")
    retry_penalizers: tuple[float, ...] = Field(
        default=(0.001, 0.01),
        description="L2 penalties tried in turn when the BG/NBD or Gamma-Gamma fit stops at the edge of its parameter "
        "space (e.g. a small shop where nobody lapses); the notes say which was used (empty: no retry).",
    )
    no_dropout_fallback: bool = Field(
        default=True,
        description="When BG/NBD stops at the edge where nobody lapses, also fit the no-dropout NBD purchase model "
        "(P(alive) = 1) and keep the better fit by AIC; the notes say which was used.",
    )
    holdout_weeks: int | None = Field(default=None, ge=1, le=104, description="Weeks held out for the calibration check (none: a third of the history, 4 to 26).")
    covariates: tuple[str, ...] = Field(
        default=(),
        description="Time-invariant covariates on the purchase, dropout and spend processes (Fader & Hardie 2007), "
        "one-hot against each one's most common level: acquisition_channel, first_order_category, region, or a "
        "categorical feature column (empty: the plain models).",
    )
    covariate_min_customers: int = Field(
        default=50, ge=1, description="Covariate levels with fewer customers are pooled into (other); the notes say which.",
    )


    @field_validator("retry_penalizers")
    @classmethod
    def _non_negative(cls, value: tuple[float, ...]) -> tuple[float, ...]:
        if any(not (float(v) >= 0.0) or float(v) == float("inf") for v in value):
            raise ValueError("every retry penalizer must be a finite number >= 0")
        return tuple(float(v) for v in value)


class PropensityConfig(_Section):
    """Stage ``propensity``: supervised tasks trained on point-in-time snapshots."""

    tasks: tuple[tuple[str, int], ...] = Field(
        default=(("purchase", 30), ("churn", 90), ("next_order", 90)),
        description="(task, horizon in days) pairs; tasks are purchase, churn, spend, next_order.",
    )
    n_cutoffs: int = Field(default=6, ge=2, le=52, description="Training cutoffs per task.")
    model: Literal["lightgbm", "logistic", "tree", "linear_svm"] = Field(default="lightgbm", description="Model family.")
    min_history_days: int = Field(default=60, ge=0, description="History a cutoff needs before it.")
    max_rows_per_cutoff: int | None = Field(
        default=50_000, ge=1000,
        description="Training rows kept per cutoff: a seeded uniform sample of the customers when a cutoff has "
        "more (recorded in the model card); every customer is still scored (none: no cap).",
    )

    @field_validator("tasks")
    @classmethod
    def _known_tasks(cls, value: tuple[tuple[str, int], ...]) -> tuple[tuple[str, int], ...]:
        for task, horizon in value:
            if task not in PROPENSITY_TASK_NAMES:
                raise ValueError(f"unknown task {task!r}; use one of {', '.join(PROPENSITY_TASK_NAMES)}")
            if int(horizon) < 1:
                raise ValueError(f"horizon of {task!r} must be at least 1 day")
        return tuple((str(t), int(h)) for t, h in value)


class RecommendationsConfig(_Section):
    """Stage ``recommendations``: hybrid recommender, popular and similar products."""

    n: int = Field(default=10, ge=1, le=100, description="Products recommended per customer (and neighbours per product).")
    popular_n: int = Field(default=50, ge=1, le=1000, description="Popular products kept for cold starts.")
    similar_products_limit: int = Field(default=500, ge=0, description="Most-bought products whose neighbours are precomputed.")


#: the value learners the uplift stage can fit (targetwise.usecases.uplift.VALUE_LEARNERS; a test keeps the two equal)
UPLIFT_VALUE_LEARNERS = ("two_part_shared", "two_part_pooled", "value_x", "value_t")


class UpliftConfig(_Section):
    """Stage ``uplift``: an S-learner on the latest randomised campaign."""

    holdout_fraction: float = Field(default=0.3, gt=0.0, lt=1.0, description="Share of the campaign held out for the Qini check.")
    min_leaf: int | None = Field(
        default=None, ge=5,
        description="Fewest campaign customers per leaf of the uplift model (none: 300, the value tuned on Hillstrom's "
        "64,000 customers, lowered to a twentieth of the campaign, at least 20, for smaller campaigns).",
    )
    value_learner: Literal[("auto", *UPLIFT_VALUE_LEARNERS)] = Field(  # type: ignore[valid-type]
        default="two_part_shared",
        description="Learner of the incremental revenue: two_part_shared (interaction S-learner on conversion x one "
        "log-basket model with the arm as a column), two_part_pooled (S-learner x a basket blind to the arm), value_x, "
        "value_t (X-/T-learner on revenue), or auto: each fitted on the holdout check's fit part and the best held-out "
        "value Qini refitted on the whole campaign (docs/value_uplift.md).",
    )


#: the forecast models a run may try (targetwise.forecast.MODEL_NAMES; a test keeps the two equal)
FORECAST_MODELS = ("seasonal_naive", "naive", "auto_ets", "auto_arima", "auto_theta", "mstl", "lightgbm", "ensemble")


class ForecastConfig(_Section):
    """Stage ``forecast``: demand forecasts of net sales and orders, the model chosen per series by backtest."""

    horizon: int = Field(default=12, ge=1, le=104, description="Periods forecast ahead (weeks or days, as `freq`).")
    freq: Literal["W", "D"] = Field(default="W", description="Period: W (Monday-to-Sunday weeks) or D (days).")
    levels: tuple[Literal["total", "category", "segment"], ...] = Field(
        default=("total", "category", "segment"),
        description="Series forecast: the shop's total, each product category, each RFM segment.",
    )
    measures: tuple[Literal["net_sales", "orders"], ...] = Field(
        default=("net_sales",),
        description="What is forecast: net_sales (the shop's currency) and/or orders (each measure costs as much again).",
    )
    max_series_per_level: int = Field(
        default=8, ge=1, le=500,
        description="Categories and segments forecast per level: the largest by net sales before the cutoff "
        "(the notes count the others).",
    )
    models: tuple[Literal[FORECAST_MODELS], ...] = Field(  # type: ignore[valid-type]
        default=tuple(m for m in FORECAST_MODELS if m != "auto_arima"),
        description="Candidate models; each series gets the one with the lowest backtest MASE (baselines win ties). "
        "auto_arima is left out by default: it costs 0.3-2 s a fit, more than all the others together.",
    )
    backtest_windows: int = Field(default=3, ge=1, le=20, description="Rolling-origin backtest windows per series.")
    selection: Literal["series", "level"] = Field(
        default="level",
        description="Model choice: one model per level (the lowest mean backtest MASE over the level's series) or "
        "per series (noisier: a few backtest windows per series).",
    )
    backtest_step: int | None = Field(default=None, ge=1, description="Periods between backtest cutoffs (none: the horizon).")
    interval_calibration: Literal["series", "level", "sides"] = Field(
        default="series",
        description="How the 80% interval is widened on the backtest (split conformal): one factor per series from "
        "its own misses, the misses pooled over the level's series per horizon step, or per series one factor for "
        "each side (sides: 90% of the misses below, 90% of those above).",
    )
    n_lags: int = Field(default=8, ge=1, le=104, description="Past periods the global LightGBM model sees.")
    lightgbm_estimators: int = Field(default=100, ge=10, le=5000, description="Boosting rounds of the global LightGBM model.")
    holiday_country: Literal["none", "GB", "US"] = Field(
        default="none",
        description="Known holidays as regressors (docs/forecasts.md): the shop's country's calendar (GB: England and "
        "Wales bank holidays; US: the retail holidays, Thanksgiving and Black Friday among them), or none.",
    )
    holiday_dates: tuple[date, ...] = Field(
        default=(),
        description="Further holiday dates of the shop (ISO dates, e.g. its own sale days), counted with the country's.",
    )
    prior_year_window: bool = Field(
        default=True,
        description="Also backtest on the same calendar periods a year before the forecast's (their season and "
        "holidays), where the history holds them.",
    )
    segment_backtest: Literal["cutoff", "window"] = Field(
        default="cutoff",
        description="Whose series a segment's backtest windows score: the members at the forecast's cutoff (cutoff) or "
        "at each window's own cutoff (window; the features are computed once more per window).",
    )


class DriftConfig(_Section):
    """Stage ``drift``: this run against the previous promoted run (formulas: ``targetwise.features.drift``)."""

    psi_warn: float = Field(default=0.1, gt=0.0, description="PSI of a feature or score at or above which the run notes a moderate shift (warn).")
    psi_alert: float = Field(default=0.25, gt=0.0, description="PSI at or above which the shift is an alert.")
    n_bins: int = Field(default=10, ge=2, le=100, description="PSI bins: quantiles of the previous run (10: deciles).")
    epsilon: float = Field(default=1e-4, gt=0.0, lt=0.01, description="Share used for an empty PSI bin, so its logarithm is finite.")
    segment_change_alert: float = Field(default=0.3, gt=0.0, le=1.0, description="Share of customers (in both runs) changing RFM segment or cluster at or above which the run alerts.")
    auc_drop_alert: float = Field(default=0.05, gt=0.0, le=1.0, description="Drop of a propensity model's out-of-time ROC AUC (absolute) beyond which the run alerts.")
    r2_drop_alert: float = Field(default=0.1, gt=0.0, description="Drop of a regression task's out-of-time R\u00b2 (absolute) beyond which the run alerts.")
    clv_error_rise_alert: float = Field(default=0.1, gt=0.0, description="Rise of the CLV holdout check's relative error (predicted minus actual repeat purchases, in absolute value, over actual) beyond which the run alerts.")
    alert_url: str | None = Field(default=None, description="URL the alerts are POSTed to as signed JSON (none: no webhook); a failure to post is noted, never fatal.")
    alert_secret_env: str | None = Field(default=None, description="Environment variable holding the webhook's signing secret (required with alert_url).")

    @field_validator("alert_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError(f"alert_url must start with http:// or https://, got {value!r}")
        return value


class SendtimeConfig(_Section):
    """Stage ``sendtime``: best send time and channel per customer from the engagement log (docs/engage.md)."""

    prior_strength: float | None = Field(default=None, gt=0.0, description="Prior strength (pseudo-sends) pulling a customer toward their segment's pattern (none: chosen per dimension by empirical Bayes).")
    n_draws: int = Field(default=200, ge=10, le=10_000, description="Posterior draws per customer behind the confidence (P(the recommended hour band is the best)).")


class LookalikeConfig(_Section):
    """Lookalike audiences (``targetwise audience lookalike``): rank everyone outside a seed by similarity."""

    method: Literal["pu", "knn"] = Field(
        default="pu",
        description="pu: positive-unlabelled logistic regression seed vs rest, Elkan-Noto calibrated; knn: "
        "distance-weighted share of seed members among the nearest neighbours in the scaled feature space.",
    )
    n_neighbors: int = Field(default=50, ge=1, le=1000, description="Neighbours per customer (knn).")
    n_folds: int = Field(default=3, ge=2, le=10, description="Cross-fitting folds: every customer and seed member is scored by a model that did not see them (pu).")
    C: float = Field(default=0.1, gt=0.0, le=1000.0, description="Inverse L2 penalty of the logistic regression (pu).")


class RunConfig(_Section):
    """Every hyperparameter of a run (see the module docstring)."""

    random_state: int | None = Field(default=None, description="Seed of every random choice (none: the setting TARGETWISE_RANDOM_STATE).")
    segments: SegmentsConfig = Field(default_factory=SegmentsConfig)
    clv: ClvConfig = Field(default_factory=ClvConfig)
    propensity: PropensityConfig = Field(default_factory=PropensityConfig)
    recommendations: RecommendationsConfig = Field(default_factory=RecommendationsConfig)
    uplift: UpliftConfig = Field(default_factory=UpliftConfig)
    forecast: ForecastConfig = Field(default_factory=ForecastConfig)
    lookalike: LookalikeConfig = Field(default_factory=LookalikeConfig)
    sendtime: SendtimeConfig = Field(default_factory=SendtimeConfig)
    drift: DriftConfig = Field(default_factory=DriftConfig)

    @classmethod
    def load(cls, path: str | Path | None = None, *, overrides: list[str] | None = None) -> RunConfig:
        """Read a TOML file (optional) and apply ``section.field=value`` overrides."""
        data: dict[str, Any] = {}
        if path is not None:
            try:
                data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
            except FileNotFoundError:
                raise ConfigError(f"run config {str(path)!r} does not exist", fix="check the path") from None
            except tomllib.TOMLDecodeError as exc:
                raise ConfigError(f"run config {str(path)!r} is not valid TOML: {exc}", fix="fix the file") from None
        for item in overrides or []:
            key, sep, raw = item.partition("=")
            if not sep or not key.strip():
                raise ConfigError(f"--set {item!r} is not section.field=value", fix="e.g. --set clv.horizon_days=180")
            try:
                value: Any = tomllib.loads(f"v = {raw.strip()}")["v"]
            except tomllib.TOMLDecodeError:
                value = raw.strip()  # a bare word, e.g. --set segments.algorithm=dbscan
            *sections, name = key.strip().split(".")
            target = data
            for section in sections:
                target = target.setdefault(section, {})
                if not isinstance(target, dict):
                    raise ConfigError(f"--set {item!r}: {section!r} is not a section", fix="e.g. --set clv.horizon_days=180")
            target[name] = value
        return cls.parse(data, source=str(path) if path else "--set")

    @classmethod
    def parse(cls, data: dict[str, Any], *, source: str = "run config") -> RunConfig:
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            first = exc.errors()[0]
            name = ".".join(str(p) for p in first["loc"])
            raise ConfigError(
                f"invalid run config value {name} ({source}): {first['msg']}",
                fix="see the README's 'Run config' section for each field and its range",
            ) from None

    def seed(self, default: int) -> int:
        return default if self.random_state is None else self.random_state


def run_config_markdown() -> str:
    """The README's "Run config" table, generated from the fields."""
    lines = ["| key | default | meaning |", "|---|---|---|"]
    top = RunConfig.model_fields["random_state"]
    lines.append(f"| `random_state` | `{top.default}` | {top.description} |")
    for section, field in RunConfig.model_fields.items():
        if section == "random_state":
            continue
        model = field.default_factory  # type: ignore[assignment]
        for name, sub in model.model_fields.items():  # type: ignore[union-attr]
            default = sub.default_factory() if sub.default_factory is not None else sub.default  # type: ignore[call-arg]
            if isinstance(default, tuple):
                default = [list(d) if isinstance(d, tuple) else d for d in default]
            lines.append(f"| `{section}.{name}` | `{default}` | {sub.description} |")
    return "\n".join(lines) + "\n"
