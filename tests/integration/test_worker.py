"""The long-running worker against the real broker: outputs, dead letters, crashes, order,
and its metrics scraped by a real Prometheus server."""

from __future__ import annotations

import functools
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
import uuid
from pathlib import Path

import numpy as np
import orjson
import pytest
from kafka import KafkaConsumer, TopicPartition
from kafka.admin import NewTopic
from kafka.errors import KafkaError
from prometheus_client.parser import text_string_to_metric_families
from sklearn.metrics import adjusted_rand_score

from consumers import worker
from models.cluster import SelfGrowthMap
from producers.synthetic import SyntheticStream
from stream.broker import free_port
from stream.clients import admin_client, producer
from stream.evaluation import evaluate
from stream.pipeline import Pipeline
from stream.schema import SchemaRegistry
from stream.serde import load_envelope
from stream.settings import TopicSettings
from stream.source import MemorySource, Message

pytestmark = pytest.mark.kafka

REPO = Path(__file__).resolve().parents[2]
SYNTHETIC_SCHEMAS = REPO / "deploy" / "schemas" / "synthetic.yaml"
_NOW_MS = int(time.time() * 1000)  # recent timestamps: the broker's retention keeps them


class Topics:
    """Fresh, uniquely named records, assignments and dead-letter topics for one test."""

    def __init__(self, kafka_settings, sources=("a", "b"), partitions: int = 3):
        tag = uuid.uuid4().hex[:8]
        self.prefix = f"test.worker.{tag}.records."
        self.records = {s: self.prefix + s for s in sources}
        self.names = TopicSettings(
            assignments=f"test.worker.{tag}.assignments",
            deadletter=f"test.worker.{tag}.deadletter",
        )
        self.group = f"test.worker.{tag}"
        admin = admin_client(kafka_settings)
        try:
            admin.create_topics(
                [NewTopic(t, partitions, 1) for t in self.records.values()]
                + [NewTopic(self.names.assignments, 2, 1), NewTopic(self.names.deadletter, 1, 1)]
            )
        finally:
            admin.close()
        self.pattern = self.prefix.replace(".", r"\.") + ".*"


def _send(kafka_settings, messages) -> None:
    out = producer(kafka_settings, linger_ms=5)
    for topic, key, value, timestamp in messages:
        out.send(topic, value=value, key=key, timestamp_ms=timestamp)
    out.flush()
    out.close()


def _read(kafka_settings, topic: str, expected: int = 1, timeout_s: float = 30.0) -> list:
    """The topic's messages, once at least ``expected`` are there and 2 s pass without more."""
    reader = KafkaConsumer(
        topic,
        bootstrap_servers=kafka_settings.bootstrap_servers,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        consumer_timeout_ms=2000,
    )
    out, deadline = [], time.monotonic() + timeout_s
    try:
        while len(out) < expected and time.monotonic() < deadline:
            out.extend(reader)
    finally:
        reader.close()
    return out


def _run(kafka_settings, topics: Topics, checkpoint: Path, registry=None, **options):
    """The worker, in this process, on the test's topics (every source accepted by default)."""
    registry = registry or SchemaRegistry(unknown_sources="infer")
    return worker.run(
        kafka_settings,
        registry,
        checkpoint,
        topics=topics.pattern,
        group_id=topics.group,
        names=topics.names,
        **options,
    )


def _blob_record(i: int, source: str, rng) -> tuple[dict, int]:
    label = i % 3
    centre = np.array([[0.0, 0.0], [8.0, 0.0], [0.0, 8.0]])[label]
    x, y = centre + rng.normal(size=2)
    record = {
        "source": source,
        "id": f"{source}-{i}",
        "event_time": _NOW_MS + i,
        "features": {"x": float(x), "y": float(y)},
        "label": str(label),
    }
    return record, label


COLUMNS = ("offset", "source", "id", "event_time", "cluster", "novelty", "drift")


