"""Worker checkpoints: exact restore, atomic replacement, one writer, clear errors."""

from __future__ import annotations

import numpy as np
import orjson
import pytest

from models.cluster import SelfGrowthMap
from stream import checkpoint
from stream.exceptions import ConfigError
from stream.pipeline import Pipeline
from stream.schema import SchemaRegistry
from stream.source import Message

REGISTRY = SchemaRegistry.from_dict(
    {
        "sources": {
            "s": {
                "version": 3,
                "fields": {"x": {"type": "numeric"}, "kind": {"type": "categorical"}},
            }
        }
    }
)


def _batch(start: int, n: int, rng) -> list[Message]:
    out = []
    for i in range(start, start + n):
        c = int(rng.integers(3))
        record = {
            "source": "s",
            "id": str(i),
            "event_time": 1_767_225_600_000 + i,
            "features": {"x": float(6 * c + rng.normal()), "kind": "pqr"[c]},
        }
        out.append(Message("records.s", 0, i, None, orjson.dumps(record), record["event_time"]))
    return out


def test_a_restored_pipeline_continues_exactly_as_one_never_stopped(tmp_path):
    rng = np.random.default_rng(0)
    batches = [_batch(500 * b, 500, rng) for b in range(8)]
    kept = Pipeline(REGISTRY, model=SelfGrowthMap(seed=0))
    for batch in batches[:4]:
        kept.process(batch)
    path = tmp_path / "w.json"
    checkpoint.save(path, kept, {("records.s", 0): 2000}, processed=2000)
    restored = checkpoint.load(path, REGISTRY)
    assert restored.offsets == {("records.s", 0): 2000}
    assert restored.processed == 2000
    assert restored.schema_versions == {"s": 3}
    for batch in batches[4:]:
        a, b = kept.process(batch), restored.pipeline.process(batch)
        np.testing.assert_array_equal(a.clusters, b.clusters)
        np.testing.assert_array_equal(a.encoded, b.encoded)
        assert [e.to_dict() for e in a.drift_events] == [e.to_dict() for e in b.drift_events]


def test_a_new_checkpoint_replaces_the_old_one_whole(tmp_path):
    path = tmp_path / "w.json"
    pipeline = Pipeline(REGISTRY)
    checkpoint.save(path, pipeline, {("t", 0): 1}, processed=1)
    checkpoint.save(path, pipeline, {("t", 0): 7}, processed=7)
    assert checkpoint.load(path, REGISTRY).processed == 7
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w.json"]  # no scratch file left


@pytest.mark.parametrize(
    "content, says",
    [
        (b"", "cannot be read"),
        (b'{"type": "something else"}', "not a worker checkpoint"),
        (b'{"type": "sgmstream.worker_checkpoint", "format": 99}', "format 99"),
        (b'{"type": "sgmstream.worker_checkpoint", "format": 1}', "cannot be read"),
    ],
)
def test_an_unreadable_checkpoint_is_one_clear_error(tmp_path, content, says):
    path = tmp_path / "w.json"
    path.write_bytes(content)
    with pytest.raises(ConfigError, match=says) as error:
        checkpoint.load(path, REGISTRY)
    assert "move it away to start from scratch" in str(error.value)
    assert "\n" not in str(error.value)


def test_one_checkpoint_file_serves_one_worker_at_a_time(tmp_path):
    path = tmp_path / "w.json"
    with checkpoint.lock(path):
        second = checkpoint.lock(path)
        with pytest.raises(ConfigError, match="in use by another worker"):
            second.__enter__()
    with checkpoint.lock(path):  # released once the first worker is done
        pass


def test_a_changed_schema_version_is_named(tmp_path):
    path = tmp_path / "w.json"
    checkpoint.save(path, Pipeline(REGISTRY), {}, processed=0)
    newer = SchemaRegistry.from_dict(
        {"sources": {"s": {"version": 4, "fields": {"x": {"type": "numeric"}}}}}
    )
    assert checkpoint.changed_schemas(checkpoint.load(path, newer), newer) == ["s"]
