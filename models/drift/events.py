"""Drift events: what drifted, where, when, and on what evidence."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field

__all__ = ["EVENT_KINDS", "DriftEvent"]

EVENT_KINDS = ("new_cluster", "vanished_cluster", "moved_cluster", "share_change", "global")


@dataclass(frozen=True)
class DriftEvent:
    """One detected drift, as a typed, JSON-serialisable record.

    A monitor emits one event per drift: once a detector has fired, the monitor stays quiet for
    a cool-down while its references re-learn, so a drift that lasts does not produce a stream
    of alarms.

    Parameters
    ----------
    kind
        One of ``EVENT_KINDS``: ``new_cluster`` (records settle where no cluster was),
        ``vanished_cluster`` (a cluster stops receiving records), ``moved_cluster`` (a cluster's
        members fall outside its usual neighbourhood), ``share_change`` (clusters keep their
        place but their shares of the traffic change) or ``global`` (a change seen only in the
        map-wide statistics).
    clusters
        Stable cluster ids concerned, most affected first; empty for a purely global event.
    index
        Position in the monitored stream (0-based) of the record at which the drift was
        detected.
    event_time
        Event time of that record in seconds, or ``None`` if the stream carries no times.
    detector
        Which statistic fired, e.g. ``"cluster_novelty"`` or ``"share_hellinger"``.
    statistic
        Value of the detection statistic when it fired.
    threshold
        Threshold it crossed.
    evidence
        Further numbers behind the decision (reference and observed rates, ...), name -> float.
    neurons
        Stable ids of the map's neurons concerned, when the detector watched neurons (a region
        the map has not yet given a cluster of its own is named by its neurons); else empty.

    Examples
    --------
    >>> event = DriftEvent("moved_cluster", (3,), 1200, 61.5, "cluster_novelty", 16.4, 16.0)
    >>> DriftEvent.from_json(event.to_json()) == event
    True
    >>> event.to_dict()["clusters"]
    [3]
    """

    kind: str
    clusters: tuple[int, ...]
    index: int
    event_time: float | None
    detector: str
    statistic: float
    threshold: float
    evidence: dict[str, float] = field(default_factory=dict)
    neurons: tuple[int, ...] = ()

    def __post_init__(self):
        if self.kind not in EVENT_KINDS:
            raise ValueError(f"unknown drift event kind {self.kind!r}; one of {EVENT_KINDS}")
        object.__setattr__(self, "clusters", tuple(int(c) for c in self.clusters))
        object.__setattr__(self, "neurons", tuple(int(c) for c in self.neurons))
        object.__setattr__(self, "index", int(self.index))
        if self.event_time is not None:
            object.__setattr__(self, "event_time", float(self.event_time))
        object.__setattr__(self, "statistic", float(self.statistic))
        object.__setattr__(self, "threshold", float(self.threshold))
        object.__setattr__(self, "evidence", {str(k): float(v) for k, v in self.evidence.items()})

    def to_dict(self) -> dict:
        """The event as a JSON-safe dict (non-finite numbers become ``None``)."""
        return {
            "kind": self.kind,
            "clusters": list(self.clusters),
            "index": self.index,
            "event_time": self.event_time,
            "detector": self.detector,
            "statistic": _finite(self.statistic),
            "threshold": _finite(self.threshold),
            "evidence": {k: _finite(v) for k, v in self.evidence.items()},
            "neurons": list(self.neurons),
        }

    @classmethod
    def from_dict(cls, document: dict) -> DriftEvent:
        """Inverse of :meth:`to_dict`; raises ``ValueError`` on a malformed document."""
        try:
            return cls(
                kind=document["kind"],
                clusters=tuple(document["clusters"]),
                index=document["index"],
                event_time=document["event_time"],
                detector=str(document["detector"]),
                statistic=_number(document["statistic"]),
                threshold=_number(document["threshold"]),
                evidence={k: _number(v) for k, v in document.get("evidence", {}).items()},
                neurons=tuple(document.get("neurons", ())),
            )
        except (KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"malformed drift event: {exc}") from exc

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), allow_nan=False)

    @classmethod
    def from_json(cls, text: str | bytes) -> DriftEvent:
        return cls.from_dict(json.loads(text))


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _number(value) -> float:
    return math.nan if value is None else float(value)
