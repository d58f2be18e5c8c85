"""Bernoulli CUSUM on exceedances of a self-calibrated reference quantile."""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from models.drift._common import (
    ArrayState,
    Detector,
    alarms_in_batch,
    bernoulli_llr,
    grown,
    upper_bound,
)

__all__ = ["ExceedanceCUSUM"]

# The limit is recomputed after this many new reference values (sorting costs; a quantile
# of a slowly renewed sample moves slowly anyway).
_REFRESH = 32


class ExceedanceCUSUM(Detector):
    """Detects an upward shift of a stream by counting exceedances of its own upper quantile.

    The detector keeps a reference sample of the most recent in-control values and its
    ``1 - level`` quantile (the *limit*). Each new value becomes one Bernoulli observation, "above
    the limit or not", and a one-sided Bernoulli CUSUM accumulates the log-likelihood ratio of the
    alternative exceedance rate ``alarm_rate`` against the in-control rate. The in-control rate is
    not ``level`` itself but its upper confidence bound given the reference size, so that the
    sampling error of the limit does not turn into false alarms. By Wald's inequality the
    in-control run length to a false alarm is at least ``exp(threshold)`` values.

    Working on exceedances makes the detector indifferent to the shape of the distribution
    (winner distances are skewed, novelty ratios heavy-tailed) and robust to rare outliers: one
    absurd value moves the statistic by one step, not by its magnitude. Values are added to the
    reference only while the statistic is low, so a drift does not teach the detector that it is
    normal; after an alarm the reference is discarded and learned again from the new regime.

    ``DriftMonitor`` runs one of these per cluster (on members' novelty) and one on the global
    quantization error; this class is the single-stream form.

    Parameters
    ----------
    level
        In-control probability of exceeding the limit (the limit is the ``1 - level`` quantile).
    alarm_rate
        Exceedance rate the CUSUM is tuned to detect.
    threshold
        CUSUM decision threshold (log-likelihood ratio units).
    reference_size
        Number of recent in-control values kept as the reference sample.
    min_reference
        Values needed in the reference before the detector is armed.

    Attributes
    ----------
    drift_detected
        Whether the last update raised an alarm.
    statistic
        Current CUSUM statistic.
    limit
        Current reference limit (``inf`` while unarmed).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(7)
    >>> stream = np.concatenate([rng.exponential(1.0, 3000), rng.exponential(4.0, 1000)])
    >>> detector = ExceedanceCUSUM()
    >>> detector.update_many(stream).tolist()
    [3050]
    >>> round(detector.limit, 2) > 2.5
    True

    References
    ----------
    E. S. Page, "Continuous inspection schemes", Biometrika 41, 1954.
    M. R. Reynolds Jr. and Z. G. Stoumbos, "A CUSUM chart for monitoring a proportion when
    inspecting continuously", Journal of Quality Technology 31(1), 1999.
    """

    def __init__(
        self,
        level: float = 0.05,
        alarm_rate: float = 0.5,
        threshold: float = 16.0,
        reference_size: int = 512,
        min_reference: int = 64,
    ):
        super().__init__()
        self.level = level
        self.alarm_rate = alarm_rate
        self.threshold = threshold
        self.reference_size = reference_size
        self.min_reference = min_reference
        self._reset()

    def _reset(self) -> None:
        super()._reset()
        self._table = _ExceedanceTable(self.reference_size)
        self._table.ensure(1)
        self._seen = 0

    @property
    def statistic(self) -> float:
        return float(self._table.stat[0])

    @property
    def limit(self) -> float:
        return float(self._table.limit[0])

    def update(self, x: float) -> None:
        self._drift_detected = len(self.update_many(np.array([x], dtype=np.float64))) > 0

    def update_many(self, x) -> np.ndarray:
        """Feed a batch; returns the stream positions (0-based, since creation) of the alarms."""
        values = np.ascontiguousarray(x, dtype=np.float64)
        slots = np.zeros(len(values), dtype=np.int64)
        return alarms_in_batch(
            self,
            len(values),
            lambda start: self._table.scan(self, values, values, slots, start, len(values), 0, 0),
            lambda: self._table.clear(0),
        )

    @classmethod
    def _unit_test_params(cls):
        yield {}
        yield {"level": 0.1, "reference_size": 128, "min_reference": 32}

    @classmethod
    def _check_stream(cls, rng: np.random.Generator, n: int) -> list[float]:
        return rng.gamma(2.0, 1.0, n).tolist()


