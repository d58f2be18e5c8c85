"""The worker's Prometheus metrics, as a batch of the pipeline sets them."""

from __future__ import annotations

import time

import orjson

from models.cluster import SelfGrowthMap
from stream.metrics import WorkerMetrics
from stream.pipeline import Pipeline
from stream.schema import SchemaRegistry
from stream.source import Message


def _messages(now_ms: int) -> list[Message]:
    out = []
    for i in range(300):
        source = "ab"[i % 2]
        record = {
            "source": source,
            "id": str(i),
            "event_time": now_ms - 2000,  # two seconds old when processed
            "features": {"x": float(i % 3) * 5, "y": float(i % 7)},
        }
        out.append(Message(f"records.{source}", 0, i, None, orjson.dumps(record), now_ms))
    out.append(Message("records.a", 0, 300, None, b"not json", now_ms))
    return out


def test_one_batch_sets_every_worker_metric():
    metrics = WorkerMetrics()
    pipeline = Pipeline(SchemaRegistry(unknown_sources="infer"), model=SelfGrowthMap(seed=0))
    for _ in range(2):  # the first batch meets an empty map: no winner distance yet
        polled_at = time.monotonic()
        outcome = pipeline.process(_messages(int(time.time() * 1000)))
        metrics.batch(outcome, pipeline.model, polled_at)

    assert metrics.value("sgm_records_total", source="a") == 300
    assert metrics.value("sgm_records_total", source="b") == 300
    assert metrics.value("sgm_deadletter_total", reason="not_json") == 2
    assert metrics.value("sgm_event_lag_seconds_count") == 600
    lag_sum = metrics.value("sgm_event_lag_seconds_sum")
    assert 600 * 2.0 <= lag_sum < 600 * 10.0
    assert metrics.value("sgm_processing_seconds_count") == 2
    assert metrics.value("sgm_neurons") == pipeline.model.n_neurons > 0
    assert metrics.value("sgm_clusters") == pipeline.model.n_clusters
    assert metrics.value("sgm_quantization_error") > 0


def test_consumer_lag_is_end_minus_committed_for_owned_partitions_only():
    metrics = WorkerMetrics()
    metrics.lag({("t", 0): 100, ("t", 1): 50}, {("t", 0): 40})
    assert metrics.value("sgm_consumer_lag_records", topic="t", partition="0") == 60
    assert metrics.value("sgm_consumer_lag_records", topic="t", partition="1") == 50
    metrics.lag({("t", 1): 50}, {("t", 1): 50})  # partition 0 went to another worker
    assert metrics.value("sgm_consumer_lag_records", topic="t", partition="0") is None
    assert metrics.value("sgm_consumer_lag_records", topic="t", partition="1") == 0
