"""kafka-python clients built from :class:`~stream.settings.KafkaSettings`.

The settings our delivery guarantees depend on are forced here, not left to callers: consumers
never auto-commit (a worker commits only after the state reflecting a record is durable) and
always say where to start when a group has no committed offset.
"""

from __future__ import annotations

from typing import Any

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
from kafka.errors import KafkaError

from stream.exceptions import BrokerError
from stream.settings import KafkaSettings

__all__ = ["admin_client", "consumer", "producer", "start_group_at_ends"]

_FORCED_CONSUMER = {
    # Offsets are committed by hand after outputs are flushed and state is durable.
    "enable_auto_commit": False,
}


def _unreachable(settings: KafkaSettings, exc: Exception) -> BrokerError:
    return BrokerError(
        f"cannot reach Kafka at {settings.bootstrap_servers} ({type(exc).__name__}): start a "
        "local broker with `sgmstream kafka up` or point --bootstrap-servers at yours"
    )


def admin_client(settings: KafkaSettings, **overrides: Any) -> KafkaAdminClient:
    config = settings.client_config() | {"bootstrap_timeout_ms": 10_000} | overrides
    try:
        return KafkaAdminClient(**config)
    except (KafkaError, OSError) as exc:
        raise _unreachable(settings, exc) from None


def producer(settings: KafkaSettings, **overrides: Any) -> KafkaProducer:
    try:
        return KafkaProducer(**(settings.client_config() | overrides))
    except (KafkaError, OSError) as exc:
        raise _unreachable(settings, exc) from None


def consumer(
    settings: KafkaSettings,
    *topics: str,
    group_id: str | None,
    auto_offset_reset: str = "earliest",
    **overrides: Any,
) -> KafkaConsumer:
    for key in _FORCED_CONSUMER:
        if key in overrides:
            raise ValueError(f"{key} is fixed by sgmstream's delivery guarantees")
    config = (
        settings.client_config()
        | {"group_id": group_id, "auto_offset_reset": auto_offset_reset}
        | overrides
        | _FORCED_CONSUMER
    )
    try:
        return KafkaConsumer(*topics, **config)
    except (KafkaError, OSError) as exc:
        raise _unreachable(settings, exc) from None


def start_group_at_ends(settings: KafkaSettings, group_id: str, topics: list[str]) -> int:
    """Commit the current end of every partition of ``topics`` for ``group_id``, so that a
    consumer of that group reads only what is produced from now on, however late it joins.
    Returns the number of partitions."""
    from kafka import TopicPartition
    from kafka.structs import OffsetAndMetadata

    reader = consumer(settings, group_id=group_id)
    try:
        partitions = [
            TopicPartition(topic, p)
            for topic in topics
            for p in sorted(reader.partitions_for_topic(topic) or ())
        ]
        ends = reader.end_offsets(partitions)
        reader.commit({tp: OffsetAndMetadata(end, "", -1) for tp, end in ends.items()})
    finally:
        reader.close()
    return len(partitions)
