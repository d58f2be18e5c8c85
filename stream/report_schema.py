"""JSON Schema of ``report.json`` written by ``sgmstream evaluate`` (report version 1).

Kept as data so that users can validate reports with any JSON Schema tool, and the test suite
does exactly that. The meaning of each key is documented in :mod:`stream.evaluation`.
"""

from __future__ import annotations

from models.drift import EVENT_KINDS
from stream.pipeline import STAGES

__all__ = ["REPORT_SCHEMA"]

_SCORE = {"type": ["number", "null"]}
_COUNT = {"type": "integer", "minimum": 0}
_SCORES = {
    "ari": _SCORE,
    "nmi": _SCORE,
    "purity": _SCORE,
    "k_found": _COUNT,
    "k_true": {"type": ["integer", "null"], "minimum": 0},
}

REPORT_SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "sgmstream evaluation report",
    "type": "object",
    "required": [
        "report_version",
        "input",
        "records",
        "deadletter",
        "metrics",
        "windows",
        "drift_events",
        "model",
        "throughput_rps",
        "timing",
    ],
    "additionalProperties": False,
    "properties": {
        "report_version": {"const": 1},
        "input": {
            "type": "object",
            "required": ["file", "header", "bad_lines"],
            "properties": {
                "file": {"type": "string"},
                "header": {"type": "object"},
                "bad_lines": {
                    "type": "array",
                    "maxItems": 100,
                    "items": {
                        "type": "object",
                        "required": ["line", "reason"],
                        "properties": {"line": _COUNT, "reason": {"type": "string"}},
                    },
                },
            },
        },
        "records": _COUNT,
        "deadletter": {"type": "object", "additionalProperties": _COUNT},
        "metrics": {
            "type": "object",
            "required": list(_SCORES),
            "additionalProperties": False,
            "properties": _SCORES,
        },
        "windows": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["start", "end", *_SCORES],
                "additionalProperties": False,
                "properties": {"start": _COUNT, "end": _COUNT, **_SCORES},
            },
        },
        "drift_events": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["index", "event_time", "kind", "clusters"],
                "additionalProperties": False,
                "properties": {
                    "index": _COUNT,
                    "event_time": {"type": ["number", "null"]},
                    "kind": {"enum": list(EVENT_KINDS)},
                    "clusters": {"type": "array", "items": {"type": "integer"}},
                },
            },
        },
        "model": {
            "type": "object",
            "required": ["neurons", "clusters"],
            "properties": {"neurons": _COUNT, "clusters": _COUNT},
        },
        "compare": {
            "type": "object",
            "additionalProperties": {
                "type": "object",
                "required": ["ari", "nmi", "purity", "k_found"],
                "properties": {k: v for k, v in _SCORES.items() if k != "k_true"},
            },
        },
        "throughput_rps": {"type": "number", "minimum": 0},
        "timing": {
            "type": "object",
            "required": ["seconds"],  # "stages" came later in version 1: optional
            "properties": {
                "seconds": {"type": "number", "minimum": 0},
                "stages": {
                    "type": "object",
                    "required": list(STAGES),
                    "additionalProperties": False,
                    "properties": {stage: {"type": "number", "minimum": 0} for stage in STAGES},
                },
            },
        },
    },
}
