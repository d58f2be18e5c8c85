"""Recordings: a captured stream in a file, written by ``sgmstream record`` and by hand.

A recording is a text file of JSON lines, gzip-compressed (the reader detects gzip by its magic
bytes, so a plain ``.jsonl`` file reads too; :class:`RecordingWriter` writes plain text only
when the file name ends in ``.jsonl``). Line 1 is the **header**::

    {"format": "sgmstream-recording", "version": 1, "created_ms": 1700000000000,
     "schemas": {"sensors": 1}, "topics": ["records.sensors"]}

``schemas`` maps source -> schema version (may be empty), ``topics`` names what was captured;
unknown header keys are ignored. A first line without ``"format"`` means a **headerless** file
(written by hand or exported): it reads as version 1 with an empty header, and that first line
is a message like the others. A header of another format or of a newer version is a
:class:`~stream.exceptions.WireFormatError`, as is a file whose first line is not a JSON object.

Every further line is one **message**, as it sat on a topic::

    {"topic": "records.sensors", "partition": 0, "offset": 41, "key": "r1",
     "timestamp_ms": 1700000000123,
     "record": {"source": "sensors", "id": "r1", "event_time": 1700000000123,
                "features": {"temperature": 21.5, "status": "ok"}}}

- ``key`` is the key as a UTF-8 string, or ``null``; a key that is not UTF-8 is ``key_b64``
  (base64) instead.
- ``record`` is the message value when it is a JSON object (DESIGN §2: ``source``, ``id``,
  ``event_time``, ``features``, optional ``label``). Replay sends it compactly serialised: same
  content, byte for byte when it was compact JSON. Any other value (malformed input on the
  topic) is kept bytes-for-bytes as ``value_b64`` so that it replays as-is; so is a JSON object
  that would not survive a parse and re-serialise (a duplicate key, an integer beyond 64 bits).
  ``"value_b64": null`` is a tombstone (no value).
- Hand-written lines may leave out everything but ``record``, and may even be a bare record
  (a line without ``record`` / ``value_b64`` is the record itself). Defaults: ``topic`` =
  ``records.<record source>``, ``partition`` = 0, ``offset`` = the line number, ``key`` = null,
  ``timestamp_ms`` = the record's ``event_time``. Unknown keys on a message line are errors
  (a misspelt ``timestamp`` must not silently become the default).

Reading never raises on a bad line: iterating a :class:`Recording` yields ``(line_number,
Message)`` or ``(line_number, RecordingError)``, line numbers counting from 1 with the header as
line 1; blank lines are skipped. A truncated gzip file (a recorder killed mid-write) ends with one
error saying so, after every complete line before it.

CSV files read through :func:`read_csv` with a :class:`CsvMapping` (``--csv-map``), into the same
messages; see :meth:`CsvMapping.parse` for the syntax.

Examples
--------
>>> import tempfile, pathlib
>>> path = pathlib.Path(tempfile.mkdtemp()) / "demo.jsonl.gz"
>>> with RecordingWriter(path, {"topics": ["records.s"]}) as out:
...     out.write(Message("records.s", 0, 7, b"k", b'{"source": "s", "id": "1"}', 1000))
...     out.write(Message("records.s", 1, 3, None, b"not json", 1001))
>>> recording = read_recording(path)
>>> recording.header["topics"]
['records.s']
>>> [(n, m.value, m.key) for n, m in recording]
[(2, b'{"source":"s","id":"1"}', b'k'), (3, b'not json', None)]
"""

from __future__ import annotations

import base64
import binascii
import csv
import gzip
import io
import json
import re
import time
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import orjson

from stream.exceptions import WireFormatError
from stream.source import MemorySource, Message

__all__ = [
    "FORMAT",
    "VERSION",
    "CsvMapping",
    "Recording",
    "RecordingError",
    "RecordingSource",
    "RecordingSummary",
    "RecordingWriter",
    "default_header",
    "message_to_line",
    "open_input",
    "parse_line",
    "read_csv",
    "read_recording",
]

FORMAT = "sgmstream-recording"
VERSION = 1

