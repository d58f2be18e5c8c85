"""Coordinates of the values of a categorical field, learned from co-occurrence counts.

Each value has a profile (its identity, and the distribution of the other fields' tokens in the
records that hold it); a frequency-weighted classical scaling of the profiles gives the
coordinates. See :class:`stream.encoding.MixedEncoder` for the method and why.
"""

from __future__ import annotations

import numpy as np

from stream.encoding.cooccurrence import Cooccurrence


def context_profiles(
    cooc: Cooccurrence,
    rows: list[int],
    contexts: list[list[int]],
    self_weight: float,
    smoothing: float,
) -> np.ndarray:
    """Each value's identity and context, scaled so that Euclidean distance is the metric.

    ``rows``: the field's tokens; ``contexts``: the tokens of each other field.
    """
    # Identity: distinct values are at squared distance self_weight from each other.
    identity = np.sqrt(self_weight / 2.0) * np.eye(len(rows))
    if not contexts:
        return identity
    # All context fields at once: their tokens side by side, one segment per field.
    sizes = np.array([len(tokens) for tokens in contexts])
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    tokens = np.concatenate(contexts)
    marginal = cooc.counts(tokens)
    totals = np.add.reduceat(marginal, starts)
    joint = cooc.pairs(rows, tokens)
    together = np.repeat(np.add.reduceat(joint, starts, axis=1), sizes, axis=1)
    prior = marginal / np.repeat(np.where(totals > 0, totals, 1.0), sizes)
    conditional = (joint + smoothing * prior) / (together + smoothing)
    # sqrt-probabilities: half their squared Euclidean distance is the squared Hellinger
    # distance, in [0, 1]; averaged over the context fields (a field never seen yet counts
    # in the average but adds no coordinates).
    scale = (1.0 - self_weight) / (2.0 * len(contexts))
    seen = np.repeat(totals > 0, sizes)
    return np.hstack([identity, np.sqrt(scale * conditional[:, seen])])


def coordinates(
    profiles: np.ndarray, counts: np.ndarray, previous: np.ndarray, max_dims: int
) -> np.ndarray:
    """Coordinates of the values (at most ``max_dims``), rotated onto ``previous``."""
    weights = counts / counts.sum()
    return _align(_weighted_scaling(profiles, weights, max_dims), previous, weights)


def _weighted_scaling(profiles: np.ndarray, weights: np.ndarray, max_dims: int) -> np.ndarray:
    """Coordinates whose distances best keep the profiles' distances, frequent values first.

    The leading axes of the frequency-weighted PCA of the profiles, scaled to total weighted
    variance ``1 - sum(weights**2)``: two random records whose values differ are then at
    expected squared distance 2.
    """
    centred = profiles - weights @ profiles
    _, singular, axes = np.linalg.svd(np.sqrt(weights)[:, None] * centred, full_matrices=False)
    keep = int(np.sum(singular > 1e-9 * max(singular[0], 1e-300)))
    keep = min(keep, max_dims, len(profiles) - 1)
    if keep == 0:
        return np.zeros((len(profiles), 0))
    coordinates = centred @ axes[:keep].T
    variance = float(weights @ (coordinates**2).sum(axis=1))
    # Half the expected squared distance of two random values is the variance; the share of
    # pairs that differ is 1 - sum(weights**2).
    differ = 1.0 - float(weights @ weights)
    return coordinates * np.sqrt(differ / variance) if variance > 0 else coordinates


def _align(new: np.ndarray, old: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Rotate ``new`` onto ``old`` (orthogonal Procrustes over the values both know)."""
    shared = min(len(old), len(new))
    if shared == 0 or old.shape[1] == 0 or not np.isfinite(old).all():
        return new
    width = max(new.shape[1], old.shape[1])
    padded_new = np.zeros((len(new), width))
    padded_new[:, : new.shape[1]] = new
    padded_old = np.zeros((shared, width))
    padded_old[:, : old.shape[1]] = old[:shared]
    cross = padded_new[:shared].T @ (weights[:shared, None] * padded_old)
    left, _, right = np.linalg.svd(cross)
    rotated = padded_new @ (left @ right)
    # Columns past the new rank hold nothing: drop them unless the old embedding used them.
    used = max(new.shape[1], old.shape[1])
    return rotated[:, :used]


def reference(cooc: Cooccurrence, rows: list[int], context: np.ndarray, counts: np.ndarray):
    """The counts a field's coordinates were computed from: value counts, and the value /
    context pair counts as ``rows, columns, counts`` (sparse)."""
    pairs = np.zeros((len(rows), cooc.size))
    if len(context):
        pairs[:, context] = cooc.pairs(rows, context)
    where = np.nonzero(pairs)
    return [counts, where[0], where[1], pairs[where]]


def profile_shift(
    cooc: Cooccurrence, rows: list[int], context: np.ndarray, fields: int, then: list
) -> float:
    """How far the value profiles moved since ``then`` (a :func:`reference`): the mean over
    records of the squared Hellinger distance of a value's context then and now, plus that of
    the value shares; ``inf`` if a value is new or was unseen then."""
    counts, then_rows, then_cols, then_pairs = then
    now = cooc.counts(rows)
    if len(counts) != len(now) or not (counts > 0).all():
        return np.inf
    before = np.zeros((len(rows), cooc.size))
    before[then_rows, then_cols] = then_pairs
    now_pairs, then_pairs = cooc.pairs(rows, context), before[:, context]
    # Mean squared Hellinger distance over the context fields, per value, then averaged
    # over records; plus the squared Hellinger distance of the value shares.
    moved = np.sum(
        (np.sqrt(now_pairs / now[:, None]) - np.sqrt(then_pairs / counts[:, None])) ** 2,
        axis=1,
    ) / (2.0 * max(fields, 1))
    share, before_share = now / now.sum(), counts / counts.sum()
    shares_moved = 0.5 * float(np.sum((np.sqrt(share) - np.sqrt(before_share)) ** 2))
    return float(share @ moved) + shares_moved
