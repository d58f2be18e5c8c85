"""Plumbing shared by the drift detectors: snapshot state, growable slot tables, CUSUM steps."""

from __future__ import annotations

import math

import numpy as np
from numba import njit
from river.base import DriftDetector

from models.base import Snapshot

# Attributes every river drift detector carries that are not learned state of ours.
_NOT_STATE = frozenset({"_drift_detected"})


def private_state(model) -> dict:
    """The private (learned) attributes of ``model``, copied, for ``Snapshot._get_state``."""
    state = {}
    for name, value in vars(model).items():
        if not name.startswith("_") or name in _NOT_STATE:
            continue
        if hasattr(value, "_get_state"):
            value = {"__detector__": value._get_state()}
        elif isinstance(value, np.ndarray):
            value = value.copy()
        elif isinstance(value, dict):
            value = dict(value)
        state[name] = value
    return state


def restore_private_state(model, state: dict) -> None:
    """Inverse of :func:`private_state` on a freshly built (``_reset``) model."""
    for name, value in state.items():
        current = getattr(model, name, None)
        if isinstance(value, dict) and "__detector__" in value:
            current._set_state(value["__detector__"])
        elif isinstance(current, np.ndarray):
            setattr(model, name, np.asarray(value, dtype=current.dtype).reshape(np.shape(value)))
        else:
            setattr(model, name, value)


class Detector(Snapshot, DriftDetector):
    """A drift detector whose learned state is its private attributes (snapshots included)."""

    def _get_state(self) -> dict:
        return private_state(self)

    def _set_state(self, state: dict) -> None:
        restore_private_state(self, state)


class ArrayState:
    """A detector's per-slot table: its state is its attributes, arrays keeping their dtype."""

    def _get_state(self) -> dict:
        return {
            name: (value.copy() if isinstance(value, np.ndarray) else value)
            for name, value in vars(self).items()
        }

    def _set_state(self, state: dict) -> None:
        for name, value in state.items():
            current = getattr(self, name)
            if isinstance(current, np.ndarray):
                value = np.asarray(value, dtype=current.dtype)
            setattr(self, name, value)


def alarms_in_batch(detector, n: int, scan, on_alarm) -> np.ndarray:
    """The alarm loop every single-stream detector shares.

    ``scan(start)`` advances the detector over inputs ``start..n-1`` of the batch and returns
    the batch index of the first alarm, or -1; ``on_alarm()`` is called after each alarm (to
    record what fired and restart the statistic) and the scan resumes after it. Updates the
    detector's record count ``_seen`` and river's ``_drift_detected`` (true when the batch's
    last input raised an alarm); returns the alarms' stream positions.
    """
    alarms = []
    start = 0
    while start < n:
        hit = scan(start)
        if hit < 0:
            break
        alarms.append(detector._seen + hit)
        on_alarm()
        start = hit + 1
    detector._seen += n
    detector._drift_detected = bool(alarms) and alarms[-1] == detector._seen - 1
    return np.asarray(alarms, dtype=np.int64)


# Slot of no id (any int64, -1 included, may be an id).
FREE = np.iinfo(np.int64).min


class IdSlots(ArrayState):
    """The id -> slot table of a per-id detector: ids come and go, their slots are reused.

    ``assign`` gives every id of a batch its slot; an id not in the table takes a free slot
    (the table grows when none is left) and is listed as *taken*, so that the detector clears
    that slot's statistics. ``release`` frees the slots of ids the detector has forgotten. The
    detector's per-slot arrays follow ``len(table)``, its capacity.
    """

    def __init__(self):
        self.ids = np.zeros(0, dtype=np.int64)  # slot -> id, FREE when free

    def __len__(self) -> int:
        return len(self.ids)

    def used(self) -> np.ndarray:
        return self.ids != FREE

    def slot_of(self) -> dict:
        return {int(i): s for s, i in enumerate(self.ids.tolist()) if i != FREE}

    def slot(self, id_: int) -> int | None:
        return self.slot_of().get(int(id_))

    def release(self, slots) -> None:
        self.ids[slots] = FREE

    def assign(self, ids: np.ndarray, skip_negative: bool = False) -> tuple:
        """``(slot of every id, slots taken by new ids)``; with ``skip_negative`` negative ids
        (no id) get slot -1 and take none."""
        unique, inverse = np.unique(ids, return_inverse=True)
        slot_of = self.slot_of()
        fresh = [i for i in unique.tolist() if i not in slot_of and not (skip_negative and i < 0)]
        free = np.flatnonzero(self.ids == FREE)
        if len(free) < len(fresh):
            self.ids = grown(self.ids, len(self.ids) + len(fresh) - len(free), FREE)
            free = np.flatnonzero(self.ids == FREE)
        taken = free[: len(fresh)]
        self.ids[taken] = fresh
        slot_of.update(zip(fresh, taken.tolist(), strict=True))
        codes = np.array([slot_of.get(i, -1) for i in unique.tolist()], dtype=np.int64)
        return codes[inverse], taken


def grown(array: np.ndarray, size: int, fill) -> np.ndarray:
    """``array`` extended along its first axis to at least ``size`` rows (capacity doubles)."""
    if array.shape[0] >= size:
        return array
    capacity = max(size, 2 * array.shape[0], 4)
    out = np.full((capacity, *array.shape[1:]), fill, dtype=array.dtype)
    out[: array.shape[0]] = array
    return out


@njit(cache=True)
def bernoulli_llr(bit: bool, p_null: float, p_alt: float) -> float:
    """Log-likelihood ratio of one Bernoulli observation, alternative rate vs in-control rate."""
    if bit:
        return math.log(p_alt / p_null)
    return math.log((1.0 - p_alt) / (1.0 - p_null))


@njit(cache=True)
def upper_bound(rate: float, n: float, z: float) -> float:
    """One-sided normal confidence bound of an estimated rate (``z`` < 0 gives the lower one).

    Detectors use the bound that is least favourable to an alarm as their in-control rate, so
    the error of an estimated reference does not turn into false alarms.
    """
    if n <= 0.0:
        return rate
    bound = rate + z * math.sqrt(max(rate * (1.0 - rate), 0.0) / n)
    # An estimated rate of exactly 0 (or 1) has no spread: the normal bound would claim the
    # true rate is exactly that and make any later miss or hit infinitely unlikely (a division
    # by zero downstream). The Wilson bound there, z^2 / (n + z^2) away from the edge, is the
    # tightest honest one.
    edge = z * z / (n + z * z)
    if z > 0.0:
        bound = max(bound, edge)
    elif z < 0.0:
        bound = min(bound, 1.0 - edge)
    return bound
