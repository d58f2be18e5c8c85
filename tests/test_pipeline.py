"""The per-batch core end to end: the map's own re-merging is not reported as drift."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from models.cluster import SelfGrowthMap
from stream.pipeline import STAGES, Pipeline
from stream.recording import RecordingSource, open_input
from stream.schema import SchemaRegistry

MOVE = 4000


def _three_blobs(seed: int, path, n: int = 6000) -> None:
    """Three blobs sharing 60/30/10% of the records; from ``MOVE`` on the small one sits at
    (8, 8) instead of (0, 8)."""
    rng = np.random.default_rng(seed)
    centres = np.array([[0.0, 0.0], [8.0, 0.0], [0.0, 8.0]])
    with open(path, "w") as f:
        for i in range(n):
            c = rng.choice(3, p=[0.6, 0.3, 0.1])
            centre = np.array([8.0, 8.0]) if (c == 2 and i >= MOVE) else centres[c]
            x = centre + rng.normal(size=2)
            record = {
                "source": "s",
                "id": str(i),
                "event_time": 1767225600000 + 10 * i,
                "features": {"a": float(x[0]), "b": float(x[1])},
                "label": int(c),
            }
            f.write(json.dumps(record) + "\n")


@pytest.mark.parametrize("seed", range(5))
def test_remerging_raises_no_event_and_a_real_move_is_found(seed, tmp_path):
    path = tmp_path / "blobs.jsonl"
    _three_blobs(seed, path)
    pipeline = Pipeline(SchemaRegistry(unknown_sources="infer"), model=SelfGrowthMap(seed=0))
    source = RecordingSource(open_input(path, None))
    events, relabelled = [], 0
    while not source.exhausted:
        before = pipeline.model.neuron_clusters
        events += pipeline.process(source.poll(max_records=1000, timeout_s=0.0)).drift_events
        relabelled += not np.array_equal(before, pipeline.model.neuron_clusters)
    assert relabelled > 0  # the map did re-label as it learned: the stream tests something
    assert [e.index for e in events if e.index < MOVE] == []
    assert events and MOVE <= events[0].index < MOVE + 1000


@pytest.mark.parametrize("seed", range(3))
def test_evaluate_reports_the_expected_metrics_and_the_move(seed, tmp_path):
    from stream.cli import main

    path = tmp_path / "blobs.jsonl"
    _three_blobs(seed, path)
    assert main(["evaluate", str(path), "--report", str(tmp_path / "report")]) == 0
    report = json.loads((tmp_path / "report" / "report.json").read_text())
    last = report["windows"][-1]
    # Three well separated blobs: once learned, the map finds exactly them again, the moved
    # one included, and says once, soon after the move, which cluster moved.
    assert (last["k_found"], last["k_true"]) == (3, 3)
    assert last["ari"] > 0.95
    assert report["metrics"]["k_found"] == 3
    [event] = report["drift_events"]
    assert MOVE <= event["index"] < MOVE + 500
    assert event["kind"] == "moved_cluster"


def test_each_batch_times_its_stages(tmp_path):
    path = tmp_path / "blobs.jsonl"
    _three_blobs(0, path, n=1000)
    pipeline = Pipeline(SchemaRegistry(unknown_sources="infer"), model=SelfGrowthMap(seed=0))
    batch = RecordingSource(open_input(path, None)).poll(max_records=1000, timeout_s=0.0)
    learned = pipeline.process(batch).seconds
    assert list(learned) == list(STAGES) and all(s > 0.0 for s in learned.values())
    rejected = pipeline.process([replace(batch[0], value=b"not json")]).seconds
    assert rejected["validate"] > 0.0
    assert [rejected[s] for s in STAGES[1:]] == [0.0] * (len(STAGES) - 1)  # nothing to learn


def test_the_report_splits_the_run_time_by_stage(tmp_path):
    from stream.cli import main

    path = tmp_path / "blobs.jsonl"
    _three_blobs(0, path, n=2000)
    assert main(["evaluate", str(path), "--report", str(tmp_path / "report")]) == 0
    timing = json.loads((tmp_path / "report" / "report.json").read_text())["timing"]
    assert list(timing["stages"]) == list(STAGES)
    assert 0.0 < sum(timing["stages"].values()) <= timing["seconds"]


def test_loading_the_kernels_changes_no_model(tmp_path):
    path = tmp_path / "blobs.jsonl"
    _three_blobs(0, path, n=1000)
    pipeline = Pipeline(SchemaRegistry(unknown_sources="infer"), model=SelfGrowthMap(seed=0))
    pipeline.process(RecordingSource(open_input(path, None)).poll(1000, 0.0))
    before = json.dumps(pipeline.model.to_dict())  # as text: NaN (unknown) equals NaN
    pipeline.load_kernels()
    assert json.dumps(pipeline.model.to_dict()) == before


def test_the_map_learns_which_columns_are_discrete_from_the_encoder(tmp_path):
    path = tmp_path / "mixed.jsonl"
    rows = [
        {"source": "s", "id": str(i), "event_time": 1767225600000,
         "features": {"a": float(i % 7), "c": ["x", "y"][i % 2]}}
        for i in range(300)
    ]  # fmt: skip
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    pipeline = Pipeline(SchemaRegistry(unknown_sources="infer"), model=SelfGrowthMap(seed=0))
    pipeline.process(RecordingSource(open_input(path, None)).poll(1000, 0.0))
    assert pipeline.model._discrete.tolist() == pipeline.encoder.discrete_groups.tolist()
    assert sorted(set(pipeline.model._discrete.tolist()))[0] == -1  # "a" is continuous


def test_the_default_encoder_is_typed_by_the_schemas():
    registry = SchemaRegistry.load("deploy/schemas/synthetic.yaml")
    encoder = Pipeline(registry).encoder
    assert encoder.types["tier"] == "ordinal"  # a string-valued field, kept in order
    assert encoder.levels["tier"] == ["free", "pro", "enterprise"]
