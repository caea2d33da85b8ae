"""Shared machinery of the CLV models: input checks, compression, ML fitting.

Every model maximises a weighted log-likelihood over *unique* customer rows
(``np.unique`` on the stacked inputs, the counts become weights), in
log-parameters (so positivity needs no bounds) with L-BFGS-B and the model's
analytic gradient. The optional L2 penalty has lifetimes' meaning: the
objective is ``-mean(log-likelihood) + penalizer_coef * sum(params**2)``.
``covariance_`` is the inverse observed information in the natural
parameters, from a central finite difference of the analytic gradient in
log-parameters and the delta method.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.optimize import minimize

from targetwise._fitted import check_fitted
from targetwise.errors import ConvergenceError, DataValidationError, Location, ModelError

FloatArray = NDArray[np.float64]
#: ``(natural params, columns, weights) -> (total weighted log-likelihood, gradient in natural params)``
LogLikFn = Callable[[FloatArray, tuple[FloatArray, ...], FloatArray], tuple[float, FloatArray]]

_LOG_BOUND = 25.0  # optimiser box in log-parameters (e^25 ≈ 7e10)
_LOG_DEGENERATE = 20.0  # a fitted |log param| beyond this (e^20 ≈ 5e8) is a degenerate fit, not a model
# A model's ``_edge_params`` beyond e^12 (≈ 1.6e5) with an information matrix that is not positive
# definite: the optimiser is walking a flat ridge towards the edge (Gamma-Gamma's q -> inf, where every
# customer's spend is predicted as the shop mean); where it stops depends on the scipy release, so such
# a fit counts as stopped at the edge too.
_LOG_FAR = 12.0


def _single_blas_thread() -> contextlib.AbstractContextManager[Any]:
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl ships with scikit-learn
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


class CLVWarning(UserWarning):
    """Base of the warnings the CLV models emit."""


class CovarianceWarning(CLVWarning):
    """The observed information matrix is singular or not positive definite."""


def as_column(values: ArrayLike, name: str) -> tuple[FloatArray, Any]:
    """A 1-D float array and the labels to report offending rows with (index or position)."""
    labels = getattr(values, "index", None)
    if callable(labels):  # list.index / tuple.index: positional labels instead
        labels = None
    try:
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise DataValidationError(
            f"{name} must be numeric, got values that cannot be converted to float ({exc})",
            fix=f"pass {name} as numbers (one per customer)",
        ) from exc
    if array.ndim != 1:
        raise DataValidationError(
            f"{name} must be one-dimensional (one value per customer), got shape {array.shape}",
            fix=f"pass a 1-D array or a pandas Series for {name}",
        )
    return array, labels


def fail_at(
    mask: NDArray[np.bool_], array: FloatArray, labels: Any, name: str, problem: str, fix: str
) -> None:
    """Raise a DataValidationError at the first row where ``mask`` is true."""
    if not mask.any():
        return
    position = int(np.flatnonzero(mask)[0])
    label = labels[position] if labels is not None else position
    value = float(array[position])
    raise DataValidationError(
        f"{name} at index {label!r} is {value!r}: {problem} ({int(mask.sum())} row(s) affected)",
        fix=fix,
        location=Location(row=position + 1, column=name, value=value),
        details={"index": str(label), "n_rows": int(mask.sum())},
    )


def check_finite(array: FloatArray, labels: Any, name: str) -> None:
    fail_at(
        ~np.isfinite(array),
        array,
        labels,
        name,
        "values must be finite numbers, not NaN or infinity",
        f"drop or fill customers with missing {name} before fitting or scoring",
    )


def validate_rfm(
    frequency: ArrayLike, recency: ArrayLike, T: ArrayLike
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Check a (frequency, recency, T) summary and return it as float arrays.

    ``frequency`` counts *repeat* purchases; ``recency`` is the time of the last
    repeat purchase since the first one and ``T`` the time from the first
    purchase to the end of observation, both in the same time unit.
    """
    x, x_labels = as_column(frequency, "frequency")
    t_x, t_labels = as_column(recency, "recency")
    big_t, big_labels = as_column(T, "T")
    if not (x.shape == t_x.shape == big_t.shape):
        raise DataValidationError(
            f"frequency, recency and T must have the same length, got {x.shape[0]}, {t_x.shape[0]}, "
            f"{big_t.shape[0]}",
            fix="pass one value per customer in each of the three inputs",
        )
    if x.shape[0] == 0:
        raise DataValidationError(
            "no customers: frequency, recency and T are empty", fix="pass at least one customer"
        )
    for array, labels, name in (
        (x, x_labels, "frequency"),
        (t_x, t_labels, "recency"),
        (big_t, big_labels, "T"),
    ):
        check_finite(array, labels, name)
        fail_at(
            array < 0,
            array,
            labels,
            name,
            "must not be negative",
            f"{name} counts or times are >= 0; recompute the RFM summary",
        )
    fail_at(
        x != np.round(x),
        x,
        x_labels,
        "frequency",
        "must be a whole number of repeat purchases",
        "frequency counts repeat transactions (purchases after the first), an integer",
    )
    fail_at(
        t_x > big_t,
        t_x,
        t_labels,
        "recency",
        "is greater than T for this customer",
        "recency (last repeat purchase since the first) cannot exceed T (observation end since the first "
        "purchase); check both use the same time unit and observation end",
    )
    fail_at(
        (x == 0) & (t_x > 0),
        t_x,
        t_labels,
        "recency",
        "is positive although frequency is 0",
        "a customer without repeat purchases has recency 0 (lifetimes convention)",
    )
    return x, t_x, big_t


