"""Event-time alignment of partitions: order, offsets kept, bounded memory and waiting."""

from __future__ import annotations

import time

import numpy as np

from consumers.alignment import EventTimeAligner
from stream.source import Message


def _partition(p: int, times) -> list[Message]:
    return [Message("t", p, i, None, b"", int(t)) for i, t in enumerate(times)]


def test_partitions_racing_ahead_are_merged_into_time_order():
    rng = np.random.default_rng(0)
    # Three sources at different rates over the same 10 s: a fetch of 200 records from each
    # covers 1 s of the fast one and 10 s of the slow one.
    streams = [np.sort(rng.uniform(0, 10_000, n)) for n in (2000, 600, 200)]
    aligner, out = EventTimeAligner(limit=10_000), []
    fetched = [0, 0, 0]
    while len(out) < sum(len(s) for s in streams):
        for p, times in enumerate(streams):
            aligner.add(_partition(p, times)[fetched[p] : fetched[p] + 200])
            fetched[p] = min(fetched[p] + 200, len(times))
        behind = {("t", p) for p, times in enumerate(streams) if fetched[p] < len(times)}
        out.extend(aligner.take(behind, 1000))
    stamps = [m.timestamp_ms for m in out]
    assert stamps == sorted(stamps)
    for p in range(3):  # each partition's offsets in order, none skipped
        offsets = [m.offset for m in out if m.partition == p]
        assert offsets == list(range(len(streams[p])))


def test_a_partition_is_released_in_offset_order_even_if_its_times_are_not():
    aligner = EventTimeAligner()
    aligner.add(_partition(0, [5, 3, 9]))
    assert [m.offset for m in aligner.take(set(), 10)] == [0, 1, 2]


def test_a_full_partition_asks_to_be_paused_and_a_revoked_one_is_forgotten():
    aligner = EventTimeAligner(limit=3)
    aligner.add(_partition(0, [1, 2, 3]) + _partition(1, [1]))
    assert aligner.full() == {("t", 0)}
    aligner.drop({("t", 0)})
    assert aligner.full() == set()
    assert len(aligner) == 1
    assert aligner.next_offset(("t", 0)) is None


def test_a_stalled_partition_holds_the_others_back_for_max_wait_only():
    aligner = EventTimeAligner(max_wait_s=0.2)
    aligner.add(_partition(0, [10, 20]))
    never_fetched = {("t", 1)}  # open, nothing fetched from it: the frontier is unknown
    assert aligner.take(never_fetched | {("t", 0)}, 10) == []
    time.sleep(0.25)
    assert [m.timestamp_ms for m in aligner.take(never_fetched | {("t", 0)}, 10)] == [10, 20]


def test_a_partition_fetched_again_from_an_earlier_offset_starts_over():
    aligner = EventTimeAligner()
    aligner.add(_partition(0, [1, 2, 3, 4])[2:])  # offsets 2, 3 buffered
    aligner.add(_partition(0, [1, 2, 3, 4]))  # given back at its commit: offsets 0..3 again
    assert [m.offset for m in aligner.take(set(), 10)] == [0, 1, 2, 3]
