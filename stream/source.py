"""One source interface for live Kafka, recorded files and tests.

A worker, ``sgmstream evaluate`` and the tests all pull :class:`Message` batches from a
:class:`Source`, so a replayed recording runs exactly the code path of production. Loops take
stop conditions; a source says when it is exhausted (a file at its end; Kafka never is).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Protocol

__all__ = ["KafkaSource", "MemorySource", "Message", "Source"]


@dataclass(frozen=True, slots=True)
class Message:
    """One message as it sat on a topic: where, when, and the untouched bytes."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    timestamp_ms: int


class Source(Protocol):
    """Where messages come from. ``poll`` returns at most ``max_records`` messages in order."""

    def poll(self, max_records: int, timeout_s: float) -> list[Message]: ...

    @property
    def exhausted(self) -> bool: ...

    def commit(self, next_offsets: dict[tuple[str, int], int]) -> None: ...

    def close(self) -> None: ...


class MemorySource:
    """Messages from memory (tests, offline evaluation of a recording already read).

    Examples
    --------
    >>> source = MemorySource([Message("t", 0, i, None, b"{}", 0) for i in range(5)])
    >>> [m.offset for m in source.poll(max_records=3, timeout_s=0)]
    [0, 1, 2]
    >>> [m.offset for m in source.poll(max_records=3, timeout_s=0)], source.exhausted
    ([3, 4], True)
    """

    def __init__(self, messages: Iterable[Message]):
        self._messages: Iterator[Message] = iter(messages)
        self._pending: Message | None = None
        self._exhausted = False
        self.committed: dict[tuple[str, int], int] = {}

    @property
    def exhausted(self) -> bool:
        if not self._exhausted and self._pending is None:
            self._pending = next(self._messages, None)
            self._exhausted = self._pending is None
        return self._exhausted

    def poll(self, max_records: int, timeout_s: float = 0.0) -> list[Message]:
        batch: list[Message] = []
        while len(batch) < max_records and not self.exhausted:
            batch.append(self._pending)
            self._pending = None
        return batch

    def commit(self, next_offsets: dict[tuple[str, int], int]) -> None:
        self.committed.update(next_offsets)

    def close(self) -> None:
        self._exhausted = True


class KafkaSource:
    """Messages from a kafka-python consumer (auto-commit is off: see ``stream.clients``)."""

    def __init__(self, consumer):
        self._consumer = consumer

    @property
    def exhausted(self) -> bool:
        return False

    def poll(self, max_records: int, timeout_s: float) -> list[Message]:
        polled = self._consumer.poll(timeout_ms=int(timeout_s * 1000), max_records=max_records)
        return [
            Message(r.topic, r.partition, r.offset, r.key, r.value, r.timestamp)
            for records in polled.values()
            for r in records
        ]

    def end_offset(self, topic: str, partition: int) -> int | None:
        """The partition's end as of the client's last fetch from it (``None``: none yet)."""
        from kafka import TopicPartition

        return self._consumer.highwater(TopicPartition(topic, partition))

    def committed_offset(self, topic: str, partition: int) -> int | None:
        """The group's committed offset of the partition (``None``: none); asks the broker."""
        from kafka import TopicPartition

        return self._consumer.committed(TopicPartition(topic, partition))

    def commit(self, next_offsets: dict[tuple[str, int], int]) -> None:
        from kafka import TopicPartition
        from kafka.structs import OffsetAndMetadata

        self._consumer.commit(
            {
                TopicPartition(topic, partition): OffsetAndMetadata(offset, "", -1)
                for (topic, partition), offset in next_offsets.items()
            }
        )

    def close(self) -> None:
        self._consumer.close()
