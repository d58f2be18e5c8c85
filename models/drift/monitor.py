"""Cluster-wise first, global second: the drift monitor of a Self-Growth Map."""

from __future__ import annotations

import copy

import numpy as np

from models.drift._common import Detector
from models.drift.birth import NeuronBirth
from models.drift.events import DriftEvent
from models.drift.exceedance import _ExceedanceTable
from models.drift.hellinger import HellingerShift
from models.drift.mass import NoveltyMass
from models.drift.rate import RateCUSUM
from models.drift.share import DOWN, NEW, UP, ShareCUSUM

__all__ = ["DriftMonitor"]

# When several detectors fire on the same record, the most specific one names the event.
_PRIORITY = (
    "cluster_novelty",
    "neuron_birth",
    "novelty_mass",
    "far_novelty",
    "cluster_share",
    "share_hellinger",
    "global_novelty",
    "global_qe",
)

# The statistics a scan advances; saved before a tentative scan and restored after it.
_SCANNERS = ("_novelty", "_qe", "_share", "_rate", "_far", "_hellinger", "_mass", "_birth")


class DriftMonitor(Detector):
    """Active drift detection on the output of a clustering map, per cluster and globally.

    A drift confined to a small cluster barely moves map-wide statistics, so the monitor watches
    every cluster on its own first:

    * **cluster novelty** - per cluster, an exceedance CUSUM (see ``ExceedanceCUSUM``) on its
      members' winner distances, against the cluster's own upper distance quantile. It fires when
      a cluster's members keep landing outside its usual neighbourhood: the cluster moved, or new
      records settle next to it. (Distances, not the map's novelty ratio: a map at its neuron cap
      widens the radius of the neuron that absorbs new records, so the ratio normalises away
      exactly the change looked for.)
    * **cluster share** - per cluster, Bernoulli CUSUMs on its share of the traffic (see
      ``ShareCUSUM``): shares that rise or fall by ``ratio``, clusters that vanish, and clusters
      that newly appear and reach ``new_share``.
    * **novelty mass** - when the map's winner ids are given (``neuron``), per neuron, a CUSUM
      on the share of the stream that arrives outside every radius at that neuron (see
      ``NoveltyMass``). A map at its neuron cap absorbs a new cluster into the nearest neuron
      under its neighbour's cluster id, so no cluster id, share or cluster-wide distance shows
      it soon; novel records piling up at one neuron do. It reports a ``new_cluster`` named by
      the absorbing neuron (``DriftEvent.neurons``) and its cluster at that record.
    * **neuron birth** - when the winner ids are given, per neuron the map grows after the
      warm-up in a settled map (no event within ``cooldown``), a CUSUM on the share of the
      stream it wins while its cluster has no older neuron (see ``NeuronBirth``). A map that
      grows a neuron for a dense new region, and gives it a cluster id at its next merge,
      shows a new cluster this way; a neuron grown inside a covered region joins its
      neighbours' cluster and is no evidence. It reports a ``new_cluster`` named by the born
      neuron and its cluster at that record.
    * **far novelty** - the rate of records that land far outside the map (novelty above
      ``far``: farther from their winner than ``far`` times its radius), against its learned
      rate plus ``new_share`` (``RateCUSUM``). A settled map's own tail records lie just
      outside a radius and almost never beyond twice it; the records of a new cluster, until
      the map has grown neurons for them, all do. The test pools the whole map, so it sees a
      new region however its records split between the neurons nearest to it, and it needs no
      cluster id: it is usually the first to see a new cluster, within a few hundred records
      at a 2% share. It reports a ``new_cluster`` named by the neurons that won those records
      in the batch (the clusters they belong to). A cluster that jumps into empty space is
      seen this way too, as a new cluster at its new place (its old place empties more
      slowly than its records arrive at the new one).

    and the map as a whole second:

    * **global novelty** - the rate of records outside every neuron's radius (``RateCUSUM``);
    * **global QE** - an exceedance CUSUM on the winner distance of all records (quantization
      error);
    * **share Hellinger** - the shift of the whole cluster-share distribution between windows
      (``HellingerShift``, chi-square calibrated).

    Every detector's false alarm rate is bounded by construction, without tuning on drifted
    data: at most one in ``exp(threshold)`` observations per CUSUM (Wald), ``alpha`` per
    Hellinger window, and the novelty-mass and neuron-birth families as a whole one in
    ``exp(threshold)`` records each. With the defaults (``threshold = 16``, ``alpha = 1e-4`` per
    1,000 records) and ``K`` clusters, that is about ``(2K + 5) * 1.1e-7 + 2e-7`` alarms per
    record: 0.3 per 100,000
    records for ten clusters, within a budget of one per 100,000 with room for the error of the
    learned references. One drift gives one event: once any detector fires the monitor emits a typed
    ``DriftEvent``, stays silent for ``cooldown`` records while the map re-adapts and its
    references re-learn (the references of the clusters concerned are discarded; the shares are
    estimated afresh), then re-arms. A gradual drift can outlast the cool-down: a cluster's
    share that goes on moving the same way after its event raises no second one (within
    ``horizon`` records of the last alarm on it, the monitor only re-learns). Records are
    processed in order and the result does not depend on how the stream is cut into batches.

    The event's ``evidence`` carries the pre-drift quantization-error band of the clusters
    concerned (mean, standard deviation and count of their in-control winner distances), which
    ``ReadaptationTracker`` uses to time the map's recovery.

    The monitor keeps the last ``history`` events (``events``; ``n_events`` counts them all),
    so its snapshot stays bounded on a stream that runs for months.

    Parameters
    ----------
    threshold
        CUSUM decision threshold of every CUSUM (log-likelihood ratio units).
    cooldown
        Records after an event during which no further event is raised.
    warmup
        Records before share and rate detectors are armed (after the start and after an event).
    level
        In-control exceedance probability of the novelty and QE references.
    alarm_rate
        Exceedance rate the novelty and QE CUSUMs are tuned to detect.
    reference_size
        In-control values kept per cluster for the novelty reference.
    min_reference
        Members a cluster needs before its novelty is tested.
    ratio
        Share (and global novelty rate) change factor to detect.
    horizon
        Memory of share and rate estimates, in records.
    min_share
        Shares below this are not tested for decrease.
    new_share
        Share at which a newly appeared cluster (or novel mass at one neuron) is reported.
    far
        Novelty above which a record lies far outside the map (see *far novelty*).
    window
        Records per Hellinger window.
    alpha
        Per-window false alarm probability of the Hellinger test.
    min_distance
        Smallest Hellinger distance reported.
    history
        Events kept in ``events`` (and in the snapshot), newest last.

    Attributes
    ----------
    drift_detected
        Whether the last update raised an event.
    n_records
        Records seen.
    events
        The last ``history`` events raised, oldest first.
    n_events
        Events raised since the start.

    Examples
    --------
    A stream with three clusters; from record 20,000 on, the smallest one (5% of the records)
    is displaced and its members land three times farther from their neurons:

    >>> import numpy as np
    >>> rng = np.random.default_rng(11)
    >>> n = 30_000
    >>> cluster = rng.choice([10, 20, 30], size=n, p=[0.6, 0.35, 0.05])
    >>> distance = rng.gamma(4.0, 0.25, n)
    >>> distance[(cluster == 30) & (np.arange(n) >= 20_000)] *= 3.0
    >>> novelty = distance / 2.0
    >>> monitor = DriftMonitor()
    >>> events = monitor.update_many(cluster, distance, novelty, event_time=np.arange(n) / 100)
    >>> [(e.kind, e.clusters, e.index, e.detector) for e in events]
    [('moved_cluster', (30,), 20262, 'cluster_novelty')]

    References
    ----------
    E. S. Page, "Continuous inspection schemes", Biometrika 41, 1954.
    M. R. Reynolds Jr. and Z. G. Stoumbos, "A CUSUM chart for monitoring a proportion when
    inspecting continuously", Journal of Quality Technology 31(1), 1999.
    G. Ditzler and R. Polikar, "Hellinger distance based drift detection for nonstationary
    environments", IEEE SSCI CIDUE, 2011.
    """

    def __init__(
        self,
        threshold: float = 16.0,
        cooldown: int = 2000,
        warmup: int = 2000,
        level: float = 0.05,
        alarm_rate: float = 0.5,
        reference_size: int = 512,
        min_reference: int = 64,
        ratio: float = 2.0,
        horizon: int = 20000,
        min_share: float = 0.005,
        new_share: float = 0.01,
        far: float = 2.0,
        window: int = 1000,
        alpha: float = 1e-4,
        min_distance: float = 0.05,
        history: int = 100,
    ):
        super().__init__()
        self.threshold = threshold
        self.cooldown = cooldown
        self.warmup = warmup
        self.level = level
        self.alarm_rate = alarm_rate
        self.reference_size = reference_size
        self.min_reference = min_reference
        self.ratio = ratio
        self.horizon = horizon
        self.min_share = min_share
        self.new_share = new_share
        self.far = far
        self.window = window
        self.alpha = alpha
        self.min_distance = min_distance
        self.history = history
        self._reset()

    # -- state -------------------------------------------------------------------------------

    def _reset(self) -> None:
        super()._reset()
        self._novelty = _ExceedanceTable(self.reference_size)
        self._qe = _ExceedanceTable(self.reference_size)
        self._qe.ensure(1)
        self._share = ShareCUSUM(
            ratio=self.ratio,
            threshold=self.threshold,
            warmup=self.warmup,
            horizon=self.horizon,
            min_share=self.min_share,
            new_share=self.new_share,
        )
        self._rate = RateCUSUM(
            ratio=self.ratio, threshold=self.threshold, warmup=self.warmup, horizon=self.horizon
        )
        # Far records are rare in control; the floor of their rate caps the evidence of one at
        # log(101) = 4.6, so that no fewer than four far records raise an alarm.
        self._far = RateCUSUM(
            ratio=self.ratio,
            rise=self.new_share,
            threshold=self.threshold,
            warmup=self.warmup,
            horizon=self.horizon,
            min_rate=self.new_share / 100,
        )
        self._hellinger = HellingerShift(
            window=self.window, alpha=self.alpha, min_distance=self.min_distance
        )
        self._birth = NeuronBirth(
            new_share=self.new_share,
            threshold=self.threshold,
            warmup=self.warmup,
            horizon=self.horizon,
        )
        self._mass = NoveltyMass(
            new_share=self.new_share,
            ratio=self.ratio,
            threshold=self.threshold,
            warmup=self.warmup,
            horizon=self.horizon,
        )
        # The last ``warmup`` records' winner neuron (-1: none given) and cluster (-1: the map
        # could not place the record), by stream position modulo ``warmup``: what a share
        # reference is re-estimated from when the map re-labels its clusters.
        self._recent_neuron = np.full(self.warmup, -1, dtype=np.int64)
        self._recent_cluster = np.full(self.warmup, -1, dtype=np.int64)
        self._recent_start = 0  # first record the share references were learned from
        self._n = 0
        self._n_events = 0
        self._quiet_until = 0
        self._events: list = []
        # The last share event: its clusters, direction (0: either, a Hellinger shift) and index.
        self._last_share: list = [[], 0.0, -1]

    def _get_state(self) -> dict:
        state = super()._get_state()
        state["_events"] = [event.to_dict() for event in self._events]
        return state

    def _set_state(self, state: dict) -> None:
        state = dict(state)
        events = state.pop("_events", [])
        super()._set_state(state)
        self._events = [DriftEvent.from_dict(event) for event in events]

    @property
    def n_records(self) -> int:
        return self._n

    @property
    def events(self) -> list[DriftEvent]:
        return list(self._events)

    @property
    def n_events(self) -> int:
        return self._n_events

    # -- river interface -----------------------------------------------------------------------

    def update(self, x: dict) -> None:
        """One record: ``{"cluster": int, "distance": float, "novelty": float}`` and optionally
        ``"event_time"`` (seconds) and ``"neuron"`` (the winner's stable id)."""
        time, neuron = x.get("event_time"), x.get("neuron")
        self.update_many(
            np.array([x["cluster"]], dtype=np.int64),
            np.array([x["distance"]], dtype=np.float64),
            np.array([x["novelty"]], dtype=np.float64),
            None if time is None else np.array([time], dtype=np.float64),
            None if neuron is None else np.array([neuron], dtype=np.int64),
        )

    # -- batch interface -----------------------------------------------------------------------

    def update_many(
        self, cluster, distance, novelty, event_time=None, neuron=None
    ) -> list[DriftEvent]:
        """Feed one batch of a map's output, in stream order; returns the events it raised.

        Parameters
        ----------
        cluster
            Cluster id of every record (int).
        distance
            Distance of every record to its winning neuron.
        novelty
            Distance over the winner's radius (> 1: outside every neuron's radius).
        event_time
            Event time of every record in seconds, or ``None``.
        neuron
            Stable id of every record's winning neuron, or ``None`` (no per-neuron detector).
        """
        cluster = np.ascontiguousarray(cluster, dtype=np.int64)
        distance = np.ascontiguousarray(distance, dtype=np.float64)
        novelty = np.ascontiguousarray(novelty, dtype=np.float64)
        n = len(cluster)
        if len(distance) != n or len(novelty) != n:
            raise ValueError("cluster, distance and novelty must have the same length")
        times = None if event_time is None else np.asarray(event_time, dtype=np.float64)
        slots = self._share._slots(cluster, on_reuse=self._novelty.clear)
        self._novelty.ensure(len(self._share._clusters))
        neuron_slots = birth_slots = None
        share_slots, keys = slots, cluster
        if neuron is not None:
            neuron = np.ascontiguousarray(neuron, dtype=np.int64)
            if len(neuron) != n:
                raise ValueError("neuron must have the same length as cluster")
            neuron_slots = self._mass._slots(neuron, self._n)
            birth_slots = self._birth._slots(neuron, cluster, self._n)
            # A record with no winner got a stand-in cluster id: it is no evidence of any
            # cluster's share. Windows of shares count by neuron, grouped into clusters when
            # tested, so that a re-labelling (``relabel``) re-groups the past with them.
            placed = neuron >= 0
            share_slots = np.where(placed, slots, -1)
            keys = np.where(placed, -2 - neuron, -1)
            units, first = np.unique(keys[placed], return_index=True)
            self._hellinger._regroup(units.tolist(), cluster[placed][first].tolist())
        inputs = _Batch(slots, distance, novelty, novelty > 1.0, keys, self._n, neuron_slots)
        inputs.far = np.ascontiguousarray(novelty > self.far)
        inputs.neuron = neuron
        inputs.birth_slots = birth_slots
        inputs.share_slots = share_slots

        raised = []
        start = 0
        while start < n:
            before = copy.deepcopy(self._scanners())
            hits = self._scan_all(inputs, start, n)
            first = min((hit for hit in hits.values() if hit >= 0), default=-1)
            if first < 0:
                break
            # Rewind the detectors that ran past the first alarm, and bring every detector to
            # exactly that record, so that the reaction below starts from a consistent state.
            self._restore(before)
            hits = self._scan_all(inputs, start, first + 1)
            name = next(d for d in _PRIORITY if hits.get(d) == first)
            time = None if times is None else float(times[first])
            event = self._event(name, self._n + first, time, inputs, first)
            self._react(event)
            if not self._continues(event):
                raised.append(event)
            start = first + 1
        self._remember(cluster, neuron)
        self._n += n
        self._n_events += len(raised)
        self._events = [*self._events, *raised][-self.history :] if self.history > 0 else []
        self._drift_detected = bool(raised) and raised[-1].index == self._n - 1
        return raised

    def _remember(self, cluster: np.ndarray, neuron: np.ndarray | None) -> None:
        size = len(self._recent_cluster)
        if size == 0:
            return
        keep = slice(max(len(cluster) - size, 0), None)
        where = (self._n + np.arange(len(cluster))[keep]) % size
        placed = cluster if neuron is None else np.where(neuron >= 0, cluster, -1)
        self._recent_cluster[where] = placed[keep]
        self._recent_neuron[where] = -1 if neuron is None else neuron[keep]

    # -- re-labelling ---------------------------------------------------------------------------

    def relabel(self, neurons, clusters) -> None:
        """Tell the monitor that the map re-assigned its neurons to clusters.

        A map that re-runs its merging may join or split clusters: records move between
        cluster ids although the data did not change. Call this after the map learned a batch
        (and reacted to its events), with the id of every live neuron and the cluster it
        belongs to now; records fed later carry the new ids. The monitor re-bases what
        the re-labelling invalidated, from the winner neuron ids it was fed (``update_many``'s
        ``neuron``; without them this does nothing):

        * the share references of the clusters whose recent records changed id are
          re-estimated from the last ``warmup`` records as if they had carried the new ids
          (an id that received records is not *new*; one left without records is retired),
          and their share CUSUMs restart;
        * the Hellinger windows, kept by neuron, are grouped into the new clusters;
        * the neuron-birth test learns which clusters have a neuron older than the warm-up (a
          cluster of born neurons only is a new cluster, not a re-merge). Without this call it
          learns that from the records alone, when an old neuron wins one under the new id.

        The other clusters' references and every distance reference are kept: neuron ids are
        stable, and a cluster's members stay at the same distance from their winners.

        Parameters
        ----------
        neurons
            Id of every live neuron of the map.
        clusters
            The cluster of each of them, now.
        """
        neurons = np.asarray(neurons, dtype=np.int64)
        clusters = np.asarray(clusters, dtype=np.int64)
        if len(neurons) != len(clusters):
            raise ValueError("neurons and clusters must have the same length")
        self._hellinger._regroup((-2 - neurons).tolist(), clusters.tolist())
        self._birth._relabel(neurons, clusters, self._n - 1)
        size = len(self._recent_cluster)
        span = min(size, self._n - self._recent_start)
        if span <= 0 or len(neurons) == 0:
            return
        where = (self._n - span + np.arange(span)) % size
        old = self._recent_cluster[where]
        order = np.argsort(neurons)
        at = np.minimum(np.searchsorted(neurons[order], self._recent_neuron[where]), len(order) - 1)
        known = (neurons[order][at] == self._recent_neuron[where]) & (old >= 0)
        new = np.where(known, clusters[order][at], old)
        moved = new != old
        if not moved.any():
            return
        self._recent_cluster[where] = new
        placed = new[new >= 0]
        if len(placed) == 0:
            return
        involved = np.unique(np.concatenate([old[moved], new[moved]]))
        slots = self._share._slots(involved, on_reuse=self._novelty.clear)
        self._novelty.ensure(len(self._share._clusters))
        for cluster, slot in zip(involved.tolist(), slots.tolist(), strict=True):
            members = int(np.count_nonzero(placed == cluster))
            self._share._table.rebase(slot, members / len(placed), float(len(placed)))

    def _scanners(self) -> tuple:
        return tuple(getattr(self, name) for name in _SCANNERS)

    def _restore(self, saved: tuple) -> None:
        for name, scanner in zip(_SCANNERS, saved, strict=True):
            setattr(self, name, scanner)

    def _scan_all(self, batch: _Batch, start: int, stop: int) -> dict:
        quiet, offset = self._quiet_until, batch.offset
        zeros = np.zeros(len(batch.slots), dtype=np.int64)
        hits = {}
        if batch.neuron_slots is not None:
            hits["novelty_mass"] = self._mass._scan(
                batch.neuron_slots, batch.novel, start, stop, offset, quiet
            )
            hits["neuron_birth"] = self._birth._scan(
                batch.birth_slots[0], batch.birth_slots[1], start, stop, offset, quiet
            )
        return hits | {
            "cluster_novelty": self._novelty.scan(
                self, batch.distance, batch.distance, batch.slots, start, stop, offset, quiet
            ),
            "global_qe": self._qe.scan(
                self, batch.distance, batch.distance, zeros, start, stop, offset, quiet
            ),
            "cluster_share": self._share._table.scan(
                self._share, batch.share_slots, start, stop, offset, quiet
            ),
            "global_novelty": self._rate._scan(batch.novel, start, stop, offset, quiet),
            "far_novelty": self._far._scan(batch.far, start, stop, offset, quiet),
            "share_hellinger": self._hellinger._scan(batch.ids, start, stop, offset, quiet),
        }

    # -- events --------------------------------------------------------------------------------

    def _event(
        self, detector: str, index: int, time: float | None, batch: _Batch, at: int
    ) -> DriftEvent:
        ids = self._share._clusters.ids
        threshold = self.threshold
        evidence: dict = {}
        neurons: tuple = ()
        if detector == "cluster_novelty":
            slot = int(batch.slots[at])  # only the record's own slot moved at that record
            statistic = float(self._novelty.stat[slot])
            observed = self._novelty.observed(slot)
            # Nearly all members out of place: the cluster itself moved. Fewer: new records
            # settle beside a cluster that is still there.
            kind = "moved_cluster" if observed >= 0.5 else "new_cluster"
            slots = [slot]
            evidence = {
                "observed_exceedance": observed,
                "reference_exceedance": float(self._novelty.p_null[slot]),
                "novelty_limit": float(self._novelty.limit[slot]),
            }
        elif detector == "novelty_mass":
            cluster_slot = int(batch.slots[at])  # the alarm came with a record of the neuron
            statistic = float(self._mass._table.stat[self._mass._table.fired[0]])
            neurons = (self._mass.fired_neuron(),)
            # Novel records pile up at one neuron. If its whole cluster's members are on the
            # way to an alarm too, that cluster moved; otherwise records settle where the map
            # had no cluster: a new one, named by the cluster absorbing it.
            moved = self._novelty.stat[cluster_slot] >= 0.5 * self.threshold
            kind = "moved_cluster" if moved else "new_cluster"
            slots = [cluster_slot]
            evidence = {
                "observed_share": self._mass.observed(),
                "reference_share": self._mass.reference(),
                "cluster_statistic": float(self._novelty.stat[cluster_slot]),
            }
        elif detector == "neuron_birth":
            slots = [int(batch.slots[at])]  # the alarm came with a record of the born neuron
            statistic = float(self._birth._stat[self._birth._fired[0]])
            neurons = (self._birth.fired_neuron(),)
            kind = "new_cluster"
            evidence = {
                "observed_share": self._birth.observed(),
                "reference_share": 0.1 * self.new_share,
            }
        elif detector == "far_novelty":
            statistic = self._far.statistic
            run = slice(max(at + 1 - self._far.run_length, 0), at + 1)
            neurons, slots, far_share = _far_winners(batch, run)
            # The cluster taking most far records gets almost nothing else: it moved away
            # from its neurons. Otherwise records arrive where the map had no cluster.
            kind = "moved_cluster" if far_share >= 0.5 else "new_cluster"
            if kind == "moved_cluster":
                neurons, slots = (), slots[:1]
            evidence = {
                "reference_rate": self._far.rate,
                "observed_rate": self._far.observed(),
                "far_novelty": self.far,
                "far_share_of_cluster": far_share,
            }
        elif detector == "cluster_share":
            table = self._share._table
            slot, direction = table.fired_slot, table.fired_direction
            statistic = float(max(table.up[slot], table.down[slot]))
            observed = table.observed(slot, direction)
            reference = float(table.rate[slot])
            if direction == NEW:
                kind = "new_cluster"
                reference = 0.1 * self.new_share
            elif direction == DOWN and observed <= 0.1 * reference:
                kind = "vanished_cluster"
            else:
                kind = "share_change"
            slots = [slot]
            evidence = {"reference_share": reference, "observed_share": observed}
            evidence["direction"] = {UP: 1.0, DOWN: -1.0, NEW: 1.0}[direction]
        elif detector == "share_hellinger":
            h2, threshold, parts = self._hellinger.last_alarm
            statistic = h2
            kind = "share_change"
            ranked = sorted(parts, key=parts.get, reverse=True)
            top, total, covered = [], sum(parts.values()), 0.0
            for cluster in ranked:  # the clusters that explain most of the distance
                top.append(cluster)
                covered += parts[cluster]
                if covered >= 0.8 * total:
                    break
            slot_of = self._share._clusters.slot_of()
            slots = [slot_of[c] for c in top if c in slot_of]
            evidence = {"hellinger": float(np.sqrt(h2))}
        else:
            kind, slots = "global", []
            if detector == "global_novelty":
                statistic = self._rate.statistic
                evidence = {
                    "reference_rate": self._rate.rate,
                    "observed_rate": self._rate.observed(),
                }
            else:
                statistic = float(self._qe.stat[0])
                evidence = {"observed_exceedance": self._qe.observed(0)}
        clusters = tuple(int(ids[s]) for s in slots)
        # The pre-drift band of what should be re-learned: the cluster's own for a cluster
        # that moved or changed share; the map's overall one for a new cluster (it had none).
        own = slots and kind != "new_cluster"
        reference = self._novelty.reference(slots) if own else np.zeros(0)
        if len(reference) < 2:
            reference = self._qe.reference([0])
        if len(reference) >= 2:
            evidence["reference_qe_mean"] = float(np.mean(reference))
            evidence["reference_qe_std"] = float(np.std(reference, ddof=1))
            evidence["reference_qe_count"] = float(len(reference))
        return DriftEvent(
            kind, clusters, index, time, detector, statistic, threshold, evidence, neurons
        )

    def _continues(self, event: DriftEvent) -> bool:
        """Whether a share alarm goes on with the last share event: a cluster it named still
        moving the same way within ``horizon`` records (a drift that outlasts the cool-down)."""
        if event.detector not in ("cluster_share", "share_hellinger"):
            return False
        clusters, direction, index = self._last_share
        now = event.evidence.get("direction", 0.0)
        self._last_share = [list(event.clusters), now, event.index]
        return (
            event.detector == "cluster_share"
            and index >= 0
            and event.index - index <= self.horizon
            and event.clusters[0] in clusters
            and direction in (0.0, now)
        )

    def _react(self, event: DriftEvent) -> None:
        """Silence everything for the cool-down; forget references that the drift invalidated."""
        self._quiet_until = event.index + 1 + self.cooldown
        self._recent_start = event.index + 1
        for cluster in event.clusters:
            self._novelty.clear(self._share._clusters.slot(cluster))
        self._novelty.stat[:] = 0.0
        # Only the neurons the map is told to re-learn change their novel rates; a map-wide
        # reaction changes them all.
        self._mass._restart(None if event.kind == "global" else event.neurons)
        self._birth._restart()
        self._qe.stat[:] = 0.0
        if event.kind == "global":
            self._qe.clear(0)
        self._share._table.restart()
        self._rate._restart()
        self._far._restart()
        self._hellinger._restart()

    # -- check-suite hooks ---------------------------------------------------------------------

    @classmethod
    def _unit_test_params(cls):
        yield {}
        yield {"cooldown": 500, "warmup": 500, "window": 300, "reference_size": 128}

    @classmethod
    def _check_stream(cls, rng: np.random.Generator, n: int) -> list[dict]:
        cluster = rng.choice([1, 2, 5, 9], size=n, p=[0.5, 0.3, 0.18, 0.02])
        distance = rng.gamma(3.0, 0.2, n) * (1.0 + 0.1 * cluster)
        novelty = distance / 1.2
        time = 1.7e9 + np.cumsum(rng.exponential(0.01, n))
        return [
            {"cluster": int(c), "distance": float(d), "novelty": float(v), "event_time": float(t)}
            for c, d, v, t in zip(cluster, distance, novelty, time, strict=True)
        ]


