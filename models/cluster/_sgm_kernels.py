"""numba kernels of the Self-Growth Map: the per-record learning rule and the winner search.

Private to :mod:`models.cluster.sgm` (kept apart only so the class file stays readable). The
state lives in plain arrays of a fixed capacity ``C``; a slot is in use when ``alive[slot]``.
Edges are a ``(C, C)`` age matrix (``-1`` = no edge), so a neuron's neighbours are one row.
"""

from __future__ import annotations

import numpy as np
from numba import njit

# Positions in the int64 ``counters`` array.
STEP, N_ALIVE, NEXT_NEURON, NEXT_CLUSTER, NEXT_MERGE = 0, 1, 2, 3, 4
# The map at the last merge (neurons born so far, neurons alive), the merge interval now, and
# whether the last merge moved any neuron to another cluster (1) or not (0).
MERGED_BIRTHS, MERGED_ALIVE, MERGE_INTERVAL, MERGE_MOVED = 5, 6, 7, 8
N_COUNTERS = 9
# Positions in the float64 ``params`` array.
Z, MAX_AGE, MIN_LR, NEIGHBOR_RATE, FORGET_AFTER, MAX_NEURONS, MERGE_EVERY = 0, 1, 2, 3, 4, 5, 6
N_PARAMS = 7
# Return codes of ``learn_rows``.
DONE, MERGE_DUE, NEED_SLOT = 0, 1, 2
# A neuron is forgotten when idle for longer than forget_after and than this many of its own
# mean intervals between wins: neurons of rare clusters win rarely but regularly.
PATIENCE = 8.0
# Novel records (outside winner and runner-up) gathered in one region before a neuron grows
# there, and the distance, in winner radii, beyond which a single record grows one at once.
# See the class docstring of SelfGrowthMap for the argument.
EVIDENCE = 3.0
FAR = 2.0
# A neuron younger than this many records is never recycled (its win rate has not settled).
MIN_RECYCLE_AGE = 200
SETTLE = 20.0
# ``nearest`` compares rows with the same features together: at most this many patterns per
# batch, each of at least this many rows (a smaller group is not worth its set-up).
MAX_GROUPS = 64
MIN_GROUP_ROWS = 8
COMPARED = -2  # the group of rows already compared in ``nearest``


@njit(cache=True)
def squared_distance(x, w):
    """Squared distance over the dimensions both know, rescaled to all; -1 if none shared.

    A plain sum first: when no term is NaN every dimension is known on both sides, and it adds
    the same terms in the same order as :func:`_partial_distance` would, at a third of the
    work per term (no test, no count).
    """
    total = 0.0
    for k in range(x.shape[0]):
        diff = x[k] - w[k]
        total += diff * diff
    if total == total:
        return total
    return _partial_distance(x, w)


@njit(cache=True)
def _partial_distance(x, w):
    """:func:`squared_distance` when a dimension is missing (NaN) on either side."""
    total = 0.0
    known = 0
    width = x.shape[0]
    for k in range(width):
        diff = x[k] - w[k]
        if diff == diff:  # NaN (missing on either side) never equals itself
            total += diff * diff
            known += 1
    if known == 0:
        return -1.0
    if known == width:
        return total
    return total * width / known


@njit(cache=True)
def radius(dmean, dvar, z):
    return dmean + z * np.sqrt(dvar)


@njit(cache=True, inline="always")  # left as a call, it loses most of what it gains
def _two_distances(x, W, a, b):
    """:func:`squared_distance` to rows ``a`` and ``b`` at once: two independent sums, which
    the processor overlaps (each is still added term by term, in order)."""
    total_a = 0.0
    total_b = 0.0
    for k in range(x.shape[0]):
        diff_a = x[k] - W[a, k]
        diff_b = x[k] - W[b, k]
        total_a += diff_a * diff_a
        total_b += diff_b * diff_b
    if total_a != total_a:
        total_a = _partial_distance(x, W[a])
    if total_b != total_b:
        total_b = _partial_distance(x, W[b])
    return total_a, total_b


