"""The packaged portfolio loads, fits every backend's space, and is selected by the greedy rule."""

from __future__ import annotations

import json

import numpy as np
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

from backends import registry
from backends.contracts import FitContext, TaskType
from backends.errors import ConfigError
from benchmarks.portfolio import greedy_select, normalize_losses, time_costs
from search.portfolio import load_portfolio, portfolio_for


def _inside(value: object, dist: object) -> bool:
    if isinstance(dist, (IntDistribution, FloatDistribution)):
        return dist.low <= value <= dist.high
    assert isinstance(dist, CategoricalDistribution)
    return value in dist.choices


def test_packaged_portfolio_names_known_backends() -> None:
    configs = load_portfolio()
    assert 1 <= len(configs) <= 20
    assert {name for name, _ in configs} <= set(registry.names())
    assert all(isinstance(params, dict) and params for _, params in configs)


@pytest.mark.parametrize("task", list(TaskType))
def test_portfolio_clips_into_every_space_on_small_data(task: TaskType) -> None:
    ctx = FitContext(task=task, n_rows=120, n_features=5, n_classes=3 if task is TaskType.MULTICLASS else 0)
    backends = [registry.get(n) for n in registry.names()]
    usable = portfolio_for(backends, ctx)
    assert usable, "no portfolio entry applies to this task"
    for name, params in usable:
        space = registry.get(name).search_space(ctx)
        assert set(params) == set(space)
        assert all(_inside(v, space[k]) for k, v in params.items()), (name, params)
    # linear takes C for classification and alpha for regression; never the other one
    linear_keys = {k for name, p in usable if name == "linear" for k in p}
    assert linear_keys <= ({"C"} if task.is_classification else {"alpha"})


@pytest.mark.parametrize(
    "text",
    [
        "not json",
        "[]",
        '{"configs": []}',
        '{"configs": [{"backend": "nope", "params": {"a": 1}}]}',
        '{"configs": [{"backend": "lightgbm", "params": []}]}',
        '{"configs": [{"backend": "lightgbm", "params": {"learning_rate": [0.1]}}]}',
        '{"configs": ["lightgbm"]}',
    ],
)
def test_malformed_portfolio_raises_config_error(tmp_path, text: str) -> None:
    path = tmp_path / "portfolio.json"
    path.write_text(text)
    with pytest.raises(ConfigError):
        load_portfolio(path)


def test_missing_portfolio_file_raises_config_error(tmp_path) -> None:
    with pytest.raises(ConfigError):
        load_portfolio(tmp_path / "absent.json")


def test_explicit_path_roundtrip(tmp_path) -> None:
    path = tmp_path / "p.json"
    path.write_text(json.dumps({"configs": [{"backend": "linear", "params": {"C": 0.5}}]}))
    assert load_portfolio(path) == [("linear", {"C": 0.5})]


def test_normalize_losses_best_is_zero_median_is_one() -> None:
    loss = np.array([[1.0, np.nan], [2.0, 5.0], [3.0, 5.0], [9.0, 7.0]])
    norm = normalize_losses(loss)
    # dataset 0: best 1, median 2.5; dataset 1: best 5 = median -> only the best reach 0
    np.testing.assert_allclose(norm[:, 0], [0.0, 2 / 3, 1.0, 1.0])
    np.testing.assert_allclose(norm[:, 1], [1.0, 0.0, 0.0, 1.0])


def test_greedy_picks_complementary_configs_in_order() -> None:
    # rows: configs; columns: datasets (normalized losses)
    norm = np.array(
        [
            [0.0, 0.0, 1.0, 1.0],  # strong on the first two
            [1.0, 1.0, 0.0, 0.2],  # strong on the last two
            [0.1, 0.1, 0.95, 0.95],  # nearly a copy of config 0: adds little after it
            [0.9, 0.9, 0.9, 0.0],  # best on the last dataset only
        ]
    )
    sel = greedy_select(norm, np.zeros(4), max_configs=12, time_weight=0.0, refill=False)
    assert sel.order == [0, 1, 3]  # then nothing gains: it stops before 12
    np.testing.assert_allclose(sel.trajectory, [0.5, 0.05, 0.0])
    # with refill, a second round covers the datasets again from what is left
    sel = greedy_select(norm, np.zeros(4), max_configs=12, time_weight=0.0)
    assert sel.order == [0, 1, 3, 2]
    assert sel.rounds == [0, 0, 0, 1]
    assert greedy_select(norm, np.zeros(4), max_configs=2, time_weight=0.0).order == [0, 1]


def test_time_penalty_breaks_near_ties_towards_the_cheaper_config() -> None:
    norm = np.array([[0.0, 0.5], [0.02, 0.5], [0.6, 0.0]])
    fit_s = np.array([[100.0, 100.0], [1.0, 1.0], [10.0, 10.0]])
    cost = time_costs(fit_s)
    np.testing.assert_allclose(cost, [1.0, 0.0, 0.5])
    # without a penalty the slightly better, 100x slower config comes first; with a mild one the cheap one
    assert greedy_select(norm, cost, time_weight=0.0).order[0] == 0
    assert greedy_select(norm, cost, time_weight=0.05).order[:2] == [1, 2]
    # an exact tie in gain goes to the cheaper config, whatever the weight
    tie = np.array([[0.0, 1.0], [0.0, 1.0]])
    assert greedy_select(tie, np.array([0.7, 0.3]), max_configs=1, time_weight=0.0).order == [1]
