"""Coordinates of the levels of an ordinal field: one step column per pair of adjacent levels."""

from __future__ import annotations

import numpy as np


def step_coordinates(counts: np.ndarray) -> np.ndarray:
    """Coordinates of each level (rows) on ``levels - 1`` step columns.

    Column ``t`` says whether a level lies above step ``t`` (cumulative, "thermometer" coding):
    two levels differ in every step between them, so order is kept, the squared distance grows
    with the number of steps apart, and every step counts alike, however rare its levels (a
    spacing by the shares of records between levels, such as ridit scores, draws rare levels
    together, and a small cluster marked by a rare level with them). Columns are centred by the
    shares (``counts``, +0.5 so unseen levels count) and scaled like a categorical field: two
    records whose levels differ are at expected squared distance 2.
    """
    share = (counts + 0.5) / (counts + 0.5).sum()
    levels = len(share)
    table = (np.arange(levels)[:, None] > np.arange(levels - 1)[None, :]).astype(np.float64)
    table -= share @ table
    spread = float(share @ (table**2).sum(axis=1))  # half the expected squared distance
    differ = 1.0 - float(share @ share)
    return table * np.sqrt(differ / spread) if spread > 0 else table
