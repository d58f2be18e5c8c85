"""Record and replay through the real broker: nothing lost, timing kept, bad lines survived."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path

import orjson
import pytest
from kafka.admin import NewTopic

from consumers import recorder
from producers import replay
from stream.cli import main
from stream.clients import admin_client, producer
from stream.recording import RecordingError, RecordingWriter, read_recording
from stream.source import Message

pytestmark = pytest.mark.kafka

BASE_MS = 1_767_225_600_000
REPO = Path(__file__).resolve().parents[2]


def _topics(kafka_settings, *names: str, partitions: int = 3) -> None:
    admin = admin_client(kafka_settings)
    try:
        admin.create_topics([NewTopic(name, partitions, 1) for name in names])
    finally:
        admin.close()


def _name(tag: str) -> str:
    return f"test.replay.{tag}.{uuid.uuid4().hex[:8]}"


def _record(i: int) -> dict:
    return {
        "source": "sensors",
        "id": f"r{i}",
        "event_time": BASE_MS + 10 * i,
        "features": {"t": i / 7, "status": ["ok", "warn"][i % 2], "gap": None},
    }


def _originals(n: int) -> list[tuple[bytes | None, bytes, int]]:
    """Keys of every kind (text, binary, none) and values that are records or malformed bytes."""
    out = []
    for i in range(n):
        key = [f"k{i % 13}".encode(), bytes([0xFF, i % 7]), None][i % 3]
        value = orjson.dumps(_record(i)) if i % 10 else b"\x00garbage " + str(i).encode()
        out.append((key, value, BASE_MS + 10 * i))
    return out


def _produce(kafka_settings, topic: str, messages) -> None:
    out = producer(kafka_settings, linger_ms=5)
    for key, value, timestamp in messages:
        out.send(topic, value=value, key=key, timestamp_ms=timestamp)
    out.flush()
    out.close()


def _record_topic(kafka_settings, topic: str, path: Path, count: int) -> recorder.RecordResult:
    result = recorder.run(
        kafka_settings, path, topics=topic, count=count, start="earliest", progress=None
    )
    assert result.count == count, result.describe()
    return result


def _triples(path: Path) -> list[tuple[bytes | None, bytes, int]]:
    entries = [entry for _, entry in read_recording(path)]
    assert not [e for e in entries if isinstance(e, RecordingError)]
    return [(m.key, m.value, m.timestamp_ms) for m in entries]


def test_record_replay_record_keeps_every_record_key_and_timestamp(kafka_settings, tmp_path):
    source, target = _name("src"), _name("dst")
    _topics(kafka_settings, source, target)
    originals = _originals(600)
    _produce(kafka_settings, source, originals)

    first = tmp_path / "first.jsonl.gz"
    captured = _record_topic(kafka_settings, source, first, len(originals))
    assert captured.topics == {source: len(originals)}
    assert read_recording(first).header["topics"] == [source]
    assert Counter(_triples(first)) == Counter(originals)

    sent = replay.run(
        kafka_settings, first, speed=float("inf"), topic_map={source: target}, progress=None
    )
    assert (sent.sent, sent.failed, sent.interrupted) == (len(originals), 0, False)

    second = tmp_path / "second.jsonl.gz"
    _record_topic(kafka_settings, target, second, len(originals))
    assert Counter(_triples(second)) == Counter(originals)
    # Same key, same partition, same order: what a per-key consumer relies on.
    by_key = {}
    for key, value, _ in _triples(second):
        by_key.setdefault(key, []).append(value)
    for key, values in by_key.items():
        if key is not None:
            assert values == [v for k, v, _ in originals if k == key]


def _timed_recording(path: Path, topic: str, seconds: float, step_s: float) -> int:
    count = int(seconds / step_s) + 1
    with RecordingWriter(path) as out:
        for i in range(count):
            timestamp = BASE_MS + int(i * step_s * 1000)
            value = orjson.dumps(_record(i) | {"event_time": timestamp})
            out.write(Message(topic, 0, i, f"k{i}".encode(), value, timestamp))
    return count


def test_speed_ten_plays_a_ten_second_recording_in_about_a_second(kafka_settings, tmp_path):
    topic = _name("speed")
    _topics(kafka_settings, topic, partitions=1)
    path = tmp_path / "ten.jsonl.gz"
    count = _timed_recording(path, topic, seconds=10.0, step_s=0.25)

    started = time.monotonic()
    result = replay.run(kafka_settings, path, speed=10.0, progress=None)
    wall = time.monotonic() - started
    assert result.sent == count
    # Loose on purpose: behaviour, not a benchmark. Recorded gaps were kept (not 0 s) and
    # divided by ten (far below the recorded 10 s).
    assert 0.8 <= result.elapsed_s <= 4.0, result.elapsed_s
    assert wall < 6.0

    back = tmp_path / "back.jsonl.gz"
    _record_topic(kafka_settings, topic, back, count)
    assert [t for _, _, t in _triples(back)] == [BASE_MS + 250 * i for i in range(count)]


def test_rate_flattens_and_loop_moves_time_on(kafka_settings, tmp_path):
    topic = _name("loop")
    _topics(kafka_settings, topic, partitions=1)
    path = tmp_path / "five.jsonl.gz"
    _timed_recording(path, topic, seconds=4.0, step_s=1.0)  # 5 messages over 4 s

    started = time.monotonic()
    result = replay.run(kafka_settings, path, rate=40.0, loop=True, stop_after=12, progress=None)
    assert (result.sent, result.passes) == (12, 3)
    assert time.monotonic() - started < 3.0  # 12 at 40/s, not the recorded 4 s per pass

    back = tmp_path / "back.jsonl.gz"
    _record_topic(kafka_settings, topic, back, 12)
    period = 4000 + 1000  # span + one average gap
    expected = [BASE_MS + 1000 * (i % 5) + period * (i // 5) for i in range(12)]
    triples = _triples(back)
    assert [t for _, _, t in triples] == expected
    assert [orjson.loads(v)["event_time"] for _, v, _ in triples] == expected


def test_now_moves_an_old_recording_to_the_present_and_without_it_a_warning_says_why(
    kafka_settings, tmp_path
):
    topic = _name("now")
    _topics(kafka_settings, topic, partitions=1)
    path = tmp_path / "old.jsonl.gz"
    _timed_recording(path, topic, seconds=2.0, step_s=0.5)  # 5 messages, January 2026

    err = io.StringIO()
    before = int(time.time() * 1000)
    replay.run(kafka_settings, path, speed=float("inf"), now=True, progress=err)
    assert "warning" not in err.getvalue()
    back = tmp_path / "back.jsonl.gz"
    _record_topic(kafka_settings, topic, back, 5)
    stamps = [t for _, _, t in _triples(back)]
    assert before <= stamps[0] <= int(time.time() * 1000)
    assert [t - stamps[0] for t in stamps] == [0, 500, 1000, 1500, 2000]  # gaps kept
    assert [orjson.loads(v)["event_time"] for _, v, _ in _triples(back)] == stamps

    err = io.StringIO()
    replay.run(kafka_settings, path, speed=float("inf"), stop_after=1, progress=err)
    assert f"past {topic}'s retention (7 days)" in err.getvalue()
    assert "pass --now" in err.getvalue()


def test_bad_lines_are_reported_with_line_numbers_and_skipped(kafka_settings, tmp_path):
    topic = _name("bad")
    _topics(kafka_settings, topic, partitions=1)
    path = tmp_path / "bad.jsonl"
    lines = [
        json.dumps({"format": "sgmstream-recording", "version": 1}),
        json.dumps({"topic": topic, "record": _record(1)}),
        "{broken",
        json.dumps({"topic": topic, "record": _record(2), "timestamp_ms": "soon"}),
        json.dumps({"topic": topic, "value_b64": "AAE=", "timestamp_ms": BASE_MS}),
    ]
    path.write_text("\n".join(lines) + "\n")
    err = io.StringIO()
    result = replay.run(kafka_settings, path, speed=float("inf"), progress=err)
    assert (result.sent, result.skipped_lines, result.line) == (2, 2, 5)
    report = err.getvalue()
    assert "line 3: not valid JSON" in report and "line 4: 'timestamp_ms'" in report
    assert "2 bad lines skipped" in report


def test_cli_record_and_replay(kafka_settings, tmp_path, capsys):
    source, target = _name("cli"), _name("cli2")
    _topics(kafka_settings, source, target)
    _produce(kafka_settings, source, _originals(50))
    path = tmp_path / "cli.jsonl.gz"

    def cli(*argv: str) -> tuple[int, str]:
        code = main([*argv, "--bootstrap-servers", kafka_settings.bootstrap_servers])
        return code, capsys.readouterr().err

    code, err = cli("record", "--topics", source, "--out", str(path), "--count", "50", "--from",
                    "earliest")  # fmt: skip
    assert code == 0, err
    assert "record done: 50 messages" in err and "--count 50 reached" in err

    code, err = cli("replay", str(path), "--speed", "inf", "--topic-map", f"{source}={target}")
    assert code == 0, err
    assert "replay done: 50 messages sent" in err and "line 51 of 51" in err

    code, err = cli("replay", str(path), "--topic-map", f"{source}=no.such.topic")
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert "'no.such.topic' does not exist" in err

    code, err = cli("record", "--topics", source, "--out", str(tmp_path / "x.gz"), "--idle", "0.5")
    assert code == 0 and "idle for 0.5 s" in err


def test_ctrl_c_stops_a_replay_cleanly_and_says_how_far_it_got(kafka_settings, tmp_path):
    topic = _name("sigint")
    _topics(kafka_settings, topic, partitions=1)
    path = tmp_path / "long.jsonl.gz"
    _timed_recording(path, topic, seconds=60.0, step_s=0.5)
    command = [sys.executable, "-m", "stream.cli", "replay", str(path)]
    command += ["--bootstrap-servers", kafka_settings.bootstrap_servers]
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    process = subprocess.Popen(command, cwd=REPO, env=env, stderr=subprocess.PIPE, text=True)
    time.sleep(3.0)  # interpreter start, then a few messages at the recorded pace
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=30)
    assert process.returncode == 130, err
    assert "replay interrupted" in err and "of 122" in err
    assert "Traceback" not in err


def test_ctrl_c_stops_a_recording_and_leaves_a_complete_file(kafka_settings, tmp_path):
    topic = _name("recint")
    _topics(kafka_settings, topic, partitions=2)
    _produce(kafka_settings, topic, _originals(100))
    path = tmp_path / "live.jsonl.gz"
    command = [sys.executable, "-m", "stream.cli", "record", "--topics", topic, "--out", str(path)]
    command += ["--from", "earliest", "--bootstrap-servers", kafka_settings.bootstrap_servers]
    process = subprocess.Popen(command, cwd=REPO, stderr=subprocess.PIPE, text=True)
    time.sleep(4.0)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=30)
    assert process.returncode == 130, err
    assert "record interrupted: 100 messages" in err and "Traceback" not in err
    assert Counter(_triples(path)) == Counter(_originals(100))
