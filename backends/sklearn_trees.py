"""Randomized tree ensembles from scikit-learn: ExtraTrees and RandomForest.

Both grow up to `_MAX_TREES` trees with `warm_start` in chunks and check the deadline
between chunks, so a slow forest is cut short (with `info.truncated`) rather than
overrunning the budget. The two families differ only in their estimator classes.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import pandas as pd
from joblib import effective_n_jobs
from sklearn.ensemble import (
    ExtraTreesClassifier,
    ExtraTreesRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)

from backends._common import IterationBudget
from backends._skops import SkopsModel
from backends.contracts import Backend, Deadline, FitContext, FitInfo, FitPlan, Model, TaskType
from backends.registry import register

if TYPE_CHECKING:
    from optuna.distributions import BaseDistribution

logger = logging.getLogger(__name__)

_MAX_TREES = 300
_MIN_BLOCK_ROWS = 2000  # predict rows per thread below which threading costs more than it saves
_MIN_PARALLEL_ROWS = 1000  # training rows below which one thread grows trees faster than several
_CHUNK = 25  # trees per warm-start step: fine enough to stop near the deadline, coarse enough to stay parallel


class _ForestModel(SkopsModel):
    """A fitted forest; `info.n_iterations` is the number of trees grown.

    scikit-learn's parallel predict adds the trees' outputs in thread-completion order,
    so repeated predictions differ in the last bits. We predict with one job per block
    of rows instead: parallel, yet bit-for-bit reproducible.
    """

    def __init__(self, estimator: Any, task: TaskType, n_classes: int, info: FitInfo, n_jobs: int = 1) -> None:
        super().__init__(estimator, task, n_classes, info)
        self.n_jobs = int(n_jobs)
        estimator.n_jobs = 1  # only used by predict from here on

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """As `SkopsModel.predict`, split over row blocks when there are enough rows."""
        jobs = min(effective_n_jobs(self.n_jobs), len(X) // _MIN_BLOCK_ROWS)
        if jobs <= 1:
            return super().predict(X)
        bounds = np.linspace(0, len(X), jobs + 1).astype(int)
        blocks = [X.iloc[a:b] for a, b in zip(bounds[:-1], bounds[1:])]
        predict_block = super().predict
        with ThreadPoolExecutor(max_workers=jobs) as pool:  # tree traversal releases the GIL
            return np.concatenate(list(pool.map(predict_block, blocks)), axis=0)

    def save(self, directory: Path) -> dict[str, Any]:
        """As `SkopsModel.save`, also recording the prediction parallelism."""
        return {**super().save(directory), "n_jobs": self.n_jobs}

    @classmethod
    def load_model(cls, directory: Path, meta: Mapping[str, Any]) -> SkopsModel:
        """As `SkopsModel.load_model`, restoring the prediction parallelism."""
        model = super().load_model(directory, meta)
        assert isinstance(model, _ForestModel)
        model.n_jobs = int(meta.get("n_jobs", 1))
        return model


class ExtraTreesModel(_ForestModel):
    backend: ClassVar[str] = "extra_trees"
    estimator_types: ClassVar[frozenset[str]] = frozenset({"ExtraTreesClassifier", "ExtraTreesRegressor"})


class RandomForestModel(_ForestModel):
    backend: ClassVar[str] = "random_forest"
    estimator_types: ClassVar[frozenset[str]] = frozenset({"RandomForestClassifier", "RandomForestRegressor"})


class _ForestBackend(Backend):
    """Shared search space, portfolio and chunked fit of the two forest families."""

    recipe: ClassVar[str] = "dense"
    tasks: ClassVar[frozenset[TaskType]] = frozenset(TaskType)
    classifier: ClassVar[type]
    regressor: ClassVar[type]
    model_cls: ClassVar[type[_ForestModel]]

    def search_space(self, ctx: FitContext) -> dict[str, BaseDistribution]:
        """Features tried per split and the minimum leaf size (capped on tiny data)."""
        from optuna.distributions import CategoricalDistribution, IntDistribution  # lazily: load and predict never need optuna

        leaf_high = int(min(20, max(2, ctx.n_rows // 10)))
        return {
            "max_features": CategoricalDistribution(["sqrt", 0.5, 1.0]),
            "min_samples_leaf": IntDistribution(1, leaf_high, log=True),
        }

    def _portfolio(self, ctx: FitContext) -> list[dict[str, Any]]:
        """A cheap near-default first (sqrt / 0.5 features), then a smoother or wider variant."""
        if ctx.task.is_classification:
            configs = [
                {"max_features": "sqrt", "min_samples_leaf": 1},
                {"max_features": 0.5, "min_samples_leaf": 2},
            ]
        else:
            # 0.5 is cheaper than the sklearn regression default (1.0) and usually as good
            configs = [
                {"max_features": 0.5, "min_samples_leaf": 1},
                {"max_features": 1.0, "min_samples_leaf": 3},
            ]
        return configs

    def _fit(self, X: pd.DataFrame, y: np.ndarray, p: dict[str, Any], ctx: FitContext, deadline: Deadline, plan: FitPlan) -> Model:
        """Grow trees chunk by chunk until `n_iterations` (default 300) or the deadline.

        Forests do not early-stop, so `eval_set` is ignored; at least one chunk is grown.
        """
        k = plan.n_classes
        target = plan.n_iterations if plan.n_iterations is not None else _MAX_TREES
        cls = self.classifier if ctx.task.is_classification else self.regressor
        # on small data thread start-up costs more than the trees; each thread gets >= 4 trees per chunk
        jobs = 1 if len(X) < _MIN_PARALLEL_ROWS else int(effective_n_jobs(ctx.n_jobs))
        chunk = max(_CHUNK, 4 * jobs)
        est = cls(
            n_estimators=0,
            max_features=p["max_features"],
            min_samples_leaf=int(p["min_samples_leaf"]),
            n_jobs=jobs,
            random_state=ctx.seed,
            warm_start=True,
        )
        budget = IterationBudget(deadline)
        truncated = False
        while est.n_estimators < target:
            est.n_estimators = min(target, est.n_estimators + chunk)
            est.fit(X, y)
            if est.n_estimators < target and budget.step_done():
                truncated = True
                logger.info("%s stopped at %d trees: deadline", self.name, est.n_estimators)
                break
        info = FitInfo(n_iterations=int(est.n_estimators), truncated=truncated)
        return self.model_cls(est, ctx.task, k, info, n_jobs=ctx.n_jobs)

    def load(self, directory: Path, meta: Mapping[str, Any]) -> Model:
        """Read `model.skops` through the allowlisting loader."""
        return self.model_cls.load_model(directory, meta)


@register
class ExtraTreesBackend(_ForestBackend):
    """Extremely randomized trees: cheaper splits, lower variance than a random forest."""

    name: ClassVar[str] = "extra_trees"
    relative_cost: ClassVar[float] = 2.0
    classifier = ExtraTreesClassifier
    regressor = ExtraTreesRegressor
    model_cls = ExtraTreesModel


@register
class RandomForestBackend(_ForestBackend):
    """Bootstrap-aggregated CART trees with random feature subsets."""

    name: ClassVar[str] = "random_forest"
    relative_cost: ClassVar[float] = 3.0
    classifier = RandomForestClassifier
    regressor = RandomForestRegressor
    model_cls = RandomForestModel
