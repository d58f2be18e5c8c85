"""Transport limit vs the pipeline: kafka-python alone, the worker's core, the whole worker.

Starts a throw-away local broker (its own temp data dir, a free port), produces ``--count``
records of the synthetic three-source stream (event times ending now, so the broker's
retention keeps them) onto one topic per source, ``--partitions`` each, then reads the whole
backlog back three times in the same run, each time from the earliest offset:

* ``raw consume``: a bare kafka-python consumer in whole poll batches, no decoding. This is the
  ceiling any sgmstream consumer can reach on this machine.
* ``consume + pipeline``: the same consumer behind :class:`stream.source.KafkaSource`, every
  batch as fetched through :class:`stream.pipeline.Pipeline` (validation, mixed-type encoding,
  Self-Growth Map, drift monitoring); the time it spends in each stage is printed too, in
  microseconds per record.
* ``worker``: :func:`consumers.worker.run`, the long-running worker (a consumer group, the
  partitions aligned in event time, assignments and dead letters produced, checkpoints and
  commits every 5 s), timed from its first message.

The two clustering runs are scored against the stream's labels (ARI of each record's
prequential assignment; the worker's read back from its assignments topic), next to
``sgmstream evaluate``'s core on the time-ordered stream without Kafka.

    python -m benchmarks.transport --count 100000
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np
import orjson
from kafka.admin import NewTopic
from sklearn.metrics import adjusted_rand_score

from consumers import worker
from models.cluster import SelfGrowthMap
from producers.synthetic import SyntheticStream
from stream.broker import REPO_ROOT, LocalBroker, free_port
from stream.clients import admin_client, consumer, producer
from stream.evaluation import evaluate
from stream.pipeline import STAGES, Pipeline
from stream.records import record_to_dict
from stream.schema import SchemaRegistry
from stream.serde import load_envelope
from stream.settings import KafkaSettings, TopicSettings
from stream.source import KafkaSource, MemorySource, Message

SOURCES = ("sensors", "payments", "weblogs")
TOPICS = [f"bench.records.{source}" for source in SOURCES]
NAMES = TopicSettings(assignments="bench.assignments", deadletter="bench.deadletter")
SCHEMAS = REPO_ROOT / "deploy" / "schemas" / "synthetic.yaml"


def synthetic(count: int) -> list:
    """The stream, its event times ending now (the broker's retention keeps them)."""
    span_ms = count * SyntheticStream.interval_ms
    start_ms = int(time.time() * 1000) - span_ms
    return list(SyntheticStream(count=count, seed=0, start_ms=start_ms))


def produce(settings: KafkaSettings, records: list) -> tuple[float, int]:
    payloads = [orjson.dumps(record_to_dict(r)) for r in records]
    out = producer(settings, linger_ms=20, batch_size=256 * 1024)
    started = time.perf_counter()
    for record, payload in zip(records, payloads, strict=True):
        topic = f"bench.records.{record.source}"
        out.send(topic, value=payload, key=record.id.encode(), timestamp_ms=record.event_time)
    out.flush()
    elapsed = time.perf_counter() - started
    out.close()
    return len(records) / elapsed, sum(map(len, payloads)) // len(records)


def _timed_drain(reader, count: int, handle) -> float:
    seen = 0
    started = None
    while seen < count:
        batch = handle(reader)
        if started is None and batch:
            started = time.perf_counter()
        seen += batch
    return count / (time.perf_counter() - (started or time.perf_counter()))


def consume_raw(settings: KafkaSettings, count: int) -> float:
    reader = consumer(settings, *TOPICS, group_id=None, max_poll_records=1000)
    rate = _timed_drain(
        reader, count, lambda r: sum(len(b) for b in r.poll(timeout_ms=1000).values())
    )
    reader.close()
    return rate


def consume_pipeline(settings: KafkaSettings, count: int) -> tuple[float, Counter, dict, int]:
    """Records per second, the seconds the pipeline spent in each of its stages, each record's
    cluster by id, and the number of drift events."""
    pipeline = Pipeline(SchemaRegistry.load(SCHEMAS), model=SelfGrowthMap(seed=0))
    pipeline.load_kernels()  # as a worker does before it consumes
    source = KafkaSource(consumer(settings, *TOPICS, group_id=None, max_poll_records=1000))
    stages: Counter = Counter()
    clusters: dict = {}
    events = 0

    def handle(src: KafkaSource) -> int:
        nonlocal events
        result = pipeline.process(src.poll(max_records=1000, timeout_s=1.0))
        stages.update(result.seconds)
        clusters.update(zip((r.id for r in result.records), result.clusters.tolist(), strict=True))
        events += len(result.drift_events)
        return len(result.records) + len(result.rejected)

    rate = _timed_drain(source, count, handle)
    source.close()
    return rate, stages, clusters, events


def consume_worker(settings: KafkaSettings, count: int, scratch: Path) -> tuple[float, dict, int]:
    """The worker's rate from its first message, each record's cluster by id (read back from
    the assignments topic) and its drift events."""
    result = worker.run(
        settings,
        SchemaRegistry.load(SCHEMAS),
        scratch / "worker.json",
        topics=",".join(t.replace(".", r"\.") for t in TOPICS),
        group_id="bench.worker",
        names=NAMES,
        count=count,
        name="bench",
    )
    reader = consumer(settings, NAMES.assignments, group_id=None, max_poll_records=10_000)
    clusters: dict = {}
    while len(clusters) < count:
        for batch in reader.poll(timeout_ms=1000).values():
            for message in batch:
                kind, body = load_envelope(message.value)
                if kind == "assignment":
                    clusters.update(zip(body["id"], body["cluster"], strict=True))
    reader.close()
    return result.processed / result.active_s, clusters, result.drift_events


def offline(records: list) -> tuple[float, dict, int]:
    """``sgmstream evaluate``'s core on the time-ordered stream, no Kafka."""
    pipeline = Pipeline(SchemaRegistry.load(SCHEMAS), model=SelfGrowthMap(seed=0))
    messages = (
        Message("t", 0, i, None, orjson.dumps(record_to_dict(r)), r.event_time)
        for i, r in enumerate(records)
    )
    run = evaluate(MemorySource(messages), pipeline)
    ids = [r.id for r in records]
    clusters = dict(zip(ids, np.concatenate(run.clusters).tolist(), strict=True))
    return len(records) / run.seconds, clusters, len(run.drift_events)


def ari(records: list, clusters: dict) -> float:
    return round(
        adjusted_rand_score([r.label for r in records], [clusters[r.id] for r in records]), 3
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=100_000, help="records to move")
    parser.add_argument("--partitions", type=int, default=4, help="partitions per source topic")
    args = parser.parse_args()
    records = synthetic(args.count)
    with tempfile.TemporaryDirectory() as data:
        broker = LocalBroker(data_dir=Path(data) / "kafka")
        state, _ = broker.start(port=free_port())
        try:
            settings = KafkaSettings(bootstrap_servers=state.bootstrap_servers)
            admin = admin_client(settings)
            admin.create_topics(
                [NewTopic(t, args.partitions, 1) for t in TOPICS]
                + [
                    NewTopic(NAMES.assignments, args.partitions, 1),
                    NewTopic(NAMES.deadletter, 1, 1),
                ]
            )
            admin.close()
            print(f"producing {args.count} records ...", file=sys.stderr)
            produce_rate, record_bytes = produce(settings, records)
            print("raw consume ...", file=sys.stderr)
            raw_rate = consume_raw(settings, args.count)
            print("consume + pipeline ...", file=sys.stderr)
            pipeline_rate, stages, fetched, fetched_events = consume_pipeline(settings, args.count)
            print("worker ...", file=sys.stderr)
            worker_rate, assigned, worker_events = consume_worker(settings, args.count, Path(data))
        finally:
            broker.stop()
    print("offline ...", file=sys.stderr)
    offline_rate, ordered, offline_events = offline(records)
    result = {
        "kafka": state.kafka_version,
        "records": args.count,
        "topics": f"{len(TOPICS)} x {args.partitions} partitions",
        "record_bytes": record_bytes,
        "produce_rps": round(produce_rate),
        "raw_consume_rps": round(raw_rate),
        "consume_pipeline_rps": round(pipeline_rate),
        "worker_rps": round(worker_rate),
        "offline_rps": round(offline_rate),
        "pipeline_us_per_record": {
            stage: round(stages[stage] / args.count * 1e6, 2) for stage in STAGES
        },
        "ari": {
            "consume_pipeline_as_fetched": ari(records, fetched),
            "worker": ari(records, assigned),
            "offline_time_ordered": ari(records, ordered),
        },
        "drift_events": {
            "consume_pipeline_as_fetched": fetched_events,
            "worker": worker_events,
            "offline_time_ordered": offline_events,
        },
        "python": platform.python_version(),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
