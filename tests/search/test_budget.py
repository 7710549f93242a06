from __future__ import annotations

import pytest

from backends.contracts import Deadline
from backends.errors import ConfigError
from search.budget import Budget


def test_deadline_counts_down_on_injected_clock(clock):
    d = Deadline.after(10, clock)
    assert d.remaining() == 10
    clock.advance(4)
    assert d.remaining() == 6 and not d.expired()
    clock.advance(7)
    assert d.remaining() == 0 and d.expired()


def test_earlier_never_extends(clock):
    d = Deadline.after(10, clock)
    assert d.earlier(3).remaining() == 3
    assert d.earlier(30).remaining() == 10


@pytest.mark.parametrize("bad", [0, -1, -0.5])
def test_budget_must_be_positive(bad):
    with pytest.raises(ConfigError, match="positive"):
        Budget(bad)


def test_search_deadline_reserves_refit_and_packaging(clock):
    b = Budget(100, clock)
    assert b.packaging_reserve() == pytest.approx(3.0)
    assert b.slack() == pytest.approx(3.0)
    assert b.search_deadline(10).remaining() == pytest.approx(84.0)
    assert b.refit_deadline().remaining() == pytest.approx(97.0)
    clock.advance(95)
    assert b.search_deadline(0).expired() and b.remaining() == pytest.approx(5.0)


def test_trial_deadline_shares_remaining_time_once_a_model_exists(clock):
    b = Budget(60, clock)
    search = b.search_deadline(0)
    first = b.trial_deadline(search, have_model=False)
    assert first.at == search.at
    later = b.trial_deadline(search, have_model=True)
    assert later.remaining() == pytest.approx(0.5 * search.remaining())
    clock.advance(search.remaining() - 1)
    assert b.trial_deadline(search, have_model=True).remaining() == pytest.approx(1.0)


def test_the_refit_reserve_counts_the_best_few_refits_up_to_its_cap(clock):
    """The cap keeps a huge refit estimate from eating the search: refits beyond it are not reserved for."""
    from types import SimpleNamespace

    import numpy as np

    from search.finalize import ENSEMBLE_RESERVE_MEMBERS, THREAD_EXPONENT, RefitPlan
    from search.leaderboard import TrialRecord

    data = SimpleNamespace(y=np.zeros(100), splits=[(np.arange(80), np.arange(80, 100))], folds_per_repeat=1)  # a holdout
    plan = RefitPlan(Budget(100, clock), {}, {}, 2, data, None)  # type: ignore[arg-type]

    def rec(n: int, fit_s: float) -> TrialRecord:
        return TrialRecord(number=n, backend="b", device="cpu", recipe="dense", params={}, score_mean=0.9, fit_s=fit_s, fold_scores=[0.9])

    # one fold fit of 8 s on 80 of 100 rows: a refit is expected to take 8 * 100/80 * 1.2 = 12 s
    assert plan.estimate(rec(0, 8.0)) == pytest.approx(12.0)
    assert plan.reserve([rec(i, 8.0) for i in range(5)]) == pytest.approx(12.0 * min(ENSEMBLE_RESERVE_MEMBERS, 2))  # cap 30 s
    assert plan.reserve([rec(0, 1000.0)]) == 0.0  # even the best one does not fit: its fold model is packaged instead
    one_thread = rec(0, 8.0)
    one_thread.threads = 1  # measured in a one-thread worker: the refit on 2 threads is faster, sublinearly
    assert plan.estimate(one_thread) == pytest.approx(12.0 / 2**THREAD_EXPONENT)
    one_thread.device = "cuda:0"
    assert plan.estimate(one_thread) == pytest.approx(12.0)  # a GPU fit does not scale with host threads
    assert plan.share([1.0, 3.0], 0) == pytest.approx(0.25) and plan.share([1.0, 3.0], 1) == pytest.approx(1.0)