_GZIP_MAGIC = b"\x1f\x8b"
_MESSAGE_KEYS = frozenset(
    {"topic", "partition", "offset", "key", "key_b64", "timestamp_ms", "record", "value_b64"}
)
_ENVELOPE_KEYS = _MESSAGE_KEYS - {"record", "value_b64"}
_SHOWN_CHARS = 120  # how much of a bad line an error message quotes


@dataclass(frozen=True, slots=True)
class RecordingError:
    """A line that could not be read: where, why, and its original bytes (for a dead letter)."""

    line_number: int
    reason: str
    raw: bytes = b""

    def __str__(self) -> str:
        return f"line {self.line_number}: {self.reason}"


Entry = tuple[int, Message | RecordingError]


def default_header() -> dict[str, Any]:
    """The header of a new recording, and of a headerless file."""
    return {
        "format": FORMAT,
        "version": VERSION,
        "created_ms": int(time.time() * 1000),
        "schemas": {},
        "topics": [],
    }


# --------------------------------------------------------------------------------------- writing


class RecordingWriter:
    """Appends messages to a new recording file (gzip unless the name ends in ``.jsonl``).

    Parameters
    ----------
    path
        The file to create (an existing file is replaced).
    header
        Header fields over the defaults (``created_ms`` = now, empty ``schemas`` / ``topics``);
        ``format`` and ``version`` are fixed.

    Attributes
    ----------
    count
        Messages written so far.
    bytes_written
        Size of the file on disk so far (compressed bytes; the compressor buffers a little).
    """

    def __init__(self, path: str | Path, header: dict | None = None):
        self.path = Path(path)
        self.count = 0
        self._raw: IO[bytes] = open(self.path, "wb")  # noqa: SIM115 (closed by close())
        self._out: IO[bytes] = self._raw
        if not self.path.name.endswith(".jsonl"):
            # mtime=0: the same messages give the same bytes (created_ms says when).
            self._out = gzip.GzipFile(fileobj=self._raw, mode="wb", compresslevel=6, mtime=0)
        self._out.write(orjson.dumps(default_header() | (header or {}) | _FIXED) + b"\n")

    @property
    def bytes_written(self) -> int:
        return self._raw.tell()

    def write(self, message: Message) -> None:
        self._out.write(orjson.dumps(message_to_line(message)) + b"\n")
        self.count += 1

    def flush(self) -> None:
        """Make every line written so far readable from the file (costs a little compression)."""
        if isinstance(self._out, gzip.GzipFile):
            self._out.flush(zlib.Z_SYNC_FLUSH)
        self._raw.flush()

    def close(self) -> None:
        if not self._raw.closed:
            self._out.close()
            self._raw.close()

    def __enter__(self) -> RecordingWriter:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


_FIXED = {"format": FORMAT, "version": VERSION}


def message_to_line(message: Message) -> dict[str, Any]:
    """The JSON object of one message line (see the module docstring)."""
    line: dict[str, Any] = {
        "topic": message.topic,
        "partition": message.partition,
        "offset": message.offset,
    }
    line.update(_key_field(message.key))
    line["timestamp_ms"] = message.timestamp_ms
    record = _json_object(message.value)
    if record is not None:
        line["record"] = record
    elif message.value is None:
        line["value_b64"] = None
    else:
        line["value_b64"] = base64.b64encode(message.value).decode("ascii")
    return line


def _key_field(key: bytes | None) -> dict[str, str | None]:
    if key is None:
        return {"key": None}
    try:
        return {"key": key.decode("utf-8")}
    except UnicodeDecodeError:
        return {"key_b64": base64.b64encode(key).decode("ascii")}


def _json_object(value: bytes | None) -> dict | None:
    """The value as a JSON object, only if it can be written back without losing anything."""
    if not value:
        return None
    try:
        parsed = orjson.loads(value)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(parsed, dict):
        return None
    if orjson.dumps(parsed) == value.strip():
        return parsed  # the common case: compact JSON, replayed byte for byte
    return _strict_json_object(value)


