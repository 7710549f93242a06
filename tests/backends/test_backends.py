"""Conformance suite: every registered backend on every task, on small real data sets."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import skops.io as sio
from optuna.distributions import BaseDistribution
from sklearn.datasets import load_breast_cancer, load_diabetes, load_wine
from sklearn.metrics import accuracy_score, r2_score, roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

from backends import registry
from backends._common import default_rounds, early_stopping_patience
from backends._skops import dump_estimator, load_estimator
from backends.contracts import Backend, Deadline, Device, FitContext, Model, TaskType
from backends.errors import ConfigError, PackageError
from backends.xgboost import trained_device

NAMES = registry.names()
TASKS = list(TaskType)
ITERATIVE = {"lightgbm", "xgboost", "catboost", "extra_trees", "random_forest", "mlp"}  # grow in rounds/chunks (mlp: epochs)
BOOSTERS = {"lightgbm", "xgboost", "catboost"}  # early-stop on an eval set
FLOORS = {"lightgbm", "xgboost"}  # declare their library defaults (the floor)
N_JOBS = 2
_LOADERS: dict[TaskType, Callable[..., Any]] = {
    TaskType.BINARY: load_breast_cancer,
    TaskType.MULTICLASS: load_wine,
    TaskType.REGRESSION: load_diabetes,
}


class Split:
    """A 70/30 split of one data set in both feature recipes."""

    def __init__(self, task: TaskType) -> None:
        frame, target = _LOADERS[task](return_X_y=True, as_frame=True)
        X = frame.astype(np.float32)
        y = target.to_numpy()
        y = y.astype(np.int64) if task.is_classification else y.astype(np.float64)
        self.task = task
        self.k = int(y.max()) + 1 if task.is_classification else 0
        idx_tr, idx_te = train_test_split(
            np.arange(len(X)), test_size=0.3, random_state=0, stratify=y if task.is_classification else None
        )
        self.y_tr, self.y_te = y[idx_tr], y[idx_te]

        # dense recipe: imputed (nothing missing here) and standardized float32
        scaler = StandardScaler().fit(X.iloc[idx_tr])
        dense = pd.DataFrame(scaler.transform(X).astype(np.float32), columns=X.columns)
        self.dense_tr, self.dense_te = dense.iloc[idx_tr].reset_index(drop=True), dense.iloc[idx_te].reset_index(drop=True)

        # native recipe: float32 numerics plus one category column with fixed categories
        native = X.copy()
        bins = pd.qcut(X.iloc[:, 2], 4, labels=["q0", "q1", "q2", "q3"]).astype(str)
        native["binned"] = pd.Categorical(bins, categories=["q0", "q1", "q2", "q3", "unseen"])
        self.native_tr = native.iloc[idx_tr].reset_index(drop=True)
        self.native_te = native.iloc[idx_te].reset_index(drop=True)

    def data(self, backend: Backend) -> tuple[pd.DataFrame, np.ndarray, pd.DataFrame, np.ndarray]:
        """(X_train, y_train, X_test, y_test) in the backend's recipe."""
        if backend.recipe == "native":
            return self.native_tr, self.y_tr, self.native_te, self.y_te
        assert backend.recipe == "dense"
        return self.dense_tr, self.y_tr, self.dense_te, self.y_te

    def ctx(self, X: pd.DataFrame, seed: int = 0) -> FitContext:
        return FitContext(self.task, len(X), X.shape[1], n_classes=self.k, seed=seed, n_jobs=N_JOBS)


_SPLITS: dict[TaskType, Split] = {}
_FITTED: dict[tuple[str, TaskType], Model] = {}


def split_for(task: TaskType) -> Split:
    if task not in _SPLITS:
        _SPLITS[task] = Split(task)
    return _SPLITS[task]


def later() -> Deadline:
    return Deadline.after(120.0)


