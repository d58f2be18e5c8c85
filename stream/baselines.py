"""river's online clusterers run on the same encoded records as the Self-Growth Map.

Used by ``sgmstream evaluate --compare``. river's models take dicts without missing values, so
a missing value is given as 0, the running mean after standardisation; the Self-Growth Map
itself skips missing dimensions instead. KMeans is handed the true number of clusters (a
privilege the Self-Growth Map never gets); the others use river's defaults.
"""

from __future__ import annotations

import numpy as np

from stream.scores import agreement

__all__ = ["compare_baselines"]


def _baselines(k_true: int | None, seed: int) -> dict:
    from river import cluster

    models = {
        "river.DBSTREAM": cluster.DBSTREAM(),
        "river.DenStream": cluster.DenStream(),
    }
    if k_true:
        models["river.KMeans(k=true k)"] = cluster.KMeans(n_clusters=k_true, seed=seed)
    return models


def compare_baselines(
    batches: list[np.ndarray], labels: list, k_true: int | None, seed: int = 0
) -> dict[str, dict]:
    """Prequential scores of each baseline (predict one, then learn it) on ``batches``."""
    X = np.nan_to_num(np.concatenate(batches)) if batches else np.empty((0, 0))
    known = np.array([label is not None for label in labels], dtype=bool)
    truth = np.array([str(label) for label in labels], dtype=object)
    out = {}
    for name, model in _baselines(k_true, seed).items():
        predicted = np.empty(len(X), dtype=np.int64)
        for i, row in enumerate(X):
            x = dict(enumerate(row.tolist()))
            predicted[i] = model.predict_one(x) if i else 0
            model.learn_one(x)
        out[name] = _scores(truth[known], predicted[known])
    return out


def _scores(truth: np.ndarray, predicted: np.ndarray) -> dict:
    return {**agreement(truth, predicted), "k_found": len(set(predicted.tolist()))}
