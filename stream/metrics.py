"""Every Prometheus metric sgmstream exports, defined once (DESIGN §4).

Names follow Prometheus conventions: base units (seconds), ``_total`` for counters (added by
the client library to the names below), low-cardinality labels only (``source``, ``reason``,
``topic`` / ``partition``). A process tells its instances apart by the scrape target, so no
metric carries the worker's name.

Not exported yet, because what they measure is not built: ``sgm_model_staleness_seconds``,
``sgm_update_propagation_seconds`` and ``sgm_global_model_version`` (the aggregator and the
shared global model).

Examples
--------
>>> metrics = WorkerMetrics()
>>> metrics.deadletter.labels(reason="not_json").inc()
>>> metrics.value("sgm_deadletter_total", reason="not_json")
1.0
"""

from __future__ import annotations

import time
from collections import Counter as Tally

import numpy as np
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from stream.exceptions import ConfigError

__all__ = ["WorkerMetrics", "serve"]

# Event lag from a live source is milliseconds to seconds; a backlog or a replay reaches hours.
_LAG_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800, 3600, 86400)
_BATCH_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
_ADAPT_BUCKETS = (1, 5, 10, 30, 60, 120, 300, 600, 1800, 3600)


class WorkerMetrics:
    """The metrics of one worker process, in their own registry.

    Updated once per batch (:meth:`batch`) and at every commit (:meth:`lag`); a worker serves
    them over HTTP with :func:`serve`.
    """

    def __init__(self, registry: CollectorRegistry | None = None):
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self.records = Counter("sgm_records", "Records processed", ["source"], registry=r)
        self.deadletter = Counter(
            "sgm_deadletter", "Messages rejected and dead-lettered", ["reason"], registry=r
        )
        self.event_lag = Histogram(
            "sgm_event_lag_seconds",
            "Time of assignment minus the record's event time",
            buckets=_LAG_BUCKETS,
            registry=r,
        )
        self.processing = Histogram(
            "sgm_processing_seconds",
            "Time from a batch's poll to its assignments being sent",
            buckets=_BATCH_BUCKETS,
            registry=r,
        )
        self.consumer_lag = Gauge(
            "sgm_consumer_lag_records",
            "End offset minus committed offset, per owned partition",
            ["topic", "partition"],
            registry=r,
        )
        self.drift = Counter("sgm_drift_detected", "Drift events raised", ["source"], registry=r)
        self.adaptation = Histogram(
            "sgm_drift_adaptation_seconds",
            "Event time from a drift event until the map is back within its pre-drift band",
            buckets=_ADAPT_BUCKETS,
            registry=r,
        )
        self.neurons = Gauge("sgm_neurons", "Live neurons of the map", registry=r)
        self.clusters = Gauge("sgm_clusters", "Clusters the map finds", registry=r)
        self.quantization = Gauge(
            "sgm_quantization_error", "Mean winner distance of the last batch", registry=r
        )
        self._source_of: dict[int, str] = {}  # cluster -> source of its latest record

    def batch(self, outcome, model, polled_at: float) -> None:
        """Count one processed batch (a :class:`~stream.pipeline.BatchResult`)."""
        now = time.time()
        for source, n in Tally(r.source for r in outcome.records).items():
            self.records.labels(source=source).inc(n)
        for _, rejection in outcome.rejected:
            self.deadletter.labels(reason=str(rejection.reason)).inc()
        # One observation per record (the client has no bulk form): about 2 us each, a few
        # per cent of what the worker spends on a record.
        for record in outcome.records:
            self.event_lag.observe(max(0.0, now - record.event_time / 1000.0))
        self._source_of.update(
            zip(outcome.clusters.tolist(), (r.source for r in outcome.records), strict=True)
        )
        for event in outcome.drift_events:
            sources = {self._source_of.get(c, "unknown") for c in event.clusters}
            self.drift.labels(source=",".join(sorted(sources)) or "all").inc()
        for readaptation in outcome.readaptations:
            if readaptation.seconds is not None:
                self.adaptation.observe(readaptation.seconds)
        finite = outcome.distance[np.isfinite(outcome.distance)]
        if finite.size:
            self.quantization.set(float(finite.mean()))
        self.neurons.set(model.n_neurons)
        self.clusters.set(model.n_clusters)
        self.processing.observe(time.monotonic() - polled_at)

    def lag(self, ends: dict[tuple[str, int], int], committed: dict[tuple[str, int], int]):
        """Set the consumer lag of the owned partitions; forget the others."""
        self.consumer_lag.clear()
        for (topic, partition), end in ends.items():
            behind = max(0, end - committed.get((topic, partition), 0))
            self.consumer_lag.labels(topic=topic, partition=str(partition)).set(behind)

    def value(self, name: str, **labels: str) -> float | None:
        """One sample's current value (``None`` if it was never set), for tests and tools."""
        return self.registry.get_sample_value(name, labels)


def serve(metrics: WorkerMetrics, port: int, address: str = "0.0.0.0"):
    """Serve ``/metrics`` on ``port``; returns the server (call ``shutdown()`` to stop it)."""
    try:
        server, _ = start_http_server(port, addr=address, registry=metrics.registry)
    except OSError as exc:
        raise ConfigError(
            f"cannot serve metrics on port {port} ({exc.strerror}): pass --metrics-port with "
            "a free port, or 0 for none"
        ) from None
    return server
