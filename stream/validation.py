"""Bytes from a topic -> a :class:`Record`, or a :class:`Rejection` that says exactly why not.

:func:`validate` never raises: every payload, however broken, yields one or the other. The
rejection's ``reason`` is one of the stable codes of :class:`Reason`; it labels the dead-letter
counter (``sgm_deadletter_total{reason}``) and travels with the bad bytes to ``sgm.deadletter``,
so the codes are part of the public interface: never rename one, only add.

What a record payload is: a UTF-8 JSON object ``{"source", "id", "event_time", "features",
"label"?}`` (see :class:`~stream.records.Record`). The same object wrapped in the envelope of
internal documents, ``{"v": 1, "kind": "record", "body": {...}}``, is accepted too, so a record
written with :func:`stream.serde.dumps` can be replayed onto a topic as it is.

Normalisations (so that downstream code sees one spelling of everything):

* ``null`` features are dropped: a missing field is absent, never zero;
* numbers become ``float``; categorical and ordinal values are strings (an integer or boolean
  category is named by its JSON text: ``1`` -> ``"1"``, ``true`` -> ``"true"``);
* an integer ``id`` becomes its decimal string; ``event_time`` is an integer of milliseconds.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import orjson

from stream.records import WIRE_VERSION, Record
from stream.schema import MAX_FIELD_NAME, FieldSpec, SchemaRegistry, SourceSchema, category_name

__all__ = [
    "DEFAULT_MAX_BYTES",
    "DEFAULT_MAX_FUTURE_MS",
    "Reason",
    "Rejection",
    "duplicate_key",
    "validate",
    "validate_many",
    "validate_object",
]

DEFAULT_MAX_BYTES = 1 << 20  # 1 MiB: a record is a few hundred bytes; anything near this is abuse
DEFAULT_MAX_FUTURE_MS = 24 * 3600 * 1000  # producer clocks may run ahead, not by more than a day
MAX_ID_LENGTH = 256
_RECORD_KEYS = ("source", "id", "event_time", "features", "label")
_RECORD_KEY_SET = frozenset(_RECORD_KEYS)
_ENVELOPE_KEYS = {"v", "kind", "body"}
_CONTAINERS = (dict, list)
# isinstance against a prebuilt tuple: an ``int | float`` union is rebuilt at every call,
# and these checks run once per feature of every record.
_NUMBER = (int, float)
_LABEL = (str, int)


class Reason(StrEnum):
    """Why a payload was rejected. Stable: these strings are metric labels and dead-letter data."""

    TOO_LARGE = "too_large"  # more bytes than max_bytes; not even parsed
    BAD_ENCODING = "bad_encoding"  # not UTF-8, a byte order mark, or a lone surrogate escape
    NOT_JSON = "not_json"  # not JSON text (also: nested deeper than 1024 levels)
    DUPLICATE_KEY = "duplicate_key"  # an object repeats a key (ambiguous: which one counts?)
    NOT_AN_OBJECT = "not_an_object"  # valid JSON, but not an object
    BAD_ENVELOPE = "bad_envelope"  # an envelope of another version or kind than record v1
    UNEXPECTED_KEY = "unexpected_key"  # a top-level key that is not part of a record
    MISSING_FIELD = "missing_field"  # source / id / features missing, or a required feature
    UNKNOWN_SOURCE = "unknown_source"  # no schema for this source (unknown_sources: reject)
    UNKNOWN_FIELD = "unknown_field"  # a feature the schema does not declare (extra_fields: reject)
    WRONG_TYPE = "wrong_type"  # e.g. a string for a numeric field, a list as a feature value
    NOT_FINITE = "not_finite"  # NaN or +-infinity, or a number too large for a float
    OUT_OF_RANGE = "out_of_range"  # outside the field's declared range
    UNKNOWN_CATEGORY = "unknown_category"  # not a declared category / level (on_unknown: reject)
    BAD_TIMESTAMP = "bad_timestamp"  # event_time missing, not an integer, before 1970, far future
    BAD_ID = "bad_id"  # id not a non-empty string or integer of at most 256 characters


@dataclass(frozen=True, slots=True)
class Rejection:
    """A payload that is not a valid record: the reason code, the offending field, and why.

    ``field`` is the feature name, or a record key (``"event_time"``), or ``None`` when the
    payload as a whole is at fault (not JSON, too large).

    Examples
    --------
    >>> registry = SchemaRegistry.from_dict({"sources": {"a": {"version": 1, "fields": {
    ...     "x": {"type": "numeric", "range": [0, 10]}}}}})
    >>> validate(b'{"source": "a", "id": "1", "event_time": 0, "features": {"x": 11}}', registry)
    Rejection(reason='out_of_range', field='x', detail='11 is outside [0, 10]')
    >>> validate(b'{"source": "a", "id": 7, "event_time": 0, "features": {"x": 1}}', registry)
    Record(source='a', id='7', event_time=0, features={'x': 1.0}, label=None)
    """

    reason: str
    field: str | None
    detail: str

    def __repr__(self) -> str:  # the plain string, not "<Reason.X: 'x'>", keeps logs readable
        return (
            f"Rejection(reason={str(self.reason)!r}, field={self.field!r}, detail={self.detail!r})"
        )


class _Reject(Exception):
    """Internal: carries a rejection out of nested checks (never escapes this module)."""

    def __init__(self, reason: Reason, field: str | None, detail: str):
        super().__init__(detail)
        self.rejection = Rejection(reason, field, detail)


def validate(
    payload: Any,
    registry: SchemaRegistry,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    now_ms: int | None = None,
    max_future_ms: int = DEFAULT_MAX_FUTURE_MS,
) -> Record | Rejection:
    """One payload (``bytes``) -> a :class:`Record` or a :class:`Rejection`; never raises."""
    try:
        obj = _parse(payload, max_bytes)
        return _check(obj, registry, _now(now_ms), max_future_ms)
    except _Reject as rejected:
        return rejected.rejection
    except Exception as exc:  # a bug here must not crash a worker: dead-letter it, loudly
        return Rejection(Reason.NOT_JSON, None, f"validator error {type(exc).__name__}: {exc}")


def validate_object(
    obj: Any,
    registry: SchemaRegistry,
    *,
    now_ms: int | None = None,
    max_future_ms: int = DEFAULT_MAX_FUTURE_MS,
) -> Record | Rejection:
    """Like :func:`validate` for an already decoded object (a replay file, a test)."""
    try:
        return _check(obj, registry, _now(now_ms), max_future_ms)
    except _Reject as rejected:
        return rejected.rejection
    except Exception as exc:
        return Rejection(Reason.WRONG_TYPE, None, f"validator error {type(exc).__name__}: {exc}")


def validate_many(
    payloads: Iterable[Any], registry: SchemaRegistry, **options: Any
) -> tuple[list[Record], list[tuple[int, Rejection]]]:
    """Validate a batch: the records, and ``(position in payloads, rejection)`` for the rest."""
    options.setdefault("now_ms", _now(None))  # one clock reading for the whole batch
    records: list[Record] = []
    rejections: list[tuple[int, Rejection]] = []
    for index, payload in enumerate(payloads):
        result = validate(payload, registry, **options)
        if isinstance(result, Record):
            records.append(result)
        else:
            rejections.append((index, result))
    return records, rejections


def _now(now_ms: int | None) -> int:
    return int(time.time() * 1000) if now_ms is None else now_ms


# -- bytes -> JSON object ----------------------------------------------------------------------


def _parse(payload: Any, max_bytes: int) -> Any:
    if isinstance(payload, str):
        try:
            payload = payload.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise _Reject(Reason.BAD_ENCODING, None, f"not encodable as UTF-8: {exc}") from None
    elif isinstance(payload, bytearray | memoryview):
        payload = bytes(payload)
    elif not isinstance(payload, bytes):
        raise _Reject(Reason.NOT_JSON, None, f"payload is {type(payload).__name__}, not bytes")
    if len(payload) > max_bytes:
        raise _Reject(Reason.TOO_LARGE, None, f"{len(payload)} bytes > limit {max_bytes}")
    try:
        obj = orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        raise _classify_parse_error(payload, exc) from None
    duplicate = duplicate_key(payload, obj)
    if duplicate is not None:
        raise _Reject(Reason.DUPLICATE_KEY, duplicate, f"key {duplicate!r} appears twice")
    return obj


def _classify_parse_error(payload: bytes, exc: Exception) -> _Reject:
    message = str(exc)
    try:
        payload.decode("utf-8")
    except UnicodeDecodeError as bad:
        return _Reject(Reason.BAD_ENCODING, None, f"not UTF-8: {bad}")
    if "surrogate" in message or "BOM" in message or "byte order mark" in message:
        return _Reject(Reason.BAD_ENCODING, None, message)
    if "infinity" in message:  # a literal like 1e999 overflows a double
        return _Reject(Reason.NOT_FINITE, None, message)
    return _Reject(Reason.NOT_JSON, None, message)


def duplicate_key(payload: bytes, obj: Any) -> str | None:
    """The first key an object of the payload repeats (the parser silently kept the last)."""
    # Every key of every object is followed by one structural ':' and structural colons are never
    # escaped, so if the text has no more colons than the parsed objects have keys, no key was
    # lost. Only otherwise (a colon inside a string, or a real duplicate) pay for an exact parse.
    colons = payload.count(b":")
    if colons <= _known_keys(obj) or colons <= _count_keys(obj):
        return None
    found: list[str] = []

    def pairs_hook(pairs: list) -> dict:
        out = dict(pairs)
        if len(out) != len(pairs) and not found:
            seen: set = set()
            found.append(next(key for key, _ in pairs if key in seen or seen.add(key)))
        return out

    try:
        json.loads(payload.decode("utf-8"), object_pairs_hook=pairs_hook)
    except (RecursionError, ValueError):
        return None  # already parsed once; a depth the stdlib cannot follow has no records in it
    return found[0] if found else None


def _known_keys(obj: Any) -> int:
    """Keys of a record's own object and its features: a cheap lower bound of all its keys."""
    if type(obj) is not dict:
        return 0
    features = obj.get("features")
    return len(obj) + (len(features) if type(features) is dict else 0)


