"""Per-cluster Bernoulli CUSUMs on the share of the traffic each cluster receives."""

from __future__ import annotations

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

__all__ = ["ShareCUSUM"]

# Directions of a share alarm, as stored in ``_ShareTable.fired``.
UP, DOWN, NEW = 1, 2, 3


class ShareCUSUM(Detector):
    """Detects a change of any cluster's share of the stream, and clusters that newly appear.

    Every record is one Bernoulli observation for every known cluster: "is it a member or
    not". For each cluster a pair of one-sided Bernoulli CUSUMs tests its share against a share
    ``ratio`` times higher and ``ratio`` times lower. The in-control share is an exponentially
    weighted estimate (``horizon`` records); each CUSUM uses the confidence bound of that estimate
    least favourable to an alarm, so a noisy reference makes the detector slower, not jumpy.
    Shares below ``min_share`` are not tested for decrease (there is too little to lose).

    A cluster first seen more than ``warmup`` records after the start is *fresh*: until it has
    been watched for ``warmup`` records it is tested for reaching ``new_share`` against a
    background of ``new_share / 10`` (the rate at which a map creates short-lived clusters for
    stray records), which is how a newly appearing cluster is reported.

    The detector is armed ``warmup`` records after a start; after an alarm every reference is
    learned again from scratch (all shares may have changed together).

    A cluster id silent for ``horizon`` records is forgotten (a cluster that vanishes is found
    long before that: its share falls from ``min_share`` or more); if it comes back, it is
    fresh. Its slot is reused by the next new id, so the memory and the time per record stay
    bounded by the ids seen within the last ``horizon`` records, however many ids a map running
    for months creates and abandons as it re-merges.

    Parameters
    ----------
    ratio
        Factor of share increase or decrease to detect.
    threshold
        CUSUM decision threshold; the in-control run length of each CUSUM is at least
        ``exp(threshold)`` records.
    warmup
        Records after a (re)start before testing, and the watch period of a fresh cluster.
    horizon
        Memory of the share estimates, in records.
    min_share
        Shares below this are not tested for decrease.
    new_share
        Share at which a fresh cluster is reported as new.

    Attributes
    ----------
    drift_detected
        Whether the last update raised an alarm.
    last_alarm
        ``(cluster id, direction)`` of the last alarm, direction being ``"up"``, ``"down"`` or
        ``"new"``; ``None`` before any.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(3)
    >>> before = rng.choice(3, size=6000, p=[0.6, 0.3, 0.1])
    >>> after = rng.choice(3, size=2000, p=[0.3, 0.6, 0.1])
    >>> detector = ShareCUSUM()
    >>> detector.update_many(np.concatenate([before, after])).tolist()
    [6061]
    >>> detector.last_alarm
    (0, 'down')

    References
    ----------
    M. R. Reynolds Jr. and Z. G. Stoumbos, "A CUSUM chart for monitoring a proportion when
    inspecting continuously", Journal of Quality Technology 31(1), 1999.
    """

    def __init__(
        self,
        ratio: float = 2.0,
        threshold: float = 16.0,
        warmup: int = 2000,
        horizon: int = 20000,
        min_share: float = 0.005,
        new_share: float = 0.01,
    ):
        super().__init__()
        self.ratio = ratio
        self.threshold = threshold
        self.warmup = warmup
        self.horizon = horizon
        self.min_share = min_share
        self.new_share = new_share
        self._reset()

    def _reset(self) -> None:
        super()._reset()
        self._table = _ShareTable()
        self._clusters = IdSlots()
        self._seen = 0
        self._last = None

    @property
    def last_alarm(self) -> tuple | None:
        return None if self._last is None else (int(self._last[0]), str(self._last[1]))

    def update(self, x: int) -> None:
        self.update_many(np.array([x], dtype=np.int64))

    def update_many(self, x) -> np.ndarray:
        """Feed a batch of cluster ids; returns the stream positions of the alarms."""
        slots = self._slots(np.asarray(x, dtype=np.int64))

        def on_alarm() -> None:
            slot, direction = self._table.fired_slot, self._table.fired_direction
            cluster = int(self._clusters.ids[slot])
            self._last = (cluster, {UP: "up", DOWN: "down", NEW: "new"}[direction])
            self._table.restart()

        return alarms_in_batch(
            self,
            len(slots),
            lambda start: self._table.scan(self, slots, start, len(slots), 0, 0),
            on_alarm,
        )

    def _slots(self, ids: np.ndarray, on_reuse=None) -> np.ndarray:
        """Slots of a batch of cluster ids; ``on_reuse(slot)`` is told of every slot a new id
        takes over from a forgotten one (so that tables kept beside this one forget it too)."""
        table, clusters = self._table, self._clusters
        table.ensure(len(clusters))
        silent = table.silent(self.horizon)[: len(clusters)]
        forgotten = np.flatnonzero(clusters.used() & silent)
        clusters.release(forgotten)
        for slot in forgotten.tolist():
            table.forget(slot)
        before = len(clusters)
        slots, taken = clusters.assign(ids)
        table.ensure(len(clusters))
        table.last[taken] = table.clock[0]  # silent from now on, not from before
        if on_reuse is not None:
            for slot in taken[taken < before].tolist():
                on_reuse(slot)
        return slots

    def _set_state(self, state: dict) -> None:
        super()._set_state(state)
        if self._last is not None:
            self._last = tuple(self._last)

    @classmethod
    def _unit_test_params(cls):
        yield {}
        yield {"warmup": 500, "horizon": 5000, "ratio": 3.0}

    @classmethod
    def _check_stream(cls, rng: np.random.Generator, n: int) -> list[int]:
        return rng.choice([4, 7, 11, 20], size=n, p=[0.5, 0.3, 0.15, 0.05]).tolist()