@njit(cache=True)
def _rank(j, dd, s1, d1, s2, d2):
    """Winner and runner-up after slot ``j`` at squared distance ``dd`` (< 0: no feature)."""
    if dd < 0.0:
        return s1, d1, s2, d2
    if dd < d1:
        return j, dd, s1, d1
    if dd < d2:
        return s1, d1, j, dd
    return s1, d1, s2, d2


@njit(cache=True)
def _winners(x, W, alive):
    s1 = -1
    s2 = -1
    d1 = np.inf
    d2 = np.inf
    held = -1  # live slots go in pairs; this one waits for its partner
    for j in range(W.shape[0]):
        if not alive[j]:
            continue
        if held < 0:
            held = j
            continue
        da, db = _two_distances(x, W, held, j)
        s1, d1, s2, d2 = _rank(held, da, s1, d1, s2, d2)
        s1, d1, s2, d2 = _rank(j, db, s1, d1, s2, d2)
        held = -1
    if held >= 0:
        s1, d1, s2, d2 = _rank(held, squared_distance(x, W[held]), s1, d1, s2, d2)
    return s1, d1, s2, d2


@njit(cache=True)
def _isotropic(dmean, dvar, width):
    return (dmean * dmean + dvar) / max(width, 1)


@njit(cache=True)
def _share_a_feature(a, b, W):
    shared = False
    for k in range(W.shape[1]):  # a plain loop: numba compiles it, not a generator
        shared = shared or (W[a, k] == W[a, k] and W[b, k] == W[b, k])
    return shared


@njit(cache=True)
def _link(a, b, W, eage, evar, ecount, dmean, dvar, width):
    if eage[a, b] < 0:
        if not _share_a_feature(a, b, W):
            return  # neurons of sources with disjoint features are never linked
        evar[a, b] = _isotropic(dmean[a], dvar[a], width)
        evar[b, a] = _isotropic(dmean[b], dvar[b], width)
        ecount[a, b] = 1.0
        ecount[b, a] = 1.0
    eage[a, b] = 0
    eage[b, a] = 0


@njit(cache=True)
def _unlink_all(j, eage):
    for k in range(eage.shape[0]):
        eage[j, k] = -1
        eage[k, j] = -1


@njit(cache=True)
def _evict_idlest(alive, last, evidence, eage, counters):
    """Free the slot of the neuron that has gone longest without winning a record."""
    idlest = -1
    for j in range(alive.shape[0]):
        if alive[j] and (idlest < 0 or last[j] < last[idlest]):
            idlest = j
    _retire(idlest, alive, evidence, eage, counters)


@njit(cache=True)
def _partial_winners(x, present, count, W, alive):
    """:func:`_winners` for a record that lacks a feature, all its values finite; it holds
    the features ``present[:count]``.

    The terms of :func:`_partial_distance` over just the features the record holds (the
    others add nothing there), in the same order: the same distances to the last bit, at a
    fraction of the work when the record is one source's among many.
    """
    width = x.shape[0]
    s1 = -1
    s2 = -1
    d1 = np.inf
    d2 = np.inf
    for j in range(W.shape[0]):
        if not alive[j]:
            continue
        total = 0.0
        known = 0
        for c in range(count):
            diff = x[present[c]] - W[j, present[c]]
            if diff == diff:  # the neuron knows the feature
                total += diff * diff
                known += 1
        if known > 0:  # known < width: the record lacks a feature
            s1, d1, s2, d2 = _rank(j, total * width / known, s1, d1, s2, d2)
    return s1, d1, s2, d2


