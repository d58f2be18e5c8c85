"""Replay a recording (or a mapped CSV file) back onto Kafka topics with its original timing.

Timing
    Each message is sent when its recorded time comes, measured from the start of the replay:
    ``start + (t - t_first) / speed``, where ``t`` is the newest timestamp seen so far. Anchoring
    every send to the start (not to the previous message) keeps sleep errors from adding up,
    and taking the newest timestamp makes out-of-order timestamps (interleaved partitions) go
    out at once instead of waiting backwards. ``--speed 10`` plays a 10 s recording in about
    1 s; ``--speed inf`` as fast as the producer goes. ``--rate R`` ignores recorded times and
    sends ``R`` messages per second, evenly spaced.

Timestamps
    Every message keeps its recorded Kafka timestamp (for a record, its event time), so event
    time survives the replay; file order is kept. With ``--loop`` the file plays again and
    again, and time moves on: pass ``k`` (from 0) shifts the Kafka timestamp, and the
    ``event_time`` of a JSON record, by ``k * period``, where ``period`` is the recorded span
    plus one average gap between messages. Pass 0 is exactly the recording; record ids repeat
    with new event times (a new event for the pipeline). Values kept as bytes are never
    rewritten. With ``now`` every timestamp and event time moves by the same amount, so that
    the recording starts at the moment the replay does, its gaps kept. That matters beyond
    taste: a broker deletes records whose timestamps are older than the topic's retention
    (``retention.ms``, 7 days by default) within minutes of receiving them, so an old
    recording replayed as recorded vanishes from the topic before a consumer that starts a
    little later can read it. The replay warns when that would happen.

Keys and partitions
    Keys are sent as recorded, so the partitioner puts each key on one partition (the same one
    as recorded when the topic has as many partitions). ``keep_partitions`` sends every message
    to its recorded partition instead.

Stopping
    At the end of the file (never with ``loop``), after ``stop_after`` messages, after
    ``timeout_s``, or on Ctrl+C / SIGTERM: the producer is flushed and the result says how far
    the replay got (line N of M). Bad lines are reported on stderr with their line number before
    the replay starts and are skipped.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import IO

import orjson

from stream.exceptions import ConfigError, WireFormatError
from stream.progress import ProgressLine
from stream.recording import Recording, RecordingError, RecordingSummary, open_input
from stream.settings import KafkaSettings
from stream.source import Message

__all__ = ["ReplayResult", "Schedule", "parse_topic_map", "run"]

_SHOWN_ERRORS = 20  # bad lines listed one by one before "... and N more"
_MAX_SLEEP_S = 0.25  # wake up at least this often to redraw progress


@dataclass
class ReplayResult:
    """How far a replay got."""

    sent: int = 0
    failed: int = 0
    passes: int = 0
    line: int = 0
    total_lines: int = 0
    total_messages: int = 0
    skipped_lines: int = 0
    elapsed_s: float = 0.0
    interrupted: bool = False
    first_failure: str | None = None
    topics: dict[str, int] = field(default_factory=dict)

    def describe(self) -> str:
        rate = self.sent / self.elapsed_s if self.elapsed_s > 0 else 0.0
        where = f"line {self.line} of {self.total_lines}"
        if self.passes > 1:
            where += f" (pass {self.passes})"
        text = f"{self.sent:,} messages sent in {self.elapsed_s:.1f} s ({rate:,.0f}/s), {where}"
        if self.skipped_lines:
            text += f"; {self.skipped_lines} bad lines skipped"
        if self.failed:
            text += f"; {self.failed} NOT delivered (first: {self.first_failure})"
        return text


def parse_topic_map(text: str | None) -> dict[str, str]:
    """``"records.a=test.a,records.b=test.b"`` -> ``{"records.a": "test.a", ...}``."""
    mapping: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in (text or "").split(","))):
        old, sep, new = (s.strip() for s in part.partition("="))
        if not sep or not old or not new:
            raise ConfigError(f"--topic-map: {part!r} is not OLD=NEW")
        mapping[old] = new
    return mapping


class Schedule:
    """When each message is due, in seconds after the start of the replay.

    >>> s = Schedule(speed=10.0, first_timestamp_ms=1_000)
    >>> [s.due(t) for t in (1_000, 3_000, 2_000, 11_000)]
    [0.0, 0.2, 0.2, 1.0]
    >>> r = Schedule(rate=4.0)
    >>> [r.due(t) for t in (0, 0, 0)]
    [0.0, 0.25, 0.5]
    """

    def __init__(
        self, speed: float = 1.0, rate: float | None = None, first_timestamp_ms: int | None = None
    ):
        if rate is not None and not (rate > 0 and math.isfinite(rate)):
            raise ConfigError(f"--rate must be a positive number of messages per second: {rate}")
        if not speed > 0:
            raise ConfigError(f"--speed must be > 0 (inf: as fast as possible): {speed}")
        self.speed = speed
        self.rate = rate
        self._first = first_timestamp_ms
        self._newest = first_timestamp_ms
        self._count = 0

    def due(self, timestamp_ms: int) -> float:
        if self.rate is not None:
            self._count += 1
            return (self._count - 1) / self.rate
        if self._first is None:
            self._first = self._newest = timestamp_ms
        self._newest = max(self._newest, timestamp_ms)
        return (self._newest - self._first) / 1000.0 / self.speed

    def remaining_s(self, last_timestamp_ms: int | None, messages_left: int) -> float | None:
        """Seconds until the last message is due, after the current one (``None``: unknown)."""
        if self.rate is not None:
            return messages_left / self.rate
        if math.isinf(self.speed) or last_timestamp_ms is None or self._newest is None:
            return None
        return max(0.0, (last_timestamp_ms - self._newest) / 1000.0 / self.speed)


def _shifted(message: Message, shift_ms: int) -> Message:
    """The message moved on in time (``--now``, a later ``--loop`` pass): its timestamp and
    its record's event time."""
    if shift_ms == 0:
        return message
    value = message.value
    try:
        record = orjson.loads(value) if value else None
    except orjson.JSONDecodeError:
        record = None
    event_time = record.get("event_time") if isinstance(record, dict) else None
    if isinstance(event_time, int) and not isinstance(event_time, bool):
        value = orjson.dumps(record | {"event_time": event_time + shift_ms})
    return replace(message, value=value, timestamp_ms=message.timestamp_ms + shift_ms)


