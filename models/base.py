"""Shared plumbing for every model: feature indexing, numpy batch methods and snapshots.

Models follow river's interfaces (``river.base.Clusterer``, ``river.base.DriftDetector``). This
module adds the two things river does not give a streaming service:

* :class:`FeatureIndex` maps dict features (``learn_one(x: dict)``) onto the columns of the numpy
  matrices the batch path uses. Features may appear mid-stream; a missing feature is ``NaN``
  (missing), never zero.
* :class:`Snapshot` saves and restores a model exactly, as a versioned JSON-safe dict or as an
  ``.npz`` file. No pickle: arrays are stored as plain numeric arrays and loaded with
  ``allow_pickle=False``.
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["SNAPSHOT_FORMAT", "BatchClusterer", "FeatureIndex", "Snapshot", "SnapshotError"]

SNAPSHOT_FORMAT = 1

# Refuse documents that would allocate absurd arrays (a corrupted or hostile snapshot).
_MAX_ARRAY_ELEMENTS = 50_000_000


class SnapshotError(ValueError):
    """A snapshot document is malformed, of another format version, or of an unknown type."""


class FeatureIndex:
    """Column positions of named features, grown as new names appear.

    Examples
    --------
    >>> index = FeatureIndex()
    >>> index.row({"b": 2.0, "a": 1.0}).tolist()
    [2.0, 1.0]
    >>> index.row({"a": 5.0, "c": 3.0}).tolist()
    [nan, 5.0, 3.0]
    >>> index.names
    ['b', 'a', 'c']
    """

    def __init__(self, names: list | None = None):
        self._names: list = list(names or [])
        self._position = {name: i for i, name in enumerate(self._names)}

    @property
    def names(self) -> list:
        return list(self._names)

    def __len__(self) -> int:
        return len(self._names)

    def add(self, name) -> int:
        """Position of ``name``, appending it if it is new."""
        position = self._position.get(name)
        if position is None:
            position = len(self._names)
            self._names.append(name)
            self._position[name] = position
        return position

    def row(self, x: dict, grow: bool = True) -> np.ndarray:
        """``x`` as a float row over the known features; unknown names are added if ``grow``."""
        if grow:
            for name in x:
                self.add(name)
        out = np.full(len(self._names), np.nan)
        for name, value in x.items():
            position = self._position.get(name)
            if position is not None and value is not None:
                out[position] = float(value)
        return out

    def ensure_width(self, width: int) -> None:
        """Name unnamed numpy columns by their position (``learn_many`` on a bare matrix)."""
        while len(self._names) < width:
            self.add(len(self._names))


class BatchClusterer:
    """Mixin: river's per-dict methods and numpy batch methods over one row-matrix core.

    A subclass keeps a :class:`FeatureIndex` in ``self._features`` and implements
    ``_learn_rows(X)`` and ``_predict_rows(X) -> ndarray[int]`` on float matrices whose columns
    follow that index (``NaN`` = missing). Because ``learn_one`` is ``learn_many`` on one row,
    the two are equivalent by construction; the check suite asserts it anyway.
    """

    def _learn_rows(self, X: np.ndarray) -> None:
        raise NotImplementedError

    def _predict_rows(self, X: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def learn_one(self, x: dict) -> None:
        self._learn_rows(self._features.row(x)[None, :])

    def predict_one(self, x: dict) -> int:
        return int(self._predict_rows(self._features.row(x, grow=False)[None, :])[0])

    def learn_many(self, X) -> None:
        """Learn a batch: rows in order, exactly as repeated ``learn_one``."""
        X = self._matrix(X)
        self._features.ensure_width(X.shape[1])
        self._learn_rows(X)

    def predict_many(self, X) -> np.ndarray:
        """Cluster id of every row of ``X`` (the model is not changed)."""
        return self._predict_rows(self._matrix(X))

    @staticmethod
    def _matrix(X) -> np.ndarray:
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2:
            raise ValueError(f"expected a 2-D matrix of records, got shape {X.shape}")
        return np.ascontiguousarray(X)


def _encode(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        if value.dtype.kind not in "biuf":
            raise SnapshotError(f"cannot snapshot an array of dtype {value.dtype}")
        return {
            "__ndarray__": value.ravel().tolist(),
            "dtype": value.dtype.str,
            "shape": value.shape,
        }
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, dict):
        return {"__dict__": [[_encode(k), _encode(v)] for k, v in value.items()]}
    if isinstance(value, list | tuple):
        return [_encode(v) for v in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    raise SnapshotError(f"cannot snapshot a value of type {type(value).__name__}")


def _decode(value: Any) -> Any:
    if isinstance(value, dict):
        if "__ndarray__" in value:
            return _decode_array(value)
        if "__dict__" in value:
            return {_hashable(_decode(k)): _decode(v) for k, v in value["__dict__"]}
        raise SnapshotError(f"unexpected object with keys {sorted(value)[:5]}")
    if isinstance(value, list):
        return [_decode(v) for v in value]
    return value


def _hashable(key: Any) -> Any:
    return tuple(key) if isinstance(key, list) else key


def _decode_array(value: dict) -> np.ndarray:
    try:
        dtype = np.dtype(value["dtype"])
        shape = tuple(int(n) for n in value["shape"])
    except (KeyError, TypeError, ValueError) as exc:
        raise SnapshotError(f"bad array in snapshot: {exc}") from exc
    if dtype.kind not in "biuf":
        raise SnapshotError(f"array dtype {dtype} is not numeric")
    size = int(np.prod(shape)) if shape else 1
    if size > _MAX_ARRAY_ELEMENTS or size != len(value["__ndarray__"]):
        raise SnapshotError(f"array of shape {shape} does not match its {size} stored values")
    return np.asarray(value["__ndarray__"], dtype=dtype).reshape(shape)


class Snapshot:
    """Mixin: exact save / restore of a model's parameters and learned state.

    A subclass implements ``_get_state() -> dict`` and ``_set_state(state: dict)``; parameters
    come from ``river.base.Base._get_params`` (``__init__`` stores each under its own name).
    The document is ``{"format", "type", "params", "state"}`` and is JSON-safe.
    """

    def _get_state(self) -> dict:
        raise NotImplementedError

    def _set_state(self, state: dict) -> None:
        raise NotImplementedError

    def to_dict(self) -> dict:
        """The model as a versioned JSON-safe document."""
        kind = type(self)
        return {
            "format": SNAPSHOT_FORMAT,
            "type": f"{kind.__module__}.{kind.__qualname__}",
            "params": _encode(self._get_params()),
            "state": _encode(self._get_state()),
        }

    @classmethod
    def from_dict(cls, document: dict):
        """Rebuild a model from :meth:`to_dict` output; raises :class:`SnapshotError`."""
        if not isinstance(document, dict):
            raise SnapshotError("a snapshot is a JSON object")
        if document.get("format") != SNAPSHOT_FORMAT:
            raise SnapshotError(
                f"snapshot format {document.get('format')!r} is not {SNAPSHOT_FORMAT}"
            )
        kind = _resolve_type(document.get("type"))
        if not issubclass(kind, cls):
            raise SnapshotError(f"snapshot holds a {kind.__name__}, not a {cls.__name__}")
        try:
            model = kind(**_decode(document["params"]))
            model._set_state(_decode(document["state"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise SnapshotError(f"snapshot of {kind.__name__} is inconsistent: {exc}") from exc
        return model

    def save(self, path: str | Path) -> None:
        """Write the snapshot as an ``.npz`` file (a JSON header plus the numeric arrays)."""
        arrays: dict[str, np.ndarray] = {}
        header = _split_arrays(self.to_dict(), arrays)
        arrays["header"] = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)
        with open(path, "wb") as out:
            np.savez_compressed(out, **arrays)

    @classmethod
    def load(cls, path: str | Path):
        """Read a snapshot written by :meth:`save`."""
        with np.load(path, allow_pickle=False) as stored:
            arrays = {name: stored[name] for name in stored.files}
        try:
            header = json.loads(arrays.pop("header").tobytes())
        except (KeyError, ValueError) as exc:
            raise SnapshotError(f"{path}: not a model snapshot ({exc})") from exc
        return cls.from_dict(_join_arrays(header, arrays))


def _split_arrays(value: Any, arrays: dict) -> Any:
    """Move encoded arrays out of a document into ``arrays``, leaving references behind."""
    if isinstance(value, dict):
        if "__ndarray__" in value:
            key = f"a{len(arrays)}"
            arrays[key] = np.asarray(value["__ndarray__"], dtype=value["dtype"])
            return {"__npz__": key, "dtype": value["dtype"], "shape": value["shape"]}
        return {k: _split_arrays(v, arrays) for k, v in value.items()}
    if isinstance(value, list):
        return [_split_arrays(v, arrays) for v in value]
    return value


def _join_arrays(value: Any, arrays: dict) -> Any:
    if isinstance(value, dict):
        if "__npz__" in value:
            stored = arrays.get(value["__npz__"])
            if stored is None:
                raise SnapshotError(f"snapshot array {value['__npz__']!r} is missing")
            return {
                "__ndarray__": stored.tolist(),
                "dtype": value["dtype"],
                "shape": value["shape"],
            }
        return {k: _join_arrays(v, arrays) for k, v in value.items()}
    if isinstance(value, list):
        return [_join_arrays(v, arrays) for v in value]
    return value


def _resolve_type(name: Any) -> type:
    # Only classes from this package can be named by a snapshot: a document must never be able
    # to make us import or instantiate arbitrary code.
    if not isinstance(name, str) or not name.startswith("models."):
        raise SnapshotError(f"snapshot type {name!r} is not a sgmstream model")
    module_name, _, class_name = name.rpartition(".")
    try:
        kind = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError) as exc:
        raise SnapshotError(f"unknown snapshot type {name!r}") from exc
    if not isinstance(kind, type) or not issubclass(kind, Snapshot):
        raise SnapshotError(f"{name!r} is not a snapshot-able model")
    return kind