class _ShareTable(ArrayState):
    """Per-slot share estimates and CUSUM statistics, advanced by one numba kernel."""

    def __init__(self):
        self.active = np.zeros(0, dtype=np.int8)
        self.fresh = np.zeros(0, dtype=np.int8)
        self.rate = np.zeros(0)
        self.seen = np.zeros(0)
        self.up = np.zeros(0)
        self.down = np.zeros(0)
        self.run_up = np.zeros(0)
        self.hits_up = np.zeros(0)
        self.run_down = np.zeros(0)
        self.hits_down = np.zeros(0)
        self.last = np.zeros(0, dtype=np.int64)  # clock at the slot's last record
        self.age = np.zeros(1, dtype=np.int64)
        self.clock = np.zeros(1, dtype=np.int64)  # records since the start, never restarted
        self.fired_slot = -1
        self.fired_direction = 0

    def ensure(self, n_slots: int) -> None:
        for name in ("active", "fresh"):
            setattr(self, name, grown(getattr(self, name), n_slots, 0))
        self.last = grown(self.last, n_slots, self.clock[0])
        for name in ("rate", "seen", "up", "down", "run_up", "hits_up", "run_down", "hits_down"):
            setattr(self, name, grown(getattr(self, name), n_slots, 0.0))

    def scan(self, params, slots, start, stop, offset, quiet_until) -> int:
        """Advance over ``slots[start:stop]``; index of the first alarm, or -1."""
        fired = np.zeros(2, dtype=np.int64)
        hit = _scan(
            slots,
            start,
            stop,
            offset,
            quiet_until,
            params.ratio,
            params.threshold,
            params.warmup,
            params.horizon,
            params.min_share,
            params.new_share,
            self.active,
            self.fresh,
            self.rate,
            self.seen,
            self.up,
            self.down,
            self.run_up,
            self.hits_up,
            self.run_down,
            self.hits_down,
            self.last,
            self.age,
            self.clock,
            fired,
        )
        self.fired_slot, self.fired_direction = int(fired[0]), int(fired[1])
        return hit

    def forget(self, slot: int) -> None:
        """Clear ``slot`` for another cluster (also one re-labelling left without records)."""
        _forget(slot, *self._columns())
        self.fresh[slot] = 0

    def _columns(self) -> tuple:
        return (self.active, self.rate, self.seen, self.up, self.down, self.run_up,
                self.hits_up, self.run_down, self.hits_down)  # fmt: skip

    def silent(self, horizon: int) -> np.ndarray:
        """Per slot: no record for more than ``horizon`` records (the scan has cleared it)."""
        return self.clock[0] - self.last > horizon

    def observed(self, slot: int, direction: int) -> float:
        """Share observed over the CUSUM run that led to the last alarm."""
        if direction == DOWN:
            return float(self.hits_down[slot] / max(self.run_down[slot], 1.0))
        return float(self.hits_up[slot] / max(self.run_up[slot], 1.0))

    def restart(self) -> None:
        """Learn every share again from the next record (all of them may have changed)."""
        for name in ("rate", "seen", "up", "down", "run_up", "hits_up", "run_down", "hits_down"):
            getattr(self, name)[:] = 0.0
        self.fresh[:] = 0
        self.age[0] = 0

    def rebase(self, slot: int, rate: float, seen: float) -> None:
        """Take ``rate`` (estimated from ``seen`` records) as the slot's in-control share.

        For a cluster the map re-labelled: its CUSUMs restart, and it is tested again once the
        evidence behind ``rate`` is worth ``warmup`` records, like any other cluster's. A slot
        left with no records is retired (not tested until it gets members again).
        """
        for name in ("up", "down", "run_up", "hits_up", "run_down", "hits_down"):
            getattr(self, name)[slot] = 0.0
        self.rate[slot] = rate
        self.seen[slot] = seen
        self.fresh[slot] = 0
        self.active[slot] = 1 if rate > 0.0 else 0


