"""The long-running clustering worker (``sgmstream worker``).

Reads
    Every topic matching ``topics`` (default ``records.*``, one topic per source; topics created
    while it runs are picked up within a few seconds), as a member of the consumer group
    ``group_id``: start several workers with the same group and Kafka spreads the partitions
    over them. A group with no committed offset starts at ``start`` (``earliest``: everything
    the topics still hold; ``latest``: what arrives from now on).

Does
    Each polled batch goes through :class:`~stream.pipeline.Pipeline`, the code ``sgmstream
    evaluate`` runs on recordings: validation, mixed-type encoding, the Self-Growth Map (each
    batch is assigned before it is learned) and drift monitoring.

Writes
    * ``sgm.assignments``: per batch and source partition, one ``assignment`` document (keyed
      ``topic/partition``, so one output partition keeps each input partition's order) with the
      worker's name, the topic and partition, and one entry per valid record in each of the
      columns ``offset``, ``source``, ``id``, ``event_time``, ``cluster`` (the cluster it was
      assigned to), ``novelty`` (winner distance over the winner's radius) and ``drift`` (true
      if a drift event of the same batch names its cluster); and one ``drift_event`` document
      per drift event (keyed ``drift``), with the worker's name. Readers tell the two apart by
      the envelope's ``kind``. Columns, not a message per record: kafka-python sends some
      20,000 messages a second on this class of machine, which would cap the worker there.
    * ``sgm.deadletter``: every message that failed validation, its key, value and timestamp
      untouched, with the reason code, the offending field, a detail and the topic, partition
      and offset it came from in headers (``sgm.reason``, ``sgm.field``, ``sgm.detail``,
      ``sgm.topic``, ``sgm.partition``, ``sgm.offset``, ``sgm.worker``): nothing is lost, and
      the original bytes can be replayed once fixed.

Delivery (at least once)
    Every ``checkpoint_every_s`` seconds, and when it stops, the worker waits until the broker
    has acknowledged everything it sent, writes its checkpoint (:mod:`stream.checkpoint`: the
    learned pipeline and the offsets it reflects), and only then commits those offsets. A
    worker killed at any moment (even with SIGKILL) restarts from its last checkpoint and the
    matching committed offsets: the records after them are assigned again (downstream may see
    an assignment twice, never miss one) and learned once. If the broker refuses a message,
    nothing is committed and the worker stops with an error, to be restarted. After a
    rebalance, a partition that moved to another worker is processed by it from the last
    commit on.

Stopping
    On SIGTERM or Ctrl+C the worker finishes its batch, checkpoints, commits and exits; also
    after ``duration_s`` seconds, ``count`` messages or ``idle_s`` seconds without one, when
    given (for bounded runs and tests; idle time counts only while the worker owns partitions).
    Progress (records, rate, rejections, clusters, drift events) goes to ``progress``, then one
    summary line; the Prometheus metrics of :mod:`stream.metrics` are served while it runs.

Restarts
    A worker given a ``name`` is a static member of its group (``group.instance.id``): restarted
    under the same name, after a crash or a deploy, it gets its partitions back at once, with
    no rebalance of the others; a worker stopped for good hands them on after the session
    timeout (45 s). Without a name, a restarted worker is a new member, and the partitions of
    one that was killed wait for that timeout before anyone reads them.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Literal

import numpy as np
from kafka import ConsumerRebalanceListener

from consumers.alignment import EventTimeAligner
from consumers.common import METADATA_MAX_AGE_MS, Stop, check_start, topic_pattern
from models.cluster import SelfGrowthMap
from stream import checkpoint as checkpoints
from stream.exceptions import BrokerError, ConfigError
from stream.metrics import WorkerMetrics, serve
from stream.pipeline import BatchResult, Pipeline
from stream.progress import ProgressLine, counted
from stream.schema import SchemaRegistry
from stream.serde import dumps
from stream.settings import KafkaSettings, TopicSettings
from stream.source import KafkaSource

__all__ = ["WorkerResult", "run"]

_FLUSH_TIMEOUT_S = 30.0
# Small fetches per partition, so that a backlog arrives from every partition at once, in
# pieces the aligner can interleave; and polls that drain what the client has fetched.
_PARTITION_FETCH_BYTES = 32 * 1024
_POLL_RECORDS = 10_000


@dataclass
class WorkerResult:
    """What one run of a worker did."""

    name: str
    processed: int = 0  # messages taken in this run (valid records and rejected ones)
    rejected: Counter = field(default_factory=Counter)
    drift_events: int = 0
    checkpoints: int = 0
    resumed_at: int = 0  # messages the checkpoint it started from had learned
    clusters: int = 0
    neurons: int = 0
    elapsed_s: float = 0.0
    active_s: float = 0.0  # from the first message fetched to the end (no group join)
    stopped_by: str = ""

    def describe(self) -> str:
        rate = self.processed / self.elapsed_s if self.elapsed_s > 0 else 0.0
        resumed = f", resumed after {self.resumed_at:,}" if self.resumed_at else ""
        return (
            f"{self.processed:,} messages in {self.elapsed_s:.1f} s ({rate:,.0f}/s{resumed}), "
            f"{sum(self.rejected.values()):,} dead-lettered, {self.clusters} clusters on "
            f"{self.neurons} neurons, {counted(self.drift_events, 'drift event')}, "
            f"{counted(self.checkpoints, 'checkpoint')} ({self.stopped_by})"
        )


def run(
    settings: KafkaSettings,
    registry: SchemaRegistry,
    checkpoint: str | Path,
    *,
    topics: str = "records.*",
    group_id: str = "sgm-workers",
    start: Literal["earliest", "latest"] = "earliest",
    names: TopicSettings | None = None,
    batch_size: int = 1000,
    checkpoint_every_s: float = 5.0,
    duration_s: float | None = None,
    count: int | None = None,
    idle_s: float | None = None,
    name: str | None = None,
    seed: int = 0,
    metrics_port: int | None = None,
    progress: IO[str] | None = None,
) -> WorkerResult:
    """Run a worker until a stop condition or a signal; returns what it did.

    With ``metrics_port`` it serves its Prometheus metrics (:mod:`stream.metrics`) on
    ``http://0.0.0.0:<port>/metrics`` while it runs.
    """
    check_start(start)
    if batch_size < 1:
        raise ConfigError(f"--batch-size must be at least 1, got {batch_size}")
    if checkpoint_every_s <= 0:
        raise ConfigError(f"--checkpoint-every must be > 0 seconds, got {checkpoint_every_s}")
    names = names or TopicSettings()
    pattern = _inputs(topics, names)
    stop = Stop(duration_s, count, idle_s)
    path = Path(checkpoint)
    result = WorkerResult(name or f"{socket.gethostname()}-{os.getpid()}")
    static = {"group_instance_id": name} if name else {}
    with checkpoints.lock(path), _signals_stop(stop):
        state = _resume(path, registry, seed, progress)
        result.resumed_at = state.processed
        with _serving(metrics_port) as metrics:
            if metrics_port and progress is not None:
                progress.write(f"worker: metrics on http://0.0.0.0:{metrics_port}/metrics\n")
            _Loop(settings, state, path, names, result, metrics, progress).run(
                pattern, group_id, start, batch_size, checkpoint_every_s, stop, static
            )
    return result


@contextmanager
def _serving(port: int | None) -> Iterator[WorkerMetrics]:
    metrics = WorkerMetrics()
    server = serve(metrics, port) if port else None
    try:
        yield metrics
    finally:
        if server is not None:
            server.shutdown()
            server.server_close()


def _inputs(topics: str, names: TopicSettings) -> re.Pattern[str]:
    """The ``topics`` pattern, never matching the pipeline's own topics: a worker reading its
    assignments or dead letters would dead-letter its own output, without end.

    >>> inputs = _inputs("records.*,sgm.*", TopicSettings())
    >>> [t for t in ("records.a", "sgm.assignments", "sgm.other") if inputs.match(t)]
    ['records.a', 'sgm.other']
    """
    wanted = topic_pattern(topics)
    own = (names.assignments, names.deadletter, names.updates, names.global_model)
    excluded = "|".join(re.escape(name) for name in own)
    return re.compile(f"^(?!(?:{excluded})$){wanted.pattern[1:]}")


def _resume(path: Path, registry: SchemaRegistry, seed: int, progress) -> checkpoints.Checkpoint:
    if not path.exists():
        return checkpoints.Checkpoint(Pipeline(registry, model=SelfGrowthMap(seed=seed)))
    state = checkpoints.load(path, registry)
    changed = checkpoints.changed_schemas(state, registry)
    if changed and progress is not None:
        progress.write(
            f"worker: schema versions changed since the checkpoint for {', '.join(changed)}; "
            "continuing with the learned state\n"
        )
    return state


class _Loop:
    """One run's consumer, producer and bookkeeping."""

    def __init__(self, settings, state, path, names, result, metrics, progress):
        self.settings, self.state, self.path, self.names = settings, state, path, names
        self.result, self.metrics, self.line = result, metrics, ProgressLine(progress)
        self.committed: dict[tuple[str, int], int] = dict(state.offsets)
        self.pipeline: Pipeline = state.pipeline
        self.pending: dict[tuple[str, int], int] = {}  # next offsets learned, not yet committed
        self.owned = _Ownership()
        self.failures: list[str] = []  # delivery errors reported by the producer's callbacks
        self.aligner = EventTimeAligner()
        self.paused: set[tuple[str, int]] = set()

    def run(self, pattern, group_id, start, batch_size, checkpoint_every_s, stop, static) -> None:
        from stream.clients import consumer, producer

        self.writer = producer(self.settings)
        reader = consumer(
            self.settings,
            group_id=group_id,
            auto_offset_reset=start,
            metadata_max_age_ms=METADATA_MAX_AGE_MS,
            max_partition_fetch_bytes=_PARTITION_FETCH_BYTES,
            **static,
        )
        source = KafkaSource(reader)
        started = time.monotonic()
        first = None
        try:
            reader.subscribe(pattern=pattern.pattern, listener=self.owned)
            self.pipeline.load_kernels()
            last_checkpoint = time.monotonic()
            while not stop.reached(self.result.processed):
                room = stop.room(self.result.processed)
                limit = batch_size if room is None else min(batch_size, room)
                fetched = source.poll(max_records=_POLL_RECORDS, timeout_s=stop.poll_timeout_s())
                polled_at = time.monotonic()
                if fetched and first is None:
                    first = polled_at
                if fetched or len(self.aligner) or not self.owned.partitions:
                    stop.last_message = polled_at  # idle: nothing to do, yet partitions
                messages = self._align(reader, source, fetched, limit)
                if messages:
                    self._process(messages, polled_at)
                if time.monotonic() - last_checkpoint >= checkpoint_every_s:
                    self._checkpoint(source)
                    last_checkpoint = time.monotonic()
                if self.line.due():
                    self.line.update(self._status(started))
            self._checkpoint(source)
        finally:
            self.result.elapsed_s = time.monotonic() - started
            self.result.active_s = time.monotonic() - first if first is not None else 0.0
            self.result.stopped_by = stop.reason
            self.result.clusters = self.pipeline.model.n_clusters
            self.result.neurons = self.pipeline.model.n_neurons
            reader.close()
            self.writer.close(timeout=_FLUSH_TIMEOUT_S)
        self.line.finish(f"worker {self.result.name} stopped: {self.result.describe()}")

    def _align(self, reader, source: KafkaSource, fetched, most: int) -> list:
        """The next batch in event-time order across partitions (see ``EventTimeAligner``)."""
        from kafka import TopicPartition

        revoked = self.owned.take_revoked()
        owned = set(self.owned.partitions)  # a snapshot: rebalances change it concurrently
        # A partition given back after a rebalance is fetched again from its last commit.
        self.aligner.drop(revoked | (self.aligner.partitions() - owned))
        self.paused -= revoked
        self.aligner.add(fetched)
        ends = self._ends(source, owned)
        behind = set()
        for key in owned:
            fetched_to = self.aligner.next_offset(key)
            if key not in ends or (fetched_to is not None and fetched_to < ends[key]):
                behind.add(key)
        batch = self.aligner.take(behind, most)
        full = self.aligner.full() & owned
        if full != self.paused:
            reader.resume(*(TopicPartition(*key) for key in self.paused - full))
            reader.pause(*(TopicPartition(*key) for key in full - self.paused))
            self.paused = full
        return batch

    def _process(self, messages, polled_at: float) -> None:
        outcome = self.pipeline.process(messages)
        self._publish(outcome)
        self.metrics.batch(outcome, self.pipeline.model, polled_at)
        for message in messages:
            self.pending[(message.topic, message.partition)] = message.offset + 1
        self.result.processed += len(messages)
        self.result.rejected.update(str(rejection.reason) for _, rejection in outcome.rejected)
        self.result.drift_events += len(outcome.drift_events)
        for event in outcome.drift_events:
            self.line.finish(
                f"worker: drift ({event.kind}) in clusters {list(event.clusters)} at record "
                f"{event.index:,}"
            )

    def _publish(self, outcome: BatchResult) -> None:
        name = self.result.name
        drifted = {c for event in outcome.drift_events for c in event.clusters}
        for (topic, partition), rows in _by_partition(outcome.accepted).items():
            records = [outcome.records[i] for i in rows]
            clusters = outcome.clusters[rows]
            novelty = outcome.novelty[rows]
            body = {
                "worker": name,
                "topic": topic,
                "partition": partition,
                "offset": np.array([outcome.accepted[i].offset for i in rows], dtype=np.int64),
                "source": [r.source for r in records],
                "id": [r.id for r in records],
                "event_time": np.array([r.event_time for r in records], dtype=np.int64),
                "cluster": clusters.astype(np.int64),
                "novelty": _finite_or_none(np.round(novelty, 4)),
                "drift": np.isin(clusters, list(drifted)),
            }
            self._send(
                self.names.assignments, dumps("assignment", body), f"{topic}/{partition}".encode()
            )
        for event in outcome.drift_events:
            body = {**event.to_dict(), "worker": name}
            self._send(self.names.assignments, dumps("drift_event", body), b"drift")
        for message, rejection in outcome.rejected:
            headers = [
                ("sgm.reason", str(rejection.reason).encode()),
                ("sgm.field", (rejection.field or "").encode()),
                ("sgm.detail", rejection.detail.encode("utf-8", "replace")),
                ("sgm.topic", message.topic.encode()),
                ("sgm.partition", str(message.partition).encode()),
                ("sgm.offset", str(message.offset).encode()),
                ("sgm.worker", name.encode()),
            ]
            self._send(
                self.names.deadletter,
                message.value,
                message.key,
                headers=headers,
                timestamp_ms=message.timestamp_ms if message.timestamp_ms >= 0 else None,
            )

    def _send(self, topic: str, value, key, **extra) -> None:
        future = self.writer.send(topic, value=value, key=key, **extra)
        future.add_errback(lambda exc: self.failures.append(f"{topic}: {exc}"))

    def _checkpoint(self, source: KafkaSource) -> None:
        """Acknowledged outputs, then durable state, then committed offsets: in that order."""
        self.writer.flush(timeout=_FLUSH_TIMEOUT_S)
        if self.failures:
            raise BrokerError(
                f"the broker refused {len(self.failures)} messages (first: {self.failures[0]}); "
                "nothing committed since the last checkpoint, restart the worker to redo it"
            )
        learned = {**self.state.offsets, **self.pending}
        total = self.state.processed + self.result.processed
        checkpoints.save(self.path, self.pipeline, learned, processed=total)
        self.result.checkpoints += 1
        owned = set(self.owned.partitions)
        mine = {key: offset for key, offset in self.pending.items() if key in owned}
        if mine:
            self._commit(source, mine)
        self.state.offsets, self.pending = learned, {}
        for key in owned - set(self.committed):  # committed before this worker owned it
            self.committed[key] = source.committed_offset(*key) or 0
        self.metrics.lag(self._ends(source, owned), self.committed)

    def _commit(self, source: KafkaSource, offsets: dict) -> None:
        from kafka.errors import CommitFailedError

        try:
            source.commit(offsets)
            self.committed.update(offsets)
        except CommitFailedError:
            # A rebalance took the partitions away since the poll: their new owner redoes
            # these records from the previous commit (at least once), nothing is lost.
            self.line.finish("worker: commit refused after a rebalance; the new owner redoes it")

    @staticmethod
    def _ends(source: KafkaSource, partitions) -> dict[tuple[str, int], int]:
        """The end offset of each of ``partitions`` the client has heard of."""
        ends = {key: source.end_offset(*key) for key in partitions}
        return {key: end for key, end in ends.items() if end is not None}

    def _status(self, started: float) -> str:
        elapsed = time.monotonic() - started
        rate = self.result.processed / elapsed if elapsed > 0 else 0.0
        model = self.pipeline.model
        return (
            f"worker {self.result.processed:,} messages {rate:,.0f}/s, "
            f"{sum(self.result.rejected.values()):,} dead-lettered, {model.n_clusters} clusters "
            f"on {model.n_neurons} neurons, {counted(self.result.drift_events, 'drift event')}, "
            f"{len(self.owned.partitions)} partitions, {elapsed:.0f} s"
        )


