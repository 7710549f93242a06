"""End-to-end `automl.fit` on small slices of real data."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm

import automl
from tests.conftest import load_slice

FAST = ["linear", "lightgbm"]


@pytest.fixture(scope="module")
def adult():
    train = load_slice("adult", 2000)
    test = load_slice("adult", 1000, split="test")
    result = automl.fit(train, "income", n_trials=5, time_budget=120, backends=FAST, seed=0)
    return train, test, result


def test_binary_fit_leaderboard_and_predictions(adult):
    _, test, result = adult
    board = result.leaderboard
    for column in ["rank", "model_id", "backend", "device", "params", "score_mean", "score_std", "roc_auc",
                   "fit_s", "predict_ms_per_1k", "predict_ms_p95", "model_mb", "status", "error"]:
        assert column in board.columns
    # five trials plus the greedy ensemble and the stack over them
    assert (~board["backend"].isin(["ensemble", "stack"])).sum() == 5 and list(board["rank"]) == list(range(1, len(board) + 1))
    assert board.loc[0, "status"] == "ok" and set(board["device"]) == {"cpu"}
    assert board.loc[0, "model_id"] == result.report["best"]["model_id"]
    ok = board[board["status"] == "ok"]
    assert (ok["score_mean"].diff().dropna() <= 1e-12).all()  # roc_auc: best first
    proba = result.predict_proba(test)
    assert list(proba.columns) == ["<=50K", ">50K"] and np.allclose(proba.sum(axis=1), 1)
    assert skm.roc_auc_score(test["income"] == ">50K", proba[">50K"]) > 0.85
    labels = result.predict(test)
    assert set(labels) <= {"<=50K", ">50K"} and len(labels) == len(test)
    report = result.report
    assert report["task"] == "binary" and report["metric"] == "roc_auc"
    assert report["refit"]["on_all_rows"] and report["budget"]["n_trials"] == 5
    assert report["profile"]["n_rows"] == 2000


def test_regression_and_multiclass_defaults():
    housing = load_slice("california_housing", 1500)
    reg = automl.fit(housing, "median_house_value", n_trials=3, time_budget=120, backends=FAST)
    assert reg.report["task"] == "regression" and reg.report["metric"] == "rmse"
    pred = reg.predict(housing.drop(columns="median_house_value"))
    assert pred.dtype.kind == "f" and np.sqrt(np.mean((pred - housing["median_house_value"]) ** 2)) < 80_000
    sat = load_slice("satimage", 1200)
    mc = automl.fit(sat, "target", n_trials=3, time_budget=120, backends=FAST)
    assert mc.report["task"] == "multiclass" and mc.report["metric"] == "log_loss"
    assert mc.leaderboard.loc[0, "score_mean"] < 0.6
    assert mc.predict_proba(sat).shape == (1200, 6)


def test_success_criteria_verdicts_and_no_pass_flag():
    data = load_slice("german_credit", 750)
    result = automl.fit(data, "credit", n_trials=3, time_budget=120, backends=FAST,
                        success=["roc_auc >= 0.999", "model_mb <= 50"])
    board = result.leaderboard
    assert "pass[roc_auc >= 0.999]" in board.columns and not board["pass[roc_auc >= 0.999]"].any()
    assert board["pass[model_mb <= 50]"][board["status"] == "ok"].all()
    success = result.report["success"]
    assert not success["any_passed"] and not success["best_passed"]
    assert "NO candidate passes" in success["message"] and "roc_auc >= 0.999" in success["message"]
    reachable = automl.fit(data, "credit", n_trials=3, time_budget=120, backends=FAST, success="roc_auc >= 0.6")
    assert reachable.report["success"]["best_passed"]


def test_same_seed_same_leaderboard():
    data = load_slice("german_credit", 600)
    runs = [automl.fit(data, "credit", n_trials=6, time_budget=300, backends=FAST, seed=7).leaderboard for _ in range(2)]
    cols = ["model_id", "params", "score_mean", "status"]
    pd.testing.assert_frame_equal(runs[0][cols], runs[1][cols])


def test_user_callable_metric_and_forced_task():
    data = load_slice("cpu_act", 800)

    def neg_max_error(y, raw):
        return -float(np.max(np.abs(y - raw)))

    result = automl.fit(data, "target", metric=neg_max_error, n_trials=2, time_budget=120, backends=FAST, task="regression")
    assert result.report["metric"] == "neg_max_error" and "neg_max_error" in result.leaderboard.columns


@pytest.mark.slow
def test_time_budget_is_a_hard_limit():
    data = load_slice("adult", 6000)
    budget = 10
    start = time.monotonic()
    result = automl.fit(data, "income", time_budget=budget)
    wall = time.monotonic() - start
    assert wall <= budget * 1.05 + 5
    assert result.report["budget"]["n_trials"] >= 2
    assert (result.leaderboard["status"] == "ok").any()


def test_sklearn_estimators_delegate_to_fit():
    from sklearn.base import clone

    data = load_slice("german_credit", 500)
    X, y = data.drop(columns="credit"), data["credit"]
    clf = automl.AutoClassifier(n_trials=2, time_budget=60, backends=FAST)
    assert clone(clf).get_params()["n_trials"] == 2
    clf.set_params(seed=3)
    clf.fit(X, y)
    assert list(clf.classes_) == [1, 2]
    assert clf.predict_proba(X).shape == (500, 2) and 0.6 < clf.score(X, y) <= 1
    housing = load_slice("cpu_act", 500)
    reg = automl.AutoRegressor(n_trials=2, time_budget=60, backends=FAST).fit(housing.drop(columns="target").to_numpy(), housing["target"])
    assert reg.score(housing.drop(columns="target").to_numpy(), housing["target"]) > 0.8


def test_the_library_defaults_are_a_floor_under_a_tuned_portfolio_that_does_not_transfer(monkeypatch):
    import json

    import search.portfolio as portfolio

    # a "tuned" entry that is poor on this data: stumps learnt at a crawl
    poor = {"learning_rate": 0.01, "num_leaves": 4, "min_child_samples": 100, "feature_fraction": 0.4,
            "bagging_fraction": 0.5, "lambda_l1": 10.0, "lambda_l2": 10.0}
    monkeypatch.setattr(portfolio, "load_portfolio", lambda path=None: [("lightgbm", dict(poor))])
    data = load_slice("german_credit", 600)
    result = automl.fit(data, "credit", n_trials=2, time_budget=120, backends=["lightgbm"], workers=1, seed=0)
    board = result.leaderboard
    trials = board[board["backend"] == "lightgbm"]
    assert len(trials) == 2  # the defaults came first, so even two trials hold them
    tried = [json.loads(p) for p in trials["params"]]
    assert any(p["num_leaves"] == 31 and p["learning_rate"] == 0.1 for p in tried)
    best = json.loads(trials.sort_values("score_mean", ascending=False)["params"].iloc[0])
    assert best["num_leaves"] == 31 and best["learning_rate"] == 0.1, "the defaults beat the poor entry and win"
