"""The per-batch core end to end: the map's own re-merging is not reported as drift."""

from __future__ import annotations

import json

import numpy as np
import pytest

from models.cluster import SelfGrowthMap
from stream.pipeline import Pipeline
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
