"""Hierarchical merging (HM) of a map's neurons into clusters, guided by the density gap.

A growing map deliberately keeps more neurons than there are clusters, so a large cluster is
split over many neurons. HM joins them back. It only looks at pairs the map links (its edges),
never at all pairs, and works from statistics the map keeps incrementally, so it never needs
raw records and runs as well on a map merged from several workers.

The **density gap** of a linked pair ``(a, b)``: project the members of both neurons on the
line through their prototypes, scaled so that ``a`` sits at -1/2 and ``b`` at +1/2. Model the
projections as a two-component 1-D Gaussian mixture with weights proportional to the neurons'
counts, each component with the variance of its own neuron's projections. The gap is the
valley depth relative to the lower prototype: ``min(p(-1/2), p(+1/2)) / min(p on [-1/2, 1/2])``
(a bimodality ratio). It is 1 when the mixture has no valley between the two prototypes and
grows with the depth of the valley. It has no length scale, and comparing the valley with the
*lower* of the two sides means a light neuron (a 2 % cluster beside a big one) is judged
against its own density, not washed out by its heavy neighbour's weight.

Edges are merged single-linkage in increasing gap order, and every merge whose gap is below
``min_gap`` is applied: ``k`` is the number of components left, never given. Light neurons
take part as *border* neurons (as in DBSCAN): a neuron whose weight is below a quarter of
its heaviest neighbour's keeps only its lowest-gap edge towards a heavier neighbour, so it
joins at most one cluster and never links two. Without that, a few records in the sparse
region between two clusters (typical of few records in many dimensions: wine, 178 records
in 13 dimensions) grow a light neuron whose thin component shows no valley towards either
side, and single linkage chains the two clusters through it. The default
``min_gap = 3`` is a valley down to a third of the lower side: two equal Gaussians reach it
when their centres are about 3.7 standard deviations apart (they become bimodal at 2), while
two neurons tiling one Gaussian blob sit near 1-2.

**Why a fixed cut and not a knee.** The issue behind this module asks for ``k`` at the knee
of global compactness (the gap of each merge) against global separability (the next gap).
Two knees were measured on the clustering benchmark, against this cut, on the same map:

* the knee over the whole sequence (round two): mean final ARI 0.78 vs 0.88 on the
  imbalanced (IR 10 / 50) streams;
* the knee restricted to the gaps above the floor ``min_gap`` (merges below it applied,
  then the largest relative jump of the log-gap among the rest taken as the cut): 0.565
  vs 0.965, ``k`` within 1 on 8 vs 17 of 18 Gaussian streams.

Both fail for the same reason: between real clusters the log-gap grows with the squared
separation over the variance, so the gaps of real cluster boundaries spread over many orders
of magnitude (8 to 1e17 on the benchmark's streams) while the gaps inside clusters sit
together near 1. The largest jump of the sequence therefore lies *among the real
boundaries* as often as at the step from "inside" to "between", and a knee cuts there,
merging every cluster whose valley is clear but shallower than the jump — the small ones
first, since a light neuron's valley is the shallowest. A knee restricted to the gaps above
a floor can only add merges to the floor's and so makes this worse. The fixed cut asks the
question that is actually scale-free (is there a valley of this depth?) and keeps every
such boundary. The sequence and the number of merges applied are kept in :class:`Merging`,
so the compactness / separability profile stays inspectable.

Neurons of different sources (no feature in common) are never linked, so they are never
merged; distances and projections use the dimensions both neurons know.

**Discrete fields.** A categorical or ordinal field puts every record with the same value at
one point of its coordinates: neurons that differ in it have no spread along their offset, and
no record can ever lie between two values, so that direction would show a valley between any
two values. Given the columns of each discrete field (``discrete_groups``), each field ``f``
that differs between two neurons by the offset ``d_f`` is read as spread over it with standard
deviation ``|d_f| / 2`` (two such components are just no longer bimodal), which adds
``(d_f . u)^2 / 4 = |d_f|^4 / (4 |d|^2)`` to both neurons' variances along the edge's unit
direction ``u``. One field differing alone thus shows no valley; a difference in the continuous
columns still does, and so do four or more discrete fields differing together by similar
offsets (each then a share of ``|d|``; up to three stay below ``min_gap = 3``). This applies
only to an edge whose ends share a continuous column: where there is none (a source of
categorical fields only) the discrete offsets are all the data says, and they are kept as
valleys, as before. On the synthetic three-source stream the map found 29-36 clusters for 10,
split along the combinations of channel, country, status and tier, and finds 12-22 with this
(``benchmarks/splits.py``; numbers in ``benchmarks/RESULTS.md``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

__all__ = [
    "DEFAULT_MIN_GAP",
    "Merging",
    "density_gaps",
    "hierarchical_merge",
    "stable_cluster_ids",
]

# A valley down to a third of the lower side (two equal Gaussians ~3.7 sd apart); neurons
# tiling one blob stay near 1-2. See the module docstring.
DEFAULT_MIN_GAP = 3.0

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
        Number of clusters after the merges below ``min_gap``.
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


def _pair_distances(diff: np.ndarray) -> np.ndarray:
    """Length of each pair's prototype difference ``diff`` (``NaN`` where either prototype
    does not know the dimension) over the dimensions both know; ``inf`` if they share none.

    Not rescaled to all dimensions: the projected variances kept on the map's edges are
    lengths along the line through the two prototypes in the dimensions they share, so the
    distance between them must be measured in the same space.
    """
    known = ~np.isnan(diff)
    out = np.sqrt((np.where(known, diff, 0.0) ** 2).sum(axis=1))
    out[known.sum(axis=1) == 0] = np.inf
    return out


def _discrete_spread(
    diff: np.ndarray, distance: np.ndarray, groups: np.ndarray | None
) -> np.ndarray:
    """Variance along each edge that its ends' offsets ``diff`` in discrete fields imply (see
    *Discrete fields* in the module docstring); 0 for an edge whose ends share no continuous
    column."""
    if groups is None or not (groups >= 0).any() or len(diff) == 0:
        return np.zeros(len(diff))
    squared = np.where(np.isnan(diff), 0.0, diff) ** 2
    width = min(len(groups), squared.shape[1])
    discrete = np.flatnonzero(groups[:width] >= 0)
    per_field = np.zeros((len(diff), int(groups.max()) + 1))
    np.add.at(per_field.T, groups[discrete], squared[:, discrete].T)
    spread = (per_field**2).sum(axis=1) / (4.0 * np.maximum(distance, 1e-12) ** 2)
    continuous = np.ones(diff.shape[1], dtype=bool)
    continuous[discrete] = False
    shared = ~np.isnan(diff[:, continuous])
    return np.where(shared.any(axis=1), spread, 0.0)


def _shared_distances(P: np.ndarray) -> np.ndarray:
    """``(n, n)`` squared distances over shared dimensions, rescaled to all; ``inf`` if none."""
    known = ~np.isnan(P)
    both = known[:, None, :] & known[None, :, :]
    diff = np.where(both, P[:, None, :] - P[None, :, :], 0.0)
    shared = both.sum(axis=2)
    d2 = (diff**2).sum(axis=2) * P.shape[1] / np.maximum(shared, 1)
    d2[shared == 0] = np.inf
    return d2


def _median(values: np.ndarray) -> float:
    """``np.median`` of a short vector (the same value), without its per-call cost."""
    ordered = sorted(values.tolist())
    if not ordered or any(v != v for v in ordered):
        return np.nan
    half = len(ordered) // 2
    return ordered[half] if len(ordered) % 2 else (ordered[half - 1] + ordered[half]) / 2


def density_gaps(
    distance: np.ndarray,
    variance_a: np.ndarray,
    variance_b: np.ndarray,
    count_a: np.ndarray,
    count_b: np.ndarray,
) -> np.ndarray:
    """Log density gap (bimodality ratio) of each pair (vectorised; see the module docstring).

    ``distance`` is between the two prototypes; ``variance_*`` are the variances of each
    neuron's members projected on the line between them (squared distance units).

    Examples
    --------
    >>> one = density_gaps(np.array([1.0]), np.array([0.09]), np.array([0.09]),
    ...                    np.array([100.0]), np.array([100.0]))
    >>> apart = density_gaps(np.array([10.0]), np.array([0.09]), np.array([0.09]),
    ...                      np.array([100.0]), np.array([100.0]))
    >>> round(float(np.exp(one[0])), 2), bool(apart[0] > 100)
    (2.01, True)
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
    # Valley depth relative to the lower of the two prototypes' own densities: scale-free, and
    # a light neuron's side is compared with itself, not washed out by a heavy neighbour.
    peak = np.minimum(log_density[:, 0], log_density[:, -1])
    return np.maximum(peak - log_density.min(axis=1), 0.0)


