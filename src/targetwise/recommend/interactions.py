"""Customer x product interaction matrix built from canonical transactions.

The matrix is what every recommender learns from. Rows are customers, columns
are products, both mapped to dense integer indices (sorted id order, so the same
transactions always give the same mapping).

Cell value (``value=``):

* ``"invoices"`` (default): the number of distinct purchase orders in which the
  customer bought the product. Robust to bulk buyers (a wholesaler's 1,000
  units count once per order) and the setting that reproduces the reference
  figures on Online Retail.
* ``"quantity"``: purchased units net of returns.

Returns are netted in both modes: the per (customer, product) net quantity is
``sum(quantity)`` over purchase and return lines. A pair whose net quantity is
``<= 0`` (everything bought was returned, or a return without a matching
purchase) gets no cell; such pairs are counted in
:attr:`InteractionMatrix.n_pairs_netted_out`, never dropped silently.
Non-product lines (``is_non_product`` or a code in ``non_product_codes``) are
removed and counted in :attr:`InteractionMatrix.n_non_product_lines`.

Weightings (documented here, applied by the models that use them):

* :func:`bm25_weight` -- Okapi BM25 on the matrix (``K1`` saturates repeat
  purchases, ``B`` normalises by the customer's basket breadth); implicit's
  implementation.
* :func:`confidence_weight` -- ``1 + alpha * log(1 + x)`` (Hu, Koren & Volinsky
  2008, log variant): the confidence that a customer likes an item grows with
  the log of the number of orders.
* :meth:`InteractionMatrix.recency_matrix` -- each purchase order weighted
  ``0.5 ** (age_days / half_life_days)`` with age measured from
  ``observed_until``, so recent purchases dominate a customer's profile.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import scipy.sparse as sp

from targetwise.errors import DataValidationError
from targetwise.schema import DEFAULT_NON_PRODUCT_CODES

__all__ = [
    "PAIR_COLUMNS",
    "REQUIRED_COLUMNS",
    "InteractionMatrix",
    "bm25_weight",
    "build_interactions",
    "confidence_weight",
    "interactions_from_pairs",
]

REQUIRED_COLUMNS = ("customer_id", "order_id", "ordered_at", "product_id", "quantity")
#: the per-pair aggregate :func:`interactions_from_pairs` builds from (``decay_<h>`` columns optional)
PAIR_COLUMNS = ("customer_id", "product_id", "net_quantity", "n_orders")
VALUES = ("invoices", "quantity")


@dataclass(frozen=True)
class InteractionMatrix:
    """A customers x products matrix plus the id mappings and the purchase log.

    ``matrix`` is CSR float32 with shape ``(n_customers, n_products)``.
    ``purchase_rows/cols/ages_days`` hold one entry per (customer, product,
    purchase order) that survived netting; ages are days before ``observed_until``.
    """

    matrix: sp.csr_matrix
    customer_ids: np.ndarray
    product_ids: np.ndarray
    value: str
    observed_until: pd.Timestamp
    purchase_rows: np.ndarray
    purchase_cols: np.ndarray
    purchase_ages_days: np.ndarray
    n_non_product_lines: int = 0
    n_pairs_netted_out: int = 0
    customer_index: dict[str, int] = field(default_factory=dict, repr=False)
    product_index: dict[str, int] = field(default_factory=dict, repr=False)
    #: built from pair aggregates: the decayed matrices per half-life, computed by the engine
    decayed: dict[float, sp.csr_matrix] | None = field(default=None, repr=False)

    @property
    def shape(self) -> tuple[int, int]:
        return self.matrix.shape  # type: ignore[return-value]

    def customers_per_product(self) -> np.ndarray:
        """Number of distinct customers who bought each product (float64, length n_products)."""
        return np.bincount(self.matrix.indices, minlength=self.shape[1]).astype(np.float64)

    def recency_matrix(self, half_life_days: float) -> sp.csr_matrix:
        """Matrix whose cell sums ``0.5 ** (age_days / half_life_days)`` over the pair's purchase orders."""
        if not half_life_days > 0:
            raise DataValidationError(
                f"half_life_days must be > 0, got {half_life_days!r}",
                fix="pass a positive number of days, e.g. 30",
            )
        if self.decayed is not None:
            found = self.decayed.get(float(half_life_days))
            if found is None:
                raise DataValidationError(
                    f"these interactions were aggregated without the {half_life_days:g}-day half-life "
                    f"(aggregated: {', '.join(f'{h:g}' for h in sorted(self.decayed)) or 'none'})",
                    fix="pass the half-life in half_lives when aggregating the pairs",
                )
            return found
        weights = np.exp2(-self.purchase_ages_days / float(half_life_days)).astype(np.float32)
        decayed = sp.csr_matrix(
            (weights, (self.purchase_rows, self.purchase_cols)), shape=self.shape, dtype=np.float32
        )
        decayed.sum_duplicates()
        return decayed


