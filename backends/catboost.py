"""CatBoost family: symmetric (oblivious) trees with ordered target statistics for categories, CPU or CUDA.

Input is the "native" recipe; its pandas `category` columns (levels fixed on the training fold)
reach CatBoost as integer codes (-1 for missing or unseen), declared as categorical features.
Models are saved in CatBoost's own binary `.cbm` format: no pickle, nothing executed on load.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import catboost as cb
import numpy as np
import pandas as pd

from backends._common import (
    IterationBudget,
    booster_meta,
    model_path,
    round_plan,
    shape_prediction,
    task_from_meta,
)
from backends.contracts import Availability, Backend, Deadline, Device, FitContext, FitInfo, FitPlan, Model, TaskType
from backends.errors import PackageError
from backends.registry import register

if TYPE_CHECKING:
    from optuna.distributions import BaseDistribution

logger = logging.getLogger(__name__)

_FILE = "model.cbm"
_MAX_ROUNDS = 5000  # upper bound with an eval set; early stopping ends far sooner in practice
_LOSS = {TaskType.BINARY: "Logloss", TaskType.MULTICLASS: "MultiClass", TaskType.REGRESSION: "RMSE"}


def _pool(X: pd.DataFrame, y: np.ndarray | None = None) -> cb.Pool:
    """`X` as a CatBoost pool: category columns as integer codes declared categorical, numerics as they are."""
    cats = [i for i, dtype in enumerate(X.dtypes) if isinstance(dtype, pd.CategoricalDtype)]
    if cats:
        X = X.copy()
        for col in X.columns[cats]:
            X[col] = X[col].cat.codes.astype(np.int32)
    return cb.Pool(X, label=y, cat_features=cats or None)


class CatBoostModel(Model):
    """A CatBoost model cut at its best round."""

    backend: ClassVar[str] = "catboost"

    def __init__(self, model: cb.CatBoost, task: TaskType, n_classes: int, info: FitInfo) -> None:
        self.model = model
        self.task = task
        self.n_classes = n_classes
        self.info = info

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """(n, k) probabilities for classification, (n,) values for regression, float64."""
        kind = "Probability" if self.task.is_classification else "RawFormulaVal"
        raw = np.asarray(self.model.predict(_pool(X), prediction_type=kind, thread_count=-1), dtype=np.float64)
        if self.task is TaskType.BINARY:
            raw = raw[:, 1]
        return shape_prediction(raw, self.task, self.n_classes)

    def save(self, directory: Path) -> dict[str, Any]:
        """Write `model.cbm`; return the metadata `load` needs."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        self.model.save_model(str(directory / _FILE), format="cbm")
        rounds = int(self.model.tree_count_)
        return booster_meta(_FILE, self.task, self.n_classes, rounds, self.info) | {"catboost_version": cb.__version__}

    def size_bytes(self) -> int:
        """Length of the `.cbm` serialization."""
        return len(self.model._serialize_model())


class _Deadline:
    """A CatBoost callback that ends training when the next round would pass the deadline."""

    def __init__(self, budget: IterationBudget) -> None:
        self.budget = budget
        self.rounds = 0

    def after_iteration(self, info: Any) -> bool:
        self.rounds += 1
        return not self.budget.step_done()  # CatBoost goes on while this is True


