"""The map's reaction to a drift event, and how long it takes to re-adapt."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from models.drift.events import DriftEvent

__all__ = ["Readaptation", "ReadaptationTracker", "react"]


def react(sgm, event: DriftEvent) -> np.ndarray:
    """Apply the drift reaction to a map; returns the ids of the neurons it was applied to.

    The neurons of the clusters named by the event are handed to ``sgm.adapt`` (which raises
    their learning rates, ages out the stale ones and re-runs merging); a global event, or one
    naming no cluster the map still has, adapts the whole map.
    """
    clusters = np.asarray(event.clusters, dtype=np.int64)
    neurons = np.asarray(sgm.neuron_ids)[np.isin(np.asarray(sgm.neuron_clusters), clusters)]
    if event.kind == "global" or len(neurons) == 0:
        sgm.adapt(None)
        return np.asarray(sgm.neuron_ids)
    sgm.adapt(neurons)
    return neurons


@dataclass(frozen=True)
class Readaptation:
    """How long the map took to bring the affected region back within its pre-drift band.

    ``records`` and ``seconds`` count from the detection (``event.index``,
    ``event.event_time``) to the record that completed the first in-band window; both are
    ``None`` if the map did not re-adapt within the tracker's ``max_records``.
    """

    event: DriftEvent
    index: int | None
    records: int | None
    seconds: float | None
    band_upper: float

    def to_dict(self) -> dict:
        return {
            "event": self.event.to_dict(),
            "index": self.index,
            "records": self.records,
            "seconds": self.seconds,
            "band_upper": self.band_upper,
        }


class ReadaptationTracker:
    """Times the re-adaptation of a map after each drift event.

    The *affected region* of an event is the set of records assigned to the clusters it names
    or to any cluster first seen after it (a moved cluster is often re-learned by fresh
    neurons, which form a new cluster); for a ``global`` event it is every record. Its
    *pre-drift band* comes from the event's evidence: the mean :math:`\\mu` and standard deviation
    :math:`\\sigma` of the in-control winner distances of those clusters before the drift, kept by
    ``DriftMonitor``. The region is back within band once the mean distance of its last
    ``window`` records is at most :math:`\\mu + \\max(z \\sigma / \\sqrt{window},
    tolerance \\cdot \\mu)` (the band of a window mean, with a relative floor because a region
    re-learned by new neurons settles near, not exactly at, its former error). A vanished cluster
    leaves nothing to re-learn and counts as re-adapted at detection.

    Parameters
    ----------
    window
        Records of the region averaged per test (the measurement's resolution).
    z
        Width of the band in standard errors of a window mean.
    tolerance
        Relative floor of the band's half-width.
    max_records
        Records after which a region still out of band is reported as not re-adapted.

    Attributes
    ----------
    pending
        Events still being tracked.

    Examples
    --------
    >>> import numpy as np
    >>> event = DriftEvent("moved_cluster", (4,), 99, 0.99, "cluster_novelty", 17.0, 16.0,
    ...                    {"reference_qe_mean": 1.0, "reference_qe_std": 0.2})
    >>> tracker = ReadaptationTracker(window=10)
    >>> cluster = np.full(400, 4)
    >>> distance = np.where(np.arange(400) < 250, 3.0, 1.0)
    >>> [done] = tracker.update_many(cluster, distance, np.arange(400) / 100, events=[event])
    >>> done.records, round(done.seconds, 3), round(done.band_upper, 3)
    (160, 1.6, 1.19)
    """

    def __init__(
        self,
        window: int = 20,
        z: float = 3.0,
        tolerance: float = 0.1,
        max_records: int = 100_000,
    ):
        self.window = window
        self.z = z
        self.tolerance = tolerance
        self.max_records = max_records
        self._n = 0
        self._first_seen: dict[int, int] = {}
        self._tracks: list[dict] = []

    @property
    def pending(self) -> list[DriftEvent]:
        return [track["event"] for track in self._tracks]

    def update_many(self, cluster, distance, event_time=None, events=()) -> list[Readaptation]:
        """Feed a batch (the same arrays the monitor saw, and the events it raised on them).

        Returns the re-adaptations completed (or given up) within this batch.
        """
        cluster = np.asarray(cluster, dtype=np.int64)
        distance = np.asarray(distance, dtype=np.float64)
        times = None if event_time is None else np.asarray(event_time, dtype=np.float64)
        ids, first = np.unique(cluster, return_index=True)
        for c, i in zip(ids.tolist(), first.tolist(), strict=True):
            self._first_seen.setdefault(c, self._n + i)
        done: list[Readaptation] = []
        inside = [e.index - self._n for e in events if 0 <= e.index - self._n < len(cluster)]
        cuts = sorted(i + 1 for i in inside)
        start = 0
        pending = sorted(events, key=lambda e: e.index)
        for stop in [*cuts, len(cluster)]:
            done += self._advance(cluster, distance, times, start, stop)
            while pending and pending[0].index - self._n < stop:
                done += self._start(pending.pop(0))
            start = stop
        self._n += len(cluster)
        return done

    def _start(self, event: DriftEvent) -> list[Readaptation]:
        mean = event.evidence.get("reference_qe_mean")
        std = event.evidence.get("reference_qe_std", 0.0)
        if mean is None or not np.isfinite(mean):
            return []
        upper = float(mean + max(self.z * std / np.sqrt(self.window), self.tolerance * mean))
        if event.kind == "vanished_cluster":
            return [Readaptation(event, event.index, 0, 0.0, upper)]
        self._tracks.append({"event": event, "upper": upper, "recent": np.zeros(0)})
        return []

    def _advance(self, cluster, distance, times, start, stop) -> list[Readaptation]:
        done, keep = [], []
        for track in self._tracks:
            result = self._advance_track(track, cluster, distance, times, start, stop)
            (done if result is not None else keep).append(result or track)
        self._tracks = keep
        return done

    def _advance_track(self, track, cluster, distance, times, start, stop):
        event = track["event"]
        if event.kind == "global":
            member = np.ones(stop - start, dtype=bool)
        else:
            born_after = [c for c, i in self._first_seen.items() if i > event.index]
            member = np.isin(cluster[start:stop], [*event.clusters, *born_after])
        member &= np.isfinite(distance[start:stop])
        positions = start + np.flatnonzero(member)
        values = np.concatenate([track["recent"], distance[positions]])
        w, n_old = self.window, len(track["recent"])
        if len(values) >= w:
            sums = np.cumsum(values)
            window_means = (sums[w - 1 :] - np.concatenate([[0.0], sums[:-w]])) / w
            ends = np.arange(w - 1, len(values))
            ok = np.flatnonzero((window_means <= track["upper"]) & (ends >= n_old))
            if len(ok):
                at = int(positions[ends[ok[0]] - n_old])
                return self._result(event, track["upper"], at, times)
        track["recent"] = values[-(w - 1) :] if w > 1 else np.zeros(0)
        if self._n + stop - 1 - event.index >= self.max_records:
            return Readaptation(event, None, None, None, track["upper"])
        return None

    def _result(self, event, upper, at, times) -> Readaptation:
        index = self._n + at
        seconds = None
        if times is not None and event.event_time is not None:
            seconds = float(times[at] - event.event_time)
        return Readaptation(event, index, index - event.index, seconds, upper)
