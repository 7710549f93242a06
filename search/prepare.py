"""A table made ready for a search the way `automl.fit` does it: profile, metric, task, encoded target, splits.

`automl.fit` encodes its target with `encode_target`; benchmarks that score configurations outside a
search (`python -m benchmarks.portfolio`) start from `prepare_table`, so neither restates the steps.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from backends.contracts import TaskType
from backends.errors import SearchError
from features.profile import DataProfile, profile
from search.metrics import get_metric
from search.splits import make_splits
from search.task import SearchData, Task


def encode_target(y: pd.Series, prof: DataProfile) -> np.ndarray:
    """The label as the search sees it: class codes in the profile's class order, or float64 values."""
    if prof.task.is_classification:
        codes = pd.Categorical(y, categories=list(prof.classes or ())).codes
        if (codes < 0).any():
            raise SearchError("Internal error: a target value is not among the profiled classes; please report this.")
        return codes.astype(np.int64)
    return y.to_numpy(dtype=np.float64)


def prepare_table(frame: pd.DataFrame, target: str, *, seed: int, metric: str | None = None,
                  task: TaskType | str | None = None) -> tuple[Task, SearchData]:
    """(task, search data) of one table: profiled, its target encoded, split by the engine's own `make_splits`."""
    prof = profile(frame, target, task)  # a missing target is its DataError, with the close column names
    the_metric = get_metric(metric, prof.task)
    the_task = Task(type=prof.task, metrics=(the_metric,), criteria=(), n_classes=len(prof.classes or ()), seed=seed)
    y = encode_target(frame[target], prof)
    return the_task, SearchData.table(frame[prof.feature_columns], y, prof, make_splits(y, prof.task, seed))
