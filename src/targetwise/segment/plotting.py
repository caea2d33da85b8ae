"""Segment map: the customers' 2-D PCA projection coloured by cluster, labelled with names.

Plot functions take ``ax=None`` and return the Axes (a bare matplotlib ``Figure``
is created when none is given, so no pyplot state or GUI backend is involved);
:func:`render_png` and :func:`render_html` turn a plot into bytes or an
HTML-embeddable ``<img>`` string (base64 PNG) without touching files.

Readability: each cluster's name sits at its centre unless it would overlap another
name, then it is moved up or down just enough and joined to its centre by a thin line
(no two names overlap); the colours are in the legend; each axis label says in plain
words which behaviours grow along it (from the principal component's loadings).
"""

from __future__ import annotations

import base64
import html
from collections.abc import Mapping

import numpy as np

from targetwise.figures import png_bytes
from targetwise.presentation import term
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
    annotations = []
    for position, cluster in enumerate(clusterer.cluster_ids_):
        mask = lab == cluster
        label = names.get(int(cluster), str(cluster)) if names else f"cluster {cluster}"
        colour = cmap(position % cmap.N)
        ax.scatter(xy[mask, 0], xy[mask, 1], s=6, alpha=0.5, color=colour, label=label)
        cx, cy = centres.loc[cluster, ["pc1", "pc2"]]
        ax.plot([cx], [cy], marker="o", ms=5, mfc="white", mec="black", mew=0.8, zorder=4)
        annotations.append(ax.annotate(
            label,
            (cx, cy),
            xytext=(0, 0),
            textcoords="offset points",
            ha="center",
            va="center",
            fontsize=8,
            weight="bold",
            zorder=5,
            bbox={"boxstyle": "round,pad=0.25", "fc": "white", "ec": colour, "alpha": 0.9},
            arrowprops={"arrowstyle": "-", "color": "0.35", "lw": 0.7, "shrinkA": 0, "shrinkB": 3},
        ))
    if (lab == NOISE).any():
        mask = lab == NOISE
        ax.scatter(xy[mask, 0], xy[mask, 1], s=4, alpha=0.3, color="0.6", label="not in any segment")
    ratio = clusterer.pca_explained_variance_ratio_
    ax.set_xlabel(f"PC1 ({ratio[0]:.0%} of variance){_direction(clusterer, 0, 'to the right')}", fontsize=9)
    ax.set_ylabel(f"PC2 ({ratio[1]:.0%} of variance){_direction(clusterer, 1, 'upwards')}", fontsize=9)
    ax.set_title(f"Customer segment map ({len(projection):,} customers, {clusterer.n_clusters_} segments)")
    ax.legend(loc="best", fontsize=7, markerscale=2, framealpha=0.9)
    _separate_labels(ax, annotations)
    return ax


def _direction(clusterer: BehaviourClusterer, component: int, where: str, top: int = 2) -> str:
    """``: to the right, more orders and more net spend``: the largest loadings of a component in words."""
    pca = getattr(clusterer, "pca_", None)
    features = list(getattr(clusterer, "features_in_", []))
    if pca is None or component >= len(getattr(pca, "components_", [])) or not features:
        return ""
    loadings = np.asarray(pca.components_[component], dtype=float)
    if loadings.shape[0] != len(features):
        return ""
    order = np.argsort(-np.abs(loadings), kind="stable")[:top]
    words = []
    for i in order:
        found = term(features[i])
        more, less = ("more", "fewer") if found.kind in ("count", "days") else ("higher", "lower")
        words.append(f"{more if loadings[i] > 0 else less} {found.label.lower()}")
    return f"\n{where}: " + " and ".join(words)


def _separate_labels(ax, annotations: list, pad_px: float = 2.0) -> None:
    """Move overlapping centre labels up or down (in steps of a label's height) until none overlap.

    Labels are placed from the top centre down; each keeps its centre's position when it is
    free, else takes the nearest free slot above or below, joined to its centre by its line.
    """
    from matplotlib.text import Text

    if len(annotations) < 2:
        return
    figure = ax.figure
    ax.autoscale_view()
    renderer = _renderer(figure)
    points_per_px = 72.0 / figure.dpi
    placed = []
    ranked = sorted(annotations, key=lambda a: -ax.transData.transform(a.xy)[1])
    for annotation in ranked:
        # the name and its white box (the box pads the text by a quarter of the font size), not its line
        pad = 0.25 * annotation.get_fontsize() * figure.dpi / 72.0 + pad_px
        box = Text.get_window_extent(annotation, renderer).padded(pad)
        step = box.height
        for k in range(0, 4 * len(annotations) + 1):
            shift = 0.0 if k == 0 else step * ((k + 1) // 2) * (1 if k % 2 else -1)
            moved = box.translated(0, shift)
            if not any(moved.overlaps(other) for other in placed):
                break
        annotation.xyann = (0.0, shift * points_per_px)
        placed.append(moved)


def _renderer(figure):
    get = getattr(figure.canvas, "get_renderer", None)
    if get is None:  # a bare Figure: attach an Agg canvas to measure text (no GUI, no pyplot)
        from matplotlib.backends.backend_agg import FigureCanvasAgg

        FigureCanvasAgg(figure)
        get = figure.canvas.get_renderer
    return get()


def render_png(ax, *, dpi: int = 110) -> bytes:
    """The Axes' figure as PNG bytes (write them wherever the caller keeps artefacts); the figure stays open."""
    return png_bytes(ax, dpi=dpi, close=False)


def render_html(ax, *, alt: str = "Customer segment map", dpi: int = 110) -> str:
    """An ``<img>`` tag with the figure inlined as base64 PNG, for HTML reports."""
    encoded = base64.b64encode(render_png(ax, dpi=dpi)).decode("ascii")
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{encoded}">'
