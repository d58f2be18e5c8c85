"""Where the map over-splits the synthetic stream: by combinations of discrete values.

Runs the worker's pipeline (schemas, encoder, Self-Growth Map, drift monitor) over the seeded
three-source synthetic stream, then labels the last ``--tail`` records with the final model
and prints, for every true cluster, the clusters it is split into and how much of each is one
combination of the record's discrete values (its categorical and ordinal fields). If the map
splits a true cluster by those combinations, each of its pieces is close to 100 % one
combination while the true cluster as a whole is not.

    python -m benchmarks.splits --seeds 0 1 2
"""

from __future__ import annotations

import argparse
from collections import Counter, defaultdict

import orjson

from models.cluster import SelfGrowthMap
from producers.synthetic import SyntheticStream
from stream.broker import REPO_ROOT
from stream.pipeline import Pipeline
from stream.records import Record, record_to_dict
from stream.schema import SchemaRegistry
from stream.source import Message

BATCH = 1000
MIN_SHARE = 0.01  # pieces with less of a true cluster's records are counted, not shown


def final_labels(
    registry: SchemaRegistry, seed: int, count: int, tail: int
) -> tuple[list[Record], list[int], int]:
    """The stream's last ``tail`` records and their clusters by the final model; k found."""
    records = list(SyntheticStream(count=count, seed=seed))
    pipeline = Pipeline(registry, model=SelfGrowthMap(seed=0))
    for start in range(0, count, BATCH):
        batch = records[start : start + BATCH]
        pipeline.process([Message("t", 0, 0, None, orjson.dumps(record_to_dict(r)), 0)
                          for r in batch])  # fmt: skip
    last = records[-tail:]
    clusters = pipeline.model.predict_many(pipeline.encoder.transform_many(last))
    return last, clusters.tolist(), pipeline.model.n_clusters


def discrete_fields(registry: SchemaRegistry) -> set[str]:
    return {name for name, spec in registry.field_types().items() if spec.type != "numeric"}


def combination_share(records: list[Record], fields: set[str]) -> float:
    """Share of the records that hold their most common combination of discrete values."""
    combos = Counter(tuple(sorted((k, v) for k, v in r.features.items() if k in fields))
                     for r in records)  # fmt: skip
    return combos.most_common(1)[0][1] / len(records)


def report(registry: SchemaRegistry, seed: int, count: int, tail: int) -> None:
    fields = discrete_fields(registry)
    records, clusters, k_found = final_labels(registry, seed, count, tail)
    print(f"\nseed {seed}: {k_found} clusters found for 10 true ones (last {tail} records)\n")
    print("| true cluster | records | one combination, whole | pieces (>= 1 %) | "
          "one combination, per piece (weighted) | small pieces |")  # fmt: skip
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    by_label: dict[str, dict[int, list[Record]]] = defaultdict(lambda: defaultdict(list))
    for record, cluster in zip(records, clusters, strict=True):
        by_label[str(record.label)][cluster].append(record)
    for label in sorted(by_label):
        pieces = by_label[label]
        members = [r for piece in pieces.values() for r in piece]
        shown = [p for p in pieces.values() if len(p) >= MIN_SHARE * len(members)]
        per_piece = sum(combination_share(p, fields) * len(p) for p in shown) / sum(map(len, shown))
        whole = combination_share(members, fields)
        print(f"| {label} | {len(members)} | {whole:.2f} | {len(shown)} | {per_piece:.2f} | "
              f"{len(pieces) - len(shown)} |")  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--count", type=int, default=20_000, help="records per stream")
    parser.add_argument("--tail", type=int, default=5_000, help="records labelled at the end")
    args = parser.parse_args(argv)
    registry = SchemaRegistry.load(REPO_ROOT / "deploy" / "schemas" / "synthetic.yaml")
    for seed in args.seeds:
        report(registry, seed, args.count, args.tail)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
