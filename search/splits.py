"""Validation splits shared by every candidate, so their scores compare fairly."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from sklearn.model_selection import KFold, RepeatedKFold, RepeatedStratifiedKFold, StratifiedKFold, train_test_split

from backends.contracts import TaskType

if TYPE_CHECKING:
    from search.budget import Budget

Split = tuple[np.ndarray, np.ndarray]

# k-fold while the data is small enough for k fits per trial; holdout beyond
KFOLD_MAX_ROWS = 50_000
HOLDOUT_FRACTION = 0.2
# repeat k-fold on small data, where one k-fold ranking is noisy and a fit is cheap:
# up to this many cells (rows x columns) per 60 s of budget for 3 repeats, twice as many for 2
REPEAT_CELLS_PER_MINUTE = 40_000
MAX_REPEATS = 3
# on big data each trial first fits on a row sample of the training fold (a cheap screen)
SCREEN_MIN_TRAIN_ROWS = 40_000
SCREEN_FRACTION = 0.125
SCREEN_MIN_ROWS = 10_000


def n_folds_for(n_rows: int) -> int:
    """Folds by data size: 5 up to 10k rows, 3 up to 50k, 1 (a holdout) beyond."""
    if n_rows <= 10_000:
        return 5
    if n_rows <= KFOLD_MAX_ROWS:
        return 3
    return 1


def n_repeats_for(n_rows: int, n_columns: int, budget: Budget) -> int:
    """Repeats of 5-fold: 3 on small, cheap data when the budget allows, 2 on somewhat larger, else 1."""
    if n_folds_for(n_rows) != 5:
        return 1
    cells_allowed = REPEAT_CELLS_PER_MINUTE * budget.seconds / 60.0
    cells = n_rows * max(1, n_columns)
    if cells <= cells_allowed:
        return MAX_REPEATS
    if cells <= 2 * cells_allowed:
        return 2
    return 1


def make_splits(y: np.ndarray, task: TaskType, seed: int, n_folds: int | None = None, n_repeats: int = 1) -> list[Split]:
    """Stratified (classification) k-fold, repeated `n_repeats` times, or a holdout, as (train_idx, valid_idx) pairs.

    Repeats come one after the other: the first k pairs are one complete k-fold.
    """
    n = len(y)
    k = n_folds_for(n) if n_folds is None else n_folds
    stratify = task.is_classification
    if stratify:
        # a class needs one row per fold; shrink k rather than fail on rare classes
        k = max(2, min(k, int(np.bincount(y.astype(int)).min()))) if k > 1 else k
    idx = np.arange(n)
    if k == 1:
        train, valid = train_test_split(
            idx, test_size=HOLDOUT_FRACTION, random_state=seed, stratify=y if stratify else None
        )
        return [(np.sort(train), np.sort(valid))]
    if n_repeats > 1:
        cls = RepeatedStratifiedKFold if stratify else RepeatedKFold
        splitter = cls(n_splits=k, n_repeats=n_repeats, random_state=seed)
    else:
        splitter = StratifiedKFold(k, shuffle=True, random_state=seed) if stratify else KFold(k, shuffle=True, random_state=seed)
    return [(train, valid) for train, valid in splitter.split(idx, y if stratify else None)]


def screen_split(splits: list[Split], y: np.ndarray, task: TaskType, seed: int) -> Split | None:
    """A row sample of the first training fold, scored on its validation rows; None when the data is small.

    Trials fit on it first, so successive halving can stop weak candidates for an eighth of a full fit.
    """
    train, valid = splits[0]
    if len(train) < SCREEN_MIN_TRAIN_ROWS:
        return None
    size = max(SCREEN_MIN_ROWS, int(len(train) * SCREEN_FRACTION))
    stratify = y[train] if task.is_classification and np.bincount(y[train].astype(int)).min() >= 2 else None
    sample, _ = train_test_split(train, train_size=size, random_state=seed, stratify=stratify)
    return np.sort(sample), valid
