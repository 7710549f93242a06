"""The package is what the leaderboard and report say it is: scores judged on what the packaged model was
measured on, never a model the deadline cut short while a complete one exists, a validation plan sized by
the budget, and small budgets that still return a model."""

from __future__ import annotations

import json
import re
import warnings
from dataclasses import replace
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import pytest
from optuna.distributions import CategoricalDistribution
from sklearn.metrics import roc_auc_score

import automl
import automl.api as api
from automl.finalize import Finalizer, cut_short
from backends.contracts import Backend, Deadline, FitContext, FitInfo, Model, TaskType
from backends.errors import IncompleteModelWarning, SearchError
from features.profile import profile
from search.budget import Budget
from search.controller import Controller
from search.criteria import parse_criteria
from search.finalize import RefitPlan
from search.metrics import get_metric
from search.splits import make_splits
from search.task import SearchData, Task
from tests.conftest import DATASETS, FakeClock, dataset_path, load_slice


@pytest.fixture
def no_bagging(monkeypatch):
    """The refit and fold-model paths, which k-fold data otherwise skips by packaging bags."""
    monkeypatch.setattr(RefitPlan, "bags", lambda self: False)


# -- the no-time-to-refit path, through fit, on an injected clock ------------------------------------
def test_no_time_to_refit_packages_the_fold_model_and_claims_its_own_fold(monkeypatch, tmp_path, no_bagging):
    clock = FakeClock()
    budgets: list[Budget] = []

    def fake_budget(seconds: float) -> Budget:
        budgets.append(Budget(seconds, clock))
        return budgets[-1]

    def out_of_time(record: Any, board: Any) -> None:
        # after the second trial the clock jumps to where only packaging is left: no refit, no ensemble
        if len(board) == 2:
            b = budgets[0]
            clock.now = b.start + b.seconds - b.packaging_reserve()

    monkeypatch.setattr(api, "Budget", fake_budget)
    data = load_slice("titanic", 668)
    result = automl.fit(data, "Survived", time_budget=100, backends=["lightgbm"], seed=0,
                        success="roc_auc >= 0.5", callbacks=[out_of_time])
    report, board = result.report, result.leaderboard
    assert (~board["backend"].isin(["ensemble", "stack"])).sum() == 2 and not report["budget"]["ensemble"] and not report["budget"]["stack"]
    package = report["package"]
    assert package["basis"] == "fold" and "its own validation fold" in package["judged_on"] and package["complete"]
    assert report["refit"]["on_all_rows"] is False and "not enough time" in report["refit"]["reason"]
    best = next(r for r in result.board.records() if r.model_id == package["model_id"])
    claimed = package["metrics"]["roc_auc"]
    # the fold-0 score, not the mean over every fold, which describes other models
    assert claimed == best.fold_metrics["roc_auc"][0] and claimed != pytest.approx(best.score_mean, abs=1e-9)
    assert package["passed_all"] == (claimed >= 0.5) and report["success"]["best_passed"] == package["passed_all"]
    assert board.loc[board["packaged"], "model_id"].tolist() == [package["model_id"]]

    path = result.export(tmp_path / "run")
    manifest = json.loads((path / "manifest.json").read_text())
    assert manifest["metrics"]["roc_auc"] == claimed and manifest["passed_all"] == package["passed_all"]
    assert manifest["judged_on"] == package["judged_on"] and manifest["refit"]["on_all_rows"] is False
    # what is claimed is what the packaged model scores on the rows it is judged by
    y = data["Survived"].to_numpy()
    _, valid = make_splits(y, TaskType.BINARY, 0, n_repeats=report["validation"]["n_repeats"])[0]
    proba = automl.load(path).predict_proba(data.iloc[valid])[1].to_numpy()
    assert roc_auc_score(y[valid], proba) == pytest.approx(claimed, abs=1e-12)