def fitted(name: str, task: TaskType) -> Model:
    """The default-config model of `name` on `task`, fitted once per session.

    Fitted as the search would: early stopping on an inner validation split of the
    training rows (ignored by the families that do not early-stop).
    """
    if (name, task) not in _FITTED:
        backend = registry.get(name)
        s = split_for(task)
        X, y, _, _ = s.data(backend)
        n_fit = int(len(X) * 0.8)
        X_fit, y_fit = X.iloc[:n_fit].reset_index(drop=True), y[:n_fit]
        eval_set = (X.iloc[n_fit:].reset_index(drop=True), y[n_fit:])
        _FITTED[(name, task)] = backend.fit(X_fit, y_fit, {}, s.ctx(X_fit), later(), eval_set=eval_set)
    return _FITTED[(name, task)]


def contains(dist: BaseDistribution, value: Any) -> bool:
    return bool(dist._contains(dist.to_internal_repr(value)))


def rounds_in(model: Model) -> int:
    """Rounds (boosting), trees (forests) or epochs (mlp) the library object really holds."""
    if model.backend == "mlp":
        return int(model.epochs)  # type: ignore[attr-defined]
    if model.backend == "lightgbm":
        return int(model.booster.current_iteration())  # type: ignore[attr-defined]
    if model.backend == "xgboost":
        return int(model.booster.num_boosted_rounds())  # type: ignore[attr-defined]
    if model.backend == "catboost":
        return int(model.model.tree_count_)  # type: ignore[attr-defined]
    return len(model.estimator.estimators_)  # type: ignore[attr-defined]


def check_predictions(pred: np.ndarray, n: int, task: TaskType, k: int) -> None:
    assert isinstance(pred, np.ndarray) and pred.dtype == np.float64
    if task.is_classification:
        assert pred.shape == (n, k)
        assert np.all(pred >= 0.0)
        np.testing.assert_allclose(pred.sum(axis=1), 1.0, atol=1e-9)
    else:
        assert pred.shape == (n,)
    assert np.all(np.isfinite(pred))


both = pytest.mark.parametrize("task", TASKS, ids=[t.value for t in TASKS])
every = pytest.mark.parametrize("name", NAMES)


@every
def test_registry_entry(name: str) -> None:
    backend = registry.get(name)
    assert backend.name == name
    assert backend.recipe in {"native", "dense"}
    assert backend.tasks == frozenset(TaskType)
    assert backend.relative_cost > 0
    assert backend.available(Device.CPU).ok
    status = backend.available(Device.CUDA)  # must answer, never raise
    if name not in {"xgboost", "mlp"}:
        assert not status.ok and status.reason


def test_unknown_backend_is_config_error() -> None:
    with pytest.raises(ConfigError):
        registry.get("nope")


def test_available_lists_all_on_cpu() -> None:
    assert [b.name for b in registry.available(TaskType.BINARY, Device.CPU)] == NAMES


@every
@both
def test_predict_shape_and_quality(name: str, task: TaskType) -> None:
    s = split_for(task)
    _, _, X_te, y_te = s.data(registry.get(name))
    model = fitted(name, task)
    assert model.backend == name
    pred = model.predict(X_te)
    check_predictions(pred, len(X_te), task, s.k)
    if task is TaskType.BINARY:
        assert roc_auc_score(y_te, pred[:, 1]) > 0.9
    elif task is TaskType.MULTICLASS:
        assert accuracy_score(y_te, pred.argmax(axis=1)) > 0.8
    else:
        assert r2_score(y_te, pred) > 0.2
    assert model.size_bytes() > 0


@every
@both
def test_save_load_roundtrip(name: str, task: TaskType, tmp_path: Path) -> None:
    backend = registry.get(name)
    _, _, X_te, _ = split_for(task).data(backend)
    model = fitted(name, task)
    meta = model.save(tmp_path)
    meta = json.loads(json.dumps(meta))  # metadata must survive a JSON round trip
    assert (tmp_path / meta["file"]).is_file()
    assert not list(tmp_path.glob("*.pkl")) and not list(tmp_path.glob("*.pickle"))
    loaded = backend.load(tmp_path, meta)
    assert loaded.backend == name
    np.testing.assert_allclose(loaded.predict(X_te), model.predict(X_te), atol=1e-6, rtol=0)
    assert loaded.info.n_iterations == model.info.n_iterations


