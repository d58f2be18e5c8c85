"""Active drift detection on a Self-Growth Map: DriftMonitor vs river's detectors on global QE.

Streams with known drift points (abrupt and gradual): a new small cluster appears, a small
cluster (2% of records) moves, a large cluster vanishes, shares change while no cluster moves,
and a long stationary stream for false alarms. Every stream is run once through one map; in the
same run, on the same map output, ``DriftMonitor`` and river's ``ADWIN``, ``PageHinkley`` and
``KSWIN`` (fed the global quantization error as means over mini-windows of records) are scored.

Per stream and detector: drifts detected, median detection delay (records), false alarms per
100,000 records, extra alarms raised for a drift already detected, and (ours) the records and
event-time seconds until the affected region's QE was back within its pre-drift band.

    python -m benchmarks.drift                 # full run, markdown table on stdout
    python -m benchmarks.drift --quick         # smaller, for a smoke test
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from dataclasses import dataclass

import numpy as np
from river import drift as river_drift

from models.cluster import SelfGrowthMap
from models.drift import DriftMonitor, ReadaptationTracker, react

RATE = 1000.0  # records per second of event time in the synthetic streams
DIM = 4
SHARES = np.array([0.33, 0.25, 0.18, 0.12, 0.10, 0.02])


@dataclass
class Stream:
    name: str
    X: np.ndarray
    drift_start: int | None  # first record of the new concept (None: stationary)
    drift_end: int | None  # first record where the new concept is complete


def _centres(rng: np.random.Generator, k: int) -> np.ndarray:
    """``k`` centres at least 8 standard deviations apart (the clusters are separable)."""
    centres: list[np.ndarray] = []
    while len(centres) < k:
        c = rng.uniform(-12, 12, DIM)
        if all(np.linalg.norm(c - o) > 8.0 for o in centres):
            centres.append(c)
    return np.array(centres)


def _draw(rng, centres, shares, n) -> np.ndarray:
    y = rng.choice(len(shares), size=n, p=shares / shares.sum())
    return centres[y] + rng.normal(size=(n, DIM))


def _mix(rng, before, after, n, start, width) -> np.ndarray:
    """Records from ``before`` then ``after`` (callables of a size); a linear ramp of ``width``."""
    position = np.arange(n)
    p_after = np.clip((position - start) / max(width, 1), 0.0, 1.0) if width else position >= start
    use_after = rng.random(n) < p_after
    X = before(n)
    X[use_after] = after(int(use_after.sum()))
    return X


def make_streams(seed: int, n: int, start: int, width: int, gradual: bool) -> list[Stream]:
    rng = np.random.default_rng(seed)
    centres = _centres(rng, len(SHARES) + 2)
    base, spare = centres[: len(SHARES)], centres[len(SHARES) :]
    w = width if gradual else 0
    tag = "gradual" if gradual else "abrupt"
    end = start + w

    def before(m):
        return _draw(rng, base, SHARES, m)

    new_centres = np.vstack([base, spare[:1]])
    new_shares = np.append(SHARES * 0.98, 0.02)
    moved = base.copy()
    moved[-1] = spare[1]  # the 2% cluster jumps to free space
    no_large = SHARES.copy()
    no_large[1] = 0.0  # the 25% cluster vanishes
    reshared = np.array([0.13, 0.25, 0.18, 0.32, 0.10, 0.02])  # no centre moves
    return [
        Stream(
            f"new small cluster (2%), {tag}",
            _mix(rng, before, lambda m: _draw(rng, new_centres, new_shares, m), n, start, w),
            start,
            end,
        ),
        Stream(
            f"small cluster (2%) moves, {tag}",
            _mix(rng, before, lambda m: _draw(rng, moved, SHARES, m), n, start, w),
            start,
            end,
        ),
        Stream(
            f"large cluster (25%) vanishes, {tag}",
            _mix(rng, before, lambda m: _draw(rng, base, no_large, m), n, start, w),
            start,
            end,
        ),
        Stream(
            f"shares change, no move, {tag}",
            _mix(rng, before, lambda m: _draw(rng, base, reshared, m), n, start, w),
            start,
            end,
        ),
    ]


def stationary_stream(seed: int, n: int) -> Stream:
    rng = np.random.default_rng(seed)
    return Stream("stationary", _draw(rng, _centres(rng, len(SHARES)), SHARES, n), None, None)


class _RiverOnQE:
    """A river detector fed the map's global quantization error, one mean per mini-window."""

    def __init__(self, detector, window: int):
        self.detector, self.window = detector, window
        self._sum, self._count = 0.0, 0

    def update_many(self, distance: np.ndarray, offset: int) -> list[int]:
        alarms = []
        for i, d in enumerate(distance):
            if not np.isfinite(d):
                continue
            self._sum += d
            self._count += 1
            if self._count == self.window:
                self.detector.update(self._sum / self.window)
                self._sum, self._count = 0.0, 0
                if self.detector.drift_detected:
                    alarms.append(offset + i)
        return alarms


