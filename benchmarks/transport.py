"""Transport limit: how fast kafka-python alone moves records through the local broker.

Starts a throw-away local broker (its own temp data dir, a free port), produces ``--count``
JSON records of the pipeline's shape to one topic, then consumes them back with a bare
kafka-python consumer in whole poll batches (no decoding). The consume rate is the ceiling any
sgmstream consumer can reach on this machine; later pipeline runs are compared against it.

    python benchmarks/transport.py --count 200000
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

import orjson
from kafka.admin import NewTopic

from stream.broker import LocalBroker, free_port
from stream.clients import admin_client, consumer, producer
from stream.settings import KafkaSettings


def _record(i: int) -> bytes:
    return orjson.dumps(
        {
            "source": "bench",
            "id": f"r{i}",
            "event_time": 1_700_000_000_000 + i,
            "features": {"x": i * 0.5, "y": -i * 0.25, "kind": "abc"[i % 3]},
        }
    )


def produce(settings: KafkaSettings, topic: str, count: int) -> float:
    out = producer(settings, linger_ms=20, batch_size=256 * 1024)
    payloads = [_record(i) for i in range(1000)]
    started = time.perf_counter()
    for i in range(count):
        out.send(topic, value=payloads[i % 1000], key=str(i % 64).encode())
    out.flush()
    elapsed = time.perf_counter() - started
    out.close()
    return count / elapsed


def consume(settings: KafkaSettings, topic: str, count: int) -> float:
    reader = consumer(settings, topic, group_id=None, max_poll_records=5000)
    seen = 0
    started = None
    while seen < count:
        polled = reader.poll(timeout_ms=1000)
        if started is None and polled:
            started = time.perf_counter()
        seen += sum(len(batch) for batch in polled.values())
    elapsed = time.perf_counter() - (started or time.perf_counter())
    reader.close()
    return count / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=200_000, help="records to move")
    parser.add_argument("--partitions", type=int, default=4)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as data:
        broker = LocalBroker(data_dir=Path(data))
        state, _ = broker.start(port=free_port())
        try:
            settings = KafkaSettings(bootstrap_servers=state.bootstrap_servers)
            admin = admin_client(settings)
            admin.create_topics([NewTopic("bench.transport", args.partitions, 1)])
            admin.close()
            print(f"producing {args.count} records ...", file=sys.stderr)
            produce_rate = produce(settings, "bench.transport", args.count)
            print("consuming ...", file=sys.stderr)
            consume_rate = consume(settings, "bench.transport", args.count)
        finally:
            broker.stop()
    result = {
        "kafka": state.kafka_version,
        "records": args.count,
        "record_bytes": len(_record(12345)),
        "produce_rps": round(produce_rate),
        "consume_rps": round(consume_rate),
        "python": platform.python_version(),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
