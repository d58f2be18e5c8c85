"""The pipeline's Kafka wiring against the real broker started by the session fixture."""

from __future__ import annotations

import uuid

import pytest
from kafka import TopicPartition
from kafka.admin import NewTopic
from kafka.structs import OffsetAndMetadata

from stream.clients import admin_client, consumer, producer
from stream.settings import TopicSettings
from stream.topics import create_topics, pipeline_topics, topic_configs

pytestmark = pytest.mark.kafka


def _new_topic(kafka_settings, partitions: int) -> str:
    name = f"test.{uuid.uuid4().hex[:8]}"
    admin = admin_client(kafka_settings)
    try:
        admin.create_topics([NewTopic(name, partitions, 1)])
    finally:
        admin.close()
    return name


def test_broker_is_apache_kafka_4(kafka_broker, broker_version_report):
    assert kafka_broker.kafka_version.startswith("4.")
    assert broker_version_report >= (4, 0)


def test_topics_are_created_idempotently_with_their_configs(kafka_settings):
    # Names of its own: other tests create the default pipeline topics on the same broker.
    settings = TopicSettings(
        sources=("alpha", "beta"),
        partitions=3,
        records_prefix="t1.records.",
        assignments="t1.assignments",
        updates="t1.updates",
        deadletter="t1.deadletter",
        global_model="t1.global",
    )
    specs = pipeline_topics(settings)
    first = create_topics(kafka_settings, specs)
    second = create_topics(kafka_settings, specs)
    assert all(first.values())
    assert not any(second.values())
    admin = admin_client(kafka_settings)
    try:
        described = {t["name"]: t for t in admin.describe_topics([s.name for s in specs])}
    finally:
        admin.close()
    assert len(described["t1.records.alpha"]["partitions"]) == 3
    assert len(described["t1.updates"]["partitions"]) == 1
    configs = topic_configs(kafka_settings, ["t1.global", "t1.deadletter"])
    assert configs["t1.global"]["cleanup.policy"] == "compact"
    assert configs["t1.deadletter"]["retention.ms"] == str(14 * 24 * 3600 * 1000)


def _produce_keyed(kafka_settings, topic: str, n: int) -> None:
    out = producer(kafka_settings, linger_ms=5)
    for i in range(n):
        out.send(topic, key=f"k{i % 97}".encode(), value=f"{i}".encode())
    out.flush()
    out.close()


def test_ten_thousand_keyed_records_round_trip_in_a_group(kafka_settings):
    topic = _new_topic(kafka_settings, partitions=4)
    _produce_keyed(kafka_settings, topic, 10_000)
    group = f"g.{uuid.uuid4().hex[:8]}"
    reader = consumer(kafka_settings, topic, group_id=group, consumer_timeout_ms=10_000)
    seen: dict[int, bytes] = {}
    key_partition: dict[bytes, int] = {}
    for message in reader:
        seen[int(message.value)] = message.key
        # Same key, same partition: the ordering guarantee per key that workers rely on.
        assert key_partition.setdefault(message.key, message.partition) == message.partition
        if len(seen) == 10_000:
            break
    reader.commit()
    committed = {
        p: reader.committed(TopicPartition(topic, p)) for p in reader.partitions_for_topic(topic)
    }
    end = reader.end_offsets([TopicPartition(topic, p) for p in committed])
    reader.close()
    assert sorted(seen) == list(range(10_000))
    assert all(seen[i] == f"k{i % 97}".encode() for i in range(10_000))
    assert sum(committed.values()) == 10_000
    assert {tp.partition: offset for tp, offset in end.items()} == committed


def test_new_member_resumes_exactly_after_the_committed_offset(kafka_settings):
    topic = _new_topic(kafka_settings, partitions=1)
    _produce_keyed(kafka_settings, topic, 1_000)
    group = f"g.{uuid.uuid4().hex[:8]}"
    partition = TopicPartition(topic, 0)

    first = consumer(kafka_settings, topic, group_id=group, max_poll_records=100)
    processed: list[int] = []
    while len(processed) < 300:
        for records in first.poll(timeout_ms=1000).values():
            processed.extend(int(r.value) for r in records)
    # Commit only part of what was fetched: everything after offset 249 must be seen again.
    first.commit({partition: OffsetAndMetadata(250, "", -1)})
    first.close()

    second = consumer(kafka_settings, topic, group_id=group, max_poll_records=500)
    resumed: list[int] = []
    while len(resumed) < 750:
        for records in second.poll(timeout_ms=1000).values():
            resumed.extend(int(r.value) for r in records)
    second.close()
    assert resumed[0] == 250
    assert resumed == list(range(250, 1_000))