def run_stream(stream: Stream, batch: int, qe_window: int, seed: int) -> dict:
    sgm = SelfGrowthMap(seed=seed)
    monitor = DriftMonitor()
    tracker = ReadaptationTracker()
    baselines = {
        "river ADWIN (global QE)": _RiverOnQE(river_drift.ADWIN(), qe_window),
        "river PageHinkley (global QE)": _RiverOnQE(river_drift.PageHinkley(), qe_window),
        "river KSWIN (global QE)": _RiverOnQE(river_drift.KSWIN(seed=seed), qe_window),
    }
    alarms: dict[str, list[int]] = {"DriftMonitor (ours)": []}
    alarms.update({name: [] for name in baselines})
    events, readaptations = [], []
    for offset in range(0, len(stream.X), batch):
        X = stream.X[offset : offset + batch]
        times = (offset + np.arange(len(X))) / RATE
        out = sgm.transform_many(X)  # test, then train: the map has not seen these records
        raised = monitor.update_many(
            out["cluster"], out["distance"], out["novelty"], times, out["neuron"]
        )
        labels = sgm.neuron_ids, sgm.neuron_clusters
        sgm.learn_many(X)
        for event in raised:
            react(sgm, event)
        now = sgm.neuron_ids, sgm.neuron_clusters
        if not all(np.array_equal(a, b) for a, b in zip(labels, now, strict=True)):
            monitor.relabel(*now)  # re-merging moved records between cluster ids
        readaptations += tracker.update_many(
            out["cluster"], out["distance"], times, raised, out["neuron"]
        )
        events += raised
        alarms["DriftMonitor (ours)"] += [e.index for e in raised]
        for name, detector in baselines.items():
            alarms[name] += detector.update_many(out["distance"], offset)
    return {"alarms": alarms, "events": events, "readaptations": readaptations}