# Compiled without numba's runtime (``_nrt=False``): the kernel allocates nothing, and without
# the runtime every row view and every helper call stops paying atomic reference counts on its
# arrays, which took about half of the kernel's time (the arithmetic is unchanged).
@njit(cache=True, _nrt=False)
def learn_rows(
    X, start, W, alive, hits, dmean, dvar, born, last, ids, clusters, eage, evar, ecount,
    cand, evidence, counters, params, present,
):  # fmt: skip
    """Learn rows ``start..`` of ``X`` in order; returns ``(next_row, code)``.

    ``present`` is scratch space for the indices of a row's features (``width`` integers).

    Stops early with ``MERGE_DUE`` after the record at which merging is scheduled, and with
    ``NEED_SLOT`` (before touching the record) when every slot is in use below the cap.
    """
    capacity, width = W.shape
    z = params[Z]
    max_age = params[MAX_AGE]
    min_lr = params[MIN_LR]
    neighbor_rate = params[NEIGHBOR_RATE]
    forget_after = params[FORGET_AFTER]
    max_neurons = params[MAX_NEURONS]
    for i in range(start, X.shape[0]):
        if counters[N_ALIVE] >= capacity and capacity < max_neurons:
            return i, NEED_SLOT
        x = X[i]
        observed = 0
        finite = True
        for k in range(width):
            if x[k] == x[k]:
                present[observed] = k
                observed += 1
                finite &= abs(x[k]) < np.inf
        if observed > 0:
            if observed < width and finite:
                s1, d1, s2, d2 = _partial_winners(x, present, observed, W, alive)
            else:
                s1, d1, s2, d2 = _winners(x, W, alive)
            dist1 = np.sqrt(d1) if s1 >= 0 else 0.0
            novel = False
            gathered = False
            if s1 < 0:
                grow = True
            elif counters[N_ALIVE] < 3:
                grow = d1 > 0.0
            else:
                # Outside the winner and the runner-up: a record in the overlap of two
                # neurons' radii is covered, so growth stops once a region is covered.
                r1 = radius(dmean[s1], dvar[s1], z)
                novel = dist1 > r1
                if novel and s2 >= 0:
                    novel = np.sqrt(d2) > radius(dmean[s2], dvar[s2], z)
                grow = False
                if novel:
                    full = counters[N_ALIVE] >= max_neurons
                    far = dist1 > FAR * r1
                    young = hits[s1] < SETTLE and (s2 < 0 or hits[s2] < SETTLE)
                    if young or (far and not full):
                        grow = True
                    else:
                        # At the cap growth recycles a neuron, so it waits for a region, not
                        # a record: a vote within two radii (passed by chance now and then in
                        # any tail) grows nothing, and a far record (a rare value, or the first
                        # of a new region) votes, never joining a candidate of the tail.
                        reach = 0.5 * (dist1 if full else r1)
                        if far and squared_distance(cand[s1], W[s1]) <= (FAR * r1) ** 2:
                            evidence[s1] = 0.0
                        gathered = _gather(x, s1, reach, cand, evidence)
                        grow = gathered and (far or not full)
            if grow and counters[N_ALIVE] >= max_neurons:
                if s1 >= 0:
                    victim = _most_redundant(W, alive, hits, born, clusters, s1, s2,
                                             counters[STEP])  # fmt: skip
                    if victim >= 0:
                        _retire(victim, alive, evidence, eage, counters)
                    else:
                        grow = False  # nothing redundant: the winner absorbs the record
                else:
                    _evict_idlest(alive, last, evidence, eage, counters)
            if grow:
                slot = -1
                for j in range(capacity):
                    if not alive[j]:
                        slot = j
                        break
                at = x
                if gathered:
                    at = cand[s1]  # a view is enough: nothing below writes to cand
                    evidence[s1] = 0.0
                dist_at = np.sqrt(max(squared_distance(at, W[s1]), 0.0)) if s1 >= 0 else 0.0
                _grow(slot, at, s1, dist_at, s2, W, alive, hits, dmean, dvar, born, last, ids,
                      clusters, eage, evar, ecount, evidence, counters)  # fmt: skip
            else:
                weight = 1.0
                if novel:
                    r1 = radius(dmean[s1], dvar[s1], z)
                    weight = (r1 / dist1) ** 2
                _adapt(x, s1, dist1, s2, W, hits, dmean, dvar, last, eage, evar, ecount,
                       counters[STEP], min_lr, neighbor_rate, max_age, weight)  # fmt: skip
        counters[STEP] += 1
        _forget(alive, hits, born, last, evidence, eage, counters, forget_after)
        if counters[NEXT_NEURON] != counters[MERGED_BIRTHS] or (
            counters[N_ALIVE] != counters[MERGED_ALIVE]
        ):
            # The map changed: a merge slowed down while it was stable comes back to schedule.
            due = counters[STEP] + params[MERGE_EVERY]
            if due < counters[NEXT_MERGE]:
                counters[NEXT_MERGE] = due
        if counters[STEP] >= counters[NEXT_MERGE]:
            return i + 1, MERGE_DUE
    return X.shape[0], DONE


