"""The PyTorch MLP backend: its own preprocessing, quality on real data, packages, the CUDA probe."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import safetensors.torch
import torch
from sklearn.metrics import accuracy_score, r2_score, roc_auc_score
from sklearn.model_selection import train_test_split

from backends import _common, registry, torch_mlp
from backends.contracts import Availability, Deadline, Device, FitContext, TaskType, forget_cuda_probes
from backends.errors import PackageError
from features.preprocess import Preprocessor
from features.profile import profile
from tests.conftest import ADULT_NUMERIC, load_slice, with_extremes

N_JOBS = 2


@pytest.fixture(scope="module")
def backend() -> Any:
    return registry.get("mlp")


def later() -> Deadline:
    return Deadline.after(120.0)


def ctx_for(X: pd.DataFrame, task: TaskType = TaskType.BINARY, k: int = 2, seed: int = 0, device: Device = Device.CPU) -> FitContext:
    return FitContext(task, len(X), X.shape[1], n_classes=k if task.is_classification else 0, seed=seed, device=device, n_jobs=N_JOBS)


def mixed_frame(n: int, rng: np.random.Generator, levels: list[str]) -> tuple[pd.DataFrame, np.ndarray]:
    """A numeric signal, a noise column and a category whose levels carry their own effect."""
    x = rng.normal(size=n)
    codes = rng.integers(0, len(levels) - 1, size=n)  # the last level never occurs
    effect = np.where(np.isin(codes, [0, 2]), 1.5, -1.5)
    X = pd.DataFrame(
        {
            "x": x.astype(np.float32),
            "noise": rng.normal(size=n).astype(np.float32),
            "colour": pd.Categorical.from_codes(codes, categories=levels),
        }
    )
    return X, (x + effect + 0.3 * rng.normal(size=n) > 0).astype(np.int64)


@pytest.fixture(scope="module")
def adult() -> dict[str, Any]:
    """3,000 adult rows in the native recipe (fit on the training part), and an MLP early-stopped on an inner split."""
    data = load_slice("adult", 3000)
    prof = profile(data, "income")
    y = pd.Categorical(data["income"], categories=list(prof.classes)).codes.astype(np.int64)
    X = data[prof.feature_columns]
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.3, random_state=0, stratify=y)
    pre = Preprocessor("native").fit(X_tr, prof)
    X_tr, X_te = pre.transform(X_tr).reset_index(drop=True), pre.transform(X_te).reset_index(drop=True)
    X_fit, X_val, y_fit, y_val = train_test_split(X_tr, y_tr, test_size=0.2, random_state=0, stratify=y_tr)
    X_fit, X_val = X_fit.reset_index(drop=True), X_val.reset_index(drop=True)
    b = registry.get("mlp")
    ctx = ctx_for(X_fit)
    model = b.fit(X_fit, y_fit, b.portfolio(ctx)[0], ctx, later(), eval_set=(X_val, y_val))
    return {"model": model, "X_te": X_te, "y_te": y_te, "X_fit": X_fit}


def test_unseen_category_and_nan_at_predict_time_are_finite(backend: Any) -> None:
    rng = np.random.default_rng(0)
    levels = ["a", "b", "c", "d", "never"]
    X, y = mixed_frame(600, rng, levels)
    model = backend.fit(X, y, {}, ctx_for(X), later(), n_iterations=10)
    odd = pd.DataFrame(
        {
            "x": np.array([np.nan, 0.5, np.inf, -1e30], dtype=np.float32),
            "noise": np.array([0.0, np.nan, 0.0, 1e30], dtype=np.float32),
            "colour": pd.Categorical([None, "never", "a", None], categories=levels),
        }
    )
    pred = model.predict(odd)
    assert pred.shape == (4, 2) and np.all(np.isfinite(pred))
    # a plain string column with a level the model never heard of maps to the NaN/unseen row
    strings = odd.assign(colour=["zzz", "b", "a", None])
    np.testing.assert_array_equal(model.predict(strings)[[0, 2, 3]], pred[[0, 2, 3]])
    assert np.all(np.isfinite(model.predict(strings)))


def test_category_only_signal_is_learned_by_embeddings(backend: Any) -> None:
    # three classes decided by eight unordered levels: only a per-level embedding can learn this
    rng = np.random.default_rng(1)
    levels = list("abcdefgh")
    classes = np.array([2, 0, 1, 1, 0, 2, 0, 1])

    def frame(n: int) -> tuple[pd.DataFrame, np.ndarray]:
        codes = rng.integers(0, len(levels), size=n)
        X = pd.DataFrame({"noise": rng.normal(size=n).astype(np.float32), "level": pd.Categorical.from_codes(codes, categories=levels)})
        return X, classes[codes]

    X, y = frame(800)
    X_new, y_new = frame(300)
    model = backend.fit(X, y, {}, ctx_for(X, TaskType.MULTICLASS, 3), later(), n_iterations=15)
    assert accuracy_score(y_new, model.predict(X_new).argmax(axis=1)) > 0.95
    emb = model.net.embeddings[0]
    assert (emb.num_embeddings, emb.embedding_dim) == (len(levels) + 1, torch_mlp.embedding_dim(len(levels)))


def test_numerics_with_nan_in_training_get_an_indicator(backend: Any, tmp_path: Path) -> None:
    # the label is "was x missing": after median imputation only the indicator input tells
    rng = np.random.default_rng(2)

    def frame(n: int) -> tuple[pd.DataFrame, np.ndarray]:
        x = rng.normal(size=n)
        gone = rng.random(n) < 0.4
        x[gone] = np.nan
        return pd.DataFrame({"x": x.astype(np.float32), "full": rng.normal(size=n).astype(np.float32)}), gone.astype(np.int64)

    X, y = frame(800)
    X_new, y_new = frame(300)
    model = backend.fit(X, y, {}, ctx_for(X), later(), n_iterations=15)
    assert model.prep.indicator.tolist() == [True, False]
    assert model.prep.n_inputs == 3  # two standardized numerics and one indicator
    assert accuracy_score(y_new, model.predict(X_new).argmax(axis=1)) > 0.97
    # NaN in a column that had none in training is imputed with its median, no indicator needed
    assert np.all(np.isfinite(model.predict(X_new.assign(full=np.nan))))
    meta = model.save(tmp_path)
    assert meta["indicator_columns"] == ["x"]
    np.testing.assert_allclose(backend.load(tmp_path, meta).predict(X_new), model.predict(X_new), atol=1e-6, rtol=0)


def test_quality_on_an_adult_slice(adult: dict[str, Any]) -> None:
    model = adult["model"]
    assert 1 <= model.info.n_iterations < torch_mlp.MAX_EPOCHS and not model.info.truncated
    assert roc_auc_score(adult["y_te"], model.predict(adult["X_te"])[:, 1]) > 0.87


def test_save_load_gives_identical_predictions(backend: Any, adult: dict[str, Any], tmp_path: Path) -> None:
    model, X_te = adult["model"], adult["X_te"]
    meta = json.loads(json.dumps(model.save(tmp_path)))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.safetensors"]
    assert model.size_bytes() == (tmp_path / "model.safetensors").stat().st_size
    assert meta["category_columns"]  # adult's gaps are in its categories; indicators round-trip in the NaN test
    loaded = backend.load(tmp_path, meta)
    np.testing.assert_allclose(loaded.predict(X_te), model.predict(X_te), atol=1e-6, rtol=0)
    assert loaded.epochs == model.epochs and loaded.info.n_iterations == model.info.n_iterations


def test_broken_packages_raise_package_error(backend: Any, adult: dict[str, Any], tmp_path: Path) -> None:
    meta = adult["model"].save(tmp_path)
    cats = meta["category_columns"]
    bad_metas = [
        {k: v for k, v in meta.items() if k != "depth"},
        {**meta, "width": meta["width"] * 2},  # shapes no longer match the weights
        {**meta, "depth": meta["depth"] + 1},
        {**meta, "activation": "nope"},
        {**meta, "numeric_columns": meta["numeric_columns"][:-1]},
        {**meta, "indicator_columns": ["not-a-column"]},
        {**meta, "category_columns": [{**cats[0], "categories": cats[0]["categories"][:-1]}, *cats[1:]]},
        {**meta, "category_columns": "oops"},
        {**meta, "task": "multiclass", "n_classes": 3},  # three outputs expected, the file has one
    ]
    for bad in bad_metas:
        with pytest.raises(PackageError):
            backend.load(tmp_path, bad)
    path = tmp_path / "model.safetensors"
    path.write_bytes(path.read_bytes()[:100])  # truncated file
    with pytest.raises(PackageError):
        backend.load(tmp_path, meta)
    path.write_bytes(b"\x00" * 64)
    with pytest.raises(PackageError):
        backend.load(tmp_path, meta)
    path.unlink()
    with pytest.raises(PackageError):
        backend.load(tmp_path, meta)


def test_early_stopping_keeps_the_best_epoch(backend: Any, tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    X, y = mixed_frame(1500, rng, ["a", "b", "c", "d"])
    X_val, y_val = mixed_frame(500, rng, ["a", "b", "c", "d"])
    model = backend.fit(X, y, {}, ctx_for(X), later(), eval_set=(X_val, y_val))
    n = model.info.n_iterations
    assert 1 <= n < torch_mlp.MAX_EPOCHS and not model.info.truncated
    assert model.info.extra["rounds_trained"] == n + torch_mlp.PATIENCE  # stopped `patience` epochs past the best
    assert model.epochs == n
    assert backend.load(tmp_path, model.save(tmp_path)).epochs == n


def test_regression_target_is_standardized(backend: Any) -> None:
    # a target far from 0 with a huge scale trains like any other once standardized
    rng = np.random.default_rng(4)
    X = pd.DataFrame({"a": rng.normal(size=1200).astype(np.float32), "b": rng.normal(size=1200).astype(np.float32)})
    y = 1e6 + 2e4 * (X["a"] - 0.5 * X["b"]).to_numpy() + 1e3 * rng.normal(size=1200)
    model = backend.fit(X[:900], y[:900], {}, ctx_for(X[:900], TaskType.REGRESSION), later(), n_iterations=20)
    assert r2_score(y[900:], model.predict(X[900:])) > 0.9


def test_a_deadline_cuts_a_long_epoch(backend: Any) -> None:
    # 4,000 rows in batches of 64 make 63 steps an epoch: the deadline is checked after step 32 too
    rng = np.random.default_rng(5)
    X, y = mixed_frame(4000, rng, ["a", "b", "c", "d"])
    now = [0.0]

    def clock() -> float:
        now[0] += 1.0
        return now[0]

    deadline = Deadline.after(3.0, clock=clock)  # the clock reads 2 at the start, 3 after step 32
    model = backend.fit(X, y, {"batch_size": 64}, ctx_for(X), deadline, n_iterations=50)
    assert model.info.truncated and model.info.n_iterations == 1 and model.info.extra["rounds_trained"] == 1
    assert now[0] <= deadline.at
    assert np.all(np.isfinite(model.predict(X)))


def test_other_activations_predict_the_same_in_any_batch(backend: Any) -> None:
    rng = np.random.default_rng(6)
    X, y = mixed_frame(500, rng, ["a", "b", "c", "d"])
    big = pd.concat([X] * 12, ignore_index=True)
    for activation in ("silu", "gelu"):
        model = backend.fit(X, y, {"activation": activation, "width": 48}, ctx_for(X), later(), n_iterations=3)
        np.testing.assert_array_equal(model.predict(big)[:37], model.predict(X[:37]))


def test_search_space_has_the_same_shape_on_every_device(backend: Any) -> None:
    for n_rows in (10, 500, 1_000_000):
        spaces = {d: backend.search_space(FitContext(TaskType.BINARY, n_rows, 5, device=d)) for d in Device}
        cpu, cuda = spaces[Device.CPU], spaces[Device.CUDA]
        assert set(cpu) == set(cuda)
        for key in cpu:
            assert type(cpu[key]) is type(cuda[key]) and getattr(cpu[key], "log", None) == getattr(cuda[key], "log", None)
        assert cpu["batch_size"].high <= n_rows and cuda["batch_size"].high <= n_rows


def test_seeds_change_the_model(backend: Any) -> None:
    rng = np.random.default_rng(7)
    X, y = mixed_frame(400, rng, ["a", "b", "c", "d"])
    preds = [backend.fit(X, y, {}, ctx_for(X, seed=s), later(), n_iterations=3).predict(X) for s in (0, 1)]
    assert not np.array_equal(preds[0], preds[1])


@pytest.fixture
def fresh_probe(monkeypatch: pytest.MonkeyPatch) -> Any:
    forget_cuda_probes()
    monkeypatch.setattr(_common, "cuda_device_count", lambda: 1)  # the driver says yes: torch's own checks answer
    yield
    forget_cuda_probes()


def test_cuda_is_unavailable_here_with_a_reason(backend: Any, fresh_probe: Any) -> None:
    if torch.cuda.is_available():
        pytest.skip("this machine has a CUDA GPU")
    status = backend.available(Device.CUDA)
    assert isinstance(status, Availability) and not status.ok and status.reason


def test_a_failing_probe_still_answers(backend: Any, fresh_probe: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    def boom() -> bool:
        raise RuntimeError("driver exploded")

    monkeypatch.setattr(torch.version, "cuda", "12.4")
    monkeypatch.setattr(torch.cuda, "is_available", boom)
    status = backend.available(Device.CUDA)
    assert not status.ok and "driver exploded" in status.reason
    # torch claims a GPU, but the first kernel fails (here: a CPU-only build)
    forget_cuda_probes()
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    if torch.backends.cuda.is_built():
        pytest.skip("torch has CUDA here: the tiny kernel would really run")
    status = backend.available(Device.CUDA)
    assert not status.ok and status.reason.startswith("mlp CUDA probe failed")
    assert backend.available(Device.CPU).ok


# ---------------------------------------------------------------------------- extreme values



def _mlp_auc(backend: Any, f: pd.DataFrame, n_train: int) -> float:
    prof = profile(f, "income")
    y = pd.Categorical(f["income"], categories=list(prof.classes)).codes.astype(np.int64)
    pre = Preprocessor("native").fit(f.iloc[:n_train], prof)
    X_tr, X_te = pre.transform(f.iloc[:n_train]), pre.transform(f.iloc[n_train:])
    model = backend.fit(X_tr, y[:n_train], {}, ctx_for(X_tr), later(), n_iterations=10)
    return float(roc_auc_score(y[n_train:], model.predict(X_te)[:, 1]))


def test_extreme_values_do_not_collapse_the_mlp(backend: Any) -> None:
    # before clipping to training quantiles: 0.87 with the extremes against 0.91 without (each hit column squeezed to a constant)
    f = load_slice("adult", 4000)
    clean = _mlp_auc(backend, f, 3000)
    extreme = _mlp_auc(backend, with_extremes(f, ADULT_NUMERIC), 3000)
    assert clean > 0.88
    assert extreme > clean - 0.02


def test_clip_bounds_come_from_training_and_survive_packages(backend: Any, tmp_path: Path) -> None:
    rng = np.random.default_rng(8)
    X, y = mixed_frame(1000, rng, ["a", "b", "c", "d"])
    model = backend.fit(X[:600], y[:600], {}, ctx_for(X[:600]), later(), n_iterations=3)
    lo, hi = np.quantile(X["x"][:600].to_numpy(np.float64), [0.01, 0.99])
    assert model.prep.low[0] == pytest.approx(lo, rel=1e-6) and model.prep.high[0] == pytest.approx(hi, rel=1e-6)
    # a value far beyond the training range predicts like the bound itself
    far, at_bound = X[600:610].assign(x=np.float32(1e30)), X[600:610].assign(x=np.float32(model.prep.high[0]))
    np.testing.assert_array_equal(model.predict(far), model.predict(at_bound))
    meta = model.save(tmp_path)
    loaded = backend.load(tmp_path, meta)
    np.testing.assert_array_equal(loaded.prep.low, model.prep.low)
    np.testing.assert_allclose(loaded.predict(far), model.predict(far), atol=1e-6, rtol=0)
    # a package written before clipping existed has no bounds: it loads and predicts without clipping
    path = tmp_path / "model.safetensors"
    tensors = {k: v for k, v in safetensors.torch.load_file(str(path)).items() if k not in ("prep.low", "prep.high")}
    safetensors.torch.save_file(tensors, str(path))
    old = backend.load(tmp_path, meta)
    assert np.isinf(old.prep.low).all() and np.isinf(old.prep.high).all()
    inside = X[600:][((X[600:][["x", "noise"]] >= model.prep.low) & (X[600:][["x", "noise"]] <= model.prep.high)).all(axis=1)]
    np.testing.assert_allclose(old.predict(inside), model.predict(inside), atol=1e-6, rtol=0)
    beyond = X[600:610].assign(x=np.float32(hi + 2.0))
    assert not np.allclose(old.predict(beyond), model.predict(beyond))


def test_float64_extremes_raise_no_warning(backend: Any) -> None:
    # a float64 frame passed directly (not through the native recipe) may hold 1e308: no overflow, finite predictions
    rng = np.random.default_rng(9)
    X, y = mixed_frame(600, rng, ["a", "b", "c", "d"])
    X = X.astype({"x": np.float64, "noise": np.float64})
    X.loc[::40, "x"] = 1.7e308
    X.loc[1::40, "x"] = -1.7e308
    X["all_big"] = np.where(np.arange(len(X)) % 2, 1e308, -1e308)  # more than 1% per tail: clipping cannot help, nothing may overflow
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model = backend.fit(X, y, {}, ctx_for(X), later(), n_iterations=3)
        pred = model.predict(X)
    assert np.isfinite(pred).all()
    assert np.isfinite(model.prep.mean).all() and np.isfinite(model.prep.std).all()
