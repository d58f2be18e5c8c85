from __future__ import annotations

import orjson
import pytest

from stream.records import Record
from stream.schema import SchemaRegistry
from stream.validation import Reason, Rejection, validate, validate_many, validate_object

NOW = 1_700_000_000_000
REGISTRY = SchemaRegistry.load("deploy/schemas/example.yaml")


def payload(**overrides) -> dict:
    record = {
        "source": "weather",
        "id": "w-1",
        "event_time": NOW - 1000,
        "features": {"temperature": 21.5, "sky": "clear", "wind": "breeze", "region": "north"},
        "label": "a",
    }
    record.update(overrides)
    return record


def features(**overrides) -> dict:
    out = payload()["features"]
    out.update(overrides)
    return out


def check(raw) -> Record | Rejection:
    data = raw if isinstance(raw, bytes | str) else orjson.dumps(raw)
    return validate(data, REGISTRY, now_ms=NOW)


def test_a_good_record():
    record = check(payload())
    assert record == Record(
        "weather",
        "w-1",
        NOW - 1000,
        {"temperature": 21.5, "sky": "clear", "wind": "breeze", "region": "north"},
        "a",
    )


def test_normalisations():
    record = check(
        payload(id=42, event_time=float(NOW), features=features(temperature=3, pressure=None))
    )
    assert record.id == "42" and record.event_time == NOW and isinstance(record.event_time, int)
    assert record.features["temperature"] == 3.0 and isinstance(
        record.features["temperature"], float
    )
    assert "pressure" not in record.features  # null is missing, and missing is absent
    assert check(payload(features=features(region=7))).features["region"] == "7"


def test_envelope_is_accepted():
    wrapped = {"v": 1, "kind": "record", "body": payload()}
    assert check(wrapped) == check(payload())


# One constructed payload per reason code: every code is reachable, and names the right field.
CASES = {
    Reason.TOO_LARGE: (b"{" + b" " * (2 << 20) + b"}", None),
    Reason.BAD_ENCODING: (b'{"source": "\xff"}', None),
    Reason.NOT_JSON: (b'{"source": "weather",', None),
    Reason.DUPLICATE_KEY: (b'{"source": "weather", "source": "orders"}', "source"),
    Reason.NOT_AN_OBJECT: (b"[1, 2]", None),
    Reason.BAD_ENVELOPE: ({"v": 2, "kind": "record", "body": {}}, None),
    Reason.UNEXPECTED_KEY: (payload(extra=1), "extra"),
    Reason.MISSING_FIELD: (payload(features=features(temperature=None)), "temperature"),
    Reason.UNKNOWN_SOURCE: (payload(source="radar"), "source"),
    Reason.UNKNOWN_FIELD: (payload(features=features(humidity=3)), "humidity"),
    Reason.WRONG_TYPE: (payload(features=features(temperature="warm")), "temperature"),
    Reason.NOT_FINITE: (
        orjson.dumps(payload()).replace(b"21.5", b"1e999"),
        None,
    ),
    Reason.OUT_OF_RANGE: (payload(features=features(temperature=61)), "temperature"),
    Reason.UNKNOWN_CATEGORY: (payload(features=features(sky="hail")), "sky"),
    Reason.BAD_TIMESTAMP: (payload(event_time=-1), "event_time"),
    Reason.BAD_ID: (payload(id=""), "id"),
}


def test_every_reason_has_a_case():
    assert set(CASES) == set(Reason)


@pytest.mark.parametrize("reason", list(Reason))
def test_reason_codes(reason):
    raw, field = CASES[reason]
    result = check(raw)
    assert isinstance(result, Rejection), result
    assert (result.reason, result.field) == (reason, field), result
    assert result.detail


