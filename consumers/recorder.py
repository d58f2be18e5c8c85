"""Capture Kafka topics into a recording file (``sgmstream record``).

Topics
    ``topics`` is a regular expression matched against whole topic names (``records.*`` means
    every ``records.<source>`` topic); comma-separated expressions are alternatives
    (``records.a,records.b``). Internal topics are never matched. Topics created while the
    recorder runs are picked up within a few seconds.

Where to start
    ``start="latest"`` (the default) captures what arrives from now on, the usual live capture;
    ``start="earliest"`` captures what the topics still hold, then keeps going. Without a
    ``group_id`` the recorder reads every partition on its own and commits nothing, so it never
    disturbs the pipeline's consumer groups; with one, it joins that group and commits, after
    each flush of the file, the offsets of what the file holds (at-least-once into the file:
    a restart with the same group continues where the last flush was).

Stopping
    After ``duration_s`` seconds, after ``count`` messages, after ``idle_s`` seconds without a
    message, or on Ctrl+C / SIGTERM. In every case the file is closed properly and is a complete
    recording; a recorder killed with SIGKILL leaves a file whose complete lines (up to the last
    flush, every ``flush_interval_s``) still read, followed by one "truncated" error.

Progress goes to stderr (messages, rate, file size), then one summary line.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Literal

from consumers.common import METADATA_MAX_AGE_MS, Stop, check_start, topic_pattern
from stream.progress import ProgressLine, human_bytes
from stream.recording import RecordingWriter
from stream.settings import KafkaSettings
from stream.source import Message

__all__ = ["RecordResult", "run"]

_MAX_POLL_RECORDS = 2000


@dataclass
class RecordResult:
    """What a recording session captured."""

    path: Path
    count: int = 0
    bytes_written: int = 0
    elapsed_s: float = 0.0
    interrupted: bool = False
    stopped_by: str = ""
    topics: dict[str, int] = field(default_factory=dict)

    def describe(self) -> str:
        rate = self.count / self.elapsed_s if self.elapsed_s > 0 else 0.0
        per_topic = ", ".join(f"{t} {n:,}" for t, n in sorted(self.topics.items())) or "none"
        return (
            f"{self.count:,} messages in {self.elapsed_s:.1f} s ({rate:,.0f}/s), "
            f"{human_bytes(self.bytes_written)} -> {self.path} [{per_topic}] ({self.stopped_by})"
        )


def _matching_topics(reader, pattern: re.Pattern[str]) -> list[str]:
    return sorted(t for t in reader.topics() if pattern.match(t) and not t.startswith("__"))


def run(
    settings: KafkaSettings,
    out: str | Path,
    *,
    topics: str = "records.*",
    duration_s: float | None = None,
    count: int | None = None,
    idle_s: float | None = None,
    start: Literal["earliest", "latest"] = "latest",
    group_id: str | None = None,
    schemas: dict[str, int] | None = None,
    flush_interval_s: float = 2.0,
    progress: IO[str] | None = None,
) -> RecordResult:
    """Record matching topics into ``out`` until a stop condition; returns what was captured.

    Progress and the summary go to ``progress`` (the CLI passes stderr; ``None``: silent).
    """
    check_start(start)
    pattern = topic_pattern(topics)
    stop = Stop(duration_s, count, idle_s)
    from stream.clients import consumer

    reader = consumer(
        settings,
        group_id=group_id,
        auto_offset_reset=start,
        metadata_max_age_ms=METADATA_MAX_AGE_MS,
    )
    result = RecordResult(Path(out))
    line = ProgressLine(progress)
    try:
        matched = _matching_topics(reader, pattern)
        if not matched and progress is not None:
            line.finish(f"record: no topic matches {topics!r} yet; waiting for one to appear")
        reader.subscribe(pattern=pattern.pattern)
        header = {"topics": matched, "schemas": dict(schemas or {})}
        with RecordingWriter(out, header) as writer:
            started = time.monotonic()
            try:
                _capture(reader, writer, stop, result, line, group_id, flush_interval_s, started)
            except KeyboardInterrupt:
                result.interrupted = True
                stop.reason = "interrupted"
            finally:
                result.elapsed_s = time.monotonic() - started
                result.count = writer.count
        result.bytes_written = result.path.stat().st_size
    finally:
        reader.close()
    result.stopped_by = stop.reason
    line.finish(f"record {'interrupted' if result.interrupted else 'done'}: {result.describe()}")
    return result


def _capture(
    reader,
    writer: RecordingWriter,
    stop: Stop,
    result: RecordResult,
    line: ProgressLine,
    group_id: str | None,
    flush_interval_s: float,
    started: float,
) -> None:
    positions: dict[tuple[str, int], int] = {}
    last_flush = time.monotonic()
    while not stop.reached(writer.count):
        polled = reader.poll(
            timeout_ms=int(stop.poll_timeout_s() * 1000), max_records=_MAX_POLL_RECORDS
        )
        _write_batch(polled, writer, stop, result, positions)
        if time.monotonic() - last_flush >= flush_interval_s:
            _flush(reader, writer, group_id, positions)
            last_flush = time.monotonic()
        if line.due():
            line.update(_progress_text(writer, started, result))
    _flush(reader, writer, group_id, positions)


def _write_batch(polled, writer, stop: Stop, result: RecordResult, positions: dict) -> None:
    room = stop.room(writer.count)
    for records in polled.values():
        for r in records:
            if room is not None and room <= 0:
                return  # --count: the rest of this batch is not part of the recording
            writer.write(Message(r.topic, r.partition, r.offset, r.key, r.value, r.timestamp))
            result.topics[r.topic] = result.topics.get(r.topic, 0) + 1
            positions[(r.topic, r.partition)] = r.offset + 1
            stop.last_message = time.monotonic()
            if room is not None:
                room -= 1


def _flush(reader, writer: RecordingWriter, group_id: str | None, positions: dict) -> None:
    # Order matters for at-least-once: the lines must be in the file before their offsets are
    # committed, so a restart may record a message twice but never skip one.
    writer.flush()
    if group_id is not None and positions:
        from kafka import TopicPartition
        from kafka.structs import OffsetAndMetadata

        reader.commit(
            {
                TopicPartition(topic, partition): OffsetAndMetadata(offset, "", -1)
                for (topic, partition), offset in positions.items()
            }
        )


def _progress_text(writer: RecordingWriter, started: float, result: RecordResult) -> str:
    elapsed = time.monotonic() - started
    rate = writer.count / elapsed if elapsed > 0 else 0.0
    return (
        f"record {writer.count:,} messages {rate:,.0f}/s {human_bytes(writer.bytes_written)} "
        f"from {len(result.topics)} topics, {elapsed:.0f} s"
    )
