"""Segment map: the customers' 2-D PCA projection coloured by cluster, labelled with names.

Plot functions take ``ax=None`` and return the Axes (a bare matplotlib ``Figure``
is created when none is given, so no pyplot state or GUI backend is involved);
:func:`render_png` and :func:`render_html` turn a plot into bytes or an
HTML-embeddable ``<img>`` string (base64 PNG) without touching files.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Mapping

import numpy as np

from targetwise.figures import png_bytes
from targetwise.segment._validation import check_fitted
from targetwise.segment.cluster import NOISE, BehaviourClusterer

__all__ = ["plot_segment_map", "render_html", "render_png"]


def plot_segment_map(
    clusterer: BehaviourClusterer,
    *,
    names: Mapping[int, str] | None = None,
    ax=None,  # matplotlib.axes.Axes | None
    max_points: int = 20_000,
    random_state: int = 0,
):
    """Scatter of ``clusterer.projection_`` coloured by cluster, each centre labelled.

    At most ``max_points`` customers are drawn (a seeded sample; every cluster keeps
    its share); noise (-1) is grey. Axis labels give the share of variance each
    principal component explains. Returns the Axes.
    """
    from matplotlib import colormaps
    from matplotlib.figure import Figure

    check_fitted(clusterer, "labels_")
    if ax is None:
        # a bare Figure: no pyplot state, no GUI backend, safe in servers and threads
        ax = Figure(figsize=(8, 6)).add_subplot()
    projection = clusterer.projection_
    labels = clusterer.labels_.reindex(projection.index).to_numpy()
    idx = np.arange(len(projection))
    if len(idx) > max_points:
        idx = np.sort(np.random.default_rng(random_state).choice(len(idx), max_points, replace=False))
    xy = projection.to_numpy()[idx]
    lab = labels[idx]
    cmap = colormaps["tab10" if clusterer.n_clusters_ <= 10 else "tab20"]
    centres = clusterer.project_centers()
    for position, cluster in enumerate(clusterer.cluster_ids_):
        mask = lab == cluster
        label = names.get(int(cluster), str(cluster)) if names else f"cluster {cluster}"
        ax.scatter(xy[mask, 0], xy[mask, 1], s=6, alpha=0.5, color=cmap(position % cmap.N), label=label)
        cx, cy = centres.loc[cluster, ["pc1", "pc2"]]
        ax.annotate(
            label,
            (cx, cy),
            ha="center",
            fontsize=8,
            weight="bold",
            bbox={"boxstyle": "round,pad=0.2", "fc": "white", "alpha": 0.8},
        )
    if (lab == NOISE).any():
        mask = lab == NOISE
        ax.scatter(xy[mask, 0], xy[mask, 1], s=4, alpha=0.3, color="0.6", label="noise (-1)")
    ratio = clusterer.pca_explained_variance_ratio_
    ax.set_xlabel(f"PC1 ({ratio[0]:.0%} of variance)")
    ax.set_ylabel(f"PC2 ({ratio[1]:.0%} of variance)")
    ax.set_title(f"Customer segment map ({len(projection):,} customers, {clusterer.n_clusters_} segments)")
    ax.legend(loc="best", fontsize=7, markerscale=2)
    return ax


def render_png(ax, *, dpi: int = 110) -> bytes:
    """The Axes' figure as PNG bytes (write them wherever the caller keeps artefacts); the figure stays open."""
    return png_bytes(ax, dpi=dpi, close=False)


def render_html(ax, *, alt: str = "Customer segment map", dpi: int = 110) -> str:
    """An ``<img>`` tag with the figure inlined as base64 PNG, for HTML reports."""
    encoded = base64.b64encode(render_png(ax, dpi=dpi)).decode("ascii")
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{encoded}">'
