"""One-sided Bernoulli CUSUM on the rate of a binary event, against a learned reference rate."""

from __future__ import annotations

import numpy as np
from numba import njit

from models.drift._common import (
    Detector,
    alarms_in_batch,
    bernoulli_llr,
    upper_bound,
)

__all__ = ["RateCUSUM"]


class RateCUSUM(Detector):
    """Detects a rise in the rate of a binary event (e.g. records outside every neuron's radius).

    The in-control rate is learned: a running mean over the first records after a (re)start,
    then an exponentially weighted mean with memory ``horizon``. A one-sided Bernoulli CUSUM
    tests it against ``ratio`` times that rate (or that rate plus ``rise``, if higher), using
    the upper confidence bound of the estimate
    (never below ``min_rate``) as the in-control rate so that estimation error does not become
    false alarms; the in-control run length is at least ``exp(threshold)`` records. The reference
    is frozen while the statistic is high, and learned again from scratch after an alarm.

    Parameters
    ----------
    ratio
        Factor of rate increase to detect.
    rise
        Smallest absolute rate increase to detect (for an event that is rare in control, a
        factor alone would test for a rise too small to matter).
    threshold
        CUSUM decision threshold (log-likelihood ratio units).
    warmup
        Records after a (re)start before testing.
    horizon
        Memory of the rate estimate, in records.
    min_rate
        Floor of the in-control rate (a rate estimated at zero would make any event an alarm).

    Attributes
    ----------
    drift_detected
        Whether the last update raised an alarm.
    rate
        Current estimate of the in-control rate.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(5)
    >>> stream = np.concatenate([rng.random(5000) < 0.02, rng.random(3000) < 0.08])
    >>> detector = RateCUSUM()
    >>> detector.update_many(stream).tolist()
    [5306]

    References
    ----------
    M. R. Reynolds Jr. and Z. G. Stoumbos, "A CUSUM chart for monitoring a proportion when
    inspecting continuously", Journal of Quality Technology 31(1), 1999.
    """

    def __init__(
        self,
        ratio: float = 2.0,
        rise: float = 0.0,
        threshold: float = 16.0,
        warmup: int = 2000,
        horizon: int = 20000,
        min_rate: float = 0.001,
    ):
        super().__init__()
        self.ratio = ratio
        self.rise = rise
        self.threshold = threshold
        self.warmup = warmup
        self.horizon = horizon
        self.min_rate = min_rate
        self._reset()

    def _reset(self) -> None:
        super()._reset()
        # [rate, records seen since (re)start, statistic, run length, events in run]
        self._state = np.zeros(5)
        self._seen = 0

    @property
    def rate(self) -> float:
        return float(self._state[0])

    @property
    def statistic(self) -> float:
        return float(self._state[2])

    @property
    def run_length(self) -> int:
        """Records since the statistic last left zero (0 when it is at zero)."""
        return int(self._state[3])

    def observed(self) -> float:
        """Event rate over the CUSUM run (the records since the statistic last left zero)."""
        return float(self._state[4] / max(self._state[3], 1.0))

    def update(self, x: bool) -> None:
        self.update_many(np.array([bool(x)]))

    def update_many(self, x) -> np.ndarray:
        """Feed a batch of booleans; returns the stream positions of the alarms."""
        bits = np.ascontiguousarray(x, dtype=np.bool_)
        return alarms_in_batch(
            self, len(bits), lambda start: self._scan(bits, start, len(bits), 0, 0), self._restart
        )

    def _scan(self, bits, start, stop, offset, quiet_until) -> int:
        return _scan(
            bits,
            start,
            stop,
            offset,
            quiet_until,
            self.ratio,
            self.rise,
            self.threshold,
            self.warmup,
            self.horizon,
            self.min_rate,
            self._state,
        )

    def _restart(self) -> None:
        self._state[:] = 0.0

    @classmethod
    def _unit_test_params(cls):
        yield {}
        yield {"ratio": 3.0, "warmup": 500, "horizon": 5000}
        yield {"rise": 0.01, "warmup": 500}

    @classmethod
    def _check_stream(cls, rng: np.random.Generator, n: int) -> list[bool]:
        return (rng.random(n) < 0.03).tolist()


@njit(cache=True)
def _scan(
    bits, start, stop, offset, quiet_until, ratio, rise, threshold, warmup, horizon, min_rate, st
):
    for i in range(start, stop):
        bit = bits[i]
        hit = 1.0 if bit else 0.0
        st[1] += 1.0
        if offset + i < quiet_until:
            st[2] = 0.0
        elif st[1] > warmup:
            p_null = max(upper_bound(st[0], min(st[1], horizon), 2.0), min_rate)
            p_alt = max(ratio * p_null, p_null + rise)
            if p_alt < 0.999:
                st[2] = max(0.0, st[2] + bernoulli_llr(bit, p_null, p_alt))
        if st[2] > 0.0:
            st[3] += 1.0
            st[4] += hit
        else:
            st[3] = 0.0
            st[4] = 0.0
        if st[2] < 0.5 * threshold:
            st[0] += (hit - st[0]) / min(st[1], horizon)
        if st[2] > threshold:
            return i
    return -1
