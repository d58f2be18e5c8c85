"""Positions of the levels of an ordinal field: centred ridit scores."""

from __future__ import annotations

import numpy as np


def ridit_positions(counts: np.ndarray) -> np.ndarray:
    """Ridit score of each level (share below plus half the share at the level), centred and
    scaled like a categorical field: two records whose levels differ are at expected squared
    distance 2."""
    share = (counts + 0.5) / (counts + 0.5).sum()  # +0.5: unseen levels still get a place
    ridit = np.cumsum(share) - share / 2.0
    mean = float(share @ ridit)
    std = float(np.sqrt(share @ (ridit - mean) ** 2))
    differ = 1.0 - float(share @ share)
    return (ridit - mean) * np.sqrt(differ) / std if std > 0 else np.zeros_like(ridit)
