"""Test data for the features tests: canonical tables built with the schema DDL.

Until the ingest lands these tests load the canonical `transactions` / `products`
tables themselves, from pandas frames, with `targetwise.schema.ddl`.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import pandas as pd

from targetwise.io.engines import open_duckdb
from targetwise.schema import DEFAULT_NON_PRODUCT_CODES, TABLES, ddl

DATA = Path(__file__).parent / "data" / "online_retail" / "online_retail_sample_100cust.csv"

TRANSACTION_COLUMNS = [c.name for c in TABLES["transactions"].all_columns]
PRODUCT_COLUMNS = [c.name for c in TABLES["products"].all_columns]


def transactions_frame(rows: list[tuple]) -> pd.DataFrame:
    """Canonical transactions from ``(customer, order, ordered_at, product, quantity, unit_price, channel)`` rows."""
    frame = pd.DataFrame(
        rows,
        columns=["customer_id", "order_id", "ordered_at", "product_id", "quantity", "unit_price", "channel"],
    )
    frame["ordered_at"] = pd.to_datetime(frame["ordered_at"], format="ISO8601")
    return derive(frame)


def derive(frame: pd.DataFrame) -> pd.DataFrame:
    """Add the derived canonical columns as the ingest defines them."""
    out = frame.copy()
    out["quantity"] = out["quantity"].astype("int64")
    out["unit_price"] = out["unit_price"].astype("float64")
    out["is_return"] = (out["quantity"] < 0) | out["order_id"].str.startswith("C")
    out["is_non_product"] = out["product_id"].isin(DEFAULT_NON_PRODUCT_CODES)
    out["line_amount"] = out["quantity"] * out["unit_price"]
    out["source_row"] = range(1, len(out) + 1)
    for name in TRANSACTION_COLUMNS:
        if name not in out.columns:
            out[name] = None
    return out[TRANSACTION_COLUMNS]


def products_frame(categories: dict[str, str | None]) -> pd.DataFrame:
    frame = pd.DataFrame({"product_id": list(categories), "category": list(categories.values())})
    for name in PRODUCT_COLUMNS:
        if name not in frame.columns:
            frame[name] = None
    return frame[PRODUCT_COLUMNS]


def load_duckdb(
    transactions: pd.DataFrame,
    products: pd.DataFrame | None = None,
    con: duckdb.DuckDBPyConnection | None = None,
) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with the canonical tables created from the DDL and filled."""
    con = con or duckdb.connect()
    for name, frame in (("transactions", transactions), ("products", products)):
        con.execute(ddl(TABLES[name]))
        if frame is None:
            continue
        con.register("incoming", frame)
        # the columns computed on read (is_return, line_amount, line_hash) are not inserted
        stored = {c.name for c in TABLES[name].stored_columns}
        columns = ", ".join(c for c in frame.columns if c in stored)
        con.execute(f"INSERT INTO {name} ({columns}) SELECT {columns} FROM incoming")
        con.unregister("incoming")
    return con


def backend(transactions: pd.DataFrame, products: pd.DataFrame | None = None):
    return open_duckdb(load_duckdb(transactions, products))


def online_retail(*, with_test_dimensions: bool = False) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The 100-customer Online Retail sample as canonical transactions and products.

    Online Retail has neither channels nor categories. With ``with_test_dimensions`` the
    tests add stand-ins to exercise those code paths on real data: channel = 'uk' or
    'export' from Country, category = first word of the product description.
    """
    raw = pd.read_csv(DATA, dtype=str, keep_default_na=False, na_values=[""])
    frame = pd.DataFrame(
        {
            "customer_id": raw["CustomerID"],
            "order_id": raw["InvoiceNo"],
            "ordered_at": pd.to_datetime(raw["InvoiceDate"]),
            "product_id": raw["StockCode"],
            "quantity": raw["Quantity"].astype("int64"),
            "unit_price": raw["UnitPrice"].astype("float64"),
            "channel": raw["Country"].eq("United Kingdom").map({True: "uk", False: "export"})
            if with_test_dimensions
            else None,
        }
    )
    transactions = derive(frame)
    first = raw.drop_duplicates("StockCode")
    category = first["Description"].str.split().str[0] if with_test_dimensions else None
    products = products_frame(
        dict(zip(first["StockCode"], category if category is not None else [None] * len(first), strict=True))
    )
    products["name"] = first["Description"].to_numpy()
    return transactions, products


AS_OF = dt.datetime(2021, 1, 31)

# Hand-built customers with known answers (see tests/test_features_customer.py).
HAND_ROWS = [
    # customer A: four purchase orders, one return, one postage line, later orders for labels
    ("A", "A1", "2021-01-01 10:00", "P1", 2, 10.0, "web"),
    ("A", "A1", "2021-01-01 10:00", "P2", 1, 5.0, "web"),
    ("A", "A1", "2021-01-01 10:00", "POST", 1, 3.0, "web"),
    ("A", "A2", "2021-01-01 18:00", "P1", 1, 10.0, "web"),
    ("A", "A3", "2021-01-11 10:00", "P3", 4, 2.5, "web"),
    ("A", "CA4", "2021-01-15 12:00", "P1", -1, 10.0, "web"),
    ("A", "A5", "2021-01-21 10:00", "P2", 2, 5.0, "store"),
    ("A", "A7", "2021-01-31 00:00", "P2", 1, 5.0, "store"),  # exactly at as_of: a label, not a feature
    ("A", "A6", "2021-02-05 00:00", "P1", 3, 10.0, "web"),
    # customer B: one purchase of an uncatalogued product, one postage-only order
    ("B", "B1", "2021-01-20 09:00", "POST", 1, 4.0, None),
    ("B", "B2", "2021-01-30 12:00", "P4", 1, 100.0, "store"),
    # customer C: only a return before as_of -> not in the feature population
    ("C", "CC1", "2021-01-10 08:00", "P1", -1, 10.0, "web"),
    ("C", "C2", "2021-02-10 08:00", "P1", 1, 10.0, "web"),
    # customer E: extends the data to 2021-03-10
    ("E", "E1", "2021-01-05 00:00", "P3", 1, 2.5, "web"),
    ("E", "E2", "2021-03-10 12:00", "P3", 1, 2.5, "web"),
]

HAND_CATEGORIES = {"P1": "kitchen", "P2": "kitchen", "P3": "garden", "POST": None}
