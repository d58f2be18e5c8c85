"""Our contingency-table scores agree with scikit-learn's on random partitions."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics

from stream.scores import adjusted_rand, normalized_mutual_info, purity


@pytest.mark.parametrize("seed", range(20))
def test_scores_match_scikit_learn(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 400))
    truth = rng.integers(0, int(rng.integers(1, 8)), n)
    predicted = np.where(rng.random(n) < 0.6, truth * 3 + 1, rng.integers(0, 9, n))
    assert adjusted_rand(truth, predicted) == pytest.approx(
        metrics.adjusted_rand_score(truth, predicted), abs=1e-12
    )
    assert normalized_mutual_info(truth, predicted) == pytest.approx(
        metrics.normalized_mutual_info_score(truth, predicted), abs=1e-12
    )
    table = metrics.cluster.contingency_matrix(truth, predicted)
    assert purity(truth, predicted) == pytest.approx(table.max(axis=0).sum() / n)


def test_string_labels_are_fine():
    assert adjusted_rand(["a", "a", "b"], [2, 2, 9]) == 1.0
