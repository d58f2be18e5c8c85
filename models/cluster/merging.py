"""Hierarchical merging (HM) of a map's neurons into clusters, guided by the density gap.

A growing map deliberately keeps more neurons than there are clusters, so a large cluster is
split over many neurons. HM joins them back. It only looks at pairs the map links (its edges),
never at all pairs, and works from statistics the map keeps incrementally, so it never needs
raw records and runs as well on a map merged from several workers.

The **density gap** of a linked pair ``(a, b)``: project the members of both neurons on the
line through their prototypes, scaled so that ``a`` sits at -1/2 and ``b`` at +1/2. Model the
projections as a two-component 1-D Gaussian mixture with weights proportional to the neurons'
counts, each component with the variance of its own neuron's projections. The gap is
``1 / min(mixture density on [-1/2, 1/2])``: small when the two neurons cover one dense region,
huge when there is a valley of low density between them.

Edges are merged single-linkage in increasing gap order. Merge ``m`` has *compactness* ``g_m``
(the largest gap inside any cluster after it) and the next merge has *separability*
``g_{m+1}`` (the smallest gap between two clusters). The number of clusters is read off the
merge sequence at its knee: the cut that maximises separability over compactness (in log
scale, gaps clipped at ``max_gap`` because beyond that two neurons are plainly apart), among
the cuts whose separability is at least ``min_gap``. If no cut qualifies, everything linked is
one cluster. ``k`` is never given.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = [
    "DEFAULT_MAX_GAP",
    "DEFAULT_MIN_GAP",
    "Merging",
    "density_gaps",
    "hierarchical_merge",
    "stable_cluster_ids",
]

# Two neurons inside one Gaussian blob, each seeing its half of the points, have a gap of about
# 3 (a uniform cell of width 1 projected has sd ~0.29). A gap of 12 means the mixture density in
# the middle drops to a quarter of that: a real valley. Beyond 1e4 every gap is "plainly apart".
DEFAULT_MIN_GAP = 12.0
DEFAULT_MAX_GAP = 100.0

_GRID = np.linspace(-0.5, 0.5, 65)
# Components narrower than this (in units of the prototype distance) are widened, so that two
# neurons that each saw one repeated point still get a finite gap.
_MIN_SCALED_SD = 1e-3


@dataclass(frozen=True)
class Merging:
    """The outcome of hierarchical merging.

    Attributes
    ----------
    labels
        Cluster label (0 .. n_clusters-1) of every neuron row.
    n_clusters
        Number of clusters chosen at the knee.
    sequence
        One row per merge of the full single-linkage sequence: ``(row_a, row_b, gap)``, in
        merge order (increasing gap). Rows ``>= n_merged`` were not applied.
    n_merged
        How many merges of ``sequence`` were applied to obtain ``labels``.
    """

    labels: np.ndarray
    n_clusters: int
    sequence: np.ndarray
    n_merged: int


def _pair_distances(prototypes: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Euclidean distance over the dimensions both prototypes know, rescaled to all of them."""
    diff = prototypes[a] - prototypes[b]
    known = ~np.isnan(diff)
    n_known = known.sum(axis=1)
    squared = np.where(known, diff, 0.0) ** 2
    scale = prototypes.shape[1] / np.maximum(n_known, 1)
    out = np.sqrt(squared.sum(axis=1) * scale)
    out[n_known == 0] = 0.0
    return out


def density_gaps(
    distance: np.ndarray,
    variance_a: np.ndarray,
    variance_b: np.ndarray,
    count_a: np.ndarray,
    count_b: np.ndarray,
) -> np.ndarray:
    """Log density gap of each pair (vectorised; see the module docstring).

    ``distance`` is between the two prototypes; ``variance_*`` are the variances of each
    neuron's members projected on the line between them (squared distance units).

    Examples
    --------
    >>> one = density_gaps(np.array([1.0]), np.array([0.09]), np.array([0.09]),
    ...                    np.array([100.0]), np.array([100.0]))
    >>> apart = density_gaps(np.array([10.0]), np.array([0.09]), np.array([0.09]),
    ...                      np.array([100.0]), np.array([100.0]))
    >>> round(float(np.exp(one[0])), 2), bool(apart[0] > 100)
    (3.02, True)
    """
    distance = np.maximum(np.asarray(distance, dtype=np.float64), 1e-12)[:, None]
    sd_a = np.maximum(np.sqrt(np.maximum(variance_a, 0.0))[:, None] / distance, _MIN_SCALED_SD)
    sd_b = np.maximum(np.sqrt(np.maximum(variance_b, 0.0))[:, None] / distance, _MIN_SCALED_SD)
    total = np.maximum(np.asarray(count_a, float) + np.asarray(count_b, float), 1e-12)
    weight_a = (np.asarray(count_a, float) / total)[:, None]
    weight_b = 1.0 - weight_a
    grid = _GRID[None, :]
    # Log-sum-exp of the two components: far-apart pairs underflow to 0 otherwise.
    log_a = np.log(np.maximum(weight_a, 1e-300)) - np.log(sd_a * np.sqrt(2 * np.pi))
    log_a = log_a - 0.5 * ((grid + 0.5) / sd_a) ** 2
    log_b = np.log(np.maximum(weight_b, 1e-300)) - np.log(sd_b * np.sqrt(2 * np.pi))
    log_b = log_b - 0.5 * ((grid - 0.5) / sd_b) ** 2
    log_density = np.logaddexp(log_a, log_b)
    return -log_density.min(axis=1)