class _Batch:
    """One batch of map output, in the forms the detectors read."""

    def __init__(self, slots, distance, novelty, novel, ids, offset, neuron_slots=None):
        self.slots = slots
        self.neuron_slots = neuron_slots
        self.neuron = None
        self.birth_slots = None
        self.share_slots = slots
        self.distance = distance
        self.novelty = novelty
        self.novel = np.ascontiguousarray(novel)
        self.far = self.novel
        self.ids = ids
        self.offset = offset


def _far_winners(batch: _Batch, run: slice) -> tuple[tuple, list, float]:
    """Where the far records of ``run`` (batch positions) touch the map: their winners and
    clusters (slots), most far records first, and the share of far records among all the
    run's records of the first cluster."""
    far, slots = batch.far[run], batch.slots[run]
    ids, counts = np.unique(slots[far], return_counts=True)
    ranked = ids[np.argsort(-counts, kind="stable")].tolist()
    far_share = float(np.max(counts) / np.count_nonzero(slots == ranked[0]))
    if batch.neuron is None:
        return (), ranked, far_share
    winners = batch.neuron[run][far]
    ids, counts = np.unique(winners[winners >= 0], return_counts=True)
    neurons = tuple(int(i) for i in ids[np.argsort(-counts, kind="stable")])
    return neurons, ranked, far_share
