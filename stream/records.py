"""The record: one event from one source, the unit every process passes around (DESIGN §2)."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["WIRE_VERSION", "FeatureValue", "Record", "record_from_trusted_dict", "record_to_dict"]

# Version of every document sgmstream writes to a topic or a file: the envelope of internal
# documents (``stream.serde``) and the optional envelope around a record.
WIRE_VERSION = 1

FeatureValue = float | str | None


@dataclass(frozen=True, slots=True)
class Record:
    """One validated event.

    Parameters
    ----------
    source
        Name of the source (the schema it was validated against).
    id
        Identifier unique within the source; assignments refer to records by ``(source, id)``.
    event_time
        When the event happened, in milliseconds since the Unix epoch (UTC).
    features
        Field name -> number (``float``), category (``str``) or ``None`` (missing). A field
        absent from the dict is missing too; neither is ever read as zero.
    label
        Ground truth, only for evaluation; never used to learn.

    Examples
    --------
    >>> r = Record("sensors", "r1", 1_700_000_000_000, {"temperature": 21.5, "status": "ok"})
    >>> r.features["status"], r.label
    ('ok', None)
    >>> record_to_dict(r)["event_time"]
    1700000000000
    """

    source: str
    id: str
    event_time: int
    features: dict[str, FeatureValue] = field(default_factory=dict)
    label: str | int | None = None

    # A frozen dataclass would hash its dict of features and fail; the identity of a record is
    # its source and id (plus time, so that a re-sent id with a new time is a new event).
    def __hash__(self) -> int:
        return hash((self.source, self.id, self.event_time))


def record_to_dict(record: Record) -> dict:
    """The record as the JSON object that travels on ``records.<source>`` topics."""
    out = {
        "source": record.source,
        "id": record.id,
        "event_time": record.event_time,
        "features": dict(record.features),
    }
    if record.label is not None:
        out["label"] = record.label
    return out


def record_from_trusted_dict(obj: dict) -> Record:
    """Rebuild a record from :func:`record_to_dict` output that was already checked.

    Untrusted input goes through :func:`stream.serde.record_from_dict` (which checks the shape)
    or :func:`stream.validation.validate` (which also checks the schema).
    """
    return Record(
        source=obj["source"],
        id=obj["id"],
        event_time=obj["event_time"],
        features=dict(obj["features"]),
        label=obj.get("label"),
    )
