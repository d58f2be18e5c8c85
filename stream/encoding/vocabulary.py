"""The values of one categorical or ordinal field and their integer codes."""

from __future__ import annotations

from collections.abc import Sequence
from itertools import repeat
from operator import itemgetter
from typing import Any

import numpy as np

from stream.encoding.columns import as_category

OTHER = "\x00other"  # the shared value of a field once it has its limit of distinct values
_TEXT_OR_NONE = {str, type(None)}
_NO_BYTE = 255  # the byte code of a value not in the table
_NO_BYTE_CODE = bytes((_NO_BYTE,))


class _ByteCodes(dict):
    """Value -> its code as one byte; anything else (missing, new, not text) -> ``_NO_BYTE``."""

    def __missing__(self, value: Any) -> bytes:
        return _NO_BYTE_CODE


class Vocabulary:
    """Values in order of first appearance, coded ``0, 1, ...``; -1 codes a missing value.

    A growing vocabulary holds at most ``limit`` values: later new values share one more,
    ``OTHER``. Coding a batch reads every value once; the common case (fewer than 255 values)
    is looked up and packed in C.
    """

    def __init__(self, values: Sequence[str] = (), limit: int | None = None):
        self.values = list(values)
        self.limit = limit
        self._lookup = {v: i for i, v in enumerate(self.values)}
        # Derived from _lookup, rebuilt on change: value -> its code as one byte, exactly (a
        # plain dict, looked up twice as fast as a subclass) and with a default for any other
        # value, used once a batch has held one.
        self._byte_table: dict | None = None
        self._byte_default: _ByteCodes | None = None

    def __len__(self) -> int:
        return len(self.values)

    def add(self, value: str) -> None:
        """Give ``value`` the next code, or count it as ``OTHER`` past the limit."""
        if self.limit is not None and len(self._lookup) >= self.limit:
            if OTHER in self._lookup:
                return
            value = OTHER
        self._lookup[value] = len(self.values)
        self._byte_table = self._byte_default = None
        self.values.append(value)

    def codes(self, raw: Sequence, grow: bool) -> np.ndarray:
        """The code of each value of ``raw``; with ``grow``, new values are added first."""
        lookup = self._lookup
        try:
            codes = self._byte_codes(raw)
            if codes is None:
                codes = np.fromiter(map(lookup.get, raw, repeat(-1)), np.int64, count=len(raw))
        except TypeError:  # an unhashable value: make every value a category name first
            raw = [as_category(v) for v in raw]
            codes = np.fromiter(map(lookup.get, raw, repeat(-1)), dtype=np.int64, count=len(raw))
        unknown = np.flatnonzero(codes < 0)  # missing, a value not had yet, or not a string
        if len(unknown) == 0:
            return codes
        values = list(itemgetter(*unknown)(raw)) if len(unknown) > 1 else [raw[unknown[0]]]
        if not set(map(type, values)) <= _TEXT_OR_NONE:
            values = [as_category(v) for v in values]
            codes[unknown] = [lookup.get(v, -1) for v in values]
        if not grow:
            return codes
        new = [v for v in dict.fromkeys(values) if v is not None and v not in lookup]
        if not new:
            return codes
        for value in new:
            self.add(value)
        other = lookup.get(OTHER, -1)  # values past the limit are counted as "other"
        codes[unknown] = [lookup.get(v, other) if v is not None else -1 for v in values]
        return codes

    def dictionary_codes(self, codes: Any, categories: Sequence, grow: bool) -> np.ndarray:
        """Codes of a dictionary-encoded column: ``codes`` into ``categories``, -1 missing."""
        codes = np.asarray(codes, dtype=np.int64)
        present = codes >= 0
        used = np.bincount(codes[present], minlength=len(categories)) > 0
        categories = [as_category(c) for c in categories]
        remap = np.full(len(categories) + 1, -1, dtype=np.int64)  # the last entry: missing
        lookup = self._lookup
        remap[:-1] = [lookup.get(c, -1) for c in categories]
        new = used & (remap[:-1] < 0)
        if grow and new.any():
            # New values are added in order of first appearance, as record by record.
            first = np.full(len(categories), len(codes))
            np.minimum.at(first, codes[present], np.flatnonzero(present))
            ordered = [categories[i] for i in sorted(np.flatnonzero(new), key=first.__getitem__)]
            for value in ordered:
                if value is not None and value not in lookup:
                    self.add(value)
            other = lookup.get(OTHER, -1)  # values past the limit are counted as "other"
            remap[:-1] = [
                lookup.get(c, other) if c is not None and u else lookup.get(c, -1)
                for c, u in zip(categories, used, strict=True)
            ]
        return remap[np.where(present, codes, len(categories))]

    def _byte_codes(self, raw: Sequence) -> np.ndarray | None:
        """Codes of a vocabulary of fewer than 255 values, looked up and packed in C.

        Converting a Python int to an array element costs about as much as the lookup itself;
        a one-byte ``bytes`` per code, joined, is read by numpy without any conversion.
        """
        if len(raw) < 2 or len(self._lookup) >= _NO_BYTE:  # itemgetter of one key: not a tuple
            return None
        if self._byte_table is None:
            self._byte_table = {v: bytes((i,)) for v, i in self._lookup.items()}
            self._byte_table[None] = _NO_BYTE_CODE  # missing: the most common miss
        looked_up = None
        if self._byte_default is None:
            try:
                looked_up = itemgetter(*raw)(self._byte_table)
            except KeyError:  # a new value, or not text: from now on, look up with a default
                self._byte_default = _ByteCodes(self._byte_table)
        if looked_up is None:
            looked_up = itemgetter(*raw)(self._byte_default)
        codes = np.frombuffer(b"".join(looked_up), dtype=np.uint8).astype(np.int64)
        codes[codes == _NO_BYTE] = -1
        return codes
