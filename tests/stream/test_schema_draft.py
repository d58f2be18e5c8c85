"""Drafting a schema file from records: it loads, and it accepts what it was drafted from."""

from __future__ import annotations

import numpy as np
import orjson
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from stream.cli import main
from stream.records import Record
from stream.schema import SchemaRegistry
from stream.schema_draft import SchemaDraft
from stream.validation import Rejection, validate_object

NAMES = st.text(min_size=1, max_size=12)  # any text: quotes, '#', ':', astral, controls
TEXT_VALUES = st.one_of(
    st.text(max_size=8), st.sampled_from(["yes", "no", "null", "1", "1.5", "~", "#"])
)
NUMBERS = st.floats(allow_nan=False, allow_infinity=False, width=64)


@st.composite
def sources(draw):
    """Records of a few sources; each field name is numbers everywhere or text everywhere."""
    names = draw(st.lists(NAMES, min_size=1, max_size=6, unique=True))
    numeric = {name: draw(st.booleans()) for name in names}
    out = []
    for source in draw(st.lists(st.from_regex(r"[a-z][a-z0-9._-]{0,8}", fullmatch=True),
                                min_size=1, max_size=3, unique=True)):  # fmt: skip
        own = draw(st.lists(st.sampled_from(names), min_size=1, unique=True))
        for i in range(draw(st.integers(1, 8))):
            features = {
                name: draw(NUMBERS if numeric[name] else TEXT_VALUES)
                for name in own
                if draw(st.booleans()) or i == 0
            }
            out.append({"source": source, "id": str(i), "event_time": 0, "features": features})
    return out


def drafted(records: list[dict], **options) -> str:
    draft = SchemaDraft(**options)
    inferred = SchemaRegistry(unknown_sources="infer")
    for record in records:
        accepted = validate_object(record, inferred)
        assert isinstance(accepted, Record), accepted
        draft.add(accepted)
    return draft.to_yaml(origin="test")


@settings(max_examples=200, deadline=None)
@given(sources())
def test_the_draft_loads_and_accepts_every_record_it_was_drafted_from(records):
    registry = SchemaRegistry.from_dict(yaml.safe_load(drafted(records)))
    for record in records:
        assert not isinstance(validate_object(record, registry), Rejection)
    # The field names came through every quoting intact.
    seen = {(r["source"], name) for r in records for name in r["features"]}
    declared = {(s.name, name) for s in registry.schemas.values() for name in s.fields}
    assert declared == seen


def record(source: str, **features) -> dict:
    return {"source": source, "id": "1", "event_time": 0, "features": features}


def test_types_required_fields_and_category_lists():
    text = drafted(
        [record("a", x=1.5, c="red", n="rare"), record("a", x=2.0, c="blue"), record("a", x=3.0)],
        max_categories=1,
    )
    fields = SchemaRegistry.from_dict(yaml.safe_load(text)).get("a").fields
    assert (fields["x"].type, fields["x"].required, fields["x"].range) == ("numeric", True, None)
    assert (fields["c"].type, fields["c"].required, fields["c"].categories) == (
        "categorical",
        False,
        None,  # two values, more than max_categories: no list
    )
    assert fields["n"].categories == ("rare",) and fields["n"].on_unknown == "accept"
    assert "# 3 records; values 1.5 .. 3" in text


def test_a_field_with_numbers_and_text_is_categorical_and_flagged():
    text = drafted([record("a", f=1.5), record("b", f="x")])
    registry = SchemaRegistry.from_dict(yaml.safe_load(text))
    assert registry.get("a").fields["f"].type == registry.get("b").fields["f"].type == "categorical"
    assert "CHECK: 1 numbers where text was seen too" in text
    assert validate_object(record("a", f=1.5), registry).reason == "wrong_type"


def test_a_source_that_cannot_name_a_topic_is_left_out_and_said():
    text = drafted([record("has space", x=1.0), record("ok", x=1.0)])
    assert SchemaRegistry.from_dict(yaml.safe_load(text)).sources == ("ok",)
    assert '# left out: source "has space"' in text


def write_recording(path, records) -> None:
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in records) + b"not json\n")


def test_infer_then_check_on_the_command_line(tmp_path, capsys):
    records = [record("sensors", t=float(i), kind=["a", "b"][i % 2]) for i in range(50)]
    write_recording(tmp_path / "in.jsonl", records)
    draft = tmp_path / "draft.yaml"
    assert main(["schemas", "infer", str(tmp_path / "in.jsonl"), "--out", str(draft)]) == 0
    assert "drafted from 50 records (1 bad_line skipped)" in capsys.readouterr().err
    assert main(["schemas", "check", str(draft)]) == 0
    out = capsys.readouterr().out
    assert "sensors v1: 2 fields (1 categorical, 1 numeric), 2 required" in out
    # The bad line is the one rejection: exit 1, the reason and where it was first met.
    assert main(["schemas", "check", str(draft), "--records", str(tmp_path / "in.jsonl")]) == 1
    out = capsys.readouterr().out
    assert "50 valid, 1 rejected" in out and "bad_line: 1, first at line 51" in out


def test_check_names_the_first_record_of_each_reason(tmp_path, capsys):
    draft = tmp_path / "s.yaml"
    draft.write_text(
        "sources: {sensors: {version: 1, fields: {t: {type: numeric, range: [0, 9]}}}}"
    )
    write_recording(tmp_path / "in.jsonl", [record("sensors", t=1.0), record("sensors", t=12.0)])
    assert main(["schemas", "check", str(draft), "--records", str(tmp_path / "in.jsonl")]) == 1
    assert "out_of_range: 1, first at line 2: field t: 12.0 is outside [0, 9]" in (
        capsys.readouterr().out
    )


def test_a_long_right_tail_gets_a_log_scale_suggested():
    rng = np.random.default_rng(0)
    tails = [
        record("a", t=float(v), u=float(w))
        for v, w in zip(rng.lognormal(3.0, 1.0, 500), rng.normal(0.0, 1.0, 500), strict=True)
    ]
    text = drafted(tails)
    [t_comment] = [line for line in text.splitlines() if line.strip().startswith("#")
                   and "500 records" in line and "consider" in line]  # fmt: skip
    assert "on a log scale: consider scale: log" in t_comment
    assert text.count("consider scale: log") == 1  # not for the symmetric, signed "u"
    assert SchemaRegistry.from_dict(yaml.safe_load(text)).get("a").fields["t"].scale == "linear"


def test_values_that_name_ranges_get_ordinal_levels_suggested_in_order():
    ages = ["30-39", "20-29", "<20", "70+", "40-49", "20-29"]
    rows = [record("a", age=age, colour=colour) for age, colour in zip(ages, "rgbrgb", strict=True)]
    text = drafted(rows)
    [comment] = [line for line in text.splitlines() if "consider type: ordinal" in line]
    suggested = '"<20", "20-29", "30-39", "40-49", "70+"'
    assert comment.endswith(f"categories: [{suggested}]")
    assert text.count("consider type: ordinal") == 1  # not for the colours
    # The suggestion, pasted in, makes a schema that accepts what the draft was made from.
    document = yaml.safe_load(text)
    levels = yaml.safe_load(comment[comment.index("[") :])
    document["sources"]["a"]["fields"]["age"] = {"type": "ordinal", "categories": levels}
    registry = SchemaRegistry.from_dict(document)
    assert registry.get("a").fields["age"].type == "ordinal"
    for row in rows:
        assert not isinstance(validate_object(row, registry), Rejection)
