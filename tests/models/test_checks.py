"""One check suite over every public model, in the manner of scikit-learn's estimator checks.

Discovery: every class named in ``models.cluster.__all__`` or ``models.drift.__all__`` that
subclasses ``river.base.Clusterer`` or ``river.base.DriftDetector`` is checked, once per
parameter set yielded by its ``_unit_test_params()`` classmethod (``{}`` if it has none). A new
model is covered the moment it is exported.

Conventions a model may rely on:

* ``_unit_test_params()`` (classmethod) yields cheap parameter dicts.
* A drift detector declares what it consumes with a classmethod ``_check_stream(rng, n)``
  returning a **stationary** stream of ``n`` values (numbers, or whatever its ``update`` takes)
  drawn from ``rng`` (a ``numpy.random.Generator``). Without it, the stream is standard normal
  floats. The suite feeds each value to ``update`` and reads ``drift_detected``.
* Snapshots: ``to_dict`` / ``from_dict`` and ``save`` / ``load`` (``models.base.Snapshot``).

Known failures are declared in :data:`KNOWN_FAILURES`, keyed by ``(class name, check name)``
with the reason; they run as strict ``xfail`` (so a fix is noticed), never skipped silently.
"""

from __future__ import annotations

import copy
import importlib
import json

import numpy as np
import pytest
from river import base

KNOWN_FAILURES: dict[tuple[str, str], str] = {}

_PACKAGES = ("models.cluster", "models.drift")


def _discover(kind: type) -> list[type]:
    found = []
    for package in _PACKAGES:
        module = importlib.import_module(package)
        for name in getattr(module, "__all__", []):
            obj = getattr(module, name, None)
            if isinstance(obj, type) and issubclass(obj, kind) and not obj.__name__.startswith("_"):
                found.append(obj)
    return found


def _cases(kind: type, checks: list) -> list:
    cases = []
    for cls in _discover(kind):
        maker = getattr(cls, "_unit_test_params", None)
        param_sets = list(maker()) if maker else [{}]
        for i, params in enumerate(param_sets):
            for check in checks:
                marks = []
                reason = KNOWN_FAILURES.get((cls.__name__, check.__name__))
                if reason:
                    marks.append(pytest.mark.xfail(strict=True, reason=reason))
                cases.append(
                    pytest.param(
                        cls, params, check, id=f"{cls.__name__}[{i}]-{check.__name__}", marks=marks
                    )
                )
    return cases


# -- clusterers --------------------------------------------------------------------------------


def _blobs(seed: int, n: int, d: int = 3) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=4.0, size=(3, d))
    labels = rng.integers(0, 3, size=n)
    return centres[labels] + rng.normal(size=(n, d))


def _dicts(X: np.ndarray) -> list[dict]:
    return [{j: float(v) for j, v in enumerate(row)} for row in X]


def _predict_all(model, X: np.ndarray) -> list[int]:
    return [model.predict_one(x) for x in _dicts(X)]


def _learn_all(model, X: np.ndarray) -> None:
    for x in _dicts(X):
        model.learn_one(x)


def _same_state(a, b) -> bool:
    return json.dumps(a.to_dict(), sort_keys=True) == json.dumps(b.to_dict(), sort_keys=True)


def check_snapshot_round_trip(cls, params, tmp_path):
    X, later = _blobs(0, 300), _blobs(1, 300)
    model = cls(**params)
    _learn_all(model, X)
    document = json.loads(json.dumps(model.to_dict()))
    restored = cls.from_dict(document)
    model.save(tmp_path / "model.npz")
    loaded = cls.load(tmp_path / "model.npz")
    expected = _predict_all(model, later)
    assert _predict_all(restored, later) == expected
    assert _predict_all(loaded, later) == expected
    for other in (restored, loaded):
        _learn_all(other, later)
    _learn_all(model, later)
    expected = _predict_all(model, X)
    assert _predict_all(restored, X) == expected
    assert _predict_all(loaded, X) == expected
    assert _same_state(model, restored) and _same_state(model, loaded)


def check_clone_independence(cls, params, tmp_path):
    X = _blobs(2, 200)
    model = cls(**params)
    _learn_all(model, X)
    before = _predict_all(model, X)
    twin = model.clone()
    _learn_all(twin, _blobs(3, 400) * 3.0 + 10.0)
    assert _predict_all(model, X) == before


def check_predict_one_is_pure(cls, params, tmp_path):
    X = _blobs(4, 200)
    model = cls(**params)
    _learn_all(model, X)
    state = json.dumps(model.to_dict(), sort_keys=True)
    for x in _dicts(_blobs(5, 20)):
        kept = copy.deepcopy(x)
        model.predict_one(x)
        assert x == kept
    # A record with an unseen feature must not add it to the model either.
    model.predict_one({0: 1.0, "new": 2.0})
    assert json.dumps(model.to_dict(), sort_keys=True) == state


def check_predict_before_learning(cls, params, tmp_path):
    model = cls(**params)
    assert isinstance(model.predict_one({0: 1.0, 1: 2.0}), int)
    if hasattr(model, "predict_many"):
        labels = model.predict_many(np.zeros((3, 2)))
        assert labels.shape == (3,) and labels.dtype.kind == "i"


