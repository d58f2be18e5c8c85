"""Records as Python dicts -> one sequence of values per field, and raw values -> typed arrays."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from itertools import chain
from operator import itemgetter
from typing import Any

import numpy as np

from stream.records import Record
from stream.schema import category_name


def features_of(records: Iterable[Record | Mapping]) -> list[Mapping]:
    """The feature dict of each record (a plain mapping is taken as one)."""
    return [r.features if isinstance(r, Record) else r for r in records]


def field_columns(features: list[Mapping], names: list[str]) -> tuple[list[Sequence], bool]:
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


def complete_columns(
    features: list[Mapping], numeric: list[str], coded: list[str]
) -> tuple[np.ndarray, list[Sequence]] | None:
    """The numeric fields as one ``(n, k)`` float array and the coded fields' values, one
    sequence per field, if every record holds exactly these fields and every numeric value is a
    number (or ``None``); otherwise ``None``.

    One conversion of all the numbers, record by record, instead of a transposition and one
    conversion per field: a third less time on records of mostly numeric fields.
    """
    width = len(numeric) + len(coded)
    if not numeric or not all(map(width.__eq__, map(len, features))):
        return None
    n = len(features)
    try:
        if len(numeric) == 1:
            numbers = np.fromiter(map(itemgetter(numeric[0]), features), np.float64, count=n)
        else:
            rows = chain.from_iterable(map(itemgetter(*numeric), features))
            numbers = np.fromiter(rows, np.float64, count=n * len(numeric))
        if len(coded) == 1:
            values = [list(map(itemgetter(coded[0]), features))]
        elif coded:
            values = list(zip(*map(itemgetter(*coded), features), strict=True)) or [()] * len(coded)
        else:
            values = []
    except (KeyError, TypeError, ValueError):  # other fields, or a value that is no number
        return None
    numbers = numbers.reshape(n, len(numeric))
    numbers[~np.isfinite(numbers)] = np.nan
    return numbers, values


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


def new_field_names(features: list[Mapping], known: Mapping[str, Any]) -> list[str]:
    """Fields of the batch not in ``known``, in order of first appearance."""
    if not set().union(*features) - known.keys():
        return []
    names: dict[str, None] = {}
    for f in features:
        names.update(dict.fromkeys(f))
    return [name for name in names if name not in known]


def as_floats(raw: Sequence) -> np.ndarray:
    """Numbers as float64; ``None``, non-finite and non-numeric values as ``NaN``."""
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


def as_category(value: Any) -> str | None:
    """A value as the name of a category (``None`` stays missing)."""
    return value if isinstance(value, str) else category_name(value)


def infer_kind(values: Iterable[Any]) -> str | None:
    """``numeric`` or ``categorical`` by the first present value; ``None`` if it is neither."""
    for value in values:
        if value is None:
            continue
        if isinstance(value, int | float) and not isinstance(value, bool):
            return "numeric"
        if isinstance(value, str | bool):
            return "categorical"
        return None
    return None


def column_kind(column: Any) -> str | None:
    """The kind of a field given as a column (see ``MixedEncoder.learn_transform_columns``)."""
    if isinstance(column, tuple):
        return "categorical"
    if isinstance(column, np.ndarray) and column.dtype.kind in "fiu":
        return "numeric"
    return infer_kind(column)