def _strict_json_object(value: bytes) -> dict | None:
    # Slow path for JSON written with spaces: a duplicate key or a number beyond 64 bits would
    # not survive a parse and re-serialise, so such values stay bytes (value_b64) instead.
    try:
        parsed = json.loads(value, object_pairs_hook=_unique_keys)
        orjson.dumps(parsed)
    except (ValueError, TypeError, orjson.JSONEncodeError):
        return None
    return parsed


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        raise ValueError("duplicate key")
    return obj


# --------------------------------------------------------------------------------------- reading


@dataclass(frozen=True)
class RecordingSummary:
    """One pass over a recording: what replay needs for its progress bar and ETA."""

    messages: int
    errors: int
    lines: int
    topics: tuple[str, ...]
    first_timestamp_ms: int | None
    last_timestamp_ms: int | None
    max_timestamp_ms: int | None

    @property
    def span_ms(self) -> int:
        """Recorded time from the first message to the newest timestamp seen."""
        if self.first_timestamp_ms is None or self.max_timestamp_ms is None:
            return 0
        return max(0, self.max_timestamp_ms - self.first_timestamp_ms)


class Recording:
    """A recording (or CSV file) opened for reading; iterate it as often as needed.

    Iterating yields ``(line_number, Message | RecordingError)`` and never raises for bad lines.
    """

    def __init__(self, path: Path, header: dict, entries: Callable[[], Iterator[Entry]]):
        self.path = path
        self.header = header
        self._entries = entries

    def __iter__(self) -> Iterator[Entry]:
        return self._entries()

    def messages(self, on_error: Callable[[RecordingError], None] | None = None):
        """Only the messages; each bad line goes to ``on_error`` (if given) instead."""
        for _, entry in self:
            if isinstance(entry, RecordingError):
                if on_error is not None:
                    on_error(entry)
            else:
                yield entry

    def scan(self) -> RecordingSummary:
        """Count messages and errors and find topics and time span, reading the file once."""
        messages = errors = lines = 0
        first = last = newest = None
        topics: dict[str, None] = {}
        for lines, entry in self:  # noqa: B007 (the last line number is the count of lines)
            if isinstance(entry, RecordingError):
                errors += 1
                continue
            messages += 1
            topics[entry.topic] = None
            last = entry.timestamp_ms
            first = last if first is None else first
            newest = last if newest is None else max(newest, last)
        return RecordingSummary(messages, errors, lines, tuple(topics), first, last, newest)


def read_recording(path: str | Path) -> Recording:
    """Open a recording: checks the header now, reads the lines lazily on each iteration.

    Raises :class:`~stream.exceptions.WireFormatError` when the file cannot be read, is not a
    recording, or is of a newer version.
    """
    path = Path(path)
    first_line = _first_line(path)
    header, skip = _parse_header(path, first_line)
    return Recording(path, header, lambda: _read_lines(path, skip))


def _open_binary(path: Path) -> IO[bytes]:
    try:
        raw = open(path, "rb")  # noqa: SIM115 (returned to the caller, who closes it)
    except OSError as exc:
        raise WireFormatError(f"cannot read {path}: {exc.strerror}") from None
    if raw.peek(2)[:2] == _GZIP_MAGIC:
        return gzip.GzipFile(fileobj=raw, mode="rb")
    return raw


def _first_line(path: Path) -> bytes:
    with _open_binary(path) as stream:
        try:
            for line in stream:
                if line.strip():
                    return line
        except (EOFError, OSError, zlib.error) as exc:
            raise WireFormatError(f"{path} is not a readable gzip file: {exc}") from None
    raise WireFormatError(f"{path} is empty: a recording starts with a header line")