# -- a fake family whose models are cut short, to see what gets packaged ------------------------------
class _FeatureModel(Model):
    backend = "fake"

    def __init__(self, column: str, sign: float, info: FitInfo) -> None:
        self.column, self.sign, self.info = column, sign, info

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        p = 1 / (1 + np.exp(-self.sign * (X[self.column].to_numpy(dtype=float) - X[self.column].astype(float).mean()) / 10))
        return np.column_stack([1 - p, p])

    def save(self, directory: Path) -> dict[str, Any]:
        return {}

    def size_bytes(self) -> int:
        return 1000


class _CutBackend(Backend):
    """'cut' ranks by loan duration (the better score) but the deadline always stops it after one round;
    'good' ranks by age (weaker) and completes, as does 'amount' (by credit amount). Each fit moves the fake
    clock by `step` seconds."""

    name = "fake"
    recipe = "native"
    tasks: ClassVar[frozenset[TaskType]] = frozenset(TaskType)
    modes: ClassVar[list[str]] = ["cut", "good"]
    clock: FakeClock
    step = 0.0
    first_steps: ClassVar[list[float]] = []  # the first fits' costs, before `step` applies

    def search_space(self, ctx: FitContext) -> dict:
        return {"mode": CategoricalDistribution(self.modes)}

    def _portfolio(self, ctx: FitContext) -> list[dict[str, Any]]:
        return [{"mode": m} for m in self.modes]

    def _fit(self, X, y, params, ctx, deadline: Deadline, plan) -> Model:
        self.clock.advance(self.first_steps.pop(0) if self.first_steps else self.step)
        if params["mode"] == "cut":
            return _FeatureModel("month", 1.0, FitInfo(n_iterations=1, truncated=True))
        if params["mode"] == "amount":
            return _FeatureModel("credit_amount", 1.0, FitInfo(n_iterations=50, truncated=False))
        return _FeatureModel("age", -1.0, FitInfo(n_iterations=50, truncated=False))

    def load(self, directory: Path, meta: Any) -> Model:
        raise NotImplementedError


def _search(modes: list[str], n_repeats: int = 1, step: float = 0.0, seconds: float = 1000, no_time_after: bool = False,
            first_steps: tuple[float, ...] = (), success: str = "roc_auc >= 0.5"):
    """A search over `modes`; with `no_time_after` the clock jumps to the budget's end after the last trial."""
    data = load_slice("german_credit", 300)
    prof = profile(data, "credit")
    y = pd.Categorical(data["credit"], categories=list(prof.classes)).codes.astype(np.int64)
    splits = make_splits(y, prof.task, 0, n_repeats=n_repeats)
    search_data = SearchData.table(data[prof.feature_columns], y, prof, splits)
    search_data = SearchData(search_data.views, y, splits, n_repeats=n_repeats)
    task = Task(prof.task, (get_metric("roc_auc", prof.task),), tuple(parse_criteria(success, prof.task)), 2)
    clock = FakeClock()
    backend = _CutBackend()
    backend.modes, backend.clock, backend.step, backend.first_steps = modes, clock, step, list(first_steps)
    budget = Budget(seconds, clock)

    def out_of_time(record: Any, board: Any) -> None:
        if no_time_after and len(board) == len(modes):
            clock.now = budget.start + budget.seconds

    controller = Controller(task, search_data, [backend], budget, n_trials=len(modes), callbacks=[out_of_time])
    return controller, controller.run(), budget, clock


def _trials(outcome: Any) -> list[Any]:
    return sorted((r for r in outcome.leaderboard.records() if not r.is_ensemble), key=lambda r: r.params["mode"])


def test_a_cut_short_fold_model_is_never_packaged_while_a_complete_one_exists(no_bagging):
    controller, outcome, budget, clock = _search(["cut", "good"], no_time_after=True)  # no time to refit: fold models only
    cut, good = _trials(outcome)
    assert not outcome.ensembles and cut.score_mean > good.score_mean and outcome.leaderboard.best() is cut
    packaged = Finalizer(outcome, controller.refit_plan, controller.task, budget).run()
    assert packaged.model_id == good.model_id and packaged.basis == "fold" and packaged.complete
    assert any(cut.model_id in n and "stopped by the deadline after 1 rounds" in n for n in packaged.notes)
    assert packaged.metrics["roc_auc"] == good.fold_metrics["roc_auc"][0]