@every
@both
def test_portfolio_inside_search_space(name: str, task: TaskType) -> None:
    backend = registry.get(name)
    for n_rows in (30, 400, 1_000_000):
        ctx = FitContext(task, n_rows, 12, n_classes=3 if task is TaskType.MULTICLASS else 0)
        space = backend.search_space(ctx)
        portfolio = backend.portfolio(ctx)
        assert portfolio, "a portfolio needs at least one configuration"
        defaults = backend.defaults(ctx)
        assert (defaults is not None) == (name in FLOORS), "LightGBM and XGBoost declare their library defaults (the floor)"
        for config in portfolio + ([defaults] if defaults else []):
            assert set(config) == set(space)
            for key, value in config.items():
                assert contains(space[key], value), (n_rows, key, value)


@every
@both
def test_every_portfolio_config_fits(name: str, task: TaskType) -> None:
    backend = registry.get(name)
    s = split_for(task)
    X, y, X_te, _ = s.data(backend)
    ctx = s.ctx(X)
    for config in backend.portfolio(ctx):
        model = backend.fit(X, y, config, ctx, later(), n_iterations=5)
        check_predictions(model.predict(X_te), len(X_te), task, s.k)


@pytest.mark.parametrize("name", [n for n in NAMES if registry.get(n).recipe == "native"])
def test_native_backends_split_on_categories(name: str, tmp_path: Path) -> None:
    # the label depends only on a non-ordinal category set, so the model must use the column as categorical
    backend = registry.get(name)
    rng = np.random.default_rng(0)
    levels = ["a", "b", "c", "d", "e", "f"]

    def frame(n: int) -> tuple[pd.DataFrame, np.ndarray]:
        codes = rng.integers(0, len(levels), size=n)
        X = pd.DataFrame(
            {
                "noise": rng.normal(size=n).astype(np.float32),
                "colour": pd.Categorical.from_codes(codes, categories=levels),
            }
        )
        return X, np.isin(codes, [1, 3, 5]).astype(np.int64)

    X, y = frame(400)
    X_new, y_new = frame(200)
    ctx = FitContext(TaskType.BINARY, len(X), 2, n_classes=2, n_jobs=N_JOBS)
    model = backend.fit(X, y, {}, ctx, later(), n_iterations=20)
    assert accuracy_score(y_new, model.predict(X_new).argmax(axis=1)) > 0.95
    loaded = backend.load(tmp_path, model.save(tmp_path))
    np.testing.assert_allclose(loaded.predict(X_new), model.predict(X_new), atol=1e-6, rtol=0)


@every
def test_unknown_parameter_is_config_error(name: str) -> None:
    backend = registry.get(name)
    s = split_for(TaskType.BINARY)
    X, y, _, _ = s.data(backend)
    with pytest.raises(ConfigError):
        backend.fit(X, y, {"not_a_param": 1}, s.ctx(X), later())


@every
@both
def test_same_seed_same_predictions(name: str, task: TaskType) -> None:
    backend = registry.get(name)
    s = split_for(task)
    X, y, X_te, _ = s.data(backend)
    ctx = s.ctx(X, seed=7)
    config = backend.portfolio(ctx)[-1]  # the later entries subsample rows/columns where the family can
    preds = [backend.fit(X, y, config, ctx, later(), n_iterations=30).predict(X_te) for _ in range(2)]
    np.testing.assert_array_equal(preds[0], preds[1])