def _check_transactions(transactions: pd.DataFrame) -> None:
    if not isinstance(transactions, pd.DataFrame):
        raise DataValidationError(
            f"interactions must be a pandas DataFrame, got {type(transactions).__name__}",
            fix="pass the canonical transactions table as a DataFrame",
        )
    missing = [c for c in REQUIRED_COLUMNS if c not in transactions.columns]
    if missing:
        raise DataValidationError(
            f"interactions lack column(s) {missing}; expected the canonical transactions schema "
            f"{list(REQUIRED_COLUMNS)}",
            fix="map your columns onto the canonical names (see targetwise.schema.TRANSACTIONS)",
        )
    if transactions["customer_id"].isna().any() or transactions["product_id"].isna().any():
        raise DataValidationError(
            "interactions contain missing customer_id or product_id values",
            fix="drop anonymous lines (they belong in anonymous_transactions) before fitting",
        )
    if transactions["quantity"].isna().any():
        raise DataValidationError(
            "interactions contain missing quantity values", fix="fill or drop those lines"
        )


def build_interactions(
    transactions: pd.DataFrame,
    *,
    value: str = "invoices",
    non_product_codes: Iterable[str] = DEFAULT_NON_PRODUCT_CODES,
    extra_product_ids: Iterable[str] = (),
    observed_until: pd.Timestamp | None = None,
) -> InteractionMatrix:
    """Build the customer x product matrix from canonical transactions.

    Parameters
    ----------
    transactions
        Canonical transactions (``customer_id, order_id, ordered_at, product_id,
        quantity``; ``is_return``/``is_non_product`` used when present).
    value
        ``"invoices"`` (distinct purchase orders per pair) or ``"quantity"``
        (units net of returns).
    non_product_codes
        Product codes that are never products (postage, fees).
    extra_product_ids
        Catalogue products to include as (empty) columns, e.g. new products
        that content-based recommendations can still reach.
    observed_until
        Reference time for purchase ages; defaults to the latest ``ordered_at``.

    Examples
    --------
    >>> tx = pd.DataFrame({"customer_id": ["a", "a", "a"], "order_id": ["1", "2", "C3"],
    ...     "ordered_at": pd.to_datetime(["2024-01-01", "2024-01-02", "2024-01-03"]),
    ...     "product_id": ["x", "x", "x"], "quantity": [2, 3, -1]})
    >>> build_interactions(tx).matrix.toarray().tolist(), build_interactions(tx, value="quantity").matrix.toarray().tolist()
    ([[2.0]], [[4.0]])
    """
    if value not in VALUES:
        raise DataValidationError(
            f"value must be one of {VALUES}, got {value!r}", fix="use 'invoices' or 'quantity'"
        )
    _check_transactions(transactions)
    customer = transactions["customer_id"].astype(str).to_numpy(dtype=object)
    product = transactions["product_id"].astype(str).to_numpy(dtype=object)
    quantity = transactions["quantity"].to_numpy(dtype=np.int64)
    non_product = np.isin(product, np.array(list(non_product_codes), dtype=object))
    if "is_non_product" in transactions.columns:
        non_product |= transactions["is_non_product"].fillna(False).to_numpy(dtype=bool)
    is_return = quantity < 0
    if "is_return" in transactions.columns:
        is_return |= transactions["is_return"].fillna(False).to_numpy(dtype=bool)
    keep = ~non_product
    n_non_product = int(non_product.sum())
    ordered_at = pd.to_datetime(transactions["ordered_at"]).to_numpy(dtype="datetime64[ns]")[keep]
    if observed_until is None:
        observed_until = pd.Timestamp(ordered_at.max()) if ordered_at.size else pd.Timestamp(0)
    # Everything below works on integer codes: factorize once, then sort/bincount.
    cust_code, cust_names = pd.factorize(customer[keep], sort=True)
    prod_code, prod_names = pd.factorize(product[keep], sort=True)
    # sorted codes: the purchase log (and the float32 recency sums over it) then follows id order,
    # not the order the rows arrived in
    order_code, _ = pd.factorize(transactions["order_id"].astype(str).to_numpy(dtype=object)[keep], sort=True)
    quantity, is_return = quantity[keep], is_return[keep]
    n_prod_all = max(len(prod_names), 1)
    pair = cust_code.astype(np.int64) * n_prod_all + prod_code
    pairs, pair_inverse = np.unique(pair, return_inverse=True)
    net = np.bincount(pair_inverse, weights=quantity, minlength=len(pairs))
    positive = net > 0
    n_netted_out = int((~positive).sum())

    # Purchase orders per (customer, product): distinct (pair, order) among purchase lines.
    bought = (~is_return) & (quantity > 0) & positive[pair_inverse]
    b_pair, b_order, b_time = pair_inverse[bought], order_code[bought], ordered_at[bought]
    sort = np.lexsort((b_order, b_pair))
    b_pair, b_order, b_time = b_pair[sort], b_order[sort], b_time[sort]
    first = np.ones(len(b_pair), dtype=bool)
    first[1:] = (np.diff(b_pair) != 0) | (np.diff(b_order) != 0)
    starts = np.flatnonzero(first)
    order_pair = b_pair[starts]
    order_time = (
        np.maximum.reduceat(b_time.astype(np.int64), starts).astype("datetime64[ns]")
        if len(starts)
        else b_time[:0]
    )

    kept_pairs = pairs[positive]
    kept_cust, kept_prod = kept_pairs // n_prod_all, kept_pairs % n_prod_all
    used_cust, cust_remap = np.unique(kept_cust, return_inverse=True)
    used_prod, prod_remap = np.unique(kept_prod, return_inverse=True)
    customer_ids = np.asarray(cust_names, dtype=object)[used_cust]
    seen = np.asarray(prod_names, dtype=object)[used_prod]
    extras = sorted({str(p) for p in extra_product_ids} - set(seen) - set(non_product_codes))
    product_ids = np.concatenate([seen, np.array(extras, dtype=object)]).astype(object)
    customer_index = {c: i for i, c in enumerate(customer_ids)}
    product_index = {p: i for i, p in enumerate(product_ids)}
    # The positions of the kept pairs in `pairs` give (row, col) of every cell.
    cell_of_pair = np.full(len(pairs), -1, dtype=np.int64)
    cell_of_pair[np.flatnonzero(positive)] = np.arange(positive.sum())
    rows, cols = cust_remap.astype(np.int64), prod_remap.astype(np.int64)
    if value == "quantity":
        data = net[positive].astype(np.float32)
    else:
        data = np.bincount(cell_of_pair[order_pair], minlength=len(kept_pairs)).astype(np.float32)
    shape = (len(customer_ids), len(product_ids))
    matrix = sp.csr_matrix((data, (rows, cols)), shape=shape, dtype=np.float32)
    matrix.sum_duplicates()
    matrix.sort_indices()

    order_cells = cell_of_pair[order_pair]
    order_rows, order_cols = rows[order_cells], cols[order_cells]
    ages = (np.datetime64(pd.Timestamp(observed_until).asm8, "ns") - order_time) / np.timedelta64(1, "s")
    ages_days = np.maximum(np.asarray(ages, dtype=np.float64) / 86400.0, 0.0)
    return InteractionMatrix(
        matrix=matrix,
        customer_ids=customer_ids,
        product_ids=product_ids,
        value=value,
        observed_until=pd.Timestamp(observed_until),
        purchase_rows=order_rows,
        purchase_cols=order_cols,
        purchase_ages_days=ages_days,
        n_non_product_lines=n_non_product,
        n_pairs_netted_out=n_netted_out,
        customer_index=customer_index,
        product_index=product_index,
    )