def test_a_refit_of_a_configuration_cut_short_on_every_fold_is_not_packaged_either(no_bagging):
    controller, outcome, budget, _ = _search(["cut", "good"])
    packaged = Finalizer(outcome, controller.refit_plan, controller.task, budget).run()  # plenty of time: refits
    _, good = _trials(outcome)
    assert packaged.model_id == good.model_id and packaged.basis == "cv" and packaged.refit["on_all_rows"]
    assert packaged.metrics == good.metrics and packaged.verdicts == good.verdicts
    assert any("every fold of its configuration" in n for n in packaged.notes)


def test_when_only_a_cut_short_model_exists_it_is_packaged_flagged_and_warned(no_bagging):
    controller, outcome, budget, clock = _search(["cut"], no_time_after=True)
    packaged = Finalizer(outcome, controller.refit_plan, controller.task, budget).run()
    assert packaged.model_id == outcome.leaderboard.best().model_id and not packaged.complete
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        api._warn(packaged, {"best_passed": True}, [])
    assert [w.category for w in caught] == [IncompleteModelWarning] and "incomplete" in str(caught[0].message)


# -- bags: the k fold models of k-fold validation, packaged without a refit -----------------------------
def test_k_fold_without_time_to_refit_packages_the_bag_and_claims_its_out_of_fold_scores(monkeypatch, tmp_path):
    clock = FakeClock()
    budgets: list[Budget] = []

    def fake_budget(seconds: float) -> Budget:
        budgets.append(Budget(seconds, clock))
        return budgets[-1]

    def out_of_time(record: Any, board: Any) -> None:  # after the one trial only packaging is left
        clock.now = budgets[0].start + budgets[0].seconds - budgets[0].packaging_reserve()

    monkeypatch.setattr(api, "Budget", fake_budget)
    data = load_slice("titanic", 668)
    result = automl.fit(data, "Survived", time_budget=100, backends=["lightgbm"], n_trials=1, seed=0, callbacks=[out_of_time])
    report, package = result.report, result.report["package"]
    repeats = report["validation"]["n_repeats"]
    assert report["validation"]["n_folds"] == 5 and report["validation"]["used_folds"] == 5 * repeats
    assert package["basis"] == "bag" and "5 fold models" in package["judged_on"] and package["complete"]
    assert report["refit"]["bagged"] == 5 and report["refit"]["on_all_rows"] is False and "not enough time" in report["refit"]["reason"]
    best = next(r for r in result.board.records() if r.model_id == package["model_id"])
    # small data is ranked on repeated k-fold; the bag holds the first repeat's models and claims their folds
    assert package["metrics"]["roc_auc"] == pytest.approx(np.mean(best.fold_metrics["roc_auc"][:5]), abs=1e-12)
    pipeline = automl.load(result.export(tmp_path / "run"))
    assert len(pipeline.members) == 5 and {m.model_id for m in pipeline.members} == {best.model_id}
    assert pipeline.backend == "lightgbm" and all(m.weight == pytest.approx(0.2) for m in pipeline.members)
    np.testing.assert_allclose(pipeline.predict_proba(data).to_numpy(), result.predict_proba(data).to_numpy(), atol=1e-12)
    # member j is fold j's model: on fold j's validation rows it scores exactly what the leaderboard says
    y = data["Survived"].to_numpy()
    for j, (_, valid) in enumerate(make_splits(y, TaskType.BINARY, 0, n_repeats=repeats)[:5]):
        one = replace(pipeline, members=[replace(pipeline.members[j], weight=1.0)])
        proba = one.predict_proba(data.iloc[valid])[1].to_numpy()
        assert roc_auc_score(y[valid], proba) == pytest.approx(best.fold_metrics["roc_auc"][j], abs=1e-12)


