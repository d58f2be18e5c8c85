"""Per-neuron Bernoulli CUSUMs on the mass of novel records each neuron absorbs."""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from models.drift._common import (
    ArrayState,
    Detector,
    IdSlots,
    alarms_in_batch,
    bernoulli_llr,
    grown,
    upper_bound,
)

__all__ = ["NoveltyMass"]


class NoveltyMass(Detector):
    """Detects a new region of the data: novel records piling up at one neuron of a map.

    A record is *novel* when it lies outside every neuron's radius (the map's novelty above
    1). A map keeps a few percent of novel records spread thinly over all its neurons. A new
    cluster sends its records to the nearest neuron, all of them novel at first; a map at its
    neuron cap then lets that neuron absorb them (its radius widens, so they soon stop being
    novel, and the region gets a cluster id of its own late or never). So the test does not
    rely on cluster ids nor on novelty staying high: it asks, per neuron, whether the share of
    *the whole stream* that arrives novel at that neuron has jumped to that of a new cluster.

    Every record is one Bernoulli observation for every tracked neuron: "novel and won by this
    neuron, or not". The in-control rate of each neuron is an exponentially weighted estimate
    (``horizon`` records), taken at its upper confidence bound (so an uncertain reference makes
    the test slower, not jumpy); the alternative is ``new_share`` (or ``ratio`` times the
    in-control rate if that is higher). The
    neuron's own, non-novel, records do not dilute the evidence, as they would in a test on
    the fraction of its wins.

    False alarms: a one-sided CUSUM whose in-control rate bounds the true one alarms at most
    once in ``exp(h)`` observations (Wald). ``K`` neurons are tested on the same records, so each
    uses ``h = threshold + log K``: the family alarms at most once in ``exp(threshold)``
    records (``threshold = 16``: one in 8.9 million). Delay: a new cluster with share ``s``
    whose records reach one neuron novel adds about ``s log(new_share / p0)`` per record
    (``p0`` the in-control bound), so with ``s = 2%``, ``p0 = 0.07%`` (a neuron winning 1% of
    the records, 4% of them novel) and 100 neurons an alarm needs about 460 records, if the
    map keeps those records novel that long (a capped map widens the absorbing neuron's radius
    within a few dozen of them, which is why the evidence per novel record must be large).

    A neuron silent for ``horizon`` records is retired (a map never reuses a neuron id; one
    that comes back is learned afresh), which bounds the memory by the neurons active within
    the last ``horizon`` records. A neuron is tested once it has been watched for ``warmup``
    records.

    Parameters
    ----------
    new_share
        Share of the stream, arriving novel at one neuron, to detect.
    ratio
        Smallest factor over the in-control rate that is tested.
    threshold
        Family-wise CUSUM threshold (see above).
    warmup
        Records a neuron is watched before it is tested.
    horizon
        Memory of the rate estimates, and silence after which a neuron is retired.

    Attributes
    ----------
    drift_detected
        Whether the last update raised an alarm.
    last_alarm
        Id of the neuron of the last alarm, or ``None``.

    Examples
    --------
    One hundred neurons share 3% of novel records; from record 20,000 on, a new cluster (2%
    of the records) arrives novel at neuron 7:

    >>> import numpy as np
    >>> rng = np.random.default_rng(1)
    >>> n = 30_000
    >>> neuron = rng.integers(0, 100, n)
    >>> novelty = np.where(rng.random(n) < 0.03, 1.5, 0.5)
    >>> new = (np.arange(n) >= 20_000) & (rng.random(n) < 0.02)
    >>> neuron[new], novelty[new] = 7, 3.0
    >>> detector = NoveltyMass()
    >>> detector.update_many(neuron, novelty).tolist()
    [20254]
    >>> detector.last_alarm
    7
    """

    def __init__(
        self,
        new_share: float = 0.01,
        ratio: float = 2.0,
        threshold: float = 16.0,
        warmup: int = 2000,
        horizon: int = 20000,
    ):
        super().__init__()
        self.new_share = new_share
        self.ratio = ratio
        self.threshold = threshold
        self.warmup = warmup
        self.horizon = horizon
        self._reset()

    def _reset(self) -> None:
        super()._reset()
        self._table = _MassTable()
        self._neurons = IdSlots()
        self._seen = 0
        self._last = None

    @property
    def last_alarm(self) -> int | None:
        return self._last

    def update(self, x: dict) -> None:
        """One record: ``{"neuron": int, "novelty": float}``."""
        self.update_many(
            np.array([x["neuron"]], dtype=np.int64), np.array([x["novelty"]], dtype=np.float64)
        )

    def update_many(self, neuron, novelty) -> np.ndarray:
        """Feed a batch (winner ids and novelties); returns the stream positions of alarms."""
        slots = self._slots(np.asarray(neuron, dtype=np.int64), self._seen)
        novel = np.ascontiguousarray(np.asarray(novelty, dtype=np.float64) > 1.0)
        offset = self._seen

        def on_alarm() -> None:
            self._last = self.fired_neuron()
            self._restart()

        return alarms_in_batch(
            self,
            len(slots),
            lambda start: self._scan(slots, novel, start, len(slots), offset, 0),
            on_alarm,
        )

    def _slots(self, ids: np.ndarray, position: int) -> np.ndarray:
        """Slots for a batch starting at stream ``position``; retired neurons free theirs."""
        table, neurons = self._table, self._neurons
        table.ensure(len(neurons))
        neurons.release(np.flatnonzero(neurons.used() & (table.active[: len(neurons)] == 0)))
        slots, taken = neurons.assign(ids)
        table.ensure(len(neurons))
        for slot in taken.tolist():
            table.clear(slot)
        return slots

    def _scan(self, slots, novel, start, stop, offset, quiet_until) -> int:
        return self._table.scan(self, slots, novel, start, stop, offset, quiet_until)

    def _restart(self, neurons=None) -> None:
        """After an alarm, learn the references of ``neurons`` (``None``: all) again."""
        if neurons is None:
            self._table.restart()
            return
        self._table.stat[:] = 0.0
        slot_of = self._neurons.slot_of()
        for neuron in neurons:
            slot = slot_of.get(int(neuron))
            if slot is not None:
                self._table.clear(slot)

    def fired_neuron(self) -> int:
        """Id of the neuron whose statistic crossed the threshold in the last scan."""
        return int(self._neurons.ids[self._table.fired[0]])

    def observed(self) -> float:
        """Share of the stream arriving novel at the fired neuron, over its CUSUM run."""
        return self._table.observed(int(self._table.fired[0]))

    def reference(self) -> float:
        """In-control rate of the fired neuron."""
        return float(self._table.rate[int(self._table.fired[0])])

    @classmethod
    def _unit_test_params(cls):
        yield {}
        yield {"warmup": 500, "horizon": 3000, "new_share": 0.02}

    @classmethod
    def _check_stream(cls, rng: np.random.Generator, n: int) -> list[dict]:
        neuron = rng.integers(0, 40, n)
        novelty = rng.gamma(2.0, 0.25, n)
        return [
            {"neuron": int(a), "novelty": float(b)} for a, b in zip(neuron, novelty, strict=True)
        ]


