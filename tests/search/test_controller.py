"""The controller records every failing candidate and goes on; the portfolio runs first."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from optuna.distributions import CategoricalDistribution

from backends.contracts import Backend, Deadline, FitContext, FitInfo, Model, TaskType
from features.profile import profile
from search.budget import Budget
from search.controller import Controller
from search.criteria import parse_criteria
from search.metrics import get_metric
from search.portfolio import portfolio_order, with_views
from search.splits import make_splits
from search.task import SearchData, Task
from tests.conftest import FakeClock, load_slice

MODES = ["ok", "raise", "nan", "oom", "slow"]


class _ConstModel(Model):
    backend = "fake"

    def __init__(self, value: float) -> None:
        self.value, self.info = value, FitInfo()

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return np.tile([1 - self.value, self.value], (len(X), 1))

    def save(self, directory: Path) -> dict[str, Any]:
        return {}

    def size_bytes(self) -> int:
        return 2_000_000


class FakeBackend(Backend):
    """Each `mode` fails in one way; the clock is the test's fake clock."""

    name = "fake"
    recipe = "dense"
    tasks: ClassVar[frozenset[TaskType]] = frozenset(TaskType)
    clock: FakeClock

    def search_space(self, ctx: FitContext) -> dict:
        return {"mode": CategoricalDistribution(MODES)}

    def _portfolio(self, ctx: FitContext) -> list[dict[str, Any]]:
        return [{"mode": m} for m in MODES]

    def _fit(self, X, y, params, ctx, deadline: Deadline, plan) -> Model:
        mode = params["mode"]
        if mode == "raise":
            raise RuntimeError("boom")
        if mode == "oom":
            raise MemoryError("no room")
        if mode == "slow":
            self.clock.advance(5_000)  # overruns the whole trial's deadline, not only its fold's share
        return _ConstModel(np.nan if mode == "nan" else 0.5)

    def load(self, directory: Path, meta: Any) -> Model:
        return _ConstModel(0.5)


def test_failures_become_statuses_and_the_search_goes_on():
    data = load_slice("german_credit", 200)
    prof = profile(data, "credit")
    y = pd.Categorical(data["credit"], categories=list(prof.classes)).codes.astype(np.int64)
    search_data = SearchData.table(data[prof.feature_columns], y, prof, make_splits(y, prof.task, 0))
    task = Task(prof.task, (get_metric("roc_auc", prof.task),), tuple(parse_criteria("model_mb <= 1", prof.task)), 2)
    clock = FakeClock()
    backend = FakeBackend()
    backend.clock = clock
    controller = Controller(task, search_data, [backend], Budget(1000, clock), n_trials=5)
    board = controller.run().leaderboard
    by_mode = {r.params["mode"]: r for r in board.records()}
    assert set(by_mode) == set(MODES)
    assert by_mode["ok"].status == "ok" and by_mode["ok"].score_mean == 0.5
    assert by_mode["ok"].verdicts == {"model_mb <= 1": False} and not by_mode["ok"].passed
    assert by_mode["raise"].status == "failed" and "RuntimeError: boom" in by_mode["raise"].error
    assert by_mode["nan"].status == "failed" and "NaN" in by_mode["nan"].error
    assert by_mode["oom"].status == "oom" and "no room" in by_mode["oom"].error
    # the deadline stopped it after its first fold: a partial score, ranked after the complete one it ties
    slow = by_mode["slow"]
    assert slow.status == "partial" and slow.partial and slow.ok and "deadline reached after 1 of 5 folds" in slow.error
    assert len(slow.fold_scores) == 1 and slow.score_mean == 0.5
    assert board.best().params["mode"] == "ok" and [r.params["mode"] for r in board.records()][:2] == ["ok", "slow"]
    assert all(r.source == "portfolio" for r in board.records())


