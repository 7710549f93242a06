"""Conformance: every registered backend through the shipped suite (backends.testing), plus what is
specific to families: boosting rounds, early stopping, deadlines, categories, skops safety, CUDA."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import skops.io as sio
from sklearn.metrics import accuracy_score, roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

from backends import registry
from backends._common import default_rounds, early_stopping_patience
from backends._skops import dump_estimator, load_estimator
from backends.contracts import Backend, Deadline, Device, FitContext, Model, TaskType
from backends.errors import ConfigError, PackageError
from backends.testing import CHECKS, N_JOBS, check_predictions, later, split_for
from backends.testing import fitted as fitted_model
from backends.xgboost import trained_device

NAMES = registry.names()
TASKS = list(TaskType)
ITERATIVE = {"lightgbm", "xgboost", "catboost", "extra_trees", "random_forest", "mlp"}  # grow in rounds/chunks (mlp: epochs)
BOOSTERS = {"lightgbm", "xgboost", "catboost"}  # early-stop on an eval set
FLOORS = {"lightgbm", "xgboost"}  # declare their library defaults (the floor)
both = pytest.mark.parametrize("task", TASKS, ids=[t.value for t in TASKS])
every = pytest.mark.parametrize("name", NAMES)


def fitted(name: str, task: TaskType) -> Model:
    return fitted_model(registry.get(name), task)


@every
@pytest.mark.parametrize("check", CHECKS, ids=[c.__name__ for c in CHECKS])
def test_the_shipped_conformance_suite(name: str, check: Callable[[Backend], None]) -> None:
    check(registry.get(name))


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


@every
def test_registry_entry(name: str) -> None:
    backend = registry.get(name)
    assert backend.name == name and backend.tasks == frozenset(TaskType)
    if name not in {"xgboost", "mlp", "catboost"}:  # their CPU wheels carry CUDA kernels; the rest cannot say yes here
        assert not backend.available(Device.CUDA).ok


def test_unknown_backend_is_config_error() -> None:
    with pytest.raises(ConfigError):
        registry.get("nope")


def test_available_lists_all_on_cpu() -> None:
    assert [b.name for b in registry.available(TaskType.BINARY, Device.CPU)] == NAMES


@every
def test_lightgbm_and_xgboost_declare_their_library_defaults_as_the_floor(name: str) -> None:
    ctx = FitContext(TaskType.BINARY, 400, 12)
    assert (registry.get(name).defaults(ctx) is not None) == (name in FLOORS)


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


@pytest.mark.parametrize("name", sorted(ITERATIVE))
@both
def test_tree_and_net_predictions_do_not_depend_on_the_batch_bit_for_bit(name: str, task: TaskType) -> None:
    # forests predict big batches in parallel row blocks; results must not depend on batching
    _, _, X_te, _ = split_for(task).data(registry.get(name))
    model = fitted(name, task)
    big = pd.concat([X_te] * (5000 // len(X_te) + 1), ignore_index=True)
    np.testing.assert_array_equal(model.predict(big)[: len(X_te)], model.predict(X_te))


@pytest.mark.parametrize("name", sorted(BOOSTERS))
@both
def test_default_rounds_without_eval_set(name: str, task: TaskType) -> None:
    backend = registry.get(name)
    s = split_for(task)
    X, y, _, _ = s.data(backend)
    model = backend.fit(X, y, {}, s.ctx(X), later())
    # 100 rounds at learning rate 0.1 (the libraries' default), more at a smaller rate
    assert model.info.n_iterations == default_rounds(backend.portfolio(s.ctx(X))[0]["learning_rate"])


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


@pytest.mark.parametrize("name", sorted(ITERATIVE))
@both
def test_an_expired_deadline_says_it_truncated_the_rounds(name: str, task: TaskType) -> None:
    backend = registry.get(name)
    s = split_for(task)
    X, y, X_te, y_te = s.data(backend)
    model = backend.fit(X, y, {}, s.ctx(X), Deadline(at=0.0), eval_set=(X_te, y_te))
    assert model.info.truncated and model.info.n_iterations is not None and model.info.n_iterations >= 1


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
