"""Versioned wire documents: records, model updates, global models and drift events.

Every internal document travels in one envelope, ``{"v": 1, "kind": ..., "body": {...}}``,
encoded as JSON (orjson, the default) or msgpack. :func:`loads` tells the two apart by the
first byte (a JSON document starts with ``{``, a msgpack one with a map header), so readers
accept both whatever the writer chose. Both carry exactly JSON's data model: objects with
string keys, arrays, strings, finite numbers (integers within 64 bits), booleans and null.
numpy arrays and scalars may be passed to :func:`dumps`; they come back as lists and numbers.

Anything else is refused with :class:`~stream.exceptions.WireFormatError`, on the way out as on
the way in: NaN or infinity (orjson would silently write ``null``), non-string keys, bytes,
nesting deeper than :data:`MAX_DEPTH`, documents larger than ``max_bytes``, duplicate keys,
an unknown envelope version or kind.

Examples
--------
>>> data = dumps("drift_event", {"source": "a", "detector": "adwin", "at": 1_700_000_000_000})
>>> data
b'{"v":1,"kind":"drift_event","body":{"source":"a","detector":"adwin","at":1700000000000}}'
>>> loads(data, expected_kind="drift_event")["detector"]
'adwin'
>>> loads(dumps("global_model", {"version": 3}, fmt="msgpack"))
{'version': 3}
"""

from __future__ import annotations

import math
from typing import Any

import msgpack
import numpy as np
import orjson

from stream.exceptions import WireFormatError
from stream.records import WIRE_VERSION, Record, record_to_dict
from stream.schema import SchemaRegistry
from stream.validation import Rejection, duplicate_key, validate_object

__all__ = [
    "DEFAULT_MAX_BYTES",
    "KINDS",
    "MAX_DEPTH",
    "dumps",
    "load_envelope",
    "loads",
    "record_from_dict",
    "record_to_dict",
]

KINDS = ("record", "assignment", "model_update", "global_model", "drift_event")
DEFAULT_MAX_BYTES = 64 << 20  # a global model of thousands of neurons is a few MB
MAX_DEPTH = 64  # our documents nest a handful of levels; deep nesting is an attack on parsers
_FORMATS = ("json", "msgpack")
_INT_MIN, _INT_MAX = -(1 << 63), (1 << 64) - 1  # what both encoders can represent
# Accepting any source and field, the shape checks of validation without a schema.
_ANY_SOURCE = SchemaRegistry(unknown_sources="infer")


def dumps(kind: str, obj: dict, *, fmt: str = "json") -> bytes:
    """``obj`` in a versioned envelope of ``kind``, as JSON or msgpack bytes."""
    if kind not in KINDS:
        raise WireFormatError(f"unknown document kind {kind!r} (known: {', '.join(KINDS)})")
    if fmt not in _FORMATS:
        raise WireFormatError(f"unknown wire format {fmt!r} (json or msgpack)")
    if not isinstance(obj, dict):
        raise WireFormatError(f"a {kind} body is an object, got {type(obj).__name__}")
    _check_tree(obj, "body")
    envelope = {"v": WIRE_VERSION, "kind": kind, "body": obj}
    try:
        if fmt == "json":
            return orjson.dumps(envelope, option=orjson.OPT_SERIALIZE_NUMPY)
        return msgpack.packb(envelope, default=_msgpack_default, use_bin_type=True)
    except (TypeError, ValueError, OverflowError) as exc:  # orjson.JSONEncodeError is a TypeError
        raise WireFormatError(f"cannot encode {kind}: {exc}") from exc


def loads(
    data: bytes, expected_kind: str | None = None, *, max_bytes: int = DEFAULT_MAX_BYTES
) -> dict:
    """The body of an envelope written by :func:`dumps` (JSON or msgpack, detected)."""
    return load_envelope(data, expected_kind, max_bytes=max_bytes)[1]


def load_envelope(
    data: bytes, expected_kind: str | None = None, *, max_bytes: int = DEFAULT_MAX_BYTES
) -> tuple[str, dict]:
    """``(kind, body)`` of an envelope; raises :class:`WireFormatError` on anything malformed."""
    if not isinstance(data, bytes | bytearray | memoryview):
        raise WireFormatError(f"expected bytes, got {type(data).__name__}")
    data = bytes(data)
    if len(data) > max_bytes:
        raise WireFormatError(f"document of {len(data)} bytes exceeds the {max_bytes} byte limit")
    envelope = _decode(data)
    _check_tree(envelope, "document")
    return _open_envelope(envelope, expected_kind)


