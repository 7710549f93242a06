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
    # a huge refit estimate is capped so the search still gets most of the budget
    assert b.search_deadline(1000).remaining() == pytest.approx(64.0)
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
