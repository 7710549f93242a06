"""What a worker process receives pickles: metrics, tasks, data profiles, search data with a fold-wise selector, fitted estimators."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest

import automl
from backends.contracts import TaskType
from features.profile import profile
from features.synthesis import RelevanceSelector
from search.criteria import criteria_metrics, parse_criteria
from search.metrics import METRICS, get_metric
from search.splits import make_splits
from search.task import SearchData, Task, View
from tests.conftest import DATASETS, load_slice


def _round_trip(obj):
    return pickle.loads(pickle.dumps(obj))


def _raw_for(task: TaskType, rng: np.random.Generator, n: int = 60) -> tuple[np.ndarray, np.ndarray]:
    if task is TaskType.REGRESSION:
        y = rng.normal(size=n)
        return y, y + rng.normal(scale=0.5, size=n)
    k = 2 if task is TaskType.BINARY else 3
    y = np.arange(n) % k
    proba = rng.dirichlet(np.ones(k), size=n)
    return y, proba


@pytest.mark.parametrize("name", sorted(METRICS))
def test_every_builtin_metric_pickles_and_scores_the_same(name):
    metric = METRICS[name]
    loaded = _round_trip(metric)
    assert loaded.name == metric.name and loaded.greater_is_better == metric.greater_is_better and loaded.tasks == metric.tasks
    rng = np.random.default_rng(0)
    for task in metric.tasks:
        y, raw = _raw_for(task, rng)
        assert loaded.score(y, raw) == metric.score(y, raw)


def test_a_task_with_criteria_and_a_profile_pickle():
    data = load_slice("german_credit", 200)
    prof = profile(data, "credit")
    primary = get_metric("roc_auc", prof.task)
    criteria = tuple(parse_criteria(["roc_auc >= 0.7", "accuracy >= 0.6", "predict_ms_p95 <= 5"], prof.task))
    task = Task(prof.task, tuple(criteria_metrics(criteria, primary, prof.task)), criteria, prof.n_classes, seed=3)
    loaded = _round_trip(task)
    assert loaded == task  # frozen dataclasses: metrics compare by their (module-level) functions
    assert [m.name for m in loaded.metrics] == ["roc_auc", "accuracy"]
    assert _round_trip(prof) == prof


def test_search_data_with_a_relevance_selector_pickles():
    if not (DATASETS / "gunpoint").is_dir():
        pytest.skip("shared dataset gunpoint not found")
    series = pd.read_csv(DATASETS / "gunpoint" / "gunpoint.train.series.csv.gz")
    labels = pd.read_csv(DATASETS / "gunpoint" / "gunpoint.train.labels.csv.gz")
    X = series.pivot(index="id", columns="time", values="value").loc[labels["id"]].reset_index(drop=True)
    X.columns = [f"t{c}" for c in X.columns]  # the raw-values view: one column per time step
    prof = profile(X.assign(label=labels["label"].to_numpy()), "label")
    y = pd.Categorical(labels["label"], categories=list(prof.classes or ())).codes.astype(np.int64)
    data = SearchData({"ts-raw-relevant": View(X[prof.feature_columns], prof, RelevanceSelector(True))}, y, make_splits(y, prof.task, seed=0))
    loaded = _round_trip(data)
    view, original = loaded.views["ts-raw-relevant"], data.views["ts-raw-relevant"]
    assert view.select == RelevanceSelector(True) and view.profile == prof
    pd.testing.assert_frame_equal(view.X, original.X)
    train = loaded.splits[0][0]
    assert view.select(view.X.iloc[train], loaded.y[train]) == original.select(original.X.iloc[train], data.y[train])


@pytest.fixture(scope="module")
def fitted_estimators():
    credit = load_slice("german_credit", 300)
    clf = automl.AutoClassifier(metric="balanced_accuracy", time_budget=3, n_trials=2, backends=["xgboost", "extra_trees"])
    clf.fit(credit.drop(columns="credit"), credit["credit"])
    housing = load_slice("cpu_act", 300)
    reg = automl.AutoRegressor(time_budget=3, n_trials=2, backends=["linear", "lightgbm"])
    reg.fit(housing.drop(columns="target"), housing["target"])
    return (clf, credit.drop(columns="credit")), (reg, housing.drop(columns="target"))


def test_fitted_estimators_pickle_and_predict_identically(fitted_estimators):
    (clf, X_clf), (reg, X_reg) = fitted_estimators
    clf2 = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(clf2.predict(X_clf), clf.predict(X_clf))
    np.testing.assert_array_equal(clf2.predict_proba(X_clf), clf.predict_proba(X_clf))
    np.testing.assert_array_equal(clf2.classes_, clf.classes_)
    reg2 = pickle.loads(pickle.dumps(reg))
    np.testing.assert_array_equal(reg2.predict(X_reg), reg.predict(X_reg))
