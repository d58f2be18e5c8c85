"""Counts of tokens (a field's value, or a numeric field's quintile) and of pairs of tokens."""

from __future__ import annotations

import numpy as np
from numba import njit


class Cooccurrence:
    """How many records hold each token, and each pair of tokens of two distinct fields.

    One symmetric table, kept as its upper triangle: ``table[i, i]`` counts token ``i``,
    ``table[i, j]`` (``i < j``) the records holding both. Tokens are numbered as they are
    created; the table grows by doubling.
    """

    def __init__(self, size: int = 0, table: np.ndarray | None = None):
        self.size = size
        self.table = np.zeros((size, size)) if table is None else table

    def new_tokens(self, count: int) -> list[int]:
        """Number ``count`` more tokens."""
        first = self.size
        self.size += count
        if self.size > len(self.table):
            grown = np.zeros((max(self.size, 2 * len(self.table)),) * 2)
            grown[: len(self.table), : len(self.table)] = self.table
            self.table = grown
        return list(range(first, self.size))

    def add(self, tokens: np.ndarray, paired: int) -> None:
        """Count the tokens of a batch: one row per record, one column per field, -1 missing.

        Pairs are counted only for the first ``paired`` columns against every later one.
        """
        _add_pair_counts(self.table, tokens, paired)

    def counts(self, tokens: list[int] | np.ndarray) -> np.ndarray:
        """Records holding each token."""
        return self.table[tokens, tokens].copy()

    def pairs(self, rows: list[int], tokens: np.ndarray) -> np.ndarray:
        """Records holding both token ``rows[a]`` and ``tokens[b]`` (distinct fields' tokens)."""
        return self.table[np.ix_(rows, tokens)] + self.table[np.ix_(tokens, rows)].T

    def to_state(self) -> list[np.ndarray]:
        """The non-zero counts as ``[rows, columns, counts]`` (the table is sparse)."""
        used = self.table[: self.size, : self.size]
        rows, cols = np.nonzero(np.triu(used))
        return [rows, cols, used[rows, cols]]

    @classmethod
    def from_state(cls, size: int, state: list) -> Cooccurrence:
        rows, cols, counts = (np.asarray(part) for part in state)
        table = np.zeros((size, size))
        table[rows, cols] = counts
        return cls(size, table)


@njit(cache=True)
def _add_pair_counts(table: np.ndarray, tokens: np.ndarray, paired: int) -> None:
    """Count each token and each pair ``(a < paired, b > a)`` of a record's tokens, once, in the
    upper triangle. A plain loop, single-threaded so it does not compete with the map's parallel
    kernels."""
    n, width = tokens.shape
    for r in range(n):
        for a in range(width):
            i = tokens[r, a]
            if i < 0:
                continue
            table[i, i] += 1.0
            if a >= paired:
                continue
            for b in range(a + 1, width):
                j = tokens[r, b]
                if j < 0:
                    continue
                if i < j:
                    table[i, j] += 1.0
                else:
                    table[j, i] += 1.0