class _ExceedanceTable(ArrayState):
    """Per-slot state of many exceedance CUSUMs (one slot per cluster, or one for a stream).

    Besides the tested values, the reference also keeps a *companion* value per record (the
    winner distance when the tested value is novelty), so that the pre-drift quantization-error
    band of a cluster can be read from in-control records only.
    """

    def __init__(self, reference_size: int):
        self.buffer = np.zeros((0, reference_size))
        self.companion = np.zeros((0, reference_size))
        self.filled = np.zeros(0, dtype=np.int64)
        self.position = np.zeros(0, dtype=np.int64)
        self.pushes = np.zeros(0, dtype=np.int64)
        self.limit = np.zeros(0)
        self.p_null = np.zeros(0)
        self.stat = np.zeros(0)
        self.run = np.zeros(0)  # values since the statistic last left zero
        self.hits = np.zeros(0)  # exceedances among them

    def ensure(self, n_slots: int) -> None:
        self.buffer = grown(self.buffer, n_slots, 0.0)
        self.companion = grown(self.companion, n_slots, 0.0)
        self.filled = grown(self.filled, n_slots, 0)
        self.position = grown(self.position, n_slots, 0)
        self.pushes = grown(self.pushes, n_slots, 0)
        self.limit = grown(self.limit, n_slots, np.inf)
        self.p_null = grown(self.p_null, n_slots, 0.5)
        self.stat = grown(self.stat, n_slots, 0.0)
        self.run = grown(self.run, n_slots, 0.0)
        self.hits = grown(self.hits, n_slots, 0.0)

    def scan(self, params, values, companions, slots, start, stop, offset, quiet_until) -> int:
        """Advance slots over ``values[start:stop]``; index of the first alarm, or -1."""
        return _scan(
            values,
            companions,
            slots,
            start,
            stop,
            offset,
            quiet_until,
            params.level,
            params.alarm_rate,
            params.threshold,
            params.min_reference,
            _REFRESH,
            self.buffer,
            self.companion,
            self.filled,
            self.position,
            self.pushes,
            self.limit,
            self.p_null,
            self.stat,
            self.run,
            self.hits,
        )

    def clear(self, slot: int) -> None:
        """Forget the reference of ``slot``: it is learned again from the values that follow."""
        self.filled[slot] = 0
        self.position[slot] = 0
        self.pushes[slot] = 0
        self.limit[slot] = np.inf
        self.stat[slot] = 0.0
        self.run[slot] = 0.0
        self.hits[slot] = 0.0

    def observed(self, slot: int) -> float:
        """Exceedance rate over the CUSUM run that led to the current statistic."""
        return float(self.hits[slot] / max(self.run[slot], 1.0))

    def reference(self, slots) -> np.ndarray:
        """The in-control companion values stored for ``slots``, pooled."""
        parts = [self.companion[s, : self.filled[s]] for s in slots if s < len(self.filled)]
        return np.concatenate(parts) if parts else np.zeros(0)


@njit(cache=True)
def _scan(
    values,
    companions,
    slots,
    start,
    stop,
    offset,
    quiet_until,
    level,
    alarm_rate,
    threshold,
    min_reference,
    refresh,
    buffer,
    companion,
    filled,
    position,
    pushes,
    limit,
    p_null,
    stat,
    run,
    hits,
):
    size = buffer.shape[1]
    for i in range(start, stop):
        x = values[i]
        if not math.isfinite(x):
            continue  # a missing value is no evidence either way
        s = slots[i]
        fired = False
        if offset + i < quiet_until:
            stat[s] = 0.0
        elif filled[s] >= min_reference:
            above = x > limit[s]
            stat[s] = max(0.0, stat[s] + bernoulli_llr(above, p_null[s], alarm_rate))
            if stat[s] > 0.0:
                run[s] += 1.0
                hits[s] += 1.0 if above else 0.0
            else:
                run[s] = 0.0
                hits[s] = 0.0
            fired = stat[s] > threshold
        if stat[s] < 0.5 * threshold:
            buffer[s, position[s]] = x
            companion[s, position[s]] = companions[i]
            position[s] = (position[s] + 1) % size
            filled[s] = min(filled[s] + 1, size)
            pushes[s] += 1
            if filled[s] >= min_reference and (pushes[s] >= refresh or filled[s] == min_reference):
                limit[s] = np.quantile(buffer[s, : filled[s]], 1.0 - level)
                p_null[s] = min(upper_bound(level, filled[s], 2.0), 0.9 * alarm_rate)
                pushes[s] = 0
        if fired:
            return i
    return -1
