"""The recording format: lossless round trips, hand-written files, bad lines, CSV, the Source."""

from __future__ import annotations

import gzip
import json

import orjson
import pytest

from stream.exceptions import WireFormatError
from stream.recording import (
    CsvMapping,
    RecordingError,
    RecordingSource,
    RecordingWriter,
    read_csv,
    read_recording,
)
from stream.source import Message


def _record(i: int) -> dict:
    return {
        "source": "sensors",
        "id": f"r{i}",
        "event_time": 1_700_000_000_000 + i,
        "features": {"t": 20.5 + i, "status": "ok", "gap": None},
        "label": i % 3,
    }


MESSAGES = [
    Message("records.sensors", 2, 10, b"r0", orjson.dumps(_record(0)), 1_700_000_000_000),
    # A key that is not UTF-8, and a value that is not JSON at all.
    Message("records.sensors", 0, 11, b"\xff\x00k", b"\x00\x01not json", 1_700_000_000_005),
    # JSON, but not an object: kept as bytes, not as a record.
    Message("records.other", 1, 3, None, b"[1, 2]", 1_700_000_000_007),
    # A JSON object written with spaces: content kept, replayed compactly.
    Message("records.sensors", 2, 12, b"", json.dumps(_record(1)).encode(), 1_700_000_000_009),
    Message("records.sensors", 3, 0, b"k", None, 1_700_000_000_010),  # a tombstone
]


def _messages(recording) -> list[Message]:
    entries = list(recording)
    assert not [e for _, e in entries if isinstance(e, RecordingError)]
    return [e for _, e in entries]


@pytest.mark.parametrize("name", ["rec.jsonl.gz", "rec.jsonl"])
def test_round_trip_keeps_keys_values_and_positions(tmp_path, name):
    path = tmp_path / name
    with RecordingWriter(path, {"schemas": {"sensors": 3}, "topics": ["records.sensors"]}) as out:
        for message in MESSAGES:
            out.write(message)
        assert out.count == len(MESSAGES)
    assert (path.read_bytes()[:2] == b"\x1f\x8b") == name.endswith(".gz")
    recording = read_recording(path)
    assert recording.header["schemas"] == {"sensors": 3}
    assert recording.header["version"] == 1
    back = _messages(recording)
    assert back[:3] == MESSAGES[:3]
    assert back[4] == MESSAGES[4]
    # Same content, compact bytes.
    assert orjson.loads(back[3].value) == _record(1)
    assert back[3].value == orjson.dumps(_record(1))
    assert back[3].key == b""
    # Readable more than once (replay --loop).
    assert _messages(recording) == back


def test_lines_are_readable_json(tmp_path):
    path = tmp_path / "rec.jsonl"
    with RecordingWriter(path) as out:
        out.write(MESSAGES[0])
        out.write(MESSAGES[1])
    header, first, second = (json.loads(line) for line in path.read_text().splitlines())
    assert header["format"] == "sgmstream-recording"
    assert first["record"] == _record(0) and first["key"] == "r0"
    assert "key_b64" in second and "value_b64" in second and "record" not in second


def test_malformed_lines_are_reported_with_line_numbers_and_skipped(tmp_path):
    good = {"topic": "t", "record": _record(0), "timestamp_ms": 5}
    lines = [
        json.dumps({"format": "sgmstream-recording", "version": 1}),
        json.dumps(good),
        "{not json",
        "[1, 2]",
        "",
        json.dumps({"topic": "t", "record": "nope"}),
        json.dumps({"topic": "t", "value_b64": "%%%"}),
        json.dumps(good | {"timestamp": 3}),
        json.dumps(good | {"partition": -1}),
        json.dumps({"topic": "t", "key": "k"}),
        json.dumps(good | {"offset": 9}),
    ]
    path = tmp_path / "bad.jsonl"
    path.write_text("\n".join(lines) + "\n")
    entries = list(read_recording(path))
    ok = {n: e for n, e in entries if isinstance(e, Message)}
    bad = {n: e for n, e in entries if isinstance(e, RecordingError)}
    assert sorted(ok) == [2, 11]
    assert ok[11].offset == 9
    assert sorted(bad) == [3, 4, 6, 7, 8, 9, 10]
    assert "not valid JSON" in bad[3].reason
    assert "base64" in bad[7].reason
    assert "'timestamp'" in bad[8].reason
    assert str(bad[9]).startswith("line 9: 'partition'")
    assert bad[3].raw == b"{not json\n"


