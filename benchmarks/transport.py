"""Transport limit vs the pipeline: kafka-python alone, then kafka-python plus the worker's core.

Starts a throw-away local broker (its own temp data dir, a free port), produces ``--count``
records of the synthetic three-source stream to one topic, then reads them back twice in the
same run, each time with a fresh consumer from the earliest offset:

* ``raw consume``: a bare kafka-python consumer in whole poll batches, no decoding. This is the
  ceiling any sgmstream consumer can reach on this machine.
* ``consume + pipeline``: the same consumer behind :class:`stream.source.KafkaSource`, every
  batch through :class:`stream.pipeline.Pipeline` (validation, mixed-type encoding, Self-Growth
  Map, drift monitoring), which is what a worker does per batch; the time it spends in each
  stage is printed too, in microseconds per record.

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

import orjson
from kafka.admin import NewTopic

from models.cluster import SelfGrowthMap
from producers.synthetic import SyntheticStream
from stream.broker import REPO_ROOT, LocalBroker, free_port
from stream.clients import admin_client, consumer, producer
from stream.pipeline import STAGES, Pipeline
from stream.records import record_to_dict
from stream.schema import SchemaRegistry
from stream.settings import KafkaSettings
from stream.source import KafkaSource

TOPIC = "bench.transport"


def produce(settings: KafkaSettings, count: int) -> tuple[float, int]:
    payloads = [orjson.dumps(record_to_dict(r)) for r in SyntheticStream(count=count, seed=0)]
    out = producer(settings, linger_ms=20, batch_size=256 * 1024)
    started = time.perf_counter()
    for i, payload in enumerate(payloads):
        out.send(TOPIC, value=payload, key=str(i % 64).encode())
    out.flush()
    elapsed = time.perf_counter() - started
    out.close()
    return count / elapsed, sum(map(len, payloads)) // count


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
    reader = consumer(settings, TOPIC, group_id=None, max_poll_records=1000)
    rate = _timed_drain(
        reader, count, lambda r: sum(len(b) for b in r.poll(timeout_ms=1000).values())
    )
    reader.close()
    return rate


def consume_pipeline(settings: KafkaSettings, count: int) -> tuple[float, Counter]:
    """Records per second, and the seconds the pipeline spent in each of its stages."""
    registry = SchemaRegistry.load(REPO_ROOT / "deploy" / "schemas" / "synthetic.yaml")
    pipeline = Pipeline(registry, model=SelfGrowthMap(seed=0))
    pipeline.load_kernels()  # as a worker does before it consumes
    source = KafkaSource(consumer(settings, TOPIC, group_id=None, max_poll_records=1000))
    stages: Counter = Counter()

    def handle(src: KafkaSource) -> int:
        result = pipeline.process(src.poll(max_records=1000, timeout_s=1.0))
        stages.update(result.seconds)
        return len(result.records) + len(result.rejected)

    rate = _timed_drain(source, count, handle)
    source.close()
    return rate, stages


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=100_000, help="records to move")
    parser.add_argument("--partitions", type=int, default=4)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as data:
        broker = LocalBroker(data_dir=Path(data))
        state, _ = broker.start(port=free_port())
        try:
            settings = KafkaSettings(bootstrap_servers=state.bootstrap_servers)
            admin = admin_client(settings)
            admin.create_topics([NewTopic(TOPIC, args.partitions, 1)])
            admin.close()
            print(f"producing {args.count} records ...", file=sys.stderr)
            produce_rate, record_bytes = produce(settings, args.count)
            print("raw consume ...", file=sys.stderr)
            raw_rate = consume_raw(settings, args.count)
            print("consume + pipeline ...", file=sys.stderr)
            pipeline_rate, stages = consume_pipeline(settings, args.count)
        finally:
            broker.stop()
    result = {
        "kafka": state.kafka_version,
        "records": args.count,
        "record_bytes": record_bytes,
        "produce_rps": round(produce_rate),
        "raw_consume_rps": round(raw_rate),
        "consume_pipeline_rps": round(pipeline_rate),
        "pipeline_us_per_record": {
            stage: round(stages[stage] / args.count * 1e6, 2) for stage in STAGES
        },
        "python": platform.python_version(),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