def interactions_from_pairs(
    pairs: pd.DataFrame,
    *,
    observed_until: pd.Timestamp,
    value: str = "invoices",
    non_product_codes: Iterable[str] = DEFAULT_NON_PRODUCT_CODES,
    extra_product_ids: Iterable[str] = (),
    n_non_product_lines: int = 0,
) -> InteractionMatrix:
    """The matrix from per (customer, product) aggregates (:func:`targetwise.features.interactions.interaction_pairs`).

    ``pairs`` holds :data:`PAIR_COLUMNS` for product lines only, one row per pair, and
    ``decay_<h>`` columns (``sum 0.5 ** (age_days / h)`` over the pair's purchase orders) for
    the half-lives :meth:`InteractionMatrix.recency_matrix` will be asked for. The cells are the
    same as :func:`build_interactions` gives on the lines the pairs were aggregated from; the
    purchase log is not kept (there is none: that is the point).
    """
    if value not in VALUES:
        raise DataValidationError(
            f"value must be one of {VALUES}, got {value!r}", fix="use 'invoices' or 'quantity'"
        )
    missing = [c for c in PAIR_COLUMNS if c not in pairs.columns]
    if missing:
        raise DataValidationError(
            f"interaction pairs lack column(s) {missing}", fix=f"aggregate them with columns {list(PAIR_COLUMNS)}"
        )
    codes = {str(c) for c in non_product_codes}
    usable = ~_is_in(pairs["product_id"], codes)
    net = pairs["net_quantity"].to_numpy(dtype=np.int64)
    positive = (net > 0) & usable
    cust_code, customer_ids = sorted_codes(pairs["customer_id"], positive)
    prod_code, seen = sorted_codes(pairs["product_id"], positive)
    extras = sorted({str(p) for p in extra_product_ids} - set(seen) - codes)
    product_ids = np.concatenate([seen, np.array(extras, dtype=object)]).astype(object)
    shape = (len(customer_ids), len(product_ids))
    # one row per pair: every matrix has the same cells, so their CSR layout (pairs sorted by customer,
    # then product) is computed once and each matrix only orders its values (the matrix scipy builds
    # from the same coordinates, with sum_duplicates and sort_indices)
    index_type = np.int32 if max(shape) < 2**31 and int(positive.sum()) < 2**31 else np.int64
    order = np.lexsort((prod_code, cust_code))
    indices = prod_code[order].astype(index_type)
    indptr = np.zeros(shape[0] + 1, dtype=index_type)
    np.cumsum(np.bincount(cust_code, minlength=shape[0]), out=indptr[1:])
    del cust_code, prod_code

    def csr(values: np.ndarray) -> sp.csr_matrix:
        out = sp.csr_matrix((values[order].astype(np.float32), indices, indptr), shape=shape, copy=False)
        out.has_sorted_indices = True
        return out

    data = net[positive] if value == "quantity" else pairs["n_orders"].to_numpy(dtype=np.int64)[positive]
    decayed = {
        float(column.removeprefix("decay_").replace("_", ".")): csr(pairs[column].to_numpy(dtype=np.float64)[positive])
        for column in pairs.columns
        if column.startswith("decay_")
    }
    empty_i, empty_f = np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float64)
    return InteractionMatrix(
        matrix=csr(data),
        customer_ids=customer_ids,
        product_ids=product_ids,
        value=value,
        observed_until=pd.Timestamp(observed_until),
        purchase_rows=empty_i,
        purchase_cols=empty_i,
        purchase_ages_days=empty_f,
        n_non_product_lines=int(n_non_product_lines),
        n_pairs_netted_out=int(((net <= 0) & usable).sum()),
        customer_index={c: i for i, c in enumerate(customer_ids)},
        product_index={p: i for i, p in enumerate(product_ids)},
        decayed=decayed,
    )


