"""Greedy ensemble selection over out-of-fold predictions, and the ensemble as a packaged model."""

from __future__ import annotations

import numpy as np
import pytest

import automl
from backends.contracts import TaskType
from backends.numeric import blend
from search.ensemble import build_ensemble, greedy_weights
from search.leaderboard import ENSEMBLE_BACKEND, TrialRecord
from search.metrics import get_metric
from search.splits import make_splits
from search.task import Task
from tests.conftest import load_slice


def _task(metric: str, kind: TaskType = TaskType.REGRESSION, criteria=()) -> Task:
    return Task(type=kind, metrics=(get_metric(metric, kind),), criteria=tuple(criteria), n_classes=0 if kind is TaskType.REGRESSION else 2)


def _record(number: int, oof: np.ndarray, score: float, **measures) -> TrialRecord:
    rec = TrialRecord(number=number, backend="lightgbm", device="cpu", recipe="native", params={}, score_mean=score, score_std=0.0)
    rec.fit_s, rec.predict_ms_p95, rec.predict_ms_per_1k, rec.model_mb = (measures.get(k, 1.0) for k in ("fit_s", "p95", "per_1k", "mb"))
    rec.oof = oof
    return rec


def test_complementary_models_blend_better_than_either():
    rng = np.random.default_rng(0)
    y = rng.normal(size=2000)
    noise = rng.normal(size=(2, 2000))
    a, b = y + noise[0], y + noise[1]  # independent errors: the average halves the variance
    bad = y + 5 * rng.normal(size=2000)
    metric = get_metric("rmse", TaskType.REGRESSION)
    w = greedy_weights([a, b, bad], y, metric)
    assert w.sum() == pytest.approx(1.0) and w[2] == 0.0
    assert w[0] == pytest.approx(0.5, abs=0.1) and w[1] == pytest.approx(0.5, abs=0.1)
    blended = metric.score(y, blend([a, b, bad], w))
    assert blended < 0.8 * min(metric.score(y, a), metric.score(y, b))


def test_single_dominant_model_gives_no_ensemble():
    rng = np.random.default_rng(1)
    y = rng.normal(size=500)
    good, worse = y + 0.01 * rng.normal(size=500), y + rng.normal(size=500)
    splits = make_splits(y, TaskType.REGRESSION, seed=0, n_folds=5)
    pool = [_record(0, good, 0.01), _record(1, worse, 1.0)]
    assert build_ensemble(pool, y, splits, _task("rmse"), number=2) is None
    assert build_ensemble(pool[:1], y, splits, _task("rmse"), number=2) is None


def test_ensemble_record_scores_on_folds_and_adds_up_costs():
    rng = np.random.default_rng(2)
    y = rng.normal(size=1000)
    splits = make_splits(y, TaskType.REGRESSION, seed=0, n_folds=4)
    oofs = [y + rng.normal(size=1000) for _ in range(3)]
    pool = [_record(i, o, float(np.sqrt(np.mean((o - y) ** 2))), fit_s=2.0, p95=3.0, mb=0.5) for i, o in enumerate(oofs)]
    from search.criteria import parse_criteria

    task = _task("rmse", criteria=parse_criteria(["predict_ms_p95 <= 7"], TaskType.REGRESSION))
    ens = build_ensemble(pool, y, splits, task, number=10)
    assert ens is not None and ens.record.backend == ENSEMBLE_BACKEND and ens.record.number == 10
    k = len(ens.weights)
    assert k >= 2 and sum(ens.weights.values()) == pytest.approx(1.0)
    rec = ens.record
    assert len(rec.fold_scores) == 4 and rec.score_mean < min(r.score_mean for r in pool)
    assert rec.fit_s == pytest.approx(2.0 * k) and rec.predict_ms_p95 == pytest.approx(3.0 * k) and rec.model_mb == pytest.approx(0.5 * k)
    assert rec.verdicts == {"predict_ms_p95 <= 7": 3.0 * k <= 7}
    assert set(rec.params["members"]) == {pool[n].model_id for n in ens.weights}


def test_holdout_rows_without_predictions_are_ignored():
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, size=600)
    splits = make_splits(y, TaskType.BINARY, seed=0, n_folds=1)
    valid = splits[0][1]
    oofs = []
    for _ in range(3):
        p = np.full((600, 2), np.nan)
        s = y[valid] * 0.3 + rng.uniform(0, 0.7, size=len(valid))  # overlapping classes, independent noise
        p[valid] = np.column_stack([1 - s, s])
        oofs.append(p)
    pool = [_record(i, o, 0.9) for i, o in enumerate(oofs)]
    ens = build_ensemble(pool, y, splits, _task("roc_auc", TaskType.BINARY), number=3)
    assert ens is not None and np.isfinite(ens.record.score_mean) and len(ens.record.fold_scores) == 1


def test_fitted_ensemble_packages_and_loads_identically(tmp_path):
    data = load_slice("german_credit", 750)
    result = automl.fit(data, "credit", n_trials=6, time_budget=120, backends=["linear", "lightgbm"], seed=0)
    board = result.leaderboard
    assert (board["backend"] == ENSEMBLE_BACKEND).sum() == 1
    assert result.report["budget"]["n_trials"] == 6 and result.report["budget"]["ensemble"]
    # deterministic on this slice and seed: the ensemble wins, so the round trip covers several members
    assert result.best.backend == ENSEMBLE_BACKEND and result.report["best"]["model_id"].endswith("-ensemble")
    assert len(result.best.members) >= 2 and sum(m.weight for m in result.best.members) == pytest.approx(1.0)
    assert result.report["refit"]["on_all_rows"] and len(result.report["refit"]["members"]) == len(result.best.members)
    loaded = automl.load(result.save(tmp_path / "pkg"))
    assert loaded.backend == ENSEMBLE_BACKEND and [m.model_id for m in loaded.members] == [m.model_id for m in result.best.members]
    np.testing.assert_allclose(loaded.predict_proba(data).to_numpy(), result.predict_proba(data).to_numpy(), atol=1e-12)


def test_pool_adds_the_best_of_every_other_family():
    from search.ensemble import selection_pool

    ranked = [TrialRecord(number=i, backend=b, device="cpu", recipe="native", params={}) for i, b in
              enumerate(["xgboost"] * 4 + ["linear", "lightgbm", "linear", "extra_trees"])]
    pool = selection_pool(ranked, size=3)
    assert [r.number for r in pool] == [0, 1, 2, 4, 5, 7]
