"""The pipeline's topics, their configs, and idempotent creation (DESIGN §2)."""

from __future__ import annotations

from dataclasses import dataclass, field

from kafka.admin import ConfigResource, ConfigResourceType, NewTopic
from kafka.errors import TopicAlreadyExistsError

from stream.clients import admin_client
from stream.exceptions import ConfigError
from stream.settings import KafkaSettings, TopicSettings

__all__ = ["TopicSpec", "create_topics", "pipeline_topics", "topic_configs"]


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    configs: dict[str, str] = field(default_factory=dict)


def pipeline_topics(settings: TopicSettings) -> list[TopicSpec]:
    """Every topic the pipeline uses, with the configs it relies on."""
    if not settings.sources:
        raise ConfigError(
            'no sources named: pass --sources a,b,c (or SGM_TOPICS_SOURCES=\'["a","b"]\')'
        )
    if settings.partitions < 1:
        raise ConfigError(f"--partitions must be at least 1, got {settings.partitions}")
    records = [
        TopicSpec(f"{settings.records_prefix}{source}", settings.partitions)
        for source in settings.sources
    ]
    return [
        *records,
        TopicSpec(settings.assignments, settings.partitions),
        # One partition each: a single aggregator reads every update in arrival order.
        TopicSpec(settings.updates, 1),
        # Dead letters are kept for two weeks so that rejected input can be inspected and replayed.
        TopicSpec(settings.deadletter, 1, {"retention.ms": str(14 * 24 * 3600 * 1000)}),
        # Compacted: the newest global model is always retained, whatever its age.
        TopicSpec(settings.global_model, 1, {"cleanup.policy": "compact"}),
    ]


def create_topics(kafka: KafkaSettings, specs: list[TopicSpec]) -> dict[str, bool]:
    """Create the missing topics; returns name -> True if created now, False if it existed."""
    admin = admin_client(kafka)
    try:
        existing = set(admin.list_topics())
        missing = [spec for spec in specs if spec.name not in existing]
        for spec in missing:
            try:
                admin.create_topics(
                    [NewTopic(spec.name, spec.partitions, 1, topic_configs=spec.configs)]
                )
            except TopicAlreadyExistsError:
                existing.add(spec.name)  # created concurrently by another process: fine
        return {spec.name: spec.name not in existing for spec in specs}
    finally:
        admin.close()


def topic_configs(
    kafka: KafkaSettings, names: list[str], *, defaults: bool = False
) -> dict[str, dict[str, str]]:
    """The configs set on ``names`` as read back from the broker; with ``defaults``, every
    effective config, those inherited from the broker too."""
    admin = admin_client(kafka)
    try:
        resources = [ConfigResource(ConfigResourceType.TOPIC, name) for name in names]
        which = "all" if defaults else "modified"
        described = admin.describe_configs(resources, config_filter=which)["topic"]
        return {
            name: {key: entry["value"] for key, entry in configs.items()}
            for name, configs in described.items()
        }
    finally:
        admin.close()
