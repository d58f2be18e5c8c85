"""Seeded synthetic multi-source stream with known clusters and one scripted drift.

Three heterogeneous sources share nothing but the record envelope:

* ``sensors``: numeric ``temperature``, ``humidity``, ``vibration``; four clusters with shares
  55 / 30 / 13 / 2 % of the source's records (the 2 % one is the small cluster);
* ``payments``: numeric ``amount`` (log-normal) and ``hour``, categorical ``channel`` and
  ``country``; three clusters;
* ``weblogs``: numeric ``latency_ms``, categorical ``status``, ordinal ``tier``; three clusters.

The label of a record is ``<source>/<cluster>``: it is there to score, never to learn. At
``drift_at`` (a fraction of the stream) the small sensors cluster moves to a new place: an
abrupt drift confined to about 1 % of all records, which a global monitor tends to miss.
Records are spaced ``interval_ms`` apart in event time from ``start_ms`` (by default a fixed
origin, 2026-01-01, so that runs are identical). The schemas of the three sources are
in ``deploy/schemas/synthetic.yaml``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import orjson

from stream.records import Record, record_to_dict
from stream.source import Message

__all__ = ["SyntheticStream", "write_recording"]

_START_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z: a fixed origin keeps runs identical

_SENSOR_CENTRES = np.array(
    [[20.0, 40.0, 0.2], [35.0, 70.0, 0.5], [5.0, 85.0, 1.5], [60.0, 10.0, 4.0]]
)
_SENSOR_SCALES = np.array([2.0, 5.0, 0.08])
_SENSOR_SHARES = np.array([0.55, 0.30, 0.13, 0.02])
_SENSOR_MOVED = np.array([-25.0, 15.0, 3.0])  # where the small cluster goes after the drift

_PAYMENT_PROFILES = (
    # (log-amount mean, hour mean, channel probabilities web/app/pos, main countries)
    (3.0, 13.0, (0.7, 0.25, 0.05), ("DE", "FR")),
    (6.0, 2.0, (0.1, 0.85, 0.05), ("US", "BR")),
    (1.5, 18.0, (0.05, 0.05, 0.9), ("JP", "KR")),
)
_PAYMENT_SHARES = np.array([0.6, 0.3, 0.1])
_CHANNELS = ("web", "app", "pos")

_WEBLOG_PROFILES = (
    # (latency mean ms, status probabilities 200/404/500, tier probabilities free/pro/ent)
    (80.0, (0.95, 0.04, 0.01), (0.7, 0.25, 0.05)),
    (900.0, (0.3, 0.1, 0.6), (0.2, 0.5, 0.3)),
    (250.0, (0.2, 0.78, 0.02), (0.05, 0.15, 0.8)),
)
_WEBLOG_SHARES = np.array([0.7, 0.2, 0.1])
_STATUSES = ("200", "404", "500")
_TIERS = ("free", "pro", "enterprise")

_SOURCE_SHARES = np.array([0.5, 0.3, 0.2])  # sensors, payments, weblogs


@dataclass(frozen=True)
class SyntheticStream:
    """Parameters of the stream; iterate it to get :class:`~stream.records.Record` objects.

    Examples
    --------
    >>> records = list(SyntheticStream(count=5, seed=1))
    >>> [(r.source, r.label) for r in records][:3]
    [('payments', 'payments/0'), ('weblogs', 'weblogs/1'), ('sensors', 'sensors/0')]
    >>> records[1].features
    {'latency_ms': 1083.7, 'status': '500', 'tier': 'pro'}
    """

    count: int = 20_000
    seed: int = 0
    drift_at: float = 0.6
    interval_ms: int = 10
    start_ms: int = _START_MS

    def __iter__(self) -> Iterator[Record]:
        rng = np.random.default_rng(self.seed)
        sources = rng.choice(3, size=self.count, p=_SOURCE_SHARES)
        drift_index = int(self.drift_at * self.count)
        for i, source in enumerate(sources):
            event_time = self.start_ms + i * self.interval_ms
            make = (_sensor, _payment, _weblog)[source]
            name, cluster, features = make(rng, moved=i >= drift_index)
            yield Record(name, f"{name}-{i}", event_time, features, f"{name}/{cluster}")


def _sensor(rng: np.random.Generator, moved: bool) -> tuple[str, int, dict]:
    cluster = int(rng.choice(4, p=_SENSOR_SHARES))
    centre = _SENSOR_MOVED if moved and cluster == 3 else _SENSOR_CENTRES[cluster]
    x = centre + rng.normal(size=3) * _SENSOR_SCALES * (1 + cluster % 2)
    features = {
        "temperature": round(float(x[0]), 2),
        "humidity": round(float(np.clip(x[1], 0, 100)), 2),
        "vibration": round(float(abs(x[2])), 3),
    }
    return "sensors", cluster, features


def _payment(rng: np.random.Generator, moved: bool) -> tuple[str, int, dict]:
    cluster = int(rng.choice(3, p=_PAYMENT_SHARES))
    log_amount, hour, channels, countries = _PAYMENT_PROFILES[cluster]
    features = {
        "amount": round(float(np.exp(rng.normal(log_amount, 0.4))), 2),
        "hour": float(int(np.clip(rng.normal(hour, 1.5), 0, 23))),
        "channel": _CHANNELS[int(rng.choice(3, p=channels))],
        "country": countries[int(rng.integers(2))],
    }
    return "payments", cluster, features


def _weblog(rng: np.random.Generator, moved: bool) -> tuple[str, int, dict]:
    cluster = int(rng.choice(3, p=_WEBLOG_SHARES))
    latency, statuses, tiers = _WEBLOG_PROFILES[cluster]
    features = {
        "latency_ms": round(float(rng.gamma(4.0, latency / 4.0)), 1),
        "status": _STATUSES[int(rng.choice(3, p=statuses))],
        "tier": _TIERS[int(rng.choice(3, p=tiers))],
    }
    return "weblogs", cluster, features


def write_recording(stream: SyntheticStream, path: Path) -> int:
    """Write ``stream`` as a recording (one message per record on ``records.<source>``)."""
    from stream.recording import RecordingWriter

    header = {"schemas": dict.fromkeys(("sensors", "payments", "weblogs"), 1)}
    header["topics"] = [f"records.{name}" for name in header["schemas"]]
    offsets: dict[str, int] = {}
    with RecordingWriter(path, header) as out:
        for record in stream:
            topic = f"records.{record.source}"
            offset = offsets[topic] = offsets.get(topic, -1) + 1
            value = orjson.dumps(record_to_dict(record))
            out.write(Message(topic, 0, offset, record.id.encode(), value, record.event_time))
        return out.count