def compress_rows(*columns: FloatArray) -> tuple[tuple[FloatArray, ...], FloatArray, NDArray[np.intp]]:
    """Unique rows of the given columns, their counts (as weights) and the inverse map.

    Hash-based (``pandas.factorize`` per column, then on the combined integer
    code): on a million customers this is ~20x faster than
    ``np.unique(..., axis=0)``, whose row sort compares raw bytes.
    """
    import pandas as pd

    n_rows = columns[0].shape[0]
    key = np.zeros(n_rows, dtype=np.int64)
    n_combined = 1
    for column in columns:
        codes, uniques = pd.factorize(column)
        n_combined *= max(len(uniques), 1)
        if n_combined >= 2**62:  # the combined code would overflow int64: fall back to a sort
            stacked = np.column_stack(columns)
            unique, inverse, counts = np.unique(stacked, axis=0, return_inverse=True, return_counts=True)
            return (
                tuple(np.ascontiguousarray(unique[:, j]) for j in range(unique.shape[1])),
                counts.astype(np.float64),
                inverse.ravel(),
            )
        key = key * len(uniques) + codes
    if n_combined <= 4 * n_rows + 1024:
        # Dense code space: a bincount replaces the second hash pass.
        present = np.bincount(key, minlength=n_combined) > 0
        rank = np.cumsum(present) - 1
        inverse = rank[key]
        n_unique = int(rank[-1]) + 1
    else:
        inverse, first_codes = pd.factorize(key)
        n_unique = len(first_codes)
    first = np.empty(n_unique, dtype=np.intp)
    # Writing positions in reverse leaves each group's first position in place.
    first[inverse[::-1]] = np.arange(n_rows - 1, -1, -1)
    counts = np.bincount(inverse, minlength=n_unique).astype(np.float64)
    return tuple(column[first] for column in columns), counts, inverse.astype(np.intp, copy=False)


def require_repeat_buyers(model_name: str, x: FloatArray, weights: FloatArray) -> None:
    """Purchase and dropout rates are not identified without any repeat purchase."""
    if not np.any((x > 0) & (weights > 0)):
        raise ModelError(
            f"{model_name} needs some repeat purchases to fit, but every customer has frequency 0",
            fix="use a longer calibration period or a larger customer sample",
        )