def _parse_header(path: Path, line: bytes) -> tuple[dict, bool]:
    """The header and whether line 1 is it (``False``: a headerless file)."""
    try:
        first = orjson.loads(line)
    except orjson.JSONDecodeError:
        first = None
    if not isinstance(first, dict):
        raise WireFormatError(
            f"{path} is not a sgmstream recording: line 1 is not a JSON object "
            f"({_shown(line)}); CSV files need --csv-map"
        )
    if "format" not in first:
        return default_header(), False
    if first["format"] != FORMAT:
        raise WireFormatError(f"{path}: header format is {first['format']!r}, not {FORMAT!r}")
    version = first.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise WireFormatError(f"{path}: header version must be a positive integer, got {version!r}")
    if version > VERSION:
        raise WireFormatError(
            f"{path} is a version {version} recording; this sgmstream reads up to {VERSION}"
        )
    for name, kind in (("schemas", dict), ("topics", list)):
        if not isinstance(first.get(name, kind()), kind):
            raise WireFormatError(f"{path}: header field {name!r} must be a {kind.__name__}")
    return default_header() | first, True


def _read_lines(path: Path, skip_header: bool) -> Iterator[Entry]:
    with _open_binary(path) as stream:
        number = 0
        try:
            for number, line in enumerate(stream, start=1):
                if (skip_header and number == 1) or not line.strip():
                    continue
                yield number, parse_line(line, number)
        except (EOFError, OSError, zlib.error) as exc:
            yield (
                number + 1,
                RecordingError(
                    number + 1, f"the file ends abruptly (truncated or corrupt gzip: {exc})"
                ),
            )


def parse_line(line: bytes, line_number: int) -> Message | RecordingError:
    """One message line -> a :class:`Message`, or the reason it is not one."""
    try:
        obj = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        return RecordingError(line_number, f"not valid JSON ({exc})", line)
    if not isinstance(obj, dict):
        return RecordingError(line_number, f"not a JSON object: {_shown(line)}", line)
    try:
        return _message(obj, line_number)
    except _BadLine as exc:
        return RecordingError(line_number, str(exc), line)


class _BadLine(Exception):
    pass


def _message(obj: dict, line_number: int) -> Message:
    if "record" not in obj and "value_b64" not in obj:
        if _ENVELOPE_KEYS & set(obj):
            raise _BadLine("has no 'record' (or 'value_b64')")
        obj = {"record": obj}  # a bare record, written by hand
    unknown = sorted(set(obj) - _MESSAGE_KEYS)
    if unknown:
        raise _BadLine(f"unknown field {unknown[0]!r} (known: {', '.join(sorted(_MESSAGE_KEYS))})")
    if "record" in obj and "value_b64" in obj:
        raise _BadLine("has both 'record' and 'value_b64'; keep one")
    record = obj.get("record")
    if "record" in obj and not isinstance(record, dict):
        raise _BadLine("'record' must be a JSON object")
    value = orjson.dumps(record) if record is not None else _b64(obj, "value_b64")
    return Message(
        topic=_topic(obj, record),
        partition=_count(obj, "partition", 0),
        offset=_count(obj, "offset", line_number),
        key=_key(obj),
        value=value,
        timestamp_ms=_timestamp(obj, record),
    )


def _topic(obj: dict, record: dict | None) -> str:
    topic = obj.get("topic")
    if topic is None:
        source = (record or {}).get("source")
        if not isinstance(source, str) or not source:
            raise _BadLine("no 'topic', and no record 'source' to name records.<source>")
        return f"records.{source}"
    if not isinstance(topic, str) or not topic:
        raise _BadLine("'topic' must be a non-empty string")
    return topic


def _count(obj: dict, name: str, default: int) -> int:
    value = obj.get(name, default)
    if not _is_int(value) or value < 0:
        raise _BadLine(f"{name!r} must be an integer >= 0, got {value!r}")
    return value


def _timestamp(obj: dict, record: dict | None) -> int:
    if "timestamp_ms" in obj:
        value = obj["timestamp_ms"]
        if not _is_int(value) or value < 0:
            raise _BadLine(f"'timestamp_ms' must be an integer >= 0, got {value!r}")
        return value
    event_time = (record or {}).get("event_time")
    if not _is_int(event_time) or event_time < 0:
        raise _BadLine("no 'timestamp_ms', and no integer record 'event_time' to use instead")
    return event_time


