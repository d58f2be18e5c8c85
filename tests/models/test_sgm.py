"""Unit tests of the Self-Growth Map and hierarchical merging on small constructed streams."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score

from models.cluster import SelfGrowthMap, hierarchical_merge, stable_cluster_ids
from models.cluster import _sgm_kernels as K


def blobs(centres, sizes, seed=0, scale=1.0):
    rng = np.random.default_rng(seed)
    centres = np.asarray(centres, dtype=float)
    y = np.repeat(np.arange(len(centres)), sizes)
    X = centres[y] + rng.normal(scale=scale, size=(len(y), centres.shape[1]))
    order = rng.permutation(len(y))
    return X[order], y[order]


def test_first_three_records_form_a_triangle():
    sgm = SelfGrowthMap()
    sgm.learn_many(np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]]))
    assert sgm.n_neurons == 3
    assert sorted(map(tuple, sgm.edges.tolist())) == [(0, 1), (0, 2), (1, 2)]


def test_grows_a_neuron_linked_as_a_triangle_for_a_far_record():
    sgm = SelfGrowthMap()
    X, _ = blobs([[0.0, 0.0]], [300], scale=0.1)
    sgm.learn_many(X)
    before = set(sgm.neuron_ids.tolist())
    sgm.learn_one({0: 5.0, 1: 5.0})
    new = set(sgm.neuron_ids.tolist()) - before
    assert len(new) == 1
    (new_id,) = new
    linked = {int(b if a == new_id else a) for a, b in sgm.edges.tolist() if new_id in (a, b)}
    assert len(linked) == 2
    edges = {tuple(sorted(e)) for e in sgm.edges.tolist()}
    first, second = sorted(linked)
    assert (first, second) in edges  # winner and runner-up are linked too: a triangle
    assert sgm.transform_many(np.array([[5.0, 5.0]]))["neuron"][0] == new_id


def test_grows_where_the_data_is_and_keeps_more_neurons_than_clusters():
    X, _ = blobs([[0.0, 0.0], [10.0, 0.0]], [1000, 1000])
    sgm = SelfGrowthMap(seed=0)
    sgm.learn_many(X)
    assert sgm.n_neurons > 2 * sgm.n_clusters
    out = sgm.transform_many(X)
    assert np.median(out["novelty"]) < 1.0
    assert out["novelty"].dtype == np.float64 and out["neuron"].dtype == np.int64


def test_merging_finds_k_on_well_separated_blobs():
    centres = [[0.0, 0.0], [12.0, 0.0], [0.0, 12.0], [12.0, 12.0]]
    X, y = blobs(centres, [800] * 4, seed=1)
    sgm = SelfGrowthMap(seed=0)
    sgm.learn_many(X)
    assert sgm.n_clusters == 4
    assert adjusted_rand_score(y, sgm.predict_many(X)) > 0.95


def test_small_cluster_among_large_ones_is_kept():
    X, y = blobs([[0.0, 0.0], [12.0, 0.0], [6.0, 12.0]], [3000, 3000, 60], seed=2)
    sgm = SelfGrowthMap(seed=0)
    sgm.learn_many(X)
    labels = sgm.predict_many(X)
    small = labels[y == 2]
    assert np.bincount(small).max() >= 0.9 * len(small)
    assert not np.isin(np.bincount(small).argmax(), labels[y != 2])


def test_forgets_a_cluster_that_vanishes():
    A, _ = blobs([[0.0, 0.0], [10.0, 10.0]], [1000, 1000], seed=3)
    B, _ = blobs([[0.0, 0.0]], [3000], seed=4)
    sgm = SelfGrowthMap(forget_after=500, seed=0)
    sgm.learn_many(A)
    far = sgm.transform_many(np.array([[10.0, 10.0]]))["neuron"][0]
    sgm.learn_many(B)
    assert far not in sgm.neuron_ids
    assert np.all(np.linalg.norm(sgm.prototypes - [10.0, 10.0], axis=1) > 5.0)


def test_max_neurons_caps_the_map_and_ids_are_never_reused():
    rng = np.random.default_rng(5)
    sgm = SelfGrowthMap(max_neurons=12, forget_after=200, seed=0)
    seen: set[int] = set()
    for phase in range(5):
        sgm.learn_many(rng.normal(size=(600, 3)) + 15.0 * phase)
        assert sgm.n_neurons <= 12
        ids = sgm.neuron_ids
        assert len(set(ids.tolist())) == len(ids)
        removed_now_back = (seen - set(ids.tolist())) & set(ids.tolist())
        assert not removed_now_back
        seen |= set(ids.tolist())
    assert max(seen) >= 12  # ids kept growing past the cap as neurons were replaced


def test_cluster_ids_are_stable_across_re_merges():
    X, _ = blobs([[0.0, 0.0], [12.0, 0.0]], [1000, 1000], seed=6)
    sgm = SelfGrowthMap(seed=0)
    sgm.learn_many(X)
    probe = np.array([[0.0, 0.0], [12.0, 0.0]])
    before = sgm.predict_many(probe).tolist()
    more, _ = blobs([[0.0, 0.0], [12.0, 0.0], [0.0, 12.0]], [1000, 1000, 1000], seed=7)
    sgm.learn_many(more)
    sgm.merge()
    after = sgm.predict_many(probe).tolist()
    assert after == before
    new = int(sgm.predict_many(np.array([[0.0, 12.0]]))[0])
    assert new not in before and new > max(before)


def test_stable_cluster_ids_split_gets_a_fresh_id():
    ids, nxt = stable_cluster_ids(
        np.array([0, 0, 1, 1]), np.array([3, 3, 3, 3]), np.array([5.0, 5.0, 1.0, 1.0]), 4
    )
    assert ids.tolist() == [3, 3, 4, 4] and nxt == 5


def test_hierarchical_merge_on_map_statistics_alone():
    P = np.array([[0.0], [1.0], [2.0], [20.0], [21.0]])
    edges = np.array([[0, 1], [1, 2], [3, 4]])  # two components: joined virtually, gap decides
    result = hierarchical_merge(P, np.full(5, 10.0), edges, variances=np.full(5, 0.1))
    assert result.labels.tolist() == [0, 0, 0, 1, 1]
    assert result.n_clusters == 2
    assert result.sequence.shape == (4, 3) and result.n_merged == 3


def test_missing_values_are_skipped_not_zero_imputed():
    sgm = SelfGrowthMap()
    X, _ = blobs([[5.0, 5.0, 5.0]], [200], scale=0.1)
    sgm.learn_many(X)
    out = sgm.transform_many(np.array([[5.0, np.nan, 5.0], [np.nan, np.nan, np.nan]]))
    assert out["distance"][0] < 1.0  # a zero in the middle would put it ~5 away
    assert out["neuron"][1] == -1 and np.isnan(out["distance"][1])


def test_adapt_raises_learning_rates_and_re_merges():
    X, _ = blobs([[0.0, 0.0]], [2000], seed=8)
    sgm = SelfGrowthMap(seed=0)
    sgm.learn_many(X)
    assert sgm.neuron_counts.max() > 10
    sgm.adapt()
    assert sgm.neuron_counts.max() <= 10
    one = int(sgm.neuron_ids[0])
    sgm.learn_many(X[:50])
    sgm.adapt([one])
    assert sgm.n_neurons >= 1


@pytest.mark.parametrize("seed", range(6))
def test_adapting_a_settled_cluster_keeps_the_clustering(seed):
    # Adapting cuts hit counts (faster learning); merging must not read that as a sparse
    # region and re-cut the map: the same records keep their clusters.
    rng = np.random.default_rng(seed)
    centres = np.array([[0.0, 0.0, 0.0], [10.0, 0.0, 0.0], [0.0, 10.0, 0.0]])
    y = rng.choice(3, 30_000, p=[0.6, 0.38, 0.02])
    X = centres[y] + rng.normal(size=(30_000, 3))
    sgm = SelfGrowthMap(seed=0)
    sgm.learn_many(X[:20_000])
    before = sgm.predict_many(X[20_000:])
    largest = sgm.predict_many(centres[:1])[0]
    sgm.adapt(sgm.neuron_ids[sgm.neuron_clusters == largest])
    assert np.mean(sgm.predict_many(X[20_000:]) == before) > 0.995


def test_a_stable_map_is_still_merged_at_the_slowest_pace():
    # Three blobs in 20 dimensions: the map settles on three neurons and grows no more. Its
    # weights and edge statistics still move (a young neuron's share grows as records come),
    # so merging must not stop for good: within 4 * merge_every records it runs again.
    rng = np.random.default_rng(3)
    X = 10.0 * np.eye(20)[rng.integers(0, 3, 40_000)] + rng.normal(size=(40_000, 20))
    sgm = SelfGrowthMap(seed=0)
    sgm.learn_many(X[:20_000])
    settled, sequence = sgm.n_neurons, sgm.merge_sequence
    sgm.learn_many(X[20_000:22_500])
    assert sgm.n_neurons == settled == 3  # no birth or removal: the map is stable
    assert not np.array_equal(sgm.merge_sequence, sequence)  # and was merged again


def test_rejects_an_impossible_cap():
    with pytest.raises(ValueError):
        SelfGrowthMap(max_neurons=0)


def test_sources_with_disjoint_features_are_never_linked_or_merged():
    A, _ = blobs([[0.0, 0.0], [8.0, 0.0]], [500, 500], seed=9)
    B, _ = blobs([[0.0, 0.0, 0.0]], [500], seed=10)
    X = np.full((1500, 5), np.nan)
    X[:1000, :2] = A
    X[1000:, 2:] = B
    X = X[np.random.default_rng(11).permutation(1500)]
    sgm = SelfGrowthMap(seed=0)
    sgm.learn_many(X)
    observed = ~np.isnan(sgm.prototypes)
    source_of = {int(i): bool(row[0]) for i, row in zip(sgm.neuron_ids, observed, strict=True)}
    assert all(source_of[int(a)] == source_of[int(b)] for a, b in sgm.edges)
    labels = sgm.predict_many(X)
    from_a = ~np.isnan(X[:, 0])
    assert not np.isin(labels[from_a], labels[~from_a]).any()


def test_a_new_source_at_the_cap_replaces_the_idlest_neuron():
    # Records of a source sharing no feature with any neuron have no winner to absorb them;
    # at the cap they must still get a neuron instead of failing.
    rng = np.random.default_rng(0)
    sgm = SelfGrowthMap(max_neurons=4, seed=0)
    old = np.column_stack([rng.normal(size=(400, 2)) * 5, np.full((400, 1), np.nan)])
    sgm.learn_many(old)
    assert sgm.n_neurons == 4
    new = np.column_stack([np.full((50, 2), np.nan), rng.normal(size=(50, 1))])
    sgm.learn_many(new)
    assert sgm.n_neurons == 4
    neuron = sgm.transform_many(new)["neuron"]
    assert (neuron >= 0).all()


def test_growth_stops_once_the_clusters_are_covered():
    X, _ = blobs(np.eye(8)[:3] * 12.0, [4000, 4000, 4000], seed=12)
    sgm = SelfGrowthMap(seed=0)
    sgm.learn_many(X[:6000])
    halfway = sgm.n_neurons
    sgm.learn_many(X[6000:])
    assert sgm.n_neurons <= halfway + 2
    assert sgm.n_neurons < 30 and sgm.n_clusters == 3


def test_at_the_cap_a_new_dense_region_recycles_a_redundant_neuron():
    # Two blobs tiled by many neurons fill a small map; a new cluster must still get a neuron
    # of its own (not be absorbed by the nearest old one), and every old cluster keeps one.
    X, _ = blobs([[0.0, 0.0], [12.0, 0.0]], [3000, 3000], seed=13)
    sgm = SelfGrowthMap(max_neurons=8, seed=0)
    sgm.learn_many(X)
    assert sgm.n_neurons == 8
    old = set(sgm.predict_many(np.array([[0.0, 0.0], [12.0, 0.0]])).tolist())
    new, _ = blobs([[6.0, 12.0]], [300], seed=14)
    mixed = np.vstack([X[:1500], new])[np.random.default_rng(15).permutation(1800)]
    sgm.learn_many(mixed)
    sgm.merge()
    assert sgm.n_neurons == 8
    out = sgm.transform_many(new)
    assert np.median(out["novelty"]) < 1.0  # covered by neurons of its own
    assert not np.isin(out["cluster"], list(old)).any()
    assert set(sgm.predict_many(np.array([[0.0, 0.0], [12.0, 0.0]])).tolist()) == old


def test_at_the_cap_a_stationary_stream_stops_recycling_neurons():
    # In two dimensions the vote keeps passing by chance in the tails, and now and then a
    # record lies beyond two radii; at the cap every such growth recycled a neuron and re-grew
    # one: 97 births over the last 40,000 records here, 25 with only far records recycling,
    # none now.
    centres = np.array([[0.0, 0.0], [8.0, 0.0], [0.0, 8.0]])
    X, _ = blobs(centres, [20_000] * 3, seed=16)
    sgm = SelfGrowthMap(max_neurons=12, seed=0)
    sgm.learn_many(X[:20_000])
    assert sgm.n_neurons == 12
    before = set(sgm.neuron_ids.tolist())
    born = 0
    for start in range(20_000, len(X), 1_000):
        sgm.learn_many(X[start : start + 1_000])
        alive = set(sgm.neuron_ids.tolist())
        born += len(alive - before)
        before = alive
    assert born < 10 and sgm.n_clusters == 3


def test_at_the_cap_a_lone_far_record_recycles_nothing_and_a_far_region_does():
    X, _ = blobs([[0.0, 0.0], [12.0, 0.0]], [3000, 3000], seed=13)
    sgm = SelfGrowthMap(max_neurons=8, seed=0)
    sgm.learn_many(X)
    ids = set(sgm.neuron_ids.tolist())
    # One rare record far out: recycling a neuron for it would give up a piece of a real region.
    sgm.learn_many(np.array([[6.0, 30.0]]))
    assert set(sgm.neuron_ids.tolist()) == ids
    sgm.learn_many(X[:500])
    far, _ = blobs([[6.0, 30.0]], [5], seed=17)
    sgm.learn_many(far)
    assert len(set(sgm.neuron_ids.tolist()) - ids) == 1
    assert sgm.transform_many(far)["novelty"].max() < 1.0


def test_a_light_neuron_between_two_clusters_joins_one_and_links_neither():
    # Heavy neurons at 0 and 10 with tight members; a light one at 5 whose wide, thin
    # component shows no valley towards either side.
    P = np.array([[0.0], [5.0], [10.0]])
    counts = np.array([100.0, 20.0, 100.0])
    edges = np.array([[0, 1], [1, 2]])
    variances = np.array([0.25, 25.0, 0.25])
    chained = hierarchical_merge(P, counts, edges, variances=variances, border_fraction=0.0)
    assert chained.n_clusters == 1  # plain single linkage chains them through the light one
    result = hierarchical_merge(P, counts, edges, variances=variances)
    assert result.n_clusters == 2
    assert result.labels[0] != result.labels[2]
    assert result.labels[1] in (result.labels[0], result.labels[2])


@pytest.mark.parametrize("seed", range(40))
def test_nearest_matches_the_pairwise_distance_to_the_last_bit(seed):
    # The batch search groups rows by the features they hold; it must find what comparing
    # every row with every neuron one by one finds: same winner, same distance, same ties.
    rng = np.random.default_rng(seed)
    n, width, neurons = rng.integers(1, 120), rng.integers(1, 12), rng.integers(1, 20)
    X = rng.normal(size=(n, width))
    sources = rng.integers(0, 3, size=n)  # rows of a source lack the same features
    for source in range(3):
        X[np.ix_(sources == source, rng.random(width) < 0.4)] = np.nan
    X[rng.random((n, width)) < 0.05] = np.nan  # and a few more, anywhere
    X[rng.random((n, width)) < 0.01] = np.inf * rng.choice([-1, 1])
    W = rng.normal(size=(neurons, width))
    W[rng.random((neurons, width)) < 0.3] = np.nan
    if seed % 2:
        X, W = np.round(X), np.round(W)  # ties between neurons
    alive = rng.random(neurons) < 0.8
    slot, best = K.nearest(X, W, alive)
    for i in range(n):
        pairs = [(K.squared_distance(X[i], W[j]), j) for j in np.flatnonzero(alive)]
        shared = [(d, j) for d, j in pairs if d >= 0.0]
        expected_d, expected_j = min(shared, key=lambda p: p[0]) if shared else (np.inf, -1)
        if expected_d == np.inf:  # no finite distance: nothing beats the initial infinity
            expected_j = -1
        assert (slot[i], best[i]) == (expected_j, expected_d)


@pytest.mark.parametrize("seed", range(20))
def test_winners_over_held_features_match_the_full_comparison(seed):
    # A record lacking features is compared over those it holds only; the winner, runner-up
    # and their distances must be those of the comparison over every feature.
    rng = np.random.default_rng(seed)
    width, neurons = rng.integers(2, 12), rng.integers(1, 20)
    W = rng.normal(size=(neurons, width))
    W[rng.random((neurons, width)) < 0.3] = np.nan
    alive = rng.random(neurons) < 0.8
    for _ in range(50):
        x = rng.normal(size=width)
        x[rng.random(width) < 0.5] = np.nan
        if seed % 2:
            x, W = np.round(x), np.round(W)  # ties
        present = np.flatnonzero(~np.isnan(x))
        if 0 < len(present) < width:
            assert K._partial_winners(x, present, len(present), W, alive) == K._winners(x, W, alive)


def _sheets(fields_differing: int, shared_numeric: bool = True):
    """Two neurons at the same numeric place (column 0, or none) whose records differ in
    ``fields_differing`` one-hot fields of two columns each, by equal offsets."""
    width = 1 + 2 * 4
    a, b = np.zeros(width), np.zeros(width)
    for f in range(4):
        a[1 + 2 * f] = b[2 + 2 * f] = 1.0  # a holds value 0, b value 1 ...
        if f >= fields_differing:
            b[1 + 2 * f], b[2 + 2 * f] = 1.0, 0.0  # ... but only in the first few fields
    if not shared_numeric:
        a[0] = b[0] = np.nan
    groups = np.array([-1, 0, 0, 1, 1, 2, 2, 3, 3])
    return np.vstack([a, b]), groups


@pytest.mark.parametrize("fields_differing", [1, 2, 3])
def test_neurons_apart_only_in_a_few_discrete_fields_are_one_cluster(fields_differing):
    P, groups = _sheets(fields_differing)
    args = (P, np.full(2, 50.0), np.array([[0, 1]]))
    spread = {"edge_variances": np.full((1, 2), 1e-4)}  # every record on its neuron's sheet
    assert hierarchical_merge(*args, **spread).n_clusters == 2  # a valley between the sheets
    assert hierarchical_merge(*args, **spread, discrete_groups=groups).n_clusters == 1


def test_many_discrete_fields_or_no_continuous_one_still_separate():
    spread = {"edge_variances": np.full((1, 2), 1e-4)}
    P, groups = _sheets(4)
    merged = hierarchical_merge(P, np.full(2, 50.0), np.array([[0, 1]]), **spread,
                                discrete_groups=groups)  # fmt: skip
    assert merged.n_clusters == 2
    P, groups = _sheets(1, shared_numeric=False)  # categorical fields only: as before
    merged = hierarchical_merge(P, np.full(2, 50.0), np.array([[0, 1]]), **spread,
                                discrete_groups=groups)  # fmt: skip
    assert merged.n_clusters == 2


def test_discrete_groups_are_checked_and_kept_in_snapshots():
    sgm = SelfGrowthMap(seed=0)
    with pytest.raises(ValueError, match="one number per column"):
        sgm.set_discrete_groups(np.zeros((2, 2)))
    sgm.learn_many(blobs([[0.0, 0.0, 0.0]], [100])[0])
    sgm.set_discrete_groups([-1, 0, 0])
    document = sgm.to_dict()
    assert SelfGrowthMap.from_dict(document)._discrete.tolist() == [-1, 0, 0]
    del document["state"]["__dict__"][-1]  # a snapshot from before the groups existed
    assert [k for k, _ in document["state"]["__dict__"]][-1] == "merge_sequence"
    assert SelfGrowthMap.from_dict(document)._discrete.tolist() == []