def test_hand_written_lines_get_documented_defaults(tmp_path):
    path = tmp_path / "hand.jsonl"
    path.write_text(
        json.dumps(_record(0)) + "\n" + json.dumps({"record": _record(1), "key": "x"}) + "\n"
    )
    recording = read_recording(path)
    assert recording.header["format"] == "sgmstream-recording"  # headerless = version 1
    first, second = _messages(recording)
    assert first == Message(
        "records.sensors", 0, 1, None, orjson.dumps(_record(0)), _record(0)["event_time"]
    )
    assert (second.offset, second.key, second.timestamp_ms) == (2, b"x", _record(1)["event_time"])


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "is empty"),
        (b"source,id\n1,2\n", "not a JSON object"),
        (b'{"format": "other"}\n', "not 'sgmstream-recording'"),
        (b'{"format": "sgmstream-recording", "version": 2}\n', "version 2"),
        (gzip.compress(b"x")[:-6] + b"garbage!", "not a readable gzip"),
    ],
)
def test_a_file_that_is_not_a_recording_is_one_clear_error(tmp_path, content, message):
    path = tmp_path / "f.gz"
    path.write_bytes(content)
    with pytest.raises(WireFormatError, match=message):
        read_recording(path)


def test_a_truncated_gzip_recording_keeps_every_complete_line(tmp_path):
    path = tmp_path / "cut.jsonl.gz"
    with RecordingWriter(path) as out:
        for i in range(2000):
            out.write(Message("t", 0, i, None, orjson.dumps(_record(i)), i))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) * 2 // 3])
    entries = list(read_recording(path))
    *messages, (_, last) = entries
    assert isinstance(last, RecordingError) and "ends abruptly" in last.reason
    offsets = [m.offset for _, m in messages if isinstance(m, Message)]
    assert offsets[:100] == list(range(100)) and len(offsets) > 500


def test_csv_with_a_column_mapping(tmp_path):
    path = tmp_path / "pay.csv"
    path.write_text(
        "txn,when,amount,country,fraud,note\n"
        "a1,1700000000000,12.5,FR,0,\n"
        "a2,2023-11-14T22:13:21Z,-3,DE,1,late\n"
        "a3,yesterday,1,FR,0,\n"
        "a4,1700000000002,1\n"
    )
    mapping = CsvMapping.parse("source=payments,id=txn,event_time=when,label=fraud")
    entries = dict(read_csv(path, mapping))
    first, second = orjson.loads(entries[2].value), orjson.loads(entries[3].value)
    assert first == {
        "source": "payments",
        "id": "a1",
        "event_time": 1_700_000_000_000,
        "features": {"amount": 12.5, "country": "FR", "note": None},
        "label": 0,
    }
    assert entries[2].topic == "records.payments" and entries[2].timestamp_ms == 1_700_000_000_000
    assert second["event_time"] == 1_700_000_001_000 and second["features"]["note"] == "late"
    assert "event_time 'yesterday'" in entries[4].reason
    assert "3 cells" in entries[5].reason


def test_csv_mapping_errors_are_clear(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("a,b\n1,2\n")
    with pytest.raises(WireFormatError, match="needs event_time"):
        CsvMapping.parse("source=s")
    with pytest.raises(WireFormatError, match="unknown role 'colour'"):
        CsvMapping.parse("source=s,event_time=a,colour=b")
    with pytest.raises(WireFormatError, match="no column 'ts'"):
        read_csv(path, CsvMapping.parse("source=s,event_time=ts"))
    only = CsvMapping.parse("source=s,event_time=a,features=b")
    (_, message), *_ = read_csv(path, only)
    assert orjson.loads(message.value)["features"] == {"b": 2.0}


def test_recording_source_polls_messages_and_collects_errors(tmp_path):
    path = tmp_path / "rec.jsonl.gz"
    with RecordingWriter(path) as out:
        for i in range(5):
            out.write(Message("t", 0, i, None, orjson.dumps(_record(i)), i))
    with gzip.open(path, "ab") as more:
        more.write(b"oops\n")
    seen = []
    source = RecordingSource(path, on_error=seen.append)
    assert [m.offset for m in source.poll(3, 0)] == [0, 1, 2]
    assert [m.offset for m in source.poll(10, 0)] == [3, 4]
    assert source.exhausted
    assert [e.line_number for e in source.errors] == [7] and seen == source.errors
    source.commit({("t", 0): 5})
    source.close()
    summary = read_recording(path).scan()
    assert (summary.messages, summary.errors, summary.lines, summary.span_ms) == (5, 1, 7, 4)
    assert summary.topics == ("t",)


@pytest.mark.parametrize(
    "value", [b'{"a": 1, "a": 2}', b'{"big": 123456789012345678901234567890}', b'{"x": NaN}']
)
def test_json_objects_that_would_not_survive_reserialising_stay_bytes(tmp_path, value):
    path = tmp_path / "rec.jsonl"
    with RecordingWriter(path) as out:
        out.write(Message("t", 0, 0, None, value, 1))
    assert "value_b64" in path.read_text().splitlines()[1]
    assert _messages(read_recording(path))[0].value == value