def _key(obj: dict) -> bytes | None:
    if "key" in obj and "key_b64" in obj:
        raise _BadLine("has both 'key' and 'key_b64'; keep one")
    if "key_b64" in obj:
        return _b64(obj, "key_b64")
    key = obj.get("key")
    if key is not None and not isinstance(key, str):
        raise _BadLine(f"'key' must be a string or null, got {key!r}")
    return None if key is None else key.encode("utf-8")


def _b64(obj: dict, name: str) -> bytes | None:
    text = obj[name]
    if text is None:
        return None
    if not isinstance(text, str):
        raise _BadLine(f"{name!r} must be a base64 string")
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise _BadLine(f"{name!r} is not valid base64") from None


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _shown(line: bytes) -> str:
    text = line.decode("utf-8", "replace").strip()
    return text if len(text) <= _SHOWN_CHARS else text[:_SHOWN_CHARS] + "..."


# ------------------------------------------------------------------------------------------- CSV

_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
_ROLES = ("source", "id", "event_time", "label", "features")


@dataclass(frozen=True)
class CsvMapping:
    """Which CSV columns make a record.

    Parameters
    ----------
    source
        The column holding the source name, or, when no column has that name, the source name
        itself (one source per file: ``source=payments``).
    event_time
        Column of the event time: milliseconds since the epoch, or an ISO 8601 date-time (UTC
        when it has no offset).
    id
        Column of the record id; without one, the id is the row's line number.
    label
        Column of the ground-truth label (evaluation only), if any.
    features
        The feature columns; empty means every column not used above.
    """

    source: str
    event_time: str
    id: str | None = None
    label: str | None = None
    features: tuple[str, ...] = field(default=())

    @classmethod
    def parse(cls, text: str) -> CsvMapping:
        """Parse ``--csv-map``: ``role=column`` pairs separated by commas.

        Roles: ``source``, ``event_time`` (both required), ``id``, ``label``, and ``features``
        (columns separated by ``|``; default: all other columns). Values in numeric-looking
        cells become numbers, empty cells null, others strings.

        >>> CsvMapping.parse("source=payments,id=txn,event_time=ts,features=amount|country")
        CsvMapping(source='payments', event_time='ts', id='txn', label=None, features=('amount', 'country'))
        """  # noqa: E501 (a doctest's expected output is one line)
        pairs: dict[str, str] = {}
        for part in filter(None, (p.strip() for p in text.split(","))):
            role, sep, column = (s.strip() for s in part.partition("="))
            if not sep or not column:
                raise WireFormatError(f"--csv-map: {part!r} is not ROLE=COLUMN")
            if role not in _ROLES:
                raise WireFormatError(f"--csv-map: unknown role {role!r} (known: {_ROLES})")
            pairs[role] = column
        for required in ("source", "event_time"):
            if required not in pairs:
                raise WireFormatError(f"--csv-map needs {required}=COLUMN")
        features = tuple(c for c in pairs.pop("features", "").split("|") if c)
        return cls(features=features, **pairs)


def read_csv(path: str | Path, mapping: CsvMapping) -> Recording:
    """Open a CSV file (optionally gzip) as a headerless recording of ``records.<source>``.

    The first row names the columns. A mapped column missing from it is one
    :class:`~stream.exceptions.WireFormatError`; a bad row is a :class:`RecordingError` with its
    line number. Messages have no key, partition 0 and offset = line number.
    """
    path = Path(path)
    columns = _csv_columns(path)
    missing = [c for c in _mapped_columns(mapping, columns) if c not in columns]
    if missing:
        raise WireFormatError(f"{path}: no column {missing[0]!r} (columns: {', '.join(columns)})")
    return Recording(path, default_header(), lambda: _read_csv_rows(path, mapping, columns))


def _csv_columns(path: Path) -> list[str]:
    with _open_csv(path) as text:
        header = next(csv.reader(text), None)
    if not header:
        raise WireFormatError(f"{path} is empty: a CSV file starts with a row of column names")
    return [c.strip() for c in header]


def _mapped_columns(mapping: CsvMapping, columns: list[str]) -> list[str]:
    named = [mapping.event_time, mapping.id, mapping.label, *mapping.features]
    if mapping.source in columns:
        named.append(mapping.source)
    return [c for c in named if c]


