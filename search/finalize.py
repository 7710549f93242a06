"""The refit plan: what the search keeps back for refitting on all rows, what an ensemble's refit costs,
each member's share of the refit time, and the refits themselves (device, threads, shared preprocessors).

On k-fold validation the best trials keep their k fold models: where no refit fits the time left, they are
packaged as a bag (AutoGluon's bagging; each row's out-of-fold prediction came from one of them, so the CV
score is the bag's own) instead of the fold-0 model alone.

The controller asks it how much to reserve while trials run; `automl.finalize` asks it to refit
what gets packaged. Nothing else reaches into the search's backends, contexts or fold cache.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from backends.contracts import Backend, Deadline, FitContext
from search.budget import Budget
from search.evaluate import FittedCandidate, FoldCache, refit, refit_estimate
from search.leaderboard import TrialRecord
from search.task import SearchData

REFIT_CAP_SHARE = 0.3  # the most of the budget the search gives up for the final refit
ENSEMBLE_RESERVE_MEMBERS = 3  # the reserve covers this many of the best candidates: an ensemble may need them all
# a fit on t threads takes ~ t**-THREAD_EXPONENT of its one-thread time: boosters scale sublinearly. Measured on
# 2 cores, XGBoost hist on cpu_act (6k rows x 21 columns): 1115 rounds 4.2 s -> 2.65 s (2**-0.67); a 316-round fold
# with early stopping 0.81 s -> 0.55 s (2**-0.56). The lower end, so refits are not promised time they lack.
THREAD_EXPONENT = 0.5


class RefitPlan:
    """Refit costs and refits for one search; `data` is the validation plan the search uses now."""

    def __init__(self, budget: Budget, backends: Mapping[str, Backend], contexts: Mapping[str, FitContext], n_jobs: int,
                 data: SearchData, cache: FoldCache) -> None:
        self.budget, self.backends, self.contexts, self.n_jobs = budget, dict(backends), dict(contexts), n_jobs
        self.data, self.cache = data, cache
        self.preprocessors: dict[tuple[str, str], Any] = {}  # all-rows preprocessors shared by members of one (view, recipe)

    def cap(self) -> float:
        return REFIT_CAP_SHARE * self.budget.seconds

    def estimate(self, record: TrialRecord) -> float:
        """Seconds a refit of `record` on all rows is expected to take, on the refit's threads (a trial in a worker
        process measured its folds on fewer)."""
        on_cpu = record.threads and record.device == "cpu"  # a GPU fit does not speed up with host threads
        speedup = (self.n_jobs / record.threads) ** THREAD_EXPONENT if on_cpu else 1.0
        return refit_estimate(record, self.data) / max(speedup, 1e-9)

    def bags(self) -> bool:
        """Whether the validation plan is a whole k-fold (k >= 2), whose fold models together make a bag."""
        k = self.data.folds_per_repeat
        return k >= 2 and len(self.data.splits) >= k

    def reserve(self, ranked: Sequence[TrialRecord]) -> float:
        """Seconds to keep for the final refit: the best few of `ranked` (scored records, best first).

        Only refits that fit under the cap count; when even the best one does not, nothing is reserved
        and the search runs on: its bag (k-fold) or fold-0 model is packaged instead of a refit.
        """
        total = 0.0
        for r in [r for r in ranked if r.ok][:ENSEMBLE_RESERVE_MEMBERS]:
            estimate = self.estimate(r)
            if total + estimate > self.cap():
                break
            total += estimate
        return total

    def ensemble_cost(self, members: Sequence[TrialRecord]) -> float:
        """Seconds refitting every member of an ensemble is expected to take."""
        return sum(self.estimate(r) for r in members)

    def available(self) -> float:
        """Seconds left for refitting now, less a margin for what member deadlines do not bound (all-rows
        preprocessing). Half the slack: the search deadline kept a whole one for the last trials' own overrun,
        which that overrun (the per-fold work after a fit stops) may have spent; a second whole one would
        turn down even a one-second ensemble refit after a search that ended on time."""
        return self.budget.refit_deadline().remaining() - 0.5 * self.budget.slack()

    @staticmethod
    def share(estimates: Sequence[float], i: int) -> float:
        """Member i's share of the time left when members i, i+1, ... remain: in proportion to their estimates."""
        return estimates[i] / max(1e-9, sum(estimates[i:]))

    def context(self, backend: str) -> FitContext:
        """The context for refitting `backend` on every row after the search: its device, every core."""
        return replace(self.contexts[backend], n_rows=len(self.data.y), n_jobs=self.n_jobs)

    def refit(self, record: TrialRecord, deadline: Deadline) -> FittedCandidate:
        """Fit `record`'s configuration (and its preprocessor, shared per view and recipe) on every row by `deadline`."""
        backend = self.backends[record.backend]
        return refit(backend, record, self.data, self.context(record.backend), deadline, self.cache, self.preprocessors)