@njit(cache=True)
def _gather(x, s1, reach, cand, evidence):
    """Count a novel record as evidence for a neuron beyond ``s1``; True once there is enough.

    Each neuron keeps one candidate region (a running mean of the novel records it won and
    their count). A novel record within ``reach`` of the candidate adds to it; any other takes
    one away, and replaces the candidate when the count reaches zero (a majority vote, so
    the scattered tail records of a covered region cancel out while a new dense region wins).
    """
    width = x.shape[0]
    if evidence[s1] > 0.0 and squared_distance(x, cand[s1]) <= reach * reach:
        evidence[s1] += 1.0
        for k in range(width):
            xk = x[k]
            if xk == xk:
                if cand[s1, k] == cand[s1, k]:
                    cand[s1, k] += (xk - cand[s1, k]) / evidence[s1]
                else:
                    cand[s1, k] = xk
    else:
        evidence[s1] -= 1.0
        if evidence[s1] <= 0.0:
            for k in range(width):
                cand[s1, k] = x[k]
            evidence[s1] = 1.0
    return evidence[s1] >= EVIDENCE


@njit(cache=True)
def _most_redundant(W, alive, hits, born, clusters, s1, s2, step):
    """Slot whose removal raises the quantization error least, or -1 if none may go.

    Removing ``j`` hands its records to its nearest neuron of the same cluster, which costs
    about ``rate_j * |w_j - w_nearest|^2`` (its share of the stream times the squared shift).
    Only neurons of clusters with at least three neurons qualify (never the only neuron of a
    cluster, never a small cluster's), never the winner or runner-up of the record that
    needs the slot, and never a neuron too young for its win rate to mean anything.
    """
    capacity = W.shape[0]
    best = -1
    best_cost = np.inf
    for j in range(capacity):
        if not alive[j] or j in (s1, s2) or step - born[j] < MIN_RECYCLE_AGE:
            continue
        members = 0
        nearest = np.inf
        for m in range(capacity):
            if alive[m] and clusters[m] == clusters[j]:
                members += 1
                if m != j:
                    dd = squared_distance(W[j], W[m])
                    if 0.0 <= dd < nearest:
                        nearest = dd
        if members < 3 or nearest == np.inf:
            continue
        cost = hits[j] / max(step - born[j], 100) * nearest
        if cost < best_cost:
            best_cost = cost
            best = j
    return best


@njit(cache=True)
def _retire(j, alive, evidence, eage, counters):
    alive[j] = False
    evidence[j] = 0.0
    counters[N_ALIVE] -= 1
    _unlink_all(j, eage)


@njit(cache=True)
def _grow(slot, x, s1, dist1, s2, W, alive, hits, dmean, dvar, born, last, ids, clusters,
          eage, evar, ecount, evidence, counters):  # fmt: skip
    width = W.shape[1]
    step = counters[STEP]
    evidence[slot] = 0.0
    for k in range(width):
        W[slot, k] = x[k]
    alive[slot] = True
    hits[slot] = 1.0
    born[slot] = step
    last[slot] = step
    ids[slot] = counters[NEXT_NEURON]
    counters[NEXT_NEURON] += 1
    counters[N_ALIVE] += 1
    # A new neuron covers up to the winner it grew beside: radius = dist1 (mean + 2 sd).
    dmean[slot] = 0.5 * dist1
    dvar[slot] = (0.25 * dist1) ** 2
    if s1 < 0:
        clusters[slot] = counters[NEXT_CLUSTER]
        counters[NEXT_CLUSTER] += 1
        return
    clusters[slot] = clusters[s1]
    # Part of the winner's region has just gone to the new neuron: its edge statistics
    # restart, so merging sees the spread of what it wins from now on.
    for k in range(ecount.shape[0]):
        ecount[s1, k] = min(ecount[s1, k], 1.0)
    if dmean[s1] == 0.0 and dvar[s1] == 0.0:
        dmean[s1] = dmean[slot]  # the very first neuron learns its scale from the second
        dvar[s1] = dvar[slot]
    # The new neuron joins the map as a triangle with its two nearest neurons.
    _link(slot, s1, W, eage, evar, ecount, dmean, dvar, width)
    if s2 >= 0:
        _link(slot, s2, W, eage, evar, ecount, dmean, dvar, width)
        _link(s1, s2, W, eage, evar, ecount, dmean, dvar, width)