# The graph bookkeeping (union-find, joining components) is compiled: run step by step in
# Python it cost more than the arithmetic of a merge, which stays in numpy.
@njit(cache=True)
def _find(parent, i):
    while parent[i] != i:
        parent[i] = parent[parent[i]]
        i = parent[i]
    return i


@njit(cache=True)
def _roots(pairs, n):
    """Root of each of ``n`` rows once ``pairs`` are joined in order (union-find)."""
    parent = np.arange(n)
    for e in range(pairs.shape[0]):
        ra, rb = _find(parent, pairs[e, 0]), _find(parent, pairs[e, 1])
        if ra != rb:
            parent[ra] = rb
    for i in range(n):
        parent[i] = _find(parent, i)
    return parent


@njit(cache=True)
def _tree_edges(pairs, n):
    """Positions of the ``pairs`` that join two components when taken in order (Kruskal)."""
    parent = np.arange(n)
    chosen = np.empty(pairs.shape[0], dtype=np.int64)
    count = 0
    for e in range(pairs.shape[0]):
        ra, rb = _find(parent, pairs[e, 0]), _find(parent, pairs[e, 1])
        if ra != rb:
            parent[ra] = rb
            chosen[count] = e
            count += 1
    return chosen[:count]


@njit(cache=True)
def _connect(edges, rows, d2):
    """Edges that join the graph's components through their closest prototypes.

    A map can fall apart into components (edges age out between far clusters). Linking each
    component to its nearest neighbour lets the gap, not the graph, decide whether they stay
    apart; the virtual edges of far components get huge gaps and are not merged. Components
    that share no feature with the others (another source) get no virtual edge.

    Only ``rows`` take part; ``d2`` holds the squared distances between all rows
    (:func:`_shared_distances`). Components are taken in the order of their root: the first
    pending one is joined to the closest other (the first closest pair in row order), which
    then belongs to it, until it has no finite distance to any other and stays apart.
    """
    component = _roots(edges, d2.shape[0])[rows]
    m = rows.shape[0]
    pending = np.ones(m, dtype=np.bool_)
    added = np.empty((m, 2), dtype=np.int64)
    count = 0
    while True:
        first = -1
        for p in range(m):
            if pending[p] and (first < 0 or component[p] < first):
                first = component[p]
        best = np.inf
        bi = -1
        bj = -1
        others = False
        blocked = False  # a NaN distance: no finite closest pair
        for p in range(m):
            if component[p] != first:
                continue
            for q in range(m):
                if not pending[q] or component[q] == first:
                    continue
                others = True
                value = d2[rows[p], rows[q]]
                if value != value:
                    blocked = True
                elif value < best:
                    best, bi, bj = value, p, q
        if not others:
            break
        if blocked or bi < 0:
            for p in range(m):
                if component[p] == first:
                    pending[p] = False  # shares no feature with the rest (another source)
            continue
        added[count, 0] = rows[bi]
        added[count, 1] = rows[bj]
        count += 1
        joined = component[bj]
        for p in range(m):
            if component[p] == joined:
                component[p] = first
    return added[:count]


