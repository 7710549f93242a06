"""Successive halving over folds (and the big-data screen), repeated k-fold, the screening split."""

from __future__ import annotations

import numpy as np
import optuna
import pytest

from backends.contracts import TaskType
from search.budget import Budget
from search.pruning import PRUNE_AFTER_TRIALS, HalvingPruner, rung_steps
from search.splits import make_splits, n_repeats_for, screen_split


def test_rungs_after_two_four_eight_folds_and_the_screen():
    assert rung_steps(5, screen=False) == {1, 3}
    assert rung_steps(15, screen=False) == {1, 3, 7}
    assert rung_steps(3, screen=False) == {1}
    assert rung_steps(1, screen=False) == frozenset()
    assert rung_steps(1, screen=True) == {0}
    assert rung_steps(3, screen=True) == {0, 2}


def _study(pruner: optuna.pruners.BasePruner) -> optuna.Study:
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    return optuna.create_study(direction="minimize", pruner=pruner)


def _finished(study: optuna.Study, values: list[float], step: int) -> None:
    for v in values:
        trial = study.ask()
        trial.report(v, step)
        study.tell(trial, v)


def test_halving_keeps_the_better_half_after_enough_peers():
    study = _study(HalvingPruner(rung_steps(5, screen=False), screen=False))
    trial = study.ask()
    trial.report(0.9, 1)
    assert not trial.should_prune()  # no peers yet
    study.tell(trial, 0.9)
    _finished(study, [0.1, 0.2, 0.3, 0.4, 0.5][: PRUNE_AFTER_TRIALS], step=1)
    worse, better = study.ask(), study.ask()
    worse.report(0.45, 1)
    better.report(0.25, 1)
    assert worse.should_prune() and not better.should_prune()
    off_rung = study.ask()
    off_rung.report(5.0, 2)  # step 2 is not a rung
    assert not off_rung.should_prune()


def test_portfolio_configs_are_spared_on_folds_but_not_on_the_screen():
    study = _study(HalvingPruner(rung_steps(1, screen=True), screen=True))
    _finished(study, [0.1, 0.2, 0.3, 0.4, 0.5, 0.6], step=0)
    folds_study = _study(HalvingPruner(rung_steps(5, screen=False), screen=False))
    _finished(folds_study, [0.1, 0.2, 0.3, 0.4, 0.5, 0.6], step=1)
    for s, step, pruned in [(study, 0, True), (folds_study, 1, False)]:
        trial = s.ask()
        trial.set_user_attr("source", "portfolio")
        trial.report(0.9, step)
        assert trial.should_prune() is pruned


def test_repeats_depend_on_size_and_budget():
    assert n_repeats_for(750, 20, Budget(60)) == 3
    assert n_repeats_for(3000, 20, Budget(60)) == 2
    assert n_repeats_for(6000, 36, Budget(60)) == 1
    assert n_repeats_for(3000, 20, Budget(300)) == 3  # a longer budget affords more
    assert n_repeats_for(20_000, 2, Budget(600)) == 1  # 3-fold data is never repeated


def test_repeated_kfold_covers_every_row_once_per_repeat():
    y = np.random.default_rng(0).integers(0, 2, size=300)
    splits = make_splits(y, TaskType.BINARY, seed=0, n_repeats=3)
    assert len(splits) == 15
    for r in range(3):
        valid = np.concatenate([v for _, v in splits[5 * r : 5 * r + 5]])
        assert sorted(valid) == list(range(300))
    assert not np.array_equal(splits[0][1], splits[5][1])  # repeats shuffle differently


@pytest.mark.parametrize("n, expect", [(10_000, None), (100_000, 10_000), (400_000, 40_000)])
def test_screen_is_a_sample_of_the_first_training_fold(n, expect):
    y = np.random.default_rng(1).integers(0, 3, size=n)
    splits = make_splits(y, TaskType.MULTICLASS, seed=0)
    screen = screen_split(splits, y, TaskType.MULTICLASS, seed=0)
    if expect is None:
        assert screen is None
        return
    sample, valid = screen
    assert len(sample) == expect and np.array_equal(valid, splits[0][1])
    assert np.isin(sample, splits[0][0]).all()


def test_warm_start_is_the_defaults_floor_and_the_tuned_portfolio_with_cheap_entries_first_on_costly_fits():
    from backends import registry
    from backends.contracts import Device, FitContext
    from search.portfolio import estimated_cost, fit_work, portfolio_for, warm_start_order

    backends = registry.available(TaskType.MULTICLASS, Device.CPU, None)
    by_name = {b.name: b for b in backends}
    small = FitContext(TaskType.MULTICLASS, n_rows=600, n_features=10, n_classes=3, seed=0, device=Device.CPU, n_jobs=2)
    order = warm_start_order(backends, small)
    tuned = portfolio_for(backends, small)
    uncovered = set(by_name) - {name for name, _ in tuned}
    assert uncovered, "the MLP is not in the tuned portfolio"
    # the floor first: the cheapest family's library defaults, the best tuned entry, the other defaults;
    # then one (the cheapest) config of each family the tuned portfolio lacks, so even a short search tries
    # it; then the rest of the tuned portfolio, in order
    floor = [(b.name, b.defaults(small)) for b in sorted(backends, key=lambda b: b.relative_cost) if b.defaults(small) is not None]
    assert {name for name, _ in floor} == {"lightgbm", "xgboost"}
    assert order[:len(floor) + 1] == [floor[0], tuned[0], *floor[1:]]
    firsts = order[len(floor) + 1 : len(floor) + 1 + len(uncovered)]
    assert {name for name, _ in firsts} == uncovered
    assert all(cfg == by_name[name].portfolio(small)[0] for name, cfg in firsts)
    assert order[len(floor) + 1 + len(uncovered) : len(floor) + len(tuned) + len(uncovered)] == [e for e in tuned[1:] if e not in floor]
    assert {name for name, _ in order} == set(by_name)
    costly = FitContext(TaskType.MULTICLASS, n_rows=1200, n_features=240, n_classes=10, seed=0, device=Device.CPU, n_jobs=2)
    assert fit_work(costly) > 10 * fit_work(small)
    order = warm_start_order(backends, costly)
    # the first floor entry stays first (cheap families must not crowd it out); then cheapest first
    assert order[0] == ("lightgbm", by_name["lightgbm"].defaults(costly))
    costs = [estimated_cost(by_name[n], p) for n, p in order[1:]]
    assert costs == sorted(costs) and costs[0] < costs[-1]
