"""The per-batch core that every consumer shares: validate, encode, cluster, watch for drift.

``sgmstream evaluate`` and the live worker both call :meth:`Pipeline.process` on batches of
:class:`~stream.source.Message`; only where the messages come from and where the results go
differ. Each batch is handled *prequentially*: the model assigns the batch before it learns it,
so the assignments are honest predictions on unseen records.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from models.cluster import SelfGrowthMap
from models.drift import DriftEvent, DriftMonitor, Readaptation, ReadaptationTracker, react
from stream.encoding import MixedEncoder
from stream.records import Record
from stream.schema import SchemaRegistry
from stream.source import Message
from stream.validation import Rejection, validate

__all__ = ["STAGES", "BatchResult", "Pipeline"]


STAGES = ("validate", "encode", "assign", "learn", "drift")


@dataclass
class BatchResult:
    """What one batch produced. ``records[i]`` came from ``accepted[i]``.

    ``seconds`` is the wall time of each stage of :data:`STAGES` on this batch: ``validate``
    (parsing and schema checks), ``encode`` (mixed-type encoding), ``assign`` (the map's
    prediction, before it learns), ``learn`` (the map's learning, merges included) and
    ``drift`` (monitoring, the map's reaction, re-labelling and re-adaptation timing).
    """

    accepted: list[Message] = field(default_factory=list)
    records: list[Record] = field(default_factory=list)
    clusters: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    novelty: np.ndarray = field(default_factory=lambda: np.empty(0))
    distance: np.ndarray = field(default_factory=lambda: np.empty(0))
    encoded: np.ndarray = field(default_factory=lambda: np.empty((0, 0)))
    rejected: list[tuple[Message, Rejection]] = field(default_factory=list)
    drift_events: list[DriftEvent] = field(default_factory=list)
    readaptations: list[Readaptation] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=lambda: dict.fromkeys(STAGES, 0.0))


class Pipeline:
    """Validation, mixed-type encoding, the Self-Growth Map and drift monitoring in one place.

    Parameters
    ----------
    registry
        The source schemas every message is validated against.
    encoder, model, monitor, tracker
        The learned parts and the re-adaptation timer; fresh defaults when omitted (the
        encoder typed by the registry's declared fields).
    max_bytes
        Messages larger than this are rejected (``too_large``) before they are parsed.
    """

    def __init__(
        self,
        registry: SchemaRegistry,
        encoder: MixedEncoder | None = None,
        model: SelfGrowthMap | None = None,
        monitor: DriftMonitor | None = None,
        tracker: ReadaptationTracker | None = None,
        max_bytes: int = 1 << 20,
    ):
        self.registry = registry
        # Typed by the schemas: a declared ordinal field keeps its order, a declared type
        # wins over what a first value looks like.
        self.encoder = encoder if encoder is not None else MixedEncoder.from_registry(registry)
        self.model = model if model is not None else SelfGrowthMap()
        self.monitor = monitor if monitor is not None else DriftMonitor()
        self.tracker = tracker if tracker is not None else ReadaptationTracker()
        self.max_bytes = max_bytes

    def load_kernels(self) -> None:
        """Load the compiled kernels now, not in the first batch.

        The first compiled call of a process starts numba's runtime (about 0.3 s on a 2-core
        machine, once); the first batch would carry that cost in its ``encode`` stage and its
        latency. Assigning an empty batch loads it and changes nothing.
        """
        self.model.transform_many(np.empty((0, 0)))

    def process(self, messages: list[Message]) -> BatchResult:
        result = BatchResult()
        started = time.perf_counter()
        now_ms = int(time.time() * 1000)  # one clock reading for the batch's timestamp checks
        for message in messages:
            outcome = validate(
                message.value, self.registry, max_bytes=self.max_bytes, now_ms=now_ms
            )
            if isinstance(outcome, Rejection):
                result.rejected.append((message, outcome))
            else:
                result.accepted.append(message)
                result.records.append(outcome)
        result.seconds["validate"] = time.perf_counter() - started
        if result.records:
            self._learn(result)
        return result

    def _learn(self, result: BatchResult) -> None:
        lap = _Lap(result.seconds)
        X = self.encoder.learn_transform_many(result.records)
        self.model.set_discrete_groups(self.encoder.discrete_groups)
        lap("encode")
        seen = self.model.transform_many(X)
        lap("assign")
        labels = self.model.neuron_ids, self.model.neuron_clusters
        self.model.learn_many(X)
        lap("learn")
        seconds = np.array([r.event_time for r in result.records], dtype=np.float64) / 1000.0
        result.encoded = X
        result.clusters = seen["cluster"]
        result.novelty = seen["novelty"]
        result.distance = seen["distance"]
        result.drift_events = self.monitor.update_many(
            seen["cluster"], seen["distance"], seen["novelty"], seconds, neuron=seen["neuron"]
        )
        for event in result.drift_events:
            react(self.model, event)
        # The map re-merges as it learns (and when it reacts): clusters may have been joined or
        # split, so later records carry other cluster ids for the same data. The monitor re-bases
        # on the new grouping rather than report it as drift.
        now = self.model.neuron_ids, self.model.neuron_clusters
        if not all(np.array_equal(a, b) for a, b in zip(labels, now, strict=True)):
            self.monitor.relabel(*now)
        result.readaptations = self.tracker.update_many(
            seen["cluster"], seen["distance"], seconds, result.drift_events, neuron=seen["neuron"]
        )
        lap("drift")


class _Lap:
    """Writes the time since its previous call (or its creation) under a stage's name."""

    def __init__(self, seconds: dict[str, float]):
        self.seconds = seconds
        self.last = time.perf_counter()

    def __call__(self, stage: str) -> None:
        now = time.perf_counter()
        self.seconds[stage] = now - self.last
        self.last = now