class _Named(FakeBackend):
    def __init__(self, name: str, cost: float, n: int) -> None:
        self.name, self.relative_cost, self.n = name, cost, n  # type: ignore[misc]

    def _portfolio(self, ctx: FitContext) -> list[dict[str, Any]]:
        return [{"i": i} for i in range(self.n)]


def test_portfolio_is_round_robin_cheapest_first():
    ctx = FitContext(TaskType.BINARY, 100, 3)
    order = portfolio_order([_Named("slow", 3.0, 2), _Named("cheap", 0.2, 3), _Named("mid", 1.0, 1)], ctx)
    assert [(n, p["i"]) for n, p in order] == [("cheap", 0), ("mid", 0), ("slow", 0), ("cheap", 1), ("slow", 1), ("cheap", 2)]


def test_resuming_a_study_of_another_search_is_refused(tmp_path):
    import pytest

    from backends import registry
    from backends.errors import ConfigError

    data = load_slice("german_credit", 150)
    prof = profile(data, "credit")
    y = pd.Categorical(data["credit"], categories=list(prof.classes)).codes.astype(np.int64)
    search_data = SearchData.table(data[prof.feature_columns], y, prof, make_splits(y, prof.task, 0))
    url = f"sqlite:///{tmp_path / 's.db'}"

    def controller(metric: str, backends: list[str]) -> Controller:
        task = Task(prof.task, (get_metric(metric, prof.task),), (), 2)
        families = [registry.get(b) for b in backends]
        return Controller(task, search_data, families, Budget(60), n_trials=1, storage=url, study_name="s")

    controller("roc_auc", ["linear"]).run()
    controller("roc_auc", ["linear"]).run()  # the same search resumes fine
    with pytest.raises(ConfigError, match="metric, backends differ"):
        controller("log_loss", ["linear", "lightgbm"])


def test_warm_start_covers_every_view_then_alternates():
    entries = [("a", {"i": 0}), ("b", {"i": 1}), ("a", {"i": 2})]
    out = with_views(entries, ["v1", "v2"])
    assert [(n, p["i"], v) for n, p, v in out] == [("a", 0, "v1"), ("a", 0, "v2"), ("b", 1, "v1"), ("a", 2, "v2")]
    assert with_views([], ["v1"]) == []


def test_views_are_trial_choices_and_selection_sees_training_rows_only():
    from search.evaluate import FoldCache
    from search.task import View

    data = load_slice("german_credit", 200)
    prof = profile(data, "credit")
    y = pd.Categorical(data["credit"], categories=list(prof.classes)).codes.astype(np.int64)
    splits = make_splits(y, prof.task, 0)
    seen: list[np.ndarray] = []

    def select(X: pd.DataFrame, labels: np.ndarray) -> list[str]:
        seen.append(X.index.to_numpy())
        return ["month", "credit_amount"]

    X = data[prof.feature_columns]
    views = {"all": View(X, prof), "picked": View(X, prof, select)}
    cache = FoldCache(SearchData(views, y, splits))
    pre, X_train, X_valid = cache.get("picked", "native", 1)
    assert pre.input_columns == ["month", "credit_amount"] and list(X_train.columns) == ["month", "credit_amount"]
    np.testing.assert_array_equal(np.sort(seen[0]), np.sort(splits[1][0]))  # the training rows of fold 1, never its validation rows
    cache.get("picked", "dense", 1)
    assert len(seen) == 1  # one selection per fold, shared by the recipes
    assert len(cache.get("all", "native", 1)[0].input_columns) == len(prof.feature_columns)

    task = Task(prof.task, (get_metric("roc_auc", prof.task),), (), 2)
    from backends import registry

    board = Controller(task, SearchData(views, y, splits), [registry.get("linear")], Budget(120), n_trials=4).run().leaderboard
    trials = [r for r in board.records() if not r.is_ensemble]
    assert {r.features for r in trials} == {"all", "picked"}
    assert "features" in board.to_frame().columns
