"""The stacking layer over out-of-fold predictions: what it fits, that its score is cross-fitted, and the stack
as a leaderboard row and as a package that loads and predicts identically."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

import automl
import search.controller as controller_module
from automl.finalize import Finalizer
from backends.contracts import STACK_BACKEND, TaskType
from backends.errors import PackageError
from backends.numeric import blend, softmax
from search.metrics import get_metric
from search.splits import make_splits
from search.stacking import build_stack, cross_fit, fit_stacker
from tests.automl.test_packaging_claims import _search
from tests.conftest import load_slice
from tests.search.test_ensemble import _record, _task


def _log_loss(y: np.ndarray, p: np.ndarray) -> float:
    return float(-np.mean(np.log(np.clip(p[np.arange(len(y)), y], 1e-15, 1))))


def test_the_layer_recalibrates_members_an_average_cannot():
    # two members that rank well but are over- and under-confident: averaging keeps the distortion, the layer removes it
    rng = np.random.default_rng(0)
    n, k = 3000, 4
    y = rng.integers(0, k, n)
    signal = rng.normal(size=(n, k))
    signal[np.arange(n), y] += 1.5
    shy, bold = softmax(0.3 * signal + 0.5 * rng.normal(size=(n, k))), softmax(4.0 * signal + 2.0 * rng.normal(size=(n, k)))
    stacked = cross_fit([shy, bold], y, True, seed=0)
    assert np.allclose(stacked.sum(axis=1), 1.0) and (stacked >= 0).all()
    assert _log_loss(y, stacked) < _log_loss(y, blend([shy, bold], [0.5, 0.5])) - 0.05
    layer = fit_stacker([shy, bold], y, True, ["shy", "bold"])
    assert all(c >= 0 for c in layer.coef) and layer.coef[0] > layer.coef[1]  # the shy member is sharpened most


def test_the_regression_layer_recovers_a_known_mix():
    rng = np.random.default_rng(1)
    a, b, noise = rng.normal(size=(3, 500))
    layer = fit_stacker([a, b, noise], 0.7 * a + 0.3 * b + 2.0, False, ["a", "b", "noise"])
    assert layer.coef == pytest.approx((0.7, 0.3, 0.0), abs=1e-9) and layer.bias == pytest.approx((2.0,), abs=1e-9)
    # coefficients are never negative, even for a member that is the target's negative
    assert fit_stacker([a, -a], a, False, ["a", "minus"]).coef[1] == 0.0


def test_the_stack_is_scored_on_cross_fitted_predictions_not_on_the_rows_it_was_fitted_on():
    # 30 members of pure noise: fitted and scored on the same rows the layer finds a signal; cross-fitted it finds none
    rng = np.random.default_rng(2)
    n = 200
    y = rng.integers(0, 2, n)
    members = []
    for i in range(30):
        p = rng.uniform(0.05, 0.95, n)
        members.append(_record(i, np.column_stack([1 - p, p]), 0.5))
    task = _task("roc_auc", TaskType.BINARY)
    in_sample = fit_stacker([m.oof for m in members], y, True, [m.model_id for m in members]).combine([m.oof for m in members])
    assert task.metric.score(y, in_sample) > 0.62
    stack = build_stack(members, y, make_splits(y, TaskType.BINARY, 0), task, number=30)
    assert stack is not None and stack.record.score_mean < 0.58


def test_the_stack_is_a_leaderboard_row_of_the_members_it_weighs():
    rng = np.random.default_rng(3)
    n = 1000
    y = rng.integers(0, 2, n)
    splits = make_splits(y, TaskType.BINARY, 0)
    members = []
    for i in range(3):
        p = np.clip(0.5 + 0.3 * (y - 0.5) + rng.normal(0, 0.25, n), 0.01, 0.99)  # independent errors
        members.append(_record(i, np.column_stack([1 - p, p]), 0.8, mb=2.0))
    members.append(_record(3, np.full((n, 2), 0.5), 0.5))  # says nothing: no coefficient, not a member
    stack = build_stack(members, y, splits, _task("roc_auc", TaskType.BINARY), number=9)
    assert stack is not None and stack.stacker is not None
    record = stack.record
    assert record.backend == STACK_BACKEND and record.is_ensemble and record.model_id == "t0009-stack"
    assert sorted(stack.weights) == [0, 1, 2] and sum(stack.weights.values()) == pytest.approx(1.0)
    assert record.model_mb == pytest.approx(6.0) and len(record.fold_scores) == len(splits)
    assert record.score_mean > max(get_metric("roc_auc", TaskType.BINARY).score(y, m.oof) for m in members[:3])
    assert build_stack(members[:1], y, splits, _task("roc_auc", TaskType.BINARY), number=9) is None


def test_a_stack_packages_and_loads_identically(tmp_path, monkeypatch):
    monkeypatch.setattr(controller_module, "build_ensemble", lambda *a, **k: None)  # the stack alone competes
    data = load_slice("german_credit", 750)
    result = automl.fit(data, "credit", n_trials=6, time_budget=120, backends=["linear", "lightgbm"], seed=0)
    assert result.report["budget"]["stack"] and not result.report["budget"]["ensemble"]
    # deterministic on this slice and seed: the stack ranks first, so it is what is packaged
    assert result.best.backend == STACK_BACKEND and result.report["best"]["model_id"].endswith("-stack")
    stacker = result.best.stacker
    assert stacker is not None and set(stacker.members) == {m.model_id for m in result.best.members}
    path = result.save(tmp_path / "pkg")
    loaded = automl.load(path)
    assert loaded.backend == STACK_BACKEND and loaded.stacker == stacker
    np.testing.assert_allclose(loaded.predict_proba(data).to_numpy(), result.predict_proba(data).to_numpy(), atol=1e-12)
    # the layer is what combines the members: their plain average predicts otherwise
    averaged = replace(loaded, stacker=None)
    assert not np.allclose(averaged.predict_proba(data).to_numpy(), loaded.predict_proba(data).to_numpy(), atol=1e-6)
    manifest = json.loads((path / "manifest.json").read_text())
    assert manifest["model"]["backend"] == STACK_BACKEND and manifest["model"]["stacker"]["members"] == list(stacker.members)


def test_a_package_whose_layer_names_other_members_does_not_load(tmp_path, monkeypatch):
    import automl.artifact as artifact

    monkeypatch.setattr(controller_module, "build_ensemble", lambda *a, **k: None)
    data = load_slice("german_credit", 400)
    result = automl.fit(data, "credit", n_trials=4, time_budget=60, backends=["linear", "lightgbm"], seed=0)
    assert result.best.backend == STACK_BACKEND
    bad = replace(result.best, stacker=replace(result.best.stacker, members=("t9999-linear", *result.best.stacker.members[1:])))
    path = artifact.save_package(bad, tmp_path / "bad", {})
    with pytest.raises(PackageError, match="stacking layer does not match its members"):
        automl.load(path)


def test_a_stack_of_bags_packages_every_fold_model_and_claims_the_stack_row():
    controller, outcome, budget, _ = _search(["good", "amount"])
    stack = next(e for e in outcome.ensembles if e.stacker is not None)
    stack = replace(stack, refit=False)  # the members' refits do not fit: their bags are packaged
    outcome.ensembles = [stack]
    packaged, problem = Finalizer(outcome, controller.refit_plan, controller.task, budget)._ensemble(stack.record)
    assert problem is None and packaged.basis == "bag" and len(packaged.members) == 10 and packaged.stacker == stack.stacker
    for model_id in stack.stacker.members:  # within a member its bag averages the 5 fold models
        assert [m.weight for m in packaged.members if m.model_id == model_id] == pytest.approx([0.1] * 5)
    assert packaged.metrics["roc_auc"] == pytest.approx(stack.record.metrics["roc_auc"], abs=1e-12)
