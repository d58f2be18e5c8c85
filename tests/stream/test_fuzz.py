"""10,000+ random and malformed payloads: each one yields a record or a reason code.

Nothing raises and nothing hangs. The split: about 70 hand-made nasties, then three hypothesis
streams of 3,400 examples each (arbitrary bytes, arbitrary JSON documents, and mutations of a
valid record), plus 1,000 arbitrary byte strings for the wire-document reader. Examples are
derandomised so a failure reproduces. Time is measured around each call only to catch a hang,
with a bound far above any normal run; it is not a benchmark.
"""

from __future__ import annotations

import contextlib
import time

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stream.exceptions import WireFormatError
from stream.records import Record
from stream.schema import SchemaRegistry
from stream.serde import loads
from stream.validation import Reason, Rejection, validate

REGISTRY = SchemaRegistry.load("deploy/schemas/example.yaml")
NOW = 1_700_000_000_000
HANG_SECONDS = 5.0
EXAMPLES = 3_400
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
REASONS = set(Reason)


def check(payload, **options) -> Record | Rejection:
    started = time.monotonic()
    result = validate(payload, REGISTRY, now_ms=NOW, **options)
    elapsed = time.monotonic() - started
    assert elapsed < HANG_SECONDS, f"validate took {elapsed:.1f} s on {payload[:80]!r}"
    assert isinstance(result, Record | Rejection)
    if isinstance(result, Rejection):
        assert result.reason in REASONS and isinstance(result.detail, str)
        assert result.field is None or isinstance(result.field, str)
    return result


def good() -> dict:
    return {
        "source": "weather",
        "id": "w-1",
        "event_time": NOW,
        "features": {"temperature": 20.5, "sky": "rain", "wind": "calm", "region": "north"},
    }


def with_features(**features) -> bytes:
    record = good()
    record["features"].update(features)
    return orjson.dumps(record)


def nested(depth: int, open_: bytes = b"[", close: bytes = b"]") -> bytes:
    return open_ * depth + close * depth


GOOD = orjson.dumps(good())
TEN_MB = "x" * (10 << 20)