def _eligible(
    edges: np.ndarray, log_gap: np.ndarray, counts: np.ndarray, border_fraction: float
) -> np.ndarray:
    """Edges single linkage may use: a border neuron's only through the one edge it owns.

    A light neuron between two heavy ones (a few records in the sparse region between two
    clusters) has a thin mixture component, so no valley shows on either of its edges, and
    plain single linkage chains the two clusters through it. A neuron lighter than
    ``border_fraction`` of its heaviest neighbour is therefore a border neuron. Every neuron
    owns its lowest-gap edge towards a neighbour at least as heavy as itself. An edge
    between two non-border neurons is always usable, an edge with a border end only if one
    of its ends owns it. A path between two non-border neurons through ``m`` border neurons
    has ``m + 1`` edges; the border neurons own at most ``m`` of them, and an end owns its
    edge into the path only if the border neuron there is at least as heavy as itself. So no
    path through border neurons joins two neurons that are heavier than the border neurons
    next to them: border neurons attach to a cluster and do not chain two. Owning the edge
    *towards heavier*
    makes chains of light neurons (young ones, say) climb to a heavy one instead of closing
    among themselves into a cluster of their own. A light cluster of its own (a 2 % cluster
    beside a large one) still stays apart: its edges towards the heavy neighbour cross the
    valley.
    """
    if len(edges) == 0:
        return np.zeros(0, dtype=bool)
    heaviest = np.zeros(len(counts))
    np.maximum.at(heaviest, edges[:, 0], counts[edges[:, 1]])
    np.maximum.at(heaviest, edges[:, 1], counts[edges[:, 0]])
    border = counts < border_fraction * heaviest
    up = np.full(len(counts), -1)  # lowest-gap edge towards a neighbour at least as heavy
    for e in np.argsort(log_gap, kind="stable")[::-1]:  # the lowest gap is written last
        a, b = edges[e]
        if counts[b] >= counts[a]:
            up[a] = e
        if counts[a] >= counts[b]:
            up[b] = e
    own = np.zeros(len(edges), dtype=bool)
    own[up[up >= 0]] = True
    a, b = edges[:, 0], edges[:, 1]
    return (~border[a] & ~border[b]) | own


