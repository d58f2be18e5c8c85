from __future__ import annotations

import math

import msgpack
import numpy as np
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stream.exceptions import WireFormatError
from stream.records import Record, record_to_dict
from stream.serde import KINDS, MAX_DEPTH, dumps, load_envelope, loads, record_from_dict

# JSON's data model, within what both encoders carry exactly (64-bit integers, finite doubles).
scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(1 << 63), max_value=(1 << 64) - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
)
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(), children, max_size=5)
    ),
    max_leaves=30,
)
bodies = st.dictionaries(st.text(), json_values, max_size=6)


@settings(max_examples=300)
@given(kind=st.sampled_from(KINDS), body=bodies, fmt=st.sampled_from(["json", "msgpack"]))
def test_documents_round_trip(kind, body, fmt):
    data = dumps(kind, body, fmt=fmt)
    assert load_envelope(data) == (kind, body)
    assert loads(data, expected_kind=kind) == body


feature_values = st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20)
records = st.builds(
    Record,
    source=st.text(min_size=1, max_size=20),
    id=st.text(min_size=1, max_size=40),
    event_time=st.integers(min_value=0, max_value=(1 << 53)),
    features=st.dictionaries(st.text(min_size=1, max_size=20), feature_values, max_size=8),
    label=st.none() | st.text(max_size=5) | st.integers(-1000, 1000),
)


@settings(max_examples=300)
@given(record=records, fmt=st.sampled_from(["json", "msgpack"]))
def test_records_round_trip(record, fmt):
    data = dumps("record", record_to_dict(record), fmt=fmt)
    assert record_from_dict(loads(data, expected_kind="record")) == record


def test_model_summaries_with_arrays():
    summary = {
        "worker": "w1",
        "base_version": 4,
        "prototypes": np.arange(6, dtype=np.float64).reshape(2, 3),
        "counts": np.array([3, 4], dtype=np.int64),
        "age": np.float32(1.5),
    }
    for fmt in ("json", "msgpack"):
        body = loads(dumps("model_update", summary, fmt=fmt), expected_kind="model_update")
        assert body["prototypes"] == [[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]]
        assert body["counts"] == [3, 4] and body["age"] == 1.5


def test_snapshot_documents_travel():
    # A model snapshot (models.base.Snapshot.to_dict) is JSON-safe, so it is a valid body.
    from models.base import _decode, _encode

    state = _encode({"weights": np.ones((2, 2)), 3: "x"})
    back = _decode(loads(dumps("global_model", {"state": state}))["state"])
    assert back[3] == "x" and np.array_equal(back["weights"], np.ones((2, 2)))


@pytest.mark.parametrize(
    "body",
    [
        {"x": math.nan},
        {"x": [1.0, math.inf]},
        {"x": np.array([1.0, np.nan])},
        {"x": b"bytes"},
        {"x": {1: 2}},
        {"x": 1 << 64},
        {"x": object()},
        {"x": np.array(["a"])},
    ],
)
def test_refused_on_the_way_out(body):
    for fmt in ("json", "msgpack"):
        with pytest.raises(WireFormatError):
            dumps("drift_event", body, fmt=fmt)


def test_refused_arguments():
    with pytest.raises(WireFormatError, match="kind"):
        dumps("gossip", {})
    with pytest.raises(WireFormatError, match="format"):
        dumps("record", {}, fmt="xml")
    with pytest.raises(WireFormatError, match="object"):
        dumps("record", [1])


def deep(levels: int) -> dict:
    body: dict = {}
    for _ in range(levels):
        body = {"a": body}
    return body


def envelope(**overrides) -> dict:
    return {"v": 1, "kind": "drift_event", "body": {}} | overrides


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "neither"),
        (b"[1]", "neither"),
        (b"{nope", "not valid JSON"),
        (orjson.dumps(envelope(v=2)), "version"),
        (orjson.dumps(envelope(v=True)), "version"),
        (orjson.dumps(envelope(kind="gossip")), "kind"),
        (orjson.dumps(envelope(body=[])), "body"),
        (orjson.dumps({"v": 1, "kind": "drift_event"}), "exactly the keys"),
        (b'{"v": 1, "v": 1, "kind": "drift_event", "body": {}}', "twice"),
        (orjson.dumps(envelope(body=deep(MAX_DEPTH + 2))), "deeper"),
        (msgpack.packb(envelope(body={"x": math.nan})), "finite"),
        (msgpack.packb(envelope(body={"x": b"raw"}), use_bin_type=True), "bytes"),
        (msgpack.packb(envelope())[:-1], "msgpack"),
        (msgpack.packb(envelope()) + b"\x00", "msgpack"),
        (msgpack.packb({"v": 1, "kind": "drift_event", "body": {1: 2}}), "msgpack"),
        (b"\x83\xa1v\x01\xa4kind\xa4drift\xa4body\x80"[:9] + b"\xff", "msgpack"),
    ],
)
def test_refused_on_the_way_in(data, message):
    with pytest.raises(WireFormatError, match=message):
        loads(data)


def test_size_limit_and_expected_kind():
    data = dumps("drift_event", {"pad": "x" * 1000})
    with pytest.raises(WireFormatError, match="limit"):
        loads(data, max_bytes=100)
    with pytest.raises(WireFormatError, match="expected a record"):
        loads(data, expected_kind="record")
    with pytest.raises(WireFormatError, match="bytes"):
        loads("a string")


def test_record_from_dict_refuses_bad_shapes():
    with pytest.raises(WireFormatError, match="bad_timestamp"):
        record_from_dict({"source": "a", "id": "1", "features": {}})
    with pytest.raises(WireFormatError, match="not_an_object"):
        record_from_dict([1])
