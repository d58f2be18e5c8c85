"""Drift detectors and monitor: golden detection indices, silence when stationary, debouncing,
event serialisation, batch invariance and re-adaptation timing.

Golden indices were printed once by the code on these seeded streams and frozen here; each is
checked to lie just after the drift point it must detect, so it is determined by the stream.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from models.drift import (
    DriftEvent,
    DriftMonitor,
    ExceedanceCUSUM,
    HellingerShift,
    NeuronBirth,
    NoveltyMass,
    RateCUSUM,
    ReadaptationTracker,
    ShareCUSUM,
)


def _map_output(seed: int, n: int, shares=(0.6, 0.25, 0.13, 0.02), ids=(10, 20, 30, 40)):
    rng = np.random.default_rng(seed)
    cluster = rng.choice(np.array(ids), size=n, p=np.array(shares))
    distance = rng.gamma(4.0, 0.25, n) * (1.0 + 0.01 * cluster)
    return cluster, distance, distance / 2.0


def _feed(monitor, cluster, distance, novelty, batch=1000):
    events = []
    times = np.arange(len(cluster)) / 100.0
    for s in range(0, len(cluster), batch):
        part = slice(s, s + batch)
        events += monitor.update_many(cluster[part], distance[part], novelty[part], times[part])
    return events


# -- golden detection indices --------------------------------------------------------------------


def test_golden_small_cluster_moves():
    # The 2% cluster (id 40) is displaced at record 40,000: its members land 4x farther away.
    cluster, distance, novelty = _map_output(0, 60_000)
    moved = (cluster == 40) & (np.arange(60_000) >= 40_000)
    distance[moved] *= 4.0
    novelty[moved] *= 4.0
    events = _feed(DriftMonitor(), cluster, distance, novelty)
    assert [(e.kind, e.clusters, e.index) for e in events] == [("moved_cluster", (40,), 40_312)]
    assert events[0].detector == "cluster_novelty"
    assert events[0].event_time == pytest.approx(403.12)


def test_golden_small_cluster_vanishes_and_new_cluster_appears():
    n = 80_000
    cluster, distance, novelty = _map_output(1, n)
    late = np.arange(n) >= 40_000
    cluster[late & (cluster == 40)] = 10  # the 2% cluster's records now go elsewhere...
    rng = np.random.default_rng(9)
    newcomer = late & (rng.random(n) < 0.03)
    cluster[newcomer] = 99  # ...and a new 3% cluster appears
    events = _feed(DriftMonitor(), cluster, distance, novelty)
    first = events[0]
    assert (first.kind, first.clusters, first.index) == ("new_cluster", (99,), 40_367)
    assert first.detector == "cluster_share"


def test_golden_large_cluster_vanishes():
    n = 40_000
    cluster, distance, novelty = _map_output(2, n)
    keep = (cluster != 10) | (np.arange(n) < 25_000)
    events = _feed(DriftMonitor(), cluster[keep], distance[keep], novelty[keep])
    assert [(e.kind, e.clusters, e.index) for e in events] == [("vanished_cluster", (10,), 25_027)]


def test_golden_single_stream_detectors():
    rng = np.random.default_rng(4)
    values = np.concatenate([rng.gamma(2.0, 1.0, 5000), rng.gamma(2.0, 3.0, 1000)])
    assert ExceedanceCUSUM().update_many(values).tolist() == [5015]
    bits = np.concatenate([rng.random(6000) < 0.01, rng.random(2000) < 0.05])
    assert RateCUSUM().update_many(bits).tolist() == [7109]
    ids = np.concatenate(
        [rng.choice(3, 9000, p=[0.5, 0.3, 0.2]), rng.choice(3, 3000, p=[0.3, 0.3, 0.4])]
    )
    assert ShareCUSUM().update_many(ids).tolist() == [9160]
    assert HellingerShift().update_many(ids).tolist() == [10_999]


# -- no alarm when stationary ------------------------------------------------------------------


def test_no_event_on_long_stationary_stream():
    shares = (0.4, 0.3, 0.15, 0.1, 0.03, 0.02)
    cluster, distance, novelty = _map_output(5, 400_000, shares, ids=(1, 2, 3, 4, 5, 6))
    assert _feed(DriftMonitor(), cluster, distance, novelty, batch=5000) == []


@pytest.mark.parametrize("seed", [0, 1])
def test_single_stream_detectors_silent_when_stationary(seed):
    rng = np.random.default_rng(seed)
    assert len(ExceedanceCUSUM().update_many(rng.lognormal(0.0, 1.0, 300_000))) == 0
    assert len(RateCUSUM().update_many(rng.random(300_000) < 0.004)) == 0
    ids = rng.choice(5, 300_000, p=[0.4, 0.3, 0.2, 0.09, 0.01])
    assert len(ShareCUSUM().update_many(ids)) == 0
    assert len(HellingerShift().update_many(ids)) == 0


# -- one drift, one event ------------------------------------------------------------------------


def test_a_lasting_drift_raises_one_event():
    # The drift persists to the end of the stream; the monitor reports it once, then its
    # references learn the new regime instead of alarming again and again.
    cluster, distance, novelty = _map_output(6, 80_000)
    moved = (cluster == 30) & (np.arange(80_000) >= 30_000)
    distance[moved] += 3.0
    novelty[moved] += 1.5
    events = _feed(DriftMonitor(), cluster, distance, novelty)
    assert len(events) == 1
    assert events[0].clusters == (30,)


def test_single_stream_detector_reports_once_per_drift():
    rng = np.random.default_rng(8)
    values = np.concatenate([rng.gamma(2.0, 1.0, 5000), rng.gamma(2.0, 5.0, 20_000)])
    assert len(ExceedanceCUSUM().update_many(values)) == 1


def test_results_do_not_depend_on_batching():
    cluster, distance, novelty = _map_output(3, 40_000)
    distance[(cluster == 40) & (np.arange(40_000) >= 25_000)] *= 3.0
    whole = _feed(DriftMonitor(), cluster, distance, novelty, batch=40_000)
    pieces = _feed(DriftMonitor(), cluster, distance, novelty, batch=997)
    assert whole == pieces and len(whole) == 1
    single = DriftMonitor()
    for c, d, v in zip(cluster[24_000:], distance[24_000:], novelty[24_000:], strict=True):
        single.update({"cluster": int(c), "distance": float(d), "novelty": float(v)})
    batch = DriftMonitor()
    batch.update_many(cluster[24_000:], distance[24_000:], novelty[24_000:])
    assert [e.index for e in single.events] == [e.index for e in batch.events]


def test_snapshot_mid_stream_then_same_events():
    cluster, distance, novelty = _map_output(3, 40_000)
    distance[(cluster == 40) & (np.arange(40_000) >= 25_000)] *= 3.0
    monitor = DriftMonitor()
    monitor.update_many(cluster[:20_000], distance[:20_000], novelty[:20_000])
    restored = DriftMonitor.from_dict(json.loads(json.dumps(monitor.to_dict())))
    rest = (cluster[20_000:], distance[20_000:], novelty[20_000:])
    assert monitor.update_many(*rest) == restored.update_many(*rest)
    assert restored.n_records == 40_000


def test_missing_values_are_ignored():
    cluster, distance, novelty = _map_output(4, 30_000)
    distance[::7] = np.nan
    novelty[::7] = np.nan
    assert _feed(DriftMonitor(), cluster, distance, novelty) == []


# -- events ---------------------------------------------------------------------------------------


def test_event_json_round_trip():
    event = DriftEvent(
        "share_change", (3, 8), 12_345, 1.7e9, "share_hellinger", 0.012, 0.004, {"h": 0.11}
    )
    document = json.loads(event.to_json())
    assert document["kind"] == "share_change" and document["clusters"] == [3, 8]
    assert DriftEvent.from_json(event.to_json()) == event
    assert DriftEvent.from_dict(event.to_dict()) == event


def test_event_validation():
    with pytest.raises(ValueError, match="kind"):
        DriftEvent("exploded", (), 0, None, "x", 1.0, 1.0)
    with pytest.raises(ValueError, match="malformed"):
        DriftEvent.from_dict({"kind": "global"})
    event = DriftEvent("global", (), 5, None, "global_qe", float("inf"), 16.0)
    assert json.loads(event.to_json())["statistic"] is None


def test_monitor_events_are_json_serialisable():
    cluster, distance, novelty = _map_output(0, 60_000)
    distance[(cluster == 40) & (np.arange(60_000) >= 40_000)] *= 4.0
    [event] = _feed(DriftMonitor(), cluster, distance, novelty)
    assert DriftEvent.from_json(event.to_json()) == event
    assert {"reference_qe_mean", "reference_qe_std"} <= set(event.evidence)


# -- re-adaptation ---------------------------------------------------------------------------------


def _relearned_move(n: int = 60_000):
    """Cluster 40 moves at 40,000; the "map" re-learns it: from record 43,000 on its members
    are back at their usual distance. Event times are 100 records a second."""
    cluster, distance, novelty = _map_output(0, n)
    position = np.arange(n)
    moved = (cluster == 40) & (position >= 40_000) & (position < 43_000)
    distance[moved] *= 4.0
    novelty[moved] *= 4.0
    return cluster, distance, novelty, position / 100.0


def test_readaptation_records_and_seconds():
    n = 60_000
    cluster, distance, novelty, times = _relearned_move(n)
    monitor, tracker = DriftMonitor(), ReadaptationTracker()
    done = []
    for s in range(0, n, 1000):
        part = slice(s, s + 1000)
        events = monitor.update_many(cluster[part], distance[part], novelty[part], times[part])
        done += tracker.update_many(cluster[part], distance[part], times[part], events)
    [result] = done
    assert result.event.index == 40_312
    back = result.index
    assert 43_000 <= back < 43_000 + 20 * 100  # within ~20 members of cluster 40 after recovery
    assert result.records == back - 40_312
    assert result.seconds == pytest.approx(result.records / 100.0)
    assert tracker.pending == []


def test_readaptation_counts_new_clusters_as_the_region():
    event = DriftEvent(
        "moved_cluster", (7,), 9, None, "cluster_novelty", 20.0, 16.0,
        {"reference_qe_mean": 1.0, "reference_qe_std": 0.1},
    )  # fmt: skip
    tracker = ReadaptationTracker(window=5)
    cluster = np.array([1] * 10 + [7] * 5 + [8] * 10)  # cluster 8 is born after the event
    distance = np.array([1.0] * 10 + [5.0] * 5 + [1.0] * 10)
    [result] = tracker.update_many(cluster, distance, events=[event])
    assert result.index == 19 and result.records == 10 and result.seconds is None


def test_readaptation_gives_up():
    event = DriftEvent(
        "global", (), 0, 0.0, "global_qe", 20.0, 16.0,
        {"reference_qe_mean": 1.0, "reference_qe_std": 0.1},
    )  # fmt: skip
    tracker = ReadaptationTracker(max_records=500)
    [result] = tracker.update_many(np.zeros(1000, dtype=int), np.full(1000, 9.0), events=[event])
    assert result.records is None and result.index is None


# -- per-neuron novelty mass, bounded state, tracker snapshots ------------------------------------


def _map_output_with_neurons(seed: int, n: int):
    """Map output with winner ids: 100 neurons, 4% of records novel, spread thinly."""
    cluster, distance, novelty = _map_output(seed, n)
    rng = np.random.default_rng(seed + 100)
    neuron = cluster * 10 + rng.integers(0, 25, n)  # 25 neurons per cluster, ids by cluster
    novelty = np.where(rng.random(n) < 0.04, 1.2, 0.5)
    return cluster, distance, novelty, neuron


def _feed_neurons(monitor, cluster, distance, novelty, neuron, batch=1000):
    events = []
    for s in range(0, len(cluster), batch):
        part = slice(s, s + batch)
        events += monitor.update_many(
            cluster[part], distance[part], novelty[part], None, neuron[part]
        )
    return events


def test_golden_new_cluster_absorbed_by_one_neuron():
    # From record 30,000 a new 2% cluster arrives at neuron 207 of cluster 20, novel but near
    # (as when the neuron widens to absorb it): no cluster id, share or cluster-wide distance
    # moves enough, nor does the rate of far records; the novelty mass does.
    n = 50_000
    cluster, distance, novelty, neuron = _map_output_with_neurons(7, n)
    new = (np.arange(n) >= 30_000) & (np.random.default_rng(70).random(n) < 0.02)
    cluster[new], neuron[new], novelty[new] = 20, 207, 1.5
    events = _feed_neurons(DriftMonitor(), cluster, distance, novelty, neuron)
    first = events[0]
    assert (first.kind, first.clusters, first.neurons) == ("new_cluster", (20,), (207,))
    assert (first.detector, first.index) == ("novelty_mass", 30_521)
    # Its band is the map's overall one: the new cluster had none of its own.
    assert first.evidence["reference_qe_mean"] == pytest.approx(np.mean(distance[:30_000]), 0.1)
    without = _feed(DriftMonitor(), cluster, distance, novelty)  # no neuron ids: not seen
    assert all(e.index > 31_000 for e in without)


def test_golden_new_cluster_far_outside_the_map():
    # From record 30,000 a new 2% cluster arrives far outside the map, its records won by the
    # two nearest neurons (207 of cluster 20, 113 of cluster 10): the rate of far records
    # sees it within 143 records and names both neurons, the one with more of them first.
    n = 50_000
    cluster, distance, novelty, neuron = _map_output_with_neurons(7, n)
    rng = np.random.default_rng(70)
    new = (np.arange(n) >= 30_000) & (rng.random(n) < 0.02)
    nearer = rng.random(n) < 0.6
    neuron[new] = np.where(nearer[new], 207, 113)
    cluster[new] = np.where(nearer[new], 20, 10)
    novelty[new] = rng.uniform(3.0, 6.0, new.sum())
    [first] = _feed_neurons(DriftMonitor(), cluster, distance, novelty, neuron)
    assert (first.kind, first.detector) == ("new_cluster", "far_novelty")
    assert (first.index, first.neurons, first.clusters) == (30_143, (113, 207), (10, 20))
    assert first.evidence["reference_rate"] < 1e-3  # nothing was far before the drift
    # Without winner ids the same records are seen at the same place, named by clusters.
    [alone] = _feed(DriftMonitor(), cluster, distance, novelty)
    assert (alone.index, alone.neurons, alone.clusters) == (first.index, (), (10, 20))


def test_golden_cluster_moved_far_from_its_neurons():
    # From record 30,000 cluster 40 (2%) lands far from its own neurons: its records are far
    # and nearly nothing else of it is left, so it moved (it was not a new cluster beside it).
    n = 50_000
    cluster, distance, novelty, neuron = _map_output_with_neurons(7, n)
    moved = (np.arange(n) >= 30_000) & (cluster == 40)
    novelty[moved] = np.random.default_rng(71).uniform(3.0, 6.0, moved.sum())
    [first] = _feed_neurons(DriftMonitor(), cluster, distance, novelty, neuron)
    assert (first.kind, first.detector, first.index) == ("moved_cluster", "far_novelty", 30_146)
    assert (first.clusters, first.neurons) == ((40,), ())


def test_no_event_with_neurons_on_long_stationary_stream():
    cluster, distance, novelty, neuron = _map_output_with_neurons(8, 300_000)
    assert _feed_neurons(DriftMonitor(), cluster, distance, novelty, neuron, batch=5000) == []


def test_neuron_results_do_not_depend_on_batching():
    n = 40_000
    cluster, distance, novelty, neuron = _map_output_with_neurons(9, n)
    new = (np.arange(n) >= 25_000) & (np.random.default_rng(90).random(n) < 0.02)
    neuron[new], novelty[new] = 113, 3.0
    neuron[np.arange(n) >= 20_000] += 1000 * (neuron[np.arange(n) >= 20_000] % 2)  # churn
    whole = _feed_neurons(DriftMonitor(), cluster, distance, novelty, neuron, batch=n)
    pieces = _feed_neurons(DriftMonitor(), cluster, distance, novelty, neuron, batch=997)
    assert whole == pieces and whole[0].neurons == (1113,)  # 113 is odd: shifted


def test_novelty_mass_retires_silent_neurons():
    # Neuron ids are never reused by a map: a long stream with churning ids must not grow
    # the detector's tables without bound.
    rng = np.random.default_rng(3)
    detector = NoveltyMass(horizon=2000, warmup=500)
    for phase in range(20):
        neuron = phase * 50 + rng.integers(0, 50, 5000)
        detector.update_many(neuron, rng.gamma(2.0, 0.25, 5000))
    assert detector._neurons.used().sum() <= 100 and len(detector._neurons) <= 128


def test_share_cusum_forgets_silent_clusters():
    # A map re-merging for months creates cluster ids and abandons them: the detector's table,
    # and its time per record, must stay bounded by the ids of the last ``horizon`` records.
    rng = np.random.default_rng(4)
    detector = ShareCUSUM(horizon=2000, warmup=500)
    for phase in range(30):
        detector.update_many(phase * 4 + rng.integers(0, 4, 5000))
    assert detector._clusters.used().sum() <= 8 and len(detector._clusters) <= 16


def test_monitor_state_stays_bounded_when_cluster_ids_churn():
    rng = np.random.default_rng(6)
    monitor = DriftMonitor(horizon=2000, warmup=500)
    sizes = []
    for phase in range(30):
        cluster = phase * 4 + rng.integers(0, 4, 5000)
        distance = rng.gamma(4.0, 0.25, 5000)
        monitor.update_many(cluster, distance, distance / 2)
        sizes.append(len(json.dumps(monitor.to_dict())))
    assert sizes[-1] <= 1.2 * sizes[9]


def test_a_share_that_keeps_falling_raises_one_event():
    # Cluster 20's share falls from 30% to nothing over 10,000 records, five cool-downs long:
    # one drift, one event (without the continuation rule: three, at 23,961, 26,967, 30,196).
    rng = np.random.default_rng(12)
    n = 40_000
    share = np.clip(0.3 * (1 - (np.arange(n) - 20_000) / 10_000), 0.0, 0.3)
    u = rng.random(n)
    cluster = np.where(u < share, 20, np.where(u < share + (1 - share) * 0.6, 10, 30))
    distance = rng.gamma(4.0, 0.25, n)
    events = _feed(DriftMonitor(), cluster, distance, distance / 2)
    assert [(e.kind, e.index, e.clusters) for e in events] == [("share_change", 23_961, (20,))]


def test_monitor_keeps_only_recent_events():
    monitor = DriftMonitor(history=2, cooldown=100, warmup=500)
    rng = np.random.default_rng(5)
    for k in range(5):  # five share changes, one after the other
        p = [0.7, 0.2, 0.1] if k % 2 else [0.2, 0.7, 0.1]
        cluster = rng.choice([1, 2, 3], 6000, p=p)
        distance = rng.gamma(4.0, 0.25, 6000)
        monitor.update_many(cluster, distance, distance / 2)
    assert monitor.n_events >= 4 and len(monitor.events) == 2
    restored = DriftMonitor.from_dict(json.loads(json.dumps(monitor.to_dict())))
    assert restored.events == monitor.events and len(restored.to_dict()["state"]) > 0


def test_readaptation_tracker_snapshot_mid_stream():
    n = 60_000
    cluster, distance, novelty, times = _relearned_move(n)
    monitor, tracker = DriftMonitor(), ReadaptationTracker()
    done, restored = [], None
    for s in range(0, n, 1000):
        part = slice(s, s + 1000)
        events = monitor.update_many(cluster[part], distance[part], novelty[part], times[part])
        done += tracker.update_many(cluster[part], distance[part], times[part], events)
        if s == 41_000:
            restored = ReadaptationTracker.from_dict(json.loads(json.dumps(tracker.to_dict())))
            assert len(restored.pending) == 1
            again = []
            for r in range(s + 1000, n, 1000):
                part = slice(r, r + 1000)
                again += restored.update_many(cluster[part], distance[part], times[part])
    [result] = done
    assert [r.to_dict() for r in again] == [result.to_dict()]


def test_readaptation_region_by_neurons():
    # The event names neuron 5 of cluster 1: the region is neuron 5 and neurons born later,
    # not the rest of cluster 1 (whose in-band records would end the measurement at once).
    event = DriftEvent(
        "new_cluster", (1,), 9, None, "novelty_mass", 25.0, 20.0,
        {"reference_qe_mean": 1.0, "reference_qe_std": 0.1}, neurons=(5,),
    )  # fmt: skip
    tracker = ReadaptationTracker(window=5)
    neuron = np.array([4, 5] * 5 + [4, 5] * 10 + [9] * 10)  # neuron 9 is born after the event
    distance = np.where(neuron == 5, 6.0, 1.0)
    [result] = tracker.update_many(np.ones(40, dtype=int), distance, events=[event], neuron=neuron)
    assert result.index == 34 and result.records == 25


# -- re-labelling by the map ----------------------------------------------------------------------


def _relabelled_stream(n: int, at: int):
    """Map output whose map re-merges at record ``at``: half of cluster 20's neurons (200-212)
    split off as cluster 50, and cluster 40's neurons join cluster 30. The data do not change."""
    cluster, distance, novelty, neuron = _map_output_with_neurons(12, n)
    later = np.arange(n) >= at
    cluster[later & (neuron >= 200) & (neuron <= 212)] = 50
    cluster[later & (cluster == 40)] = 30
    neurons = np.unique(neuron)
    labels = np.where((neurons >= 200) & (neurons <= 212), 50, neurons // 100 * 10)
    labels[labels == 40] = 30
    return cluster, distance, novelty, neuron, (neurons, labels)


def _feed_relabel(monitor, stream, at, batch):
    cluster, distance, novelty, neuron, mapping = stream
    events = []
    for s in range(0, len(cluster), batch):
        if s == at and mapping is not None:
            monitor.relabel(*mapping)
        part = slice(s, s + batch)
        events += monitor.update_many(
            cluster[part], distance[part], novelty[part], None, neuron[part]
        )
    return events


def test_relabelling_by_the_map_is_no_drift():
    stream = _relabelled_stream(60_000, 20_000)
    told = _feed_relabel(DriftMonitor(), stream, 20_000, 1000)
    assert told == []
    # Not told, the monitor sees a new cluster and a vanished one where the data did not move.
    untold = _feed_relabel(DriftMonitor(), (*stream[:4], None), 20_000, 1000)
    assert untold and 20_000 <= untold[0].index < 23_000


def test_share_drift_after_relabelling_is_detected():
    n, at, drift = 60_000, 20_000, 40_000
    cluster, distance, novelty, neuron, mapping = _relabelled_stream(n, at)
    # From record 40,000 the split-off cluster 50 gets three times its records: half of cluster
    # 10's records move to neurons of cluster 50 (which the data now prefer).
    moved = (np.arange(n) >= drift) & (cluster == 10) & (neuron % 2 == 0)
    neuron[moved] = 200 + neuron[moved] % 13
    cluster[moved] = 50
    events = _feed_relabel(DriftMonitor(), (cluster, distance, novelty, neuron, mapping), at, 1000)
    assert events and drift <= events[0].index < drift + 1000
    assert 50 in events[0].clusters or 10 in events[0].clusters


def test_relabelling_results_do_not_depend_on_batching():
    stream = _relabelled_stream(40_000, 20_000)
    cluster, neuron = stream[0], stream[3]
    new = (np.arange(40_000) >= 30_000) & (np.random.default_rng(120).random(40_000) < 0.2)
    cluster[new], neuron[new] = 50, 205
    whole = _feed_relabel(DriftMonitor(), stream, 20_000, 1000)
    pieces = _feed_relabel(DriftMonitor(), stream, 20_000, 2500)
    assert whole == pieces and whole


# -- new clusters from the neurons the map grows --------------------------------------------------


def _born_cluster_stream(seed: int, n: int, at: int, share: float = 0.02):
    """From ``at`` a new region wins ``share`` of the records at neuron 500 (born then, ids
    increase), under its neighbour's cluster id 20 until the map's merge 1,000 records later
    gives it an id of its own, 99. Its records are not novel: only the birth shows it."""
    cluster, distance, novelty, neuron = _map_output_with_neurons(seed, n)
    position = np.arange(n)
    new = (position >= at) & (np.random.default_rng(seed + 1).random(n) < share)
    neuron[new] = 500
    cluster[new] = np.where(position[new] < at + 1000, 20, 99)
    return cluster, distance, novelty, neuron


def test_golden_new_cluster_from_a_born_neuron():
    stream = _born_cluster_stream(21, 50_000, 30_000)
    events = _feed_neurons(DriftMonitor(), *stream)
    first = events[0]
    assert (first.kind, first.clusters, first.neurons) == ("new_cluster", (99,), (500,))
    assert (first.detector, first.index) == ("neuron_birth", 31_454)
    assert first.evidence["observed_share"] > 0.01


def test_a_neuron_born_inside_a_cluster_is_no_drift():
    # Neuron 500 is born at record 30,000 and takes over most of neuron 207's records (5% of
    # the stream): a split inside cluster 20, which keeps its old neurons.
    cluster, distance, novelty, neuron = _map_output_with_neurons(22, 60_000)
    later = np.arange(60_000) >= 30_000
    neuron[later & (cluster == 20) & (neuron % 5 == 0)] = 500
    assert _feed_neurons(DriftMonitor(), cluster, distance, novelty, neuron) == []
    # Nor is one that the map's merge (at record 31,000, then told) puts into a new cluster id
    # with old neurons.
    merged = np.arange(60_000) >= 31_000
    cluster[merged & ((neuron == 500) | (neuron == 205) | (neuron == 210))] = 77
    monitor, events = DriftMonitor(), []
    for s in range(0, 60_000, 1000):
        if s == 31_000:
            neurons = np.unique(neuron)
            labels = np.where(np.isin(neurons, [205, 210, 500]), 77, neurons // 100 * 10)
            monitor.relabel(neurons, labels)
        part = slice(s, s + 1000)
        events += monitor.update_many(
            cluster[part], distance[part], novelty[part], None, neuron[part]
        )
    assert [e for e in events if e.detector == "neuron_birth"] == []


def test_birth_results_do_not_depend_on_batching():
    stream = _born_cluster_stream(23, 40_000, 25_000)
    whole = _feed_neurons(DriftMonitor(), *stream, batch=40_000)
    pieces = _feed_neurons(DriftMonitor(), *stream, batch=997)
    assert whole == pieces and whole[0].detector == "neuron_birth"


def test_neuron_birth_forgets_silent_ids():
    rng = np.random.default_rng(4)
    detector = NeuronBirth(horizon=2000, warmup=500)
    for phase in range(20):
        neuron = phase * 50 + rng.integers(0, 50, 5000)
        detector.update_many(neuron, neuron // 10)
    assert len(detector._neurons) <= 128 and len(detector._clusters) <= 32