def hierarchical_merge(
    prototypes: np.ndarray,
    counts: np.ndarray,
    edges: np.ndarray,
    edge_variances: np.ndarray | None = None,
    variances: np.ndarray | None = None,
    min_gap: float = DEFAULT_MIN_GAP,
    min_weight_fraction: float = 0.1,
    border_fraction: float = 0.25,
    discrete_groups: np.ndarray | None = None,
) -> Merging:
    """Cluster a map's neurons by density-gap single linkage; k is not given.

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
    min_gap
        Smallest gap that separates two clusters: merges below it are applied.
    min_weight_fraction
        Neurons whose count is below this fraction of the median count (stragglers between
        clusters, leftovers of a vanished region) do not take part in merging and choosing k:
        their thin mixture components would fake density valleys. Each joins the cluster of
        its nearest full neuron. Rows ``a, b`` of ``sequence`` refer to all neurons.
    border_fraction
        A neuron whose count is below this fraction of its heaviest linked neighbour's is a
        *border* neuron: it joins at most one cluster, through its lowest-gap edge towards a
        heavier neighbour, and never links two (see :func:`_eligible`). ``sequence`` holds
        the single-linkage merges over the usable edges.
    discrete_groups
        ``(d',)`` per column, the number of its discrete field (the same for all columns of
        one field) or -1 for a continuous column; columns past its end are continuous, and
        ``None`` makes all of them so (see *Discrete fields* in the module docstring).

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

    core = counts >= min_weight_fraction * _median(counts)
    keep = core[edges[:, 0]] & core[edges[:, 1]]
    edges, edge_variances = edges[keep], edge_variances[keep]
    core_rows = np.flatnonzero(core)
    d2 = _shared_distances(prototypes)
    virtual = _connect(edges, core_rows, d2)
    if len(virtual):
        edges = np.vstack([edges, virtual])
        edge_variances = np.vstack([edge_variances, variances[virtual]])
    if len(edges):
        diff = prototypes[edges[:, 0]] - prototypes[edges[:, 1]]
        distance = _pair_distances(diff)
        floor = _discrete_spread(diff, distance, discrete_groups)
        log_gap = density_gaps(
            distance,
            edge_variances[:, 0] + floor,
            edge_variances[:, 1] + floor,
            counts[edges[:, 0]],
            counts[edges[:, 1]],
        )
    else:
        log_gap = np.zeros(0)

    eligible = _eligible(edges, log_gap, counts, border_fraction)
    edges, log_gap = edges[eligible], log_gap[eligible]
    # Single linkage in increasing gap order (stable sort: ties keep edge order).
    order = np.argsort(log_gap, kind="stable")
    tree = order[_tree_edges(edges[order], n)]
    n_merged = int((log_gap[tree] < np.log(min_gap)).sum())
    roots = _roots(edges[tree[:n_merged]], n)
    stragglers = np.flatnonzero(~core)
    if len(stragglers):
        d2 = d2[np.ix_(stragglers, core_rows)]
        attached = np.isfinite(d2).any(axis=1) if len(core_rows) else np.zeros(0, bool)
        nearest = core_rows[np.argmin(d2, axis=1)] if len(core_rows) else stragglers
        roots[stragglers[attached]] = roots[nearest[attached]]
    # Number clusters by their first neuron row, so labels do not depend on root choice.
    first_row: dict[int, int] = {}
    for root in roots.tolist():
        first_row.setdefault(root, len(first_row))
    labels = np.array([first_row[root] for root in roots.tolist()], dtype=np.int64)
    table = np.column_stack([edges[tree], np.exp(np.minimum(log_gap[tree], 700.0))])
    return Merging(labels, len(first_row), table, n_merged)


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
    # Plain Python: a map has a few dozen neurons, too few for numpy's per-call cost to pay.
    masses: dict[int, dict[int, float]] = {}
    for label, old_id, weight in zip(
        labels.tolist(),
        np.asarray(previous, dtype=np.int64).tolist(),
        np.asarray(weights, dtype=np.float64).tolist(),
        strict=True,
    ):
        mass = masses.setdefault(label, {})
        if old_id >= 0:
            mass[old_id] = mass.get(old_id, 0.0) + weight
    claims = []
    for label in sorted(masses):
        mass = masses[label]
        if mass:
            best = max(sorted(mass), key=mass.__getitem__)  # the smallest id among equals
            claims.append((-mass[best], label, best))
        else:
            claims.append((0.0, label, -1))
    claims.sort()
    taken: set[int] = set()
    assigned = {}
    for _, label, old_id in claims:
        if old_id >= 0 and old_id not in taken:
            assigned[label] = old_id
            taken.add(old_id)
    for label in sorted(masses):
        if label not in assigned:
            assigned[label] = next_id
            next_id += 1
    return np.array([assigned[label] for label in labels.tolist()], dtype=np.int64), next_id
