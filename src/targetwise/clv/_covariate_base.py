"""The machinery of the CLV covariate models (see :mod:`targetwise.clv.covariates`).

Fitting in centred, scaled covariates, the group and row likelihood paths, standard errors
and one plain model per distinct covariate row for predictions.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray
from scipy.optimize import minimize

from targetwise.clv import beta_geo as _bg
from targetwise.clv._base import (
    _LOG_BOUND,
    _LOG_DEGENERATE,
    CLVWarning,
    CovarianceWarning,
    FloatArray,
    MaximumLikelihoodModel,
    _single_blas_thread,
    compress_rows,
)
from targetwise.errors import ConfigError, ConvergenceError, DataValidationError

__all__ = ["MAX_GROUPS", "CovariateWarning", "covariate_matrix"]

#: more distinct covariate rows than this: evaluate the likelihood per row instead of per group
MAX_GROUPS = 256
_Z95 = 1.959963984540054


class CovariateWarning(CLVWarning):
    """A covariate was left out of a fit (constant over the customers: not identified)."""


def covariate_matrix(covariates: Any, n_rows: int) -> tuple[FloatArray, list[str]]:
    """A finite float matrix (n_rows, k) and its column names from a DataFrame or a 2-D array."""
    if isinstance(covariates, pd.DataFrame):
        names = [str(c) for c in covariates.columns]
        for column in covariates.columns:
            dtype = covariates[column].dtype
            if not (pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_bool_dtype(dtype)):
                raise DataValidationError(
                    f"covariate {column!r} has non-numeric type {dtype}",
                    fix="one-hot encode categorical covariates first (targetwise.clv.one_hot_covariates)",
                )
        values = covariates.to_numpy(dtype=np.float64)
    else:
        values = np.asarray(covariates, dtype=np.float64)
        if values.ndim == 1:
            values = values[:, None]
        if values.ndim != 2:
            raise DataValidationError(
                f"covariates must be a table (one row per customer), got shape {values.shape}",
                fix="pass a pandas DataFrame with named columns or a 2-D array",
            )
        names = [f"x{j}" for j in range(values.shape[1])]
    if len(set(names)) != len(names):
        raise DataValidationError(f"covariate names repeat: {names}", fix="give every covariate column its own name")
    if values.shape[0] != n_rows:
        raise DataValidationError(
            f"covariates have {values.shape[0]} rows for {n_rows} customers",
            fix="pass one covariate row per customer, in the order of the summary",
        )
    bad = ~np.isfinite(values)
    if bad.any():
        row, col = (int(v[0]) for v in np.nonzero(bad))
        raise DataValidationError(
            f"covariate {names[col]!r} at row {row} is {float(values[row, col])!r}: covariates must be finite "
            f"({int(bad[:, col].sum())} row(s) affected)",
            fix="fill or drop missing covariates (a missing category can be a level of its own)",
        )
    return values, names


@dataclass(frozen=True)
class _Block:
    """Covariates on one natural parameter: ``log P_i = log P0 + sign · gamma' x_i``."""

    name: str  # process label in coefficients_ (purchase, dropout_a, ...)
    param: int  # index of the natural parameter it scales
    sign: float
    columns: tuple[int, ...]  # columns of the covariate matrix


