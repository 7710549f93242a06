"""The preference for the candidate on fewer columns when its score is within noise of the best."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from backends import registry
from backends.contracts import ENSEMBLE_BACKEND, TaskType
from features.profile import profile
from search.budget import Budget
from search.controller import Controller
from search.leaderboard import Leaderboard, TrialRecord
from search.metrics import get_metric
from search.selection import noise_margin, prefer_simpler, within_noise
from search.splits import make_splits
from search.task import SearchData, Task, View
from tests.conftest import load_slice

RMSE = get_metric("rmse", TaskType.REGRESSION)
VIEWS = {"table": 8, "dfs-d2": 120}


def _record(number: int, features: str, fold_scores: list[float], status: str = "ok", passed: bool = True) -> TrialRecord:
    return TrialRecord(
        number=number, backend="lightgbm", device="cpu", recipe="native", params={}, features=features, status=status,
        score_mean=float(np.mean(fold_scores)), fold_scores=list(fold_scores), verdicts={"c": passed},
    )


def _ranked(*records: TrialRecord) -> list[TrialRecord]:
    return sorted(records, key=lambda r: r.score_mean)


def test_the_margin_is_the_corrected_standard_error_of_the_paired_differences():
    d = [0.1, -0.2, 0.3, 0.0, 0.05, 0.1, -0.1, 0.2, 0.0, 0.15]
    expected = math.sqrt((1 / 10 + 1 / 4) * np.var(d, ddof=1))  # 5-fold: n_test / n_train = 1/4
    assert noise_margin(d, 5) == pytest.approx(expected)
    # the naive standard error would be sqrt(1/10) of the spread: the overlap of training sets makes it larger
    assert noise_margin(d, 5) > np.std(d, ddof=1) / math.sqrt(10)
    assert noise_margin([0.1], 5) == math.inf and noise_margin(d, 1) == math.inf
    assert noise_margin([0.1, math.nan], 5) == math.inf


def test_a_narrower_candidate_within_noise_is_selected():
    best = _record(0, "dfs-d2", [1.00, 1.10, 0.90, 1.05, 0.95])
    close = _record(1, "table", [1.05, 1.00, 1.00, 1.02, 1.00])  # 0.014 worse on average, folds disagree
    ranked = prefer_simpler(_ranked(best, close), RMSE, VIEWS, 5)
    assert [r.number for r in ranked] == [1, 0]
    assert within_noise(best, close, RMSE, 5)


def test_a_narrower_candidate_worse_on_every_fold_is_not_selected():
    best = _record(0, "dfs-d2", [1.00, 1.10, 0.90, 1.05, 0.95])
    worse = _record(1, "table", [1.10, 1.21, 0.99, 1.16, 1.04])  # 10 % worse on each fold: beyond noise
    assert [r.number for r in prefer_simpler(_ranked(best, worse), RMSE, VIEWS, 5)] == [0, 1]


def test_only_complete_candidates_passing_like_the_best_and_narrower_compete():
    best = _record(0, "dfs-d2", [1.00, 1.10, 0.90, 1.05, 0.95])
    partial = _record(1, "table", [1.0, 1.1], status="partial")
    failing = _record(2, "table", [1.05, 1.00, 1.00, 1.02, 1.00], passed=False)
    as_wide = _record(3, "dfs-d2", [1.05, 1.00, 1.00, 1.02, 1.00])
    ranked = _ranked(best, partial, failing, as_wide)
    assert prefer_simpler(ranked, RMSE, VIEWS, 5) == ranked
    # one feature set (a plain table): ranking by score alone
    alone = _record(4, "table", [1.05, 1.00, 1.00, 1.02, 1.00])
    assert prefer_simpler(_ranked(best, alone), RMSE, {"table": 8, "dfs-d2": 8}, 5)[0] is best


def test_a_blend_counts_its_widest_feature_set_and_the_narrowest_close_one_wins():
    best = _record(0, "dfs-d2+table", [1.00, 1.10, 0.90, 1.05, 0.95])
    mid = _record(1, "dfs-d1", [1.01, 1.09, 0.91, 1.04, 0.97])
    narrow = _record(2, "table", [1.05, 1.00, 1.00, 1.02, 1.00])
    ranked = prefer_simpler(_ranked(best, mid, narrow), RMSE, {"table": 8, "dfs-d1": 40, "dfs-d2": 120}, 5)
    assert ranked[0] is narrow and sorted(r.number for r in ranked) == [0, 1, 2]


def test_the_leaderboard_ranks_with_the_preference_and_reports_it_first():
    board = Leaderboard(RMSE, [], VIEWS, 5)
    board.add(_record(0, "dfs-d2", [1.00, 1.10, 0.90, 1.05, 0.95]))
    board.add(_record(1, "table", [1.05, 1.00, 1.00, 1.02, 1.00]))
    assert board.best().number == 1
    assert board.to_frame()["model_id"].iloc[0] == "t0001-lightgbm"
    plain = Leaderboard(RMSE)  # no feature sets given: ranking by score alone
    for r in board.records():
        plain.add(r)
    assert plain.best().number == 0


def test_a_search_over_a_narrow_and_a_noise_widened_set_blends_the_narrow_one_and_prefers_it_within_noise():
    data = load_slice("german_credit", 200)
    prof = profile(data, "credit")
    y = pd.Categorical(data["credit"], categories=list(prof.classes)).codes.astype(np.int64)
    X = data[prof.feature_columns]
    noise = pd.DataFrame(np.random.default_rng(0).normal(size=(len(X), 60)), columns=[f"noise{i}" for i in range(60)])
    wide = pd.concat([X.reset_index(drop=True), noise], axis=1)
    wide_prof = profile(pd.concat([wide, data["credit"].reset_index(drop=True)], axis=1), "credit")
    task = Task(type=TaskType.BINARY, metrics=(get_metric("roc_auc", TaskType.BINARY),), criteria=(), n_classes=2, seed=0)
    search = SearchData({"table": View(X.reset_index(drop=True), prof), "wide": View(wide, wide_prof)}, y, make_splits(y, task.type, 0))
    backends = [registry.get("linear"), registry.get("lightgbm")]
    outcome = Controller(task, search, backends, Budget(60), n_trials=5).run()
    board = outcome.leaderboard
    blends = [r for r in board.records() if r.backend == ENSEMBLE_BACKEND]
    assert any(r.features == "table" for r in blends)  # the blend on the narrow set alone competes
    best = board.best()
    if best.features != "table":  # a wider winner: no narrower candidate may be within noise of it
        plain = sorted((r for r in board.records() if r.ok and not r.partial), key=board._key)[0]
        assert plain is best
        assert not any(within_noise(best, r, board.metric, 5) for r in board.records() if r.ok and r.features == "table")
