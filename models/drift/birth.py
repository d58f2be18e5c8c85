"""Per-neuron Bernoulli CUSUMs on the share of the traffic won by neurons a settled map grows."""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from models.drift._common import (
    Detector,
    IdSlots,
    alarms_in_batch,
    bernoulli_llr,
    grown,
)

__all__ = ["NeuronBirth"]


class NeuronBirth(Detector):
    """Detects a new cluster from the neurons a map grows for it.

    A map that grows neurons from accumulated evidence gives a dense new region a neuron of its
    own within a few dozen of its records, and a cluster id of its own at its next merge. So a
    new cluster shows as a *born* neuron - one whose id first appears after the warm-up (a map
    allocates ids increasing and never reuses one) - that forms a cluster with no neuron older
    than itself and keeps winning the share of a cluster.

    Every record is one Bernoulli observation for every young neuron: "won by this neuron while
    its cluster has no old member, or not". A cluster has an old member once a record of it was
    won by a neuron that is not young (or ``relabel`` says so). A neuron grown inside a covered
    region joins its neighbours' cluster and gives no evidence, however much traffic it takes
    over from them; the few neurons a stationary map grows on the fringe of a cluster and that
    the merge leaves alone win far less than a cluster's share. As for a fresh cluster id (see
    ``ShareCUSUM``), the test is ``new_share`` against a background of ``new_share / 10``.

    False alarms: ``K`` young neurons are tested on the same records, each with the threshold
    ``threshold + log K``, so the family alarms at most once in ``exp(threshold)`` records
    while the background rate holds (Wald). A neuron is young for ``horizon`` records after
    its birth; neurons that appear during the warm-up or a quiet period (``quiet_until`` of
    the scan: after an event, the map re-learns and grows on purpose) are never young, and an
    alarm ages every young neuron (the drift explains them). Delay: a new cluster of share
    ``s`` adds about ``s log 10 - 0.009`` per record once it has its own id, about 430 records
    for ``s = 2%`` (after the map's birth and merge).

    A neuron or cluster id silent for ``horizon`` records is forgotten, which bounds the memory
    by the ids active within the last ``horizon`` records.

    Parameters
    ----------
    new_share
        Share of the stream, won by one born neuron, to detect.
    threshold
        Family-wise CUSUM threshold (see above).
    warmup
        Records from the start during which appearing neurons are not births.
    horizon
        Records a born neuron is tested for, and silence after which an id is forgotten.

    Attributes
    ----------
    drift_detected
        Whether the last update raised an alarm.
    last_alarm
        Id of the neuron of the last alarm, or ``None``.

    Examples
    --------
    Forty neurons in four clusters; from record 20,000 on, neuron 40 is born and wins 2% of
    the records, first under its neighbour's cluster id 3, from record 21,000 on under an id
    of its own, 7:

    >>> import numpy as np
    >>> rng = np.random.default_rng(1)
    >>> n = 30_000
    >>> neuron = rng.integers(0, 40, n)
    >>> cluster = neuron // 10
    >>> new = (np.arange(n) >= 20_000) & (rng.random(n) < 0.02)
    >>> neuron[new], cluster[new] = 40, np.where(np.arange(n)[new] < 21_000, 3, 7)
    >>> detector = NeuronBirth()
    >>> detector.update_many(neuron, cluster).tolist()
    [21262]
    >>> detector.last_alarm
    40
    """

    def __init__(
        self,
        new_share: float = 0.01,
        threshold: float = 16.0,
        warmup: int = 2000,
        horizon: int = 20000,
    ):
        super().__init__()
        self.new_share = new_share
        self.threshold = threshold
        self.warmup = warmup
        self.horizon = horizon
        self._reset()

    def _reset(self) -> None:
        super()._reset()
        self._neurons = IdSlots()
        self._born = np.zeros(0, dtype=np.int64)
        self._last = np.zeros(0, dtype=np.int64)
        self._young = np.zeros(0, dtype=np.int8)
        self._stat = np.zeros(0)
        self._run = np.zeros(0)
        self._hits = np.zeros(0)
        self._clusters = IdSlots()
        self._cluster_last = np.zeros(0, dtype=np.int64)
        self._cluster_old = np.zeros(0, dtype=np.int8)
        self._newest = np.full(1, -1, dtype=np.int64)  # largest neuron id seen
        self._fired = np.full(1, -1, dtype=np.int64)
        self._seen = 0
        self._last_alarm = None

    @property
    def last_alarm(self) -> int | None:
        return self._last_alarm

    def update(self, x: dict) -> None:
        """One record: ``{"neuron": int, "cluster": int}``."""
        self.update_many(
            np.array([x["neuron"]], dtype=np.int64), np.array([x["cluster"]], dtype=np.int64)
        )

    def update_many(self, neuron, cluster) -> np.ndarray:
        """Feed a batch (winner ids, -1 for none, and cluster ids); returns alarm positions."""
        slots, cluster_slots = self._slots(neuron, cluster, self._seen)
        offset = self._seen

        def on_alarm() -> None:
            self._last_alarm = self.fired_neuron()
            self._restart()

        return alarms_in_batch(
            self,
            len(slots),
            lambda start: self._scan(slots, cluster_slots, start, len(slots), offset, 0),
            on_alarm,
        )

    # -- slots ----------------------------------------------------------------------------------

    def _slots(self, neuron, cluster, position: int) -> tuple[np.ndarray, np.ndarray]:
        """Neuron and cluster slots of a batch starting at stream ``position``.

        Ids silent for a whole ``horizon`` free their slots here; the scan treats such a slot
        as empty already, so where a batch starts does not change any result.
        """
        neuron = np.asarray(neuron, dtype=np.int64)
        cluster = np.asarray(cluster, dtype=np.int64)
        neurons, clusters = self._neurons, self._clusters
        silent = position - self._last[: len(neurons)] > self.horizon
        neurons.release(neurons.used() & silent)
        silent = position - self._cluster_last[: len(clusters)] > self.horizon
        clusters.release(clusters.used() & silent)
        columns = ("_born", "_last", "_young", "_stat", "_run", "_hits")
        slots = self._lookup(neurons, neuron, columns)
        cluster_slots = self._lookup(clusters, cluster, ("_cluster_last", "_cluster_old"))
        return slots, cluster_slots

    def _lookup(self, table: IdSlots, ids: np.ndarray, columns: tuple) -> np.ndarray:
        """Slots of ``ids`` (-1 for none); the ``columns`` of slots taken by new ids start
        empty."""
        slots, taken = table.assign(ids, skip_negative=True)
        for name in columns:
            column = getattr(self, name)
            empty = -1 if column.dtype == np.int64 else 0
            column = grown(column, len(table), empty)
            column[taken] = empty
            setattr(self, name, column)
        return slots

    # -- scanning and reactions -----------------------------------------------------------------

    def _scan(self, slots, cluster_slots, start, stop, offset, quiet_until) -> int:
        return _scan(
            slots,
            cluster_slots,
            start,
            stop,
            offset,
            quiet_until,
            self.new_share,
            self.threshold,
            self.warmup,
            self.horizon,
            self._neurons.ids,
            self._born,
            self._last,
            self._young,
            self._stat,
            self._run,
            self._hits,
            self._cluster_last,
            self._cluster_old,
            self._newest,
            self._fired,
        )

    def _restart(self) -> None:
        """After an alarm: the map is not settled, no neuron grown so far is a birth any more."""
        self._young[:] = 0
        self._stat[:] = 0.0
        self._run[:] = 0.0
        self._hits[:] = 0.0

    def _relabel(self, neurons: np.ndarray, clusters: np.ndarray, position: int) -> None:
        """The map's current clusters: a cluster has an old member iff any neuron is not young."""
        if len(neurons) == 0:
            return
        young = np.zeros(len(neurons), dtype=bool)
        at = self._neurons.slot_of()
        for k, i in enumerate(neurons.tolist()):
            slot = at.get(i)
            # Not seen yet: born after everything seen (young) or long silent (old).
            young[k] = self._young[slot] == 1 if slot is not None else i > self._newest[0]
        unique, inverse = np.unique(clusters, return_inverse=True)
        old = np.zeros(len(unique), dtype=bool)
        np.logical_or.at(old, inverse, ~young)
        slots = self._lookup(self._clusters, unique, ("_cluster_last", "_cluster_old"))
        self._cluster_old[slots] = old
        self._cluster_last[slots] = position

    def fired_neuron(self) -> int:
        """Id of the neuron whose statistic crossed the threshold in the last scan."""
        return int(self._neurons.ids[self._fired[0]])

    def observed(self) -> float:
        """Share of the stream won by the fired neuron over its CUSUM run."""
        slot = int(self._fired[0])
        return float(self._hits[slot] / max(self._run[slot], 1.0))

    @classmethod
    def _unit_test_params(cls):
        yield {}
        yield {"warmup": 500, "horizon": 3000, "new_share": 0.02}

    @classmethod
    def _check_stream(cls, rng: np.random.Generator, n: int) -> list[dict]:
        neuron = rng.integers(0, 40, n)
        neuron[np.arange(n) >= n // 2] += 3  # three neurons born halfway, in old clusters
        return [{"neuron": int(a), "cluster": int(a // 10)} for a in neuron]


@njit(cache=True)
def _scan(
    slots,
    cluster_slots,
    start,
    stop,
    offset,
    quiet_until,
    new_share,
    threshold,
    warmup,
    horizon,
    ids,
    born,
    last,
    young,
    stat,
    run,
    hits,
    cluster_last,
    cluster_old,
    newest,
    fired,
):
    n_slots = ids.shape[0]
    p_null = 0.1 * new_share
    n_young = 0
    for s in range(n_slots):
        n_young += young[s]
    for i in range(start, stop):
        position = offset + i
        n = slots[i]
        if n < 0:
            continue  # no winner: no evidence for or against any neuron
        c = cluster_slots[i]
        if last[n] < 0 or position - last[n] > horizon:
            # First record of this id (or first after a silence that forgot it).
            if young[n] == 1:
                n_young -= 1
            born[n] = position
            birth = ids[n] > newest[0] and position >= warmup and position >= quiet_until
            young[n] = 1 if birth else 0
            n_young += young[n]
            stat[n] = 0.0
            run[n] = 0.0
            hits[n] = 0.0
        newest[0] = max(newest[0], ids[n])
        last[n] = position
        if cluster_last[c] < 0 or position - cluster_last[c] > horizon:
            cluster_old[c] = 0
        cluster_last[c] = position
        if young[n] == 1 and position - born[n] > horizon:
            young[n] = 0  # watched long enough
            n_young -= 1
        if young[n] == 0:
            cluster_old[c] = 1
        if n_young == 0:
            continue
        h = threshold + math.log(n_young)
        quiet = position < quiet_until
        first = -1
        for s in range(n_slots):
            if young[s] == 0:
                continue
            if position - born[s] > horizon or position - last[s] > horizon:
                young[s] = 0
                n_young -= 1
                stat[s] = 0.0
                continue
            bit = s == n and cluster_old[c] == 0
            if quiet:
                stat[s] = 0.0
            else:
                stat[s] = max(0.0, stat[s] + bernoulli_llr(bit, p_null, new_share))
            if stat[s] > 0.0:
                run[s] += 1.0
                hits[s] += 1.0 if bit else 0.0
            else:
                run[s] = 0.0
                hits[s] = 0.0
            if first < 0 and stat[s] > h:
                first = s
        if first >= 0:
            fired[0] = first
            return i
    return -1
