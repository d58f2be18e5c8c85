from __future__ import annotations

import json

import pytest

from stream.exceptions import ConfigError
from stream.schema import FieldSpec, SchemaRegistry

EXAMPLE = "deploy/schemas/example.yaml"

GOOD = """
format: 1
sources:
  weather:
    version: 3
    fields:
      temperature: {type: numeric, unit: degC, range: [-60, null], required: true}
      sky: {type: categorical, categories: [clear, cloudy], on_unknown: accept}
      wind: {type: ordinal, categories: [calm, breeze, gale]}
  shop:
    version: 1
    extra_fields: infer
    fields:
      basket: {type: categorical, categories: [1, 2, true]}
"""


def write(tmp_path, text, name="schemas.yaml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_load_yaml(tmp_path):
    registry = SchemaRegistry.load(write(tmp_path, GOOD))
    assert registry.sources == ("weather", "shop")
    weather = registry.get("weather")
    assert weather.version == 3 and weather.required == ("temperature",)
    assert weather.fields["temperature"] == FieldSpec(
        "temperature", "numeric", "degC", (-60, None), None, True, "reject"
    )
    assert weather.fields["wind"].categories == ("calm", "breeze", "gale")
    assert weather.fields["sky"].on_unknown == "accept"
    # Integer and boolean categories are named by their JSON text, as validation names values.
    assert registry.get("shop").fields["basket"].categories == ("1", "2", "true")
    assert registry.get("shop").extra_fields == "infer"
    assert registry.get("nope") is None


def test_load_json_equals_yaml(tmp_path):
    import yaml

    document = yaml.safe_load(GOOD)
    from_json = SchemaRegistry.load(write(tmp_path, json.dumps(document), "s.json"))
    from_yaml = SchemaRegistry.load(write(tmp_path, GOOD))
    assert from_json.schemas == from_yaml.schemas


def test_example_file_has_three_mixed_sources():
    registry = SchemaRegistry.load(EXAMPLE)
    assert len(registry.sources) == 3
    types = {spec.type for spec in registry.field_types().values()}
    assert types == {"numeric", "categorical", "ordinal"}


def test_infer_unknown_sources():
    registry = SchemaRegistry.from_dict({"unknown_sources": "infer", "sources": {}})
    schema = registry.get("anything")
    assert schema.version == 0 and schema.extra_fields == "infer" and schema.fields == {}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("sources: {a: {version: 0}}", "sources.a.version: expected an integer >= 1"),
        ("sources: {a: {version: 1, fields: {x: {type: number}}}}", "sources.a.fields.x.type"),
        ("sources: {a: {version: 1, fields: {x: {type: numeric, requird: true}}}}", "requird"),
        ("sources: {a: {version: 1, fields: {x: {type: numeric, range: [2, 1]}}}}", "above"),
        ("sources: {a: {version: 1, fields: {x: {type: numeric, range: [0]}}}}", "x.range"),
        ("sources: {a: {version: 1, fields: {x: {type: ordinal}}}}", "x.categories"),
        ("sources: {a: {version: 1, fields: {x: {type: numeric, categories: [a]}}}}", "numeric"),
        ("sources: {a: {version: 1, fields: {x: {type: categorical, range: [0, 1]}}}}", "range"),
        (
            "sources: {a: {version: 1, fields: {x: {type: categorical, categories: [a, a]}}}}",
            "twice",
        ),
        (
            "sources: {a: {version: 1, fields: {x: {type: ordinal, categories: [a], "
            "on_unknown: accept}}}}",
            "x.on_unknown",
        ),
        ("sources: {'bad name': {version: 1}}", "sources.bad name"),
        ("sources: {}", "no source declared"),
        ("unknown_sources: maybe\nsources: {a: {version: 1}}", "unknown_sources"),
        ("format: 2\nsources: {a: {version: 1}}", "format"),
        ("sources: {a: {version: 1}, a: {version: 2}}", "duplicate key"),
        ("sources: [a, b]", "sources: expected a mapping"),
        ("sources: {a: {version: 1}\n", "not valid YAML"),
        (
            "sources: {a: {version: 1, fields: {x: {type: numeric}}},"
            " b: {version: 1, fields: {x: {type: categorical}}}}",
            "sources.b.fields.x: declared as categorical here but as numeric in source 'a'",
        ),
        ("sources: {a: {version: 1, fields: {x: {type: numeric, scale: ln}}}}", "x.scale"),
        (
            "sources: {a: {version: 1, fields: {x: {type: ordinal, categories: [a], scale: log}}}}",
            "only numeric fields have a scale",
        ),
        (
            "sources: {a: {version: 1, fields: {x: {type: numeric, scale: log}}},"
            " b: {version: 1, fields: {x: {type: numeric}}}}",
            "sources.b.fields.x.scale: linear here but log in source 'a'",
        ),
    ],
)
def test_bad_files_name_the_key(tmp_path, text, message):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        SchemaRegistry.load(path)
    line = str(caught.value)
    assert "\n" not in line
    assert line.startswith(str(path)) and message in line


def test_bad_json_and_extension(tmp_path):
    with pytest.raises(ConfigError, match="duplicate key"):
        SchemaRegistry.load(write(tmp_path, '{"sources": {}, "sources": {}}', "s.json"))
    with pytest.raises(ConfigError, match="must end in"):
        SchemaRegistry.load(write(tmp_path, GOOD, "s.toml"))
    with pytest.raises(ConfigError, match="cannot read"):
        SchemaRegistry.load(tmp_path / "missing.yaml")


def test_a_numeric_field_may_be_log_scaled(tmp_path):
    text = (
        "sources: {a: {version: 1, fields: {t: {type: numeric, scale: log}, u: {type: numeric}}}}"
    )
    fields = SchemaRegistry.load(write(tmp_path, text)).get("a").fields
    assert (fields["t"].scale, fields["u"].scale) == ("log", "linear")