def _count_keys(obj: Any) -> int:
    count, stack = 0, [obj]
    while stack:  # iterative: payloads may nest 1000 levels deep
        item = stack.pop()
        if type(item) is dict:
            count += len(item)
            item = item.values()
        # Exact types, not isinstance: a parser's output holds no subclasses, and this runs
        # over every value of every payload.
        stack.extend(value for value in item if type(value) in _CONTAINERS)
    return count


# -- JSON object -> record -----------------------------------------------------------------------


def _check(obj: Any, registry: SchemaRegistry, now_ms: int, max_future_ms: int) -> Record:
    obj = _unwrap(obj)
    if not _RECORD_KEY_SET.issuperset(obj):
        key = next(key for key in obj if key not in _RECORD_KEY_SET)
        raise _Reject(
            Reason.UNEXPECTED_KEY, str(key), "records have keys " + ", ".join(_RECORD_KEYS)
        )
    source = _source(obj)
    schema = registry.get(source)
    if schema is None:
        raise _Reject(Reason.UNKNOWN_SOURCE, "source", f"no schema for source {source!r}")
    record_id = _record_id(obj)
    event_time = _event_time(obj, now_ms, max_future_ms)
    if "features" not in obj:
        raise _Reject(Reason.MISSING_FIELD, "features", "a record has a features object")
    features = obj["features"]
    if not isinstance(features, dict):
        raise _Reject(Reason.WRONG_TYPE, "features", f"features is {_json_type(features)}")
    label = obj.get("label")
    if label is not None and (isinstance(label, bool) or not isinstance(label, _LABEL)):
        raise _Reject(Reason.WRONG_TYPE, "label", f"label is {_json_type(label)}")
    return Record(source, record_id, event_time, _features(features, schema), label)


