from __future__ import annotations

import json
import math

import numpy as np

from backends.contracts import TaskType
from search.leaderboard import Leaderboard, TrialRecord
from search.metrics import METRICS
from search.splits import make_splits, n_folds_for


def _rec(n, score, status="ok", verdicts=None):
    return TrialRecord(number=n, backend="lightgbm", device="cpu", recipe="native", params={"a": n},
                       status=status, score_mean=score if status == "ok" else math.nan, verdicts=verdicts or {})


def test_rank_prefers_passing_then_primary_metric():
    board = Leaderboard(METRICS["roc_auc"], ["model_mb <= 1"])
    board.add(_rec(0, 0.95, verdicts={"model_mb <= 1": False}))
    board.add(_rec(1, 0.90, verdicts={"model_mb <= 1": True}))
    board.add(_rec(2, 0.92, verdicts={"model_mb <= 1": True}))
    board.add(_rec(3, math.nan, status="failed"))
    assert [r.number for r in board.records()] == [2, 1, 0, 3]
    assert board.best().number == 2 and board.any_passed()
    frame = board.to_frame()
    assert list(frame["rank"]) == [1, 2, 3, 4]
    assert list(frame["pass[model_mb <= 1]"]) == [True, True, False, False]
    assert list(frame["status"]) == ["ok", "ok", "ok", "failed"]
    assert board.counts()["failed"] == 1


def test_lower_is_better_metric_and_no_passing_candidate():
    board = Leaderboard(METRICS["rmse"], ["r2 >= 0.99"])
    board.add(_rec(0, 3.0, verdicts={"r2 >= 0.99": False}))
    board.add(_rec(1, 2.0, verdicts={"r2 >= 0.99": False}))
    assert board.best().number == 1 and not board.any_passed()


def test_record_round_trips_through_json():
    r = _rec(5, 0.8)
    r.metrics = {"roc_auc": 0.8, "accuracy": math.nan}
    r.oof = np.zeros(3)
    back = TrialRecord.from_dict(json.loads(json.dumps(r.to_dict())))
    assert back.number == 5 and back.score_mean == 0.8 and math.isnan(back.metrics["accuracy"])
    assert back.oof is None and math.isnan(back.fit_s)


def test_all_failed_board_raises_search_error():
    import pytest

    from backends.errors import SearchError

    board = Leaderboard(METRICS["roc_auc"])
    board.add(_rec(0, math.nan, status="timeout"))
    with pytest.raises(SearchError, match="No candidate"):
        board.best()


def test_splits_are_stratified_deterministic_and_sized_by_rows():
    y = np.array([0] * 90 + [1] * 10)
    a, b = make_splits(y, TaskType.BINARY, seed=3), make_splits(y, TaskType.BINARY, seed=3)
    assert len(a) == 5
    assert all((ta == tb).all() and (va == vb).all() for (ta, va), (tb, vb) in zip(a, b))
    for train, valid in a:
        assert y[valid].sum() == 2 and len(set(train) & set(valid)) == 0
    assert sorted(np.concatenate([v for _, v in a]).tolist()) == list(range(100))
    # a class with 3 rows caps the folds at 3
    assert len(make_splits(np.array([0] * 50 + [1] * 3), TaskType.BINARY, 0)) == 3
    assert (n_folds_for(5_000), n_folds_for(30_000), n_folds_for(60_000)) == (5, 3, 1)
    holdout = make_splits(np.arange(60_000, dtype=float), TaskType.REGRESSION, 0)
    assert len(holdout) == 1 and len(holdout[0][1]) == 12_000