@njit(cache=True)
def _adapt(x, s1, dist1, s2, W, hits, dmean, dvar, last, eage, evar, ecount, step, min_lr,
           neighbor_rate, max_age, weight):  # fmt: skip
    capacity, width = W.shape
    hits[s1] += 1.0
    # ``weight < 1`` for a novel record: its pull on the prototype and on the distance
    # statistics is bounded (see the class docstring), so the radius does not race after it.
    rate = max(2.0 / (hits[s1] + 1.0), min_lr) * weight
    delta = dist1 - dmean[s1]
    dmean[s1] += rate * delta
    dvar[s1] = (1.0 - rate) * (dvar[s1] + rate * delta * delta)
    for j in range(capacity):
        if eage[s1, j] < 0:
            continue
        # Spread of the winner's records along the edge to j (what merging needs).
        along = 0.0
        norm = 0.0
        for k in range(width):
            u = W[j, k] - W[s1, k]
            if u == u:
                norm += u * u
                v = x[k] - W[s1, k]
                if v == v:
                    along += v * u
        if norm > 0.0:
            p2 = along * along / norm
            edge_rate = max(2.0 / (ecount[s1, j] + 2.0), min_lr)
            evar[s1, j] += edge_rate * (p2 - evar[s1, j])
            ecount[s1, j] += 1.0
        eage[s1, j] += 1
        eage[j, s1] = eage[s1, j]
        if eage[s1, j] > max_age:
            eage[s1, j] = -1
            eage[j, s1] = -1
            continue
        pull = neighbor_rate * max(1.0 / hits[j], min_lr)
        for k in range(width):
            v = x[k] - W[j, k]
            if v == v:
                W[j, k] += pull * v
    if s2 >= 0:
        _link(s1, s2, W, eage, evar, ecount, dmean, dvar, width)
    for k in range(width):
        xk = x[k]
        if xk == xk:
            if W[s1, k] == W[s1, k]:
                W[s1, k] += rate * (xk - W[s1, k])
            else:
                W[s1, k] = xk  # a feature this neuron has never seen: take it as observed
    last[s1] = step


@njit(cache=True)
def _forget(alive, hits, born, last, evidence, eage, counters, forget_after):
    step = counters[STEP]
    for j in range(alive.shape[0]):
        if not alive[j]:
            continue
        idle = step - last[j]
        if idle <= forget_after:
            continue
        if idle <= PATIENCE * (last[j] - born[j]) / hits[j]:
            continue
        if counters[N_ALIVE] <= 1:
            return
        _retire(j, alive, evidence, eage, counters)


@njit(cache=True)
def nearest(X, W, alive):
    """Nearest live slot and squared distance of every row (slot -1: no shared feature).

    The same sums as :func:`squared_distance`, term by term in the same order, so the same
    result to the last bit, but one neuron at a time over many rows: the rows' sums are
    independent, so the loop runs on SIMD lanes instead of waiting on one sum after another.
    Rows that hold the same features (in a multi-source stream, the rows of one source) are
    compared together over just those features and the neuron's, so a neuron that shares no
    feature with them costs a glance; the other rows are compared over every feature, and
    where a term is missing, term by term.
    """
    n = X.shape[0]
    best = np.full(n, np.inf)
    slot = np.full(n, -1, dtype=np.int64)
    group, masks, n_groups = _presence_groups(X)
    for g in range(n_groups):
        rows = np.flatnonzero(group == g)
        if rows.shape[0] >= MIN_GROUP_ROWS:
            _nearest_group(X, W, alive, rows, np.flatnonzero(masks[g]), best, slot)
            group[rows] = COMPARED
    _nearest_rows(X, W, alive, np.flatnonzero(group != COMPARED), best, slot)
    return slot, best


