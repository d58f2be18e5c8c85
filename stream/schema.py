"""Per-source schemas, declared in one YAML or JSON file (DESIGN §2).

The file format is documented in the README ("Source schemas"). In short::

    format: 1                  # optional, the version of this file format
    unknown_sources: reject    # reject (default) | infer
    sources:
      weather:                 # the source name; its records arrive on records.weather
        version: 3             # schema version, an integer >= 1, bump on every change
        extra_fields: reject   # reject (default) | infer | ignore
        fields:
          temperature: {type: numeric, unit: degC, range: [-60, 60], required: true}
          sky: {type: categorical, categories: [clear, cloudy, rain], on_unknown: accept}
          wind: {type: ordinal, categories: [calm, breeze, gale, storm]}

A field name means the same thing in every source (the encoder maps all sources into one
feature space by name), so a name declared by several sources must have the same type there.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from stream.exceptions import ConfigError

__all__ = [
    "FIELD_TYPES",
    "SOURCE_NAME_RULE",
    "FieldSpec",
    "SchemaRegistry",
    "SourceSchema",
    "category_name",
    "is_source_name",
]

FIELD_TYPES = ("numeric", "categorical", "ordinal")
SCHEMA_FILE_FORMAT = 1
_UNKNOWN_SOURCE_POLICIES = ("reject", "infer")
_EXTRA_FIELD_POLICIES = ("reject", "infer", "ignore")
_UNKNOWN_CATEGORY_POLICIES = ("reject", "accept")
_SCALES = ("linear", "log")
# Source names become topic names (records.<source>), so they use Kafka's topic alphabet.
_SOURCE_NAME = re.compile(r"^[A-Za-z0-9._-]{1,200}$")
SOURCE_NAME_RULE = "source names use letters, digits, '.', '_', '-' (<= 200)"
MAX_FIELD_NAME = 128


@dataclass(frozen=True)
class FieldSpec:
    """One declared field of a source.

    Parameters
    ----------
    name
        Field name, shared across sources.
    type
        ``numeric``, ``categorical`` or ``ordinal``.
    unit
        Free text, for people (``degC``, ``EUR``); not converted.
    range
        ``(low, high)`` accepted for a numeric field, either bound may be ``None`` (open).
    categories
        Allowed values of a categorical field (``None``: any value), or the levels of an ordinal
        field in increasing order (required for ordinals).
    required
        A record without this field (or with ``null``) is rejected.
    on_unknown
        Categorical fields with declared categories: ``reject`` a value outside them (default)
        or ``accept`` it as a new category.
    scale
        Numeric fields: ``linear`` (default) or ``log``, encoded as ``sign(x) log(1 + |x|)``
        before standardising (for heavy-tailed amounts, counts and durations). Validation and
        records keep the value as sent.

    Examples
    --------
    >>> FieldSpec("wind", "ordinal", categories=("calm", "gale")).rank("gale")
    1
    """

    name: str
    type: str
    unit: str | None = None
    range: tuple[float | None, float | None] | None = None
    categories: tuple[str, ...] | None = None
    required: bool = False
    on_unknown: str = "reject"
    scale: str = "linear"

    def rank(self, value: str) -> int | None:
        """Position of an ordinal level (``None`` if it is not a level)."""
        if self.categories is None:
            return None
        try:
            return self.categories.index(value)
        except ValueError:
            return None


@dataclass(frozen=True)
class SourceSchema:
    """The declared fields of one source, with a version number.

    ``extra_fields`` says what to do with a field the schema does not declare: ``reject`` the
    record, ``infer`` its type from the value (number -> numeric, string -> categorical), or
    ``ignore`` (drop) it. A schema with ``version`` 0 was inferred, not declared.
    """

    name: str
    version: int
    fields: dict[str, FieldSpec] = field(default_factory=dict)
    extra_fields: str = "reject"

    @property
    def required(self) -> tuple[str, ...]:
        return tuple(name for name, spec in self.fields.items() if spec.required)


class SchemaRegistry:
    """Every source's schema, loaded from one file.

    Parameters
    ----------
    schemas
        The declared sources.
    unknown_sources
        ``reject`` records of a source not declared here (default), or ``infer``: accept them
        with an empty schema whose fields are all inferred (``version`` 0).

    Examples
    --------
    >>> registry = SchemaRegistry.from_dict({"sources": {"a": {"version": 2, "fields": {
    ...     "x": {"type": "numeric", "range": [0, 1], "required": True}}}}})
    >>> registry.sources, registry.get("a").version, registry.get("a").required
    (('a',), 2, ('x',))
    >>> registry.get("b") is None
    True
    """

    def __init__(self, schemas: list[SourceSchema] | None = None, unknown_sources: str = "reject"):
        if unknown_sources not in _UNKNOWN_SOURCE_POLICIES:
            raise ConfigError(f"unknown_sources must be one of {_UNKNOWN_SOURCE_POLICIES}")
        self.schemas = {schema.name: schema for schema in schemas or []}
        self.unknown_sources = unknown_sources
        self._inferred: dict[str, SourceSchema] = {}

    @property
    def sources(self) -> tuple[str, ...]:
        return tuple(self.schemas)

    def get(self, source: str) -> SourceSchema | None:
        """The schema of ``source``; ``None`` if it is unknown and unknown sources are rejected."""
        schema = self.schemas.get(source)
        if schema is None and self.unknown_sources == "infer":
            schema = self._inferred.get(source)
            if schema is None and len(self._inferred) < 10_000:
                # Bounded: a stream of random source names must not grow memory forever.
                schema = SourceSchema(source, 0, {}, extra_fields="infer")
                self._inferred[source] = schema
            elif schema is None:
                schema = SourceSchema(source, 0, {}, extra_fields="infer")
        return schema

    def field_types(self) -> dict[str, FieldSpec]:
        """One spec per field name over all sources (names mean the same thing everywhere)."""
        out: dict[str, FieldSpec] = {}
        for schema in self.schemas.values():
            for name, spec in schema.fields.items():
                out.setdefault(name, spec)
        return out

    @classmethod
    def load(cls, path: str | Path) -> SchemaRegistry:
        """Read a schema file (``.yaml``/``.yml`` or ``.json``); raises :class:`ConfigError`."""
        path = Path(path)
        suffix = path.suffix.lower()
        if suffix not in (".yaml", ".yml", ".json"):
            raise ConfigError(f"{path}: schema file must end in .yaml, .yml or .json")
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path}: cannot read schema file: {exc}") from exc
        try:
            document = (
                json.loads(text, object_pairs_hook=_json_unique_keys)
                if suffix == ".json"
                else yaml.load(text, Loader=_UniqueKeyLoader)
            )
        except (ValueError, yaml.YAMLError) as exc:
            one_line = " ".join(str(exc).split())
            raise ConfigError(f"{path}: not valid {suffix[1:].upper()}: {one_line}") from exc
        return cls.from_dict(document, origin=str(path))

    @classmethod
    def from_dict(cls, document: Any, origin: str = "<schemas>") -> SchemaRegistry:
        """Build a registry from a parsed schema document; raises :class:`ConfigError`."""
        return _Parser(origin).registry(document)


class _UniqueKeyLoader(yaml.SafeLoader):
    """A safe YAML loader that refuses duplicate keys instead of keeping the last one."""


def _construct_unique_mapping(loader, node, deep=False):
    keys = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in keys:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark
            )
        keys.add(key)
    return yaml.SafeLoader.construct_mapping(loader, node, deep)


_UniqueKeyLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_unique_mapping
)


def _json_unique_keys(pairs: list) -> dict:
    out = dict(pairs)
    if len(out) != len(pairs):
        seen: set = set()
        duplicate = next(key for key, _ in pairs if key in seen or seen.add(key))
        raise ValueError(f"duplicate key {duplicate!r}")
    return out


class _Parser:
    """Turns a parsed document into schemas, naming the exact key of the first problem."""

    def __init__(self, origin: str):
        self.origin = origin

    def fail(self, where: str, problem: str) -> ConfigError:
        return ConfigError(f"{self.origin}: {where}: {problem}")

    def mapping(self, value: Any, where: str, allowed: tuple[str, ...] | None = None) -> dict:
        if not isinstance(value, dict):
            raise self.fail(where, f"expected a mapping, got {type(value).__name__}")
        for key in value:
            if not isinstance(key, str):
                raise self.fail(where, f"keys must be strings, got {key!r}")
            if allowed is not None and key not in allowed:
                raise self.fail(f"{where}.{key}", f"unknown key (allowed: {', '.join(allowed)})")
        return value

    def choice(self, value: Any, where: str, options: tuple[str, ...]) -> str:
        if value not in options:
            raise self.fail(where, f"expected one of {', '.join(options)}, got {value!r}")
        return value

    def registry(self, document: Any) -> SchemaRegistry:
        top = self.mapping(document, "(top level)", ("format", "unknown_sources", "sources"))
        file_format = top.get("format", SCHEMA_FILE_FORMAT)
        if file_format != SCHEMA_FILE_FORMAT:
            raise self.fail("format", f"this version reads format {SCHEMA_FILE_FORMAT}")
        unknown = self.choice(
            top.get("unknown_sources", "reject"), "unknown_sources", _UNKNOWN_SOURCE_POLICIES
        )
        sources = self.mapping(top.get("sources"), "sources")
        if not sources and unknown == "reject":
            raise self.fail("sources", "no source declared (and unknown_sources is reject)")
        schemas = [self.source(name, body) for name, body in sources.items()]
        self.check_shared_fields(schemas)
        return SchemaRegistry(schemas, unknown_sources=unknown)

    def source(self, name: str, body: Any) -> SourceSchema:
        where = f"sources.{name}"
        if not is_source_name(name):
            raise self.fail(where, SOURCE_NAME_RULE)
        body = self.mapping(body, where, ("version", "extra_fields", "fields"))
        version = body.get("version")
        if isinstance(version, bool) or not isinstance(version, int) or version < 1:
            raise self.fail(f"{where}.version", f"expected an integer >= 1, got {version!r}")
        extra = self.choice(
            body.get("extra_fields", "reject"), f"{where}.extra_fields", _EXTRA_FIELD_POLICIES
        )
        fields = self.mapping(body.get("fields", {}), f"{where}.fields")
        specs = {
            key: self.field(key, spec, f"{where}.fields.{key}") for key, spec in fields.items()
        }
        return SourceSchema(name, version, specs, extra_fields=extra)

    def field(self, name: str, body: Any, where: str) -> FieldSpec:
        if not name or len(name) > MAX_FIELD_NAME:
            raise self.fail(where, f"field names have 1 to {MAX_FIELD_NAME} characters")
        allowed = ("type", "unit", "range", "categories", "required", "on_unknown", "scale")
        body = self.mapping(body, where, allowed)
        kind = self.choice(body.get("type"), f"{where}.type", FIELD_TYPES)
        unit = body.get("unit")
        if unit is not None and not isinstance(unit, str):
            raise self.fail(f"{where}.unit", f"expected a string, got {unit!r}")
        required = body.get("required", False)
        if not isinstance(required, bool):
            raise self.fail(f"{where}.required", f"expected true or false, got {required!r}")
        on_unknown = self.choice(
            body.get("on_unknown", "reject"), f"{where}.on_unknown", _UNKNOWN_CATEGORY_POLICIES
        )
        value_range = self.range(body.get("range"), kind, f"{where}.range")
        categories = self.categories(body.get("categories"), kind, f"{where}.categories")
        if kind == "ordinal" and on_unknown == "accept":
            # A new level would have no place in the order, so it cannot be accepted.
            raise self.fail(f"{where}.on_unknown", "ordinal fields only accept declared levels")
        scale = self.choice(body.get("scale", "linear"), f"{where}.scale", _SCALES)
        if scale != "linear" and kind != "numeric":
            raise self.fail(f"{where}.scale", "only numeric fields have a scale")
        return FieldSpec(name, kind, unit, value_range, categories, required, on_unknown, scale)

    def range(self, value: Any, kind: str, where: str) -> tuple | None:
        if value is None:
            return None
        if kind != "numeric":
            raise self.fail(where, "only numeric fields have a range")
        if not isinstance(value, list) or len(value) != 2:
            raise self.fail(where, f"expected [low, high] (null for an open end), got {value!r}")
        for bound in value:
            numeric = isinstance(bound, int | float) and not isinstance(bound, bool)
            if bound is not None and (not numeric or not math.isfinite(bound)):
                raise self.fail(where, f"bounds are finite numbers or null, got {bound!r}")
        low, high = value
        if low is not None and high is not None and low > high:
            raise self.fail(where, f"low {low} is above high {high}")
        return (low, high)

    def categories(self, value: Any, kind: str, where: str) -> tuple[str, ...] | None:
        if value is None:
            if kind == "ordinal":
                raise self.fail(where, "an ordinal field lists its levels in increasing order")
            return None
        if kind == "numeric":
            raise self.fail(where, "numeric fields have no categories")
        if not isinstance(value, list) or not value:
            raise self.fail(where, f"expected a non-empty list, got {value!r}")
        # Numbers and booleans in YAML lists ("1", yes) are categories named by their text, the
        # same normalisation validation applies to values.
        names = [category_name(item) for item in value]
        if any(name is None for name in names):
            raise self.fail(where, "categories are strings, integers or booleans")
        if len(set(names)) != len(names):
            raise self.fail(where, "categories are listed twice")
        return tuple(names)

    def check_shared_fields(self, schemas: list[SourceSchema]) -> None:
        seen: dict[str, tuple[str, FieldSpec]] = {}
        for schema in schemas:
            for name, spec in schema.fields.items():
                first = seen.setdefault(name, (schema.name, spec))
                other_source, other = first
                if other.type != spec.type or (
                    spec.type == "ordinal" and other.categories != spec.categories
                ):
                    raise self.fail(
                        f"sources.{schema.name}.fields.{name}",
                        f"declared as {spec.type} here but as {other.type} in source "
                        f"{other_source!r} (one field name is one feature in every source)",
                    )
                if other.scale != spec.scale:
                    raise self.fail(
                        f"sources.{schema.name}.fields.{name}.scale",
                        f"{spec.scale} here but {other.scale} in source {other_source!r} (one "
                        "field name is one feature in every source)",
                    )


def is_source_name(name: str) -> bool:
    """Whether ``name`` can name a source (it becomes part of a topic name)."""
    return bool(_SOURCE_NAME.match(name))


def category_name(value: Any) -> str | None:
    """The text of a categorical value: strings as they are, integers and booleans as JSON."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int):
        return str(value)
    return None
