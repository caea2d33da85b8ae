"""RFM scoring and the standard named RFM segments.

Scores
------
Recency, frequency and monetary value each get a score from 1 to ``n_bins``
(default 5, quintiles); 5 is best: most recent (lowest ``recency_days``), most
orders, most money.

Ties are handled with the *mid-distribution percentile* of the value among the
customers seen in ``fit``::

    p(v) = (#customers with value < v  +  0.5 * #customers with value == v) / n
    score(v) = max(1, ceil(n_bins * p(v)))

(for recency the values are negated first, so the lowest recency gets the
highest percentile). On the fitted table ``p`` is ``(average rank - 0.5) / n``,
i.e. pandas ``rank(method="average")``. Consequences, all deliberate:

* customers with equal values always get equal scores, whatever their ids or
  row order (no arbitrary tie breaking by id);
* with distinct values and ``n`` divisible by ``n_bins`` the bins are equal-sized
  (quintiles of 20% each);
* a large tie group sits in the bin of its middle: if 35% of customers bought
  once, all of them get F=1 (p=0.175); if 50% did, all get F=2 (p=0.25) and
  F=1 stays empty. Empty scores are possible with heavy ties and are not an error;
* new customers scored with ``transform`` are placed against the fitted
  distribution (values beyond the fitted range get 1 or ``n_bins``).

With fewer customers than ``n_bins`` the scores still use the 1..n_bins scale
(so the segment map keeps its meaning) but at most ``n`` distinct scores occur;
a :class:`SegmentationWarning` says so.

Segments
--------
:data:`DEFAULT_RFM_GRID` places each customer on the common R-versus-FM grid
(FM = mean of F and M, rounded half up), the layout of Putler's RFM segment
chart ("RFM Analysis For Successful Customer Segmentation", putler.com/rfm-analysis)
that the widely copied regex map of RFM tutorials encodes for R and F
(``[1-2][1-2]`` Hibernating, ``[1-2][3-4]`` At Risk, ``[1-2]5`` Can't Lose,
``3[1-2]`` About to Sleep, ``33`` Need Attention, ``[3-4][4-5]`` Loyal, ``41``
Promising, ``51`` New, ``[4-5][2-3]`` Potential Loyalist, ``5[4-5]`` Champions).
We use FM instead of F so monetary value counts, and split Putler's eleventh
segment, Lost, off the bottom-left cell (R=1, FM<=2)::

    FM ->     1              2              3                4              5
    R=5   New            Potential L.   Potential L.     Champions      Champions
    R=4   Promising      Potential L.   Potential L.     Loyal          Loyal
    R=3   About to Sleep About to Sleep Need Attention   Loyal          Loyal
    R=2   Hibernating    Hibernating    At Risk          At Risk        Cannot Lose Them
    R=1   Lost           Lost           At Risk          At Risk        Cannot Lose Them

The names make claims about order counts that scores alone cannot keep: F is a
rank, so with few one-order customers F=1 also holds two-order customers, and
with more than 40% of them every one-order customer has F=2 (and a big first
order can reach FM 4). The default map therefore also checks the customer's own
order count (``frequency_col``), so that every name holds for every member:

* **New** means a single order, and a recent one (R=5): a New-cell customer with
  two or more orders is **Promising** (recent, has not spent much);
* **Champions** and **Loyal** mean repeat buying (two or more orders): a
  one-order customer in a Champions cell is **New** (a recent first order,
  however big); in a Loyal cell **Potential Loyalist** at R=4 and **Need
  Attention** at R=3.

:data:`RFM_DEFINITIONS` gives each default segment's definition in words.

Override with ``score_map``: either a dict ``segment -> list of regular
expressions`` matched in full against the three-digit ``rfm_score`` (e.g.
``{"VIP": [r"5[45][45]"], "Rest": [r".*"]}``; the first segment whose pattern
matches wins, in dict order), or a callable taking a DataFrame with integer
columns ``r_score, f_score, m_score`` and returning one segment name per row.
Customers no pattern matches get :data:`UNASSIGNED` and a warning.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator

from targetwise.errors import ConfigError, DataValidationError
from targetwise.segment._validation import (
    SegmentationWarning,
    check_fitted,
    customer_frame,
    numeric_matrix,
    require_columns,
)

__all__ = [
    "DEFAULT_RFM_GRID",
    "DEFAULT_SCORE_MAP",
    "RFM_DEFINITIONS",
    "RFM_SEGMENTS",
    "UNASSIGNED",
    "RFMSegmenter",
    "fm_score",
    "grid_to_score_map",
    "mid_rank_scores",
]

UNASSIGNED = "Unassigned"

RFM_SEGMENTS: tuple[str, ...] = (
    "Champions",
    "Loyal",
    "Potential Loyalist",
    "New",
    "Promising",
    "Need Attention",
    "About to Sleep",
    "At Risk",
    "Cannot Lose Them",
    "Hibernating",
    "Lost",
)

# segment -> list of (R scores, FM scores) cells on the 5x5 grid.
DEFAULT_RFM_GRID: dict[str, list[tuple[tuple[int, ...], tuple[int, ...]]]] = {
    "Champions": [((5,), (4, 5))],
    "Loyal": [((3, 4), (4, 5))],
    "Potential Loyalist": [((4, 5), (2, 3))],
    "New": [((5,), (1,))],
    "Promising": [((4,), (1,))],
    "Need Attention": [((3,), (3,))],
    "About to Sleep": [((3,), (1, 2))],
    "At Risk": [((1, 2), (3, 4))],
    "Cannot Lose Them": [((1, 2), (5,))],
    "Hibernating": [((2,), (1, 2))],
    "Lost": [((1,), (1, 2))],
}

#: What each default segment says about its members (the grid plus the order-count checks).
RFM_DEFINITIONS: dict[str, str] = {
    "Champions": "bought most recently (R=5), often and for the most money (FM 4-5), two or more orders",
    "Loyal": "buy regularly and spend well (R 3-4, FM 4-5), two or more orders",
    "Potential Loyalist": "recent customers with average orders and spend (R 4-5, FM 2-3), or a big "
    "single order at R=4",
    "New": "exactly one order, a recent one (R=5)",
    "Promising": "recent shoppers who have not spent much yet (R=4, FM 1; or R=5, FM 1 with two or "
    "more orders)",
    "Need Attention": "average recency, orders and spend (R=3, FM 3), or a big single order at R=3",
    "About to Sleep": "below-average recency, few orders and little spend (R=3, FM 1-2)",
    "At Risk": "spent well but not for a while (R 1-2, FM 3-4)",
    "Cannot Lose Them": "among the most orders and spend, but not for a while (R 1-2, FM 5)",
    "Hibernating": "long ago, few orders and little spend (R=2, FM 1-2)",
    "Lost": "the longest ago, few orders and little spend (R=1, FM 1-2)",
}

ScoreMap = Mapping[str, Sequence[str]] | Callable[[pd.DataFrame], Sequence[str]]


def fm_score(f_score: np.ndarray | int, m_score: np.ndarray | int) -> np.ndarray | int:
    """Mean of F and M rounded half up: ``(f + m + 1) // 2`` (4 and 5 give 5; 1 and 2 give 2)."""
    return (f_score + m_score + 1) // 2