def _documents(messages) -> tuple[dict, list]:
    """Every record's assignments (a list: at least once may repeat one) and the drift events."""
    assignments, events = {}, []
    for m in messages:
        kind, body = load_envelope(m.value)
        if kind == "assignment":
            assert m.key == f"{body['topic']}/{body['partition']}".encode()
            for row in zip(*(body[c] for c in COLUMNS), strict=True):
                entry = dict(zip(COLUMNS, row, strict=True)) | {"worker": body["worker"]}
                assignments.setdefault(entry["id"], []).append(entry | {"topic": body["topic"]})
        else:
            events.append(body)
    return assignments, events


def _committed(kafka_settings, group: str, topics: dict) -> dict:
    reader = KafkaConsumer(
        bootstrap_servers=kafka_settings.bootstrap_servers,
        group_id=group,
        enable_auto_commit=False,
    )
    try:
        return {
            (topic, p): reader.committed(TopicPartition(topic, p))
            for topic in topics.values()
            for p in reader.partitions_for_topic(topic)
        }
    finally:
        reader.close()


def test_worker_assigns_every_record_and_dead_letters_bad_input_untouched(kafka_settings, tmp_path):
    topics = Topics(kafka_settings)
    rng = np.random.default_rng(0)
    sent, labels = [], {}
    for i in range(3000):
        source = "ab"[i % 2]
        record, label = _blob_record(i, source, rng)
        labels[record["id"]] = label
        sent.append(
            (topics.records[source], record["id"].encode(), orjson.dumps(record), _NOW_MS + i)
        )
    bad = [
        (b"k1", b"\xff\xfe not json", "bad_encoding"),
        (
            None,
            b'{"source": "a", "id": "n1", "event_time": -5, "features": {"x": 1}}',
            "bad_timestamp",
        ),
        (b"k3", b"[1, 2, 3]", "not_an_object"),
    ]
    for j, (key, value, _) in enumerate(bad):
        sent.append((topics.records["a"], key, value, _NOW_MS + 5000 + j))
    _send(kafka_settings, sent)

    result = _run(kafka_settings, topics, tmp_path / "worker.json", count=len(sent), name="w1")
    assert result.processed == len(sent), result.describe()
    assert dict(result.rejected) == {reason: 1 for _, _, reason in bad}

    assignments, events = _documents(_read(kafka_settings, topics.names.assignments))
    assert sorted(assignments) == sorted(labels)
    assert all(len(copies) == 1 for copies in assignments.values())
    assert all(copies[0]["worker"] == "w1" for copies in assignments.values())
    assert all(copies[0]["topic"] == topics.records[i[0]] for i, copies in assignments.items())
    # Each batch is assigned before it is learned (the first one by an empty map): three
    # well-separated blobs are told apart from the second batch of 1,000 records on.
    later = [i for i in labels if int(i.split("-")[1]) >= 1500]
    clusters = [assignments[i][0]["cluster"] for i in later]
    assert adjusted_rand_score([labels[i] for i in later], clusters) > 0.9
    assert all(e["worker"] == "w1" for e in events)

    dead = _read(kafka_settings, topics.names.deadletter, len(bad))
    assert len(dead) == len(bad)
    by_value = {m.value: m for m in dead}
    for key, value, reason in bad:
        m = by_value[value]
        headers = {k: v.decode() for k, v in m.headers}
        assert m.key == key
        assert headers["sgm.reason"] == reason
        assert headers["sgm.topic"] == topics.records["a"]
        assert headers["sgm.worker"] == "w1"
        offset = int(headers["sgm.offset"])
        original = _read_at(
            kafka_settings, topics.records["a"], int(headers["sgm.partition"]), offset
        )
        assert original == value

    # Everything processed is committed, and the checkpoint holds the same offsets.
    committed = _committed(kafka_settings, topics.group, topics.records)
    state = orjson.loads((tmp_path / "worker.json").read_bytes())
    assert state["processed"] == len(sent)
    assert {(t, p): o for t, p, o in state["offsets"]} == {
        tp: o for tp, o in committed.items() if o is not None
    }
    assert sum(committed.values()) == len(sent)


def _read_at(kafka_settings, topic: str, partition: int, offset: int) -> bytes:
    reader = KafkaConsumer(
        bootstrap_servers=kafka_settings.bootstrap_servers, enable_auto_commit=False
    )
    try:
        tp = TopicPartition(topic, partition)
        reader.assign([tp])
        reader.seek(tp, offset)
        polled = reader.poll(timeout_ms=5000, max_records=1)
        return polled[tp][0].value
    finally:
        reader.close()


