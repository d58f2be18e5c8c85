"""A long stationary run: does the pipeline stay put when the data does?

A long-running consumer sees the same distribution for months. This benchmark streams
``--count`` records of the synthetic three-source stream with its scripted drift switched off
(every cluster stays where it is, shares constant) through :class:`stream.pipeline.Pipeline`
(validation from the serialised bytes, mixed-type encoding, Self-Growth Map, drift
monitoring) in batches of 1,000, and reports per window of ``--window`` records:

* the pipeline's CPU time per record and the process's resident memory (Linux ``/proc``);
* the map: live neurons, neurons born in the window (at the ``max_neurons`` cap every birth
  recycles a neuron), the range of its cluster count over the window's batches (what a
  dashboard shows), how many cluster ids its predictions used in the window, and the
  prequential ARI of the window (each batch assigned before it is learned);
* the drift monitor's events in the window, by kind: on a stationary stream every one is a
  false alarm;
* the encoder: the largest relative change of a numeric field's learned scale since the end
  of the first window (a scale that keeps moving would move the whole space under the map).

Peer, in the same run: river's ``DBSTREAM`` with its defaults (as ``sgmstream evaluate
--compare`` runs it), predict-then-learn one record at a time on the same encoded records
(missing values as 0), with its CPU time per record, the cluster ids its predictions used in
the window and its prequential ARI. ``--no-peer`` leaves it out (it is about 5x slower than the
pipeline).

    python -m benchmarks.soak                       # 500,000 records, windows of 50,000
    python -m benchmarks.soak --count 2000000 --no-peer
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
import orjson
from sklearn.metrics import adjusted_rand_score

from producers.synthetic import SyntheticStream
from stream.pipeline import Pipeline
from stream.records import record_to_dict
from stream.schema import SchemaRegistry
from stream.source import Message

SCHEMAS = Path(__file__).resolve().parent.parent / "deploy/schemas/synthetic.yaml"
BATCH = 1_000
SEED = 7


class Window:
    """What one window of the run saw."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.peer_seconds = 0.0
        self.born = 0
        self.clusters: list[int] = []
        self.events: Counter = Counter()
        self.labels: list[str] = []
        self.predicted: list[int] = []
        self.peer_predicted: list[int] = []


def batches(count: int, seed: int):
    """The stationary stream, as batches of serialised messages with their labels."""
    stream = iter(SyntheticStream(count=count, seed=seed, drift_at=2.0))
    for start in range(0, count, BATCH):
        records = [next(stream) for _ in range(min(BATCH, count - start))]
        messages = [
            Message("records", 0, start + i, None, orjson.dumps(record_to_dict(r)), 0)
            for i, r in enumerate(records)
        ]
        yield messages, [r.label for r in records]


def run_peer(model, X: np.ndarray, window: Window) -> None:
    started = time.process_time()
    for row in np.nan_to_num(X):
        x = dict(enumerate(row.tolist()))
        window.peer_predicted.append(model.predict_one(x))
        model.learn_one(x)
    window.peer_seconds += time.process_time() - started


def resident_mb() -> float:
    return int(Path("/proc/self/statm").read_text().split()[1]) * 4096 / 2**20


def report(done: int, window: Window, pipeline: Pipeline, moved: float, peer: bool) -> str:
    n = len(window.labels)
    events = ", ".join(f"{kind} {c}" for kind, c in sorted(window.events.items())) or "none"
    row = (
        f"| {done:,} | {window.seconds / n * 1e6:.1f} | {resident_mb():.0f} "
        f"| {pipeline.model.n_neurons} | {window.born} "
        f"| {min(window.clusters)}-{max(window.clusters)} | {len(set(window.predicted))} "
        f"| {adjusted_rand_score(window.labels, window.predicted):.3f} | {events} "
        f"| {moved:.3f} |"
    )
    if peer:
        row += (
            f" {window.peer_seconds / n * 1e6:.0f} | {len(set(window.peer_predicted))} "
            f"| {adjusted_rand_score(window.labels, window.peer_predicted):.3f} |"
        )
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="A long stationary run of the pipeline: speed, memory, clusters, false "
        "drift alarms and encoder scales per window, river's DBSTREAM alongside."
    )
    parser.add_argument("--count", type=int, default=500_000, help="records (default 500,000)")
    parser.add_argument(
        "--window", type=int, default=50_000, help="records per reported window (default 50,000)"
    )
    parser.add_argument("--seed", type=int, default=SEED, help=f"stream seed (default {SEED})")
    parser.add_argument("--no-peer", action="store_true", help="leave river's DBSTREAM out")
    args = parser.parse_args(argv)
    if args.count < 1 or args.window < BATCH or args.window % BATCH:
        parser.error(f"--count must be positive and --window a multiple of {BATCH:,}")

    pipeline = Pipeline(SchemaRegistry.load(SCHEMAS))
    pipeline.load_kernels()
    peer = None
    if not args.no_peer:
        from river import cluster

        peer = cluster.DBSTREAM()
    header = "| records | us/record | RSS MB | neurons | born | k | ids seen | ARI | drift events "
    header += "| scale moved |"
    if peer is not None:
        header += " DBSTREAM us/record | DBSTREAM ids seen | DBSTREAM ARI |"
    print(header)
    print("|" + " ---: |" * (header.count("|") - 1))
    window, known, reference, done = Window(), set(), None, 0
    for messages, labels in batches(args.count, args.seed):
        started = time.process_time()
        result = pipeline.process(messages)
        window.seconds += time.process_time() - started
        if result.rejected:  # the labels below would no longer line up with the records
            raise SystemExit(f"unexpected rejection: {result.rejected[0][1]}")
        if peer is not None:
            run_peer(peer, result.encoded, window)
        alive = set(pipeline.model.neuron_ids.tolist())
        window.born += len(alive - known)
        known = alive
        window.clusters.append(pipeline.model.n_clusters)
        window.events.update(event.kind for event in result.drift_events)
        window.labels += labels
        window.predicted += result.clusters.tolist()
        done += len(messages)
        if done % args.window == 0 or done == args.count:
            now = pipeline.encoder.numeric_scales
            reference = reference or now
            moved = max(abs(now[f] / reference[f] - 1) for f in reference)
            print(report(done, window, pipeline, moved, peer is not None), flush=True)
            window = Window()
    return 0


if __name__ == "__main__":
    sys.exit(main())
