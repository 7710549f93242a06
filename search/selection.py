"""The preference for the simpler feature set when the difference is within noise.

Several feature sets over the same rows (the target table's own columns and DFS depths, or tsfresh
settings) give the search more ways to overfit the validation folds than one table does: on a few hundred
rows the best-scoring candidate on synthesized columns is often only luckier. So when a candidate on
fewer input columns scores within one standard error of the best on the same folds, it is selected
instead (Breiman's one-standard-error rule). The error is that of the mean paired fold difference,
corrected for the overlap of training sets in (repeated) k-fold, as Nadeau and Bengio (2003) derive:
var = (1/J + n_test/n_train) * s^2 over J folds, n_test/n_train = 1/(k-1).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # the leaderboard ranks with this module
    from search.leaderboard import TrialRecord
    from search.metrics import Metric


def noise_margin(differences: Sequence[float], folds_per_repeat: int) -> float:
    """One corrected standard error of the mean of paired fold differences; inf when it cannot be estimated."""
    d = np.asarray(differences, dtype=np.float64)
    if len(d) < 2 or folds_per_repeat < 2 or not np.isfinite(d).all():
        return math.inf
    return float(math.sqrt((1.0 / len(d) + 1.0 / (folds_per_repeat - 1)) * np.var(d, ddof=1)))


def within_noise(best: TrialRecord, other: TrialRecord, metric: Metric, folds_per_repeat: int) -> bool:
    """Whether `other` scores within one corrected standard error of `best` on the same folds."""
    if len(other.fold_scores) != len(best.fold_scores) or len(best.fold_scores) < 2:
        return False
    gap = [metric.loss(o) - metric.loss(b) for o, b in zip(other.fold_scores, best.fold_scores)]
    margin = noise_margin(gap, folds_per_repeat)
    return math.isfinite(margin) and float(np.mean(gap)) <= margin


def columns_used(record: TrialRecord, view_columns: Mapping[str, int]) -> int:
    """Input columns of the widest feature set `record` trains on (a combination lists its members' sets)."""
    return max(view_columns.get(view, max(view_columns.values(), default=0)) for view in record.features.split("+"))


def prefer_simpler(
    ranked: list[TrialRecord], metric: Metric, view_columns: Mapping[str, int], folds_per_repeat: int
) -> list[TrialRecord]:
    """`ranked` (best first) with the candidate on the fewest columns within noise of the best moved to the front.

    Only complete candidates that pass the declared criteria as the best does compete; ties keep rank order.
    """
    if len(set(view_columns.values())) < 2 or not ranked or not ranked[0].ok or ranked[0].partial:
        return ranked
    best = ranked[0]
    width: Callable[[TrialRecord], int] = lambda r: columns_used(r, view_columns)  # noqa: E731
    simpler = [
        r for r in ranked[1:]
        if r.ok and not r.partial and r.passed == best.passed and width(r) < width(best)
        and within_noise(best, r, metric, folds_per_repeat)
    ]
    if not simpler:
        return ranked
    chosen = min(simpler, key=width)  # min keeps the first, best-ranked, of equally narrow ones
    return [chosen] + [r for r in ranked if r is not chosen]


__all__ = ["columns_used", "noise_margin", "prefer_simpler", "within_noise"]