def _synthetic(kafka_settings, topics: Topics, count: int, seed: int = 0) -> list[dict]:
    """The synthetic three-source stream, event times from now on, onto the test's topics."""
    stream = list(SyntheticStream(count=count, seed=seed, interval_ms=1, start_ms=_NOW_MS))
    _send(
        kafka_settings,
        [
            (topics.records[r.source], r.id.encode(), orjson.dumps(_as_dict(r)), r.event_time)
            for r in stream
        ],
    )
    return stream


def _as_dict(record) -> dict:
    return {
        "source": record.source,
        "id": record.id,
        "event_time": record.event_time,
        "features": record.features,
        "label": record.label,
    }


def _cli(topics: Topics, kafka_settings, checkpoint: Path, *extra: str) -> subprocess.Popen:
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "SGM_TOPICS_ASSIGNMENTS": topics.names.assignments,
        "SGM_TOPICS_DEADLETTER": topics.names.deadletter,
    }
    flags = {
        "--bootstrap-servers": kafka_settings.bootstrap_servers,
        "--topics": topics.pattern,
        "--group": topics.group,
        "--schemas": str(SYNTHETIC_SCHEMAS),
        "--checkpoint": str(checkpoint),
        "--checkpoint-every": "0.5",
        "--batch-size": "500",
        "--metrics-port": "0",  # several at once here: the default port serves only one
    }
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "stream.cli",
            "worker",
            *(x for f in flags.items() for x in f),
            *extra,
        ],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _processed_in(checkpoint: Path) -> int:
    try:
        return orjson.loads(checkpoint.read_bytes())["processed"]
    except (OSError, orjson.JSONDecodeError):
        return 0


