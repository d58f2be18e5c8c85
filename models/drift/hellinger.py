"""Shift of the cluster-share distribution between windows, by Hellinger distance."""

from __future__ import annotations

import math

import numpy as np
from scipy.stats import chi2

from models.drift._common import Detector, alarms_in_batch

__all__ = ["HellingerShift"]


class HellingerShift(Detector):
    """Detects a change of the distribution of cluster shares, window against reference.

    Records are cut into consecutive windows of ``window`` records (aligned on the stream
    position, so the result does not depend on how the stream is batched). Each completed window's
    cluster histogram is compared with the pooled histogram of the ``reference_windows`` windows
    before it by the squared Hellinger distance
    :math:`H^2 = 1 - \\sum_k \\sqrt{p_k q_k}`. For two multinomial samples of sizes ``n`` and
    ``m`` from the same distribution over ``K`` categories, :math:`8 H^2 / (1/n + 1/m)` is
    asymptotically :math:`\\chi^2_{K-1}` (the square-root transform stabilises the variance), which
    calibrates the threshold: an alarm needs :math:`H^2` above the ``1 - alpha`` quantile of that
    law *and* the Hellinger distance :math:`H` above ``min_distance`` (large windows make tiny,
    harmless share changes significant). After an alarm the reference is rebuilt from the windows
    that follow.

    Parameters
    ----------
    window
        Records per window.
    reference_windows
        Windows pooled into the reference.
    alpha
        Per-window false alarm probability of the test.
    min_distance
        Smallest Hellinger distance reported.

    Attributes
    ----------
    drift_detected
        Whether the last update raised an alarm.
    last_alarm
        ``(H^2, threshold, {cluster id: contribution to H^2})`` of the last alarm, or ``None``.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(2)
    >>> before = rng.choice(4, size=12000, p=[0.4, 0.3, 0.2, 0.1])
    >>> after = rng.choice(4, size=4000, p=[0.25, 0.3, 0.2, 0.25])
    >>> detector = HellingerShift()
    >>> detector.update_many(np.concatenate([before, after])).tolist()
    [12999]
    >>> sorted(detector.last_alarm[2], key=detector.last_alarm[2].get)[-2:]
    [0, 3]

    References
    ----------
    E. Hellinger, "Neue Begründung der Theorie quadratischer Formen von unendlichvielen
    Veränderlichen", J. reine angew. Math. 136, 1909.
    G. Ditzler and R. Polikar, "Hellinger distance based drift detection for nonstationary
    environments", IEEE SSCI CIDUE, 2011.
    """

    def __init__(
        self,
        window: int = 1000,
        reference_windows: int = 10,
        alpha: float = 1e-4,
        min_distance: float = 0.05,
    ):
        super().__init__()
        self.window = window
        self.reference_windows = reference_windows
        self.alpha = alpha
        self.min_distance = min_distance
        self._reset()

    def _reset(self) -> None:
        super()._reset()
        self._current: dict = {}  # cluster id -> count in the window being filled
        self._filled = 0
        self._history: list = []  # completed reference windows, oldest first, as dicts
        self._group: dict = {}  # negative key (a neuron, for DriftMonitor) -> its cluster id
        self._seen = 0
        self._last = None

    @property
    def last_alarm(self):
        return self._last

    def update(self, x: int) -> None:
        self.update_many(np.array([x], dtype=np.int64))

    def update_many(self, x) -> np.ndarray:
        """Feed a batch of cluster ids; returns the stream positions of the alarms."""
        ids = np.asarray(x, dtype=np.int64)

        def on_alarm() -> None:
            self._history = []

        return alarms_in_batch(
            self, len(ids), lambda start: self._scan(ids, start, len(ids), 0, 0), on_alarm
        )

    def _scan(self, ids, start, stop, offset, quiet_until) -> int:
        """Advance over ``ids[start:stop]``; index of the first alarm, or -1."""
        i = start
        while i < stop:
            take = min(self.window - self._filled, stop - i)
            chunk, counts = np.unique(ids[i : i + take], return_counts=True)
            for cluster, count in zip(chunk.tolist(), counts.tolist(), strict=True):
                self._current[cluster] = self._current.get(cluster, 0) + count
            self._filled += take
            i += take
            if self._filled < self.window:
                break
            end = i - 1
            fired = self._close_window(quiet=offset + end < quiet_until)
            if fired:
                return end
        return -1

    def _close_window(self, quiet: bool) -> bool:
        window, self._current, self._filled = self._current, {}, 0
        fired = False
        if len(self._history) == self.reference_windows and not quiet:
            reference: dict = {}
            for counts in self._history:
                for cluster, count in self._by_cluster(counts).items():
                    reference[cluster] = reference.get(cluster, 0) + count
            current = self._by_cluster(window)
            h2, threshold, parts = _hellinger_test(current, reference, self.alpha)
            if h2 > threshold and math.sqrt(h2) > self.min_distance:
                self._last = (h2, threshold, parts)
                fired = True
        if not fired:
            self._history = [*self._history, window][-self.reference_windows :]
        return fired

    def _by_cluster(self, counts: dict) -> dict:
        """Counts per cluster: a negative key counts for the cluster ``_group`` gives it now, or
        not at all (a record the map could not place)."""
        out: dict = {}
        for key, count in counts.items():
            cluster = key if key >= 0 else self._group.get(key)
            if cluster is not None:
                out[cluster] = out.get(cluster, 0) + count
        return out

    def _regroup(self, keys, clusters) -> None:
        """Negative ``keys[i]`` now counts for ``clusters[i]``, in every window kept.

        Keys are stable ids of finer units (``DriftMonitor`` uses its map's neurons) whose
        grouping into clusters may change: windows keep counts by key, so a re-grouping re-bases
        the reference instead of looking like a shift. Keys no window holds are forgotten.
        """
        held = set(self._current).union(*self._history)
        self._group = {key: c for key, c in self._group.items() if key in held}
        for key, cluster in zip(keys, clusters, strict=True):
            if key < 0:
                self._group[int(key)] = int(cluster)

    def _restart(self) -> None:
        self._history = []
        if self._last is not None:
            self._last = tuple(self._last)

    @classmethod
    def _unit_test_params(cls):
        yield {}
        yield {"window": 200, "reference_windows": 5}

    @classmethod
    def _check_stream(cls, rng: np.random.Generator, n: int) -> list[int]:
        return rng.choice([3, 5, 8, 13], size=n, p=[0.55, 0.25, 0.15, 0.05]).tolist()


def _hellinger_test(window: dict, reference: dict, alpha: float) -> tuple[float, float, dict]:
    """Squared Hellinger distance, its calibrated threshold, and per-cluster contributions."""
    clusters = sorted(set(window) | set(reference))
    q = np.array([window.get(c, 0) for c in clusters], dtype=np.float64)
    p = np.array([reference.get(c, 0) for c in clusters], dtype=np.float64)
    n, m = q.sum(), p.sum()
    if n == 0 or m == 0:  # nothing placed in one of them: no evidence either way
        return 0.0, math.inf, dict.fromkeys(clusters, 0.0)
    parts = 0.5 * (np.sqrt(q / n) - np.sqrt(p / m)) ** 2
    h2 = float(parts.sum())
    dof = max(len(clusters) - 1, 1)
    threshold = float(chi2.ppf(1.0 - alpha, dof) * (1.0 / n + 1.0 / m) / 8.0)
    return h2, threshold, dict(zip(clusters, parts.tolist(), strict=True))
