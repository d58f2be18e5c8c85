from __future__ import annotations

import itertools

import numpy as np
import orjson
import pytest

from models.base import SnapshotError
from stream.encoding import MixedEncoder
from stream.records import Record
from stream.schema import SchemaRegistry
from stream.serde import dumps, loads


def records(rows: list[dict], source: str = "s") -> list[Record]:
    return [Record(source, str(i), 0, features) for i, features in enumerate(rows)]


def grouped_stream(n: int, seed: int = 0) -> list[Record]:
    """Two groups; colour values red/orange go with group 1, blue/teal with group 0."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        group = i % 2
        rows.append(
            {
                "weight": float(rng.normal(10 * group, 1)),
                "colour": str(rng.choice(["red", "orange"] if group else ["blue", "teal"])),
                "noise": str(rng.choice(["a", "b", "c"])),
                "size": "L" if group else str(rng.choice(["S", "M"])),
            }
        )
    return records(rows)


def make_encoder(**params) -> MixedEncoder:
    return MixedEncoder(types={"size": "ordinal"}, levels={"size": ["S", "M", "L"]}, **params)


def test_numeric_standardised():
    rng = np.random.default_rng(1)
    encoder = MixedEncoder()
    X = encoder.learn_transform_many(records([{"x": float(v)} for v in rng.normal(50, 7, 5000)]))
    assert encoder.feature_names == ["x"]
    assert abs(X.mean()) < 0.05 and abs(X.std() - 1) < 0.05
    assert encoder.numeric_scales["x"] == pytest.approx(7.0, rel=0.05)


def test_outliers_do_not_wreck_the_scale():
    rng = np.random.default_rng(2)
    encoder = MixedEncoder()
    encoder.learn_many(records([{"x": float(v)} for v in rng.normal(0, 1, 2000)]))
    encoder.learn_many(records([{"x": 1e9}]))  # one absurd value
    z = encoder.transform_many(records([{"x": 1.0}, {"x": 1e9}]))[:, 0]
    assert abs(z[0] - 1.0) < 0.1  # the scale barely moved
    assert z[1] == encoder.clip  # and the outlier itself is bounded
    # An outlier in the very first batch is bounded by the batch's robust scale.
    first = MixedEncoder()
    first.learn_many(records([{"x": float(v)} for v in [*rng.normal(0, 1, 99), 1e12]]))
    assert 0.5 < first.transform_many(records([{"x": 1.0}]))[0, 0] < 1.5


def test_a_mostly_zero_field_keeps_its_scale_over_a_long_stream():
    # 3 % of the values lie far from a common 0 (a count of rare events). Bounded by the
    # winsorised scale alone, they were cut closer batch after batch: here the scale shrank to
    # under a third, and a typical count stood 14.7 standard deviations out instead of 4.4.
    rng = np.random.default_rng(4)
    values = np.where(rng.random(100_000) < 0.03, rng.lognormal(3.0, 0.5, 100_000), 0.0)
    encoder = MixedEncoder()
    for batch in np.split(values, 200):
        encoder.learn_many(records([{"x": float(v)} for v in batch]))
    typical = float(np.exp(3.0))
    z = encoder.transform_many(records([{"x": typical}]))[0, 0]
    assert z == pytest.approx((typical - values.mean()) / values.std(), rel=0.2)


def test_missing_is_nan_never_zero():
    encoder = make_encoder()
    encoder.learn_many(grouped_stream(200))
    X = encoder.transform_many(records([{"weight": 1.0}, {}, {"colour": "red", "weight": None}]))
    names = encoder.feature_names
    assert not np.isnan(X[0, names.index("weight")])
    assert np.isnan(X[0, [i for i, n in enumerate(names) if n != "weight"]]).all()
    assert np.isnan(X[1]).all()
    colour = [i for i, n in enumerate(names) if n.startswith("colour#")]
    assert np.isfinite(X[2, colour]).all() and np.isnan(X[2, names.index("weight")])


def test_records_that_differ_in_a_field_are_as_far_apart_whatever_its_type():
    encoder = make_encoder(relevance_weights=False)  # the common scale, before the weights
    stream = grouped_stream(4000)
    X = encoder.learn_transform_many(stream)
    names = encoder.feature_names
    for field in ("weight", "colour", "noise", "size"):
        cols = [i for i, n in enumerate(names) if n == field or n.startswith(field + "#")]
        _, counts = np.unique([r.features[field] for r in stream], return_counts=True)
        share = counts / counts.sum()
        differ = 1.0 if field == "weight" else 1.0 - float(share @ share)
        # Two random records whose values differ: expected squared distance 2 (the variance
        # of the field's columns is half the expected squared distance of two random records).
        total_variance = X[:, cols].var(axis=0).sum()
        assert total_variance / differ == pytest.approx(1.0, abs=0.1), field


def test_a_rare_value_is_not_pushed_far_away():
    # A binary field whose rare value has 2 %: a standardised column would put the two values
    # 1 / sqrt(0.02 * 0.98) ~ 7 apart; here they differ by sqrt(2), like numeric values do.
    rows = [{"flag": "rare" if i % 50 == 0 else "common", "x": float(i % 7)} for i in range(5000)]
    encoder = MixedEncoder()
    encoder.learn_many(records(rows))
    flag = encoder.embedding("flag")
    assert float(np.linalg.norm(flag["rare"] - flag["common"])) == pytest.approx(np.sqrt(2))


def test_categorical_distance_is_learned_from_context():
    encoder = make_encoder()
    encoder.learn_many(grouped_stream(4000))
    colour = encoder.embedding("colour")

    def d(a, b):
        return float(np.linalg.norm(colour[a] - colour[b]))

    assert d("red", "orange") < 0.8 * d("red", "blue")
    assert d("blue", "teal") < 0.8 * d("teal", "orange")
    # A field independent of everything else: all its values are (nearly) equally far apart.
    noise = encoder.embedding("noise")
    distances = [
        float(np.linalg.norm(noise[a] - noise[b])) for a, b in itertools.combinations("abc", 2)
    ]
    assert max(distances) / min(distances) < 1.2


def test_ordinal_keeps_order_and_every_step_counts_alike():
    encoder = make_encoder()
    encoder.learn_many(grouped_stream(2000))
    size = encoder.embedding("size")

    def distance(a, b):
        return float(np.linalg.norm(size[a] - size[b]))

    assert distance("S", "L") > max(distance("S", "M"), distance("M", "L"))
    # Half of the records are L, a quarter each S and M: still one step each.
    assert distance("S", "M") == pytest.approx(distance("M", "L"))
    assert distance("S", "L") ** 2 == pytest.approx(2 * distance("S", "M") ** 2)


def test_ordinal_rare_levels_are_not_drawn_together():
    levels = ["low", "mid", "high", "top"]
    encoder = MixedEncoder(types={"grade": "ordinal"}, levels={"grade": levels})
    rng = np.random.default_rng(3)
    grades = rng.choice(levels, size=5000, p=[0.9, 0.06, 0.03, 0.01])
    X = encoder.learn_transform_many(records([{"grade": str(g)} for g in grades]))
    grade = encoder.embedding("grade")
    steps = [float(np.linalg.norm(grade[a] - grade[b])) for a, b in itertools.pairwise(levels)]
    assert max(steps) == pytest.approx(min(steps))
    # The scale rule: records whose levels differ are at expected squared distance 2.
    i, j = rng.integers(0, len(X), size=(2, 20_000))
    differ = grades[i] != grades[j]
    squared = ((X[i] - X[j]) ** 2).sum(axis=1)
    assert squared[differ].mean() == pytest.approx(2.0, rel=0.1)


def test_fields_and_categories_appear_mid_stream_columns_keep_their_place():
    encoder = make_encoder()
    encoder.learn_many(grouped_stream(500))
    before = encoder.feature_names
    probe = records([{"weight": 3.0, "colour": "red", "size": "M"}])
    X_before = encoder.transform_many(probe)
    rows = [{"weight": 1.0, "colour": "purple", "depth": 4.0, "shape": "round"}] * 50
    encoder.learn_many(records(rows))
    after = encoder.feature_names
    assert after[: len(before)] == before
    assert {"depth", "shape#0"} <= set(after) or "depth" in after  # shape has a single value yet
    assert "purple" in encoder.embedding("colour")
    X_after = encoder.transform_many(probe)
    assert X_after.shape[1] == len(after)
    # Procrustes alignment: a refresh moves red's coordinates only a little.
    shared = X_before.shape[1]
    assert np.nanmax(np.abs(X_after[0, :shared] - X_before[0])) < 0.5


def test_unseen_category_is_missing_until_learned():
    encoder = make_encoder()
    encoder.learn_many(grouped_stream(100))
    X = encoder.transform_many(records([{"colour": "never-seen"}]))
    assert np.isnan(X).all()


def test_category_cap_shares_one_other_value():
    encoder = MixedEncoder(max_categories=5)
    rows = [{"k": f"v{i % 20}", "x": float(i % 7)} for i in range(400)]
    X = encoder.learn_transform_many(records(rows))
    assert len(encoder.embedding("k")) == 6  # five values and the shared "other"
    cols = [i for i, n in enumerate(encoder.feature_names) if n.startswith("k#")]
    np.testing.assert_array_equal(X[10, cols], X[19, cols])  # v10 and v19 are both "other"


def test_wrong_types_are_missing():
    encoder = MixedEncoder(types={"x": "numeric", "k": "categorical"})
    X = encoder.learn_transform_many(
        records([{"x": 1.0, "k": "a"}, {"x": "oops", "k": 2}, {"x": float("inf"), "k": [1]}] * 5)
    )
    x = encoder.feature_names.index("x")
    assert np.isnan(X[1, x]) and np.isnan(X[2, x])
    assert "2" in encoder.embedding("k")


def test_before_learning_and_empty_batches():
    encoder = MixedEncoder()
    assert encoder.transform_many(records([{"x": 1.0}])).shape == (1, 0)
    encoder.learn_many([])
    assert encoder.learn_transform_many([]).shape == (0, 0)
    assert encoder.learn_transform_many([{"x": 1.0}, {"x": 3.0}]).shape == (2, 1)  # plain dicts


def test_sources_share_one_feature_space():
    registry = SchemaRegistry.load("deploy/schemas/example.yaml")
    encoder = MixedEncoder.from_registry(registry)
    weather = records([{"temperature": 20.0, "region": "north", "wind": "gale"}] * 3, "weather")
    orders = records([{"amount": 5.0, "region": "south", "tier": "gold"}] * 3, "orders")
    X = encoder.learn_transform_many(weather + orders)
    names = encoder.feature_names
    assert {"region#0", "wind#0", "tier#0"} <= set(names)
    assert np.isnan(X[0, names.index("amount")]) and np.isnan(X[3, names.index("temperature")])
    assert np.isfinite(X[:, names.index("region#0")]).all()


def test_a_field_independent_of_the_others_weighs_less():
    stream = grouped_stream(4000)
    encoder = make_encoder()
    X = encoder.learn_transform_many(stream)
    weights = encoder.field_weights
    # weight, colour and size all follow the group; noise follows nothing.
    assert weights["noise"] < 0.1 < 1.0 < weights["colour"]
    assert weights["colour"] + weights["noise"] == pytest.approx(2.0)
    assert weights["weight"] == weights["size"] == 1.0  # only categorical fields are weighed
    unweighted = make_encoder(relevance_weights=False)
    plain = unweighted.learn_transform_many(stream)
    assert set(unweighted.field_weights.values()) == {1.0}
    names = encoder.feature_names
    for field, weight in weights.items():
        cols = [i for i, n in enumerate(names) if n == field or n.startswith(field + "#")]
        np.testing.assert_allclose(X[:, cols], weight * plain[:, cols])


def test_weights_of_a_source_ignore_the_fields_of_other_sources():
    stream = grouped_stream(2000)
    rng = np.random.default_rng(4)
    state = rng.choice(["on", "off"], 2000)
    other = records(
        [{"load": float(rng.normal(5.0 * (s == "on"), 1)), "state": str(s)} for s in state], "o"
    )
    alone = make_encoder()
    alone.learn_many(stream)
    shared = make_encoder()
    shared.learn_many(stream)
    shared.learn_many(other)  # disjoint fields, far more dependent on each other
    assert shared.field_weights["state"] == pytest.approx(1.0)  # a pair: both alike
    assert {f: shared.field_weights[f] for f in alone.field_weights} == pytest.approx(
        alone.field_weights
    )
    cols = range(len(alone.feature_names))
    np.testing.assert_allclose(shared.transform_many(stream)[:, cols], alone.transform_many(stream))


def test_snapshot_round_trip_and_resume():
    stream = grouped_stream(3000, seed=5)
    first, second = stream[:1300], stream[1300:]
    never_stopped = make_encoder(refresh_every=500)
    never_stopped.learn_many(first)
    document = loads(dumps("model_update", never_stopped.to_dict()))  # through the wire, too
    restored = MixedEncoder.from_dict(document)
    assert restored.feature_names == never_stopped.feature_names
    weights = never_stopped.field_weights
    assert restored.field_weights == weights and weights["noise"] < 0.5 < weights["colour"]
    np.testing.assert_array_equal(
        restored.transform_many(second), never_stopped.transform_many(second)
    )
    for batch in (second[:700], second[700:]):
        np.testing.assert_array_equal(
            restored.learn_transform_many(batch), never_stopped.learn_transform_many(batch)
        )
    assert orjson.dumps(restored.to_dict()) == orjson.dumps(never_stopped.to_dict())


def test_a_snapshot_with_one_ridit_column_per_ordinal_field_still_loads_and_grows():
    def one(level):
        return Record("s", "0", 0, {"size": level})

    encoder = MixedEncoder(types={"size": "ordinal"}, levels={"size": ["S", "M", "L"]})
    encoder.learn_many([one("SML"[i % 3]) for i in range(30)])
    document = encoder.to_dict()
    state = dict(document["state"]["__dict__"])  # the layout of earlier releases:
    state["columns"] = {"__dict__": [["size", [0]]]}
    state["column_names"] = ["size"]
    old = {"__ndarray__": [-1.0, 0.0, 1.0], "dtype": "<f8", "shape": [3]}
    state["positions"] = {"__dict__": [["size", old]]}
    document["state"] = {"__dict__": [list(item) for item in state.items()]}
    restored = MixedEncoder.from_dict(document)
    assert restored.transform_many([one("S"), one("L")]).tolist() == [[-1.0], [1.0]]
    more = [one("SML"[i % 3]) for i in range(100)]
    restored.learn_many(more)  # the next refresh
    encoder.learn_many(more)
    assert restored.feature_names == ["size", "size#1"]
    X = restored.transform_many([one(level) for level in "SML"])
    np.testing.assert_allclose(X, encoder.transform_many([one(level) for level in "SML"]))


def test_bad_snapshots_and_params():
    with pytest.raises(SnapshotError):
        MixedEncoder.from_dict({"type": "models.x.Y", "format": 1})
    document = make_encoder().to_dict()
    document["state"] = {"__dict__": []}
    with pytest.raises(SnapshotError):
        MixedEncoder.from_dict(document)
    with pytest.raises(ValueError, match="levels"):
        MixedEncoder(types={"x": "ordinal"})
    with pytest.raises(ValueError, match="type"):
        MixedEncoder(types={"x": "fuzzy"})
    with pytest.raises(ValueError):
        MixedEncoder(self_weight=2)


def test_one_record_at_a_time_matches_the_batch_shape():
    stream = grouped_stream(300, seed=3)
    encoder = make_encoder()
    for record in stream:
        encoder.learn_many([record])
    batch = make_encoder()
    batch.learn_many(stream)
    # Columns are added in the order fields earn them, so only the set is the same.
    assert sorted(encoder.feature_names) == sorted(batch.feature_names)
    a, b = encoder.transform_many(stream), batch.transform_many(stream)
    # Same statistics up to winsorisation timing and refresh points: close, not identical.
    assert np.nanmean(np.abs(a[:, 0] - b[:, 0])) < 0.1


def test_coordinates_are_recomputed_only_when_the_counts_moved():
    encoder = make_encoder()
    encoder.learn_many(grouped_stream(4000, seed=1))
    settled = encoder.embedding("colour")
    encoder.learn_many(grouped_stream(4000, seed=2))  # same distribution: nothing to redo
    for value, coordinates in encoder.embedding("colour").items():
        np.testing.assert_array_equal(coordinates, settled[value])
    # Drift: red and orange now come with group 0's weights. The profiles move: recomputed.
    drifted = [r for r in grouped_stream(8000, seed=3) if r.features["colour"] in ("red", "orange")]
    for record in drifted:
        record.features["weight"] -= 10.0
    encoder.learn_many(drifted)
    moved = encoder.embedding("colour")
    assert not np.array_equal(moved["red"], settled["red"])
    # With no tolerance every check recomputes every field.
    eager = make_encoder(refresh_tolerance=0.0)
    eager.learn_many(grouped_stream(4000, seed=1))
    before = eager.embedding("noise")
    eager.learn_many(grouped_stream(4000, seed=2))
    assert not np.array_equal(eager.embedding("noise")["a"], before["a"])


def test_a_rare_level_of_a_discrete_field_is_not_winsorised_away():
    # 96 % of the values are 1: the median deviation is 0, and the scale of the rest (the
    # field's information) must not be taken for outliers in the first batch.
    x = [1.0] * 192 + [2.0] * 6 + [3.0] * 2
    encoder = MixedEncoder()
    z = encoder.learn_transform_many(records([{"x": v} for v in x]))[:, 0]
    assert z[-3] == pytest.approx((2.0 - np.mean(x)) / np.std(x), rel=0.05)  # a plain z-score
    # 6.5 standard deviations out: past half the clip, the excess is compressed.
    knee, far = encoder.clip / 2, (3.0 - np.mean(x)) / np.std(x)
    assert z[-1] == pytest.approx(knee + np.log1p(far - knee), rel=0.05)


def test_a_heavy_tail_is_compressed_in_order_and_bounded():
    rng = np.random.default_rng(5)
    encoder = MixedEncoder()
    encoder.learn_many(records([{"x": float(v)} for v in rng.normal(0, 1, 2000)]))
    z = encoder.transform_many(records([{"x": v} for v in (3.0, 6.0, 20.0, 100.0, 1e9)]))[:, 0]
    assert z[0] == pytest.approx(3.0, abs=0.1)  # within half the clip: a plain z-score
    assert 5.0 < z[1] < z[2] < z[3] < encoder.clip  # beyond: in order, compressed
    assert z[2] == pytest.approx(encoder.clip / 2 + np.log1p(20.0 - encoder.clip / 2), abs=0.1)
    assert z[4] == encoder.clip


def test_records_of_several_sources_read_alike_whatever_their_field_order():
    rng = np.random.default_rng(4)
    rows = []
    for i in range(600):
        source = i % 3
        row = {"weight": float(rng.normal(source, 1)), "colour": str(rng.choice(["a", "b"]))}
        if source == 1:
            row["shape"] = str(rng.choice(["round", "square", "star"]))
            del row["weight"]
        if source == 2:
            row["depth"] = [1] if i % 30 == 5 else float(rng.normal())  # a list: missing
        rows.append(row)
    encoder = MixedEncoder()
    X = encoder.learn_transform_many(records(rows))  # three groups of records with equal fields
    shuffled = []
    for row in rows:  # the same records, their fields in another order: one group each
        keys = list(row)
        shuffled.append({keys[k]: row[keys[k]] for k in rng.permutation(len(keys))})
    np.testing.assert_array_equal(encoder.transform_many(records(shuffled)), X)
    # Fields that differ record by record (here an unknown one each): read one by one.
    tagged = [{**row, f"tag{i}": 1.0} for i, row in enumerate(rows)]
    np.testing.assert_array_equal(encoder.transform_many(records(tagged)), X)
    assert np.isnan(X[5, encoder.feature_names.index("depth")])
    assert np.isnan(X[1, encoder.feature_names.index("weight")])


def as_columns(batch: list[Record]) -> dict:
    """Records -> dictionary-encoded columns (categories in reverse order of appearance)."""
    names = list(dict.fromkeys(name for r in batch for name in r.features))
    columns = {}
    for name in names:
        values = [r.features.get(name) for r in batch]
        if any(isinstance(v, str) for v in values):
            categories = list(dict.fromkeys(v for v in values if v is not None))[::-1]
            index = {c: i for i, c in enumerate(categories)}
            codes = np.array([index.get(v, -1) if v is not None else -1 for v in values])
            columns[name] = (codes, categories)
        else:
            columns[name] = np.array([np.nan if v is None else v for v in values], dtype=float)
    return columns


def test_columns_encode_like_records():
    stream = grouped_stream(1500, seed=7)
    for i, record in enumerate(stream):
        if i % 7 == 0:
            del record.features["colour"]  # missing values
        if i >= 900:
            record.features["shape"] = "star" if i % 3 else "moon"  # a field appears
        if i >= 1200 and i % 5 == 0:
            record.features["colour"] = "purple"  # a value appears
    by_record, by_column = make_encoder(refresh_every=300), make_encoder(refresh_every=300)
    for start in range(0, len(stream), 300):
        batch = stream[start : start + 300]
        np.testing.assert_array_equal(
            by_column.learn_transform_columns(as_columns(batch)),
            by_record.learn_transform_many(batch),
        )
    assert by_column.feature_names == by_record.feature_names
    probe = stream[:50]
    np.testing.assert_array_equal(
        by_column.transform_columns(as_columns(probe)), by_record.transform_many(probe)
    )
    only_weight = by_column.transform_columns({"weight": np.array([1.0, 2.0])})
    assert np.isnan(only_weight[:, 1:]).all() and np.isfinite(only_weight[:, 0]).all()
    with pytest.raises(ValueError, match="same length"):
        by_column.transform_columns({"weight": np.zeros(2), "noise": (np.zeros(3, int), ["a"])})


def test_records_with_exactly_the_known_fields_read_like_any_others():
    # A batch whose records all hold the known fields takes a shorter way; one record without
    # fields sends the same records the general way. Both must give the same numbers.
    rng = np.random.default_rng(6)
    rows = [
        {"x": float(v), "n": int(rng.integers(0, 5)), "c": str(rng.choice(["a", "b"]))}
        for v in rng.normal(0, 1, 300)
    ]
    rows[3]["x"], rows[9]["n"] = None, float("inf")
    short, general = MixedEncoder(), MixedEncoder()
    short.learn_many(records(rows[:100]))
    general.learn_many(records(rows[:100]))
    X = short.learn_transform_many(records(rows))
    Y = general.learn_transform_many(records([*rows, {}]))[:-1]
    np.testing.assert_array_equal(X, Y)
    assert np.isnan(X[3, 0]) and np.isnan(X[9, 1])
    rows[7]["x"] = "not a number"  # the short way gives up: the general way reads it as missing
    assert np.isnan(short.transform_many(records(rows[7:8]))[0, 0])


def test_discrete_groups_name_each_categorical_and_ordinal_fields_columns():
    encoder = MixedEncoder(types={"size": "ordinal"}, levels={"size": ["S", "M", "L"]})
    rng = np.random.default_rng(0)
    encoder.learn_many(
        [
            {"x": float(rng.normal()), "colour": str(rng.choice(["r", "g", "b"])), "size": "M"}
            for _ in range(200)
        ]
    )
    names, groups = encoder.feature_names, encoder.discrete_groups.tolist()
    assert len(groups) == len(names)
    by_field: dict[str, set[int]] = {}
    for name, group in zip(names, groups, strict=True):
        by_field.setdefault(name.split("#")[0], set()).add(group)
    assert by_field["x"] == {-1}
    assert len(by_field["colour"]) == len(by_field["size"]) == 1  # one number per field
    assert (
        by_field["colour"] != by_field["size"] and -1 not in by_field["colour"] | by_field["size"]
    )


def test_log_scaled_fields_are_spread_by_ratio_not_difference():
    rng = np.random.default_rng(0)
    # Two groups a factor 10 apart, each with a spread proportional to its size.
    values = np.concatenate(
        [rng.lognormal(np.log(80), 0.3, 500), rng.lognormal(np.log(900), 0.3, 500)]
    )
    records = [{"latency": float(v)} for v in rng.permutation(values)]
    linear = MixedEncoder().learn_transform_many(records)[:, 0]
    logged = MixedEncoder(log_scaled=["latency"]).learn_transform_many(records)[:, 0]
    slow = np.array([r["latency"] > 300 for r in records])

    def spread_ratio(x):  # within-group sd of the slow group over that of the fast group
        return x[slow].std() / x[~slow].std()

    assert spread_ratio(linear) > 5  # a difference scale: the slow group is 10x as wide
    assert 0.5 < spread_ratio(logged) < 2  # a ratio scale: both equally wide
    assert np.all(np.diff(logged[np.argsort([r["latency"] for r in records])]) >= 0)  # order


def test_log_scale_comes_from_the_schema_and_survives_a_snapshot():
    registry = SchemaRegistry.from_dict(
        {
            "sources": {
                "a": {
                    "version": 1,
                    "fields": {"t": {"type": "numeric", "scale": "log"}, "u": {"type": "numeric"}},
                }
            }
        }
    )
    encoder = MixedEncoder.from_registry(registry)
    assert encoder.log_scaled == ["t"]
    encoder.learn_many([{"t": -5.0, "u": 1.0}, {"t": 50.0, "u": 2.0}])  # sign kept: mirrored
    restored = MixedEncoder.from_dict(loads(dumps("model_update", encoder.to_dict())))
    assert restored.log_scaled == ["t"]
    probe = [{"t": 7.0, "u": 1.5}]
    assert np.array_equal(restored.transform_many(probe), encoder.transform_many(probe))
    with pytest.raises(ValueError, match="collection of field names"):
        MixedEncoder(log_scaled="t")
