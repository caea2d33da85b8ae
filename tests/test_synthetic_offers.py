"""The synthetic retailer's offer catalogue and offer log (what `make demo` shows on the offers page and in the
report), and the off-policy evaluation of the demo's log against the planted reward.

The planted conversion probability is ``0.03 + 0.35 x offer_affinity_<kind>``; the affinities sum to 1 per
customer, so the uniform-random policy's true value is exactly ``0.03 + 0.35 / 4 = 0.1175`` for every customer.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from targetwise._synthetic_engage import OFFER_KINDS
from targetwise._synthetic_offers import AFFINITY_RATE, BASE_RATE, HOLDOUT_SHARE, HOUSE_PROBABILITIES, OFFERS
from targetwise.io.workspace import Workspace
from targetwise.synthetic import generate_retailer
from targetwise.usecases.offers import evaluate_offers, list_offers
from targetwise.usecases.runs import active_run

UNIFORM_TRUE_VALUE = BASE_RATE + AFFINITY_RATE / len(OFFER_KINDS)


@pytest.fixture(scope="module")
def shop():
    return generate_retailer(3000, random_state=11)


def _mu(truth: pd.DataFrame, customers: pd.Series, offer_ids) -> np.ndarray:
    kinds = {o[0]: o[2] for o in OFFERS}
    t = truth.set_index("customer_id")
    return np.column_stack([BASE_RATE + AFFINITY_RATE * t.loc[customers, f"offer_affinity_{kinds[o]}"].to_numpy()
                            for o in offer_ids])


def test_the_log_follows_the_documented_logging_policy(shop) -> None:
    log, offers = shop.offer_decisions, shop.offers
    assert offers["offer_id"].tolist() == [o[0] for o in OFFERS] and (offers["channel"] == "web").all()
    assert offers["eligibility"].isna().all() and offers["ends_at"].isna().all()
    assert (log["decided_at"] >= offers["starts_at"].min()).all()
    n = len(log)
    assert n > 10_000
    # holdout share and the recorded propensities: 1/4 in the holdout, the house rule elsewhere
    assert abs(log["holdout"].mean() - HOLDOUT_SHARE) < 4 * np.sqrt(HOLDOUT_SHARE * (1 - HOLDOUT_SHARE) / n)
    assert np.allclose(log.loc[log["holdout"], "propensity"], 0.25)
    house = log[~log["holdout"]]
    expected = dict(zip([o[0] for o in OFFERS], HOUSE_PROBABILITIES, strict=True))
    assert np.allclose(house["propensity"], house["offer_id"].map(expected))
    shares = house["offer_id"].value_counts(normalize=True)
    for offer, p in expected.items():
        assert abs(shares[offer] - p) < 4 * np.sqrt(p * (1 - p) / len(house)), offer
    # every decision is after its customer's signup; the last days' rewards are still pending
    signup = shop.customers.set_index("customer_id")["signup_at"]
    assert (log["decided_at"].to_numpy() >= signup.loc[log["customer_id"]].to_numpy()).all()
    pending = log["reward"].isna()
    assert pending.any() and log.loc[pending, "reward_kind"].isna().all() and log.loc[pending, "observed_at"].isna().all()
    assert (log.loc[pending, "decided_at"] >= log["decided_at"].max() - pd.Timedelta(days=6)).all()
    done = log[~pending]
    assert set(done["reward"].unique()) <= {0.0, 1.0} and (done["reward_kind"] == "conversion").all()
    assert (done["observed_at"] > done["decided_at"]).all()


def test_rewards_follow_the_planted_affinities(shop) -> None:
    done = shop.offer_decisions[shop.offer_decisions["reward"].notna()]
    offer_ids = [o[0] for o in OFFERS]
    mu = _mu(shop.truth, done["customer_id"], offer_ids)
    given = mu[np.arange(len(done)), done["offer_id"].map({o: k for k, o in enumerate(offer_ids)}).to_numpy()]
    # the observed conversion rate equals the planted mean of the offers given (a binomial standard error)
    se = np.sqrt((given * (1 - given)).sum()) / len(done)
    assert abs(done["reward"].mean() - given.mean()) < 4 * se
    # customers convert more on the kind they prefer
    preferred = shop.truth.set_index("customer_id").loc[done["customer_id"], "preferred_offer"].to_numpy()
    kind = done["offer_id"].map({o[0]: o[2] for o in OFFERS}).to_numpy()
    assert done["reward"][preferred == kind].mean() > 2 * done["reward"][preferred != kind].mean()


def test_other_tables_are_the_same_without_offers() -> None:
    with_offers, without = generate_retailer(200, random_state=3), generate_retailer(200, random_state=3, offers=False)
    assert without.offers is None and without.offer_decisions is None and "offers" not in without.tables()
    for name in ("transactions", "customers", "engagements", "campaign_exposures"):
        pd.testing.assert_frame_equal(getattr(with_offers, name), getattr(without, name))


def test_the_demo_evaluates_its_offer_log_against_the_planted_truth(synthetic_demo: Workspace) -> None:
    """The demo's offers page, report and `offers evaluate` answer from this evaluation: the uniform policy's
    doubly robust interval covers its exact true value, and the learned policy's true value beats uniform's."""
    ws = synthetic_demo
    assert [o.offer_id for o in list_offers(ws)] == sorted(o[0] for o in OFFERS)
    evaluation = evaluate_offers(ws, active_run(ws))
    truth = generate_retailer(300, random_state=ws.settings.random_state).truth
    rows = evaluation.rows
    mu = _mu(truth, rows["customer_id"].astype(str), evaluation.offers)
    values = {(v.policy, v.estimator): v for v in evaluation.values}
    uniform_true = float((evaluation.probabilities["uniform"] * mu).sum(axis=1).mean())
    assert uniform_true == pytest.approx(UNIFORM_TRUE_VALUE, abs=1e-12)  # every offer eligible everywhere
    assert values["uniform", "dr"].low <= uniform_true <= values["uniform", "dr"].high
    learned_true = float((evaluation.probabilities["learned"] * mu).sum(axis=1).mean())
    assert learned_true > uniform_true + 0.005
    assert values["learned", "dr"].low <= learned_true <= values["learned", "dr"].high
    assert evaluation.reward_kind == "conversion" and evaluation.excluded.get("no_reward_yet", 0) > 0