def check_features_appear_and_disappear(cls, params, tmp_path):
    rng = np.random.default_rng(6)
    model = cls(**params)
    for i in range(400):
        x = {"a": rng.normal(), "b": rng.normal()}
        if i >= 100:
            x["c"] = rng.normal() + 3.0
        if i >= 200:
            del x["a"]
        if i % 50 == 0:
            x["b"] = None
        model.learn_one(x)
        assert isinstance(model.predict_one(x), int)
    if hasattr(model, "learn_many"):
        model.learn_many(rng.normal(size=(20, 5)))  # wider than anything seen
        model.learn_many(rng.normal(size=(20, 1)))  # narrower: trailing features missing
        X = rng.normal(size=(5, 4))
        X[0, :] = np.nan
        X[1, 2] = np.nan
        assert model.predict_many(X).shape == (5,)


def check_same_seed_same_output(cls, params, tmp_path):
    X = _blobs(7, 400)
    runs = []
    for _ in range(2):
        model = cls(**params)
        _learn_all(model, X)
        runs.append(_predict_all(model, X))
    assert runs[0] == runs[1]


def check_memory_bounded(cls, params, tmp_path):
    model = cls(**params)
    rng = np.random.default_rng(8)
    size_after = []
    for phase in range(4):
        # A drifting stream: every phase brings new far-away blobs.
        X = _blobs(10 + phase, 1500) + rng.normal(scale=20.0, size=3)
        if hasattr(model, "learn_many"):
            model.learn_many(X)
        else:
            _learn_all(model, X)
        size_after.append(len(json.dumps(model.to_dict())))
        if hasattr(model, "max_neurons"):
            assert model.n_neurons <= model.max_neurons
    assert size_after[-1] <= 2.0 * size_after[1] + 10_000


def check_learn_many_equals_learn_one(cls, params, tmp_path):
    if not hasattr(cls, "learn_many"):
        pytest.skip("no batch path")  # pragma: no cover - every model of ours has one
    X = _blobs(9, 600)
    X[5, 1] = np.nan
    batch, single = cls(**params), cls(**params)
    for chunk in np.array_split(X, [100, 101, 350]):
        batch.learn_many(chunk)
    for row in X:
        single.learn_one({j: float(v) for j, v in enumerate(row) if not np.isnan(v)})
    assert batch.predict_many(X).tolist() == single.predict_many(X).tolist()
    assert _predict_all(batch, X) == _predict_all(single, X)
    assert _same_state(batch, single)


CLUSTERER_CHECKS = [
    check_snapshot_round_trip,
    check_clone_independence,
    check_predict_one_is_pure,
    check_predict_before_learning,
    check_features_appear_and_disappear,
    check_same_seed_same_output,
    check_memory_bounded,
    check_learn_many_equals_learn_one,
]


@pytest.mark.parametrize(("cls", "params", "check"), _cases(base.Clusterer, CLUSTERER_CHECKS))
def test_clusterer(cls, params, check, tmp_path):
    check(cls, params, tmp_path)


# -- drift detectors ---------------------------------------------------------------------------


def _detector_stream(cls, seed: int, n: int) -> list:
    rng = np.random.default_rng(seed)
    maker = getattr(cls, "_check_stream", None)
    values = maker(rng, n) if maker else rng.normal(size=n)
    return list(values)


def _alarms(detector, values) -> list[int]:
    out = []
    for i, value in enumerate(values):
        detector.update(value)
        if detector.drift_detected:
            out.append(i)
    return out


def check_detector_snapshot_round_trip(cls, params, tmp_path):
    values = _detector_stream(cls, 0, 2000)
    detector = cls(**params)
    _alarms(detector, values[:1000])
    restored = cls.from_dict(json.loads(json.dumps(detector.to_dict())))
    detector.save(tmp_path / "detector.npz")
    loaded = cls.load(tmp_path / "detector.npz")
    expected = _alarms(detector, values[1000:])
    assert _alarms(restored, values[1000:]) == expected
    assert _alarms(loaded, values[1000:]) == expected


def check_detector_clone_independence(cls, params, tmp_path):
    values = _detector_stream(cls, 1, 1000)
    detector = cls(**params)
    _alarms(detector, values[:500])
    reference = cls(**params)
    _alarms(reference, values[:500])
    twin = detector.clone()
    _alarms(twin, _detector_stream(cls, 2, 500))
    assert _alarms(detector, values[500:]) == _alarms(reference, values[500:])


def check_detector_same_seed_same_output(cls, params, tmp_path):
    values = _detector_stream(cls, 3, 2000)
    assert _alarms(cls(**params), values) == _alarms(cls(**params), values)


def check_detector_no_alarm_when_stationary(cls, params, tmp_path):
    values = _detector_stream(cls, 4, 5000)
    assert _alarms(cls(**params), values) == []


DETECTOR_CHECKS = [
    check_detector_snapshot_round_trip,
    check_detector_clone_independence,
    check_detector_same_seed_same_output,
    check_detector_no_alarm_when_stationary,
]


@pytest.mark.parametrize(("cls", "params", "check"), _cases(base.DriftDetector, DETECTOR_CHECKS))
def test_detector(cls, params, check, tmp_path):
    check(cls, params, tmp_path)