def _finite_or_none(values: np.ndarray):
    """The array itself (checked and written at numpy speed) unless it holds a non-finite
    value (no neuron shares a feature with the record), which JSON carries as null."""
    if np.isfinite(values).all():
        return values
    return [float(v) if np.isfinite(v) else None for v in values]


def _by_partition(messages) -> dict[tuple[str, int], list[int]]:
    """Row numbers of ``messages`` per source partition, in order."""
    rows: dict[tuple[str, int], list[int]] = {}
    for i, message in enumerate(messages):
        rows.setdefault((message.topic, message.partition), []).append(i)
    return rows


class _Ownership(ConsumerRebalanceListener):
    """The partitions this worker owns now, kept by the group's rebalance callbacks.

    The callbacks run on the client's network thread, which also sends heartbeats, so they only
    note the change; committing and checkpointing stay in the loop.
    """

    def __init__(self):
        self.partitions: set[tuple[str, int]] = set()
        self._revoked: set[tuple[str, int]] = set()

    def take_revoked(self) -> set[tuple[str, int]]:
        """Partitions revoked since the last call (some may have been assigned back since)."""
        revoked, self._revoked = self._revoked, set()
        return revoked

    def on_partitions_revoked(self, revoked) -> None:
        gone = {(tp.topic, tp.partition) for tp in revoked}
        self.partitions -= gone
        self._revoked |= gone

    def on_partitions_assigned(self, assigned) -> None:
        self.partitions |= {(tp.topic, tp.partition) for tp in assigned}

    def on_partitions_lost(self, lost) -> None:
        self.on_partitions_revoked(lost)


@contextmanager
def _signals_stop(stop: Stop) -> Iterator[None]:
    """SIGTERM and Ctrl+C end the run after the current batch (checkpointed and committed)."""
    if threading.current_thread() is not threading.main_thread():
        yield  # signals reach the main thread only (tests run workers in threads)
        return

    def ask(signum, frame):
        stop.reason = "SIGTERM" if signum == signal.SIGTERM else "interrupted"

    previous = {s: signal.signal(s, ask) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