class MaximumLikelihoodModel:
    """Base of BetaGeo, ParetoNBD and GammaGamma: fit by penalised ML in log-parameters."""

    _param_names: tuple[str, ...] = ()
    _edge_params: tuple[str, ...] = ()
    _convergence_fix = (
        "set penalizer_coef to a small value (e.g. 0.001), rescale time to a coarser unit "
        "(weeks rather than days), or check that the summary has enough repeat buyers"
    )

    def __init__(self, *, penalizer_coef: float = 0.0, max_iter: int = 2000, tol: float = 1e-10) -> None:
        self.penalizer_coef = penalizer_coef
        self.max_iter = max_iter
        self.tol = tol

    # --- to be provided by the subclasses ------------------------------------------------
    def _loglik(
        self, params: FloatArray, columns: tuple[FloatArray, ...], weights: FloatArray
    ) -> tuple[float, FloatArray]:
        raise NotImplementedError

    # --- fitting -------------------------------------------------------------------------
    def _objective(
        self, columns: tuple[FloatArray, ...], weights: FloatArray
    ) -> Callable[[FloatArray], tuple[float, FloatArray]]:
        total_weight = float(weights.sum())
        coef = float(self.penalizer_coef)

        def objective(log_params: FloatArray) -> tuple[float, FloatArray]:
            params = np.exp(log_params)
            loglik, grad = self._loglik(params, columns, weights)
            value = -loglik / total_weight + coef * float(np.sum(params**2))
            grad_log = -grad * params / total_weight + 2.0 * coef * params**2
            if not np.isfinite(value) or not np.all(np.isfinite(grad_log)):
                # Let L-BFGS-B back off from a region where the likelihood is not representable.
                return np.inf, np.zeros_like(log_params)
            return value, grad_log

        return objective

    def _check_penalizer(self) -> None:
        if not (np.isfinite(self.penalizer_coef) and self.penalizer_coef >= 0):
            raise DataValidationError(
                f"penalizer_coef must be a finite number >= 0, got {self.penalizer_coef!r}",
                fix="use 0 for plain maximum likelihood or a small positive value such as 0.001",
            )

    def _calibration_summary(
        self, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike, weights: ArrayLike | None
    ) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray, float]:
        """Validated (x, t_x, T), compressed to unique rows with counts unless ``weights`` are given;
        sets ``n_customers_``; returns the columns, the counts and the mean purchase rate (start values)."""
        from targetwise.clv.beta_geo import _check_weights

        x, t_x, big_t = validate_rfm(frequency, recency, T)
        if weights is None:
            (x, t_x, big_t), counts, _ = compress_rows(x, t_x, big_t)
        else:
            counts = _check_weights(weights, x.shape[0])
        self.n_customers_ = round(counts.sum())
        require_repeat_buyers(type(self).__name__, x, counts)
        mean_rate = float(np.sum(counts * x) / max(np.sum(counts * big_t), 1e-12))
        return x, t_x, big_t, counts, mean_rate

    def _maximise(self, initial: FloatArray, columns: tuple[FloatArray, ...], weights: FloatArray) -> None:
        self._check_penalizer()
        objective = self._objective(columns, weights)
        start_value, start_grad = objective(np.log(initial))
        if not np.isfinite(start_value):
            raise ConvergenceError(
                f"the {type(self).__name__} log-likelihood is not finite at the starting values "
                f"{dict(zip(self._param_names, initial.round(4).tolist(), strict=True))}",
                fix="check the inputs for extreme values and consider a coarser time unit",
            )
        bounds = [(-_LOG_BOUND, _LOG_BOUND)] * len(initial)
        # With every variable boxed, L-BFGS-B's first step is the whole steepest-descent step: a
        # starting gradient of 25 in log-parameters (a penalty on alpha = 35 time units) throws the
        # parameters to the box edge, where the Pareto/NBD series needs thousands of terms per row.
        # Scaling the objective so that gradient is at most 1 keeps the first step to one e-fold;
        # the quasi-Newton updates are scale-free and gtol is scaled alike, so the optimum is unchanged.
        scale = max(1.0, float(np.max(np.abs(start_grad))))

        def scaled(log_params: FloatArray) -> tuple[float, FloatArray]:
            value, grad = objective(log_params)
            return value / scale, grad / scale

        # L-BFGS-B's tiny matrix products gain nothing from BLAS threads and lose a lot to
        # thread start-up on a busy machine (10x on CDNOW), so pin BLAS to one thread here.
        with _single_blas_thread():
            result = minimize(
                scaled,
                np.log(initial),
                jac=True,
                method="L-BFGS-B",
                bounds=bounds,
                options={
                    "maxiter": self.max_iter,
                    "ftol": self.tol * 1e-3,
                    "gtol": self.tol * 1e-1 / scale,
                    "maxcor": 20,
                },
            )
        grad_norm = float(np.max(np.abs(result.jac))) * scale
        at_bound = bool(np.any(np.abs(result.x) >= _LOG_DEGENERATE)) or (
            any(abs(result.x[self._param_names.index(name)]) >= _LOG_FAR for name in self._edge_params)
            and not self._information_is_definite(result.x, columns, weights)
        )
        # L-BFGS-B sometimes stops on "abnormal termination in line search" at the optimum
        # itself (the objective is flat to machine precision): accept a vanishing gradient.
        if at_bound or not np.isfinite(result.fun) or (not result.success and grad_norm > 1e-4):
            raise ConvergenceError(
                f"{type(self).__name__} did not converge ({result.message}; max |gradient| {grad_norm:.2e}; "
                f"params {dict(zip(self._param_names, np.exp(result.x).tolist(), strict=True))})",
                fix=self._convergence_fix,
                details={
                    "message": str(result.message),
                    "iterations": int(result.nit),
                    "params": dict(zip(self._param_names, np.exp(result.x).tolist(), strict=True)),
                    "at_bound": at_bound,
                },
            )
        log_params = result.x
        params = np.exp(log_params)
        self.params_ = dict(zip(self._param_names, params.tolist(), strict=True))
        loglik, _ = self._loglik(params, columns, weights)
        self.log_likelihood_ = float(loglik)
        self.n_iter_ = int(result.nit)
        self.covariance_ = self._covariance(log_params, columns, weights)

    def _information_is_definite(
        self, log_params: FloatArray, columns: tuple[FloatArray, ...], weights: FloatArray
    ) -> bool:
        try:
            np.linalg.cholesky(self._observed_information(log_params, columns, weights))
        except np.linalg.LinAlgError:
            return False
        return True

    def _observed_information(
        self, log_params: FloatArray, columns: tuple[FloatArray, ...], weights: FloatArray
    ) -> FloatArray:
        """The observed information in log-parameters (central differences of the analytic gradient)."""
        objective = self._objective(columns, weights)
        total_weight = float(weights.sum())
        k = log_params.shape[0]
        hessian = np.empty((k, k))
        for j in range(k):
            step = 1e-5 * max(1.0, abs(log_params[j]))
            up, down = log_params.copy(), log_params.copy()
            up[j] += step
            down[j] -= step
            hessian[:, j] = (objective(up)[1] - objective(down)[1]) * total_weight / (2.0 * step)
        return 0.5 * (hessian + hessian.T)

    def _covariance(
        self, log_params: FloatArray, columns: tuple[FloatArray, ...], weights: FloatArray
    ) -> FloatArray:
        """Inverse observed information in natural parameters (delta method from log-parameters)."""
        k = log_params.shape[0]
        hessian = self._observed_information(log_params, columns, weights)
        self.log_covariance_ = np.full((k, k), np.nan)
        try:
            chol = np.linalg.cholesky(hessian)
        except np.linalg.LinAlgError:
            warnings.warn(
                f"{type(self).__name__}: the observed information is not positive definite at the fitted "
                "parameters (a flat or boundary optimum); covariance_ is NaN and CLV intervals are unavailable",
                CovarianceWarning,
                stacklevel=4,
            )
            return np.full((k, k), np.nan)
        inv_chol = np.linalg.inv(chol)
        log_cov = inv_chol.T @ inv_chol
        self.log_covariance_ = log_cov
        params = np.exp(log_params)
        return log_cov * np.outer(params, params)

    # --- helpers for predict-style methods ----------------------------------------------
    def _check_fitted(self) -> dict[str, float]:
        """The fitted parameters; NotFittedError before ``fit``."""
        check_fitted(self, "params_", fix=f"call {type(self).__name__}().fit(...) before predicting")
        return self.params_

    def _param_array(self) -> FloatArray:
        params = self._check_fitted()
        return np.array([params[name] for name in self._param_names])

    def with_params(self, **params: float) -> MaximumLikelihoodModel:
        """A copy that uses the given parameters as if fitted (for what-if scoring and sampling)."""
        missing = [name for name in self._param_names if name not in params]
        unknown = [name for name in params if name not in self._param_names]
        if missing or unknown:
            raise DataValidationError(
                f"{type(self).__name__} parameters are {list(self._param_names)}; missing {missing}, unknown {unknown}",
                fix=f"pass exactly {', '.join(self._param_names)}",
            )
        for name, value in params.items():
            if not (np.isfinite(value) and value > 0):
                raise DataValidationError(
                    f"parameter {name} must be a finite positive number, got {value!r}",
                    fix="all BTYD and Gamma-Gamma parameters are positive",
                )
        clone = type(self)(**self.get_params())
        clone.params_ = {name: float(params[name]) for name in self._param_names}
        return clone

    def summary(self) -> Any:
        """Parameters with standard errors and 95 % intervals (normal in log-parameters)."""
        return summary_frame(self, self._param_names)

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """Constructor parameters (scikit-learn's contract; ``deep`` has no nested estimators to descend)."""
        return {"penalizer_coef": self.penalizer_coef, "max_iter": self.max_iter, "tol": self.tol}

    def set_params(self, **params: Any) -> MaximumLikelihoodModel:
        """Set constructor parameters (scikit-learn's contract); unknown names are a ConfigError."""
        from targetwise.errors import ConfigError

        valid = self.get_params()
        for key, value in params.items():
            if key not in valid:
                raise ConfigError(f"unknown parameter {key!r} for {type(self).__name__}", fix=f"use one of {sorted(valid)}")
            setattr(self, key, value)
        return self

    def __repr__(self) -> str:
        params = getattr(self, "params_", None)
        if params is None:
            return f"{type(self).__name__}(penalizer_coef={self.penalizer_coef})"
        shown = ", ".join(f"{k}={v:.4g}" for k, v in params.items())
        return f"{type(self).__name__}({shown})"


