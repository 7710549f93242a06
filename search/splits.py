"""Validation splits shared by every candidate, so their scores compare fairly."""

from __future__ import annotations

import numpy as np
from sklearn.model_selection import KFold, StratifiedKFold, train_test_split

from backends.contracts import TaskType

Split = tuple[np.ndarray, np.ndarray]

# k-fold while the data is small enough for k fits per trial; holdout beyond
KFOLD_MAX_ROWS = 50_000
HOLDOUT_FRACTION = 0.2


def n_folds_for(n_rows: int) -> int:
    """Folds by data size: 5 up to 10k rows, 3 up to 50k, 1 (a holdout) beyond."""
    if n_rows <= 10_000:
        return 5
    if n_rows <= KFOLD_MAX_ROWS:
        return 3
    return 1


def make_splits(y: np.ndarray, task: TaskType, seed: int, n_folds: int | None = None) -> list[Split]:
    """Stratified (classification) k-fold or holdout splits as (train_idx, valid_idx) pairs."""
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
    splitter = StratifiedKFold(k, shuffle=True, random_state=seed) if stratify else KFold(k, shuffle=True, random_state=seed)
    return [(train, valid) for train, valid in splitter.split(idx, y if stratify else None)]
