"""What one search optimizes: the task, its metrics and criteria, the data and its folds."""

from __future__ import annotations

import os
from collections.abc import Sequence
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


@dataclass(frozen=True)
class SearchData:
    """Raw feature columns, encoded targets, the shared splits and, on big data, the screening split."""

    X: pd.DataFrame
    y: np.ndarray
    profile: DataProfile
    splits: Sequence[Split]
    screen: Split | None = None

    def context(self, task: Task, device: Device, n_jobs: int | None = None) -> FitContext:
        """The FitContext backends see: sized by one training fold."""
        train_rows = len(self.splits[0][0])
        return FitContext(
            task=task.type,
            n_rows=train_rows,
            n_features=len(self.profile.feature_columns),
            n_classes=task.n_classes,
            seed=task.seed,
            device=device,
            n_jobs=n_jobs or os.cpu_count() or 1,
        )


def full_data_context(ctx: FitContext, n_rows: int) -> FitContext:
    """The same context sized for a refit on all `n_rows` rows."""
    return replace(ctx, n_rows=n_rows)
