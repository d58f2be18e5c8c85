"""The map's reaction to a drift event, and how long it takes to re-adapt."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from river.base import Base

from models.base import Snapshot
from models.drift.events import DriftEvent

__all__ = ["Readaptation", "ReadaptationTracker", "react"]


def react(sgm, event: DriftEvent) -> np.ndarray:
    """Apply the drift reaction to a map; returns the ids of the neurons it was applied to.

    An event that names neurons (a region the map absorbed into them) hands just those to
    ``sgm.adapt``, so they re-learn fast and move to the new region while the rest of their
    cluster keeps its place (adapting the whole cluster would make it re-learn too, and churn
    its ids). Otherwise the neurons of the clusters named are adapted (which raises their
    learning rates, ages out the stale ones and re-runs merging); a global event, or one naming
    nothing the map still has, adapts the whole map.
    """
    ids = np.asarray(sgm.neuron_ids)
    neurons = ids[np.isin(ids, np.asarray(event.neurons, dtype=np.int64))]
    if len(neurons) == 0:
        clusters = np.asarray(event.clusters, dtype=np.int64)
        neurons = ids[np.isin(np.asarray(sgm.neuron_clusters), clusters)]
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


class ReadaptationTracker(Snapshot, Base):
    """Times the re-adaptation of a map after each drift event.

    The *affected region* of an event is the set of records the map must re-learn:

    * for an event naming neurons (a new region absorbed by them): the records won by those
      neurons or by any neuron born after the event (fresh neurons grown there); the rest of
      the cluster that absorbed them is not part of it, its in-band records would dilute the
      measurement;
    * otherwise: the records assigned to the clusters it names or to any cluster born after it
      (a moved cluster is often re-learned by fresh neurons, which form a new cluster);
    * for a ``global`` event: every record.

    "Born after" means an id larger than every id seen up to the event: the map allocates
    neuron and cluster ids increasing and never reuses one (as ``SelfGrowthMap`` does), so the
    tracker keeps two numbers instead of a table of every id it has seen.

    The region's *pre-drift band* comes from the event's evidence: the mean :math:`\\mu` and
    standard deviation :math:`\\sigma` of in-control winner distances kept by ``DriftMonitor``
    (the clusters' own for a moved cluster or a share change, the whole map's for a new
    cluster, which had none). The region is back within band once the mean distance of its last
    ``window`` records is at most :math:`\\mu + \\max(z \\sigma / \\sqrt{window},
    tolerance \\cdot \\mu)` (the band of a window mean, with a relative floor because a region
    re-learned by new neurons settles near, not exactly at, its former error). A vanished cluster
    leaves nothing to re-learn and counts as re-adapted at detection.

    The tracker snapshots like a model (``to_dict`` / ``from_dict``), so a worker checkpoints
    it with the monitor; its memory is the pending events and ``window`` distances each.

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
        self._reset()

    def _reset(self) -> None:
        self._n = 0
        self._top_cluster = -1  # largest cluster id seen so far
        self._top_neuron = -1  # largest neuron id seen so far
        self._tracks: list[dict] = []

    @property
    def pending(self) -> list[DriftEvent]:
        return [track["event"] for track in self._tracks]

    def update_many(
        self, cluster, distance, event_time=None, events=(), neuron=None
    ) -> list[Readaptation]:
        """Feed a batch (the same arrays the monitor saw, and the events it raised on them).

        ``neuron`` (winner ids) is needed to measure events that name neurons; without it such
        events are measured on their clusters. Returns the re-adaptations completed (or given
        up) within this batch.
        """
        cluster = np.asarray(cluster, dtype=np.int64)
        distance = np.asarray(distance, dtype=np.float64)
        neuron = None if neuron is None else np.asarray(neuron, dtype=np.int64)
        times = None if event_time is None else np.asarray(event_time, dtype=np.float64)
        done: list[Readaptation] = []
        inside = [e.index - self._n for e in events if 0 <= e.index - self._n < len(cluster)]
        cuts = sorted(i + 1 for i in inside)
        start = 0
        pending = sorted(events, key=lambda e: e.index)
        for stop in [*cuts, len(cluster)]:
            done += self._advance(cluster, distance, neuron, times, start, stop)
            if stop > start:
                self._top_cluster = max(self._top_cluster, int(cluster[start:stop].max()))
                if neuron is not None:
                    self._top_neuron = max(self._top_neuron, int(neuron[start:stop].max()))
            while pending and pending[0].index - self._n < stop:
                done += self._start(pending.pop(0), neuron is not None)
            start = stop
        self._n += len(cluster)
        return done

    def _start(self, event: DriftEvent, by_neuron: bool) -> list[Readaptation]:
        mean = event.evidence.get("reference_qe_mean")
        std = event.evidence.get("reference_qe_std", 0.0)
        if mean is None or not np.isfinite(mean):
            return []
        upper = float(mean + max(self.z * std / np.sqrt(self.window), self.tolerance * mean))
        if event.kind == "vanished_cluster":
            return [Readaptation(event, event.index, 0, 0.0, upper)]
        self._tracks.append(
            {
                "event": event,
                "upper": upper,
                "recent": np.zeros(0),
                "by_neuron": bool(by_neuron and event.neurons),
                "top_cluster": self._top_cluster,
                "top_neuron": self._top_neuron,
            }
        )
        return []

    def _advance(self, cluster, distance, neuron, times, start, stop) -> list[Readaptation]:
        done, keep = [], []
        for track in self._tracks:
            result = self._advance_track(track, cluster, distance, neuron, times, start, stop)
            (done if result is not None else keep).append(result or track)
        self._tracks = keep
        return done

    def _advance_track(self, track, cluster, distance, neuron, times, start, stop):
        event = track["event"]
        if event.kind == "global":
            member = np.ones(stop - start, dtype=bool)
        elif track["by_neuron"] and neuron is not None:
            winners = neuron[start:stop]
            member = np.isin(winners, event.neurons) | (winners > track["top_neuron"])
        else:
            ids = cluster[start:stop]
            member = np.isin(ids, event.clusters) | (ids > track["top_cluster"])
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

    def _get_state(self) -> dict:
        tracks = [{**track, "event": track["event"].to_dict()} for track in self._tracks]
        return {
            "n": self._n,
            "top_cluster": self._top_cluster,
            "top_neuron": self._top_neuron,
            "tracks": tracks,
        }

    def _set_state(self, state: dict) -> None:
        self._n = int(state["n"])
        self._top_cluster = int(state["top_cluster"])
        self._top_neuron = int(state["top_neuron"])
        self._tracks = [
            {
                **track,
                "event": DriftEvent.from_dict(track["event"]),
                "recent": np.asarray(track["recent"], dtype=np.float64),
            }
            for track in state["tracks"]
        ]
