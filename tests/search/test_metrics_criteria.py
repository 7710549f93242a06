from __future__ import annotations

import math

import numpy as np
import pytest

from backends.contracts import TaskType
from backends.errors import ConfigError
from search.criteria import criteria_metrics, parse_criteria, parse_criterion, verdicts
from search.metrics import METRICS, get_metric

B, M, R = TaskType.BINARY, TaskType.MULTICLASS, TaskType.REGRESSION


def test_binary_metrics_on_known_values():
    y = np.array([0, 0, 1, 1])
    proba = np.array([[0.9, 0.1], [0.3, 0.7], [0.35, 0.65], [0.2, 0.8]])
    assert get_metric("roc_auc", B).score(y, proba) == pytest.approx(0.75)
    assert get_metric("accuracy", B).score(y, proba) == pytest.approx(0.75)
    assert get_metric("log_loss", B).score(y, proba) == pytest.approx(
        -np.mean(np.log([0.9, 0.3, 0.65, 0.8]))
    )
    assert get_metric("f1", B).score(y, proba) == pytest.approx(0.8)


def test_multiclass_and_regression_metrics():
    y = np.array([0, 1, 2, 2])
    proba = np.eye(3)[[0, 1, 2, 1]] * 0.9 + 0.1 / 3
    assert get_metric("accuracy", M).score(y, proba) == pytest.approx(0.75)
    assert get_metric("balanced_accuracy", M).score(y, proba) == pytest.approx((1 + 1 + 0.5) / 3)
    assert 0.5 < get_metric("roc_auc", M).score(y, proba) <= 1
    yr, pr = np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.0, 5.0])
    assert get_metric("rmse", R).score(yr, pr) == pytest.approx(math.sqrt(4 / 3))
    assert get_metric("mae", R).score(yr, pr) == pytest.approx(2 / 3)
    assert get_metric("r2", R).score(yr, yr) == pytest.approx(1.0)


@pytest.mark.parametrize("k", [2, 3, 7])
def test_fast_roc_auc_and_log_loss_equal_sklearn(k):
    from sklearn import metrics as skm

    rng = np.random.default_rng(k)
    y = rng.integers(0, k, 2000)
    proba = rng.dirichlet(np.ones(k), 2000)
    proba[:300] = np.round(proba[:300], 1)  # ties: average ranks must match sklearn's trapezoids
    proba[:5] = np.eye(k)[0]  # zeros: clipped, renormalized
    proba[5:300] /= proba[5:300].sum(axis=1, keepdims=True)
    expected_auc = (skm.roc_auc_score(y, proba[:, 1]) if k == 2
                    else skm.roc_auc_score(y, proba, multi_class="ovr", average="macro", labels=range(k)))
    assert get_metric("roc_auc", B if k == 2 else M).score(y, proba) == pytest.approx(expected_auc, abs=1e-12)
    clipped = np.clip(proba, 1e-15, 1)
    expected_ll = skm.log_loss(y, clipped / clipped.sum(axis=1, keepdims=True), labels=range(k))
    assert get_metric("log_loss", B if k == 2 else M).score(y, proba) == pytest.approx(expected_ll, rel=1e-12)


def test_fast_metrics_keep_sklearns_errors():
    from sklearn import metrics as skm

    proba = np.array([[0.2, 0.8], [0.6, 0.4]])
    with pytest.warns(UserWarning, match="Only one class"):  # sklearn's warning and its nan, as before
        assert math.isnan(get_metric("roc_auc", B).score(np.array([1, 1]), proba))
        assert math.isnan(skm.roc_auc_score(np.array([1, 1]), proba[:, 1]))
    with pytest.raises(ValueError):
        get_metric("roc_auc", B).score(np.array([0, 1]), np.array([[np.nan, np.nan], [0.5, 0.5]]))
    with pytest.raises(ValueError):
        get_metric("log_loss", B).score(np.array([0, 2]), proba)


def test_defaults_and_directions():
    assert get_metric(None, B).name == "roc_auc"
    assert get_metric(None, M).name == "log_loss"
    assert get_metric(None, R).name == "rmse"
    assert METRICS["log_loss"].loss(0.3) == 0.3 and METRICS["roc_auc"].loss(0.9) == -0.9
    assert METRICS["rmse"].better(1.0, 2.0) and METRICS["r2"].better(0.9, 0.1)


def test_user_callable_is_a_metric():
    def neg_mae(y, raw):
        return -float(np.mean(np.abs(y - raw)))

    metric = get_metric(neg_mae, R)
    assert metric.name == "neg_mae" and metric.greater_is_better
    assert metric.score(np.array([1.0]), np.array([3.0])) == -2.0


@pytest.mark.parametrize("bad,task", [("auc_roc", B), ("rmse", B), ("roc_auc", R), (42, B)])
def test_unknown_or_misapplied_metric_is_a_config_error(bad, task):
    with pytest.raises(ConfigError):
        get_metric(bad, task)


def test_criteria_parse_and_verdicts():
    crits = parse_criteria(["roc_auc >= 0.85", "predict_ms_p95<=5", "model_mb < 50", "fit_s > 1e-3"], B)
    assert [c.text for c in crits] == ["roc_auc >= 0.85", "predict_ms_p95 <= 5", "model_mb < 50", "fit_s > 0.001"]
    v = verdicts(crits, {"roc_auc": 0.9, "predict_ms_p95": 7.0, "model_mb": 49.9, "fit_s": math.nan})
    assert v == {"roc_auc >= 0.85": True, "predict_ms_p95 <= 5": False, "model_mb < 50": True, "fit_s > 0.001": False}
    assert [m.name for m in criteria_metrics(crits, get_metric("log_loss", B), B)] == ["log_loss", "roc_auc"]


@pytest.mark.parametrize("text", ["roc_auc => 0.8", "roc_auc >=", "speed <= 3", "rmse <= 3", ">= 0.5", ""])
def test_bad_criteria_are_config_errors(text):
    with pytest.raises(ConfigError):
        parse_criterion(text, B)
