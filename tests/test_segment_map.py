"""The segment map stays readable when cluster centres crowd together (issue 19)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd

from targetwise.segment.plotting import plot_segment_map


def crowded_clusterer(seed: int = 0) -> SimpleNamespace:
    """Four clusters, three of them with centres a hair apart on the map (as a fitted clusterer exposes them)."""
    rng = np.random.default_rng(seed)
    centres = {0: (0.0, 0.0), 1: (0.05, 0.02), 2: (0.02, -0.03), 3: (5.0, 5.0)}
    ids, points = [], []
    for cluster, (x, y) in centres.items():
        ids += [cluster] * 50
        points.append(rng.normal((x, y), 0.5, size=(50, 2)))
    index = pd.Index([f"c{i:03d}" for i in range(len(ids))], name="customer_id")
    return SimpleNamespace(
        labels_=pd.Series(ids, index=index),
        projection_=pd.DataFrame(np.vstack(points), index=index, columns=["pc1", "pc2"]),
        cluster_ids_=np.array(sorted(centres)),
        n_clusters_=len(centres),
        project_centers=lambda: pd.DataFrame.from_dict(centres, orient="index", columns=["pc1", "pc2"]),
        pca_explained_variance_ratio_=np.array([0.41, 0.27]),
        pca_=SimpleNamespace(components_=np.array([[0.9, 0.1, -0.4], [0.1, 0.95, 0.2]])),
        features_in_=["frequency", "monetary_total", "recency_days"],
    )


NAMES = {0: "Frequent big-basket explorers", 1: "New one-off buyers", 2: "Lapsed specialists", 3: "Champions"}


def test_centre_labels_never_overlap_and_stay_tied_to_their_centres() -> None:
    clusterer = crowded_clusterer()
    ax = plot_segment_map(clusterer, names=NAMES)  # type: ignore[arg-type]
    figure = ax.figure
    figure.canvas.draw()
    renderer = figure.canvas.get_renderer()
    texts = {t.get_text(): t for t in ax.texts}
    assert set(texts) == set(NAMES.values())  # one name per cluster, nothing else written on the map
    boxes = {name: t.get_bbox_patch().get_window_extent(renderer) for name, t in texts.items()}  # the white boxes
    names = sorted(boxes)
    overlapping = [(a, b) for i, a in enumerate(names) for b in names[i + 1:] if boxes[a].overlaps(boxes[b])]
    assert overlapping == []
    centres = clusterer.project_centers()
    for cluster, name in NAMES.items():
        assert texts[name].xy == tuple(centres.loc[cluster, ["pc1", "pc2"]])  # its line still points at the centre
    moved = [name for name, t in texts.items() if t.xyann != (0.0, 0.0)]
    assert len(moved) >= 2  # at their centres the three crowded names would have overlapped
    assert texts["Champions"].xyann == (0.0, 0.0)  # a free label stays on its centre
    assert [t.get_text() for t in ax.get_legend().get_texts()] == list(NAMES.values())


def test_axes_say_in_words_what_grows_along_them() -> None:
    ax = plot_segment_map(crowded_clusterer(), names=NAMES)  # type: ignore[arg-type]
    assert ax.get_xlabel() == "PC1 (41% of variance)\nto the right: more orders and fewer days since last order"
    assert ax.get_ylabel() == "PC2 (27% of variance)\nupwards: higher net spend and more days since last order"