def score(stream: Stream, alarms: list[int], burn_in: int, tolerance: int) -> dict:
    """Delay of the first alarm attributed to the drift, false and extra alarms."""
    alarms = [a for a in alarms if a >= burn_in]
    if stream.drift_start is None:
        return {"delay": None, "false": len(alarms), "extra": 0}
    lo, hi = stream.drift_start, stream.drift_end + tolerance
    inside = [a for a in alarms if lo <= a < hi]
    outside = [a for a in alarms if not lo <= a < hi]
    return {
        "delay": inside[0] - lo if inside else None,
        "false": len(outside),
        "extra": max(len(inside) - 1, 0),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=5, help="streams per scenario")
    parser.add_argument("--length", type=int, default=60_000, help="records per drift stream")
    parser.add_argument("--drift-at", type=int, default=30_000, help="first drifted record")
    parser.add_argument("--width", type=int, default=5_000, help="gradual transition length")
    parser.add_argument("--stationary", type=int, default=1_000_000, help="stationary records")
    parser.add_argument("--batch", type=int, default=1_000, help="records per batch")
    parser.add_argument("--qe-window", type=int, default=50, help="records per QE mean (river)")
    parser.add_argument("--burn-in", type=int, default=5_000, help="records ignored (map start)")
    parser.add_argument("--tolerance", type=int, default=10_000, help="records after a drift")
    parser.add_argument("--quick", action="store_true", help="2 seeds, short streams")
    args = parser.parse_args(argv)
    if args.quick:
        args.seeds, args.stationary = 2, 200_000

    rows: dict[tuple[str, str], dict] = {}
    kinds: dict[str, list[str]] = {}
    started = time.perf_counter()
    scenarios: list[Stream] = []
    for seed in range(args.seeds):
        for gradual in (False, True):
            scenarios += make_streams(seed, args.length, args.drift_at, args.width, gradual)
    scenarios.append(stationary_stream(1000, args.stationary))
    for k, stream in enumerate(scenarios):
        print(
            f"[{k + 1}/{len(scenarios)}] {stream.name} ({len(stream.X):,} records, "
            f"{time.perf_counter() - started:.0f} s)",
            file=sys.stderr,
        )
        result = run_stream(stream, args.batch, args.qe_window, seed=0)
        for name, found in result["alarms"].items():
            row = rows.setdefault(
                (stream.name, name),
                {"delays": [], "missed": 0, "drifts": 0, "false": 0, "extra": 0, "records": 0},
            )
            s = score(stream, found, args.burn_in, args.tolerance)
            row["records"] += len(stream.X) - args.burn_in
            row["false"] += s["false"]
            row["extra"] += s["extra"]
            if stream.drift_start is not None:
                row["drifts"] += 1
                if s["delay"] is None:
                    row["missed"] += 1
                else:
                    row["delays"].append(s["delay"])
        if stream.drift_start is not None:
            ours = rows[(stream.name, "DriftMonitor (ours)")]
            lo, hi = stream.drift_start, stream.drift_end + args.tolerance
            first = next((e for e in result["events"] if lo <= e.index < hi), None)
            if first is not None:
                kinds.setdefault(stream.name, []).append(first.kind)
                done = next((r for r in result["readaptations"] if r.event is first), None)
                ours.setdefault("readapt", []).append(done)
    print(render(rows, kinds, args), end="")
    print(f"total {time.perf_counter() - started:.0f} s", file=sys.stderr)
    return 0


def render(rows: dict, kinds: dict, args) -> str:
    lines = [
        "| stream | detector | detected | median delay (records) | false alarms / 100k "
        "| extra alarms | re-adapt: median records (s), back in band |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for (stream, name), row in rows.items():
        drifts = row["drifts"]
        detected = f"{drifts - row['missed']}/{drifts}" if drifts else "—"
        delay = f"{statistics.median(row['delays']):.0f}" if row["delays"] else "—"
        false = 100_000 * row["false"] / max(row["records"], 1)
        readapt = "—"
        if "readapt" in row:
            done = [r for r in row["readapt"] if r is not None and r.records is not None]
            if done:
                med = statistics.median(r.records for r in done)
                sec = statistics.median(r.seconds for r in done)
                readapt = f"{med:.0f} ({sec:.1f} s), {len(done)}/{len(row['readapt'])}"
            else:
                readapt = f"never, 0/{len(row['readapt'])}"
        lines.append(
            f"| {stream} | {name} | {detected} | {delay} | {false:.2f} | {row['extra']} "
            f"| {readapt} |"
        )
    lines.append("")
    lines.append("Kind of our first event per drifted stream:")
    lines.append("")
    for stream, found in kinds.items():
        counts = {k: found.count(k) for k in sorted(set(found))}
        lines.append(f"- {stream}: " + ", ".join(f"{k} x{v}" for k, v in counts.items()))
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