NASTIES: list[tuple[object, str | None]] = [
    (GOOD, None),
    (b"", Reason.NOT_JSON),
    (b" ", Reason.NOT_JSON),
    (b"null", Reason.NOT_AN_OBJECT),
    (b"0", Reason.NOT_AN_OBJECT),
    (b'"string"', Reason.NOT_AN_OBJECT),
    (b"{}", Reason.MISSING_FIELD),
    (b"\x00" * 100, Reason.NOT_JSON),
    (b"\xef\xbb\xbf" + GOOD, Reason.BAD_ENCODING),  # byte order mark
    (b"\xff\xfe" + GOOD.decode().encode("utf-16-le"), Reason.BAD_ENCODING),
    (GOOD.decode().encode("utf-32"), Reason.BAD_ENCODING),
    (GOOD.replace(b"north", b"nor\xc3\x28th"), Reason.BAD_ENCODING),  # invalid continuation
    (GOOD.replace(b"north", b"\xed\xa0\x80"), Reason.BAD_ENCODING),  # encoded surrogate
    (GOOD.replace(b"north", b"\\ud800"), Reason.BAD_ENCODING),  # lone surrogate escape
    (GOOD.replace(b"north", b"\\udc00\\ud800"), Reason.BAD_ENCODING),
    (GOOD.replace(b"north", b"\xc0\xaf"), Reason.BAD_ENCODING),  # overlong encoding
    (GOOD.replace(b"north", "\u202e\ufeff\U0010ffff".encode()), None),  # odd but valid
    (GOOD.replace(b"north", b"\x00"), Reason.NOT_JSON),  # raw control character in a string
    (GOOD.replace(b"north", b"\\u0000"), None),
    (nested(100_000), Reason.NOT_JSON),
    (nested(1_000), Reason.NOT_AN_OBJECT),
    (b'{"a":' * 50_000 + b"1" + b"}" * 50_000, Reason.NOT_JSON),
    (b'{"source":' * 500 + b'"weather"' + b"}" * 500, Reason.WRONG_TYPE),
    (with_features(region=orjson.loads(nested(200))), Reason.WRONG_TYPE),
    (GOOD.replace(b"20.5", b"1e309"), Reason.NOT_FINITE),
    (GOOD.replace(b"20.5", b"-1e400"), Reason.NOT_FINITE),
    (GOOD.replace(b"20.5", b"1e-400"), None),  # underflows to 0.0: finite, in range
    (GOOD.replace(b"20.5", b"-0"), None),
    (GOOD.replace(b"20.5", b"9" * 5000), Reason.NOT_FINITE),
    (GOOD.replace(b"20.5", b"1" + b"0" * 400), Reason.NOT_FINITE),
    (GOOD.replace(b"20.5", b"NaN"), Reason.NOT_JSON),
    (GOOD.replace(b"20.5", b"Infinity"), Reason.NOT_JSON),
    (GOOD.replace(b"20.5", b"0x10"), Reason.NOT_JSON),
    (GOOD.replace(b"20.5", b"01"), Reason.NOT_JSON),
    (GOOD.replace(b"20.5", b"20.5e"), Reason.NOT_JSON),
    (GOOD.replace(b"20.5", b"1e308"), Reason.OUT_OF_RANGE),
    (GOOD.replace(str(NOW).encode(), b"9" * 30), Reason.BAD_TIMESTAMP),
    (GOOD.replace(str(NOW).encode(), b"-9223372036854775809"), Reason.BAD_TIMESTAMP),
    (GOOD.replace(str(NOW).encode(), b"1.5"), Reason.BAD_TIMESTAMP),
    (GOOD.replace(str(NOW).encode(), b"1e300"), Reason.BAD_TIMESTAMP),
    (GOOD.replace(str(NOW).encode(), b'"2023-11-14T22:13:20Z"'), Reason.BAD_TIMESTAMP),
    (GOOD.replace(b'"w-1"', b"1" * 300), Reason.BAD_ID),
    (GOOD.replace(b'"w-1"', b"true"), Reason.BAD_ID),
    (GOOD.replace(b'"w-1"', b"[]"), Reason.BAD_ID),
    (GOOD.replace(b'"source"', b'"source", "source"'), Reason.NOT_JSON),
    (GOOD[:-1] + b', "source": "orders"}', Reason.DUPLICATE_KEY),
    (GOOD[:-1] + b', "id": "w-2"}', Reason.DUPLICATE_KEY),
    (GOOD.replace(b'"sky"', b'"sky":"rain","sky"'), Reason.DUPLICATE_KEY),
    (GOOD.replace(b'"sky"', b'"\\u0073ky":"rain","sky"'), Reason.DUPLICATE_KEY),
    (GOOD + b"garbage", Reason.NOT_JSON),
    (GOOD + GOOD, Reason.NOT_JSON),
    (GOOD[: len(GOOD) // 2], Reason.NOT_JSON),
    (GOOD.replace(b"{", b"{\n\t ", 1) + b"\n", None),  # whitespace is fine
    (b"{" + b" " * 2_000_000 + b"}", Reason.TOO_LARGE),
    (orjson.dumps({**good(), "id": TEN_MB}), Reason.TOO_LARGE),
    (with_features(region=TEN_MB), Reason.TOO_LARGE),
    (TEN_MB.encode(), Reason.TOO_LARGE),
    (with_features(**{f"f{i}": i for i in range(40_000)}), Reason.UNKNOWN_FIELD),
    (with_features(**{"": 1}), Reason.UNKNOWN_FIELD),
    (with_features(**{"temperature": None}), Reason.MISSING_FIELD),
    (with_features(temperature=[1]), Reason.WRONG_TYPE),
    (with_features(temperature={"$gt": 0}), Reason.WRONG_TYPE),
    (with_features(temperature="20.5"), Reason.WRONG_TYPE),
    (with_features(sky=None), None),
    (with_features(sky="RAIN"), Reason.UNKNOWN_CATEGORY),
    (with_features(wind="Calm"), Reason.UNKNOWN_CATEGORY),
    (with_features(region="é" * 1000), None),
    (orjson.dumps({**good(), "__proto__": {}}), Reason.UNEXPECTED_KEY),
    (
        orjson.dumps({"v": 1, "kind": "record", "body": {"v": 1, "kind": "record", "body": {}}}),
        Reason.UNEXPECTED_KEY,
    ),
    (orjson.dumps({**good(), "source": "../../etc/passwd"}), Reason.UNKNOWN_SOURCE),
    (orjson.dumps({**good(), "label": {"a": 1}}), Reason.WRONG_TYPE),
    ("a str payload: not bytes", Reason.NOT_JSON),
    (None, Reason.NOT_JSON),
    (12345, Reason.NOT_JSON),
]


@pytest.mark.parametrize(("payload", "expected"), NASTIES, ids=range(len(NASTIES)))
def test_hand_made_nasties(payload, expected):
    result = check(payload)
    if expected is None:
        assert isinstance(result, Record), result
    else:
        assert isinstance(result, Rejection) and result.reason == expected, result


def test_huge_string_under_a_raised_limit_still_parses():
    result = check(with_features(region=TEN_MB), max_bytes=32 << 20)
    assert isinstance(result, Record) and len(result.features["region"]) == len(TEN_MB)


@FUZZ
@given(st.binary(max_size=512))
def test_arbitrary_bytes(payload):
    check(payload)


json_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30)
)
json_trees = st.recursive(
    json_scalars,
    lambda kids: (
        st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=12), kids, max_size=4)
    ),
    max_leaves=20,
)