def _loop_period_ms(summary: RecordingSummary) -> int:
    gap = summary.span_ms // max(1, summary.messages - 1)
    return summary.span_ms + max(1, gap)


def _report_bad_lines(recording: Recording, summary: RecordingSummary, err: IO[str]) -> None:
    if not summary.errors:
        return
    shown = 0
    for _, entry in recording:
        if isinstance(entry, RecordingError):
            print(f"{recording.path}: {entry} (skipped)", file=err)
            shown += 1
            if shown == _SHOWN_ERRORS:
                break
    if summary.errors > shown:
        print(f"{recording.path}: ... and {summary.errors - shown} more bad lines", file=err)


def _check_topics(settings: KafkaSettings, wanted: list[str]) -> None:
    from stream.clients import admin_client

    admin = admin_client(settings)
    try:
        existing = set(admin.list_topics())
    finally:
        admin.close()
    missing = [t for t in wanted if t not in existing]
    if missing:
        raise ConfigError(
            f"topic {missing[0]!r} does not exist on {settings.bootstrap_servers}: create it "
            "(`sgmstream topics create --sources ...`) or send it elsewhere with --topic-map "
            f"{missing[0]}=OTHER"
        )


def _warn_if_expired(settings, topics: list[str], newest_ms: int, err: IO[str]) -> None:
    from stream.topics import topic_configs

    age_ms = int(time.time() * 1000) - newest_ms
    for topic, configs in topic_configs(settings, topics, defaults=True).items():
        retention_ms = int(configs.get("retention.ms", "-1"))
        if 0 <= retention_ms < age_ms:
            print(
                f"replay: warning: the newest timestamp is {age_ms / 86_400_000:.1f} days old, "
                f"past {topic}'s retention ({retention_ms / 86_400_000:g} days): the broker "
                "will delete these records within minutes; pass --now to move the recording "
                "to the present",
                file=err,
            )


def _progress_text(
    result: ReplayResult, schedule: Schedule, summary: RecordingSummary, started: float, loop: bool
) -> str:
    total = max(1, summary.messages)
    done = result.sent % total if result.passes > 1 else result.sent
    share = min(1.0, done / total)
    bar = "#" * int(share * 20)
    elapsed = time.monotonic() - started
    remaining = schedule.remaining_s(summary.max_timestamp_ms, total - done)
    if remaining is None and result.sent:
        remaining = (total - done) * elapsed / result.sent
    eta = "never (--loop)" if loop else "?" if remaining is None else _clock(remaining)
    rate = result.sent / elapsed if elapsed > 0 else 0.0
    loop = f" pass {result.passes}" if result.passes > 1 else ""
    return (
        f"replay [{bar:<20}] {share:6.1%}{loop} line {result.line}/{result.total_lines} "
        f"{result.sent:,} sent {rate:,.0f}/s ETA {eta}"
    )


def _clock(seconds: float) -> str:
    seconds = round(seconds)
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


