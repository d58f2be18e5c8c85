"""``sgmstream evaluate``: the worker's code path run offline on a recording."""

from __future__ import annotations

import gzip
import json
import zlib

import jsonschema
import orjson
import pytest

from producers.synthetic import SyntheticStream, write_recording
from stream.cli import main
from stream.evaluation import TIMING_KEYS
from stream.records import record_to_dict
from stream.report_schema import REPORT_SCHEMA

SCHEMAS = "deploy/schemas/synthetic.yaml"


@pytest.fixture(scope="module")
def recording(tmp_path_factory):
    path = tmp_path_factory.mktemp("rec") / "small.jsonl.gz"
    write_recording(SyntheticStream(count=6000, seed=3), path)
    return path


def _evaluate(path, report_dir, *extra: str) -> dict:
    code = main(["evaluate", str(path), "--schemas", SCHEMAS, "--report", str(report_dir), *extra])
    assert code == 0
    return json.loads((report_dir / "report.json").read_text())


def _without_timing(report_dir) -> bytes:
    report = orjson.loads((report_dir / "report.json").read_bytes())
    return orjson.dumps({k: v for k, v in report.items() if k not in TIMING_KEYS})


def test_report_follows_its_schema_and_counts_every_record(recording, tmp_path):
    report = _evaluate(recording, tmp_path)
    jsonschema.validate(report, REPORT_SCHEMA)
    assert report["records"] == 6000
    assert report["deadletter"] == {}
    assert report["metrics"]["k_true"] == 10
    assert [w["start"] for w in report["windows"]] == list(range(0, 6000, 1000))
    assert (tmp_path / "quality.png").stat().st_size > 1000
    assert (tmp_path / "map.png").stat().st_size > 1000


def test_same_recording_same_report_apart_from_timing(recording, tmp_path):
    _evaluate(recording, tmp_path / "a")
    _evaluate(recording, tmp_path / "b")
    assert _without_timing(tmp_path / "a") == _without_timing(tmp_path / "b")


def test_learning_beats_chance_on_labelled_records(recording, tmp_path):
    metrics = _evaluate(recording, tmp_path)["metrics"]
    # Ten labelled clusters in three sources that share no field: any partition that keeps
    # the sources apart is far from chance.
    assert metrics["nmi"] > 0.3
    assert metrics["purity"] > 0.5


def test_malformed_lines_are_reported_with_line_numbers_and_skipped(recording, tmp_path):
    lines = gzip.decompress(recording.read_bytes()).splitlines()
    bad = [*lines[:3], b"{not json", lines[3], b'{"record": 5}', *lines[4:50]]
    path = tmp_path / "bad.jsonl.gz"
    path.write_bytes(gzip.compress(b"\n".join(bad) + b"\n"))
    report = _evaluate(path, tmp_path / "out")
    assert [entry["line"] for entry in report["input"]["bad_lines"]] == [4, 6]
    assert report["deadletter"] == {"bad_line": 2}
    assert report["records"] == 49  # header + 49 messages + 2 bad lines


def test_invalid_records_are_counted_by_reason(tmp_path):
    def line(source: str, features: dict) -> dict:
        return {"source": source, "id": "x", "event_time": 1767225600000, "features": features}

    lines = [
        line("sensors", {"temperature": 20.0, "humidity": 50.0}),
        line("sensors", {"humidity": 50.0}),
        line("nowhere", {}),
    ]
    path = tmp_path / "hand.jsonl"
    path.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    report = _evaluate(path, tmp_path / "out")
    assert report["records"] == 1
    assert report["deadletter"] == {"missing_field": 1, "unknown_source": 1}
    assert report["metrics"]["ari"] is None


def test_compare_runs_river_baselines_on_the_same_records(tmp_path):
    path = tmp_path / "tiny.jsonl.gz"
    write_recording(SyntheticStream(count=600, seed=5), path)
    report = _evaluate(path, tmp_path / "out", "--compare")
    jsonschema.validate(report, REPORT_SCHEMA)
    assert set(report["compare"]) == {"river.DBSTREAM", "river.DenStream", "river.KMeans(k=true k)"}


@pytest.mark.parametrize("order", ["by_source", "by_partition", "reversed"])
def test_any_arrival_order_is_processed_without_error(tmp_path, order):
    # Kafka interleaves partitions in blocks: sources and clusters arrive in long runs, new
    # sources show up after the map is full. Every record must still be processed.
    records = list(SyntheticStream(count=8000, seed=11))
    if order == "by_source":
        records.sort(key=lambda r: r.source)
    elif order == "by_partition":
        records.sort(key=lambda r: (zlib.crc32(r.id.encode()) % 4, r.event_time))
    else:
        records.reverse()
    path = tmp_path / f"{order}.jsonl"
    path.write_bytes(b"".join(orjson.dumps(record_to_dict(r)) + b"\n" for r in records))
    report = _evaluate(path, tmp_path / "out")
    assert report["records"] == 8000
    assert report["deadletter"] == {}