@njit(cache=True)
def _scan(
    slots,
    start,
    stop,
    offset,
    quiet_until,
    ratio,
    threshold,
    warmup,
    horizon,
    min_share,
    new_share,
    active,
    fresh,
    rate,
    seen,
    up,
    down,
    run_up,
    hits_up,
    run_down,
    hits_down,
    last,
    age,
    clock,
    fired,
):
    n_slots = active.shape[0]
    for i in range(start, stop):
        clock[0] += 1
        c = slots[i]
        if c < 0:
            continue  # a record the map could not place is no trial of any cluster's share
        age[0] += 1
        last[c] = clock[0]
        if active[c] == 0:
            active[c] = 1
            fresh[c] = 1 if age[0] > warmup else 0
        quiet = offset + i < quiet_until
        first = -1
        for s in range(n_slots):
            if active[s] == 0:
                continue
            if clock[0] - last[s] > horizon:
                _forget(s, active, rate, seen, up, down, run_up, hits_up, run_down, hits_down)
                continue
            bit = s == c
            seen[s] += 1.0
            if quiet:
                up[s] = 0.0
                down[s] = 0.0
            elif fresh[s] == 1:
                up[s] = max(0.0, up[s] + bernoulli_llr(bit, 0.1 * new_share, new_share))
                if seen[s] > warmup and up[s] <= threshold:
                    fresh[s] = 0  # watched long enough without reaching a new cluster's share
                    up[s] = 0.0
            elif seen[s] > warmup:
                n_eff = min(seen[s], horizon)
                high = upper_bound(rate[s], n_eff, 2.0)
                if ratio * high < 0.999:
                    up[s] = max(0.0, up[s] + bernoulli_llr(bit, high, ratio * high))
                low = upper_bound(rate[s], n_eff, -2.0)
                if low >= min_share:
                    down[s] = max(0.0, down[s] + bernoulli_llr(bit, low, low / ratio))
                else:
                    down[s] = 0.0
            hit = 1.0 if bit else 0.0
            if up[s] > 0.0:
                run_up[s] += 1.0
                hits_up[s] += hit
            else:
                run_up[s] = 0.0
                hits_up[s] = 0.0
            if down[s] > 0.0:
                run_down[s] += 1.0
                hits_down[s] += hit
            else:
                run_down[s] = 0.0
                hits_down[s] = 0.0
            if up[s] < 0.5 * threshold and down[s] < 0.5 * threshold:
                rate[s] += (hit - rate[s]) / min(seen[s], horizon)
            if first < 0 and (up[s] > threshold or down[s] > threshold):
                first = s
        if first >= 0:
            fired[0] = first
            if fresh[first] == 1:
                fired[1] = 3
            elif up[first] > threshold:
                fired[1] = 1
            else:
                fired[1] = 2
            return i
    return -1


@njit(cache=True)
def _forget(s, active, rate, seen, up, down, run_up, hits_up, run_down, hits_down):
    """A cluster silent for ``horizon`` records: if it comes back, it is a new one."""
    active[s] = 0
    rate[s] = 0.0
    seen[s] = 0.0
    up[s] = 0.0
    down[s] = 0.0
    run_up[s] = 0.0
    hits_up[s] = 0.0
    run_down[s] = 0.0
    hits_down[s] = 0.0