class _CovariateModel(MaximumLikelihoodModel):
    """Shared fitting, standard errors and per-group prediction of the covariate models."""

    _base_cls: type[MaximumLikelihoodModel] = MaximumLikelihoodModel
    _blocks_spec: tuple[tuple[str, str, float, str], ...] = ()  # (block name, param name, sign, covariate role)

    # --- to be provided by the subclasses ------------------------------------------------
    def _group_loglik(self, params: FloatArray, columns: tuple[Any, ...], weights: FloatArray) -> tuple[float, FloatArray]:
        raise NotImplementedError

    def _group_columns(self, rows: tuple[FloatArray, ...], weights: FloatArray) -> tuple[Any, ...]:
        raise NotImplementedError

    def _rows_loglik(self, params: FloatArray, rows: tuple[FloatArray, ...]) -> tuple[FloatArray, FloatArray]:
        """Per-row log-likelihood and gradient (n, P) with per-row parameters ``params`` (n, P)."""
        raise NotImplementedError

    # --- covariate selection ---------------------------------------------------------------
    def _role_columns(self, role: str, names: list[str]) -> tuple[int, ...]:
        chosen = getattr(self, f"{role}_covariates")
        if chosen is None:
            return tuple(range(len(names)))
        missing = [c for c in chosen if c not in names]
        if missing:
            raise ConfigError(
                f"{role}_covariates names {missing}, which the covariates do not have (they have {names})",
                fix=f"use column names of the covariate table, or {role}_covariates=None for all of them",
            )
        return tuple(names.index(c) for c in chosen)

    # --- fitting -------------------------------------------------------------------------
    def _fit_covariates(
        self, rows: tuple[FloatArray, ...], covariates: Any, weights: ArrayLike | None, initial: FloatArray
    ) -> None:
        self._check_penalizer()
        values, names = covariate_matrix(covariates, rows[0].shape[0])
        self.covariate_names_ = names
        blocks = [
            _Block(block, self._param_names.index(param), sign, self._role_columns(role, names))
            for block, param, sign, role in self._blocks_spec
        ]
        used = sorted({c for b in blocks for c in b.columns})
        if weights is None:
            stacked, counts, _ = compress_rows(*rows, *(values[:, c] for c in used))
            rows = stacked[: len(rows)]
            values_u = np.zeros((counts.shape[0], values.shape[1]))
            for j, c in enumerate(used):
                values_u[:, c] = stacked[len(rows) + j]
            values = values_u
        else:
            counts = _bg._check_weights(weights, rows[0].shape[0])
        self.n_customers_ = round(counts.sum())
        # centre and scale each covariate (weighted by customers); constant ones are not identified
        total = counts.sum()
        mean = counts @ values / total
        sd = np.sqrt(np.maximum(counts @ (values - mean) ** 2 / total, 0.0))
        constant = [names[c] for c in used if sd[c] <= 1e-12 * max(1.0, abs(mean[c]))]
        if constant:
            warnings.warn(
                f"covariate(s) {constant} are constant over the customers: not identified next to the "
                "intercept, their coefficients are fixed at 0",
                CovariateWarning,
                stacklevel=3,
            )
        self._blocks = [
            _Block(b.name, b.param, b.sign, tuple(c for c in b.columns if names[c] not in constant)) for b in blocks
        ]
        self._all_blocks = blocks
        self._mean, self._sd = mean, np.where(sd > 0, sd, 1.0)
        free = sorted({c for b in self._blocks for c in b.columns})
        group_codes, groups = _group_codes(values[:, free])
        if groups.shape[0] <= MAX_GROUPS:
            self._path = "groups"
            data = []
            for g in range(groups.shape[0]):
                member = group_codes == g
                data.append(self._group_columns(tuple(col[member] for col in rows), counts[member]))
            z_rows = (groups - mean[free]) / self._sd[free] if free else np.zeros((groups.shape[0], 0))
            block_weights: Any = [counts[group_codes == g] for g in range(groups.shape[0])]
        else:
            self._path = "rows"
            data = rows
            z_rows = (values[:, free] - mean[free]) / self._sd[free]
            block_weights = counts
        z = np.zeros((z_rows.shape[0], values.shape[1]))
        z[:, free] = z_rows
        self.n_groups_ = int(groups.shape[0])
        objective = self._theta_objective(data, z, block_weights, total)
        theta = self._optimise(objective, np.log(initial))
        self._finish(theta, objective, total)

    def _split(self, theta: FloatArray) -> tuple[FloatArray, list[FloatArray]]:
        k = len(self._param_names)
        out, start = [], k
        for block in self._blocks:
            out.append(theta[start : start + len(block.columns)])
            start += len(block.columns)
        return theta[:k], out

    def _log_params(self, theta: FloatArray, z: FloatArray) -> FloatArray:
        base, gammas = self._split(theta)
        log_p = np.broadcast_to(base, (z.shape[0], base.shape[0])).copy()
        for block, gamma in zip(self._blocks, gammas, strict=True):
            if block.columns:
                log_p[:, block.param] += block.sign * (z[:, list(block.columns)] @ gamma)
        return log_p

    def _theta_objective(
        self, data: Any, z: FloatArray, block_weights: Any, total_weight: float
    ) -> Callable[[FloatArray], tuple[float, FloatArray]]:
        coef = float(self.penalizer_coef)
        k = len(self._param_names)

        def objective(theta: FloatArray) -> tuple[float, FloatArray]:
            log_p = self._log_params(theta, z)
            params = np.exp(log_p)
            if self._path == "groups":
                loglik, grad_nat = 0.0, np.empty_like(params)
                for g, columns in enumerate(data):
                    ll, grad_nat[g] = self._group_loglik(params[g], columns, block_weights[g])
                    loglik += ll
            else:
                rows_ll, grad_nat = self._rows_loglik(params, data)
                loglik = float(block_weights @ rows_ll)
                grad_nat = grad_nat * block_weights[:, None]
            g_log = grad_nat * params
            grad = np.empty_like(theta)
            grad[:k] = g_log.sum(axis=0)
            start = k
            for block in self._blocks:
                width = len(block.columns)
                if width:
                    grad[start : start + width] = block.sign * (z[:, list(block.columns)].T @ g_log[:, block.param])
                start += width
            base = np.exp(theta[:k])
            value = -loglik / total_weight + coef * (float(np.sum(base**2)) + float(np.sum(theta[k:] ** 2)))
            grad = -grad / total_weight
            grad[:k] += 2.0 * coef * base**2
            grad[k:] += 2.0 * coef * theta[k:]
            if not np.isfinite(value) or not np.all(np.isfinite(grad)):
                return np.inf, np.zeros_like(theta)
            return value, grad

        self._z = z
        return objective

    def _optimise(self, objective: Callable[[FloatArray], tuple[float, FloatArray]], log_initial: FloatArray) -> FloatArray:
        n_gamma = sum(len(b.columns) for b in self._blocks)
        theta0 = np.concatenate([log_initial, np.zeros(n_gamma)])
        start_value, start_grad = objective(theta0)
        if not np.isfinite(start_value):
            raise ConvergenceError(
                f"the {type(self).__name__} log-likelihood is not finite at the starting values",
                fix="check the inputs for extreme values and consider a coarser time unit",
            )
        # the same first-step scaling as the plain models (see MaximumLikelihoodModel._maximise)
        scale = max(1.0, float(np.max(np.abs(start_grad))))

        def scaled(theta: FloatArray) -> tuple[float, FloatArray]:
            value, grad = objective(theta)
            return value / scale, grad / scale

        with _single_blas_thread():
            result = minimize(
                scaled, theta0, jac=True, method="L-BFGS-B", bounds=[(-_LOG_BOUND, _LOG_BOUND)] * theta0.shape[0],
                options={"maxiter": self.max_iter, "ftol": self.tol * 1e-3, "gtol": self.tol * 1e-1 / scale, "maxcor": 20},
            )
        grad_norm = float(np.max(np.abs(result.jac))) * scale
        log_p = self._log_params(result.x, self._z)
        at_bound = bool(np.any(np.abs(log_p) >= _LOG_DEGENERATE) or np.any(np.abs(result.x) >= _LOG_DEGENERATE))
        if at_bound or not np.isfinite(result.fun) or (not result.success and grad_norm > 1e-4):
            base = dict(zip(self._param_names, np.exp(result.x[: len(self._param_names)]).tolist(), strict=True))
            raise ConvergenceError(
                f"{type(self).__name__} did not converge ({result.message}; max |gradient| {grad_norm:.2e}; "
                f"params at the mean covariates {base})",
                fix=self._convergence_fix + "; or drop covariate levels with few customers",
                details={"message": str(result.message), "iterations": int(result.nit), "params": base,
                         "at_bound": at_bound},
            )
        self.n_iter_ = int(result.nit)
        return np.asarray(result.x, dtype=np.float64)

    def _finish(self, theta: FloatArray, objective: Callable[[FloatArray], tuple[float, FloatArray]], total: float) -> None:
        """Parameters in the caller's units, log-likelihood and the covariance of (log base, gammas)."""
        k = len(self._param_names)
        # theta (centred, scaled) -> full vector (log P0, gamma per block over every block column)
        width = k + sum(len(b.columns) for b in self._all_blocks)
        jac = np.zeros((width, theta.shape[0]))
        jac[:k, :k] = np.eye(k)
        start_free, start_full = k, k
        for block, full in zip(self._blocks, self._all_blocks, strict=True):
            for j, c in enumerate(block.columns):
                row = start_full + full.columns.index(c)
                jac[row, start_free + j] = 1.0 / self._sd[c]
                # log P0 = log P0' - sign · gamma' mean
                jac[block.param, start_free + j] -= block.sign * self._mean[c] / self._sd[c]
            start_free += len(block.columns)
            start_full += len(full.columns)
        full_theta = jac @ theta
        self._theta_full = full_theta
        self.params_ = dict(zip(self._param_names, np.exp(full_theta[:k]).tolist(), strict=True))
        self.coefficients_: dict[str, dict[str, float]] = {}
        start = k
        for full in self._all_blocks:
            self.coefficients_[full.name] = {
                self.covariate_names_[c]: float(full_theta[start + j]) for j, c in enumerate(full.columns)
            }
            start += len(full.columns)
        value, _ = objective(theta)
        penalty = float(self.penalizer_coef) * (
            float(np.sum(np.exp(theta[:k]) ** 2)) + float(np.sum(theta[k:] ** 2))
        )
        self.log_likelihood_ = float(-(value - penalty) * total)
        cov_theta = self._theta_covariance(theta, objective, total)
        self.theta_covariance_ = jac @ cov_theta @ jac.T
        self.log_covariance_ = self.theta_covariance_[:k, :k]
        params = np.exp(full_theta[:k])
        self.covariance_ = self.log_covariance_ * np.outer(params, params)

    def _theta_covariance(
        self, theta: FloatArray, objective: Callable[[FloatArray], tuple[float, FloatArray]], total: float
    ) -> FloatArray:
        m = theta.shape[0]
        hessian = np.empty((m, m))
        for j in range(m):
            step = 1e-5 * max(1.0, abs(theta[j]))
            up, down = theta.copy(), theta.copy()
            up[j] += step
            down[j] -= step
            hessian[:, j] = (objective(up)[1] - objective(down)[1]) * total / (2.0 * step)
        hessian = 0.5 * (hessian + hessian.T)
        try:
            chol = np.linalg.cholesky(hessian)
        except np.linalg.LinAlgError:
            warnings.warn(
                f"{type(self).__name__}: the observed information is not positive definite at the fitted "
                "parameters; standard errors are NaN and CLV intervals are unavailable",
                CovarianceWarning,
                stacklevel=4,
            )
            return np.full((m, m), np.nan)
        inv_chol = np.linalg.inv(chol)
        return inv_chol.T @ inv_chol

    # --- reading the fit -------------------------------------------------------------------
    def summary(self) -> pd.DataFrame:
        """Every parameter with its standard error and 95 % interval.

        Rows ``r, alpha, ...`` (at covariates 0; interval normal in the log-parameter) and
        ``<process>:<covariate>`` (the gammas; normal interval). A coefficient fixed at 0
        (constant covariate) has SE NaN.
        """
        self._check_fitted()
        k = len(self._param_names)
        se = np.sqrt(np.diag(self.theta_covariance_))
        theta = self._theta_full
        rows = []
        for j, name in enumerate(self._param_names):
            value = float(np.exp(theta[j]))
            rows.append((name, value, value * se[j], value * np.exp(-_Z95 * se[j]), value * np.exp(_Z95 * se[j])))
        start = k
        for block, full in zip(self._blocks, self._all_blocks, strict=True):
            for j, c in enumerate(full.columns):
                name = f"{full.name}:{self.covariate_names_[c]}"
                value, s = float(theta[start + j]), float(se[start + j])
                if c not in block.columns:
                    s = float("nan")
                rows.append((name, value, s, value - _Z95 * s, value + _Z95 * s))
            start += len(full.columns)
        frame = pd.DataFrame(rows, columns=["parameter", "coef", "se(coef)", "lower 95% bound", "upper 95% bound"])
        return frame.set_index("parameter")

    def standard_errors(self) -> dict[str, float]:
        """``summary()['se(coef)']`` as a dict (NaN for a coefficient fixed at 0)."""
        return {k: float(v) for k, v in self.summary()["se(coef)"].items()}

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """Constructor parameters (scikit-learn's contract)."""
        params = super().get_params(deep)
        params.update({f"{role}_covariates": getattr(self, f"{role}_covariates") for role in self._roles()})
        return params

    def _roles(self) -> list[str]:
        return sorted({spec[3] for spec in self._blocks_spec})

    def group_models(self, covariates: Any) -> tuple[list[MaximumLikelihoodModel], NDArray[np.intp]]:
        """One plain fitted model per distinct covariate row, and each customer's model index.

        Each model carries that row's parameters and their covariance (``log_covariance_``:
        ``A Σ Aᵀ`` for the linear map ``A`` from (log base, gammas) to the row's log-parameters),
        so the plain models' predictions and CLV intervals apply unchanged.
        """
        self._check_fitted()
        values, names = covariate_matrix(covariates, np.shape(covariates)[0])
        if names != self.covariate_names_:
            raise DataValidationError(
                f"covariates have columns {names}, the model was fitted on {self.covariate_names_}",
                fix="pass the same covariate columns, in the same order, as in fit",
            )
        codes, groups = _group_codes(values)
        k = len(self._param_names)
        models: list[MaximumLikelihoodModel] = []
        for row in groups:
            design = np.zeros((k, self._theta_full.shape[0]))
            design[:, :k] = np.eye(k)
            start = k
            for full in self._all_blocks:
                for j, c in enumerate(full.columns):
                    design[full.param, start + j] = full.sign * row[c]
                start += len(full.columns)
            log_p = design @ self._theta_full
            model = self._base_cls(**super().get_params()).with_params(
                **dict(zip(self._param_names, np.exp(log_p).tolist(), strict=True))
            )
            log_cov = design @ self.theta_covariance_ @ design.T
            model.log_covariance_ = log_cov
            model.covariance_ = log_cov * np.outer(np.exp(log_p), np.exp(log_p))
            model.log_likelihood_ = self.log_likelihood_
            models.append(model)
        return models, codes

    def customer_params(self, covariates: Any) -> pd.DataFrame:
        """Each customer's natural parameters (one row per covariate row, columns ``_param_names``)."""
        models, codes = self.group_models(covariates)
        table = np.array([[m.params_[n] for n in self._param_names] for m in models])
        index = covariates.index if isinstance(covariates, pd.DataFrame) else None
        return pd.DataFrame(table[codes], columns=list(self._param_names), index=index)

    def _per_group(self, covariates: Any, n: int, fn: Callable[[MaximumLikelihoodModel, NDArray[np.bool_]], FloatArray]) -> FloatArray:
        models, codes = self.group_models(covariates)
        if codes.shape[0] != n:
            raise DataValidationError(f"covariates have {codes.shape[0]} rows for {n} customers",
                                      fix="pass one covariate row per customer")
        out = np.empty(n)
        for g, model in enumerate(models):
            member = codes == g
            out[member] = fn(model, member)
        return out


def _group_codes(values: FloatArray) -> tuple[NDArray[np.intp], FloatArray]:
    """Distinct rows of ``values`` (k may be 0) and each row's index among them."""
    if values.shape[1] == 0:
        return np.zeros(values.shape[0], dtype=np.intp), np.zeros((1, 0))
    # hash-based (compress_rows), in order of first appearance: np.unique(axis=0) sorts rows, ~10x slower at 1M
    unique, _counts, codes = compress_rows(*(np.ascontiguousarray(values[:, j]) for j in range(values.shape[1])))
    return codes, np.column_stack(unique)