@njit(cache=True)
def _presence_groups(X):
    """Group of every row that lacks a feature, by which it lacks (-1: complete rows, rows
    with an infinity, and rows of further patterns once ``MAX_GROUPS`` are taken)."""
    n, width = X.shape
    group = np.full(n, -1, dtype=np.int64)
    masks = np.zeros((MAX_GROUPS, width), dtype=np.bool_)
    keys = np.zeros(MAX_GROUPS, dtype=np.int64)
    n_groups = 0
    mask = np.empty(width, dtype=np.bool_)
    for i in range(n):
        finite = True
        for k in range(width):
            finite &= X[i, k] - X[i, k] == 0.0  # false for NaN and infinities; vectorises
        if finite:
            continue
        infinite = False
        key = 0
        for k in range(width):
            x = X[i, k]
            mask[k] = x == x
            infinite |= abs(x) == np.inf
            key = key * 31 + mask[k]  # wraps around: a quick first test of equal patterns
        if not infinite:
            group[i], n_groups = _pattern_group(mask, key, masks, keys, n_groups)
    return group, masks, n_groups


@njit(cache=True)
def _pattern_group(mask, key, masks, keys, n_groups):
    """Index of the group with this presence pattern, made if new (-1 once all are taken)."""
    for g in range(n_groups):
        if keys[g] == key and np.all(masks[g] == mask):
            return g, n_groups
    if n_groups == MAX_GROUPS:
        return -1, n_groups
    masks[n_groups] = mask
    keys[n_groups] = key
    return n_groups, n_groups + 1


@njit(cache=True)
def _nearest_group(X, W, alive, rows, present, best, slot):
    """:func:`nearest` for rows that all hold exactly the features ``present`` (not all of
    them), all finite."""
    m = rows.shape[0]
    width = X.shape[1]
    columns = np.empty((present.shape[0], m))
    for c in range(present.shape[0]):
        for r in range(m):
            columns[c, r] = X[rows[r], present[c]]
    total = np.empty(m)
    for j in range(W.shape[0]):
        if not alive[j]:
            continue
        total[:] = 0.0
        known = 0
        for c in range(present.shape[0]):
            w = W[j, present[c]]
            if w != w:  # missing on the neuron's side
                continue
            known += 1
            column = columns[c]
            for r in range(m):
                diff = column[r] - w
                total[r] += diff * diff
        if known == 0:
            continue
        for r in range(m):
            dd = total[r] * width / known  # known < width: the rows lack a feature
            i = rows[r]
            if dd < best[i]:
                best[i] = dd
                slot[i] = j


@njit(cache=True)
def _nearest_rows(X, W, alive, rows, best, slot):
    """:func:`nearest` for any rows: over every feature, term by term where one is missing."""
    m = rows.shape[0]
    width = X.shape[1]
    # Every row (rows is 0, 1, ..., n - 1): no gather needed.
    columns = np.ascontiguousarray(X.T if m == X.shape[0] else X[rows].T)
    total = np.empty(m)
    for j in range(W.shape[0]):
        if not alive[j]:
            continue
        total[:] = 0.0
        for k in range(width):
            w = W[j, k]
            column = columns[k]
            for r in range(m):
                diff = column[r] - w
                total[r] += diff * diff
        for r in range(m):
            i = rows[r]
            dd = total[r]
            if dd != dd:  # a feature missing on either side: the sum over the shared ones
                dd = _partial_distance(X[i], W[j])
                if dd < 0.0:
                    continue
            if dd < best[i]:
                best[i] = dd
                slot[i] = j
