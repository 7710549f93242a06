"""The backend conformance suite, shipped with the package so that a new family is checked in one line.

Every check takes a `Backend` instance and runs it on each task it supports, on small data sets
bundled with scikit-learn (breast cancer, wine, diabetes), in the backend's own feature recipe.
A check fails with AssertionError, and never needs pytest. In a test module:

    from backends.testing import CHECKS

    @pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__)
    def test_my_family_conforms(check):
        check(registry.get("my_family"))

Family-specific behaviour (early-stopping rounds, library internals, CUDA) stays in the tests.
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from backends.contracts import Backend, Deadline, Device, FitContext, Model, TaskType
from backends.errors import ConfigError, PackageError

N_JOBS = 2
RECIPES = ("native", "dense")


class Split:
    """A 70/30 split of one bundled scikit-learn data set in both feature recipes."""

    def __init__(self, task: TaskType) -> None:
        from sklearn.datasets import load_breast_cancer, load_diabetes, load_wine
        from sklearn.model_selection import train_test_split
        from sklearn.preprocessing import StandardScaler

        loader = {TaskType.BINARY: load_breast_cancer, TaskType.MULTICLASS: load_wine, TaskType.REGRESSION: load_diabetes}[task]
        frame, target = loader(return_X_y=True, as_frame=True)
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
        return self.dense_tr, self.y_tr, self.dense_te, self.y_te

    def ctx(self, X: pd.DataFrame, seed: int = 0) -> FitContext:
        return FitContext(self.task, len(X), X.shape[1], n_classes=self.k, seed=seed, n_jobs=N_JOBS)


_SPLITS: dict[TaskType, Split] = {}
_FITTED: dict[tuple[str, TaskType], Model] = {}


def split_for(task: TaskType) -> Split:
    """The (cached) split for `task`."""
    if task not in _SPLITS:
        _SPLITS[task] = Split(task)
    return _SPLITS[task]


def later() -> Deadline:
    """A deadline no check should reach."""
    return Deadline.after(120.0)


def fitted(backend: Backend, task: TaskType) -> Model:
    """The default-config model of `backend` on `task`, fitted once per process, as the search fits it:
    early stopping on an inner validation split of the training rows (ignored where a family does not early-stop)."""
    key = (backend.name, task)
    if key not in _FITTED:
        s = split_for(task)
        X, y, _, _ = s.data(backend)
        n_fit = int(len(X) * 0.8)
        X_fit, y_fit = X.iloc[:n_fit].reset_index(drop=True), y[:n_fit]
        eval_set = (X.iloc[n_fit:].reset_index(drop=True), y[n_fit:])
        _FITTED[key] = backend.fit(X_fit, y_fit, {}, s.ctx(X_fit), later(), eval_set=eval_set)
    return _FITTED[key]


def check_predictions(pred: np.ndarray, n: int, task: TaskType, k: int) -> None:
    """The `Model.predict` contract: float64, (n, k) probabilities summing to 1, or (n,) finite values."""
    assert isinstance(pred, np.ndarray) and pred.dtype == np.float64, f"predict must return float64, got {getattr(pred, 'dtype', type(pred))}"
    if task.is_classification:
        assert pred.shape == (n, k), f"expected shape {(n, k)}, got {pred.shape}"
        assert np.all(pred >= 0.0)
        np.testing.assert_allclose(pred.sum(axis=1), 1.0, atol=1e-9)
    else:
        assert pred.shape == (n,), f"expected shape {(n,)}, got {pred.shape}"
    assert np.all(np.isfinite(pred))


def _raises(kind: type[Exception], fn: Callable[[], Any], what: str) -> None:
    try:
        fn()
    except kind:
        return
    raise AssertionError(f"{what} did not raise {kind.__name__}")


def _contains(dist: Any, value: Any) -> bool:
    return bool(dist._contains(dist.to_internal_repr(value)))


def check_declarations(backend: Backend) -> None:
    """Name, recipe, tasks and cost are declared; CPU works; a CUDA probe answers (with a reason when it says no)."""
    assert isinstance(backend.name, str) and backend.name
    assert backend.recipe in RECIPES, f"recipe must be one of {RECIPES}"
    assert backend.tasks and backend.tasks <= frozenset(TaskType)
    assert backend.relative_cost > 0
    assert backend.available(Device.CPU).ok
    status = backend.available(Device.CUDA)  # must answer, never raise
    assert status.ok or status.reason


def check_portfolio_and_defaults_inside_the_space(backend: Backend) -> None:
    """Every portfolio entry and the library defaults are points of the search space, on tiny and huge data."""
    for task in backend.tasks:
        for n_rows in (30, 400, 1_000_000):
            ctx = FitContext(task, n_rows, 12, n_classes=3 if task is TaskType.MULTICLASS else 0)
            space = backend.search_space(ctx)
            portfolio = backend.portfolio(ctx)
            assert portfolio, "a portfolio needs at least one configuration"
            defaults = backend.defaults(ctx)
            for config in portfolio + ([defaults] if defaults else []):
                assert set(config) == set(space), (sorted(config), sorted(space))
                for key, value in config.items():
                    assert _contains(space[key], value), (n_rows, key, value)


def check_predict_shape_and_quality(backend: Backend) -> None:
    """The default model predicts in the contract's shape and learns: ROC AUC > 0.9, accuracy > 0.8, R2 > 0.2."""
    from sklearn.metrics import accuracy_score, r2_score, roc_auc_score

    for task in backend.tasks:
        s = split_for(task)
        _, _, X_te, y_te = s.data(backend)
        model = fitted(backend, task)
        assert model.backend == backend.name
        pred = model.predict(X_te)
        check_predictions(pred, len(X_te), task, s.k)
        if task is TaskType.BINARY:
            assert roc_auc_score(y_te, pred[:, 1]) > 0.9
        elif task is TaskType.MULTICLASS:
            assert accuracy_score(y_te, pred.argmax(axis=1)) > 0.8
        else:
            assert r2_score(y_te, pred) > 0.2
        assert model.size_bytes() > 0


