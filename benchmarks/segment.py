"""Benchmark: segmentation on real and synthetic customers.

1. **Online Retail** (UCI, full file): ingest with the bundled mapping into a temporary
   workspace, customer features at 2011-12-10 (``targetwise.features``), then
   ``targetwise.segment.segment_customers``: chosen k, silhouette per k, cluster sizes,
   profiles, RFM segment counts.
2. **Synthetic retailer** (``targetwise.synthetic.generate_retailer``): adjusted Rand
   index between the clusters and the planted customer types.
3. **Scale**: fit time on 100k and 1M customers. The tables are bootstrap draws from
   the synthetic retailer's feature table with 5% multiplicative jitter (so rows are
   distinct and the planted types are kept, ARI reported too).

There is no peer library: RFM tools are a few lines of pandas (the tests check ours
against an independent pandas computation) and the clustering runs scikit-learn.

Usage::

    .venv/bin/python benchmarks/segment.py [--sizes 100k 1M] [--synthetic-customers 10000]
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
DATASETS = Path(os.environ.get("TARGETWISE_DATASETS", ROOT.parent / "shared" / "datasets"))
SIZES = {"100k": 100_000, "1M": 1_000_000}


def machine() -> str:
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=False
    ).stdout.strip()
    return (
        f"{platform.platform()}, {os.cpu_count()} cores, Python {platform.python_version()}, commit {commit}"
    )


def timed(label: str, timings: dict[str, float], fn, *args, **kwargs):
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    timings[label] = time.perf_counter() - start
    return out


def online_retail_features(timings: dict[str, float]) -> pd.DataFrame:
    from targetwise.config import get_settings
    from targetwise.features import customer_features
    from targetwise.io.engines import open_duckdb
    from targetwise.io.ingest import ingest
    from targetwise.io.mapping import load_mapping
    from targetwise.io.workspace import Workspace

    csv = DATASETS / "online_retail" / "online_retail.csv.xz"
    mapping = ROOT / "src" / "targetwise" / "data" / "online_retail.toml"
    with tempfile.TemporaryDirectory() as tmp:
        workspace = Workspace.init(Path(tmp) / "ws", get_settings())
        timed(
            "ingest",
            timings,
            ingest,
            workspace,
            "transactions",
            csv,
            mapping=load_mapping(mapping, table="transactions"),
        )
        backend = open_duckdb(workspace.db_path)
        features = timed("features", timings, lambda: customer_features(backend, "2011-12-10").to_pandas())
        backend.disconnect()
    return features


def synthetic_features(n_customers: int, *, random_state: int = 3) -> tuple[pd.DataFrame, pd.Series]:
    import duckdb

    from targetwise.features import customer_features
    from targetwise.io.engines import open_duckdb
    from targetwise.schema import DEFAULT_NON_PRODUCT_CODES, TABLES, ddl
    from targetwise.synthetic import generate_retailer

    shop = generate_retailer(n_customers, random_state=random_state, pii=False, campaign=False)
    lines = shop.transactions[shop.transactions["customer_id"].notna()].copy()
    # derived columns as the ingest defines them (a canonical table without the provenance columns)
    lines["is_return"] = (lines["quantity"] < 0) | lines["order_id"].str.startswith("C")
    lines["is_non_product"] = lines["product_id"].isin(DEFAULT_NON_PRODUCT_CODES)
    lines["line_amount"] = lines["quantity"] * lines["unit_price"]
    con = duckdb.connect()
    for name, frame in (("transactions", lines), ("products", shop.products)):
        con.execute(ddl(TABLES[name]))
        columns = [c.name for c in TABLES[name].all_columns if c.name in frame.columns]
        con.register("incoming", frame[columns])
        con.execute(f"INSERT INTO {name} ({', '.join(columns)}) SELECT {', '.join(columns)} FROM incoming")
        con.unregister("incoming")
    features = customer_features(open_duckdb(con), shop.params["end"]).to_pandas()
    truth = shop.truth.set_index("customer_id").loc[features["customer_id"], "customer_type"]
    return features, truth.reset_index(drop=True)


def bootstrap(
    features: pd.DataFrame, truth: pd.Series, n: int, *, seed: int = 0
) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    rows = rng.integers(0, len(features), n)
    table = features.iloc[rows].reset_index(drop=True)
    numeric = [c for c in table.columns if c != "customer_id" and pd.api.types.is_float_dtype(table[c])]
    for col in numeric:
        table[col] = table[col] * rng.lognormal(0.0, 0.05, n)
    table["customer_id"] = [f"b{i:07d}" for i in range(n)]
    return table, truth.to_numpy()[rows]


def section_online_retail() -> list[str]:
    from targetwise.segment import segment_customers

    out = ["## Online Retail (UCI, full file), features at 2011-12-10", ""]
    timings: dict[str, float] = {}
    try:
        features = online_retail_features(timings)
    except Exception as exc:  # the benchmark reports what it cannot run
        return [*out, f"could not build the feature table: {exc!r}", ""]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        seg = timed("segment_customers", timings, segment_customers, features, random_state=0)
    c = seg.clusterer
    out += [
        f"- customers: {len(features):,}; clustering features: {c.features_in_}",
        "- timings (s): " + ", ".join(f"{k} {v:.1f}" for k, v in timings.items()),
        f"- chosen k = {c.n_clusters_}; silhouette of the final clustering (5,000-customer sample) = {c.silhouette_:.3f}",
        "- silhouette by k (selection): "
        + ", ".join(f"k={k}: {v:.3f}" for k, v in c.selection_scores_.items()),
        f"- PCA explained variance ratio: PC1 {c.pca_explained_variance_ratio_[0]:.3f}, PC2 {c.pca_explained_variance_ratio_[1]:.3f}",
        f"- warnings: {[str(w.message) for w in caught if 'segment' in w.filename] or 'none'}",
        "",
        "| cluster | name | customers | share | revenue share | description |",
        "|---|---|---:|---:|---:|---|",
    ]
    for cluster, row in seg.cluster_profiles.iterrows():
        out.append(
            f"| {cluster} | {row['name']} | {row['n_customers']:,} | {row['customer_share']:.1%} | "
            f"{row['revenue_share']:.1%} | {row['description']} |"
        )
    out += [
        "",
        "RFM segments (default map):",
        "",
        "| segment | customers | share | revenue share |",
        "|---|---:|---:|---:|",
    ]
    for segment, row in seg.rfm_profiles.iterrows():
        out.append(
            f"| {segment} | {row['n_customers']:,} | {row['customer_share']:.1%} | {row['revenue_share']:.1%} |"
        )
    out += ["", "Example reasons:", ""]
    for _, row in seg.customers.head(5).iterrows():
        out.append(f"- {row['customer_id']} ({row['cluster_name']}, {row['rfm_segment']}): {row['reason']}")
    return [*out, ""]


def section_synthetic(n_customers: int, sizes: list[str]) -> list[str]:
    from sklearn.metrics import adjusted_rand_score

    from targetwise.segment import BehaviourClusterer, RFMSegmenter, explain_customers, segment_customers

    out = [f"## Synthetic retailer ({n_customers:,} customers, random_state=3)", ""]
    timings: dict[str, float] = {}
    features, truth = timed("generate + features", timings, synthetic_features, n_customers)
    seg = timed("segment_customers", timings, segment_customers, features, random_state=0)
    ari = adjusted_rand_score(truth, seg.customers["cluster"])
    out += [
        f"- chosen k = {seg.clusterer.n_clusters_} (5 planted types); ARI vs planted types = **{ari:.3f}**; "
        f"silhouette = {seg.clusterer.silhouette_:.3f}",
        "- timings (s): " + ", ".join(f"{k} {v:.1f}" for k, v in timings.items()),
        "",
        "| cluster | name | share | top planted type (share of cluster) |",
        "|---|---|---:|---|",
    ]
    for cluster, row in seg.cluster_profiles.iterrows():
        types = truth[seg.customers["cluster"].to_numpy() == cluster].value_counts(normalize=True)
        out.append(
            f"| {cluster} | {row['name']} | {row['customer_share']:.1%} | {types.index[0]} ({types.iloc[0]:.0%}) |"
        )
    out += ["", "## Scale (bootstrap of the synthetic feature table, 5% jitter)", ""]
    out += [
        "| customers | RFM fit+transform s | clusterer fit (auto k) s | reasons s | segment_customers s | k | ARI |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for size in sizes:
        n = SIZES[size]
        table, labels = bootstrap(features, truth, n)
        t: dict[str, float] = {}
        timed("rfm", t, RFMSegmenter().fit_transform, table)
        model = timed("cluster", t, BehaviourClusterer(random_state=0).fit, table)
        timed("reasons", t, explain_customers, table, model.labels_, scaled=model.scaled_)
        seg_big = timed("all", t, segment_customers, table, random_state=0)
        ari_big = adjusted_rand_score(labels, seg_big.customers["cluster"])
        out.append(
            f"| {n:,} | {t['rfm']:.1f} | {t['cluster']:.1f} | {t['reasons']:.1f} | {t['all']:.1f} | "
            f"{model.n_clusters_} | {ari_big:.3f} |"
        )
        print(out[-1], flush=True)
    return [*out, ""]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", nargs="*", default=["100k", "1M"], choices=list(SIZES))
    parser.add_argument("--synthetic-customers", type=int, default=10_000)
    parser.add_argument("--skip-online-retail", action="store_true")
    args = parser.parse_args()
    lines = ["# Segmentation benchmark", "", f"Machine: {machine()}", ""]
    if not args.skip_online_retail:
        lines += section_online_retail()
        print("\n".join(lines), flush=True)
    synthetic = section_synthetic(args.synthetic_customers, args.sizes)
    print("\n".join(synthetic), flush=True)


if __name__ == "__main__":
    main()