def test_an_ensemble_of_bags_packages_every_fold_model_of_every_member():
    controller, outcome, budget, _ = _search(["good", "amount"])
    ensemble = next(e for e in outcome.ensembles if e.stacker is None)
    assert len(ensemble.weights) == 2
    ensemble = replace(ensemble, refit=False)  # what the search says when the members' refits do not fit
    outcome.ensembles = [ensemble]
    finalizer = Finalizer(outcome, controller.refit_plan, controller.task, budget)
    packaged, problem = finalizer._ensemble(ensemble.record)
    assert problem is None and packaged.basis == "bag" and len(packaged.members) == 10
    for number, weight in ensemble.weights.items():
        model_id = next(r.model_id for r in outcome.leaderboard.records() if r.number == number)
        mine = [m for m in packaged.members if m.model_id == model_id]
        assert len(mine) == 5 and sum(m.weight for m in mine) == pytest.approx(weight)
    assert packaged.metrics["roc_auc"] == pytest.approx(ensemble.record.metrics["roc_auc"], abs=1e-12)
    assert packaged.refit["bagged"] == 5 and all(m["bagged"] == 5 for m in packaged.refit["members"])


def test_a_member_cut_short_is_dropped_and_the_others_still_package_their_bags():
    from search.ensemble import Ensemble, ensemble_record

    controller, outcome, budget, _ = _search(["good", "amount", "cut"])
    by_mode = {r.params["mode"]: r for r in outcome.leaderboard.records() if not r.is_ensemble}
    chosen = [(by_mode["good"], 0.4), (by_mode["amount"], 0.3), (by_mode["cut"], 0.3)]
    record = ensemble_record(chosen, controller.data.y, controller.data.splits, controller.task, 99)
    outcome.ensembles = [Ensemble({r.number: w for r, w in chosen}, record, refit=False)]
    packaged, problem = Finalizer(outcome, controller.refit_plan, controller.task, budget)._ensemble(record)
    # before, the one member without a bag turned every member into its fold-0 model
    assert problem is None and packaged.basis == "bag" and len(packaged.members) == 10
    assert {m.model_id for m in packaged.members} == {by_mode["good"].model_id, by_mode["amount"].model_id}
    dropped = [m for m in packaged.refit["members"] if "dropped" in m]
    assert [m["model_id"] for m in dropped] == [by_mode["cut"].model_id] and "stopped by the deadline" in dropped[0]["dropped"]


def test_fold_models_cut_short_are_not_bagged_and_a_bag_that_fails_a_size_criterion_is_not_packaged():
    # no time to refit; 'cut' ranks first, but its fold models were cut short: no bag of it
    controller, outcome, budget, _ = _search(["cut", "good"], no_time_after=True)
    cut, good = _trials(outcome)
    finalizer = Finalizer(outcome, controller.refit_plan, controller.task, budget)
    assert not finalizer._complete_bag(cut) and finalizer._complete_bag(good)
    packaged = finalizer.run()
    assert packaged.model_id == good.model_id and packaged.basis == "bag" and len(packaged.members) == 5
    # one fake model weighs 0.001 MB: five of them break "model_mb <= 0.003", its fold-0 model keeps it
    controller, outcome, budget, _ = _search(["good"], no_time_after=True, success="model_mb <= 0.003")
    packaged = Finalizer(outcome, controller.refit_plan, controller.task, budget).run()
    assert packaged.basis == "fold" and len(packaged.members) == 1 and packaged.passed
    assert any("not bagged" in n and "fail a criterion" in n for n in packaged.notes)


def test_with_time_to_refit_the_winner_is_refitted_not_bagged():
    controller, outcome, budget, _ = _search(["good"])
    packaged = Finalizer(outcome, controller.refit_plan, controller.task, budget).run()
    assert packaged.basis == "cv" and len(packaged.members) == 1 and packaged.refit["on_all_rows"]


def test_cut_short_means_far_below_the_configuration():
    assert cut_short(FitInfo(n_iterations=1, truncated=True), None)
    assert not cut_short(FitInfo(n_iterations=225, truncated=True), None)  # a forest stopped at 225 trees is fine
    assert cut_short(FitInfo(n_iterations=40, truncated=True), 300.0) and not cut_short(FitInfo(n_iterations=200, truncated=True), 300.0)
    assert not cut_short(FitInfo(n_iterations=1, truncated=False), 300.0)


