"""Seeded benchmark streams for the clustering benchmark, and running standardisation.

Every stream is ``(name, X, y, k_true)`` with ``X`` float64 ``(n, d)`` in arrival order.
"""

from __future__ import annotations

import numpy as np


def running_standardise(X: np.ndarray) -> np.ndarray:
    """Standardise every record with the running mean / sd of the records up to and with it.

    This is what a live encoder can do (it never sees the future). Vectorised: the prefix
    statistics are cumulative sums, equal to Welford's updates up to rounding.
    """
    X = np.asarray(X, dtype=np.float64)
    t = np.arange(1, len(X) + 1, dtype=np.float64)[:, None]
    shift = X[:1]  # shifting by the first record keeps the sums small and exact enough
    centred = X - shift
    mean = np.cumsum(centred, axis=0) / t
    var = np.cumsum(centred**2, axis=0) / t - mean**2
    sd = np.sqrt(np.maximum(var, 0.0))
    sd[sd < 1e-9] = 1.0
    return (centred - mean) / sd


def imbalanced_sizes(k: int, ratio: float, n: int) -> np.ndarray:
    """Cluster sizes in geometric progression from smallest to largest = ``ratio`` x smallest."""
    shares = ratio ** (np.arange(k) / max(k - 1, 1))
    sizes = np.maximum(np.floor(n * shares / shares.sum()).astype(int), 1)
    sizes[-1] += n - sizes.sum()
    return sizes


def _centres(rng: np.random.Generator, k: int, d: int, min_separation: float) -> np.ndarray:
    """``k`` centres in a box, pairwise at least ``min_separation`` apart (rejection)."""
    side = max(2.0 * min_separation, min_separation * k ** (1.0 / d) * 1.5)
    centres = []
    while len(centres) < k:
        c = rng.uniform(-side / 2, side / 2, size=d)
        if all(np.linalg.norm(c - o) >= min_separation for o in centres):
            centres.append(c)
    return np.array(centres)


def gaussian_mixture(
    d: int, k: int, ratio: float, n: int, seed: int, separation: float = 6.0
) -> tuple[np.ndarray, np.ndarray]:
    """Shuffled mixture of ``k`` unit-variance Gaussians, sizes with imbalance ``ratio``.

    Centres are at least ``separation`` standard deviations apart.
    """
    rng = np.random.default_rng(seed)
    centres = _centres(rng, k, d, separation)
    y = np.repeat(np.arange(k), imbalanced_sizes(k, ratio, n))
    X = centres[y] + rng.normal(size=(len(y), d))
    order = rng.permutation(len(y))
    return X[order], y[order]


def chunk_stream(
    d: int, k: int, ratio: int, n_chunks: int, chunk_smallest: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Two-layer random sampling: the number and balance of clusters drift chunk by chunk.

    ``k`` fixed Gaussian clusters exist. For each chunk, draw ``k_t`` uniformly in ``2..k``
    and which clusters appear, then integer imbalance factors ``1..ratio`` for them; sizes are
    built upward from the smallest cluster (``chunk_smallest`` records times its factor, the
    smallest factor forced to 1). Records of a chunk are shuffled; chunks follow each other.
    """
    rng = np.random.default_rng(seed)
    centres = _centres(rng, k, d, 6.0)
    Xs, ys = [], []
    for _ in range(n_chunks):
        k_t = int(rng.integers(2, k + 1))
        present = rng.choice(k, size=k_t, replace=False)
        factors = rng.integers(1, ratio + 1, size=k_t)
        small, big = rng.choice(k_t, size=2, replace=False)
        factors[small] = 1
        factors[big] = ratio  # every chunk reaches the stated imbalance
        sizes = chunk_smallest * factors
        y = np.repeat(present, sizes)
        X = centres[y] + rng.normal(size=(len(y), d))
        order = rng.permutation(len(y))
        Xs.append(X[order])
        ys.append(y[order])
    return np.vstack(Xs), np.concatenate(ys)
