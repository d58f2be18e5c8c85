"""Running robust standardisation of a numeric field: winsorised moments, bounded z-scores.

A field's moments are ``[count, mean, m2]`` (``m2``: the sum of squared deviations), merged
batch by batch. See :class:`stream.encoding.MixedEncoder` for why the bounds are what they are.
"""

from __future__ import annotations

import numpy as np

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
    """``moments`` updated with the batch ``x`` (``NaN`` = missing), winsorised first."""
    x = x[~np.isnan(x)]
    if len(x) == 0:
        return moments
    count, mean, m2 = moments
    low, high = _winsor_bounds(count, mean, m2, x, outlier_sigma)
    x = np.clip(x, low, high)
    # Chan et al.'s parallel update: merge the batch's moments into the running ones.
    n_b, mean_b = len(x), float(x.mean())
    m2_b = float(((x - mean_b) ** 2).sum())
    total = count + n_b
    delta = mean_b - mean
    return [
        total,
        mean + delta * n_b / total,
        m2 + m2_b + delta * delta * count * n_b / total,
    ]


def _winsor_bounds(
    count: float, mean: float, m2: float, x: np.ndarray, outlier_sigma: float
) -> tuple[float, float]:
    if count >= _WARM_COUNT:
        center, spread = mean, outlier_sigma * np.sqrt(m2 / count)
    else:  # not enough history to trust: bound the batch by its own robust scale instead
        center = float(np.median(x))
        deviation = np.abs(x - center)
        sigma = _MAD_TO_SIGMA * float(np.median(deviation))
        if sigma == 0.0:
            # More than half the values equal (a discrete or zero-inflated field): the scale
            # is that of the values that differ from it. (Their mean deviation over all
            # values shrinks with the common value's share, winsorising a rare level into it.)
            apart = deviation[deviation > 0]
            sigma = _MAD_TO_SIGMA * float(np.median(apart)) if len(apart) else 0.0
        spread = outlier_sigma * sigma
    if spread <= 0.0:
        return -np.inf, np.inf
    return center - spread, center + spread


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
