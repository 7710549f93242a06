"""Runners, in this process on real slices: sane scores, one class list, aligned probabilities."""

from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from benchmarks import runners
from benchmarks.bench import FRAMEWORKS, run_one
from benchmarks.suite import read_suite


def _run(suite: Path, name: str, framework: str, budget: float = 3.0) -> dict:
    ds = read_suite(suite)[name]
    train, test = ds.load()
    return runners.run(framework, train, test, ds.target, ds.task, ds.metric, budget, 0)


def test_align_proba_reorders_matches_by_text_and_zero_fills() -> None:
    proba = np.array([[0.2, 0.8], [0.6, 0.4]])
    np.testing.assert_allclose(runners.align_proba(proba, ["b", "a"], ["a", "b"]), [[0.8, 0.2], [0.4, 0.6]])
    np.testing.assert_allclose(runners.align_proba(proba, ["1", "0"], [0, 1]), [[0.8, 0.2], [0.4, 0.6]])
    np.testing.assert_allclose(runners.align_proba(proba, [0, 1], [0, 1, 2]), [[0.2, 0.8, 0.0], [0.6, 0.4, 0.0]])


def test_training_classes_are_sorted_unique_labels() -> None:
    assert runners.training_classes(pd.Series([">50K", "<=50K", ">50K", None])) == ["<=50K", ">50K"]
    assert runners.training_classes(pd.Series([2, 1, 2])) == [1, 2]


def test_constant_is_the_floor(suite: Path) -> None:
    assert _run(suite, "titanic", "constant")["test_score"] == pytest.approx(0.5)
    reg = _run(suite, "cpu_act", "constant")
    ds = read_suite(suite)["cpu_act"]
    train, test = ds.load()
    expected = math.sqrt(((test[ds.target] - train[ds.target].mean()) ** 2).mean())
    assert reg["test_score"] == pytest.approx(expected)
    multi = _run(suite, "satimage", "constant")["test_score"]
    assert 1.0 < multi < math.log(6) + 0.1  # the prior's cross-entropy: at most that of a uniform guess


def test_lightgbm_default_beats_the_floor(suite: Path) -> None:
    binary = _run(suite, "titanic", "lightgbm-default")
    assert binary["test_score"] > 0.75
    assert binary["wall_s"] > 0
    assert _run(suite, "cpu_act", "lightgbm-default")["test_score"] < 0.6 * _run(suite, "cpu_act", "constant")["test_score"]
    assert _run(suite, "satimage", "lightgbm-default")["test_score"] < _run(suite, "satimage", "constant")["test_score"]


def test_automl_runner_scores_and_reports_trials(suite: Path) -> None:
    out = _run(suite, "satimage", "automl", budget=6.0)
    assert out["test_score"] < _run(suite, "satimage", "constant")["test_score"]
    assert out["info"]["n_trials"] >= 1 and out["info"]["best"]


@pytest.mark.filterwarnings("ignore:Column .* contains values unseen:UserWarning")
@pytest.mark.skipif(importlib.util.find_spec("flaml") is None, reason='flaml not installed: pip install -e ".[bench]"')
def test_flaml_runner_with_a_short_budget(suite: Path) -> None:
    out = _run(suite, "titanic", "flaml", budget=3.0)
    assert out["test_score"] > 0.7
    assert out["info"]["n_trials"] >= 1
    assert out["wall_s"] < 3.0 * 1.5 + 5


@pytest.mark.slow
@pytest.mark.skipif(FRAMEWORKS["autogluon-medium"].python() is None, reason="AutoGluon not installed: make bench-autogluon")
def test_autogluon_runner_in_its_own_venv(suite: Path, tmp_path: Path) -> None:
    ds = read_suite(suite)["titanic"]
    row = run_one(ds, "autogluon-medium", 0, 5.0, 0, tmp_path)
    assert row["status"] == "ok", row["error"]
    assert row["test_score"] > 0.7
    assert json.loads(row["info"])["best"]
