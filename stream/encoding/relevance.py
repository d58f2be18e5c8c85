"""Relevance of each field to the others: its mean Cramér's V, from co-occurrence counts.

See :class:`stream.encoding.MixedEncoder` for what the weights are for and how they behave.
"""

from __future__ import annotations

import numpy as np

from stream.encoding.cooccurrence import Cooccurrence


def field_weights(
    cooc: Cooccurrence, tokens: dict[str, list[int]], weighed: set[str]
) -> dict[str, float]:
    """A weight for each field of ``weighed`` with a defined relevance: its mean Cramér's V
    with the fields it co-occurs with, divided by the mean of that over the weighed fields of
    its group of co-occurring fields.

    A field that co-occurs with no other (alone, constant, or its partners never counted) has
    no weight; neither have the fields of a group that are all independent of the others.
    """
    names = [name for name, field_tokens in tokens.items() if field_tokens]
    if len(names) < 2:
        return {}
    cramer = _cramer_v(cooc, [tokens[name] for name in names])
    linked = np.isfinite(cramer)
    relevance = np.where(linked, cramer, 0.0).sum(axis=1) / np.maximum(linked.sum(axis=1), 1)
    weights = {}
    for group in _groups(linked):
        group = [f for f in group if names[f] in weighed and linked[f].any()]
        mean = float(relevance[group].mean()) if group else 0.0
        if mean > 0:
            weights.update({names[f]: float(relevance[f]) / mean for f in group})
    return weights


def _cramer_v(cooc: Cooccurrence, fields: list[list[int]]) -> np.ndarray:
    """Cramér's V of every pair of fields over the records holding both (``NaN`` where none
    do, where one of them takes a single value there, and on the diagonal)."""
    sizes = np.array([len(field_tokens) for field_tokens in fields])
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    order = np.concatenate(fields)
    upper = cooc.table[np.ix_(order, order)]
    pairs = upper + upper.T  # tokens of one field never meet: the diagonal blocks hold counts
    pairs[np.arange(len(order)), np.arange(len(order))] = 0.0
    # Records holding token i and any value of field g: the margins of each pair's table.
    margin = np.add.reduceat(pairs, starts, axis=1)
    together = np.add.reduceat(margin, starts, axis=0)
    field_of = np.repeat(np.arange(len(fields)), sizes)
    rows = margin[:, field_of]
    expected = rows * rows.T
    ratio = np.divide(pairs**2, expected, out=np.zeros_like(pairs), where=pairs > 0)
    # Pearson's chi-square, n * (sum N_ij^2 / (R_i C_j) - 1), per pair of fields.
    chi2 = together * (np.add.reduceat(np.add.reduceat(ratio, starts, 0), starts, 1) - 1.0)
    levels = np.add.reduceat((margin > 0).astype(np.float64), starts, axis=0)
    dof = np.minimum(levels, levels.T) - 1.0
    defined = (together > 0) & (dof > 0)
    np.fill_diagonal(defined, False)
    cramer = np.full(defined.shape, np.nan)
    cramer[defined] = np.sqrt(np.maximum(chi2[defined], 0.0) / (together * dof)[defined])
    return cramer


def _groups(linked: np.ndarray) -> list[list[int]]:
    """The connected groups of fields, two fields linked when their V is defined."""
    unseen, groups = set(range(len(linked))), []
    while unseen:
        group, frontier = [], [unseen.pop()]
        while frontier:
            f = frontier.pop()
            group.append(f)
            near = [g for g in np.flatnonzero(linked[f]) if g in unseen]
            unseen.difference_update(near)
            frontier.extend(near)
        groups.append(sorted(group))
    return groups
