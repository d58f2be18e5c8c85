"""The Self-Growth Map: fast online clustering of imbalanced streams, number of clusters unknown."""

from __future__ import annotations

import numpy as np
from river import base

from models.base import BatchClusterer, FeatureIndex, Snapshot
from models.cluster import _sgm_kernels as K
from models.cluster.merging import DEFAULT_MIN_GAP, hierarchical_merge, stable_cluster_ids

__all__ = ["SelfGrowthMap"]

_FIRST_MERGE = 32
_INITIAL_CAPACITY = 16
# A stable map is re-merged at most this many times less often than ``merge_every``.
_STABLE_SLOWDOWN = 4
_STATE_ARRAYS = (
    "W", "alive", "hits", "dmean", "dvar", "born", "last", "ids", "clusters", "eage", "evar",
    "ecount", "cand", "evidence", "counters",
)  # fmt: skip


class SelfGrowthMap(BatchClusterer, Snapshot, base.Clusterer):
    """Self-Growth Map (SGM) with hierarchical merging: online clustering, k never given.

    The map grows neurons where the data is, keeping deliberately more neurons than there are
    clusters so that a small cluster beside large ones gets neurons of its own. Every so often
    hierarchical merging (:mod:`models.cluster.merging`) joins the neurons that split one
    cluster, guided by the density gap (a scale-free bimodality ratio) along the map's edges;
    the clusters are what is left once every merge below ``min_gap`` is applied (a light
    neuron between heavy ones joins one cluster and never links two). ``predict``
    returns the merged cluster id, stable across re-merges.

    **Learning rule** (one record ``x``; distances skip missing features and are rescaled by
    ``d / d_observed``). Find the winner ``s1`` and runner-up ``s2``. Each neuron keeps a hit
    count ``n``, a running mean ``m`` and variance ``v`` of the distances of the records it won;
    its radius is ``m + radius_z * sqrt(v)`` — a quantile of its own distance distribution,
    which means the same thing in 2 and in 600 dimensions (a fixed multiple of the RMS would
    not: distances concentrate as ``d`` grows).

    * *Novel* records lie outside the winner's radius **and** outside the runner-up's (a
      record in the overlap of two neurons' radii is covered). A novel record grows a neuron
      at once when the map has fewer than 3 neurons, when it lies beyond ``2`` winner radii
      (no tail reaches that far: it is a new region), or when the winner and the runner-up
      are both still young (fewer than 20 wins each: their radii are estimates from too few
      distances, and at the start of a standardised stream they still shrink, so "outside"
      there means "not yet covered"; requiring both keeps a neuron just grown beside a
      settled one from starting a chain of immediate growth into the tail).
      Otherwise it is *evidence*: every neuron keeps one candidate region (running mean and
      count of the novel records it won); a novel record within half the winner's radius of
      the candidate adds one, any other takes one away and replaces the candidate at zero.
      At a count of 3 a neuron grows at the candidate's mean. This majority vote is what
      makes growth stop: the tail records of a covered region are scattered around it and
      cancel out, while a new dense region (a new or moved cluster) wins three votes within
      a few of its own records. A new neuron's radius equals its distance to the winner; it
      is linked to the winner and the runner-up (and those two to each other) — a triangle.
      The winner's edge statistics (below) restart: part of its region has just gone to the
      new neuron, and merging must judge the spread of what the winner wins from now on, not
      of what it won while it covered both (a neuron that straddled two clusters early in a
      standardised stream otherwise hides the valley between them for hundreds of records).
      Neurons that share no feature (records of sources with disjoint fields) are never
      linked.
    * *Otherwise learn*: ``n += 1``, rate ``max(2 / (n + 1), min_learning_rate)`` (so a young
      neuron moves fast, an old one settles, and the floor keeps tracking slow drift), times
      ``(radius / distance)^2`` for a novel record (a bounded influence, as in robust
      M-estimation: a record's pull on the second moment of distances is capped at about a
      radius squared, so the tail of a covered region still counts nearly in full while a
      new region's records do not drag the radius over themselves within a few dozen
      records, which would hide them from growth and from drift detection); update ``m``,
      ``v`` and the winner's prototype with that rate; pull each linked neighbour by
      ``neighbor_rate`` times its own rate; age the winner's edges by one and drop those older
      than ``max_edge_age``; link winner and runner-up with age 0 (competitive Hebbian links).
      For every edge it keeps the running second moment of the winner's records projected on
      the edge (rate ``max(2 / (c + 2), min_learning_rate)`` after ``c`` updates): merging
      needs exactly that, so it never needs raw points. The rate ``2 / (n + 1)`` rather than
      ``1 / n`` weighs the ``i``-th of ``n`` records in proportion to ``i`` (a linearly
      weighted mean) instead of equally: the first records a neuron won — on a standardised
      stream, records encoded while the running mean and variance were still settling, which
      made the earliest neurons straddle two clusters — fade out as ``1 / n^2`` instead of
      ``1 / n``, at the price of a variance 4/3 of the plain mean's.
    * *Forget*: a neuron idle for more than ``forget_after`` records and more than 8 of its own
      mean intervals between wins is removed with its edges (neurons of a rare cluster win
      rarely but regularly and are kept; those of a vanished cluster go).
    * *Cap*: at ``max_neurons`` every growth recycles a neuron, so it waits for a region, not
      a record. A vote completed within ``2`` winner radii grows nothing there (it is passed
      by chance now and then in the tail of any region), and a record beyond ``2`` radii no
      longer grows one at once: it votes, replacing a candidate of the tail (one within ``2``
      radii) instead of joining it, and a vote such a far record completes grows a neuron.
      There, a novel record counts with the candidate within half its own distance to the
      winner (a region farther out may spread wider) instead of half the winner's radius.
      Beside two young neurons growth stays at once. (Each recycled neuron's region grew
      another, a churn without end. On the synthetic three-source stream, stationary, 300,000
      records, three seeds, per 50,000 records after the first 50,000: with far records still
      recycling at once, 20-123 births, 10 drift events in all; with the rule above, 0-39
      births, 0-4 after 100,000 records, and 2 drift events.) The price: a new cluster close
      beside a covered one waits for far records of its own, or for the drift monitor, whose
      reaction (:meth:`adapt`) makes the neurons there young again, and beside young neurons
      growth is at once. (A new cluster of 10 % of the records, 5 standard deviations beside
      one of three, in a map full at 9 neurons: its own cluster after 1,000-4,000 records
      with the monitor reacting, against 500 before the rule, and merged into its neighbour
      again later in one run of three; 8 apart, 500 either way.) The most redundant neuron is
      the one whose removal raises the quantization error least, estimated as its win rate
      times its squared distance to the nearest neuron of its own cluster. Only neurons of
      clusters with at least 3 neurons qualify (never the only neuron of a cluster, never a
      small cluster's), never the record's winner or runner-up, and never a neuron younger
      than 200 records (its win rate means nothing yet). If none qualifies the winner learns
      the record (with the bounded influence above). A record that shares no feature with any
      neuron (a new source, or only new fields) has no winner to absorb it, so it replaces
      the neuron that has gone longest without winning.
    * *Merge* at records 32, 64, 128, ... and then every ``merge_every`` records, or on
      :meth:`merge`. Once the map is stable — no neuron born or removed since the last
      merge, and that merge moved no neuron to another cluster — a due merge is skipped and
      the interval doubles, up to ``4 * merge_every``, the pace at which a stable map is still
      merged: merging it would mostly repeat its clusters, and they follow slow changes (a
      young neuron's growing share, prototype drift) a few thousand records later at most.
      Any birth or removal brings the next merge within ``merge_every``.
      Between merges a new neuron carries the cluster of the winner it grew beside.

    **Discrete fields.** Records with the same value of a categorical or ordinal field sit at
    one point of its coordinates, so a cluster whose records mix values of such fields is a set
    of parallel sheets, one per combination of values, with nothing between them; a density
    valley between two of them is no evidence of two clusters (there can never be records
    between two values). Told which columns belong to which discrete field
    (:meth:`set_discrete_groups`), merging reads each field that differs between two neurons
    as spread over that difference, so one differing field alone shows no valley; several
    together still can (see :func:`models.cluster.merging.hierarchical_merge`). Without it
    every column is continuous.

    Why these defaults: data is expected standardised (unit variance per feature), but the
    rule has no absolute length scale — radii are learned from the data. ``radius_z = 2``
    leaves a few percent of a Gaussian cluster's records outside a neuron; with the runner-up
    check and the evidence vote this grows a handful of neurons per cluster and then (nearly)
    stops: measured on 20,000-record stationary Gaussian streams, 4-11 neurons for 3-10
    clusters in 20 dimensions, constant from 2,000 records on; in 2 dimensions the tail is a
    thin ring where votes agree more often, and the map still grows slowly (33-63 neurons
    after 20,000 records, about half of them grown after record 10,000). ``min_gap = 3`` (a
    density valley down to a third) is explained in :mod:`models.cluster.merging`.
    ``min_learning_rate = 0.005`` is a memory of about 200 wins per neuron. ``merge_every =
    500``: the clusters are those of the last merge, so a neuron grown for a cluster that
    was covered by a neighbour's radius until then is a cluster of its own at most 500
    records later (with 1,000, a neuron grown after record 1,000 of a 2,000-record stream
    was never merged into the clusters it reported); a merge costs about 1 ms, and a stable
    map is still merged at most every 2,000 records.

    Parameters
    ----------
    max_neurons
        Most neurons alive at once (memory and time per record are linear in it).
    radius_z
        Growth radius of a neuron, in standard deviations of its winning distances above
        their mean.
    min_learning_rate
        Floor of the decaying rate ``1 / hits``.
    neighbor_rate
        Fraction of its own rate by which a winner's neighbour moves towards the record.
    max_edge_age
        Edges of a winner not refreshed within this many of its wins are dropped.
    forget_after
        Records a neuron may stay idle before it can be forgotten.
    merge_every
        Records between two automatic runs of hierarchical merging.
    min_gap
        Smallest density gap (bimodality ratio, >= 1) that separates two clusters (see
        :func:`models.cluster.merging.hierarchical_merge`).
    seed
        Seed for reproducibility. The rule draws no random numbers today (it is deterministic
        in the order of records); the seed is kept so that snapshots and clones record it.

    Attributes
    ----------
    n_clusters
        Clusters among the live neurons.
    n_neurons
        Live neurons.
    neuron_ids, prototypes, neuron_clusters, neuron_counts
        Per live neuron: its stable id (allocated monotonically, never reused), its prototype
        (``NaN`` for a feature it has never seen), its cluster id and its hit count.

    Examples
    --------
    Three blobs of 3000, 300 and 60 records (imbalance ratio 50), shuffled:

    >>> import numpy as np
    >>> from models.cluster import SelfGrowthMap
    >>> rng = np.random.default_rng(7)
    >>> centres = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    >>> y = np.repeat([0, 1, 2], [3000, 300, 60])
    >>> X = centres[y] + rng.normal(size=(len(y), 2))
    >>> order = rng.permutation(len(y))
    >>> X, y = X[order], y[order]
    >>> sgm = SelfGrowthMap(seed=0)
    >>> sgm.learn_many(X)
    >>> sgm.n_clusters
    3
    >>> from sklearn.metrics import adjusted_rand_score
    >>> round(adjusted_rand_score(y, sgm.predict_many(X)), 2)
    1.0
    >>> sgm.predict_one({0: 10.0, 1: 0.0}) == int(sgm.predict_many(np.array([[10.0, 0.0]]))[0])
    True

    References
    ----------
    Y. Zhang, Y. Cheung, A. Zeng et al., "Learning Self-Growth Maps for Fast and Accurate
    Imbalanced Streaming Data Clustering", IEEE Transactions on Neural Networks and Learning
    Systems, 2025 (arXiv:2404.09243). The paper gives the map and the merging idea; the
    per-record rule above and its defaults are this package's own design.
    """

    def __init__(
        self,
        max_neurons: int = 100,
        radius_z: float = 2.0,
        min_learning_rate: float = 0.005,
        neighbor_rate: float = 0.01,
        max_edge_age: int = 200,
        forget_after: int = 10_000,
        merge_every: int = 500,
        min_gap: float = DEFAULT_MIN_GAP,
        seed: int | None = None,
    ):
        self.max_neurons = max_neurons
        self.radius_z = radius_z
        self.min_learning_rate = min_learning_rate
        self.neighbor_rate = neighbor_rate
        self.max_edge_age = max_edge_age
        self.forget_after = forget_after
        self.merge_every = merge_every
        self.min_gap = min_gap
        self.seed = seed
        self._reset()

    # -- state ---------------------------------------------------------------------------------

    def _reset(self) -> None:
        if self.max_neurons < 1:
            raise ValueError("max_neurons must be at least 1")
        self._features = FeatureIndex()
        self._allocate(min(_INITIAL_CAPACITY, self.max_neurons), 0)
        self._counters = np.zeros(K.N_COUNTERS, dtype=np.int64)
        self._counters[K.NEXT_MERGE] = _FIRST_MERGE
        self._merge_sequence = np.zeros((0, 3))
        self._discrete = np.zeros(0, dtype=np.int64)  # no column known to be discrete

    def _allocate(self, capacity: int, width: int) -> None:
        self._W = np.full((capacity, width), np.nan)
        self._alive = np.zeros(capacity, dtype=np.bool_)
        self._hits = np.zeros(capacity)
        self._dmean = np.zeros(capacity)
        self._dvar = np.zeros(capacity)
        self._born = np.zeros(capacity, dtype=np.int64)
        self._last = np.zeros(capacity, dtype=np.int64)
        self._ids = np.full(capacity, -1, dtype=np.int64)
        self._clusters = np.full(capacity, -1, dtype=np.int64)
        self._eage = np.full((capacity, capacity), -1, dtype=np.int64)
        self._evar = np.zeros((capacity, capacity))
        self._ecount = np.zeros((capacity, capacity))
        self._cand = np.full((capacity, width), np.nan)
        self._evidence = np.zeros(capacity)

    def _params_array(self) -> np.ndarray:
        params = np.zeros(K.N_PARAMS)
        params[K.Z] = self.radius_z
        params[K.MAX_AGE] = self.max_edge_age
        params[K.MIN_LR] = self.min_learning_rate
        params[K.NEIGHBOR_RATE] = self.neighbor_rate
        params[K.FORGET_AFTER] = self.forget_after
        params[K.MAX_NEURONS] = self.max_neurons
        params[K.MERGE_EVERY] = self.merge_every
        return params

    def _enlarge(self) -> None:
        """Double the slot capacity (up to ``max_neurons``), keeping every slot in place."""
        old = self._capacity
        new = min(max(2 * old, 1), self.max_neurons)
        if new <= old:
            raise RuntimeError("no free slot below max_neurons")  # unreachable: cap checked
        grown = {}
        for name in ("hits", "dmean", "dvar", "born", "last", "evidence"):
            array = getattr(self, f"_{name}")
            grown[name] = np.concatenate([array, np.zeros(new - old, array.dtype)])
        for name in ("ids", "clusters"):
            grown[name] = np.concatenate([getattr(self, f"_{name}"), np.full(new - old, -1)])
        self._alive = np.concatenate([self._alive, np.zeros(new - old, np.bool_)])
        for name in ("W", "cand"):
            matrix = np.full((new, self._W.shape[1]), np.nan)
            matrix[:old] = getattr(self, f"_{name}")
            setattr(self, f"_{name}", matrix)
        for name, fill in (("eage", -1), ("evar", 0.0), ("ecount", 0.0)):
            matrix = getattr(self, f"_{name}")
            bigger = np.full((new, new), fill, dtype=matrix.dtype)
            bigger[:old, :old] = matrix
            setattr(self, f"_{name}", bigger)
        for name, array in grown.items():
            setattr(self, f"_{name}", array)

    @property
    def _capacity(self) -> int:
        return self._W.shape[0]

    def _widen(self, width: int) -> None:
        """New features appeared: prototypes get ``NaN`` (unknown) columns for them."""
        if width > self._W.shape[1]:
            extra = np.full((self._capacity, width - self._W.shape[1]), np.nan)
            self._W = np.hstack([self._W, extra])
            self._cand = np.hstack([self._cand, extra])

    def _fit_width(self, X: np.ndarray) -> np.ndarray:
        width = self._W.shape[1]
        if X.shape[1] == width:
            return X
        if X.shape[1] > width:
            return np.ascontiguousarray(X[:, :width])
        padded = np.full((X.shape[0], width), np.nan)
        padded[:, : X.shape[1]] = X
        return padded

    # -- learning and prediction ---------------------------------------------------------------

    def _learn_rows(self, X: np.ndarray) -> None:
        self._widen(X.shape[1])
        X = self._fit_width(X)
        params = self._params_array()
        present = np.empty(X.shape[1], dtype=np.int64)  # the kernel's scratch space
        row = 0
        while row < X.shape[0]:
            row, code = K.learn_rows(
                X, row, self._W, self._alive, self._hits, self._dmean, self._dvar, self._born,
                self._last, self._ids, self._clusters, self._eage, self._evar, self._ecount,
                self._cand, self._evidence, self._counters, params, present,
            )  # fmt: skip
            if code == K.NEED_SLOT:
                self._enlarge()
            elif code == K.MERGE_DUE:
                self._scheduled_merge()

    def _scheduled_merge(self) -> None:
        """Merge when due, unless the map is stable (see *Merge* in the class docstring)."""
        c = self._counters
        step = int(c[K.STEP])
        changed = c[K.NEXT_NEURON] != c[K.MERGED_BIRTHS] or c[K.N_ALIVE] != c[K.MERGED_ALIVE]
        if changed or c[K.MERGE_MOVED] or step < 2 * self.merge_every:
            self.merge()
            return
        slowest = _STABLE_SLOWDOWN * self.merge_every
        if c[K.MERGE_INTERVAL] >= slowest:
            # Still merged at the slowest pace: weights and edge statistics move without any
            # birth (a neuron grown for a new cluster gains its share only as records come).
            self.merge()
            c[K.MERGE_INTERVAL] = slowest
            c[K.NEXT_MERGE] = step + slowest
            return
        interval = min(2 * max(int(c[K.MERGE_INTERVAL]), 1), slowest)
        c[K.MERGE_INTERVAL] = interval
        c[K.NEXT_MERGE] = step + interval

    def _nearest(self, X: np.ndarray):
        """Winner slot (-1: the row shares no feature with the map), squared distance, cluster."""
        slot, squared = K.nearest(self._fit_width(X), self._W, self._alive)
        cluster = self._clusters[slot]
        unmatched = slot < 0
        if unmatched.any():
            cluster[unmatched] = self._fallback_cluster()
        return slot, squared, cluster

    def _fallback_cluster(self) -> int:
        """Cluster for a record sharing no feature with the map: the heaviest neuron's."""
        if not self._alive.any():
            return 0
        hits = np.where(self._alive, self._hits, -1.0)
        return int(self._clusters[int(np.argmax(hits))])

    def _predict_rows(self, X: np.ndarray) -> np.ndarray:
        return self._nearest(X)[2]

    def transform_many(self, X) -> dict:
        """Per row: winning ``neuron`` id, ``distance`` to it, ``novelty``, ``cluster``.

        ``novelty`` is the distance over the winner's radius: above 1 the record lies outside
        every neuron's radius (the winner is the nearest). A row that shares no feature with
        the map gets neuron -1, ``NaN`` distance and novelty, and the heaviest cluster. The
        model is not changed.
        """
        slot, squared, cluster = self._nearest(self._matrix(X))
        unmatched = slot < 0
        distance = np.where(unmatched, np.nan, np.sqrt(squared))
        with np.errstate(divide="ignore", invalid="ignore"):
            radius = self._dmean[slot] + self.radius_z * np.sqrt(self._dvar[slot])
            novelty = np.where(
                radius > 0.0, distance / radius, np.where(distance > 0.0, np.inf, 0.0)
            )
        novelty[unmatched] = np.nan
        neuron = np.where(unmatched, -1, self._ids[slot])
        return {"neuron": neuron, "distance": distance, "novelty": novelty, "cluster": cluster}

    # -- merging and drift ---------------------------------------------------------------------

    def merge(self) -> None:
        """Re-run hierarchical merging now; cluster ids stay stable by neuron overlap."""
        step = int(self._counters[K.STEP])
        interval = min(self.merge_every, max(_FIRST_MERGE, step))
        self._counters[K.NEXT_MERGE] = step + interval
        self._counters[K.MERGE_INTERVAL] = interval
        self._counters[K.MERGED_BIRTHS] = self._counters[K.NEXT_NEURON]
        self._counters[K.MERGED_ALIVE] = self._counters[K.N_ALIVE]
        rows = np.flatnonzero(self._alive)
        if len(rows) == 0:
            return
        a, b = np.nonzero(self._eage[np.ix_(rows, rows)] >= 0)
        upper = a < b
        a, b = a[upper], b[upper]
        ra, rb = rows[a], rows[b]
        edges = np.column_stack([a, b])
        edge_variances = np.column_stack([self._evar[ra, rb], self._evar[rb, ra]])
        width = max(self._W.shape[1], 1)
        variances = (self._dmean[rows] ** 2 + self._dvar[rows]) / width
        result = hierarchical_merge(
            self._W[rows],
            self._win_rates(rows),
            edges,
            edge_variances,
            variances,
            self.min_gap,
            discrete_groups=self._discrete,
        )
        next_cluster = int(self._counters[K.NEXT_CLUSTER])
        ids, next_id = stable_cluster_ids(
            result.labels, self._clusters[rows], self._hits[rows], next_cluster
        )
        self._counters[K.MERGE_MOVED] = int(not np.array_equal(ids, self._clusters[rows]))
        self._clusters[rows] = ids
        self._counters[K.NEXT_CLUSTER] = next_id
        self._merge_sequence = result.sequence

    def set_discrete_groups(self, groups) -> None:
        """Say which columns hold discrete fields, for merging (see *Discrete fields* above).

        ``groups[j]`` is the same number ``>= 0`` for the columns of one categorical or
        ordinal field and -1 for a continuous column; columns past its end are continuous.
        An encoder gives it (:attr:`stream.encoding.MixedEncoder.discrete_groups`); it may
        grow as the encoder adds columns.
        """
        groups = np.asarray(groups, dtype=np.int64)
        if groups.ndim != 1:
            raise ValueError(f"discrete groups are one number per column, got {groups.shape}")
        self._discrete = groups.copy()

    def _win_rates(self, rows: np.ndarray) -> np.ndarray:
        """Wins per record since each neuron was born: its share of the stream.

        Merging weighs neurons by this rather than by raw hits, so a neuron grown late is
        not mistaken for a sparse region. Ages are floored at 100 records so that a neuron
        a few records old does not get an absurd rate from two lucky wins.
        """
        age = np.maximum(self._counters[K.STEP] - self._born[rows], 100)
        return self._hits[rows] / age

    def adapt(self, neurons=None) -> None:
        """React to a drift alarm: learn faster locally, drop stale neurons, re-merge.

        For the given neuron ids (``None`` = all), the hit count is cut to at most 10, so the
        decayed learning rate ``1 / hits`` goes back up to 0.1 and the neurons follow the new
        concept quickly (their age is cut in proportion, so the share of the stream they win,
        which merging weighs them by, is unchanged); among them, neurons idle for more than 100
        records and more than 4 of their own mean intervals between wins are removed (what used
        to win there has gone).
        Then hierarchical merging runs again.
        """
        alive = self._alive.copy()
        chosen = alive if neurons is None else alive & np.isin(self._ids, np.asarray(neurons))
        step = self._counters[K.STEP]
        cut = np.minimum(self._hits, 10.0)
        # Merging weighs a neuron by its wins per record of age; shortening the age with the
        # count keeps that share, so a re-learning neuron is not mistaken for a sparse one.
        age = (step - self._born) * cut / np.maximum(self._hits, 1.0)
        self._born[chosen] = step - np.ceil(age[chosen]).astype(np.int64)
        self._hits[chosen] = cut[chosen]
        idle = step - self._last
        interval = (self._last - self._born) / np.maximum(self._hits, 1.0)
        stale = chosen & (idle > 100) & (idle > 4.0 * interval)
        if stale.sum() >= alive.sum():
            stale[np.argmin(np.where(stale, idle, np.iinfo(np.int64).max))] = False
        for slot in np.flatnonzero(stale):
            self._alive[slot] = False
            self._eage[slot, :] = -1
            self._eage[:, slot] = -1
        self._counters[K.N_ALIVE] = int(self._alive.sum())
        self.merge()

    # -- read-only views -----------------------------------------------------------------------

    @property
    def n_neurons(self) -> int:
        return int(self._alive.sum())

    @property
    def n_clusters(self) -> int:
        return len(np.unique(self._clusters[self._alive]))

    @property
    def neuron_ids(self) -> np.ndarray:
        return self._ids[self._alive].copy()

    @property
    def prototypes(self) -> np.ndarray:
        return self._W[self._alive].copy()

    @property
    def neuron_clusters(self) -> np.ndarray:
        return self._clusters[self._alive].copy()

    @property
    def neuron_counts(self) -> np.ndarray:
        return self._hits[self._alive].copy()

    @property
    def neuron_radii(self) -> np.ndarray:
        alive = self._alive
        return self._dmean[alive] + self.radius_z * np.sqrt(self._dvar[alive])

    @property
    def edges(self) -> np.ndarray:
        """``(m, 2)`` neuron ids of the map's links."""
        rows = np.flatnonzero(self._alive)
        a, b = np.nonzero(np.triu(self._eage[np.ix_(rows, rows)] >= 0, k=1))
        return np.column_stack([self._ids[rows[a]], self._ids[rows[b]]]).astype(np.int64)

    @property
    def merge_sequence(self) -> np.ndarray:
        """Last merge sequence, rows ``(row_a, row_b, gap)`` over live-neuron rows."""
        return self._merge_sequence.copy()

    # -- snapshots -----------------------------------------------------------------------------

    def _get_state(self) -> dict:
        state = {name: getattr(self, f"_{name}").copy() for name in _STATE_ARRAYS}
        state["features"] = self._features.names
        state["merge_sequence"] = self._merge_sequence.copy()
        state["discrete"] = self._discrete.copy()
        return state

    def _set_state(self, state: dict) -> None:
        capacity = len(state["alive"])
        if capacity > self.max_neurons or state["W"].shape[0] != capacity:
            raise ValueError("snapshot state does not fit max_neurons")
        for name in _STATE_ARRAYS:
            value = np.asarray(state[name])
            if name in ("eage", "evar", "ecount") and value.shape != (capacity, capacity):
                raise ValueError(f"snapshot array {name} has shape {value.shape}")
            setattr(self, f"_{name}", np.ascontiguousarray(value.copy()))
        self._alive = self._alive.astype(np.bool_)
        self._features = FeatureIndex(state["features"])
        self._merge_sequence = np.asarray(state["merge_sequence"], dtype=np.float64).reshape(-1, 3)
        # Snapshots older than the discrete groups have none: every column continuous.
        self._discrete = np.asarray(state.get("discrete", []), dtype=np.int64).reshape(-1)

    @classmethod
    def _unit_test_params(cls):
        yield {"seed": 0}
        yield {"max_neurons": 8, "merge_every": 50, "forget_after": 200, "seed": 1}