class _MassTable(ArrayState):
    """Per-slot rate estimates and CUSUM statistics, advanced by one numba kernel."""

    def __init__(self):
        self.active = np.zeros(0, dtype=np.int8)
        self.rate = np.zeros(0)
        self.seen = np.zeros(0)
        self.stat = np.zeros(0)
        self.run = np.zeros(0)
        self.hits = np.zeros(0)
        self.last = np.zeros(0, dtype=np.int64)
        self.fired = np.zeros(1, dtype=np.int64)

    def ensure(self, n_slots: int) -> None:
        self.active = grown(self.active, n_slots, 0)
        self.last = grown(self.last, n_slots, -1)
        for name in ("rate", "seen", "stat", "run", "hits"):
            setattr(self, name, grown(getattr(self, name), n_slots, 0.0))

    def clear(self, slot: int) -> None:
        if slot < len(self.active):
            self.active[slot] = 0
            self.last[slot] = -1
            for name in ("rate", "seen", "stat", "run", "hits"):
                getattr(self, name)[slot] = 0.0

    def restart(self) -> None:
        for name in ("rate", "seen", "stat", "run", "hits"):
            getattr(self, name)[:] = 0.0

    def observed(self, slot: int) -> float:
        return float(self.hits[slot] / max(self.run[slot], 1.0))

    def scan(self, params, slots, novel, start, stop, offset, quiet_until) -> int:
        return _scan(
            slots,
            novel,
            start,
            stop,
            offset,
            quiet_until,
            params.new_share,
            params.ratio,
            params.threshold,
            params.warmup,
            params.horizon,
            self.active,
            self.rate,
            self.seen,
            self.stat,
            self.run,
            self.hits,
            self.last,
            self.fired,
        )


@njit(cache=True)
def _scan(
    slots,
    novel,
    start,
    stop,
    offset,
    quiet_until,
    new_share,
    ratio,
    threshold,
    warmup,
    horizon,
    active,
    rate,
    seen,
    stat,
    run,
    hits,
    last,
    fired,
):
    n_slots = active.shape[0]
    n_active = 0
    for s in range(n_slots):
        n_active += active[s]
    # With an alternative rate at least the in-control one, a record a neuron did not win
    # novel never raises its statistic: at 0 it stays at 0, and the bound need not be computed
    # (most neurons, most of the time; the bound and the log-likelihood ratio are most of the
    # cost of this loop).
    misses_lower = ratio >= 1.0
    for i in range(start, stop):
        position = offset + i
        c = slots[i]
        if active[c] == 0:
            active[c] = 1
            n_active += 1
        last[c] = position
        h = threshold + math.log(max(n_active, 1))
        quiet = position < quiet_until
        first = -1
        for s in range(n_slots):
            if active[s] == 0:
                continue
            if position - last[s] > horizon:
                # Silent for a whole horizon: the map has forgotten this neuron.
                active[s] = 0
                n_active -= 1
                rate[s] = 0.0
                seen[s] = 0.0
                stat[s] = 0.0
                run[s] = 0.0
                hits[s] = 0.0
                continue
            bit = s == c and novel[i]
            seen[s] += 1.0
            if quiet:
                stat[s] = 0.0
            elif seen[s] > warmup and (bit or stat[s] > 0.0 or not misses_lower):
                p_null = upper_bound(rate[s], min(seen[s], horizon), 2.0)
                p_alt = max(new_share, ratio * p_null)
                if p_alt < 0.999:
                    stat[s] = max(0.0, stat[s] + bernoulli_llr(bit, p_null, p_alt))
            hit = 1.0 if bit else 0.0
            if stat[s] > 0.0:
                run[s] += 1.0
                hits[s] += hit
            else:
                run[s] = 0.0
                hits[s] = 0.0
            if stat[s] < 0.5 * h:
                rate[s] += (hit - rate[s]) / min(seen[s], horizon)
            if first < 0 and stat[s] > h:
                first = s
        if first >= 0:
            fired[0] = first
            return i
    return -1
