"""The synthetic retailer: determinism, canonical schema, and recoverable planted truth."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from targetwise.errors import ConfigError
from targetwise.schema import CONSENT_PURPOSES, CONSENT_STATUSES, TABLES
from targetwise.synthetic import (
    CATEGORIES,
    CUSTOMER_TYPES,
    PANDAS_DTYPES,
    bgnbd_expected_repeat_purchases,
    generate_retailer,
)

TABLE_NAMES = (
    "transactions",
    "customers",
    "customer_pii",
    "products",
    "campaigns",
    "campaign_exposures",
    "responses",
    "consent",
)


@pytest.fixture(scope="module")
def shop():
    return generate_retailer(1500, random_state=7)


@pytest.fixture(scope="module")
def big_shop():
    # large enough that per-type campaign effects of 4-8 points are several standard errors
    return generate_retailer(20000, n_products=200, random_state=11, pii=False)


@pytest.fixture(scope="module")
def big_orders(big_shop):
    return _orders(big_shop.transactions)


def _purchases(tx: pd.DataFrame) -> pd.DataFrame:
    """Customer purchase lines: no returns, no postage, no anonymous lines."""
    keep = tx["customer_id"].notna() & (tx["product_id"] != "POST") & ~tx["order_id"].str.startswith("C")
    return tx[keep]


def _orders(tx: pd.DataFrame) -> pd.DataFrame:
    buy = _purchases(tx)
    buy = buy.assign(amount=buy["quantity"] * buy["unit_price"])
    return (
        buy.groupby(["customer_id", "order_id"], sort=False)
        .agg(ordered_at=("ordered_at", "first"), amount=("amount", "sum"), lines=("product_id", "size"))
        .reset_index()
    )


# ---------------------------------------------------------------- determinism and schema


def test_same_seed_gives_identical_frames_and_other_seed_differs(shop):
    again = generate_retailer(1500, random_state=7)
    for name in (*TABLE_NAMES, "truth"):
        pd.testing.assert_frame_equal(getattr(shop, name), getattr(again, name), obj=name)
    other = generate_retailer(1500, random_state=8)
    assert not other.transactions.equals(shop.transactions)
    assert not other.customer_pii.equals(shop.customer_pii)
    assert not np.allclose(other.truth["lambda"], shop.truth["lambda"])


@pytest.mark.parametrize("name", TABLE_NAMES)
def test_tables_use_canonical_columns_and_dtypes(shop, name):
    frame = shop.tables()[name]
    spec = TABLES[name]
    assert set(spec.required_names) <= set(frame.columns) <= set(spec.input_names)
    assert list(frame.columns) == [c for c in spec.input_names if c in frame.columns]  # schema order
    for col in frame.columns:
        assert str(frame[col].dtype) == str(PANDAS_DTYPES[spec.column(col).kind]), (name, col)
    assert len(frame) > 0


def test_campaign_and_pii_can_be_switched_off_keeping_schema():
    plain = generate_retailer(200, random_state=1, campaign=False, pii=False)
    for name in ("campaigns", "campaign_exposures", "responses", "customer_pii"):
        frame = getattr(plain, name)
        assert len(frame) == 0
        assert set(TABLES[name].required_names) <= set(frame.columns)
        for col in frame.columns:
            assert str(frame[col].dtype) == str(PANDAS_DTYPES[TABLES[name].column(col).kind])
    assert plain.truth["true_uplift"].isna().all()
    # switching the campaign or the PII off must not change anything else
    full = generate_retailer(200, random_state=1)
    for name in ("transactions", "customers", "products", "consent"):
        pd.testing.assert_frame_equal(getattr(plain, name), getattr(full, name), obj=name)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n_customers": 5}, "n_customers must be an integer >= 20"),
        ({"n_products": 3}, "n_products must be an integer >= 16"),
        ({"start": "2023-06-01", "end": "2023-12-31"}, "at least 365 are needed"),
        ({"start": "not a date"}, "start/end must be dates"),
        ({"start": "2022-01-01T00:00+01:00"}, "naive UTC"),
    ],
)
def test_bad_arguments_raise_config_error(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        generate_retailer(**kwargs)


# ---------------------------------------------------------------- point-in-time sanity and ids


def test_ids_dates_and_signup_are_consistent(shop):
    tx, start, end = shop.transactions, shop.params["start"], shop.params["end"]
    for frame, col in (
        (tx, "ordered_at"),
        (shop.customers, "signup_at"),
        (shop.consent, "recorded_at"),
        (shop.campaign_exposures, "sent_at"),
        (shop.responses, "responded_at"),
    ):
        assert frame[col].min() >= start and frame[col].max() <= end, col
    assert shop.customers["customer_id"].str.fullmatch(r"C\d{6}").all()
    assert shop.products["product_id"].str.fullmatch(r"P\d{4}").all()
    assert tx["order_id"].str.fullmatch(r"C?O\d{7}").all()
    signup = shop.customers.set_index("customer_id")["signup_at"]
    known = tx[tx["customer_id"].notna()]
    assert (known["ordered_at"].to_numpy() >= signup.loc[known["customer_id"]].to_numpy()).all()
    assert set(known["customer_id"]) <= set(signup.index)
    products = set(shop.products["product_id"])
    assert "POST" in set(tx["product_id"]) and set(tx["product_id"]) <= products | {"POST"}
    assert (tx["unit_price"] > 0).all()
    # order ids are numbered in time order
    first_time = _purchases(tx).groupby("order_id")["ordered_at"].first().sort_index()
    assert first_time.is_monotonic_increasing


def test_returns_reverse_an_earlier_purchase_of_the_same_customer(shop):
    tx = shop.transactions
    ret = tx[tx["order_id"].str.startswith("C")]
    assert len(ret) > 0 and (ret["quantity"] < 0).all()
    assert (tx.loc[~tx["order_id"].str.startswith("C"), "quantity"] > 0).all()
    buy = tx[~tx["order_id"].str.startswith("C")]
    merged = ret.assign(order_id=ret["order_id"].str[1:]).merge(
        buy, on=["order_id", "customer_id", "product_id"], suffixes=("_ret", "_buy")
    )
    assert len(merged) == len(ret)  # every return line matches exactly one purchase line
    delay_days = (merged["ordered_at_ret"] - merged["ordered_at_buy"]).dt.total_seconds() / 86400
    assert delay_days.between(1, 30).all()
    assert (merged["quantity_ret"] == -merged["quantity_buy"]).all()
    assert (merged["unit_price_ret"] == merged["unit_price_buy"]).all()
    # no exact duplicate lines and one line per product in an order (an ingest quarantines duplicates)
    assert not tx.duplicated().any() and not tx.duplicated(["order_id", "product_id"]).any()


def test_anonymous_postage_and_return_shares_are_as_planted(big_shop):
    tx = big_shop.transactions
    n = len(tx)
    anon_share = tx["customer_id"].isna().mean()
    assert abs(anon_share - 0.005) < 4 * np.sqrt(0.005 / n) + 0.0005
    assert tx.loc[tx["customer_id"].isna(), "channel"].eq("store").all()
    post = tx[tx["product_id"] == "POST"]
    n_orders = tx.loc[tx["channel"] != "store", "order_id"].str.removeprefix("C").nunique()
    assert abs(len(post) / n_orders - 0.03) < 0.005
    # return share per type, among purchases early enough for any return delay to fit
    end = big_shop.params["end"]
    buy = _purchases(tx)
    buy = buy[buy["ordered_at"] <= end - pd.Timedelta(days=31)]
    ret = tx[tx["order_id"].str.startswith("C")]
    returned = ret.assign(order_id=ret["order_id"].str[1:])[["order_id", "product_id"]].drop_duplicates()
    returned["returned"] = True
    is_returned = buy.merge(returned, on=["order_id", "product_id"], how="left")["returned"].notna()
    ctype = big_shop.truth.set_index("customer_id")["customer_type"]
    share = is_returned.groupby(ctype.loc[buy["customer_id"]].to_numpy()).agg(["mean", "size"])
    for name, row in share.iterrows():
        planted = CUSTOMER_TYPES[name].return_prob
        assert abs(row["mean"] - planted) < 4 * np.sqrt(planted * (1 - planted) / row["size"]), name


# ---------------------------------------------------------------- planted purchase behaviour


def test_orders_per_customer_are_ordered_by_type_as_designed(shop):
    orders = _orders(shop.transactions)
    per_customer = orders.groupby("customer_id").size()
    ctype = shop.truth.set_index("customer_id")["customer_type"]
    mean_orders = per_customer.groupby(ctype.loc[per_customer.index].to_numpy()).mean()
    assert list(mean_orders.sort_values(ascending=False).index) == [
        "loyal_high_spender",
        "bargain_hunter",
        "occasional_gifter",
        "new_customer",
        "lapsed",
    ]
    assert set(per_customer.index) == set(shop.truth["customer_id"])  # everyone buys at sign-up


@pytest.mark.parametrize("name", ["occasional_gifter", "lapsed", "new_customer", "loyal_high_spender"])
def test_repeat_purchases_match_the_bgnbd_expectation(big_shop, big_orders, name):
    orders = big_orders
    truth = big_shop.truth.set_index("customer_id")
    ids = truth.index[truth["customer_type"] == name]
    g = orders[orders["customer_id"].isin(ids)].groupby("customer_id")
    repeat = g.size() - 1
    span_days = (big_shop.params["end"] - g["ordered_at"].min()).dt.total_seconds() / 86400
    t = big_shop.params["types"][name]
    # E[X(T)] is smooth in T: evaluate the closed form on a grid (scipy's hyp2f1 is slow for large b)
    grid = np.linspace(span_days.min(), span_days.max(), 300)
    on_grid = bgnbd_expected_repeat_purchases(grid, r=t["r"], alpha=t["alpha"], a=t["a"], b=t["b"])
    expected = np.interp(span_days.to_numpy(), grid, on_grid)
    se = repeat.std(ddof=1) / np.sqrt(len(repeat))
    assert abs(repeat.mean() - expected.mean()) < 4 * se, (repeat.mean(), expected.mean(), se)
    # the latent draws follow the stated Gamma / Beta distributions
    lam, p = truth.loc[ids, "lambda"], truth.loc[ids, "p_dropout"]
    assert abs(lam.mean() - t["r"] / t["alpha"]) < 4 * np.sqrt(t["r"]) / t["alpha"] / np.sqrt(len(ids))
    assert abs(p.mean() - t["a"] / (t["a"] + t["b"])) < 4 * p.std() / np.sqrt(len(ids))


def test_bgnbd_formula_matches_hand_computed_limits():
    from scipy import integrate, stats
    from scipy.special import hyp2f1

    def by_integral(t: float, r: float, alpha: float, a: float, b: float) -> float:
        # E[X(t) | lambda, p] = (1 - exp(-lambda p t)) / p (FHL eq. 7); the Gamma Laplace
        # transform E[exp(-lambda p t)] = (alpha / (alpha + p t)) ** r leaves one integral over p
        p_pdf = stats.beta(a, b).pdf
        return integrate.quad(
            lambda p: (1 - (alpha / (alpha + p * t)) ** r) / p * p_pdf(p),
            0,
            1,
            points=[a / (a + b)],
            limit=200,
        )[0]

    # Euler-transformed branch (a - 1 < r) equals FHL eq. 9 as printed where scipy evaluates it
    euler = bgnbd_expected_repeat_purchases(100.0, r=3.0, alpha=10.0, a=2.0, b=5.0)
    assert euler == pytest.approx(6 / 1 * (1 - (10 / 110) ** 3 * hyp2f1(3.0, 5.0, 6.0, 100 / 110)), rel=1e-10)
    assert euler == pytest.approx(by_integral(100.0, 3.0, 10.0, 2.0, 5.0), rel=1e-7)
    # plain branch (a - 1 > r)
    plain = bgnbd_expected_repeat_purchases(100.0, r=0.5, alpha=10.0, a=3.0, b=5.0)
    assert plain == pytest.approx(by_integral(100.0, 0.5, 10.0, 3.0, 5.0), rel=1e-7)
    # scipy's hyp2f1 gives nan here; the fallback integral is continuous with the closed form
    near = bgnbd_expected_repeat_purchases(np.array([719.0, 720.5, 729.0]), r=8.0, alpha=80.0, a=2.0, b=398.0)
    assert np.isfinite(near).all() and np.all(np.diff(near) > 0)
    assert near[1] - near[0] == pytest.approx(1.5 * (near[2] - near[0]) / 10.0, rel=0.02)
    assert near[1] == pytest.approx(by_integral(720.5, 8.0, 80.0, 2.0, 398.0), rel=1e-5)
    # a -> large with a/(a+b) -> 0 is Poisson: E[X(t)] -> r t / alpha
    assert bgnbd_expected_repeat_purchases(30.0, r=2.0, alpha=10.0, a=1e6, b=1e12) == pytest.approx(
        6.0, rel=1e-4
    )
    # FHL 2005 CDNOW estimates (weeks): 1.1967 expected repeat purchases in the first 39 weeks
    closed = float(bgnbd_expected_repeat_purchases(39.0, r=0.243, alpha=4.414, a=0.793, b=2.426))
    assert closed == pytest.approx(by_integral(39.0, 0.243, 4.414, 0.793, 2.426), rel=1e-6)
    assert closed == pytest.approx(1.1967, abs=1e-4)


def test_dropout_truth_matches_the_purchase_history(shop):
    orders = _orders(shop.transactions)
    last = orders.groupby("customer_id")["ordered_at"].max()
    truth = shop.truth.set_index("customer_id")
    dropped = truth["dropout_at"].notna()
    # a customer who dropped out did so right after their last purchase
    gap = (last.loc[dropped[dropped].index] - truth.loc[dropped, "dropout_at"]).dt.total_seconds().abs()
    assert (gap == 0).all()
    lapsed = truth["customer_type"] == "lapsed"
    assert (
        dropped[lapsed].mean() > 0.7 and dropped[truth["customer_type"] == "loyal_high_spender"].mean() < 0.4
    )


def test_mean_spend_truth_matches_observed_order_values(big_shop, big_orders):
    orders = big_orders
    truth = big_shop.truth.set_index("customer_id")
    ctype = truth.loc[orders["customer_id"], "customer_type"].to_numpy()
    observed = orders.groupby(ctype)["amount"].agg(["mean", "std", "size"])
    # planted expectation per order, weighting customers by their number of orders
    weights = orders.groupby("customer_id").size()
    planted = (truth.loc[weights.index, "mean_spend"] * weights).groupby(
        truth.loc[weights.index, "customer_type"]
    ).sum() / weights.groupby(truth.loc[weights.index, "customer_type"]).sum()
    for name, row in observed.iterrows():
        # unit prices are rounded to cents, hence the small absolute slack
        assert abs(row["mean"] - planted[name]) < 5 * row["std"] / np.sqrt(row["size"]) + 0.05, name
    assert observed["mean"].idxmax() == "loyal_high_spender" and observed["mean"].idxmin() == "bargain_hunter"


def test_segments_are_recoverable_by_clustering_rfm_features(shop):
    from sklearn.cluster import KMeans
    from sklearn.metrics import adjusted_rand_score
    from sklearn.preprocessing import StandardScaler

    tx, end = shop.transactions, shop.params["end"]
    orders = _orders(tx)
    g = orders.groupby("customer_id")
    days = lambda s: s.dt.total_seconds() / 86400  # noqa: E731
    features = pd.DataFrame(
        {
            "recency": days(end - g["ordered_at"].max()),
            "tenure": days(end - g["ordered_at"].min()),
            "frequency": g.size(),
            "monetary": g["amount"].mean(),
            "basket": g["lines"].mean(),
        }
    )
    features["interval"] = (features["tenure"] - features["recency"]) / np.maximum(
        features["frequency"] - 1, 1
    )
    buy = _purchases(tx)
    features["distinct"] = buy.groupby("customer_id")["product_id"].nunique()
    returns = tx[tx["order_id"].str.startswith("C") & tx["customer_id"].notna()].groupby("customer_id").size()
    features["returns"] = returns.reindex(features.index, fill_value=0) / buy.groupby("customer_id").size()
    x = StandardScaler().fit_transform(np.log1p(features.to_numpy()))
    labels = KMeans(5, n_init=4, random_state=0).fit_predict(x)
    planted = shop.truth.set_index("customer_id").loc[features.index, "customer_type"]
    assert adjusted_rand_score(planted, labels) >= 0.8


def test_category_affinities_show_in_purchases(shop):
    buy = _purchases(shop.transactions)
    category = shop.products.set_index("product_id")["category"]
    truth = shop.truth.set_index("customer_id")
    cat = category.loc[buy["product_id"]].to_numpy()
    ctype = truth.loc[buy["customer_id"], "customer_type"].to_numpy()
    shares = pd.crosstab(ctype, cat, normalize="index")
    for name, spec in CUSTOMER_TYPES.items():
        planted = shop.params["types"][name]["category_affinity"]
        top = max(planted, key=planted.get)
        assert shares.loc[name].idxmax() == top == max(spec.affinity, key=spec.affinity.get)
        # the share of lines per category follows the planted affinity (customer mixes average out)
        assert np.abs(shares.loc[name] - pd.Series(planted)).max() < 0.05, name
    # the per-customer favourite categories are the ones they buy most, for customers with many lines
    lines = buy.assign(category=category.loc[buy["product_id"]].to_numpy())
    counts = lines.groupby(["customer_id", "category"]).size().unstack(fill_value=0)
    heavy = counts.index[counts.sum(axis=1) >= 200]
    favourite = truth.loc[heavy, "favourite_categories"].str.split("|").str[0]
    assert len(heavy) > 50 and (counts.loc[heavy].idxmax(axis=1) == favourite).mean() > 0.8


def test_product_texts_are_more_similar_within_a_category(shop):
    from sklearn.feature_extraction.text import TfidfVectorizer

    products = shop.products
    assert set(products["category"]) == set(CATEGORIES)
    assert 0 < (~products["active"]).sum() < 0.1 * len(products)
    tfidf = TfidfVectorizer().fit_transform(products["name"] + " " + products["description"])
    sim = (tfidf @ tfidf.T).toarray()
    same = products["category"].to_numpy()[:, None] == products["category"].to_numpy()[None, :]
    np.fill_diagonal(same, False)
    off = ~same
    np.fill_diagonal(off, False)
    assert sim[same].mean() > 3 * sim[off].mean()


# ---------------------------------------------------------------- PII, consent, campaign


def test_pii_is_realistic_unique_and_separate(shop):
    pii = shop.customer_pii
    assert pii["email"].is_unique and pii["email"].str.fullmatch(r"[a-z]+\.[a-z]+\d+@[a-z.]+").all()
    assert pii["phone"].str.fullmatch(r"\+[1-9]\d{9,13}").all()
    assert pii["name"].str.fullmatch(r"[A-Z][a-z]+ [A-Za-z ]+").all()
    assert not any(re.search("@|\\+\\d", value) for value in shop.customers["attributes"])


def test_consent_ledger_and_campaign_eligibility(shop):
    consent = shop.consent
    assert set(consent["purpose"]) == set(CONSENT_PURPOSES) and set(consent["status"]) == set(
        CONSENT_STATUSES
    )
    assert 0.9 < consent["status"].eq("granted").mean() < 0.97
    sent_at = shop.campaigns["started_at"].iloc[0]
    email = consent[(consent["purpose"] == "email") & (consent["recorded_at"] <= sent_at)]
    in_force = email.sort_values("recorded_at").groupby("customer_id")["status"].last().eq("granted")
    exposed = shop.campaign_exposures["customer_id"]
    assert in_force.loc[exposed].all()  # nobody was e-mailed without consent at send time
    assert (shop.campaign_exposures["sent_at"] == sent_at).all()


def test_campaign_is_a_fair_randomized_split(shop):
    exp, resp = shop.campaign_exposures, shop.responses
    counts = exp["arm"].value_counts()
    assert set(counts.index) == {"treatment", "control"} and abs(counts["treatment"] - counts["control"]) <= 1
    assert exp["customer_id"].is_unique and set(resp["customer_id"]) <= set(exp["customer_id"])
    sent_at = shop.campaigns["started_at"].iloc[0]
    assert shop.params["end"] - sent_at == pd.Timedelta(days=60) - pd.Timedelta(hours=9)
    assert resp["responded_at"].between(sent_at, sent_at + pd.Timedelta(days=14)).all()
    assert (resp["revenue"] > 0).all() and (resp["response_type"] == "conversion").all()
    # the arm is independent of customer type
    ctype = shop.truth.set_index("customer_id").loc[exp["customer_id"], "customer_type"].to_numpy()
    share = pd.crosstab(ctype, exp["arm"].to_numpy(), normalize="index")["treatment"]
    assert share.between(0.4, 0.6).all()


def test_empirical_uplift_per_type_recovers_the_planted_effect(big_shop):
    exp = big_shop.campaign_exposures
    truth = big_shop.truth.set_index("customer_id")
    converted = exp["customer_id"].isin(big_shop.responses["customer_id"]).to_numpy()
    frame = pd.DataFrame(
        {
            "type": truth.loc[exp["customer_id"], "customer_type"].to_numpy(),
            "treated": (exp["arm"] == "treatment").to_numpy(),
            "converted": converted,
            "true_uplift": truth.loc[exp["customer_id"], "true_uplift"].to_numpy(),
        }
    )
    estimates = {}
    for name, group in frame.groupby("type"):
        t, c = group.loc[group["treated"], "converted"], group.loc[~group["treated"], "converted"]
        estimate = t.mean() - c.mean()
        se = np.sqrt(t.var(ddof=1) / len(t) + c.var(ddof=1) / len(c)) + 1e-3
        planted = group["true_uplift"].mean()
        assert abs(estimate - planted) < 4 * se, (name, estimate, planted, se)
        estimates[name] = estimate
    assert estimates["loyal_high_spender"] < 0 < estimates["occasional_gifter"] < estimates["bargain_hunter"]
    # the planted baseline (driven by recency and frequency) is calibrated in the control arm
    control = ~frame["treated"].to_numpy()
    baseline_control = truth.loc[exp["customer_id"], "baseline_conversion_prob"].to_numpy()[control]
    for low, high in ((0.0, 0.1), (0.1, 0.4), (0.4, 1.0)):
        band = (baseline_control >= low) & (baseline_control < high)
        observed = frame["converted"].to_numpy()[control][band]
        assert band.sum() > 300
        assert (
            abs(observed.mean() - baseline_control[band].mean())
            < 4 * observed.std() / np.sqrt(band.sum()) + 1e-3
        )
    # the planted effect is the type's uplift wherever it fits inside [0, 1] probabilities
    effect = frame["type"].map(big_shop.params["campaign"]["uplift_by_type"])
    baseline = truth.loc[exp["customer_id"], "baseline_conversion_prob"].to_numpy()
    fits = (baseline + effect).between(0, 1)
    assert fits.mean() > 0.9
    np.testing.assert_allclose(frame.loc[fits, "true_uplift"], effect[fits], atol=1e-12)