@pytest.mark.parametrize(
    ("record", "reason", "field"),
    [
        (payload(event_time=NOW + 2 * 86_400_000), Reason.BAD_TIMESTAMP, "event_time"),
        (payload(event_time="2024-01-01"), Reason.BAD_TIMESTAMP, "event_time"),
        (payload(event_time=True), Reason.BAD_TIMESTAMP, "event_time"),
        (
            {k: v for k, v in payload().items() if k != "event_time"},
            Reason.BAD_TIMESTAMP,
            "event_time",
        ),
        ({k: v for k, v in payload().items() if k != "source"}, Reason.MISSING_FIELD, "source"),
        ({k: v for k, v in payload().items() if k != "id"}, Reason.MISSING_FIELD, "id"),
        ({k: v for k, v in payload().items() if k != "features"}, Reason.MISSING_FIELD, "features"),
        (payload(features=[1, 2]), Reason.WRONG_TYPE, "features"),
        (payload(source=3), Reason.WRONG_TYPE, "source"),
        (payload(label=1.5), Reason.WRONG_TYPE, "label"),
        (payload(id="x" * 257), Reason.BAD_ID, "id"),
        (payload(id=None), Reason.BAD_ID, "id"),
        (payload(features=features(temperature=True)), Reason.WRONG_TYPE, "temperature"),
        (payload(features=features(sky=1.5)), Reason.WRONG_TYPE, "sky"),
        (payload(features=features(sky=["clear"])), Reason.WRONG_TYPE, "sky"),
        (payload(features=features(wind="hurricane")), Reason.UNKNOWN_CATEGORY, "wind"),
        (payload(features=features(pressure=10**400)), Reason.NOT_FINITE, "pressure"),
        ({"v": 1, "kind": "global_model", "body": {}}, Reason.BAD_ENVELOPE, None),
        ({"v": 1, "kind": "record"}, Reason.BAD_ENVELOPE, None),
        ({"v": 1, "kind": "record", "body": [1]}, Reason.NOT_AN_OBJECT, "body"),
    ],
)
def test_more_rejections(record, reason, field):
    result = validate_object(record, REGISTRY, now_ms=NOW)
    assert (result.reason, result.field) == (reason, field), result


def test_policies():
    # on_unknown: accept keeps a new category; extra_fields ignore / infer.
    order = {
        "source": "orders",
        "id": "o-1",
        "event_time": NOW,
        "features": {"amount": 9.5, "tier": "gold", "channel": "phone", "coupon": "X"},
    }
    record = check(order)
    assert record.features == {"amount": 9.5, "tier": "gold", "channel": "phone"}
    machine = {
        "source": "machines",
        "id": "m-1",
        "event_time": NOW,
        "features": {"vibration": 1, "state": "idle", "rpm": 1500, "vendor": "acme", "ok": True},
    }
    assert check(machine).features == {
        "vibration": 1.0,
        "state": "idle",
        "rpm": 1500.0,
        "vendor": "acme",
        "ok": "true",
    }
    machine["features"]["nested"] = {"a": 1}
    assert check(machine).reason == Reason.WRONG_TYPE


def test_other_payload_types_never_raise():
    for raw in (None, 12, "{}", bytearray(b"{}"), memoryview(b"[]"), "\ud800", object()):
        assert isinstance(validate(raw, REGISTRY), Rejection)


def test_colon_inside_strings_is_not_a_duplicate():
    record = check(payload(id="a:b:c", features=features(region="x:y")))
    assert isinstance(record, Record)


def test_escaped_duplicate_key_is_found():
    raw = b'{"source": "weather", "\\u0073ource": "orders"}'
    assert check(raw).reason == Reason.DUPLICATE_KEY


def test_validate_many_keeps_positions():
    payloads = [orjson.dumps(payload(id=str(i))) for i in range(5)]
    payloads[1] = b"nope"
    payloads[3] = orjson.dumps(payload(source="radar"))
    records, rejected = validate_many(payloads, REGISTRY, now_ms=NOW)
    assert [r.id for r in records] == ["0", "2", "4"]
    assert [(i, r.reason) for i, r in rejected] == [(1, "not_json"), (3, "unknown_source")]
