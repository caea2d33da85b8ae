"""Stage ``clv``: BG/NBD + Gamma-Gamma in days, CLV with intervals, and the checks a marketer reads.

When a fit stops at the edge of its parameter space the use case refits it (penalised, or the
no-dropout NBD when nobody lapses); the model used is in the metrics (``transaction_model``),
the params output and the notes. ``clv.covariates`` fits the covariate models instead; the params
output then carries every coefficient with its standard error (``covariates``).
"""

from __future__ import annotations

import numpy as np

from targetwise.figures import png_bytes
from targetwise.io import outputs as out
from targetwise.io.runs import StageRecord
from targetwise.pipeline.context import RunContext, Stage
from targetwise.usecases._common import Notes, collect_warnings
from targetwise.usecases.clv import MODEL_LABELS, clv_checks, fit_clv, per_unit_discount
from targetwise.usecases.clv_covariates import clv_covariate_table, plain_model


def run(ctx: RunContext, record: StageRecord) -> None:
    cfg = ctx.config.clv
    features = ctx.require_features()
    record.rows_in(ctx.data.lines_before(ctx.as_of))  # the purchase days it fits on come from these lines
    covariates, covariate_notes = None, Notes()
    if cfg.covariates:
        covariates, covariate_notes = clv_covariate_table(
            ctx.data, ctx.as_of, features, cfg.covariates, min_customers=cfg.covariate_min_customers
        )
    result = fit_clv(
        features, horizon=cfg.horizon_days, time_unit="D", discount_rate=per_unit_discount(cfg.annual_discount_rate, "D"),
        interval=cfg.interval, n_draws=cfg.n_draws, penalizer_coef=cfg.penalizer_coef,
        spend_penalizer_coef=cfg.spend_penalizer_coef, retry_penalizers=cfg.retry_penalizers,
        no_dropout_fallback=cfg.no_dropout_fallback, random_state=ctx.random_state, covariates=covariates,
    )
    for note in [*covariate_notes, *result.notes]:
        record.note(note)
    ctx.results["clv"] = result.table
    ctx.writer.write_table(out.CLV, result.table)
    # the P(alive) matrix shows the plain model (with covariates: the reference customers')
    _checks(ctx, record, plain_model(result.transaction_model), features["btyd_T"].to_numpy(dtype=float))
    trans, ggf = result.transaction_model, result.spend_model
    key, label = MODEL_LABELS[type(trans).__name__]  # beta_geo, or nbd after the no-dropout fallback
    params = {"transaction_model": label, key: trans.params_, "gamma_gamma": ggf.params_,
              f"{key}_log_likelihood": trans.log_likelihood_, "penalizer_coef": trans.penalizer_coef,
              "spend_penalizer_coef": ggf.penalizer_coef, "time_unit": "day", "horizon_days": cfg.horizon_days,
              "annual_discount_rate": cfg.annual_discount_rate}
    if "covariates" in (fitted := result.params()):
        # params at the reference level (all covariates 0); coefficients on the log scale, with standard errors
        params["covariates"] = fitted["covariates"]
    ctx.writer.write_json(out.CLV_PARAMS, params)
    if not cfg.covariates:  # a covariate model scores by covariate group: `targetwise rescore` refuses it
        ctx.writer.write_model(out.CLV_MODEL, {
            "transaction_model": trans, "spend_model": ggf, "horizon": cfg.horizon_days, "time_unit": "D",
            "discount_rate": per_unit_discount(cfg.annual_discount_rate, "D"), "interval": cfg.interval,
            "n_draws": cfg.n_draws, "random_state": ctx.random_state,
        })
    record.params = {"horizon": cfg.horizon_days, "time_unit": "day", "annual_discount_rate": cfg.annual_discount_rate,
                     "interval": cfg.interval}
    record.metrics.update(
        {
            "customers": len(result.table),
            "repeat_buyers": result.repeat_buyers,
            "total_clv": float(result.table["clv"].sum()),
            "median_p_alive": float(np.median(result.table["p_alive"])),
            "transaction_model": label,
            key: {k: float(v) for k, v in trans.params_.items()},
            "gamma_gamma": {k: float(v) for k, v in ggf.params_.items()},
        }
    )


def _checks(ctx: RunContext, record: StageRecord, model: object, T: np.ndarray) -> None:
    """Calibration-vs-holdout, tracking and P(alive) matrix: what the marketer checks before trusting CLV."""
    from targetwise.clv import plot_calibration_holdout, plot_prob_alive_matrix, plot_tracking

    notes = Notes()
    with collect_warnings(notes):
        checks = clv_checks(
            ctx.data, ctx.as_of, holdout_weeks=ctx.config.clv.holdout_weeks,
            retry_penalizers=ctx.config.clv.retry_penalizers, no_dropout_fallback=ctx.config.clv.no_dropout_fallback,
        )
        notes.extend(n for n in checks.notes if n not in notes)
        f, r, t, holdout, duration, per_period, first_times = checks.arrays
        cal = checks.model
        ctx.writer.write_bytes(out.CLV_HOLDOUT_PNG, png_bytes(plot_calibration_holdout(
            cal, f, r, t, holdout, holdout_duration=duration, time_unit="week")))
        ctx.writer.write_bytes(out.CLV_TRACKING_PNG, png_bytes(plot_tracking(
            cal, per_period, first_times, calibration_end=checks.calibration_end_period, time_unit="week")))
        ctx.writer.write_bytes(out.CLV_ALIVE_PNG, png_bytes(plot_prob_alive_matrix(
            model, T=float(np.median(T)), time_unit="day")))
    for note in notes:
        record.note(note)
    ctx.writer.write_table(out.CLV_HOLDOUT, checks.calibration_holdout.reset_index())
    record.metrics["holdout_check"] = {
        "calibration_cutoff": str(checks.cutoff.date()),
        "holdout_weeks": checks.holdout_weeks,
        "actual_repeat_purchases": checks.holdout_actual,
        "predicted_repeat_purchases": checks.holdout_predicted,
    }


STAGE = Stage(
    "clv", run, needs=("features",), config_section="clv",
    outputs=(out.CLV, out.CLV_PARAMS, out.CLV_HOLDOUT, out.CLV_HOLDOUT_PNG, out.CLV_TRACKING_PNG, out.CLV_ALIVE_PNG,
             out.CLV_MODEL),
    description="customer lifetime value with intervals and holdout checks",
)