def _messages(
    recording: Recording, summary: RecordingSummary, loop: bool, result: ReplayResult, base_ms: int
) -> Iterator[tuple[int, Message]]:
    period = _loop_period_ms(summary)
    while True:
        shift = base_ms + result.passes * period
        result.passes += 1
        for line, entry in recording:
            if isinstance(entry, Message):
                yield line, _shifted(entry, shift)
        if not loop or summary.messages == 0:
            return


def run(
    settings: KafkaSettings,
    path: str | Path,
    *,
    speed: float = 1.0,
    rate: float | None = None,
    loop: bool = False,
    topic_map: dict[str, str] | None = None,
    keep_partitions: bool = False,
    now: bool = False,
    csv_map: str | None = None,
    stop_after: int | None = None,
    timeout_s: float | None = None,
    progress: IO[str] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> ReplayResult:
    """Replay ``path`` onto Kafka; returns how far it got (``interrupted`` on Ctrl+C).

    Progress, bad lines and the summary go to ``progress`` (the CLI passes stderr; ``None``:
    silent).
    """
    recording = open_input(path, csv_map)
    summary = recording.scan()
    if summary.messages == 0:
        raise WireFormatError(f"{path} holds no message to replay ({summary.errors} bad lines)")
    topic_map = topic_map or {}
    if progress is not None:
        _report_bad_lines(recording, summary, progress)
    targets = sorted({topic_map.get(t, t) for t in summary.topics})
    _check_topics(settings, targets)
    shift_ms = int(time.time() * 1000) - summary.first_timestamp_ms if now else 0
    if not now and progress is not None:
        _warn_if_expired(settings, targets, summary.max_timestamp_ms, progress)
    schedule = Schedule(speed, rate, summary.first_timestamp_ms + shift_ms)
    result = ReplayResult(
        total_lines=summary.lines, total_messages=summary.messages, skipped_lines=summary.errors
    )
    from stream.clients import producer

    # Big batches: at full speed they triple the rate; at recorded speed linger_ms bounds the
    # extra latency a lone message gets (5 ms).
    out = producer(settings, linger_ms=5, batch_size=256 * 1024)
    line_progress = ProgressLine(progress)
    started = time.monotonic()
    try:
        _send_all(
            out, recording, summary, schedule, result, started, line_progress,
            loop=loop, topic_map=topic_map, keep_partitions=keep_partitions, shift_ms=shift_ms,
            stop_after=stop_after, timeout_s=timeout_s, sleep=sleep,
        )  # fmt: skip
    except KeyboardInterrupt:
        result.interrupted = True
    finally:
        # Flush before reporting: "N sent" must mean acknowledged by the broker.
        out.flush(timeout=30)
        out.close(timeout=10)
        result.elapsed_s = time.monotonic() - started
    verb = "interrupted" if result.interrupted else "done"
    line_progress.finish(f"replay {verb}: {result.describe()}")
    return result


def _send_all(
    out,
    recording: Recording,
    summary: RecordingSummary,
    schedule: Schedule,
    result: ReplayResult,
    started: float,
    line_progress: ProgressLine,
    *,
    loop: bool,
    topic_map: dict[str, str],
    keep_partitions: bool,
    shift_ms: int,
    stop_after: int | None,
    timeout_s: float | None,
    sleep: Callable[[float], None],
) -> None:
    def failed(exc: Exception) -> None:
        result.failed += 1
        result.first_failure = result.first_failure or f"{type(exc).__name__}: {exc}"

    for line, message in _messages(recording, summary, loop, result, shift_ms):
        if stop_after is not None and result.sent >= stop_after:
            return
        due = started + schedule.due(message.timestamp_ms)
        if timeout_s is not None and due - started > timeout_s:
            return
        _wait_until(
            due, sleep, lambda: _redraw(line_progress, result, schedule, summary, started, loop)
        )
        topic = topic_map.get(message.topic, message.topic)
        out.send(
            topic,
            value=message.value,
            key=message.key,
            partition=message.partition if keep_partitions else None,
            timestamp_ms=message.timestamp_ms,
        ).add_errback(failed)
        result.sent += 1
        result.line = line
        result.topics[topic] = result.topics.get(topic, 0) + 1
        _redraw(line_progress, result, schedule, summary, started, loop)


def _wait_until(due: float, sleep: Callable[[float], None], redraw: Callable[[], None]) -> None:
    while True:
        left = due - time.monotonic()
        if left <= 0.0005:
            return
        sleep(min(left, _MAX_SLEEP_S))
        redraw()


def _redraw(
    line_progress: ProgressLine,
    result: ReplayResult,
    schedule: Schedule,
    summary: RecordingSummary,
    started: float,
    loop: bool,
) -> None:
    if line_progress.due():
        line_progress.update(_progress_text(result, schedule, summary, started, loop))
