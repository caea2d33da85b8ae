"""TreeSHAP / linear explanations, driver sentences, global importance and the model card."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from targetwise.errors import ConfigError, ModelError
from targetwise.propensity import (
    ModelCard,
    PropensityClassifier,
    contributions,
    describe_driver,
    explain_rows,
    shap_importance,
    top_drivers,
)

TEMPLATES = {"recency_days": "no order for {value:.0f} days"}


def recency_driven(n: int = 3000, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """Only recency matters: recent customers buy, lapsed ones do not."""
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(
        {
            "recency_days": rng.uniform(0, 200, n),
            "balance": rng.normal(1000, 300, n),
            "segment": rng.choice(["a", "b", "c"], n),
        }
    )
    y = (rng.random(n) < np.where(X["recency_days"] < 60, 0.8, 0.05)).astype(int)
    return X, y


@pytest.fixture(scope="module")
def lgbm() -> tuple[PropensityClassifier, pd.DataFrame]:
    X, y = recency_driven()
    return PropensityClassifier(n_estimators=100, random_state=0).fit(X, y), X


def test_tree_shap_contributions_add_up_to_the_prediction(lgbm) -> None:
    model, X = lgbm
    rows = X.iloc[:50]
    p = model.predict_proba(rows)[:, 1]
    log_odds = contributions(model, rows, units="log_odds")
    np.testing.assert_allclose(log_odds.sum(axis=1), np.log(p / (1 - p)), atol=1e-8)
    prob = contributions(model, rows)
    np.testing.assert_allclose(prob.sum(axis=1), p, atol=1e-8)  # baseline P + shares of the change
    # signs agree between units
    features = ["recency_days", "balance", "segment"]
    assert (np.sign(prob[features]) == np.sign(log_odds[features])).to_numpy().all()


def test_planted_driver_tops_every_sentence(lgbm) -> None:
    model, _ = lgbm
    rows = pd.DataFrame({"recency_days": [94.0, 10.0], "balance": [1234.0, 900.0], "segment": ["a", "b"]})
    drivers = top_drivers(model, rows, k=2, templates=TEMPLATES)
    first = drivers[drivers["rank"] == 1]
    assert first["feature"].tolist() == ["recency_days", "recency_days"]
    lapsed, recent = first["contribution"].tolist()
    assert lapsed < -0.05 and recent > 0.3  # lapsed pushes down, recent pushes up
    sentences = explain_rows(model, rows, k=2, templates=TEMPLATES)
    assert sentences[0].startswith(f"no order for 94 days ({lapsed:+.2f})")
    assert sentences[1].startswith("no order for 10 days (+")
    assert "; " in sentences[0]
    importance = shap_importance(model, rows)
    assert importance["feature"].iloc[0] == "recency_days"


def test_logistic_contributions_are_exact_and_explainable() -> None:
    X, y = recency_driven()
    model = PropensityClassifier("logistic").fit(X, y)
    p = model.predict_proba(X.iloc[:20])[:, 1]
    log_odds = contributions(model, X.iloc[:20], units="log_odds")
    np.testing.assert_allclose(log_odds.sum(axis=1), np.log(p / (1 - p)), atol=1e-8)
    assert top_drivers(model, X.iloc[:5], k=1)["feature"].eq("recency_days").all()


def test_driver_text_generic_and_template_fallback() -> None:
    assert describe_driver("balance", 1234, 0.0512) == "balance = 1,234 (+0.05)"
    assert describe_driver("balance", 1234.567, -0.2) == "balance = 1,234.57 (-0.20)"
    assert describe_driver("job", "student", 0.1) == "job = student (+0.10)"
    assert describe_driver("balance", np.nan, 0.1) == "balance = missing (+0.10)"
    # a numeric template cannot format text: the generic form is used instead of failing
    assert describe_driver("recency_days", "n/a", 0.1, templates=TEMPLATES) == "recency_days = n/a (+0.10)"


def test_explanations_refuse_unsupported_models_and_bad_units(lgbm) -> None:
    X, y = recency_driven(500)
    tree = PropensityClassifier("tree").fit(X, y)
    with pytest.raises(ModelError, match="LightGBM and logistic"):
        contributions(tree, X)
    with pytest.raises(ConfigError, match="units"):
        contributions(lgbm[0], X, units="percent")


def test_model_card_round_trips_to_json_and_markdown(lgbm) -> None:
    model, _ = lgbm
    card = ModelCard.from_model(
        model,
        task="purchase within 30 days",
        data_window={"first_cutoff": pd.Timestamp("2024-01-01"), "last_cutoff": pd.Timestamp("2024-06-01")},
        metrics={"roc_auc": 0.912, "brier": float("nan")},
        validation="out-of-time backtest, 2 test cutoffs",
        known_limits=["Trained on one shop only."],
    )
    as_dict = json.loads(card.to_json())
    assert as_dict["data_window"]["first_cutoff"] == "2024-01-01T00:00:00"
    assert as_dict["metrics"]["brier"] is None and as_dict["training_rows"] == 3000
    assert as_dict["top_features"][0]["feature"] == "recency_days"
    assert as_dict["fallback"] is None
    md = card.to_markdown()
    assert "# Model card: purchase within 30 days" in md
    assert "| roc_auc | 0.9120 |" in md
    assert "Probabilities are not separately calibrated" in md and "Trained on one shop only." in md


def test_per_tree_treeshap_equals_lightgbm_on_every_row() -> None:
    """The deduplicated per-tree TreeSHAP gives LightGBM's own full-model values for every row,
    with NaNs (both missing directions), exact zeros, repeated integers, ties at thresholds and a
    categorical column with unseen and missing levels."""
    from targetwise.propensity.explain import _PER_TREE_MIN_ROWS, lightgbm_contributions

    rng = np.random.default_rng(7)
    n = 12_000
    recency = rng.integers(0, 365, n).astype(float)
    monetary = np.round(rng.gamma(2.0, 150.0, n), 2)
    monetary[rng.random(n) < 0.1] = np.nan  # missing: LightGBM learns a default direction
    returns = np.where(rng.random(n) < 0.6, 0.0, rng.exponential(20.0, n))  # many exact zeros
    frequency = rng.poisson(3.0, n).astype(float)
    segment = rng.choice(["champions", "loyal", "at risk", "lost"], n).astype(object)
    segment[rng.random(n) < 0.05] = None
    X = pd.DataFrame(
        {"recency_days": recency, "monetary_total": monetary, "returns_value": returns,
         "frequency": frequency, "segment": segment}
    )
    logit = -1.0 + 2.5 * (recency < 60) + 0.004 * np.nan_to_num(monetary, nan=-100) - 0.02 * returns
    logit += 0.3 * frequency + np.where(segment == "champions", 1.0, 0.0)
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    model = PropensityClassifier(n_estimators=60, random_state=0).fit(X, y)
    assert model.model_used_ == "lightgbm"
    scored = X.copy()
    scored.loc[:100, "segment"] = "new level"  # unseen at fit time
    encoded = model.encoder_.to_lightgbm(scored)
    booster = model.estimator_.booster_
    assert len(encoded) >= _PER_TREE_MIN_ROWS  # the deduplicating path, not the plain call
    ours = lightgbm_contributions(booster, encoded)
    reference = booster.predict(encoded, pred_contrib=True)
    assert ours.shape == reference.shape == (n, 6)
    np.testing.assert_allclose(ours, reference, rtol=0, atol=1e-9)
    # and the values are the model's: they add up to its log-odds
    np.testing.assert_allclose(ours.sum(axis=1), booster.predict(encoded, raw_score=True), atol=1e-9)


def test_driver_json_equals_json_dumps_of_the_top_driver_records(monkeypatch: pytest.MonkeyPatch) -> None:
    """The run's drivers column is written without building records; it is byte for byte what
    json.dumps of :func:`top_drivers`' records gives, with NaN, -0.0, integer, boolean and money
    values, a template that does not fit its value, and a non-ASCII currency."""
    from targetwise.usecases.propensity import _drivers, driver_templates

    rng = np.random.default_rng(3)
    n = 6000
    X = pd.DataFrame(
        {
            "recency_days": rng.integers(0, 300, n).astype(float),
            "monetary_total": np.round(rng.gamma(2.0, 120.0, n), 2),
            "frequency": rng.poisson(2.0, n).astype(np.int64),
            "is_member": rng.random(n) < 0.4,
            "trend_90d": np.where(rng.random(n) < 0.3, -0.0, rng.normal(0, 1, n)),
        }
    )
    X.loc[rng.random(n) < 0.1, "monetary_total"] = np.nan
    y = (rng.random(n) < 1 / (1 + np.exp(-(2.0 - X["recency_days"] / 60 + 0.3 * X["frequency"])))).astype(int)
    model = PropensityClassifier(n_estimators=40, random_state=0).fit(X, y)
    templates = driver_templates(list(X.columns), "£")
    templates["frequency"] = "{value:%}"  # does not fit an int: the generic form
    records = top_drivers(model, X, k=3, templates=templates)
    expected: dict[int, list[dict]] = {}
    for rec in records.to_dict("records"):
        value = rec["value"]
        value = None if pd.isna(value) else float(value) if isinstance(value, int | float | np.number) else str(value)
        expected.setdefault(int(rec["row"]), []).append(
            {"feature": rec["feature"], "value": value, "contribution": float(rec["contribution"]), "text": rec["text"]}
        )
    import targetwise.usecases.propensity as usecase

    monkeypatch.setattr(usecase, "driver_templates", lambda columns, currency="": templates)
    ours = _drivers(model, X, currency="£")
    assert ours == [json.dumps(expected[i]) for i in range(n)]
    parsed = json.loads(ours[0])
    assert len(parsed) == 3 and parsed[0]["text"].endswith(f"({parsed[0]['contribution']:+.2f})")
    assert any("\\u00a3" in row for row in ours)  # "£" written as json.dumps writes it
    assert any('"value": null' in row for row in ours)