def record_from_dict(obj: Any) -> Record:
    """A :class:`Record` from :func:`record_to_dict` output, shape-checked (no schema).

    Raises :class:`WireFormatError` with the validation reason code in the message. To check
    values against a source's schema too, use :func:`stream.validation.validate_object`.
    """
    result = validate_object(obj, _ANY_SOURCE, now_ms=_INT_MAX // 2)
    if isinstance(result, Rejection):
        raise WireFormatError(f"not a record ({result.reason}, {result.field}): {result.detail}")
    return result


def _decode(data: bytes) -> Any:
    first = data.lstrip()[:1]
    if first == b"{":
        try:
            document = orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            raise WireFormatError(f"not valid JSON: {exc}") from exc
        repeated = duplicate_key(data, document)
        if repeated is not None:
            raise WireFormatError(f"key {repeated!r} appears twice in one object")
        return document
    if first and (0x80 <= first[0] <= 0x8F or first[0] in (0xDE, 0xDF)):
        try:
            return msgpack.unpackb(
                data, raw=False, strict_map_key=True, object_pairs_hook=_unique_pairs
            )
        except Exception as exc:  # msgpack raises many unrelated types on bad input
            raise WireFormatError(f"not valid msgpack: {type(exc).__name__}: {exc}") from exc
    raise WireFormatError("neither a JSON object nor a msgpack map")


def _unique_pairs(pairs: list) -> dict:
    out = dict(pairs)
    if len(out) != len(pairs):
        raise ValueError("a key appears twice in one map")
    return out


def _open_envelope(envelope: Any, expected_kind: str | None) -> tuple[str, dict]:
    if not isinstance(envelope, dict) or set(envelope) != {"v", "kind", "body"}:
        raise WireFormatError("an envelope is an object with exactly the keys v, kind, body")
    version, kind, body = envelope["v"], envelope["kind"], envelope["body"]
    if version != WIRE_VERSION or isinstance(version, bool):
        raise WireFormatError(f"wire version {version!r} is not {WIRE_VERSION}")
    if kind not in KINDS:
        raise WireFormatError(f"unknown document kind {kind!r}")
    if expected_kind is not None and kind != expected_kind:
        raise WireFormatError(f"expected a {expected_kind} document, got a {kind}")
    if not isinstance(body, dict):
        raise WireFormatError(f"a {kind} body is an object")
    return kind, body


def _check_tree(root: Any, where: str) -> None:
    """Refuse what JSON cannot carry faithfully, iteratively (no recursion limit to hit)."""
    stack = [(root, where, 0)]
    while stack:
        value, path, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise WireFormatError(f"{path}: nested deeper than {MAX_DEPTH} levels")
        if isinstance(value, dict):
            for key, item in value.items():
                if not isinstance(key, str):
                    raise WireFormatError(f"{path}: key {key!r} is not a string")
                if isinstance(item, dict | list | tuple | np.ndarray):
                    stack.append((item, f"{path}.{key}", depth + 1))
                else:
                    _check_leaf(item, f"{path}.{key}")
        elif isinstance(value, list | tuple):
            for index, item in enumerate(value):
                if isinstance(item, dict | list | tuple | np.ndarray):
                    stack.append((item, f"{path}[{index}]", depth + 1))
                else:
                    _check_leaf(item, f"{path}[{index}]")
        elif isinstance(value, np.ndarray):
            _check_array(value, path)
        else:
            _check_leaf(value, path)


def _check_leaf(value: Any, path: str) -> None:
    if value is None or isinstance(value, bool | str):
        return
    if isinstance(value, float | np.floating):
        if not math.isfinite(value):
            raise WireFormatError(f"{path}: {value} is not a finite number")
        return
    if isinstance(value, int | np.integer):
        if not _INT_MIN <= int(value) <= _INT_MAX:
            raise WireFormatError(f"{path}: integer {value} does not fit in 64 bits")
        return
    raise WireFormatError(f"{path}: a {type(value).__name__} cannot be sent (JSON types only)")


def _check_array(array: np.ndarray, path: str) -> None:
    if array.dtype.kind not in "biuf":
        raise WireFormatError(f"{path}: array of dtype {array.dtype} cannot be sent")
    if array.dtype.kind == "f" and not np.isfinite(array).all():
        raise WireFormatError(f"{path}: array holds NaN or infinity")


def _msgpack_default(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"cannot encode {type(value).__name__}")
