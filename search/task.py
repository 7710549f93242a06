"""What one search optimizes: the task, its metrics and criteria, the data and its folds."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from backends.contracts import Device, FitContext, TaskType
from features.profile import DataProfile
from search.criteria import Criterion
from search.metrics import Metric
from search.splits import Split


@dataclass(frozen=True)
class Task:
    """The declared goal: primary metric (first of `metrics`), extra metrics, success criteria."""

    type: TaskType
    metrics: tuple[Metric, ...]
    criteria: tuple[Criterion, ...]
    n_classes: int
    seed: int = 0

    @property
    def metric(self) -> Metric:
        return self.metrics[0]


TABLE_VIEW = "table"  # the name of the view of a plain table: its own columns, nothing synthesized

# Fits a column subset on a training fold: (fold's feature columns, fold's targets) -> kept column names
Selector = Callable[[pd.DataFrame, np.ndarray], list[str]]


@dataclass(frozen=True)
class View:
    """One feature set the search may train on: its columns (one row per example) and their profile.

    A plain table has one view; related tables and time series have one per synthesis recipe
    (e.g. "dfs-d2", "ts-efficient"), all with the same rows in the same order. `select`, when
    set, picks columns on each training fold only (supervised selection must not see the
    validation rows).
    """

    X: pd.DataFrame
    profile: DataProfile
    select: Selector | None = None


@dataclass(frozen=True)
class SearchData:
    """The views (feature sets over the same rows), encoded targets, shared splits and, on big data, the screening split.

    `splits` holds `n_repeats` k-folds one after the other, so a prefix of k splits is one complete
    k-fold and the first split alone a holdout: the search may shrink the plan to such a prefix.
    """

    views: Mapping[str, View]
    y: np.ndarray
    splits: Sequence[Split]
    screen: Split | None = None
    n_repeats: int = 1
    k: int = 0  # folds of one repeat as the splits were made (0: len(splits) // n_repeats); kept when a plan shrinks

    @property
    def folds_per_repeat(self) -> int:
        return self.k or max(1, len(self.splits) // max(1, self.n_repeats))

    def first_folds(self, n: int) -> SearchData:
        """The same data validated on its first `n` splits only (n = k: one k-fold; fewer: n of its folds)."""
        k = self.folds_per_repeat
        return replace(self, splits=list(self.splits[:n]), n_repeats=max(1, n // k), k=k)

    def plan(self) -> dict[str, object]:
        """The validation plan in words and numbers, for the report."""
        n, k = len(self.splits), self.folds_per_repeat
        kind = "holdout" if n == 1 else "kfold" if n % k == 0 else "kfold-prefix"
        return {"kind": kind, "n_folds": k, "n_repeats": self.n_repeats, "used_folds": n}

    @classmethod
    def table(cls, X: pd.DataFrame, y: np.ndarray, profile: DataProfile, splits: Sequence[Split], screen: Split | None = None) -> SearchData:
        """Search data of a plain table: one view of its own columns."""
        return cls({TABLE_VIEW: View(X, profile)}, y, splits, screen)

    def context(self, task: Task, device: Device, n_jobs: int | None = None) -> FitContext:
        """The FitContext backends see: sized by one training fold and the widest view."""
        train_rows = len(self.splits[0][0])
        return FitContext(
            task=task.type,
            n_rows=train_rows,
            n_features=max(len(v.profile.feature_columns) for v in self.views.values()),
            n_classes=task.n_classes,
            seed=task.seed,
            device=device,
            n_jobs=n_jobs or os.cpu_count() or 1,
        )
