"""The wall-clock budget of one `fit`, on an injectable clock so tests need not wait.

`fit` must return within ``time_budget * 1.05 + 5`` seconds. The search gets what is
left after reserving time for the final refit of the best candidate and for packaging.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from backends.contracts import Deadline
from backends.errors import ConfigError


@dataclass
class Budget:
    """Total seconds from a start point; hands out deadlines for search, trials and refit."""

    seconds: float
    clock: Callable[[], float] = time.monotonic
    start: float = field(default=-1.0)

    def __post_init__(self) -> None:
        if not self.seconds > 0:
            raise ConfigError(f"time_budget must be a positive number of seconds, got {self.seconds!r}.")
        if self.start < 0:
            self.start = self.clock()

    @property
    def deadline(self) -> Deadline:
        return Deadline(self.start + self.seconds, self.clock)

    def elapsed(self) -> float:
        return self.clock() - self.start

    def remaining(self) -> float:
        return self.deadline.remaining()

    def packaging_reserve(self) -> float:
        """Seconds kept for writing the package and the report."""
        return min(5.0, max(0.5, 0.03 * self.seconds))

    def slack(self) -> float:
        """Seconds kept for what trial deadlines do not bound: per-fold preprocessing and latency probes."""
        return min(5.0, max(1.0, 0.03 * self.seconds))

    def search_deadline(self, refit_reserve: float) -> Deadline:
        """When trials must stop so the refit (`refit_reserve` s, see `search.finalize.RefitPlan.reserve`) and packaging still fit."""
        return Deadline(self.start + self.seconds - self.packaging_reserve() - self.slack() - refit_reserve, self.clock)

    def trial_deadline(self, search: Deadline, have_model: bool) -> Deadline:
        """A trial may take half of what is left once some model exists, so one slow family cannot eat it all."""
        left = search.remaining()
        return search if not have_model else search.earlier(max(2.0, 0.5 * left))

    def first_fit_deadline(self) -> Deadline:
        """Until some model exists a trial may run until packaging: no refit is reserved (its fold model is
        packaged) and the slack goes to it, since no later trial needs it."""
        return self.refit_deadline()

    def refit_deadline(self) -> Deadline:
        return Deadline(self.start + self.seconds - self.packaging_reserve(), self.clock)
