"""Offline evaluation of a recording with exactly the worker's code (``sgmstream evaluate``).

A :class:`~stream.source.Source` (usually a recording file) is drained batch by batch through a
:class:`~stream.pipeline.Pipeline`. Every batch is predicted before it is learned, so the
scores are prequential. When records carry labels, ARI, NMI and purity are computed over
sliding windows and over the whole stream; labels never reach the model.

``report.json`` schema (version 1), keys in this order:

``report_version``
    1.
``input``
    The recording's file name, its header, and ``bad_lines``: the first 100 lines that could
    not be read, as ``{line, reason}`` (they are skipped and counted as ``bad_line``).
``records``
    Records accepted and learned.
``deadletter``
    Rejected input by reason code (validation reasons, plus ``bad_line`` for recording lines
    that could not be read at all).
``metrics``
    ``{ari, nmi, purity, k_found, k_true}`` over the whole stream (``null`` without labels);
    ``k_found`` is the number of clusters of the final model, ``k_true`` the number of labels.
``windows``
    ``[{start, end, ari, nmi, purity, k_found, k_true}]``: consecutive windows of accepted
    records, ``end`` exclusive; ``k_found`` is the model's cluster count at the window's end.
``drift_events``
    ``[{index, event_time, kind, clusters}]``: ``index`` counts accepted records from 0.
``model``
    ``{neurons, clusters}`` of the final model.
``compare``
    Baselines run on the same encoded records (only with ``--compare``), by name:
    ``{ari, nmi, purity, k_found}``.
``throughput_rps``, ``timing``
    Wall-clock figures; the only keys that differ between two runs on the same recording.
    ``timing`` is ``{seconds, stages}``: the whole run, and the seconds spent in each stage of
    the pipeline (``validate``, ``encode``, ``assign``, ``learn``, ``drift``, see
    :class:`~stream.pipeline.BatchResult`); the rest of ``seconds`` is reading the recording.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import numpy as np
import orjson

from stream.baselines import compare_baselines
from stream.pipeline import STAGES, Pipeline
from stream.plots import plot_map, plot_quality
from stream.progress import ProgressLine
from stream.recording import RecordingSource
from stream.scores import agreement
from stream.source import Source

__all__ = ["REPORT_VERSION", "TIMING_KEYS", "Evaluation", "evaluate", "run_evaluation"]

REPORT_VERSION = 1
TIMING_KEYS = ("throughput_rps", "timing")


@dataclass
class Evaluation:
    """Everything gathered while draining a source; :meth:`report` turns it into the JSON."""

    labels: list = field(default_factory=list)
    clusters: list[np.ndarray] = field(default_factory=list)
    k_after: list[tuple[int, int]] = field(default_factory=list)  # (records so far, n_clusters)
    deadletter: Counter = field(default_factory=Counter)
    drift_events: list[dict] = field(default_factory=list)
    encoded: list[np.ndarray] = field(default_factory=list)
    seconds: float = 0.0
    stage_seconds: Counter = field(default_factory=Counter)

    @property
    def predicted(self) -> np.ndarray:
        return np.concatenate(self.clusters) if self.clusters else np.empty(0, dtype=np.int64)

    def report(self, pipeline: Pipeline, window: int, source: RecordingSource) -> dict:
        predicted = self.predicted
        bad_lines = [{"line": e.line_number, "reason": e.reason} for e in source.errors[:100]]
        if source.errors:
            self.deadletter["bad_line"] = len(source.errors)
        return {
            "report_version": REPORT_VERSION,
            "input": {
                "file": source.recording.path.name,
                "header": source.header,
                "bad_lines": bad_lines,
            },
            "records": int(predicted.size),
            "deadletter": dict(sorted(self.deadletter.items())),
            "metrics": self._scores(0, predicted.size, pipeline.model.n_clusters),
            "windows": [
                {"start": start, "end": end, **self._scores(start, end, self._k_at(end))}
                for start, end in _windows(predicted.size, window)
            ],
            "drift_events": self.drift_events,
            "model": {"neurons": pipeline.model.n_neurons, "clusters": pipeline.model.n_clusters},
        }

    def _k_at(self, end: int) -> int:
        return next(k for seen, k in self.k_after if seen >= end)

    def _scores(self, start: int, end: int, k_found: int) -> dict:
        labels = self.labels[start:end]
        known = np.array([label is not None for label in labels], dtype=bool)
        truth = np.array([str(label) for label in labels], dtype=object)[known]
        k_true = len(set(truth)) if known.any() else None
        scores = agreement(truth, self.predicted[start:end][known])
        return {**scores, "k_found": k_found, "k_true": k_true}


def _windows(n: int, window: int) -> list[tuple[int, int]]:
    return [(start, min(start + window, n)) for start in range(0, n, window)]


def evaluate(
    source: Source,
    pipeline: Pipeline,
    *,
    batch_size: int = 1000,
    keep_encoded: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> Evaluation:
    """Drain ``source`` through ``pipeline``; ``progress(records, rejected)`` after each batch."""
    run = Evaluation()
    pipeline.load_kernels()  # a one-time start-up cost: not part of the processing rate
    started = time.perf_counter()
    seen = 0
    while not source.exhausted:
        batch = source.poll(max_records=batch_size, timeout_s=0.0)
        result = pipeline.process(batch)
        run.deadletter.update(str(rejection.reason) for _, rejection in result.rejected)
        run.stage_seconds.update(result.seconds)
        run.labels.extend(record.label for record in result.records)
        run.clusters.append(np.asarray(result.clusters, dtype=np.int64))
        if keep_encoded and result.records:
            run.encoded.append(result.encoded)
        run.drift_events.extend(_event_summary(event) for event in result.drift_events)
        seen += len(result.records)
        run.k_after.append((seen, pipeline.model.n_clusters))
        if progress is not None:
            progress(seen, sum(run.deadletter.values()))
    run.seconds = time.perf_counter() - started
    return run


def _event_summary(event) -> dict:
    document = event.to_dict()
    return {
        "index": document["index"],
        "event_time": document.get("event_time"),
        "kind": document["kind"],
        "clusters": list(document.get("clusters", [])),
    }


def run_evaluation(
    source: RecordingSource,
    pipeline: Pipeline,
    report_dir: Path,
    *,
    batch_size: int = 1000,
    window: int = 1000,
    compare: bool = False,
    progress_stream: IO[str] | None = None,
) -> dict:
    """Evaluate, then write ``report.json`` and the PNG plots into ``report_dir``."""
    total = source.recording.scan().messages  # one quick pass, for the ETA
    progress = ProgressLine(progress_stream)
    started = time.monotonic()

    def show(records: int, rejected: int) -> None:
        if progress.due():
            progress.update(_progress_text(records + rejected, total, started, rejected))

    run = evaluate(source, pipeline, batch_size=batch_size, keep_encoded=compare, progress=show)
    rejected = sum(run.deadletter.values()) + len(source.errors)
    progress.finish(_progress_text(total, total, started, rejected))
    report = run.report(pipeline, window, source)
    if compare:
        k_true = report["metrics"]["k_true"]
        report["compare"] = compare_baselines(run.encoded, run.labels, k_true)
    report["throughput_rps"] = round(report["records"] / max(run.seconds, 1e-9), 1)
    report["timing"] = {
        "seconds": round(run.seconds, 3),
        "stages": {stage: round(run.stage_seconds[stage], 3) for stage in STAGES},
    }
    _write(report, pipeline, report_dir)
    return report


def _progress_text(done: int, total: int, started: float, rejected: int) -> str:
    elapsed = time.monotonic() - started
    rate = done / elapsed if elapsed > 0 else 0.0
    eta = (total - done) / rate if rate > 0 else float("nan")
    share = 100.0 * done / total if total else 100.0
    return (
        f"evaluate: {done}/{total} messages ({share:.0f} %), {rate:,.0f}/s, "
        f"{rejected} rejected, ETA {eta:.0f} s"
    )


def _write(report: dict, pipeline: Pipeline, report_dir: Path) -> None:
    report_dir.mkdir(parents=True, exist_ok=True)
    (report_dir / "report.json").write_bytes(orjson.dumps(report, option=orjson.OPT_INDENT_2))
    plot_quality(report, report_dir / "quality.png")
    model = pipeline.model
    plot_map(model.prototypes, model.neuron_clusters, model.neuron_counts, report_dir / "map.png")