def _is_in(ids: pd.Series, values: set[str]) -> np.ndarray:
    """Which rows' id (as text) is one of ``values``; a categorical column is tested per category."""
    if isinstance(ids.dtype, pd.CategoricalDtype):
        hit = pd.Index(ids.cat.categories.astype(str)).isin(values)
        found = np.append(hit, False)  # code -1 (a missing id) is in no set
        return found[ids.cat.codes.to_numpy()]
    return ids.astype(str).isin(values).to_numpy()


def sorted_codes(ids: pd.Series, keep: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Dense codes of ``ids[keep]`` numbered in sorted id (text) order, and the ids: what
    ``pd.factorize(ids[keep].astype(str), sort=True)`` gives, without a string per row when
    ``ids`` is categorical (:func:`targetwise.io.engines.fetch_frame`'s ``categories``)."""
    if not isinstance(ids.dtype, pd.CategoricalDtype):
        code, names = pd.factorize(ids.astype(str).to_numpy(dtype=object)[keep], sort=True)
        return code, np.asarray(names, dtype=object)
    codes = ids.cat.codes.to_numpy()[keep].astype(np.int64)
    names = ids.cat.categories.astype(str).to_numpy(dtype=object)
    present = np.flatnonzero(np.bincount(codes, minlength=len(names)))
    order = present[np.argsort(names[present], kind="stable")]
    renumber = np.full(len(names), -1, dtype=np.int64)
    renumber[order] = np.arange(len(order))
    return renumber[codes], names[order]


def bm25_weight(matrix: sp.spmatrix, *, K1: float = 100.0, B: float = 0.8) -> sp.csr_matrix:
    """Okapi BM25 weighting of a customers x products matrix (implicit's ``bm25_weight``).

    Each customer's row is treated as a document: ``K1`` controls how quickly
    repeat orders saturate and ``B`` how strongly broad baskets are down-weighted.
    """
    from implicit.nearest_neighbours import bm25_weight as _bm25

    return _bm25(sp.csr_matrix(matrix), K1=K1, B=B).tocsr().astype(np.float32)


def confidence_weight(matrix: sp.spmatrix, *, alpha: float = 1.0) -> sp.csr_matrix:
    """Confidence ``1 + alpha * log(1 + x)`` on the stored (non-zero) cells; zeros stay zero."""
    if not alpha > 0:
        raise DataValidationError(f"alpha must be > 0, got {alpha!r}", fix="use e.g. alpha=1.0")
    weighted = sp.csr_matrix(matrix, dtype=np.float32, copy=True)
    weighted.data = (1.0 + alpha * np.log1p(weighted.data)).astype(np.float32)
    return weighted
