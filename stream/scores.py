"""Clustering agreement scores from a contingency table: ARI, NMI and purity.

Used by ``sgmstream evaluate`` on labelled recordings. Labels are only ever used here, to
score; no model learns from them.
"""

from __future__ import annotations

import numpy as np

__all__ = ["adjusted_rand", "agreement", "contingency", "normalized_mutual_info", "purity"]


def contingency(truth, predicted) -> np.ndarray:
    """Counts of (true class, predicted cluster) pairs; labels may be any hashable values."""
    _, t = np.unique(np.asarray(truth), return_inverse=True)
    _, p = np.unique(np.asarray(predicted), return_inverse=True)
    table = np.zeros((t.max(initial=-1) + 1, p.max(initial=-1) + 1), dtype=np.int64)
    np.add.at(table, (t.ravel(), p.ravel()), 1)
    return table


def _pairs(n: np.ndarray) -> np.ndarray:
    return n * (n - 1) / 2.0


def adjusted_rand(truth, predicted) -> float:
    """Adjusted Rand index (1 = identical partitions, about 0 = chance).

    >>> adjusted_rand([0, 0, 1, 1], [5, 5, 7, 7])
    1.0
    >>> round(adjusted_rand([0, 0, 1, 1], [0, 1, 0, 1]), 3)
    -0.5
    """
    table = contingency(truth, predicted)
    n = table.sum()
    if n < 2:
        return 1.0
    index = _pairs(table).sum()
    rows, cols = _pairs(table.sum(axis=1)).sum(), _pairs(table.sum(axis=0)).sum()
    expected = rows * cols / _pairs(np.array(n))
    best = (rows + cols) / 2.0
    if best == expected:  # both partitions trivial (one cluster, or all singletons)
        return 1.0
    return float((index - expected) / (best - expected))


def _entropy(counts: np.ndarray) -> float:
    p = counts[counts > 0] / counts.sum()
    return float(-(p * np.log(p)).sum())


def normalized_mutual_info(truth, predicted) -> float:
    """Mutual information normalised by the arithmetic mean of the two entropies.

    >>> normalized_mutual_info([0, 0, 1, 1], [1, 1, 0, 0])
    1.0
    >>> normalized_mutual_info([0, 0, 1, 1], [0, 1, 0, 1])
    0.0
    """
    table = contingency(truth, predicted).astype(np.float64)
    n = table.sum()
    if n == 0:
        return 1.0
    h_true, h_pred = _entropy(table.sum(axis=1)), _entropy(table.sum(axis=0))
    if h_true == 0.0 and h_pred == 0.0:
        return 1.0
    joint = table[table > 0] / n
    outer = np.outer(table.sum(axis=1), table.sum(axis=0))[table > 0] / n**2
    mutual = float((joint * np.log(joint / outer)).sum())
    return max(0.0, mutual / ((h_true + h_pred) / 2.0))


def purity(truth, predicted) -> float:
    """Share of records whose cluster's majority class is their own class.

    >>> purity([0, 0, 1, 1, 1], [0, 0, 0, 1, 1])
    0.8
    """
    table = contingency(truth, predicted)
    total = table.sum()
    return float(table.max(axis=0).sum() / total) if total else 1.0


def agreement(truth, predicted) -> dict:
    """ARI, NMI and purity rounded to 6 digits, as reports show them; ``None`` without labels.

    >>> agreement([0, 0, 1], [4, 4, 2])
    {'ari': 1.0, 'nmi': 1.0, 'purity': 1.0}
    >>> agreement([], [])
    {'ari': None, 'nmi': None, 'purity': None}
    """
    if len(truth) == 0:
        return {"ari": None, "nmi": None, "purity": None}
    return {
        "ari": round(adjusted_rand(truth, predicted), 6),
        "nmi": round(normalized_mutual_info(truth, predicted), 6),
        "purity": round(purity(truth, predicted), 6),
    }