def _find(parent: list[int], i: int) -> int:
    while parent[i] != i:
        parent[i] = parent[parent[i]]
        i = parent[i]
    return i


def _connect(prototypes: np.ndarray, edges: np.ndarray, alive_rows: np.ndarray) -> np.ndarray:
    """Edges that join the graph's components through their closest prototypes.

    A map can fall apart into components (edges age out between far clusters). Linking each
    component to its nearest neighbour lets the gap, not the graph, decide whether they stay
    apart; the virtual edges of far components get huge gaps and are cut at the knee.
    """
    n = len(prototypes)
    parent = list(range(n))
    for a, b in edges:
        ra, rb = _find(parent, int(a)), _find(parent, int(b))
        if ra != rb:
            parent[ra] = rb
    roots = np.array([_find(parent, i) for i in range(n)])
    added = []
    filled = np.where(np.isnan(prototypes), 0.0, prototypes)
    while len(np.unique(roots[alive_rows])) > 1:
        first = roots[alive_rows][0]
        inside = alive_rows[roots[alive_rows] == first]
        outside = alive_rows[roots[alive_rows] != first]
        d2 = ((filled[inside, None, :] - filled[None, outside, :]) ** 2).sum(axis=2)
        i, j = np.unravel_index(np.argmin(d2), d2.shape)
        a, b = int(inside[i]), int(outside[j])
        added.append((a, b))
        roots[roots == roots[b]] = first
    return np.array(added, dtype=np.int64).reshape(-1, 2)


def hierarchical_merge(
    prototypes: np.ndarray,
    counts: np.ndarray,
    edges: np.ndarray,
    edge_variances: np.ndarray | None = None,
    variances: np.ndarray | None = None,
    min_gap: float = DEFAULT_MIN_GAP,
    max_gap: float = DEFAULT_MAX_GAP,
    min_weight_fraction: float = 0.1,
) -> Merging:
    """Cluster a map's neurons by density-gap single linkage, with k chosen at the knee.

    Parameters
    ----------
    prototypes
        ``(n, d)`` neuron prototypes (``NaN`` = dimension unknown to that neuron).
    counts
        ``(n,)`` how many records each neuron stands for (its weight in the mixture).
    edges
        ``(m, 2)`` row indices of linked neurons. Unlinked components are joined through
        their nearest prototypes before merging.
    edge_variances
        ``(m, 2)`` variance of the members of ``edges[:, 0]`` (column 0) and of
        ``edges[:, 1]`` (column 1) projected on the edge. If omitted, ``variances`` is used.
    variances
        ``(n,)`` per-direction (isotropic) variance of each neuron's members; used for
        virtual edges and when ``edge_variances`` is not given.
    min_gap, max_gap
        Smallest gap that may separate two clusters; gaps are clipped at ``max_gap`` when the
        knee is located.
    min_weight_fraction
        Neurons whose count is below this fraction of the median count (stragglers between
        clusters, leftovers of a vanished region) do not take part in merging and choosing k:
        their thin mixture components would fake density valleys. Each joins the cluster of
        its nearest full neuron. Rows ``a, b`` of ``sequence`` refer to all neurons.

    Examples
    --------
    Two tight pairs of neurons, far apart, linked in a chain:

    >>> P = np.array([[0.0, 0.0], [1.0, 0.0], [9.0, 0.0], [10.0, 0.0]])
    >>> E = np.array([[0, 1], [1, 2], [2, 3]])
    >>> result = hierarchical_merge(P, np.full(4, 50.0), E, variances=np.full(4, 0.1))
    >>> result.labels.tolist(), result.n_clusters
    ([0, 0, 1, 1], 2)
    """
    prototypes = np.asarray(prototypes, dtype=np.float64)
    counts = np.asarray(counts, dtype=np.float64)
    n = len(prototypes)
    edges = np.asarray(edges, dtype=np.int64).reshape(-1, 2)
    if variances is None:
        if edge_variances is None:
            raise ValueError("give edge_variances or variances")
        variances = np.zeros(n)
        for column in (0, 1):
            np.maximum.at(variances, edges[:, column], np.asarray(edge_variances)[:, column])
    variances = np.asarray(variances, dtype=np.float64)
    if edge_variances is None:
        edge_variances = variances[edges] if len(edges) else np.zeros((0, 2))
    edge_variances = np.asarray(edge_variances, dtype=np.float64).reshape(-1, 2)
    if n == 0:
        return Merging(np.zeros(0, np.int64), 0, np.zeros((0, 3)), 0)

    core = counts >= min_weight_fraction * np.median(counts)
    keep = core[edges[:, 0]] & core[edges[:, 1]]
    edges, edge_variances = edges[keep], edge_variances[keep]
    core_rows = np.flatnonzero(core)
    virtual = _connect(prototypes, edges, core_rows)
    if len(virtual):
        edges = np.vstack([edges, virtual])
        edge_variances = np.vstack([edge_variances, variances[virtual]])
    if len(edges):
        distance = _pair_distances(prototypes, edges[:, 0], edges[:, 1])
        log_gap = density_gaps(
            distance,
            edge_variances[:, 0],
            edge_variances[:, 1],
            counts[edges[:, 0]],
            counts[edges[:, 1]],
        )
    else:
        log_gap = np.zeros(0)

    # Single linkage in increasing gap order (stable sort: ties keep edge order).
    order = np.argsort(log_gap, kind="stable")
    parent = list(range(n))
    sequence = []
    for e in order:
        a, b = int(edges[e, 0]), int(edges[e, 1])
        ra, rb = _find(parent, a), _find(parent, b)
        if ra != rb:
            parent[ra] = rb
            sequence.append((a, b, float(log_gap[e])))
    n_merged = _knee(np.array([s[2] for s in sequence]), min_gap, max_gap)

    parent = list(range(n))
    for a, b, _ in sequence[:n_merged]:
        ra, rb = _find(parent, a), _find(parent, b)
        parent[ra] = rb
    roots = np.array([_find(parent, i) for i in range(n)])
    stragglers = np.flatnonzero(~core)
    if len(stragglers):
        filled = np.where(np.isnan(prototypes), 0.0, prototypes)
        d2 = ((filled[stragglers, None, :] - filled[None, core_rows, :]) ** 2).sum(axis=2)
        roots[stragglers] = roots[core_rows[np.argmin(d2, axis=1)]]
    # Number clusters by their first neuron row, so labels do not depend on root choice.
    first_row: dict[int, int] = {}
    for root in roots:
        first_row.setdefault(int(root), len(first_row))
    labels = np.array([first_row[int(root)] for root in roots], dtype=np.int64)
    table = np.array(
        [(a, b, float(np.exp(min(g, 700.0)))) for a, b, g in sequence], dtype=np.float64
    ).reshape(-1, 3)
    return Merging(labels, len(first_row), table, n_merged)