def check_save_load_roundtrip(backend: Backend) -> None:
    """A saved model has JSON metadata, no pickle file, and loads to identical predictions and rounds."""
    for task in backend.tasks:
        _, _, X_te, _ = split_for(task).data(backend)
        model = fitted(backend, task)
        with tempfile.TemporaryDirectory() as tmp:
            directory = Path(tmp)
            meta = json.loads(json.dumps(model.save(directory)))  # metadata must survive a JSON round trip
            assert (directory / meta["file"]).is_file()
            assert not list(directory.glob("*.pkl")) and not list(directory.glob("*.pickle"))
            loaded = backend.load(directory, meta)
            assert loaded.backend == backend.name
            np.testing.assert_allclose(loaded.predict(X_te), model.predict(X_te), atol=1e-6, rtol=0)
            assert loaded.info.n_iterations == model.info.n_iterations


def check_every_portfolio_config_fits(backend: Backend) -> None:
    """Each portfolio entry trains (5 rounds) and predicts on every task."""
    for task in backend.tasks:
        s = split_for(task)
        X, y, X_te, _ = s.data(backend)
        ctx = s.ctx(X)
        for config in backend.portfolio(ctx):
            model = backend.fit(X, y, config, ctx, later(), n_iterations=5)
            check_predictions(model.predict(X_te), len(X_te), task, s.k)


def check_unknown_parameter_is_a_config_error(backend: Backend) -> None:
    """A parameter outside the search space is refused, not silently ignored."""
    task = next(iter(sorted(backend.tasks, key=lambda t: t.value)))
    s = split_for(task)
    X, y, _, _ = s.data(backend)
    _raises(ConfigError, lambda: backend.fit(X, y, {"not_a_param": 1}, s.ctx(X), later()), "an unknown parameter")
    _raises(ConfigError, lambda: backend.fit(X, y, {}, s.ctx(X), later(), n_iterations=0), "n_iterations=0")