@FUZZ
@given(json_trees)
def test_arbitrary_json(document):
    try:
        payload = orjson.dumps(document)
    except TypeError:  # an integer beyond 64 bits: send its text instead
        payload = str(document).encode()
    check(payload)


keys = st.sampled_from(
    ["source", "id", "event_time", "features", "label", "v", "kind", "body", "x"]
)
feature_names = st.sampled_from(["temperature", "pressure", "sky", "wind", "region", "unknown"])


@st.composite
def mutated_records(draw):
    record = good()
    for _ in range(draw(st.integers(0, 4))):
        action = draw(st.sampled_from(["set", "drop", "feature", "drop_feature", "bytes"]))
        if action == "set":
            record[draw(keys)] = draw(json_trees)
        elif action == "drop":
            record.pop(draw(keys), None)
        elif action == "feature" and isinstance(record.get("features"), dict):
            record["features"][draw(feature_names)] = draw(json_trees)
        elif action == "drop_feature" and isinstance(record.get("features"), dict):
            record["features"].pop(draw(feature_names), None)
    try:
        payload = orjson.dumps(record)
    except TypeError:
        payload = str(record).encode()
    if draw(st.booleans()):  # byte-level damage: flip, insert or cut
        position = draw(st.integers(0, max(len(payload) - 1, 0)))
        damage = draw(st.binary(min_size=0, max_size=4))
        cut = draw(st.integers(0, 3))
        payload = payload[:position] + damage + payload[position + cut :]
    return payload


@FUZZ
@given(mutated_records())
def test_mutated_records(payload):
    check(payload)


@settings(max_examples=1_000, deadline=None, derandomize=True, database=None)
@given(st.binary(max_size=256) | st.builds(lambda b: b"\x83" + b, st.binary(max_size=64)))
def test_wire_reader_raises_only_its_own_error(data):
    started = time.monotonic()
    with contextlib.suppress(WireFormatError):
        loads(data)
    assert time.monotonic() - started < HANG_SECONDS