def _knee(log_gaps: np.ndarray, min_gap: float, max_gap: float) -> int:
    """Number of merges to apply: the cut with the largest separability / compactness."""
    m = len(log_gaps)
    if m == 0:
        return 0
    clipped = np.minimum(log_gaps, np.log(max_gap))
    # Cut after c merges: compactness = gap of merge c (0 if none), separability = merge c+1.
    compactness = np.concatenate([[0.0], np.maximum(clipped, 0.0)])[:m]
    separability = clipped
    allowed = log_gaps >= np.log(min_gap)
    if not allowed.any():
        return m
    score = np.where(allowed, separability - compactness, -np.inf)
    return int(np.argmax(score))


def stable_cluster_ids(
    labels: np.ndarray, previous: np.ndarray, weights: np.ndarray, next_id: int
) -> tuple[np.ndarray, int]:
    """Map fresh merge labels onto the previous cluster ids, by count-weighted neuron overlap.

    Each new cluster takes the previous id held by most of its members' weight; when two new
    clusters claim one id (a split) the heavier claim wins and the other gets a fresh id.
    Fresh ids start at ``next_id`` and are never reused. ``previous < 0`` means no old id.

    Returns the ids per neuron and the next unused id.

    Examples
    --------
    >>> ids, nxt = stable_cluster_ids(np.array([0, 0, 1, 2]), np.array([7, 7, 7, -1]),
    ...                               np.array([5.0, 5.0, 1.0, 1.0]), next_id=8)
    >>> ids.tolist(), nxt
    ([7, 7, 8, 9], 10)
    """
    labels = np.asarray(labels, dtype=np.int64)
    previous = np.asarray(previous, dtype=np.int64)
    weights = np.asarray(weights, dtype=np.float64)
    claims = []
    for label in np.unique(labels):
        members = labels == label
        old = previous[members]
        w = weights[members]
        known = old >= 0
        if known.any():
            ids, inverse = np.unique(old[known], return_inverse=True)
            mass = np.bincount(inverse, weights=w[known])
            best = int(np.argmax(mass))
            claims.append((-float(mass[best]), int(label), int(ids[best])))
        else:
            claims.append((0.0, int(label), -1))
    claims.sort()
    taken: set[int] = set()
    assigned = {}
    for _, label, old_id in claims:
        if old_id >= 0 and old_id not in taken:
            assigned[label] = old_id
            taken.add(old_id)
    for label in sorted(set(labels.tolist())):
        if label not in assigned:
            assigned[label] = next_id
            next_id += 1
    return np.array([assigned[int(label)] for label in labels], dtype=np.int64), next_id
