"""Model card: what a trained propensity model is, what it was trained on, how good it is, and its limits.

A plain dataclass so it can be stored next to a run (``to_dict()`` is
JSON-serialisable; ``to_markdown()`` is for people). Build it with
:meth:`ModelCard.from_model` after fitting and validating.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from targetwise._fitted import check_fitted

__all__ = ["ModelCard"]


def _jsonable(value: Any) -> Any:
    """Convert numpy/pandas scalars, timestamps and NaN into plain JSON values."""
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | np.ndarray):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.bool_ | bool):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating | float):
        return None if math.isnan(float(value)) or math.isinf(float(value)) else float(value)
    if isinstance(value, pd.Timestamp | dt.datetime | dt.date):
        return value.isoformat()
    if value is None or isinstance(value, str | int):
        return value
    return str(value)


@dataclass
class ModelCard:
    """Facts about one trained model. Every field is plain data; see ``to_markdown()``."""

    model: str
    task: str | None = None
    created_at: str = field(
        default_factory=lambda: dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()
    )
    data_window: dict[str, Any] = field(default_factory=dict)
    training_rows: int | None = None
    training_positives: int | None = None
    features: list[str] = field(default_factory=list)
    top_features: list[dict[str, Any]] = field(default_factory=list)
    validation: str | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    calibration: dict[str, Any] | None = None
    fallback: str | None = None
    known_limits: list[str] = field(default_factory=list)
    params: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_model(
        cls,
        model: Any,
        *,
        task: str | None = None,
        data_window: Mapping[str, Any] | None = None,
        metrics: Mapping[str, Any] | None = None,
        validation: str | None = None,
        known_limits: Sequence[str] = (),
        n_top_features: int = 10,
    ) -> ModelCard:
        """Card for a fitted :class:`PropensityClassifier` (or any fitted estimator).

        ``metrics`` should come from held-out validation (``compare_models``
        or ``backtest``), never from the training rows; ``validation`` says how.
        Limits implied by the fit (fallback used, no calibration) are added.
        """
        check_fitted(model, "feature_names_in_", message="a model card needs a fitted model", fix="call fit(X, y) first")
        features = [str(f) for f in model.feature_names_in_]
        used = str(getattr(model, "model_used_", type(model).__name__))
        top: list[dict[str, Any]] = []
        try:
            importance = np.asarray(model.feature_importances_, dtype=float)
            order = np.argsort(-importance, kind="stable")[:n_top_features]
            top = [{"feature": features[i], "importance": float(importance[i])} for i in order]
        except (AttributeError, ValueError):
            top = []
        limits = list(known_limits)
        fallback = getattr(model, "fallback_reason_", None)
        if fallback:
            limits.append(f"Trained with the fallback {used} because of small data: {fallback}.")
        calibration = getattr(model, "calibration_report_", None)
        if hasattr(model, "calibration_report_") and calibration is None:
            limits.append(
                "Probabilities are not separately calibrated; check the reliability curve before "
                "using them as probabilities (rankings are unaffected)."
            )
        if not metrics:
            limits.append("No held-out metrics recorded: the model's accuracy is unknown.")
        params = model.get_params(deep=False) if hasattr(model, "get_params") else {}
        return cls(
            model=used,
            task=task,
            data_window=dict(data_window or {}),
            training_rows=getattr(model, "n_train_rows_", None),
            training_positives=getattr(model, "n_train_positives_", None),
            features=features,
            top_features=top,
            validation=validation,
            metrics=dict(metrics or {}),
            calibration=dict(calibration) if calibration else None,
            fallback=fallback,
            known_limits=limits,
            params={k: v for k, v in params.items() if not hasattr(v, "fit")},
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable dict (NaN -> null, timestamps -> ISO text)."""
        return _jsonable(asdict(self))

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True, allow_nan=False)

    def to_markdown(self) -> str:
        """A short human-readable card."""
        lines = [f"# Model card: {self.task or 'propensity model'}", ""]
        lines.append(f"- **Model**: {self.model}")
        lines.append(f"- **Created**: {self.created_at}")
        if self.data_window:
            window = ", ".join(f"{k} = {_jsonable(v)}" for k, v in self.data_window.items())
            lines.append(f"- **Data window**: {window}")
        if self.training_rows is not None:
            pos = f", {self.training_positives:,} positive" if self.training_positives is not None else ""
            lines.append(f"- **Training rows**: {self.training_rows:,}{pos}")
        lines.append(f"- **Features** ({len(self.features)}): {', '.join(self.features)}")
        lines.append(f"- **Fallback**: {self.fallback or 'none (the requested model was trained)'}")
        if self.top_features:
            lines += ["", "## Most important features", "", "| feature | importance |", "|---|---|"]
            lines += [f"| {t['feature']} | {t['importance']:.3f} |" for t in self.top_features]
        lines += ["", "## Metrics", ""]
        if self.validation:
            lines += [f"Validation: {self.validation}", ""]
        if self.metrics:
            lines += ["| metric | value |", "|---|---|"]
            for key, value in self.metrics.items():
                shown = f"{value:.4f}" if isinstance(value, float | np.floating) else str(value)
                lines.append(f"| {key} | {shown} |")
        else:
            lines.append("No held-out metrics recorded.")
        lines += ["", "## Calibration", ""]
        if self.calibration:
            lines += [f"- {k}: {_jsonable(v)}" for k, v in self.calibration.items()]
        else:
            lines.append("Not separately calibrated.")
        lines += ["", "## Known limits", ""]
        lines += [f"- {limit}" for limit in self.known_limits] or ["- none recorded"]
        return "\n".join(lines) + "\n"