def _unwrap(obj: Any) -> dict:
    if not isinstance(obj, dict):
        raise _Reject(Reason.NOT_AN_OBJECT, None, f"payload is {_json_type(obj)}, not an object")
    if _ENVELOPE_KEYS.isdisjoint(obj):
        return obj
    if set(obj) != _ENVELOPE_KEYS:
        raise _Reject(Reason.BAD_ENVELOPE, None, "an envelope has exactly the keys v, kind, body")
    if obj["v"] != WIRE_VERSION or isinstance(obj["v"], bool) or obj["kind"] != "record":
        raise _Reject(
            Reason.BAD_ENVELOPE,
            None,
            f"envelope v={obj['v']!r} kind={obj['kind']!r}, "
            f"expected v={WIRE_VERSION} kind='record'",
        )
    if not isinstance(obj["body"], dict):
        raise _Reject(Reason.NOT_AN_OBJECT, "body", f"envelope body is {_json_type(obj['body'])}")
    return obj["body"]


def _source(obj: dict) -> str:
    if "source" not in obj:
        raise _Reject(Reason.MISSING_FIELD, "source", "a record names its source")
    source = obj["source"]
    if not isinstance(source, str):
        raise _Reject(Reason.WRONG_TYPE, "source", f"source is {_json_type(source)}")
    return source


