"""Mixed-type online encoding: records of every source -> one numeric feature space (DESIGN §2).

See :class:`MixedEncoder` for the method and why.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from itertools import repeat
from operator import itemgetter
from typing import Any

import numpy as np
from numba import njit

from models.base import SnapshotError, _decode, _encode
from stream.records import Record
from stream.schema import SchemaRegistry, category_name

__all__ = ["MixedEncoder"]

_SNAPSHOT_FORMAT = 1
_TYPE_NAME = "stream.encoding.MixedEncoder"
# Edges of the five equally likely bins of a standard normal: numeric fields take part in the
# co-occurrence statistics of categorical values as "which fifth of its range is it in".
_NORMAL_QUINTILES = np.array([-0.8416, -0.2533, 0.2533, 0.8416])
_OTHER = "\x00other"  # the shared value of a field once it has max_categories distinct values
_WARM_COUNT = 30  # values needed before the running scale is trusted to winsorise with
_MAD_TO_SIGMA = 1.4826  # median absolute deviation -> sigma for a normal
_TEXT_OR_NONE = {str, type(None)}
_NO_BYTE = 255  # the byte code of a value not in a field's table
_NO_BYTE_CODE = bytes((_NO_BYTE,))


class _ByteCodes(dict):
    """Value -> its code as one byte; anything else (missing, new, not text) -> ``_NO_BYTE``."""

    def __missing__(self, value: Any) -> bytes:
        return _NO_BYTE_CODE


class MixedEncoder:
    """Online encoder of heterogeneous records into one float matrix, ``NaN`` = missing.

    Every field becomes one or a few columns of a shared space, named by field, so records of
    different sources meet where they share fields and leave the other columns missing (``NaN``,
    never zero: the map's distance skips or re-weights missing dimensions). Fields and
    categories may appear mid-stream; new columns are appended, existing ones keep their place.
    The scale is chosen so that "distance" means the same for every kind of field: two records
    whose values of a field differ are at an expected squared distance of 2 in that field's
    columns, the value of a standardised numeric field. (For a continuous field, two random
    records almost surely differ, so this is the usual z-score. For a categorical or ordinal
    field it is the mean over the pairs that differ, not over all pairs: counting the pairs with
    equal values as well would stretch a nearly constant field until its rare value lies far
    from everything, e.g. ``1 / sqrt(p (1 - p))`` ~ 7 for a binary field at 2 %, beyond any
    clipped numeric value; here it is ``sqrt(2)``, as for a one-hot column.)

    * **numeric**: standardised with running mean and variance, ``z = (x - mean) / std``.
      Outliers are kept from wrecking the scale twice: a value enters the statistics
      winsorised to ``mean +- outlier_sigma * std`` (to a robust median / MAD bound while fewer
      than 30 values are known; if more than half the values are equal, the MAD of the others,
      so the rare levels of a discrete field are not taken for outliers), so one ``1e9`` moves
      the scale by a bounded step; and the output is clipped to ``+-clip``, so one record
      cannot dominate a distance. The bound and the clip compress a heavy tail (a field like
      an income): that is the point of them, and it is a choice (a rare extreme value counts
      as "far", not as "farther than everything else together").
    * **categorical**: embedded in at most ``max_dims`` learned coordinates (not a one-hot).
      Each value has a profile: its identity, plus how the other fields are distributed in the
      records where it occurs (other categories, ordinal levels, quintiles of numeric fields),
      estimated from co-occurrence counts with a small prior towards the overall distribution.
      Two values are as far apart as their profiles (Hellinger distance for the context part,
      weighted ``1 - self_weight``): values seen in similar company end up close, as in
      context-based categorical distances, and the identity part keeps values distinct when the
      context says nothing. A frequency-weighted classical scaling (PCA of the profiles) gives
      the coordinates, scaled by the rule above (weighted variance ``1 - sum(p**2)``), so a
      rare value cannot blow up distances the way a standardised one-hot column does
      (``1 / sqrt(p)``) and a field counts once whatever its number of values.
    * **ordinal**: one column, the value's ridit score (the share of records below the level
      plus half of those at it, learned from the stream), centred and scaled by the same rule.
      Order is kept, and two levels are as far apart as the share of records between them.

    A field with a new value gets coordinates at once. Otherwise, every ``refresh_every``
    records (every doubling of the stream while it is shorter), each field is checked, and its
    coordinates are recomputed only if its counts have changed materially since they were last
    computed: if a record's value profile (context distribution, and the value's share) has
    moved, on average over the records, by more than ``refresh_tolerance`` in Hellinger
    distance. Why a change test and not a clock: on a stationary stream the profiles settle
    (their sampling noise shrinks like ``1 / sqrt(count)``), so refreshes become rare and their
    cost per record falls towards zero, while a drift that moves the profiles still triggers
    them. The default, 0.05, is 5 % of the largest possible distance of two profiles (Hellinger
    distances lie in [0, 1]): a move that small, well inside a value's distance to the others,
    seldom changes which neuron a record is nearest to, and it is reached by sampling noise
    alone only while a value has been seen fewer than about 25 times per value of its context
    fields. Weighting by records (not values) makes a rare value's sampling noise count as
    little as the records it holds. (The
    check reads the field's own co-occurrence rows; the overall distribution that smooths rare
    values is left out: it enters through ``smoothing`` only.) A refresh is aligned to the
    previous coordinates by an orthogonal Procrustes rotation, so a map learned on the old
    coordinates stays valid. Statistics are updated once per ``learn_many`` batch.

    Parameters
    ----------
    types
        Field name -> ``numeric`` | ``categorical`` | ``ordinal``. Undeclared fields are typed
        by their first value: numbers numeric, strings (and booleans) categorical.
    levels
        Ordinal field name -> its levels in increasing order (required for ordinal fields).
    max_dims
        Most coordinates one categorical field gets.
    self_weight
        Share of a categorical value's distance that is its identity (the rest is context).
    max_categories
        Distinct values tracked per categorical field; further values share one more, "other".
        Memory grows with the square of the total number of values of all fields.
    refresh_every
        Records between two checks of whether the coordinates need recomputing.
    refresh_tolerance
        How far (mean Hellinger distance) the value profiles of a field may move before its
        coordinates are recomputed; 0 recomputes every field at every check.
    clip
        Bound of a standardised numeric value.
    outlier_sigma
        How many standard deviations a value may lie from the mean before it is winsorised.
    smoothing
        Pseudo-count pulling a rare value's context towards the overall distribution.

    Examples
    --------
    >>> encoder = MixedEncoder(levels={"size": ["S", "M", "L"]}, types={"size": "ordinal"})
    >>> rng = np.random.default_rng(0)
    >>> batch = []
    >>> for i in range(400):
    ...     group = i % 2
    ...     colour = str(rng.choice(["red", "orange"] if group else ["blue", "teal"]))
    ...     features = {"weight": float(rng.normal(10 * group, 1)), "colour": colour,
    ...                 "size": "L" if group else str(rng.choice(["S", "M"]))}
    ...     batch.append(Record("shop", str(i), 0, features))
    >>> X = encoder.learn_transform_many(batch)
    >>> encoder.feature_names
    ['weight', 'size', 'colour#0', 'colour#1', 'colour#2']
    >>> colour = encoder.embedding("colour")
    >>> def distance(a, b):
    ...     return round(float(np.linalg.norm(colour[a] - colour[b])), 2)
    >>> distance("red", "orange"), distance("red", "blue")  # red goes with orange, not blue
    (1.13, 1.53)
    >>> {level: round(float(x[0]), 2) for level, x in encoder.embedding("size").items()}
    {'S': -1.17, 'M': -0.43, 'L': 0.75}
    >>> encoder.transform_many([Record("shop", "x", 0, {"weight": 15.0, "size": "S"})]).round(2)
    array([[ 1.95, -1.17,   nan,   nan,   nan]])

    References
    ----------
    Ahmad, A. and Dey, L. (2007). A k-mean clustering algorithm for mixed numeric and
    categorical data. Data & Knowledge Engineering 63(2). (Context-based value distances.)
    Zhang, Y. and Cheung, Y. (2022). A new distance metric exploiting heterogeneous
    interattribute relationship for ordinal-and-nominal-attribute data clustering. IEEE
    Transactions on Cybernetics 52(2). (Unified distances for heterogeneous attributes.)
    """

    def __init__(
        self,
        types: Mapping[str, str] | None = None,
        levels: Mapping[str, list[str]] | None = None,
        max_dims: int = 8,
        self_weight: float = 0.5,
        max_categories: int = 64,
        refresh_every: int = 1000,
        refresh_tolerance: float = 0.05,
        clip: float = 5.0,
        outlier_sigma: float = 4.0,
        smoothing: float = 1.0,
    ):
        self.types = types
        self.levels = levels
        self.max_dims = max_dims
        self.self_weight = self_weight
        self.max_categories = max_categories
        self.refresh_every = refresh_every
        self.refresh_tolerance = refresh_tolerance
        self.clip = clip
        self.outlier_sigma = outlier_sigma
        self.smoothing = smoothing
        self._check_params()
        self._reset()

    @classmethod
    def from_registry(cls, registry: SchemaRegistry, **params: Any) -> MixedEncoder:
        """An encoder typed by the declared fields of every source in ``registry``."""
        specs = registry.field_types()
        types = {name: spec.type for name, spec in specs.items()}
        levels = {
            name: list(spec.categories) for name, spec in specs.items() if spec.type == "ordinal"
        }
        return cls(types=types, levels=levels, **params)

    def _check_params(self) -> None:
        for name, kind in (self.types or {}).items():
            if kind not in ("numeric", "categorical", "ordinal"):
                raise ValueError(f"field {name!r}: unknown type {kind!r}")
            if kind == "ordinal" and not (self.levels or {}).get(name):
                raise ValueError(f"ordinal field {name!r} needs its levels")
        if not 0.0 <= self.self_weight <= 1.0:
            raise ValueError("self_weight is a share, between 0 and 1")
        if self.max_dims < 1 or self.max_categories < 2 or self.refresh_every < 1:
            raise ValueError("max_dims >= 1, max_categories >= 2 and refresh_every >= 1")
        if not self.refresh_tolerance >= 0.0:
            raise ValueError("refresh_tolerance >= 0")

    def _reset(self) -> None:
        self._fields: dict[str, str] = {}  # name -> kind, in order of appearance
        self._columns: dict[str, list[int]] = {}  # name -> output columns
        self._column_names: list[str] = []
        self._stats: dict[str, list[float]] = {}  # numeric name -> [count, mean, m2]
        self._values: dict[str, list[str]] = {}  # categorical / ordinal name -> values
        self._lookup: dict[str, dict[str, int]] = {}  # value -> position in _values[name]
        self._tokens: dict[str, list[int]] = {}  # name -> co-occurrence row of each value / bin
        self._embeddings: dict[str, np.ndarray] = {}  # categorical: values x columns
        self._positions: dict[str, np.ndarray] = {}  # ordinal: standardised ridit per level
        self._cooc = np.zeros((0, 0))
        self._n_tokens = 0
        self._stale: set[str] = set()  # fields with values that have no coordinates yet
        self._since_refresh = 0
        self._seen_at_refresh = 0  # records learned up to the last check
        # Categorical name -> its value counts and pair counts (sparse) at its last refresh.
        self._reference: dict[str, list[np.ndarray]] = {}
        self._byte_tables: dict[str, _ByteCodes] = {}  # derived from _lookup, not saved

    # -- public API -------------------------------------------------------------------------

    @property
    def feature_names(self) -> list[str]:
        """Name of every output column, in column order (``field`` or ``field#k``)."""
        return list(self._column_names)

    def embedding(self, field: str) -> dict[str, np.ndarray]:
        """The current coordinates of each value of a categorical or ordinal field."""
        if self._fields.get(field) == "ordinal":
            return {v: self._positions[field][i : i + 1] for i, v in enumerate(self._values[field])}
        table = self._embeddings.get(field, np.zeros((0, 0)))
        return {v: table[i] for i, v in enumerate(self._values.get(field, [])) if i < len(table)}

    def learn_many(self, records: Iterable[Record | Mapping]) -> None:
        """Update the statistics with a batch of records (or feature dicts)."""
        self._learn(self._extract(_features_of(records), grow=True))

    def transform_many(self, records: Iterable[Record | Mapping]) -> np.ndarray:
        """The records as an ``(n, d)`` float64 matrix; ``NaN`` where a value is missing."""
        return self._transform(self._extract(_features_of(records), grow=False))

    def learn_transform_many(self, records: Iterable[Record | Mapping]) -> np.ndarray:
        """Learn a batch, then encode it with the updated statistics."""
        columns = self._extract(_features_of(records), grow=True)
        self._learn(columns)
        return self._transform(columns)

    def learn_transform_columns(self, columns: Mapping[str, Any]) -> np.ndarray:
        """Like :meth:`learn_transform_many`, for a batch given field by field.

        ``columns`` maps a field to its values for every record of the batch: numbers (an
        array, ``NaN`` = missing) for a numeric field; for a categorical or ordinal field a
        dictionary-encoded pair ``(codes, categories)`` (integer codes into the category names,
        -1 = missing, as Arrow dictionary arrays or pandas categoricals hold them), or plain
        values. A field left out is missing in every record. The output is the one
        :meth:`learn_transform_many` gives for the same records (fields and values met in the
        same order). Dictionary-encoded columns skip reading and looking up every value, the
        floor of record-wise input.
        """
        extracted = self._extract_columns(columns, grow=True)
        self._learn(extracted)
        return self._transform(extracted)

    def transform_columns(self, columns: Mapping[str, Any]) -> np.ndarray:
        """Like :meth:`transform_many`, for a batch given field by field."""
        return self._transform(self._extract_columns(columns, grow=False))

    # -- extraction: records -> one array per field -------------------------------------------

    def _extract_columns(
        self, columns: Mapping[str, Any], grow: bool
    ) -> tuple[int, dict[str, np.ndarray]]:
        lengths = {len(c[0]) if isinstance(c, tuple) else len(c) for c in columns.values()}
        if len(lengths) > 1:
            raise ValueError("columns of one batch must have the same length")
        n = lengths.pop() if lengths else 0
        if grow:
            for name, column in columns.items():
                if name in self._fields:
                    continue
                if isinstance(column, tuple):
                    kind = "categorical"
                elif isinstance(column, np.ndarray) and column.dtype.kind in "fiu":
                    kind = "numeric"
                else:
                    kind = _infer_kind(column)
                kind = (self.types or {}).get(name) or kind
                if kind is not None:
                    self._add_field(name, kind)
        out = {}
        for name, kind in self._fields.items():
            column = columns.get(name)
            if kind == "numeric":
                out[name] = _as_floats(column) if column is not None else np.full(n, np.nan)
            elif column is None:
                out[name] = np.full(n, -1, dtype=np.int64)
            elif isinstance(column, tuple):
                out[name] = self._dictionary_codes(name, *column, grow=grow)
            else:
                out[name] = self._codes(name, column, grow=grow and kind == "categorical")
        return n, out

    def _dictionary_codes(
        self, name: str, codes: Any, categories: Sequence, grow: bool
    ) -> np.ndarray:
        codes = np.asarray(codes, dtype=np.int64)
        present = codes >= 0
        used = np.bincount(codes[present], minlength=len(categories)) > 0
        categories = [_as_category(c) for c in categories]
        remap = np.full(len(categories) + 1, -1, dtype=np.int64)  # the last entry: missing
        lookup = self._lookup[name]
        remap[:-1] = [lookup.get(c, -1) for c in categories]
        new = used & (remap[:-1] < 0)
        if grow and self._fields[name] == "categorical" and new.any():
            # New values are added in order of first appearance, as record by record.
            first = np.full(len(categories), len(codes))
            np.minimum.at(first, codes[present], np.flatnonzero(present))
            ordered = [categories[i] for i in sorted(np.flatnonzero(new), key=first.__getitem__)]
            for value in ordered:
                if value is not None and value not in lookup:
                    self._add_value(name, value)
            other = lookup.get(_OTHER, -1)  # values past the cap are counted as "other"
            remap[:-1] = [
                lookup.get(c, other) if c is not None and u else lookup.get(c, -1)
                for c, u in zip(categories, used, strict=True)
            ]
        return remap[np.where(present, codes, len(categories))]

    def _extract(self, features: list[Mapping], grow: bool) -> tuple[int, dict[str, np.ndarray]]:
        names = list(self._fields)
        raw, complete = _field_columns(features, names)
        # A batch whose records all hold exactly the known fields has no new field to look for.
        if grow and not complete and self._add_new_fields(features):
            names = list(self._fields)
            raw, _ = _field_columns(features, names)
        out = {}
        for name, values in zip(names, raw, strict=True):
            kind = self._fields[name]
            if kind == "numeric":
                out[name] = _as_floats(values)
            else:
                out[name] = self._codes(name, values, grow=grow and kind == "categorical")
        return len(features), out

    def _add_new_fields(self, features: list[Mapping]) -> bool:
        if not set().union(*features) - self._fields.keys():
            return False
        names: dict[str, None] = {}
        for f in features:  # first-appearance order: columns are appended in that order
            names.update(dict.fromkeys(f))
        added = False
        for name in names:
            if name in self._fields:
                continue
            kind = (self.types or {}).get(name) or _infer_kind(f.get(name) for f in features)
            if kind is not None:
                self._add_field(name, kind)
                added = True
        return added

    def _add_field(self, name: str, kind: str) -> None:
        self._fields[name] = kind
        self._columns[name] = []
        if kind == "numeric":
            self._stats[name] = [0.0, 0.0, 0.0]
            self._tokens[name] = self._new_tokens(len(_NORMAL_QUINTILES) + 1)
            self._add_columns(name, 1)
        elif kind == "ordinal":
            self._values[name] = [str(level) for level in self.levels[name]]
            self._lookup[name] = {v: i for i, v in enumerate(self._values[name])}
            self._tokens[name] = self._new_tokens(len(self._values[name]))
            self._positions[name] = _ridit_positions(np.zeros(len(self._values[name])))
            self._add_columns(name, 1)
        else:
            self._values[name], self._lookup[name], self._tokens[name] = [], {}, []
            self._embeddings[name] = np.zeros((0, 0))

    def _add_columns(self, name: str, count: int) -> None:
        kind = self._fields[name]
        for _ in range(count):
            column = len(self._column_names)
            label = name if kind != "categorical" else f"{name}#{len(self._columns[name])}"
            self._columns[name].append(column)
            self._column_names.append(label)

    def _new_tokens(self, count: int) -> list[int]:
        first = self._n_tokens
        self._n_tokens += count
        if self._n_tokens > len(self._cooc):
            grown = np.zeros((max(self._n_tokens, 2 * len(self._cooc)),) * 2)
            grown[: len(self._cooc), : len(self._cooc)] = self._cooc
            self._cooc = grown
        return list(range(first, self._n_tokens))

    def _codes(self, name: str, raw: Sequence, grow: bool) -> np.ndarray:
        lookup = self._lookup[name]
        try:
            codes = self._byte_codes(name, raw)
            if codes is None:
                codes = np.fromiter(map(lookup.get, raw, repeat(-1)), np.int64, count=len(raw))
        except TypeError:  # an unhashable value: make every value a category name first
            raw = [_as_category(v) for v in raw]
            codes = np.fromiter(map(lookup.get, raw, repeat(-1)), dtype=np.int64, count=len(raw))
        unknown = np.flatnonzero(codes < 0)  # missing, a value not had yet, or not a string
        if len(unknown) == 0:
            return codes
        values = list(itemgetter(*unknown)(raw)) if len(unknown) > 1 else [raw[unknown[0]]]
        if not set(map(type, values)) <= _TEXT_OR_NONE:
            values = [_as_category(v) for v in values]
            codes[unknown] = [lookup.get(v, -1) for v in values]
        if not grow:
            return codes
        new = [v for v in dict.fromkeys(values) if v is not None and v not in lookup]
        if not new:
            return codes
        for value in new:
            self._add_value(name, value)
        other = lookup.get(_OTHER, -1)  # values past the cap are counted as "other"
        codes[unknown] = [lookup.get(v, other) if v is not None else -1 for v in values]
        return codes

    def _byte_codes(self, name: str, raw: Sequence) -> np.ndarray | None:
        """Codes of a field with fewer than 255 values, looked up and packed in C.

        Converting a Python int to an array element costs about as much as the lookup itself;
        a one-byte ``bytes`` per code, joined, is read by numpy without any conversion.
        """
        table = self._byte_tables.get(name)
        if table is None:
            if len(self._lookup[name]) >= _NO_BYTE:
                return None
            table = _ByteCodes((v, bytes((i,))) for v, i in self._lookup[name].items())
            table[None] = _NO_BYTE_CODE  # missing: the most common miss, without a call
            self._byte_tables[name] = table
        if len(raw) < 2:  # itemgetter of one key returns the value, not a tuple
            return None
        codes = np.frombuffer(b"".join(itemgetter(*raw)(table)), dtype=np.uint8).astype(np.int64)
        codes[codes == _NO_BYTE] = -1
        return codes

    def _add_value(self, name: str, value: str) -> None:
        lookup = self._lookup[name]
        if len(lookup) >= self.max_categories:
            if _OTHER in lookup:
                return
            value = _OTHER
        lookup[value] = len(self._values[name])
        self._byte_tables.pop(name, None)
        self._values[name].append(value)
        self._tokens[name].extend(self._new_tokens(1))
        self._stale.add(name)

    # -- learning ----------------------------------------------------------------------------

    def _learn(self, extracted: tuple[int, dict[str, np.ndarray]]) -> None:
        n, columns = extracted
        if n == 0:
            return
        for name, kind in self._fields.items():
            if kind == "numeric":
                self._update_stats(name, columns[name])
        self._count_cooccurrences(n, columns)
        self._since_refresh += n
        # Early on, every doubling of the data is checked (estimates change fast while counts
        # are small); later, every refresh_every records.
        if self._since_refresh >= min(self.refresh_every, max(self._seen_at_refresh, 1)):
            self._refresh([name for name in self._fields if self._moved(name)])
            self._seen_at_refresh += self._since_refresh
            self._since_refresh = 0
        elif self._stale:
            self._refresh(sorted(self._stale))

    def _update_stats(self, name: str, x: np.ndarray) -> None:
        x = x[~np.isnan(x)]
        if len(x) == 0:
            return
        count, mean, m2 = self._stats[name]
        low, high = self._winsor_bounds(count, mean, m2, x)
        x = np.clip(x, low, high)
        # Chan et al.'s parallel update: merge the batch's moments into the running ones.
        n_b, mean_b = len(x), float(x.mean())
        m2_b = float(((x - mean_b) ** 2).sum())
        total = count + n_b
        delta = mean_b - mean
        self._stats[name] = [
            total,
            mean + delta * n_b / total,
            m2 + m2_b + delta * delta * count * n_b / total,
        ]

    def _winsor_bounds(self, count: float, mean: float, m2: float, x: np.ndarray) -> tuple:
        if count >= _WARM_COUNT:
            center, spread = mean, self.outlier_sigma * np.sqrt(m2 / count)
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
            spread = self.outlier_sigma * sigma
        if spread <= 0.0:
            return -np.inf, np.inf
        return center - spread, center + spread

    def _token_matrix(self, n: int, columns: dict[str, np.ndarray]) -> np.ndarray:
        """Co-occurrence row of each record's value of each field (-1 where missing).

        Categorical fields come first: only pairs with a categorical value are ever read.
        """
        order = sorted(self._fields, key=lambda name: self._fields[name] != "categorical")
        tokens = np.full((n, len(order)), -1, dtype=np.int64)
        for j, name in enumerate(order):
            table = np.asarray(self._tokens[name] + [-1], dtype=np.int64)
            if self._fields[name] == "numeric":
                z = self._standardise(name, columns[name])
                codes = np.searchsorted(_NORMAL_QUINTILES, z)
                codes[np.isnan(z)] = -1
            else:
                codes = columns[name]
            tokens[:, j] = table[codes]
        return tokens

    def _count_cooccurrences(self, n: int, columns: dict[str, np.ndarray]) -> None:
        paired = sum(kind == "categorical" for kind in self._fields.values())
        _add_pair_counts(self._cooc, self._token_matrix(n, columns), paired)

    def _pairs(self, rows: list[int], tokens: np.ndarray) -> np.ndarray:
        """Records holding both token ``rows[a]`` and ``tokens[b]`` (distinct fields' tokens).

        Counts are kept once per pair, in the upper triangle (``cooc[i, j]``, ``i < j``).
        """
        return self._cooc[np.ix_(rows, tokens)] + self._cooc[np.ix_(tokens, rows)].T

    # -- coordinates -----------------------------------------------------------------------------

    def _refresh(self, names: list[str]) -> None:
        for name in names:
            kind = self._fields[name]
            if kind == "categorical":
                self._refresh_categorical(name)
            elif kind == "ordinal":
                self._positions[name] = _ridit_positions(self._counts(name))
        self._stale.clear()

    def _moved(self, name: str) -> bool:
        """Whether a field's coordinates are out of date (see the class docstring)."""
        kind = self._fields[name]
        if kind != "categorical" or name in self._stale or self.refresh_tolerance <= 0:
            return kind != "numeric"  # ordinal positions are a cumulative sum: always redone
        rows, context, fields = self._context_tokens(name)
        if name not in self._reference:
            return True
        counts, then_rows, then_cols, then_pairs = self._reference[name]
        now = self._counts(name)
        if len(counts) != len(now) or not (counts > 0).all():
            return True
        then = np.zeros((len(rows), self._n_tokens))
        then[then_rows, then_cols] = then_pairs
        now_pairs, then_pairs = self._pairs(rows, context), then[:, context]
        # Mean squared Hellinger distance over the context fields, per value, then averaged
        # over records; plus the squared Hellinger distance of the value shares.
        moved = np.sum(
            (np.sqrt(now_pairs / now[:, None]) - np.sqrt(then_pairs / counts[:, None])) ** 2,
            axis=1,
        ) / (2.0 * max(fields, 1))
        share, before = now / now.sum(), counts / counts.sum()
        shares_moved = 0.5 * float(np.sum((np.sqrt(share) - np.sqrt(before)) ** 2))
        return float(share @ moved) + shares_moved > self.refresh_tolerance**2

    def _context_tokens(self, name: str) -> tuple[list[int], np.ndarray, int]:
        """A field's tokens, every other field's tokens, and how many other fields have any."""
        others = [other for other in self._fields if other != name and self._tokens[other]]
        context = [t for other in others for t in self._tokens[other]]
        return self._tokens[name], np.asarray(context, dtype=np.int64), len(others)

    def _remember(self, name: str, counts: np.ndarray) -> None:
        rows, context, _ = self._context_tokens(name)
        pairs = np.zeros((len(rows), self._n_tokens))
        if len(context):
            pairs[:, context] = self._pairs(rows, context)
        where = np.nonzero(pairs)
        self._reference[name] = [counts, where[0], where[1], pairs[where]]

    def _counts(self, name: str) -> np.ndarray:
        tokens = self._tokens[name]
        return self._cooc[tokens, tokens].copy()

    def _refresh_categorical(self, name: str) -> None:
        counts = self._counts(name)
        self._remember(name, counts)
        if counts.sum() <= 0 or len(counts) < 2:
            self._embeddings[name] = np.zeros((len(counts), len(self._columns[name])))
            return
        weights = counts / counts.sum()
        coordinates = _weighted_scaling(self._profiles(name, counts), weights, self.max_dims)
        previous = self._embeddings[name]
        coordinates = _align(coordinates, previous, weights)
        if coordinates.shape[1] > len(self._columns[name]):
            self._add_columns(name, coordinates.shape[1] - len(self._columns[name]))
        table = np.zeros((len(counts), len(self._columns[name])))
        table[:, : coordinates.shape[1]] = coordinates
        self._embeddings[name] = table

    def _profiles(self, name: str, counts: np.ndarray) -> np.ndarray:
        """Each value's identity and context, scaled so that Euclidean distance is the metric."""
        rows = self._tokens[name]
        contexts = [other for other in self._fields if other != name and self._tokens[other]]
        # Identity: distinct values are at squared distance self_weight from each other.
        identity = np.sqrt(self.self_weight / 2.0) * np.eye(len(rows))
        if not contexts:
            return identity
        # All context fields at once: their tokens side by side, one segment per field.
        sizes = np.array([len(self._tokens[other]) for other in contexts])
        starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        tokens = np.concatenate([self._tokens[other] for other in contexts])
        marginal = self._cooc[tokens, tokens]
        totals = np.add.reduceat(marginal, starts)
        joint = self._pairs(rows, tokens)
        together = np.repeat(np.add.reduceat(joint, starts, axis=1), sizes, axis=1)
        prior = marginal / np.repeat(np.where(totals > 0, totals, 1.0), sizes)
        conditional = (joint + self.smoothing * prior) / (together + self.smoothing)
        # sqrt-probabilities: half their squared Euclidean distance is the squared Hellinger
        # distance, in [0, 1]; averaged over the context fields (a field never seen yet counts
        # in the average but adds no coordinates).
        scale = (1.0 - self.self_weight) / (2.0 * len(contexts))
        seen = np.repeat(totals > 0, sizes)
        return np.hstack([identity, np.sqrt(scale * conditional[:, seen])])

    # -- transform --------------------------------------------------------------------------

    def _standardise(self, name: str, x: np.ndarray) -> np.ndarray:
        count, mean, m2 = self._stats[name]
        std = np.sqrt(m2 / count) if count > 1 else 0.0
        # A constant field (std 0) is centred only: its values are all alike, distance 0.
        z = (x - mean) / std if std > 1e-12 else x - mean
        return np.clip(z, -self.clip, self.clip)

    def _transform(self, extracted: tuple[int, dict[str, np.ndarray]]) -> np.ndarray:
        n, columns = extracted
        # Every column belongs to one field and is written below.
        out = np.empty((n, len(self._column_names)))
        coded = []
        for name, kind in self._fields.items():
            where = self._columns[name]
            if not where:
                continue
            if kind == "numeric":
                out[:, where[0]] = self._standardise(name, columns[name])
            else:
                coded.append(name)
        if coded:
            _fill_coded(out, *self._coded_tables(n, coded, columns))
        return out

    def _coded_tables(self, n: int, names: list[str], columns: dict[str, np.ndarray]) -> tuple:
        """Codes, stacked coordinate tables and output columns of the coded fields."""
        width = max(len(self._columns[name]) for name in names)
        sizes = [len(self._values[name]) + 1 for name in names]
        offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        # Values without coordinates yet (learned after the last refresh, or never learned)
        # are unknown, so missing: NaN rows.
        tables = np.full((offsets[-1], width), np.nan)
        where = np.zeros((len(names), width), dtype=np.int64)
        widths = np.zeros(len(names), dtype=np.int64)
        codes = np.empty((n, len(names)), dtype=np.int64)
        for f, name in enumerate(names):
            if self._fields[name] == "categorical":
                table = self._embeddings[name]
            else:
                table = self._positions[name][:, None]
            tables[offsets[f] : offsets[f] + len(table), : table.shape[1]] = table
            widths[f] = len(self._columns[name])
            where[f, : widths[f]] = self._columns[name]
            codes[:, f] = columns[name]
        return codes, tables, offsets, where, widths

    # -- snapshots ---------------------------------------------------------------------------

    def _get_params(self) -> dict:
        return {
            "types": dict(self.types) if self.types is not None else None,
            "levels": {k: list(v) for k, v in self.levels.items()} if self.levels else self.levels,
            "max_dims": self.max_dims,
            "self_weight": self.self_weight,
            "max_categories": self.max_categories,
            "refresh_every": self.refresh_every,
            "refresh_tolerance": self.refresh_tolerance,
            "clip": self.clip,
            "outlier_sigma": self.outlier_sigma,
            "smoothing": self.smoothing,
        }

    def to_dict(self) -> dict:
        """The encoder as a versioned JSON-safe document (the same layout as model snapshots)."""
        used = self._cooc[: self._n_tokens, : self._n_tokens]
        rows, cols = np.nonzero(np.triu(used))  # symmetric and sparse: store the upper half
        state = {
            "fields": self._fields,
            "columns": self._columns,
            "column_names": self._column_names,
            "stats": self._stats,
            "values": self._values,
            "tokens": self._tokens,
            "embeddings": self._embeddings,
            "positions": self._positions,
            "n_tokens": self._n_tokens,
            "cooc": [rows, cols, used[rows, cols]],
            "stale": sorted(self._stale),
            "since_refresh": self._since_refresh,
            "seen_at_refresh": self._seen_at_refresh,
            "reference": self._reference,
        }
        return {
            "format": _SNAPSHOT_FORMAT,
            "type": _TYPE_NAME,
            "params": _encode(self._get_params()),
            "state": _encode(state),
        }

    @classmethod
    def from_dict(cls, document: dict) -> MixedEncoder:
        """Rebuild an encoder from :meth:`to_dict` output; raises ``SnapshotError``."""
        if not isinstance(document, dict) or document.get("type") != _TYPE_NAME:
            raise SnapshotError(f"not a {_TYPE_NAME} snapshot")
        if document.get("format") != _SNAPSHOT_FORMAT:
            raise SnapshotError(f"encoder snapshot format {document.get('format')!r} unknown")
        try:
            encoder = cls(**_decode(document["params"]))
            encoder._set_state(_decode(document["state"]))
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise SnapshotError(f"encoder snapshot is inconsistent: {exc}") from exc
        return encoder

    def _set_state(self, state: dict) -> None:
        self._fields = dict(state["fields"])
        self._columns = {k: list(v) for k, v in state["columns"].items()}
        self._column_names = list(state["column_names"])
        self._stats = {k: [float(x) for x in v] for k, v in state["stats"].items()}
        self._values = {k: list(v) for k, v in state["values"].items()}
        self._lookup = {k: {v: i for i, v in enumerate(vs)} for k, vs in self._values.items()}
        self._byte_tables = {}
        self._tokens = {k: [int(t) for t in v] for k, v in state["tokens"].items()}
        self._embeddings = {
            k: np.asarray(v, dtype=np.float64) for k, v in state["embeddings"].items()
        }
        self._positions = {
            k: np.asarray(v, dtype=np.float64) for k, v in state["positions"].items()
        }
        self._n_tokens = int(state["n_tokens"])
        rows, cols, counts = (np.asarray(part) for part in state["cooc"])
        self._cooc = np.zeros((self._n_tokens, self._n_tokens))
        self._cooc[rows, cols] = counts  # the upper triangle: each pair once
        self._stale = set(state["stale"])
        self._since_refresh = int(state["since_refresh"])
        self._seen_at_refresh = int(state["seen_at_refresh"])
        self._reference = {
            name: [np.asarray(part) for part in parts]
            for name, parts in state.get("reference", {}).items()
        }


# -- helpers ---------------------------------------------------------------------------------------


def _features_of(records: Iterable[Record | Mapping]) -> list[Mapping]:
    return [r.features if isinstance(r, Record) else r for r in records]


def _field_columns(features: list[Mapping], names: list[str]) -> tuple[list[Sequence], bool]:
    """The value (or ``None``) of each named field in each record, one sequence per field.

    Also says whether every record holds exactly these fields. The common case, records with the
    same fields, runs in C (``itemgetter`` per record, ``zip`` to transpose); records of several
    sources are read the same way, one group of records with the same fields at a time.
    """
    if not names:
        return [], all(not f for f in features)
    width = len(names)
    if width == 1:
        name = names[0]
        return [[f.get(name) for f in features]], all(f.keys() == {name} for f in features)
    if all(map(width.__eq__, map(len, features))):
        try:
            rows = list(map(itemgetter(*names), features))
        except KeyError:  # as many fields as the known ones, but not the same ones
            pass
        else:
            return (list(zip(*rows, strict=True)) if rows else [()] * width), True
    return _grouped_columns(features, names), False


def _grouped_columns(features: list[Mapping], names: list[str]) -> list[Sequence]:
    groups: dict[tuple, list[int]] = {}
    for i, keys in enumerate(map(tuple, features)):
        groups.setdefault(keys, []).append(i)
    if len(groups) > max(16, len(features) // 64):  # fields vary record by record: one by one
        return list(zip(*[tuple(map(f.get, names)) for f in features], strict=True))
    position = {name: j for j, name in enumerate(names)}
    columns = [np.full(len(features), None, dtype=object) for _ in names]
    for keys, members in groups.items():
        present = [key for key in keys if key in position]
        if not present:
            continue
        group = [features[i] for i in members]
        rows = list(map(itemgetter(*present), group))
        values = zip(*rows, strict=True) if len(present) > 1 else [rows]
        for key, column in zip(present, values, strict=True):
            # fromiter: each value one element, even a list or tuple (no nested broadcasting).
            columns[position[key]][members] = np.fromiter(column, object, count=len(members))
    return columns


def _as_floats(raw: Sequence) -> np.ndarray:
    try:
        x = np.array(raw, dtype=np.float64)  # None -> NaN
    except (TypeError, ValueError):  # a string where a number belongs: that value is missing
        x = np.array(
            [v if isinstance(v, int | float) and not isinstance(v, bool) else np.nan for v in raw],
            dtype=np.float64,
        )
    if x.ndim != 1:
        return np.full(len(raw), np.nan)
    x[~np.isfinite(x)] = np.nan
    return x


def _as_category(value: Any) -> str | None:
    return value if isinstance(value, str) else category_name(value)


def _infer_kind(values: Iterable[Any]) -> str | None:
    for value in values:
        if value is None:
            continue
        if isinstance(value, int | float) and not isinstance(value, bool):
            return "numeric"
        if isinstance(value, str | bool):
            return "categorical"
        return None
    return None


@njit(cache=True)
def _add_pair_counts(cooc: np.ndarray, tokens: np.ndarray, paired: int) -> None:
    """Count each token (``cooc[i, i]``) and each pair of tokens held by one record.

    ``tokens``: one row per record, one column per field, -1 where missing. Pairs are counted
    only for the first ``paired`` columns (categorical fields: only their profiles read pairs)
    against every later column, once, in the upper triangle. A plain loop, single-threaded so
    it does not compete with the map's parallel kernels.
    """
    n, width = tokens.shape
    for r in range(n):
        for a in range(width):
            i = tokens[r, a]
            if i < 0:
                continue
            cooc[i, i] += 1.0
            if a >= paired:
                continue
            for b in range(a + 1, width):
                j = tokens[r, b]
                if j < 0:
                    continue
                if i < j:
                    cooc[i, j] += 1.0
                else:
                    cooc[j, i] += 1.0


@njit(cache=True)
def _fill_coded(
    out: np.ndarray,
    codes: np.ndarray,
    tables: np.ndarray,
    offsets: np.ndarray,
    columns: np.ndarray,
    widths: np.ndarray,
) -> None:
    """Write each record's coordinates of each coded field into its output columns.

    Field ``f``'s rows of ``tables`` start at ``offsets[f]``; its last row (``offsets[f + 1] -
    1``) is all ``NaN``, what a missing value (code -1) reads.
    """
    n, m = codes.shape
    for r in range(n):
        for f in range(m):
            c = codes[r, f]
            row = offsets[f + 1] - 1 if c < 0 else offsets[f] + c
            for k in range(widths[f]):
                out[r, columns[f, k]] = tables[row, k]


def _ridit_positions(counts: np.ndarray) -> np.ndarray:
    """Ridit score of each level (share below plus half the share at the level), centred and
    scaled like a categorical field: two records whose levels differ are at expected squared
    distance 2."""
    share = (counts + 0.5) / (counts + 0.5).sum()  # +0.5: unseen levels still get a place
    ridit = np.cumsum(share) - share / 2.0
    mean = float(share @ ridit)
    std = float(np.sqrt(share @ (ridit - mean) ** 2))
    differ = 1.0 - float(share @ share)
    return (ridit - mean) * np.sqrt(differ) / std if std > 0 else np.zeros_like(ridit)


def _weighted_scaling(profiles: np.ndarray, weights: np.ndarray, max_dims: int) -> np.ndarray:
    """Coordinates whose distances best keep the profiles' distances, frequent values first.

    The leading axes of the frequency-weighted PCA of the profiles, scaled to total weighted
    variance ``1 - sum(weights**2)``: two random records whose values differ are then at
    expected squared distance 2.
    """
    centred = profiles - weights @ profiles
    _, singular, axes = np.linalg.svd(np.sqrt(weights)[:, None] * centred, full_matrices=False)
    keep = int(np.sum(singular > 1e-9 * max(singular[0], 1e-300)))
    keep = min(keep, max_dims, len(profiles) - 1)
    if keep == 0:
        return np.zeros((len(profiles), 0))
    coordinates = centred @ axes[:keep].T
    variance = float(weights @ (coordinates**2).sum(axis=1))
    # Half the expected squared distance of two random values is the variance; the share of
    # pairs that differ is 1 - sum(weights**2).
    differ = 1.0 - float(weights @ weights)
    return coordinates * np.sqrt(differ / variance) if variance > 0 else coordinates


def _align(new: np.ndarray, old: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Rotate ``new`` onto ``old`` (orthogonal Procrustes over the values both know)."""
    shared = min(len(old), len(new))
    if shared == 0 or old.shape[1] == 0 or not np.isfinite(old).all():
        return new
    width = max(new.shape[1], old.shape[1])
    padded_new = np.zeros((len(new), width))
    padded_new[:, : new.shape[1]] = new
    padded_old = np.zeros((shared, width))
    padded_old[:, : old.shape[1]] = old[:shared]
    cross = padded_new[:shared].T @ (weights[:shared, None] * padded_old)
    left, _, right = np.linalg.svd(cross)
    rotated = padded_new @ (left @ right)
    # Columns past the new rank hold nothing: drop them unless the old embedding used them.
    used = max(new.shape[1], old.shape[1])
    return rotated[:, :used]