def summary_frame(model: MaximumLikelihoodModel, names: Sequence[str]) -> Any:
    """Parameters with standard errors and 95% intervals (normal in log-parameters)."""
    import pandas as pd

    params = model._param_array()
    log_cov = getattr(model, "log_covariance_", np.full((len(names), len(names)), np.nan))
    se_log = np.sqrt(np.diag(log_cov))
    return pd.DataFrame(
        {
            "coef": params,
            "se(coef)": params * se_log,
            "lower 95% bound": params * np.exp(-1.959963984540054 * se_log),
            "upper 95% bound": params * np.exp(1.959963984540054 * se_log),
        },
        index=pd.Index(list(names), name="parameter"),
    )


def rfm_arrays(frame: Any, *, prefix: str = "btyd_") -> dict[str, FloatArray]:
    """``frequency``, ``recency``, ``T`` (and ``monetary_value`` if present) from a summary frame.

    Reads the columns ``{prefix}frequency``, ``{prefix}recency``, ``{prefix}T`` and
    optionally ``{prefix}monetary_value`` (the customer-feature table's BTYD
    block) so they can be splatted into the models: ``BetaGeo().fit(**rfm)``
    after dropping ``monetary_value``.
    """
    names = ("frequency", "recency", "T", "monetary_value")
    columns = getattr(frame, "columns", None)
    if columns is None:
        raise DataValidationError(
            f"rfm_arrays needs a table with columns, got {type(frame).__name__}",
            fix="pass a pandas DataFrame such as the customer-features table",
        )
    missing = [prefix + name for name in names[:3] if prefix + name not in columns]
    if missing:
        raise DataValidationError(
            f"the summary table lacks the BTYD column(s) {missing}; it has {list(columns)[:12]}",
            fix="build the customer-features table with its BTYD block, or pass prefix= matching your columns",
        )
    return {name: frame[prefix + name] for name in names if prefix + name in columns}