def check_same_seed_same_predictions(backend: Backend) -> None:
    """Two fits with one seed predict bit for bit alike (the last portfolio entry subsamples where it can)."""
    for task in backend.tasks:
        s = split_for(task)
        X, y, X_te, _ = s.data(backend)
        ctx = s.ctx(X, seed=7)
        config = backend.portfolio(ctx)[-1]
        preds = [backend.fit(X, y, config, ctx, later(), n_iterations=30).predict(X_te) for _ in range(2)]
        np.testing.assert_array_equal(preds[0], preds[1])


def check_batching_does_not_change_predictions(backend: Backend) -> None:
    """A row predicts the same alone in a small batch as inside a big one (up to a BLAS product's last bit)."""
    for task in backend.tasks:
        _, _, X_te, _ = split_for(task).data(backend)
        model = fitted(backend, task)
        big = pd.concat([X_te] * (5000 // len(X_te) + 1), ignore_index=True)
        np.testing.assert_allclose(model.predict(big)[: len(X_te)], model.predict(X_te), rtol=1e-12, atol=0)


def check_default_rounds_without_an_eval_set(backend: Backend) -> None:
    """Without an eval set or a round count a fit completes its default rounds and predicts."""
    for task in backend.tasks:
        s = split_for(task)
        X, y, X_te, _ = s.data(backend)
        model = backend.fit(X, y, {}, s.ctx(X), later())
        assert not model.info.truncated
        check_predictions(model.predict(X_te), len(X_te), task, s.k)


def check_an_expired_deadline_returns_quickly(backend: Backend) -> None:
    """A deadline already passed still gives a usable model within seconds."""
    for task in backend.tasks:
        s = split_for(task)
        X, y, X_te, y_te = s.data(backend)
        start = time.monotonic()
        model = backend.fit(X, y, {}, s.ctx(X), Deadline(at=0.0), eval_set=(X_te, y_te))
        assert time.monotonic() - start < 5.0
        if model.info.n_iterations is not None:
            assert model.info.n_iterations >= 1
        check_predictions(model.predict(X_te), len(X_te), task, s.k)


def check_a_fold_missing_a_class_still_gives_k_columns(backend: Backend) -> None:
    """A training fold without one class still predicts all k class columns."""
    if TaskType.MULTICLASS not in backend.tasks:
        return
    s = split_for(TaskType.MULTICLASS)
    X, y, X_te, _ = s.data(backend)
    keep = y != 2
    ctx = FitContext(TaskType.MULTICLASS, int(keep.sum()), X.shape[1], n_classes=3, n_jobs=N_JOBS)
    model = backend.fit(X[keep].reset_index(drop=True), y[keep], {}, ctx, later(), n_iterations=5)
    check_predictions(model.predict(X_te), len(X_te), TaskType.MULTICLASS, 3)


def check_load_refuses_bad_metadata(backend: Backend) -> None:
    """A path trick, a bad task or a missing file in the metadata is a PackageError."""
    task = next(iter(sorted(backend.tasks, key=lambda t: t.value)))
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        meta = fitted(backend, task).save(directory)
        _raises(PackageError, lambda: backend.load(directory, {**meta, "file": "../escape"}), "a file outside the package")
        _raises(PackageError, lambda: backend.load(directory, {**meta, "task": "not-a-task"}), "an unknown task")
        _raises(PackageError, lambda: backend.load(directory / "empty", meta), "a missing model file")


CHECKS: tuple[Callable[[Backend], None], ...] = (
    check_declarations,
    check_portfolio_and_defaults_inside_the_space,
    check_predict_shape_and_quality,
    check_save_load_roundtrip,
    check_every_portfolio_config_fits,
    check_unknown_parameter_is_a_config_error,
    check_same_seed_same_predictions,
    check_batching_does_not_change_predictions,
    check_default_rounds_without_an_eval_set,
    check_an_expired_deadline_returns_quickly,
    check_a_fold_missing_a_class_still_gives_k_columns,
    check_load_refuses_bad_metadata,
)