def grid_to_score_map(
    grid: Mapping[str, Sequence[tuple[Sequence[int], Sequence[int]]]], *, n_bins: int = 5
) -> dict[str, list[str]]:
    """Expand an R-versus-FM grid into explicit ``rfm_score`` patterns (one per R,F,M cell)."""
    score_map: dict[str, list[str]] = {}
    scores = range(1, n_bins + 1)
    for segment, cells in grid.items():
        codes: list[str] = []
        for r_values, fm_values in cells:
            for r in r_values:
                codes.extend(f"{r}{f}{m}" for f in scores for m in scores if fm_score(f, m) in set(fm_values))
        score_map[segment] = sorted(set(codes))
    return score_map


DEFAULT_SCORE_MAP: dict[str, list[str]] = grid_to_score_map(DEFAULT_RFM_GRID)


def mid_rank_scores(reference_sorted: np.ndarray, values: np.ndarray, n_bins: int) -> np.ndarray:
    """Scores 1..n_bins of ``values`` by their mid-distribution percentile in ``reference_sorted``.

    Exact integer arithmetic: ``ceil(n_bins * (2*below + equal) / (2*n))``, at least 1.
    """
    n = reference_sorted.size
    below = np.searchsorted(reference_sorted, values, side="left").astype(np.int64)
    equal = np.searchsorted(reference_sorted, values, side="right").astype(np.int64) - below
    numerator = (2 * below + equal) * n_bins
    scores = -(-numerator // (2 * n))
    return np.clip(scores, 1, n_bins).astype(np.int64)


class RFMSegmenter(BaseEstimator):
    """Quintile (or ``n_bins``-tile) RFM scores and named RFM segments.

    Parameters
    ----------
    n_bins:
        Number of score levels, 2..9 (single digits keep ``rfm_score`` unambiguous).
        The default score map needs ``n_bins=5``; pass ``score_map`` otherwise.
    score_map:
        ``None`` for :data:`DEFAULT_SCORE_MAP`, a dict ``segment -> [regex, ...]``
        or a callable; see the module docstring.
    recency_col, frequency_col, monetary_col:
        Feature-table columns: days since the last order (lower is better), number
        of orders, and money spent (currency of the shop).

    Example
    -------
    >>> rfm = RFMSegmenter().fit(features)
    >>> rfm.transform(features)[["rfm_score", "rfm_segment"]]
    """

    def __init__(
        self,
        n_bins: int = 5,
        score_map: ScoreMap | None = None,
        *,
        recency_col: str = "recency_days",
        frequency_col: str = "frequency",
        monetary_col: str = "monetary_total",
    ) -> None:
        self.n_bins = n_bins
        self.score_map = score_map
        self.recency_col = recency_col
        self.frequency_col = frequency_col
        self.monetary_col = monetary_col

    # ------------------------------------------------------------------ fit
    def fit(self, features: pd.DataFrame, y: object = None) -> RFMSegmenter:
        """Learn the R, F and M reference distributions from the customer feature table."""
        if not isinstance(self.n_bins, (int, np.integer)) or not 2 <= self.n_bins <= 9:
            raise ConfigError(
                f"n_bins must be an integer from 2 to 9, got {self.n_bins!r}",
                fix="use n_bins=5 for quintiles",
            )
        self.score_map_ = self._resolve_score_map()
        values = self._rfm_values(features)
        n = len(values)
        if n == 0:
            raise DataValidationError(
                "the customer feature table is empty", fix="segment a table with at least one customer"
            )
        if n < self.n_bins:
            warnings.warn(
                f"only {n} customer(s) for {self.n_bins} score bins: scores keep the 1..{self.n_bins} "
                f"scale but at most {n} distinct value(s) per score occur",
                SegmentationWarning,
                stacklevel=2,
            )
        self.reference_ = {
            "recency": np.sort(-values[self.recency_col].to_numpy()),
            "frequency": np.sort(values[self.frequency_col].to_numpy()),
            "monetary": np.sort(values[self.monetary_col].to_numpy()),
        }
        self.n_customers_ = n
        return self

    def _resolve_score_map(self) -> ScoreMap:
        if self.score_map is None:
            if self.n_bins != 5:
                raise ConfigError(
                    f"the default RFM score map is defined for n_bins=5, got n_bins={self.n_bins}",
                    fix="use n_bins=5 or pass score_map (dict of segment -> regex list, or a callable)",
                )
            return DEFAULT_SCORE_MAP
        if callable(self.score_map):
            return self.score_map
        if not isinstance(self.score_map, Mapping) or not self.score_map:
            raise ConfigError(
                f"score_map must be a non-empty dict of segment -> list of regex, or a callable; "
                f"got {type(self.score_map).__name__}",
                fix='e.g. score_map={"VIP": [r"5[45][45]"], "Everyone else": [r".*"]}',
            )
        compiled: dict[str, list[str]] = {}
        for segment, patterns in self.score_map.items():
            if isinstance(patterns, str):
                patterns = [patterns]
            for pattern in patterns:
                try:
                    re.compile(pattern)
                except re.error as exc:
                    raise ConfigError(
                        f"score_map pattern {pattern!r} for segment {segment!r} is not a valid regex: {exc}",
                        fix="write patterns over the three-digit rfm_score, e.g. r'5[45][45]'",
                    ) from None
            compiled[str(segment)] = list(patterns)
        return compiled

    def _rfm_values(self, features: pd.DataFrame) -> pd.DataFrame:
        frame = customer_frame(features)
        columns = [self.recency_col, self.frequency_col, self.monetary_col]
        require_columns(frame, columns, purpose="RFM scoring")
        values = numeric_matrix(frame, columns)
        for col in columns:
            n_nan = int(values[col].isna().sum())
            if n_nan:
                raise DataValidationError(
                    f"column {col!r} has {n_nan} missing value(s); RFM needs a value for every customer",
                    fix=f"fill {col!r} (e.g. customers with no orders should not be in the table) or drop those rows",
                )
        return values

    # ------------------------------------------------------------ transform
    def transform(self, features: pd.DataFrame) -> pd.DataFrame:
        """Scores and segment per customer.

        Returns a DataFrame indexed by ``customer_id`` with integer columns
        ``r_score, f_score, m_score``, the string ``rfm_score`` (e.g. ``"545"``)
        and ``rfm_segment``.
        """
        check_fitted(self, "reference_")
        values = self._rfm_values(features)
        r = mid_rank_scores(self.reference_["recency"], -values[self.recency_col].to_numpy(), self.n_bins)
        f = mid_rank_scores(self.reference_["frequency"], values[self.frequency_col].to_numpy(), self.n_bins)
        m = mid_rank_scores(self.reference_["monetary"], values[self.monetary_col].to_numpy(), self.n_bins)
        scores = pd.DataFrame({"r_score": r, "f_score": f, "m_score": m}, index=values.index)
        codes = r * 100 + f * 10 + m
        scores["rfm_score"] = pd.Series(codes, index=values.index).astype(str)
        segments = self._segments(scores)
        if self.score_map is None:
            segments = self._hold_order_count_claims(segments, r, values[self.frequency_col].to_numpy())
        scores["rfm_segment"] = segments
        return scores

    @staticmethod
    def _hold_order_count_claims(segments: pd.Series, r: np.ndarray, orders: np.ndarray) -> pd.Series:
        """Move members out of names their own order count contradicts (module docstring)."""
        names = segments.to_numpy(dtype=object).copy()
        once = orders <= 1
        names[(names == "New") & ~once] = "Promising"
        names[(names == "Champions") & once] = "New"
        loyal_once = (names == "Loyal") & once
        names[loyal_once & (r >= 4)] = "Potential Loyalist"
        names[loyal_once & (r < 4)] = "Need Attention"
        return pd.Series(names, index=segments.index, dtype=object).astype(str)

    def _segments(self, scores: pd.DataFrame) -> pd.Series:
        score_map = self.score_map_
        if callable(score_map):
            names = score_map(scores[["r_score", "f_score", "m_score"]].copy())
            names = pd.Series(np.asarray(names, dtype=object), index=scores.index)
            if len(names) != len(scores):
                raise ConfigError(
                    f"the score_map callable returned {len(names)} names for {len(scores)} customers",
                    fix="return one segment name per row of the r/f/m score frame",
                )
            segments = names.astype(str)
        else:
            compiled = [(seg, [re.compile(p) for p in pats]) for seg, pats in score_map.items()]
            lookup: dict[str, str] = {}
            for code in scores["rfm_score"].unique():
                lookup[code] = next(
                    (seg for seg, pats in compiled if any(p.fullmatch(code) for p in pats)), UNASSIGNED
                )
            segments = scores["rfm_score"].map(lookup)
        n_unassigned = int((segments == UNASSIGNED).sum())
        if n_unassigned:
            warnings.warn(
                f"{n_unassigned} customer(s) matched no segment of the score map and are {UNASSIGNED!r}",
                SegmentationWarning,
                stacklevel=3,
            )
        return segments.astype(str)

    def fit_transform(self, features: pd.DataFrame, y: object = None) -> pd.DataFrame:
        return self.fit(features).transform(features)

    def predict(self, features: pd.DataFrame) -> pd.Series:
        """The RFM segment name per customer (Series indexed by ``customer_id``)."""
        return self.transform(features)["rfm_segment"]

    @property
    def segment_names_(self) -> list[str]:
        """Segment names in score-map order (callable maps: unknown until transform, so empty)."""
        check_fitted(self, "reference_")
        return [] if callable(self.score_map_) else list(self.score_map_)