def _record_id(obj: dict) -> str:
    if "id" not in obj:
        raise _Reject(Reason.MISSING_FIELD, "id", "a record has an id")
    value = obj["id"]
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not 0 < len(value) <= MAX_ID_LENGTH:
        raise _Reject(
            Reason.BAD_ID,
            "id",
            f"id must be a string or integer of 1 to {MAX_ID_LENGTH} characters",
        )
    return value


def _event_time(obj: dict, now_ms: int, max_future_ms: int) -> int:
    if "event_time" not in obj:
        raise _Reject(Reason.BAD_TIMESTAMP, "event_time", "event_time is missing")
    value = obj["event_time"]
    # Integral floats (1.7e12) are what some producers' JSON libraries write for big integers.
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise _Reject(
            Reason.BAD_TIMESTAMP,
            "event_time",
            f"event_time is {_json_type(value)}, "
            "expected integer milliseconds since 1970-01-01 UTC",
        )
    if value < 0:
        raise _Reject(Reason.BAD_TIMESTAMP, "event_time", f"{value} is before 1970")
    if value > now_ms + max_future_ms:
        raise _Reject(
            Reason.BAD_TIMESTAMP, "event_time", f"{value} is more than {max_future_ms} ms ahead"
        )
    return value


def _features(features: dict, schema: SourceSchema) -> dict[str, float | str]:
    out: dict[str, float | str] = {}
    for name, spec in schema.fields.items():
        value = features.get(name)
        if value is None:
            if spec.required:
                raise _Reject(Reason.MISSING_FIELD, name, f"required field {name!r} is missing")
            continue
        out[name] = _declared_value(spec, value)
    if len(features) > len(out):
        for name, value in features.items():
            if name in schema.fields or value is None:
                continue
            if schema.extra_fields == "reject":
                raise _Reject(
                    Reason.UNKNOWN_FIELD, name, f"source {schema.name!r} declares no field {name!r}"
                )
            if schema.extra_fields == "infer":
                out[name] = _inferred_value(name, value)
    return out


def _declared_value(spec: FieldSpec, value: Any) -> float | str:
    # The common cases (a float for a numeric field, a string otherwise) are tested by exact
    # type first: this runs once per feature of every record.
    if spec.type == "numeric":
        # x - x is 0 for a finite float only: NaN and infinities go the long way, and fail.
        finite_float = type(value) is float and value - value == 0.0
        number = value if finite_float else _number(spec.name, value)
        if spec.range is not None:
            _check_range(spec, number, value)
        return number
    name = value if type(value) is str else category_name(value)
    if name is None:
        raise _Reject(
            Reason.WRONG_TYPE,
            spec.name,
            f"{spec.type} value is {_json_type(value)}, expected a string",
        )
    undeclared = spec.categories is not None and name not in spec.categories
    if undeclared and (spec.type == "ordinal" or spec.on_unknown == "reject"):
        shown = name if len(name) <= 40 else name[:40] + "..."
        raise _Reject(Reason.UNKNOWN_CATEGORY, spec.name, f"{shown!r} is not declared")
    return name


def _check_range(spec: FieldSpec, number: float, value: Any) -> None:
    low, high = spec.range
    if (low is not None and number < low) or (high is not None and number > high):
        shown = f"[{'-inf' if low is None else low}, {'inf' if high is None else high}]"
        raise _Reject(Reason.OUT_OF_RANGE, spec.name, f"{value} is outside {shown}")


def _inferred_value(name: str, value: Any) -> float | str:
    if not isinstance(name, str) or not 0 < len(name) <= MAX_FIELD_NAME:
        raise _Reject(Reason.UNKNOWN_FIELD, str(name)[:40], "field names have 1 to 128 characters")
    if isinstance(value, _NUMBER) and not isinstance(value, bool):
        return _number(name, value)
    category = category_name(value)
    if category is None:
        raise _Reject(Reason.WRONG_TYPE, name, f"feature is {_json_type(value)}")
    return category


def _number(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, _NUMBER):
        raise _Reject(Reason.WRONG_TYPE, name, f"numeric value is {_json_type(value)}")
    try:
        number = float(value)
    except OverflowError:
        raise _Reject(Reason.NOT_FINITE, name, "integer too large for a float") from None
    if not math.isfinite(number):
        raise _Reject(Reason.NOT_FINITE, name, f"{number} is not a finite number")
    return number


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, _NUMBER):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__