def _eventually(read, ok, what: str, timeout_s: float = 60.0, every_s: float = 0.1):
    """``read()`` again and again until ``ok`` of its value; that value, or an AssertionError
    naming ``what`` and the last value."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = read()
        if ok(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not within {timeout_s} s (last: {value!r})")
        time.sleep(every_s)


def _wait_for_checkpoint(checkpoint: Path, at_least: int) -> int:
    read = functools.partial(_processed_in, checkpoint)
    return _eventually(read, lambda n: n >= at_least, f"a checkpoint of {at_least} records")


SOURCES = ("sensors", "payments", "weblogs")


def test_sigkill_loses_no_record_and_the_restart_learns_each_once(kafka_settings, tmp_path):
    topics = Topics(kafka_settings, sources=SOURCES)
    count = 30_000
    stream = _synthetic(kafka_settings, topics, count)
    checkpoint = tmp_path / "worker.json"

    first = _cli(topics, kafka_settings, checkpoint, "--name", "w-kill")
    _wait_for_checkpoint(checkpoint, 3000)
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=10)
    at_kill = _processed_in(checkpoint)
    assert 0 < at_kill < count, "the worker must be killed mid-stream for this test to mean much"

    # The same name: a static member of the group gets its partitions back at once.
    second = _cli(topics, kafka_settings, checkpoint, "--name", "w-kill", "--idle", "3")
    _, err = second.communicate(timeout=120)
    assert second.returncode == 0, err
    assert f"resumed after {at_kill:,}" in err
    # Learned exactly once: the checkpoint and the committed offsets moved together.
    assert _processed_in(checkpoint) == count

    assignments, _ = _documents(_read(kafka_settings, topics.names.assignments))
    assert sorted(assignments) == sorted(r.id for r in stream)  # at least once: none missing
    again = sum(len(copies) - 1 for copies in assignments.values())
    assert again < count - at_kill  # only what followed the last checkpoint came twice


def test_sigterm_drains_checkpoints_commits_and_exits_cleanly(kafka_settings, tmp_path):
    topics = Topics(kafka_settings, sources=SOURCES)
    count = 20_000
    stream = _synthetic(kafka_settings, topics, count, seed=1)
    checkpoint = tmp_path / "worker.json"

    first = _cli(topics, kafka_settings, checkpoint)
    _wait_for_checkpoint(checkpoint, 2000)
    first.send_signal(signal.SIGTERM)
    _, err = first.communicate(timeout=30)
    assert first.returncode == 0, err
    assert "(SIGTERM)" in err.splitlines()[-1]
    stopped_at = _processed_in(checkpoint)
    committed = _committed(kafka_settings, topics.group, topics.records)
    assert sum(o or 0 for o in committed.values()) == stopped_at

    second = _cli(topics, kafka_settings, checkpoint, "--idle", "3")
    _, err = second.communicate(timeout=120)
    assert second.returncode == 0, err
    assert _processed_in(checkpoint) == count
    assignments, _ = _documents(_read(kafka_settings, topics.names.assignments))
    # A clean stop redoes nothing: every record assigned exactly once.
    assert sorted(assignments) == sorted(r.id for r in stream)
    assert all(len(copies) == 1 for copies in assignments.values())


def test_a_backlog_is_learned_in_event_time_order_across_partitions(kafka_settings, tmp_path):
    """Consumed as fetched, a backlog of 12 partitions reaches the map source by source;
    aligned, the worker clusters it as well as the offline run on the time-ordered file."""
    topics = Topics(kafka_settings, sources=SOURCES, partitions=4)
    count = 20_000
    stream = _synthetic(kafka_settings, topics, count)

    schemas = SchemaRegistry.load(SYNTHETIC_SCHEMAS)
    result = _run(kafka_settings, topics, tmp_path / "worker.json", schemas, count=count)
    assignments, _ = _documents(_read(kafka_settings, topics.names.assignments))
    labels = [r.label for r in stream]
    live = adjusted_rand_score(labels, [assignments[r.id][0]["cluster"] for r in stream])

    offline = evaluate(
        MemorySource(
            Message("t", 0, i, None, orjson.dumps(_as_dict(r)), r.event_time)
            for i, r in enumerate(stream)
        ),
        Pipeline(SchemaRegistry.load(SYNTHETIC_SCHEMAS), model=SelfGrowthMap(seed=0)),
    )
    reference = adjusted_rand_score(labels, np.concatenate(offline.clusters))
    assert live > reference - 0.05, (live, reference)
    assert result.drift_events <= len(offline.drift_events) + 1


def _wait_for_members(kafka_settings, group: str, members: int) -> None:
    admin = admin_client(kafka_settings)

    def describe() -> dict:
        try:
            return admin.describe_groups([group])[group]
        except KafkaError:  # no coordinator before the first member joins
            return {"group_state": "", "members": []}

    def stable(group: dict) -> bool:
        return group["group_state"] == "Stable" and len(group["members"]) == members

    try:
        _eventually(describe, stable, f"{members} stable members", every_s=0.2)
    finally:
        admin.close()


def test_two_workers_of_one_group_share_the_partitions_and_miss_nothing(kafka_settings, tmp_path):
    topics = Topics(kafka_settings, sources=SOURCES, partitions=2)
    names = ("left", "right")
    workers = [
        _cli(topics, kafka_settings, tmp_path / f"{name}.json", "--name", name, "--idle", "10")
        for name in names
    ]
    # Then the records, so both get a share; idle until they come, for up to 10 s each.
    _wait_for_members(kafka_settings, topics.group, 2)
    count = 12_000
    stream = _synthetic(kafka_settings, topics, count)
    for process in workers:
        _, err = process.communicate(timeout=120)
        assert process.returncode == 0, err

    assignments, _ = _documents(_read(kafka_settings, topics.names.assignments))
    assert sorted(assignments) == sorted(r.id for r in stream)
    by_worker = {}
    for copies in assignments.values():
        for entry in copies:
            by_worker.setdefault(entry["worker"], set()).add(entry["topic"])
    assert set(by_worker) == set(names)
    learned = sum(_processed_in(tmp_path / f"{name}.json") for name in names)
    assert learned >= count  # more only if a rebalance moved a partition mid-way


def test_a_running_worker_serves_its_metrics_to_prometheus(kafka_settings, tmp_path):
    topics = Topics(kafka_settings)
    rng = np.random.default_rng(1)
    sent = []
    for i in range(2000):
        source = "ab"[i % 2]
        record, _ = _blob_record(i, source, rng)
        sent.append((topics.records[source], None, orjson.dumps(record), _NOW_MS + i))
    sent.append((topics.records["b"], None, b"{broken", _NOW_MS + 5000))
    _send(kafka_settings, sent)
    port = free_port()
    done: dict = {}

    def work() -> None:
        done["result"] = _run(
            kafka_settings,
            topics,
            tmp_path / "worker.json",
            idle_s=6,
            checkpoint_every_s=0.5,
            metrics_port=port,
        )

    thread = threading.Thread(target=work)
    thread.start()
    try:
        _wait_for_checkpoint(tmp_path / "worker.json", len(sent))
        time.sleep(1.0)  # the checkpoint after the last commit sets the consumer lag
        text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read()
    finally:
        thread.join(timeout=60)
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text.decode())
        for s in family.samples
    }
    assert samples[("sgm_records_total", (("source", "a"),))] == 1000
    assert samples[("sgm_records_total", (("source", "b"),))] == 1000
    assert samples[("sgm_deadletter_total", (("reason", "not_json"),))] == 1
    assert samples[("sgm_event_lag_seconds_count", ())] == 2000
    lags = {k: v for k, v in samples.items() if k[0] == "sgm_consumer_lag_records"}
    assert len(lags) == 6 and sum(lags.values()) == 0  # every partition caught up, committed
    assert samples[("sgm_neurons", ())] > 0
    assert done["result"].processed == len(sent)


PROMETHEUS = REPO / ".cache" / "prometheus" / "usr" / "bin" / "prometheus"


def _query(port: int, expr: str) -> list:
    url = f"http://127.0.0.1:{port}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.loads(response.read())["data"]["result"]


def _until(port: int, expr: str, ok) -> list:
    def query() -> list:
        try:
            return _query(port, expr)
        except OSError:  # the server is still starting
            return []

    return _eventually(query, ok, expr, timeout_s=30.0, every_s=0.5)


def test_prometheus_scrapes_a_worker(kafka_settings, tmp_path):
    assert PROMETHEUS.exists(), f"{PROMETHEUS} is missing: `make prometheus` unpacks it"
    topics = Topics(kafka_settings)
    rng = np.random.default_rng(2)
    records = [_blob_record(i, "ab"[i % 2], rng)[0] for i in range(1500)]
    _send(
        kafka_settings,
        [(topics.records[r["source"]], None, orjson.dumps(r), _NOW_MS) for r in records],
    )
    metrics_port, prometheus_port = free_port(), free_port()
    (tmp_path / "prometheus.yml").write_text(
        "global: {scrape_interval: 1s}\n"
        "scrape_configs:\n"
        "  - job_name: sgmstream-workers\n"
        f"    static_configs: [{{targets: ['127.0.0.1:{metrics_port}']}}]\n"
    )
    server = subprocess.Popen(
        [
            str(PROMETHEUS),
            f"--config.file={tmp_path / 'prometheus.yml'}",
            f"--storage.tsdb.path={tmp_path / 'data'}",
            f"--web.listen-address=127.0.0.1:{prometheus_port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    run = threading.Thread(
        target=_run,
        args=(kafka_settings, topics, tmp_path / "w.json"),
        kwargs={"idle_s": 8, "checkpoint_every_s": 0.5, "metrics_port": metrics_port},
    )
    run.start()
    try:
        up = _until(prometheus_port, "up", lambda r: r and r[0]["value"][1] == "1")
        assert up[0]["metric"]["job"] == "sgmstream-workers"
        done = _until(
            prometheus_port,
            "sum(sgm_records_total)",
            lambda r: r and float(r[0]["value"][1]) == len(records),
        )
        assert done
        lag = _until(prometheus_port, "sum(sgm_consumer_lag_records)", lambda r: bool(r))
        assert float(lag[0]["value"][1]) >= 0
        neurons = _query(prometheus_port, "sgm_neurons")
        assert float(neurons[0]["value"][1]) > 0
    finally:
        run.join(timeout=60)
        server.terminate()
        server.wait(timeout=30)
