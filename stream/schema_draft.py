"""A first schema file drafted from sample records (``sgmstream schemas infer``).

Writing a schema by hand for a source nobody has described yet starts from its data: which
fields it sends, which are numbers, which are always there, which take a few values. This
module reads records accepted with every field inferred (numbers numeric, strings and booleans
categorical, as ``unknown_sources: infer`` does) and writes that down as a schema file that
:meth:`stream.schema.SchemaRegistry.load` accepts and that accepts every record it was drafted
from, but for one case its comments point out. It is a draft, and says so:

* a field is ``numeric`` only if every value seen, in every source, is a number (a field name
  is one feature in every source); a field with text is ``categorical``, and a number among
  its values would then be rejected as ``wrong_type`` (unless it is an integer: integers name
  categories by their text), which the field's comment says after ``CHECK:``. Ordinal
  fields cannot in general be told from categorical ones by their values: declare their
  levels by hand. One case can: a field of at least 3 values that all name numeric ranges
  ("20-29", "<20", "70+") gets a comment suggesting ``type: ordinal`` with the values in
  the order of their ranges;
* ``required: true`` for a field present (not ``null``) in every record of its source;
* a categorical field with at most ``max_categories`` values, all text, lists them, most
  frequent first, with ``on_unknown: accept``: the list documents what was seen, and a new
  value is still accepted until someone decides to ``reject`` it;
* no ``range`` is declared: the values seen are in a comment; a range fitted to a sample would
  reject the next record a little beyond it;
* no ``scale`` either, but a field of non-negative numbers with a long right tail (skewness
  above 1, "highly skewed", in its first 10,000 values, at least halved by taking logs) gets
  a comment suggesting ``scale: log``;
* a source whose name cannot name a topic is left out, with a comment saying why.

Examples
--------
>>> from stream.records import Record
>>> draft = SchemaDraft()
>>> draft.add(Record("shop", "1", 0, {"price": 3.5, "colour": "red"}))
>>> draft.add(Record("shop", "2", 0, {"price": 12.0, "colour": "blue", "note": "gift"}))
>>> print(draft.to_yaml(origin="sample.jsonl"))  # doctest: +NORMALIZE_WHITESPACE
# Drafted by `sgmstream schemas infer` from sample.jsonl (2 records of 1 source).
# A draft: check every field before use. Ordinal fields are declared categorical (declare
# their levels by hand; values that name ranges get a suggestion); no range is enforced (the
# values seen are in the comments); a listed category set accepts new values until on_unknown
# is reject.
format: 1
unknown_sources: reject
sources:
  "shop":
    version: 1
    fields:
      # 2 records; values 3.5 .. 12
      "price": {type: numeric, required: true}
      # 2 records; 2 values
      "colour": {type: categorical, required: true, categories: ["red", "blue"], on_unknown: accept}
      # 1 record; 1 value
      "note": {type: categorical, categories: ["gift"], on_unknown: accept}
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from stream.records import Record
from stream.schema import SOURCE_NAME_RULE, is_source_name

__all__ = ["SchemaDraft"]

_SAMPLE = 10_000  # numbers kept per field to judge the shape of its distribution
_NUMBER = r"-?\d+(?:\.\d+)?"
# A value naming a numeric range: "<20", ">= 5", "20-29", "20 to 29", "20..29", "70+".
_RANGE = re.compile(
    rf"\s*(?:(<=?|>=?)\s*({_NUMBER})|({_NUMBER})\s*(?:-|to|\.\.)\s*({_NUMBER})|({_NUMBER})\s*\+)\s*"
)

_HEADER = """\
# A draft: check every field before use. Ordinal fields are declared categorical (declare
# their levels by hand; values that name ranges get a suggestion); no range is enforced (the
# values seen are in the comments); a listed category set accepts new values until on_unknown
# is reject.
format: 1
unknown_sources: reject"""


@dataclass
class _FieldSeen:
    """What one field of one source looked like over the records seen."""

    records: int = 0
    numbers: int = 0
    low: float = float("inf")
    high: float = float("-inf")
    values: Counter = field(default_factory=Counter)
    overflow: bool = False  # more distinct values than are kept
    sample: list[float] = field(default_factory=list)  # the first numbers, for their shape

    def add(self, value: float | str, max_categories: int) -> None:
        self.records += 1
        if isinstance(value, float):
            self.numbers += 1
            self.low, self.high = min(self.low, value), max(self.high, value)
            if len(self.sample) < _SAMPLE:
                self.sample.append(value)
        elif value in self.values or len(self.values) < max_categories:
            self.values[value] += 1
        else:
            self.overflow = True

    def declaration(self, numeric: bool, source_records: int) -> dict:
        spec: dict = {"type": "numeric" if numeric else "categorical"}
        if self.records == source_records:
            spec["required"] = True
        if not numeric:
            if self.values and not self.numbers and not self.overflow:
                spec["categories"] = [value for value, _ in self.values.most_common()]
            spec["on_unknown"] = "accept"
        return spec

    def comment(self, numeric: bool) -> str:
        parts = [f"{self.records} record{'s' * (self.records != 1)}"]
        if self.numbers:
            parts.append(f"values {self.low:.6g} .. {self.high:.6g}")
        if self.values or self.overflow:
            shown = f"more than {len(self.values)}" if self.overflow else str(len(self.values))
            parts.append(f"{shown} value{'s' * (shown != '1')}")
        if self.numbers and not numeric:
            parts.append(
                f"CHECK: {self.numbers} numbers where text was seen too (rejected unless integers)"
            )
        skew = self.log_helps() if numeric else None
        if skew is not None:
            parts.append(f"skewness {skew[0]:.1f}, {skew[1]:.1f} on a log scale: consider "
                         "scale: log")  # fmt: skip
        levels = None if numeric or self.numbers or self.overflow else _range_order(self.values)
        if levels is not None:
            listed = ", ".join(_quoted(level) for level in levels)
            parts.append(f"values name ranges: consider type: ordinal, categories: [{listed}]")
        return "; ".join(parts)

    def log_helps(self) -> tuple[float, float] | None:
        """Skewness of the values and of their logs, if a log scale would tame a long right
        tail of non-negative values (skewness above 1, "highly skewed", at least halved)."""
        x = np.asarray(self.sample)
        if len(x) < 30 or self.low < 0.0:
            return None
        plain, logged = _skewness(x), _skewness(np.log1p(x))
        return (plain, logged) if plain > 1.0 and abs(logged) < plain / 2.0 else None


def _range_order(values: Iterable[str]) -> list[str] | None:
    """The values in the order of the numeric ranges they name ("20-29", "<20", "70+"), if
    there are at least 3 and every one names a range; else ``None``."""
    keyed = []
    for value in values:
        found = _RANGE.fullmatch(value)
        if found is None:
            return None
        below, bound, low, high, above = found.groups()
        if low is not None:
            key = (float(low), float(high))
        elif above is not None:
            key = (float(above), np.inf)
        else:
            key = (-np.inf, float(bound)) if below.startswith("<") else (float(bound), np.inf)
        keyed.append((key, value))
    return [value for _, value in sorted(keyed)] if len(keyed) >= 3 else None


def _skewness(x: np.ndarray) -> float:
    centred = x - x.mean()
    spread = np.sqrt(np.mean(centred**2))
    return float(np.mean(centred**3) / spread**3) if spread > 0 else 0.0


class SchemaDraft:
    """Collects records of any sources and drafts their schema file.

    Parameters
    ----------
    max_categories
        A categorical field with more distinct values than this gets no category list.
    """

    def __init__(self, max_categories: int = 50):
        self.max_categories = max_categories
        self._sources: dict[str, dict[str, _FieldSeen]] = {}
        self._records: Counter = Counter()

    def add(self, record: Record) -> None:
        """One record, validated with its fields inferred (``unknown_sources: infer``)."""
        fields = self._sources.setdefault(record.source, {})
        self._records[record.source] += 1
        for name, value in record.features.items():
            if value is not None:
                fields.setdefault(name, _FieldSeen()).add(value, self.max_categories)

    @property
    def records(self) -> int:
        return sum(self._records.values())

    def to_yaml(self, origin: str) -> str:
        """The schema file: YAML whose names and values are JSON strings (always quoted)."""
        count = len(self._sources)
        lines = [
            f"# Drafted by `sgmstream schemas infer` from {origin} ({self.records} records of "
            f"{count} source{'s' * (count != 1)}).",
            _HEADER,
        ]
        named = {s: f for s, f in self._sources.items() if is_source_name(s)}
        for source in self._sources:
            if source not in named:
                lines.append(f"# left out: source {_quoted(source)} ({SOURCE_NAME_RULE})")
        lines.append("sources:" if named else "sources: {}")
        numeric = self._numeric_fields(named)
        for source, fields in named.items():
            lines += [f"  {_quoted(source)}:", "    version: 1", "    fields:"]
            for name, seen in fields.items():
                spec = seen.declaration(name in numeric, self._records[source])
                lines += [
                    f"      # {seen.comment(name in numeric)}",
                    f"      {_quoted(name)}: {_flow(spec)}",
                ]
        return "\n".join(lines) + "\n"

    @staticmethod
    def _numeric_fields(sources: dict[str, dict[str, _FieldSeen]]) -> set[str]:
        """Fields whose every value, in every source, is a number."""
        names = {name for fields in sources.values() for name in fields}
        return {
            name
            for name in names
            if all(f[name].numbers == f[name].records for f in sources.values() if name in f)
        }


def _quoted(text: str) -> str:
    """A YAML double-quoted scalar, printable ASCII only: every other character escaped (a
    raw control or line-separator character would break the line; astral characters need
    YAML's ``\\U`` escape, not a JSON surrogate pair)."""
    return '"' + "".join(map(_escaped, text)) + '"'


def _escaped(char: str) -> str:
    code = ord(char)
    if char in '"\\':
        return "\\" + char
    if 0x20 <= code < 0x7F:
        return char
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def _flow(spec: dict) -> str:
    """A field's declaration as a one-line YAML flow mapping."""

    def value(key: str, item) -> str:
        if isinstance(item, bool):
            return "true" if item else "false"
        if key == "categories":
            return "[" + ", ".join(map(_quoted, item)) + "]"
        return item  # a keyword of the schema format: type, on_unknown

    return "{" + ", ".join(f"{key}: {value(key, item)}" for key, item in spec.items()) + "}"