@register
class CatBoostBackend(Backend):
    """Oblivious gradient-boosted trees with ordered categorical statistics, CPU or CUDA."""

    name: ClassVar[str] = "catboost"
    recipe: ClassVar[str] = "native"
    tasks: ClassVar[frozenset[TaskType]] = frozenset(TaskType)
    devices: ClassVar[frozenset[Device]] = frozenset({Device.CPU, Device.CUDA})
    relative_cost: ClassVar[float] = 2.0
    rounds_follow_learning_rate: ClassVar[bool] = True

    def _probe_cuda(self) -> Availability:
        """Two rounds on the GPU (the PyPI wheel carries CUDA kernels; a driver mismatch shows here)."""
        data = cb.Pool(np.arange(64, dtype=np.float32).reshape(32, 2), label=np.arange(32) % 2)
        cb.CatBoost({"task_type": "GPU", "devices": "0", "iterations": 2, "logging_level": "Silent",
                     "allow_writing_files": False}).fit(data)
        return Availability(True)

    def search_space(self, ctx: FitContext) -> dict[str, BaseDistribution]:
        """Learning rate, tree depth, L2 leaf regularization and split-score noise."""
        from optuna.distributions import FloatDistribution, IntDistribution  # lazily: load and predict never need optuna

        return {
            "learning_rate": FloatDistribution(0.01, 0.3, log=True),
            "depth": IntDistribution(3, 10),
            "l2_leaf_reg": FloatDistribution(1.0, 30.0, log=True),
            "random_strength": FloatDistribution(0.1, 10.0, log=True),
        }

    def _portfolio(self, ctx: FitContext) -> list[dict[str, Any]]:
        """CatBoost's defaults at a faster rate (depth 6, l2 3), then AutoGluon's deeper, slower variant."""
        return [
            {"learning_rate": 0.08, "depth": 6, "l2_leaf_reg": 3.0, "random_strength": 1.0},
            {"learning_rate": 0.05, "depth": 8, "l2_leaf_reg": 6.0, "random_strength": 1.0},
        ]

    def _params(self, p: Mapping[str, Any], ctx: FitContext, k: int, rounds: int) -> dict[str, Any]:
        params: dict[str, Any] = {
            "loss_function": _LOSS[ctx.task],
            "iterations": rounds,
            "learning_rate": float(p["learning_rate"]),
            "depth": int(p["depth"]),
            "l2_leaf_reg": float(p["l2_leaf_reg"]),
            "random_strength": float(p["random_strength"]),
            "random_seed": ctx.seed,
            "thread_count": ctx.n_jobs,
            "logging_level": "Silent",
            "allow_writing_files": False,  # no catboost_info/ folder in the user's directory
        }
        if ctx.task.is_classification:
            params["class_names"] = list(range(k))  # a fold may lack a class: keep all k columns
        if ctx.device is Device.CUDA:
            params |= {"task_type": "GPU", "devices": str(ctx.gpu)}
        return params

    def _fit(self, X: pd.DataFrame, y: np.ndarray, p: dict[str, Any], ctx: FitContext, deadline: Deadline, plan: FitPlan) -> Model:
        """Boost until early stopping on the eval set, exactly the planned rounds, or a default count."""
        k = plan.n_classes
        rounds, patience = round_plan(plan.n_iterations, plan.eval_set is not None, float(p["learning_rate"]), ctx.n_rows, _MAX_ROUNDS)
        params = self._params(p, ctx, k, rounds)
        eval_pool = None
        if plan.eval_set is not None:
            eval_pool = _pool(*plan.eval_set)
            params |= {"od_type": "Iter", "od_wait": patience, "use_best_model": True}
        model = cb.CatBoost(params)
        stopper = _Deadline(IterationBudget(deadline))
        model.fit(_pool(X, y), eval_set=eval_pool, callbacks=[stopper])
        truncated = stopper.budget.stopped
        if truncated:
            logger.info("catboost stopped after %d of %d rounds: deadline", stopper.rounds, rounds)
        used = int(model.tree_count_)  # use_best_model already cut the model at its best round
        extra: dict[str, Any] = {"rounds_trained": stopper.rounds}
        best = model.get_best_score().get("validation", {})
        if best:
            extra["best_score"] = float(next(iter(best.values())))
        return CatBoostModel(model, ctx.task, k, FitInfo(n_iterations=used, truncated=truncated, extra=extra))

    def load(self, directory: Path, meta: Mapping[str, Any]) -> Model:
        """Read `model.cbm` (CatBoost's own binary format; nothing is executed)."""
        task, k = task_from_meta(meta)
        path = model_path(directory, meta, _FILE)
        model = cb.CatBoost()
        try:
            model.load_model(str(path), format="cbm")
        except cb.CatBoostError as exc:
            raise PackageError(f"Could not read {path.name} ({exc}); the package is corrupt.") from exc
        n_iter = meta.get("n_iterations")
        info = FitInfo(n_iterations=int(n_iter) if n_iter is not None else int(model.tree_count_), truncated=bool(meta.get("truncated")))
        return CatBoostModel(model, task, k, info)