def _open_csv(path: Path) -> io.TextIOWrapper:
    return io.TextIOWrapper(_open_binary(path), encoding="utf-8", errors="replace", newline="")


def _read_csv_rows(path: Path, mapping: CsvMapping, columns: list[str]) -> Iterator[Entry]:
    used = set(_mapped_columns(mapping, columns))
    features = mapping.features or tuple(c for c in columns if c not in used)
    with _open_csv(path) as text:
        rows = csv.reader(text)
        next(rows, None)
        try:
            for row in rows:
                if not any(cell.strip() for cell in row):
                    continue
                yield rows.line_num, _csv_message(row, rows.line_num, columns, mapping, features)
        except (csv.Error, EOFError, OSError, zlib.error) as exc:
            yield rows.line_num + 1, RecordingError(rows.line_num + 1, f"unreadable CSV: {exc}")


def _csv_message(
    row: list[str], line: int, columns: list[str], mapping: CsvMapping, features: Iterable[str]
) -> Message | RecordingError:
    raw = ",".join(row).encode()
    if len(row) != len(columns):
        return RecordingError(line, f"{len(row)} cells, the header has {len(columns)}", raw)
    cells = dict(zip(columns, row, strict=True))
    source = cells[mapping.source].strip() if mapping.source in cells else mapping.source
    record: dict[str, Any] = {
        "source": source,
        "id": cells[mapping.id].strip() if mapping.id else str(line),
    }
    try:
        record["event_time"] = _event_time(cells[mapping.event_time])
    except ValueError as exc:
        return RecordingError(line, f"event_time {cells[mapping.event_time]!r}: {exc}", raw)
    if not source or not record["id"]:
        return RecordingError(line, "empty source or id", raw)
    record["features"] = {name: _cell(cells[name]) for name in features}
    if mapping.label and cells[mapping.label].strip():
        label = _cell(cells[mapping.label])
        record["label"] = int(label) if isinstance(label, float) and label.is_integer() else label
    value = orjson.dumps(record)
    return Message(f"records.{source}", 0, line, None, value, record["event_time"])


def _cell(text: str) -> float | str | None:
    text = text.strip()
    if not text:
        return None
    return float(text) if _NUMBER.fullmatch(text) else text


def _event_time(text: str) -> int:
    text = text.strip()
    if _NUMBER.fullmatch(text):
        value = float(text)
        if not value.is_integer() or value < 0:
            raise ValueError("not a whole number of milliseconds >= 0")
        return int(value)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError("neither epoch milliseconds nor an ISO 8601 date-time") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


def open_input(path: str | Path, csv_map: str | None = None) -> Recording:
    """A recording file, or a CSV file read through a ``--csv-map`` mapping."""
    if csv_map:
        return read_csv(path, CsvMapping.parse(csv_map))
    return read_recording(path)


# ---------------------------------------------------------------------------------------- Source


class RecordingSource(MemorySource):
    """The :class:`~stream.source.Source` over a recording, read lazily in file order.

    Bad lines are not messages: each is appended to :attr:`errors` (and passed to ``on_error``
    when given) so that the caller can dead-letter them with their line number.

    Parameters
    ----------
    recording
        A path to a recording file, or an opened :class:`Recording` (e.g. from :func:`read_csv`).
    on_error
        Called with every :class:`RecordingError` as it is met.
    """

    def __init__(
        self,
        recording: str | Path | Recording,
        on_error: Callable[[RecordingError], None] | None = None,
    ):
        if not isinstance(recording, Recording):
            recording = read_recording(recording)
        self.recording = recording
        self.errors: list[RecordingError] = []
        self._on_error = on_error
        super().__init__(recording.messages(self._error))

    @property
    def header(self) -> dict:
        return self.recording.header

    def close(self) -> None:
        self._messages.close()  # the generator closes the file
        super().close()

    def _error(self, error: RecordingError) -> None:
        self.errors.append(error)
        if self._on_error is not None:
            self._on_error(error)