@every
@both
def test_large_batch_predictions_match_small_ones(name: str, task: TaskType) -> None:
    # forests predict big batches in parallel row blocks; results must not depend on batching
    s = split_for(task)
    _, _, X_te, _ = s.data(registry.get(name))
    model = fitted(name, task)
    big = pd.concat([X_te] * (5000 // len(X_te) + 1), ignore_index=True)
    if name in {"linear", "knn"}:  # a BLAS product may block differently by batch size: last-bit tolerance
        np.testing.assert_allclose(model.predict(big)[: len(X_te)], model.predict(X_te), rtol=1e-12, atol=0)
    else:
        np.testing.assert_array_equal(model.predict(big)[: len(X_te)], model.predict(X_te))


@every
@both
def test_default_rounds_without_eval_set(name: str, task: TaskType) -> None:
    backend = registry.get(name)
    s = split_for(task)
    X, y, X_te, _ = s.data(backend)
    model = backend.fit(X, y, {}, s.ctx(X), later())
    assert not model.info.truncated
    if name in BOOSTERS:  # 100 rounds at learning rate 0.1 (the libraries' default), more at a smaller rate
        assert model.info.n_iterations == default_rounds(backend.portfolio(s.ctx(X))[0]["learning_rate"])
    check_predictions(model.predict(X_te), len(X_te), task, s.k)


@pytest.mark.parametrize("name", sorted(BOOSTERS))
@both
def test_eval_set_early_stopping(name: str, task: TaskType) -> None:
    backend = registry.get(name)
    s = split_for(task)
    X, y, X_te, y_te = s.data(backend)
    model = backend.fit(X, y, {}, s.ctx(X), later(), eval_set=(X_te, y_te))
    n = model.info.n_iterations
    assert isinstance(n, int) and 1 <= n < 5000
    assert not model.info.truncated
    assert rounds_in(model) == n  # the model keeps exactly the best rounds
    # it trained exactly `patience` rounds past the best one, then stopped
    assert model.info.extra["rounds_trained"] == n + early_stopping_patience(len(X))
    check_predictions(model.predict(X_te), len(X_te), task, s.k)


@pytest.mark.parametrize("name", sorted(ITERATIVE))
@both
def test_fixed_iterations(name: str, task: TaskType, tmp_path: Path) -> None:
    backend = registry.get(name)
    s = split_for(task)
    X, y, X_te, y_te = s.data(backend)
    # n_iterations wins over an eval set: a refit uses exactly the rounds it is given
    model = backend.fit(X, y, {}, s.ctx(X), later(), eval_set=(X_te, y_te), n_iterations=7)
    assert model.info.n_iterations == 7 and not model.info.truncated
    assert rounds_in(model) == 7
    loaded = backend.load(tmp_path, model.save(tmp_path))
    assert rounds_in(loaded) == 7


@every
@both
def test_expired_deadline_returns_quickly(name: str, task: TaskType) -> None:
    backend = registry.get(name)
    s = split_for(task)
    X, y, X_te, y_te = s.data(backend)
    start = time.monotonic()
    model = backend.fit(X, y, {}, s.ctx(X), Deadline(at=0.0), eval_set=(X_te, y_te))
    assert time.monotonic() - start < 5.0
    if name in ITERATIVE:
        assert model.info.truncated
        assert model.info.n_iterations is not None and model.info.n_iterations >= 1
    check_predictions(model.predict(X_te), len(X_te), task, s.k)


class TickingClock:
    """A clock that advances one second every time it is read."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        self.now += 1.0
        return self.now


@pytest.mark.parametrize("name", sorted(ITERATIVE))
def test_deadline_cuts_training_midway(name: str) -> None:
    backend = registry.get(name)
    s = split_for(TaskType.BINARY)
    X, y, X_te, _ = s.data(backend)
    clock = TickingClock()
    deadline = Deadline.after(4.0, clock=clock)
    model = backend.fit(X, y, {}, s.ctx(X), deadline, n_iterations=100)
    assert model.info.truncated
    assert 1 <= model.info.n_iterations < 100
    assert clock.now <= deadline.at  # it stopped before the deadline, not after
    check_predictions(model.predict(X_te), len(X_te), TaskType.BINARY, 2)


@every
def test_fold_missing_a_class_still_gives_k_columns(name: str) -> None:
    backend = registry.get(name)
    s = split_for(TaskType.MULTICLASS)
    X, y, X_te, _ = s.data(backend)
    keep = y != 2
    ctx = FitContext(TaskType.MULTICLASS, int(keep.sum()), X.shape[1], n_classes=3, n_jobs=N_JOBS)
    model = backend.fit(X[keep].reset_index(drop=True), y[keep], {}, ctx, later(), n_iterations=5)
    check_predictions(model.predict(X_te), len(X_te), TaskType.MULTICLASS, 3)


def test_skops_loader_refuses_untrusted_types(tmp_path: Path) -> None:
    X = np.random.default_rng(0).normal(size=(20, 3))
    y = (X[:, 0] > 0).astype(int)
    function_file = tmp_path / "function.skops"
    dump_estimator(FunctionTransformer(np.log1p).fit(X), function_file)
    pipeline_file = tmp_path / "pipeline.skops"
    dump_estimator(make_pipeline(StandardScaler(), FunctionTransformer(np.log1p)).fit(X, y), pipeline_file)
    # skops itself trusts both of these by default; our allowlist must not
    assert sio.get_untrusted_types(file=function_file) == []
    for path in (function_file, pipeline_file):
        with pytest.raises(PackageError):
            load_estimator(path)
    # and the same through a backend's load, with otherwise valid metadata
    (tmp_path / "pkg").mkdir()
    function_file.rename(tmp_path / "pkg" / "model.skops")
    with pytest.raises(PackageError):
        registry.get("linear").load(tmp_path / "pkg", {"file": "model.skops", "task": "binary", "n_classes": 2})


def test_skops_loader_refuses_corrupt_or_mismatched_files(tmp_path: Path) -> None:
    garbage = tmp_path / "model.skops"
    garbage.write_bytes(b"not a zip file")
    with pytest.raises(PackageError):
        load_estimator(garbage)
    with pytest.raises(PackageError):
        load_estimator(tmp_path / "missing.skops")
    # an allowed estimator of another family is still refused by the wrong backend
    forest_dir = tmp_path / "forest"
    meta = fitted("extra_trees", TaskType.BINARY).save(forest_dir)
    with pytest.raises(PackageError):
        registry.get("linear").load(forest_dir, meta)


@every
def test_load_refuses_bad_metadata(name: str, tmp_path: Path) -> None:
    backend = registry.get(name)
    meta = fitted(name, TaskType.BINARY).save(tmp_path)
    with pytest.raises(PackageError):
        backend.load(tmp_path, {**meta, "file": "../escape"})
    with pytest.raises(PackageError):
        backend.load(tmp_path, {**meta, "task": "not-a-task"})
    with pytest.raises(PackageError):
        backend.load(tmp_path / "empty", meta)


def _trained_on(model: Model) -> str:
    """The device the library object really trained on (not what was asked for)."""
    if model.backend == "xgboost":
        return trained_device(model.booster)  # type: ignore[attr-defined]
    if model.backend == "mlp":
        return model.net.out.weight.device.type  # type: ignore[attr-defined]
    return "cuda"  # LightGBM raises rather than falling back, so a finished CUDA fit ran on CUDA


@pytest.mark.gpu
@pytest.mark.parametrize("name", ["xgboost", "mlp", "lightgbm"])
def test_cuda_fit_when_available_and_the_saved_model_predicts_on_cpu(name: str, tmp_path: Path) -> None:
    backend = registry.get(name)
    if not backend.available(Device.CUDA).ok:
        pytest.skip(backend.available(Device.CUDA).reason)
    s = split_for(TaskType.BINARY)
    X, y, X_te, y_te = s.data(backend)
    ctx = FitContext(TaskType.BINARY, len(X), X.shape[1], n_classes=2, device=Device.CUDA, n_jobs=N_JOBS)
    model = backend.fit(X, y, {}, ctx, later(), eval_set=(X_te, y_te))
    assert _trained_on(model).startswith("cuda")
    pred = model.predict(X_te)
    assert roc_auc_score(y_te, pred[:, 1]) > 0.9
    meta = model.save(tmp_path)
    np.testing.assert_allclose(backend.load(tmp_path, meta).predict(X_te), pred, atol=1e-5)
    # the package of a GPU-trained model loads onto CPU and predicts the same up to float rounding
    loaded = backend.load(tmp_path, model.save(tmp_path))
    np.testing.assert_allclose(loaded.predict(X_te), pred, atol=1e-4, rtol=0)