def test_the_validation_plan_shrinks_to_what_the_first_fold_cost_affords():
    # 3 x 5-fold planned; each fit costs 4 s of a 100 s budget: 15 folds x 3 trials cannot fit, 5 folds can
    controller, outcome, _, _ = _search(["good", "cut"], n_repeats=3, step=4.0, seconds=100)
    assert controller.n_folds() == 5 and controller.data.n_repeats == 1 and "5 of 15 planned folds" in controller.plan_note
    first = next(r for r in outcome.leaderboard.records() if r.number == 0)
    assert first.status == "ok" and len(first.fold_scores) == 5
    assert all(len(r.fold_scores) <= 5 for r in outcome.leaderboard.records())
    assert controller.data.plan() == {"kind": "kfold", "n_folds": 5, "n_repeats": 1, "used_folds": 5}


def test_one_slow_cold_first_fold_does_not_cut_the_plan():
    # the first fit costs 40 s of 100 (a cold start), the next ones 0.1 s: the cheaper of two samples sizes the plan
    controller, outcome, _, _ = _search(["good"], n_repeats=3, step=0.1, seconds=100, first_steps=(40.0,))
    assert controller.n_folds() == 15 and controller.plan_note == ""
    assert len(outcome.leaderboard.records()[0].fold_scores) == 15


def test_a_plan_cut_below_the_folds_already_scored_rescores_the_first_trial_on_the_kept_ones():
    # two 20 s folds of 100 s: only a holdout affords 3 trials, and the first trial had scored 2 folds by then
    controller, outcome, _, _ = _search(["good", "cut"], step=20.0, seconds=100)
    assert controller.n_folds() == 1 and controller.data.plan()["kind"] == "holdout"
    first = next(r for r in outcome.leaderboard.records() if r.number == 0)
    assert len(first.fold_scores) == 1 and first.score_mean == first.fold_scores[0] and len(first.fold_truncated) == 1


# -- small budgets still return a working package -------------------------------------------------------
def _fit_small(kind: str, budget: float):
    if kind == "titanic":
        train = pd.read_csv(dataset_path("titanic"))
        return automl.fit(train, "Survived", time_budget=budget), train.drop(columns="Survived")
    root = DATASETS / kind
    if kind == "gunpoint":
        series = pd.read_csv(root / "gunpoint.train.series.csv.gz")
        labels = pd.read_csv(root / "gunpoint.train.labels.csv.gz")
        return automl.fit(series=series, labels=labels, time_budget=budget), pd.read_csv(root / "gunpoint.test.series.csv.gz")
    from features.relational import read_schema

    tables, spec = read_schema(root / "mutagenesis.schema.json", "train")
    test, _ = read_schema(root / "mutagenesis.schema.json", "test")
    return automl.fit(tables=tables, **spec.fit_arguments(), time_budget=budget), test


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["titanic", "mutagenesis", "gunpoint"])
def test_a_five_second_budget_returns_a_working_package(kind, tmp_path):
    if not (DATASETS / kind).is_dir():
        pytest.skip(f"shared dataset {kind} not found")
    result, test = _fit_small(kind, 5)
    assert result.report["budget"]["wall_s"] <= 5 * 1.05 + 5
    assert result.report["package"]["metrics"] and result.leaderboard["packaged"].sum() == 1
    loaded = automl.load(result.export(tmp_path / "run"))
    proba = loaded.predict_proba(test)
    assert len(proba) > 0 and np.allclose(proba.sum(axis=1), 1)
    np.testing.assert_allclose(proba.to_numpy(), result.predict_proba(test).to_numpy(), atol=1e-9)


@pytest.mark.slow
def test_a_budget_too_small_for_any_fit_names_one_that_is_enough():
    train = load_slice("titanic", 668)
    with pytest.raises(SearchError, match=r"rerun with time_budget >= \d+") as info:
        automl.fit(train, "Survived", time_budget=0.3)
    message = str(info.value)
    assert "\n" not in message and "time_budget=0.3s" in message
    enough = int(re.search(r"time_budget >= (\d+)", message).group(1))
    assert enough > 0.3
    assert automl.fit(train, "Survived", time_budget=enough).report["package"]["metrics"]
