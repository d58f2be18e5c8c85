"""The mixed-type encoder: records of every source -> one numeric feature space (DESIGN §2).

It composes the parts of this package: column extraction (:mod:`.columns`), value codes
(:mod:`.vocabulary`), robust numeric scaling (:mod:`.numeric`), ordinal steps
(:mod:`.ordinal`), co-occurrence counts (:mod:`.cooccurrence`), categorical coordinates
(:mod:`.categorical`) and field relevance weights (:mod:`.relevance`). See :class:`MixedEncoder`
for the method and why.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from typing import Any

import numpy as np
from numba import njit

from models.base import SnapshotError, _decode, _encode
from stream.encoding import categorical
from stream.encoding.columns import (
    as_floats,
    column_kind,
    complete_columns,
    features_of,
    field_columns,
    infer_kind,
    new_field_names,
)
from stream.encoding.cooccurrence import Cooccurrence
from stream.encoding.numeric import (
    NORMAL_QUINTILES,
    learn_moments,
    quintile_codes,
    signed_log,
    standardise,
    z_scores,
)
from stream.encoding.ordinal import step_coordinates
from stream.encoding.relevance import field_weights
from stream.encoding.vocabulary import Vocabulary
from stream.records import Record
from stream.schema import SchemaRegistry

__all__ = ["MixedEncoder"]

_SNAPSHOT_FORMAT = 1
_TYPE_NAME = "stream.encoding.MixedEncoder"


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
      so the rare levels of a discrete field are not taken for outliers; later widened to the
      batch's own robust bound where that is wider, so a field that is mostly one value keeps
      its scale over a long stream), so one ``1e9`` moves the scale by a bounded step; and the
      output is bounded, so one record cannot dominate a distance: past ``clip / 2`` standard
      deviations the excess is compressed logarithmically,
      ``z -> clip / 2 + log(1 + |z| - clip / 2)`` (signed), up to ``+-clip``. The bound and the
      compression tame a heavy tail (a field like an income, or a count): that is the point of
      them, and it is a choice (a rare extreme value counts as "far", not as "farther than
      everything else together"). Compressing instead of cutting keeps the tail in order (with
      the default ``clip``, 6 and 20 standard deviations out become 6.0 and 7.8, not both 5):
      where the extremes are the signal, e.g. counts of network connections, they still tell
      records apart. The price of a scale that outliers cannot move: on a heavy tail the
      winsorised standard deviation is smaller than the plain one, so many values lie past the
      knee and the bounded scores spread wider than a z-score's unit variance (a zero-inflated
      income-like field: variance near 15), and such a field weighs more in a distance than
      the rule above says. Rescaling the bounded scores to unit variance was measured and not
      kept: it did not improve the map's clusters (``benchmarks/RESULTS.md``).
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
    * **ordinal**: one column per step between adjacent levels, saying whether the value lies
      above that step, centred by the levels' shares and scaled by the same rule. Order is
      kept, and the squared distance of two levels grows with the number of steps between
      them, every step counting alike, however rare its levels: a spacing by the share of
      records between levels (ridit scores) would draw rare levels together, and with them a
      small cluster that a rare level marks.

    **Relevance weights.** A per-value metric alone ties with a one-hot on categorical data:
    summed over the fields, the learned distances are nearly Hamming distances, and every field
    counts alike. But clusters make fields depend on each other, and a field independent of all
    the others carries no cluster structure, only noise. So each categorical field's
    coordinates are multiplied by a weight, its relevance: the mean, over the other fields it
    co-occurs with, of Cramér's V of their contingency table (over the records holding both; a
    numeric field enters as its quintiles), divided by the mean relevance of the categorical
    fields of its group (the fields linked by co-occurrence, in practice one source's fields). A
    field's share of a squared distance thus goes with the square of its relevance. Numeric and
    ordinal fields keep weight 1: the counts hold only the pairs with a categorical field, so
    their dependence on each other is unknown and their relevance would be judged by the
    categorical fields alone (3 of 40 fields, say, in a mostly numeric source). A field
    independent of the others gets a weight near 0 (its V is sampling noise only, about
    ``sqrt(levels / records)``); if no field of a group depends on another (every V is 0, as
    in a full factorial design) the group keeps weight 1, as does a field paired with no other
    (alone in its source, or constant). Sources that share no field form separate groups, so
    the fields of one source never change the weights of another's. The weights are recomputed
    from the counts at every check (below) that recomputes a categorical field's coordinates,
    so, like those, they settle on a stationary stream; ``relevance_weights=False`` switches
    them off.

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
        Bound of a standardised numeric value; the excess past half of it is compressed
        logarithmically.
    outlier_sigma
        How many standard deviations a value may lie from the mean before it is winsorised.
    smoothing
        Pseudo-count pulling a rare value's context towards the overall distribution.
    relevance_weights
        Whether each categorical field's coordinates are scaled by its relevance weight.
    log_scaled
        Numeric fields encoded as ``sign(x) log(1 + |x|)`` before they are standardised
        (a schema's ``scale: log``): a heavy-tailed amount, count or duration then spreads
        like its bulk, and clusters that differ by a factor (80 ms against 900 ms) are as
        far apart as their ratio says, not their difference.

    Examples
    --------
    >>> encoder = MixedEncoder(levels={"size": ["S", "M", "L"]}, types={"size": "ordinal"})
    >>> rng = np.random.default_rng(0)
    >>> batch = []
    >>> for i in range(400):
    ...     group = i % 2
    ...     colour = str(rng.choice(["red", "orange"] if group else ["blue", "teal"]))
    ...     features = {"weight": float(rng.normal(10 * group, 1)), "colour": colour,
    ...                 "size": "L" if group else str(rng.choice(["S", "M"])),
    ...                 "shelf": str(rng.choice(["top", "bottom"]))}  # unrelated to the rest
    ...     batch.append(Record("shop", str(i), 0, features))
    >>> X = encoder.learn_transform_many(batch)
    >>> encoder.feature_names
    ['weight', 'size#0', 'size#1', 'colour#0', 'colour#1', 'colour#2', 'shelf#0']
    >>> colour = encoder.embedding("colour")
    >>> def distance(a, b):
    ...     return round(float(np.linalg.norm(colour[a] - colour[b])), 2)
    >>> distance("red", "orange"), distance("red", "blue")  # red goes with orange, not blue
    (1.2, 1.51)
    >>> size = encoder.embedding("size")  # one step each, S to L two
    >>> [round(float(np.linalg.norm(size[a] - size[b])), 2) for a, b in ("SM", "ML", "SL")]
    [1.2, 1.2, 1.69]
    >>> {field: round(weight, 2) for field, weight in encoder.field_weights.items()}
    {'weight': 1.0, 'colour': 1.62, 'size': 1.0, 'shelf': 0.38}
    >>> encoder.transform_many([Record("shop", "x", 0, {"weight": 15.0, "size": "S"})]).round(2)
    array([[ 1.97, -0.9 , -0.6 ,   nan,   nan,   nan,   nan]])

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
        clip: float = 10.0,
        outlier_sigma: float = 4.0,
        smoothing: float = 1.0,
        relevance_weights: bool = True,
        log_scaled: Collection[str] | None = None,
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
        self.relevance_weights = relevance_weights
        self.log_scaled = log_scaled
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
        logs = [name for name, spec in specs.items() if spec.scale == "log"]
        return cls(types=types, levels=levels, log_scaled=logs or None, **params)

    def _check_params(self) -> None:
        if isinstance(self.log_scaled, str) or not all(
            isinstance(name, str) for name in self.log_scaled or ()
        ):
            raise ValueError("log_scaled is a collection of field names")
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
        self._values: dict[str, Vocabulary] = {}  # categorical / ordinal name -> its values
        self._tokens: dict[str, list[int]] = {}  # name -> co-occurrence token of each value / bin
        self._embeddings: dict[str, np.ndarray] = {}  # categorical: values x columns
        self._positions: dict[str, np.ndarray] = {}  # ordinal: level -> step coordinates
        self._cooc = Cooccurrence()
        self._stale: set[str] = set()  # fields with values that have no coordinates yet
        self._since_refresh = 0
        self._seen_at_refresh = 0  # records learned up to the last check
        # Categorical name -> its value counts and pair counts (sparse) at its last refresh.
        self._reference: dict[str, list[np.ndarray]] = {}
        self._weights: dict[str, float] = {}  # name -> relevance weight, where defined

    # -- public API -------------------------------------------------------------------------

    @property
    def feature_names(self) -> list[str]:
        """Name of every output column, in column order (``field`` or ``field#k``)."""
        return list(self._column_names)

    @property
    def discrete_groups(self) -> np.ndarray:
        """Per output column: the number of its discrete (categorical or ordinal) field, the
        same for all columns of one field, or -1 for a numeric field's column."""
        groups = np.full(len(self._column_names), -1, dtype=np.int64)
        for number, (name, columns) in enumerate(self._columns.items()):
            if self._fields[name] != "numeric":
                groups[columns] = number
        return groups

    @property
    def numeric_scales(self) -> dict[str, float]:
        """The learned (winsorised) standard deviation of every numeric field seen twice."""
        return {name: float(np.sqrt(m2 / n)) for name, (n, _, m2) in self._stats.items() if n > 1}

    @property
    def field_weights(self) -> dict[str, float]:
        """The relevance weight of every field (1 where none is defined, or weights are off)."""
        return {name: self._weights.get(name, 1.0) for name in self._fields}

    def embedding(self, field: str) -> dict[str, np.ndarray]:
        """The current coordinates of each value of a categorical or ordinal field, before its
        relevance weight."""
        values = self._values[field].values if field in self._values else []
        if self._fields.get(field) == "ordinal":
            return {v: self._positions[field][i] for i, v in enumerate(values)}
        table = self._embeddings.get(field, np.zeros((0, 0)))
        return {v: table[i] for i, v in enumerate(values) if i < len(table)}

    def learn_many(self, records: Iterable[Record | Mapping]) -> None:
        """Update the statistics with a batch of records (or feature dicts)."""
        self._learn(self._extract(features_of(records), grow=True))

    def transform_many(self, records: Iterable[Record | Mapping]) -> np.ndarray:
        """The records as an ``(n, d)`` float64 matrix; ``NaN`` where a value is missing."""
        return self._transform(self._extract(features_of(records), grow=False))

    def learn_transform_many(self, records: Iterable[Record | Mapping]) -> np.ndarray:
        """Learn a batch, then encode it with the updated statistics."""
        columns = self._extract(features_of(records), grow=True)
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
        return self._log_scale(*self._read_columns(columns, grow))

    def _extract(self, features: list[Mapping], grow: bool) -> tuple[int, dict[str, np.ndarray]]:
        return self._log_scale(*self._read_records(features, grow))

    def _log_scale(self, n: int, out: dict[str, np.ndarray]) -> tuple[int, dict[str, np.ndarray]]:
        """``sign(x) log(1 + |x|)`` of the numeric fields declared ``log_scaled``."""
        for name in self.log_scaled or ():
            if self._fields.get(name) == "numeric":
                out[name] = signed_log(out[name])
        return n, out

    def _read_columns(
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
                kind = (self.types or {}).get(name) or column_kind(column)
                if kind is not None:
                    self._add_field(name, kind)
        out = {}
        for name, kind in self._fields.items():
            column = columns.get(name)
            if kind == "numeric":
                out[name] = as_floats(column) if column is not None else np.full(n, np.nan)
            elif column is None:
                out[name] = np.full(n, -1, dtype=np.int64)
            elif isinstance(column, tuple):
                out[name] = self._values[name].dictionary_codes(
                    *column, grow=grow and kind == "categorical"
                )
                self._add_tokens(name)
            else:
                out[name] = self._values[name].codes(column, grow=grow and kind == "categorical")
                self._add_tokens(name)
        return n, out

    def _read_records(
        self, features: list[Mapping], grow: bool
    ) -> tuple[int, dict[str, np.ndarray]]:
        complete = self._extract_complete(features, grow)
        if complete is not None:
            return complete
        names = list(self._fields)
        raw, complete = field_columns(features, names)
        # A batch whose records all hold exactly the known fields has no new field to look for.
        if grow and not complete and self._add_new_fields(features):
            names = list(self._fields)
            raw, _ = field_columns(features, names)
        out = {}
        for name, values in zip(names, raw, strict=True):
            kind = self._fields[name]
            if kind == "numeric":
                out[name] = as_floats(values)
            else:
                out[name] = self._values[name].codes(values, grow=grow and kind == "categorical")
                self._add_tokens(name)
        return len(features), out

    def _extract_complete(
        self, features: list[Mapping], grow: bool
    ) -> tuple[int, dict[str, np.ndarray]] | None:
        """:meth:`_extract` of a batch whose records all hold exactly the known fields, with
        numbers where numbers belong (the common case, read faster); else ``None``."""
        numeric = [name for name, kind in self._fields.items() if kind == "numeric"]
        coded = [name for name, kind in self._fields.items() if kind != "numeric"]
        found = complete_columns(features, numeric, coded)
        if found is None:
            return None
        numbers, raw = found
        out = {name: numbers[:, j] for j, name in enumerate(numeric)}
        for name, values in zip(coded, raw, strict=True):
            grows = grow and self._fields[name] == "categorical"
            out[name] = self._values[name].codes(values, grow=grows)
            self._add_tokens(name)
        return len(features), out

    def _add_tokens(self, name: str) -> None:
        """A token for each value just added to a field; the field then needs coordinates."""
        new = len(self._values[name]) - len(self._tokens[name])
        if new > 0:
            self._tokens[name].extend(self._cooc.new_tokens(new))
            self._stale.add(name)

    def _add_new_fields(self, features: list[Mapping]) -> bool:
        added = False
        for name in new_field_names(features, self._fields):
            kind = (self.types or {}).get(name) or infer_kind(f.get(name) for f in features)
            if kind is not None:
                self._add_field(name, kind)
                added = True
        return added

    def _add_field(self, name: str, kind: str) -> None:
        self._fields[name] = kind
        self._columns[name] = []
        if kind == "numeric":
            self._stats[name] = [0.0, 0.0, 0.0]
            self._tokens[name] = self._cooc.new_tokens(len(NORMAL_QUINTILES) + 1)
            self._add_columns(name, 1)
        elif kind == "ordinal":
            self._values[name] = Vocabulary([str(level) for level in self.levels[name]])
            self._tokens[name] = self._cooc.new_tokens(len(self._values[name]))
            levels = np.zeros(len(self._values[name]))
            self._positions[name] = self._fitted(name, step_coordinates(levels))
        else:
            self._values[name] = Vocabulary(limit=self.max_categories)
            self._tokens[name] = []
            self._embeddings[name] = np.zeros((0, 0))

    def _add_columns(self, name: str, count: int) -> None:
        kind = self._fields[name]
        for _ in range(count):
            column = len(self._column_names)
            label = name if kind == "numeric" else f"{name}#{len(self._columns[name])}"
            self._columns[name].append(column)
            self._column_names.append(label)

    # -- learning ----------------------------------------------------------------------------

    def _learn(self, extracted: tuple[int, dict[str, np.ndarray]]) -> None:
        n, columns = extracted
        if n == 0:
            return
        for name, kind in self._fields.items():
            if kind == "numeric":
                self._stats[name] = learn_moments(
                    self._stats[name], columns[name], self.outlier_sigma
                )
        paired = sum(kind == "categorical" for kind in self._fields.values())
        self._cooc.add(self._token_matrix(n, columns), paired)
        self._since_refresh += n
        # Early on, every doubling of the data is checked (estimates change fast while counts
        # are small); later, every refresh_every records.
        if self._since_refresh >= min(self.refresh_every, max(self._seen_at_refresh, 1)):
            moved = [name for name in self._fields if self._moved(name)]
            self._refresh(moved)
            # The counts that moved no categorical field's coordinates move no weight much.
            if self.relevance_weights and any(self._fields[n] == "categorical" for n in moved):
                categorical = {n for n, kind in self._fields.items() if kind == "categorical"}
                self._weights = field_weights(self._cooc, self._tokens, categorical)
            self._seen_at_refresh += self._since_refresh
            self._since_refresh = 0
        elif self._stale:
            self._refresh(sorted(self._stale))

    def _token_matrix(self, n: int, columns: dict[str, np.ndarray]) -> np.ndarray:
        """Co-occurrence token of each record's value of each field (-1 where missing).

        Categorical fields come first: only pairs with a categorical value are ever read.
        """
        order = sorted(self._fields, key=lambda name: self._fields[name] != "categorical")
        tokens = np.full((n, len(order)), -1, dtype=np.int64)
        for j, name in enumerate(order):
            table = np.asarray(self._tokens[name] + [-1], dtype=np.int64)
            if self._fields[name] == "numeric":
                codes = quintile_codes(z_scores(self._stats[name], columns[name]))
            else:
                codes = columns[name]
            tokens[:, j] = table[codes]
        return tokens

    # -- coordinates -----------------------------------------------------------------------------

    def _refresh(self, names: list[str]) -> None:
        for name in names:
            kind = self._fields[name]
            if kind == "categorical":
                self._refresh_categorical(name)
            elif kind == "ordinal":
                counts = self._cooc.counts(self._tokens[name])
                self._positions[name] = self._fitted(name, step_coordinates(counts))
        self._stale.clear()

    def _moved(self, name: str) -> bool:
        """Whether a field's coordinates are out of date (see the class docstring)."""
        kind = self._fields[name]
        if kind != "categorical" or name in self._stale or self.refresh_tolerance <= 0:
            return kind != "numeric"  # ordinal positions are a cumulative sum: always redone
        if name not in self._reference:
            return True
        rows, context, fields = self._context_tokens(name)
        shift = categorical.profile_shift(self._cooc, rows, context, fields, self._reference[name])
        return shift > self.refresh_tolerance**2

    def _contexts(self, name: str) -> list[list[int]]:
        """The tokens of every other field that has any."""
        return [tokens for other, tokens in self._tokens.items() if other != name and tokens]

    def _context_tokens(self, name: str) -> tuple[list[int], np.ndarray, int]:
        """A field's tokens, every other field's tokens, and how many other fields have any."""
        contexts = self._contexts(name)
        context = [t for tokens in contexts for t in tokens]
        return self._tokens[name], np.asarray(context, dtype=np.int64), len(contexts)

    def _refresh_categorical(self, name: str) -> None:
        rows, context, _ = self._context_tokens(name)
        counts = self._cooc.counts(rows)
        self._reference[name] = categorical.reference(self._cooc, rows, context, counts)
        if counts.sum() <= 0 or len(counts) < 2:
            self._embeddings[name] = np.zeros((len(counts), len(self._columns[name])))
            return
        profiles = categorical.context_profiles(
            self._cooc, rows, self._contexts(name), self.self_weight, self.smoothing
        )
        coordinates = categorical.coordinates(
            profiles, counts, self._embeddings[name], self.max_dims
        )
        self._embeddings[name] = self._fitted(name, coordinates)

    def _fitted(self, name: str, coordinates: np.ndarray) -> np.ndarray:
        """``coordinates`` as a table over the field's columns: columns are added where it is
        wider (they are never removed: their place in the output is kept), zeros where it is
        narrower. An ordinal field of a snapshot from before step columns grows here too."""
        if coordinates.shape[1] > len(self._columns[name]):
            self._add_columns(name, coordinates.shape[1] - len(self._columns[name]))
        table = np.zeros((len(coordinates), len(self._columns[name])))
        table[:, : coordinates.shape[1]] = coordinates
        return table

    # -- transform --------------------------------------------------------------------------

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
                z = standardise(self._stats[name], columns[name], self.clip)
                out[:, where[0]] = z * self._weights[name] if name in self._weights else z
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
                table = self._positions[name]
            weight = self._weights.get(name, 1.0)
            tables[offsets[f] : offsets[f] + len(table), : table.shape[1]] = weight * table
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
            "relevance_weights": self.relevance_weights,
            "log_scaled": sorted(self.log_scaled) if self.log_scaled is not None else None,
        }

    def to_dict(self) -> dict:
        """The encoder as a versioned JSON-safe document (the same layout as model snapshots)."""
        state = {
            "fields": self._fields,
            "columns": self._columns,
            "column_names": self._column_names,
            "stats": self._stats,
            "values": {name: vocabulary.values for name, vocabulary in self._values.items()},
            "tokens": self._tokens,
            "embeddings": self._embeddings,
            "positions": self._positions,
            "n_tokens": self._cooc.size,
            "cooc": self._cooc.to_state(),
            "stale": sorted(self._stale),
            "since_refresh": self._since_refresh,
            "seen_at_refresh": self._seen_at_refresh,
            "reference": self._reference,
            "weights": self._weights,
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
        self._values = {
            k: Vocabulary(vs, self.max_categories if self._fields[k] == "categorical" else None)
            for k, vs in state["values"].items()
        }
        self._tokens = {k: [int(t) for t in v] for k, v in state["tokens"].items()}
        self._embeddings = {
            k: np.asarray(v, dtype=np.float64) for k, v in state["embeddings"].items()
        }
        self._positions = {  # (a snapshot from before step columns holds one per field)
            k: np.asarray(v, dtype=np.float64).reshape(len(self._values[k]), -1)
            for k, v in state["positions"].items()
        }
        self._cooc = Cooccurrence.from_state(int(state["n_tokens"]), state["cooc"])
        self._stale = set(state["stale"])
        self._since_refresh = int(state["since_refresh"])
        self._seen_at_refresh = int(state["seen_at_refresh"])
        self._reference = {
            name: [np.asarray(part) for part in parts]
            for name, parts in state.get("reference", {}).items()
        }
        self._weights = {k: float(v) for k, v in state.get("weights", {}).items()}


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
