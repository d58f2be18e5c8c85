"""PNG plots of an evaluation report (matplotlib, no display needed)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

__all__ = ["plot_map", "plot_quality"]


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # files only: evaluate runs on servers without a display
    import matplotlib.pyplot as plt

    return plt


def plot_quality(report: dict, path: Path) -> None:
    """Windowed ARI and k (found and true) against the record index, drift events marked."""
    plt = _pyplot()
    windows = report["windows"]
    ends = [w["end"] for w in windows]
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(10, 6), sharex=True)
    if any(w["ari"] is not None for w in windows):
        top.plot(ends, [w["ari"] for w in windows], label="ARI (prequential, windowed)")
        top.plot(ends, [w["nmi"] for w in windows], label="NMI", alpha=0.7)
    top.set_ylim(-0.05, 1.05)
    top.set_ylabel("score")
    bottom.step(ends, [w["k_found"] for w in windows], where="post", label="k found")
    if any(w["k_true"] is not None for w in windows):
        bottom.step(ends, [w["k_true"] for w in windows], where="post", label="k true", ls="--")
    bottom.set_ylabel("clusters")
    bottom.set_xlabel("records")
    for event in report["drift_events"]:
        for axis in (top, bottom):
            axis.axvline(event["index"], color="red", alpha=0.5, lw=1)
    top.set_title("red lines: drift events")
    if top.get_legend_handles_labels()[0]:
        top.legend(loc="lower right")
    bottom.legend(loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_map(prototypes: np.ndarray, clusters: np.ndarray, counts: np.ndarray, path: Path) -> None:
    """The final map's neurons projected on their two principal axes, coloured by cluster."""
    plt = _pyplot()
    fig, axis = plt.subplots(figsize=(7, 6))
    if len(prototypes):
        points = _project(np.nan_to_num(prototypes))
        sizes = 10 + 60 * np.sqrt(counts / max(counts.max(), 1))
        axis.scatter(points[:, 0], points[:, 1], c=clusters, s=sizes, cmap="tab20")
    axis.set_title(f"Self-Growth Map: {len(prototypes)} neurons, {len(set(clusters))} clusters")
    axis.set_xlabel("principal axis 1")
    axis.set_ylabel("principal axis 2")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _project(points: np.ndarray) -> np.ndarray:
    centred = points - points.mean(axis=0)
    if centred.shape[1] < 2 or len(centred) < 2:
        return np.column_stack([centred[:, :1].ravel(), np.zeros(len(centred))])
    _, _, axes = np.linalg.svd(centred, full_matrices=False)
    return centred @ axes[:2].T
