"""A worker's durable state: the learned parts of its pipeline and the offsets they reflect.

A checkpoint is one JSON file (orjson; never pickle) holding the snapshots of the encoder, the
map, the drift monitor and the re-adaptation tracker (each its own ``to_dict`` document), the
next offset of every partition whose records the state has learned, how many records that was,
and the schema version of each source at the time. It is written to a temporary file in the
same directory, flushed to disk and renamed over the old one, so a reader (or a restarted
worker) sees the previous checkpoint or the new one, never half of one.

A directory holds the checkpoint of one worker at a time: :func:`lock` takes an exclusive lock
on ``<path>.lock`` for as long as the worker runs, and a second worker pointed at the same file
gets a clear error instead of overwriting the first one's state.

Examples
--------
>>> import tempfile
>>> from pathlib import Path
>>> from stream.pipeline import Pipeline
>>> from stream.schema import SchemaRegistry
>>> registry = SchemaRegistry(unknown_sources="infer")
>>> path = Path(tempfile.mkdtemp()) / "worker.json"
>>> save(path, Pipeline(registry), {("records.a", 0): 42}, processed=42)
>>> state = load(path, registry)
>>> state.offsets, state.processed
({('records.a', 0): 42}, 42)
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from models.base import SnapshotError
from models.cluster import SelfGrowthMap
from models.drift import DriftMonitor, ReadaptationTracker
from stream.encoding import MixedEncoder
from stream.exceptions import ConfigError
from stream.pipeline import Pipeline
from stream.schema import SchemaRegistry

__all__ = ["Checkpoint", "changed_schemas", "load", "lock", "save"]

FORMAT = 1
_TYPE = "sgmstream.worker_checkpoint"
_PARTS = {
    "encoder": MixedEncoder,
    "model": SelfGrowthMap,
    "monitor": DriftMonitor,
    "tracker": ReadaptationTracker,
}


@dataclass
class Checkpoint:
    """A loaded checkpoint: the pipeline to continue with and where its records ended."""

    pipeline: Pipeline
    offsets: dict[tuple[str, int], int] = field(default_factory=dict)
    processed: int = 0
    schema_versions: dict[str, int] = field(default_factory=dict)


def save(
    path: Path, pipeline: Pipeline, offsets: dict[tuple[str, int], int], *, processed: int
) -> None:
    """Write ``pipeline``'s learned state and ``offsets`` to ``path``, atomically and durably."""
    document = {
        "format": FORMAT,
        "type": _TYPE,
        "processed": processed,
        "offsets": [[topic, partition, offset] for (topic, partition), offset in offsets.items()],
        "schema_versions": _versions(pipeline.registry),
        **{name: getattr(pipeline, name).to_dict() for name in _PARTS},
    }
    data = orjson.dumps(document, option=orjson.OPT_SERIALIZE_NUMPY)
    path.parent.mkdir(parents=True, exist_ok=True)
    scratch = path.with_name(path.name + ".tmp")
    with open(scratch, "wb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())
    os.replace(scratch, path)
    _sync_directory(path.parent)  # the rename itself survives a power cut only once synced


def load(path: Path, registry: SchemaRegistry) -> Checkpoint:
    """The checkpoint at ``path``, its pipeline validating against ``registry``.

    Raises :class:`~stream.exceptions.ConfigError` (one line: what is wrong, what to do) when
    the file is not a readable checkpoint.
    """
    try:
        document = orjson.loads(path.read_bytes())
        if not isinstance(document, dict) or document.get("type") != _TYPE:
            raise SnapshotError("not a worker checkpoint")
        if document.get("format") != FORMAT:
            raise SnapshotError(f"checkpoint format {document.get('format')!r} is not {FORMAT}")
        parts = {name: kind.from_dict(document[name]) for name, kind in _PARTS.items()}
        offsets = {(str(t), int(p)): int(o) for t, p, o in document["offsets"]}
        processed = int(document["processed"])
        versions = {str(k): int(v) for k, v in document["schema_versions"].items()}
    except (OSError, orjson.JSONDecodeError, SnapshotError, KeyError, TypeError, ValueError) as e:
        raise ConfigError(
            f"checkpoint {path} cannot be read ({e}); move it away to start from scratch"
        ) from None
    pipeline = Pipeline(registry, **parts)
    return Checkpoint(pipeline, offsets, processed, versions)


def changed_schemas(checkpoint: Checkpoint, registry: SchemaRegistry) -> list[str]:
    """Sources whose schema version differs from the one the checkpoint was learned under."""
    now = _versions(registry)
    return sorted(
        source
        for source in set(now) | set(checkpoint.schema_versions)
        if now.get(source) != checkpoint.schema_versions.get(source)
    )


@contextmanager
def lock(path: Path) -> Iterator[None]:
    """Hold ``<path>.lock`` exclusively; a second holder gets a ConfigError at once."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(path.name + ".lock"), "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ConfigError(
                f"checkpoint {path} is in use by another worker; give each worker its own "
                "--checkpoint file"
            ) from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _versions(registry: SchemaRegistry) -> dict[str, int]:
    return {name: schema.version for name, schema in registry.schemas.items()}


def _sync_directory(directory: Path) -> None:
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
