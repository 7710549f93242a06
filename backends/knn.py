"""k-nearest neighbours on the "dense" recipe (imputed, clipped, standardized inputs).

Neighbours win where trees do not: many classes on few rows, and smooth, wide numeric data
(pixels, spectra, assays). Brute-force search keeps the saved model plain arrays (no tree
object), and is the fastest exact method on wide data anyway. Prediction costs grow with the
training rows, so at most `MAX_ROWS` of them are kept (a seeded, class-stratified sample).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split
from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor
from threadpoolctl import threadpool_limits

from backends._common import expand_proba
from backends._skops import SkopsModel
from backends.contracts import Backend, Deadline, FitContext, FitInfo, FitPlan, Model, TaskType
from backends.registry import register

if TYPE_CHECKING:
    from collections.abc import Mapping

    from optuna.distributions import BaseDistribution

MAX_ROWS = 20_000  # training rows kept: each prediction compares against all of them


class KNNModel(SkopsModel):
    """A fitted neighbours model; class probabilities are shrunk toward uniform by one pseudo-neighbour."""

    backend: ClassVar[str] = "knn"
    estimator_types: ClassVar[frozenset[str]] = frozenset({"KNeighborsClassifier", "KNeighborsRegressor"})

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """(n, k) probabilities or (n,) values. A vote share of 0 would cost log-loss infinity, so one uniform
        pseudo-neighbour is mixed in: probability k/(k+1) on the votes, 1/(k+1) spread evenly."""
        values = X.to_numpy(dtype=np.float32)  # fitted on an array: the column names were checked upstream
        with threadpool_limits(limits=max(1, int(self.estimator.n_jobs or 1)), user_api="blas"):
            if not self.task.is_classification:
                return np.asarray(self.estimator.predict(values), dtype=np.float64).reshape(-1)
            proba = expand_proba(self.estimator.predict_proba(values), self.estimator.classes_, self.n_classes)
        k = int(self.estimator.n_neighbors)
        return proba * (k / (k + 1.0)) + 1.0 / ((k + 1.0) * proba.shape[1])


def _row_cap(X: pd.DataFrame, y: np.ndarray, ctx: FitContext) -> tuple[pd.DataFrame, np.ndarray]:
    """At most `MAX_ROWS` training rows: a seeded sample, stratified when every class has two rows to split."""
    if len(X) <= MAX_ROWS:
        return X, y
    counts = np.bincount(y) if ctx.task.is_classification else None
    stratify = y if counts is not None and counts[counts > 0].min() >= 2 else None
    keep, _ = train_test_split(np.arange(len(X)), train_size=MAX_ROWS, random_state=ctx.seed, stratify=stratify)
    keep = np.sort(keep)
    return X.iloc[keep], y[keep]


@register
class KNNBackend(Backend):
    """k-nearest neighbours (Euclidean): the number of neighbours and the vote weights searched."""

    name: ClassVar[str] = "knn"
    recipe: ClassVar[str] = "dense"
    tasks: ClassVar[frozenset[TaskType]] = frozenset(TaskType)
    relative_cost: ClassVar[float] = 0.5

    def search_space(self, ctx: FitContext) -> dict[str, BaseDistribution]:
        """k from 1 to 100 (at most a third of the rows), uniform or distance weights. Euclidean distance only: it is
        one matrix product (measured 0.25 s for 1.3k x 5.2k rows x 750 columns), Manhattan took 12x as long."""
        from optuna.distributions import CategoricalDistribution, IntDistribution  # lazily: load and predict never need optuna

        k_high = int(min(100, max(2, ctx.n_rows // 3)))
        return {
            "n_neighbors": IntDistribution(1, k_high, log=True),
            "weights": CategoricalDistribution(("uniform", "distance")),
        }

    def _portfolio(self, ctx: FitContext) -> list[dict[str, Any]]:
        """AutoGluon's two (k=10, distance and uniform), then a wider, smoother vote for probabilities."""
        return [
            {"n_neighbors": 10, "weights": "distance"},
            {"n_neighbors": 10, "weights": "uniform"},
            {"n_neighbors": 30, "weights": "distance"},
        ]

    def _fit(self, X: pd.DataFrame, y: np.ndarray, p: dict[str, Any], ctx: FitContext, deadline: Deadline, plan: FitPlan) -> Model:
        """Store (a sample of) the rows; there is nothing to iterate, so neither the deadline nor rounds apply."""
        X, y = _row_cap(X, y, ctx)
        k = int(min(int(p["n_neighbors"]), len(X)))
        cls = KNeighborsClassifier if ctx.task.is_classification else KNeighborsRegressor
        est = cls(n_neighbors=k, weights=str(p["weights"]), algorithm="brute", n_jobs=ctx.n_jobs)
        est.fit(X.to_numpy(dtype=np.float32), y)
        return KNNModel(est, ctx.task, plan.n_classes, FitInfo(extra={"rows_kept": len(X)}))

    def load(self, directory: Path, meta: Mapping[str, Any]) -> Model:
        """Read `model.skops` through the allowlisting loader."""
        return KNNModel.load_model(directory, meta)
