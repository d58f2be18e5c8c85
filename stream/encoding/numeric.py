"""Running robust standardisation of a numeric field: winsorised moments, bounded z-scores.

A field's moments are ``[count, mean, m2]`` (``m2``: the sum of squared deviations), merged
batch by batch. See :class:`stream.encoding.MixedEncoder` for why the bounds are what they are.
"""

from __future__ import annotations

import numpy as np
from numba import njit

# Edges of the five equally likely bins of a standard normal: numeric fields take part in the
# co-occurrence statistics of categorical values as "which fifth of its range is it in".
NORMAL_QUINTILES = np.array([-0.8416, -0.2533, 0.2533, 0.8416])
_WARM_COUNT = 30  # values needed before the running scale is trusted to winsorise with
_MAD_TO_SIGMA = 1.4826  # median absolute deviation -> sigma for a normal


def signed_log(x: np.ndarray) -> np.ndarray:
    """``sign(x) log(1 + |x|)``: a field declared ``scale: log``, before it is standardised
    (monotone, odd, the identity near 0; ``NaN`` stays ``NaN``).

    >>> signed_log(np.array([-9.0, 0.0, 99.0])).round(3).tolist()
    [-2.303, 0.0, 4.605]
    """
    return np.sign(x) * np.log1p(np.abs(x))


def learn_moments(moments: list[float], x: np.ndarray, outlier_sigma: float) -> list[float]:
    """``moments`` updated with the batch ``x`` (``NaN`` = missing), winsorised first.

    Until the field has :data:`_WARM_COUNT` values, the batch is bounded by its own robust
    scale (median and MAD). After that, by the running mean +- ``outlier_sigma`` running
    standard deviations, widened to the batch's robust bounds where those are wider (given
    :data:`_WARM_COUNT` values in the batch): a value that the batch's own robust scale does not
    call an outlier is not one. The running bounds alone feed back on the scale they come
    from: where a few % of the values lie far from a common one (a count that is mostly 0),
    those are cut, the scale shrinks, they are cut closer, and over a long stream the scale
    decays towards 0 (to under a third over 100,000 values, 3 % of them far).
    """
    values = np.ascontiguousarray(x, dtype=np.float64)  # one compiled variant for all
    count, mean, m2 = _learn_moments(
        float(moments[0]), float(moments[1]), float(moments[2]), values, float(outlier_sigma)
    )
    return [count, mean, m2]


@njit(cache=True)
def _learn_moments(
    count: float, mean: float, m2: float, x: np.ndarray, outlier_sigma: float
) -> tuple[float, float, float]:
    x = x[~np.isnan(x)]
    n = len(x)
    if n == 0:
        return count, mean, m2
    low, high = -np.inf, np.inf
    if count < _WARM_COUNT:  # not enough history to trust: the batch's own robust scale
        sigma, center = _robust_sigma(x, 1)
        if sigma > 0.0:
            low, high = center - outlier_sigma * sigma, center + outlier_sigma * sigma
    elif m2 > 0.0:
        spread = outlier_sigma * np.sqrt(m2 / count)
        low, high = mean - spread, mean + spread
        if n >= _WARM_COUNT and (x.min() < low or x.max() > high):
            # Three values apart at least, so that one absurd value cannot set their median.
            sigma, center = _robust_sigma(x, 3)
            low = min(low, center - outlier_sigma * sigma)
            high = max(high, center + outlier_sigma * sigma)
    x = np.minimum(np.maximum(x, low), high)
    # Chan et al.'s parallel update: merge the batch's moments into the running ones.
    mean_b = x.mean()
    m2_b = ((x - mean_b) ** 2).sum()
    total = count + n
    delta = mean_b - mean
    return total, mean + delta * n / total, m2 + m2_b + delta * delta * count * n / total


@njit(cache=True)
def _robust_sigma(x: np.ndarray, min_apart: int) -> tuple[float, float]:
    """The robust standard deviation (from the MAD) of ``x``, and its median.

    If more than half the values are equal (a discrete or zero-inflated field), the scale is
    that of the values that differ from it, given ``min_apart`` of them, else 0. (Their mean
    deviation over all values shrinks with the common value's share, winsorising a rare level
    into it.)
    """
    center = np.median(x)
    deviation = np.abs(x - center)
    sigma = _MAD_TO_SIGMA * np.median(deviation)
    if sigma == 0.0:
        apart = deviation[deviation > 0.0]
        sigma = _MAD_TO_SIGMA * np.median(apart) if len(apart) >= min_apart else 0.0
    return sigma, center


def standardise(moments: list[float], x: np.ndarray, clip: float) -> np.ndarray:
    """z-scores of ``x`` under ``moments``, compressed past ``clip / 2``, bounded by ``clip``.

    The excess over ``clip / 2`` becomes its ``log1p``: a heavy tail keeps its order but cannot
    dominate a distance. ``NaN`` stays ``NaN``.
    """
    z = z_scores(moments, x)
    knee = clip / 2.0
    out = np.clip(z, -knee, knee)
    far = np.flatnonzero(np.abs(z) > knee)  # usually few: compress only those
    beyond = z[far]
    out[far] = np.sign(beyond) * np.minimum(knee + np.log1p(np.abs(beyond) - knee), clip)
    return out


def z_scores(moments: list[float], x: np.ndarray) -> np.ndarray:
    """``(x - mean) / std`` under ``moments``, neither compressed nor bounded."""
    count, mean, m2 = moments
    std = np.sqrt(m2 / count) if count > 1 else 0.0
    # A constant field (std 0) is centred only: its values are all alike, distance 0.
    return (x - mean) / std if std > 1e-12 else x - mean


def quintile_codes(z: np.ndarray) -> np.ndarray:
    """Which fifth of a standard normal each plain z-score (:func:`z_scores`) falls in (0-4);
    -1 where missing."""
    codes = np.searchsorted(NORMAL_QUINTILES, z)
    codes[np.isnan(z)] = -1
    return codes
