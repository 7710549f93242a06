"""LightGBM family via the native `lightgbm.train` API.

Input is the "native" recipe: float32 numeric columns plus pandas `category` columns with
fixed categories, which LightGBM splits on natively (the category lists are stored in the
model file, so prediction maps codes the same way after `load`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import lightgbm as lgb
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

_MAX_ROUNDS = 5000  # upper bound with an eval set; early stopping ends far sooner in practice
_FILE = "model.txt"

_OBJECTIVE = {
    TaskType.BINARY: ("binary", "binary_logloss"),
    TaskType.MULTICLASS: ("multiclass", "multi_logloss"),
    TaskType.REGRESSION: ("regression", "l2"),
}


class LightGBMModel(Model):
    """A LightGBM booster cut at its best round."""

    backend: ClassVar[str] = "lightgbm"

    def __init__(self, booster: lgb.Booster, task: TaskType, n_classes: int, n_rounds: int, info: FitInfo) -> None:
        self.booster = booster
        self.task = task
        self.n_classes = n_classes
        self.n_rounds = n_rounds  # rounds used for prediction and saved
        self.info = info

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """(n, k) probabilities for classification, (n,) values for regression, float64."""
        return shape_prediction(self.booster.predict(X, num_iteration=self.n_rounds), self.task, self.n_classes)

    def save(self, directory: Path) -> dict[str, Any]:
        """Write `model.txt` (only the rounds in use); return the metadata `load` needs."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        self.booster.save_model(str(directory / _FILE), num_iteration=self.n_rounds)
        return booster_meta(_FILE, self.task, self.n_classes, self.n_rounds, self.info) | {"lightgbm_version": lgb.__version__}

    def size_bytes(self) -> int:
        """Length of the text model (rounds in use only)."""
        return len(self.booster.model_to_string(num_iteration=self.n_rounds))


class _Stopper:
    """One LightGBM callback for both early stopping on the eval set and the deadline.

    Merged so that a deadline cut still reports the best round seen so far, which the
    built-in `lgb.early_stopping` callback keeps private.
    """

    order = 30
    before_iteration = False

    def __init__(self, budget: IterationBudget, patience: int | None) -> None:
        self.budget = budget
        self.patience = patience
        self.best_iter = -1  # 0-based index of the best round so far
        self.best_score: float | None = None
        self.best_results: list[Any] = []
        self.last_iter = -1

    def __call__(self, env: lgb.callback.CallbackEnv) -> None:
        self.last_iter = env.iteration
        results = env.evaluation_result_list or []
        if self.patience is not None and results:
            _, _, score, higher_better = next((r for r in results if r[0] == "valid"), results[0])[:4]
            score = -score if higher_better else score
            if self.best_score is None or score < self.best_score:
                self.best_score, self.best_iter, self.best_results = score, env.iteration, list(results)
            elif env.iteration - self.best_iter >= self.patience:
                raise lgb.callback.EarlyStopException(self.best_iter, self.best_results)
        if self.budget.step_done():
            best = self.best_iter if self.patience is not None and self.best_iter >= 0 else env.iteration
            raise lgb.callback.EarlyStopException(best, self.best_results or list(results))

    def rounds_used(self) -> int:
        """Number of rounds to keep: up to the best one with an eval set, else all trained."""
        if self.patience is not None and self.best_iter >= 0:
            return self.best_iter + 1
        return self.last_iter + 1


@register
class LightGBMBackend(Backend):
    """Gradient-boosted trees with native categorical splits; the reference cost of 1."""

    name: ClassVar[str] = "lightgbm"
    recipe: ClassVar[str] = "native"
    tasks: ClassVar[frozenset[TaskType]] = frozenset(TaskType)
    devices: ClassVar[frozenset[Device]] = frozenset({Device.CPU, Device.CUDA})
    relative_cost: ClassVar[float] = 1.0
    rounds_follow_learning_rate: ClassVar[bool] = True

    def _probe_cuda(self) -> Availability:
        """One round on the GPU: only a LightGBM built with -DUSE_CUDA=ON has CUDA (the PyPI wheel never has)."""
        data = lgb.Dataset(np.arange(64, dtype=np.float64).reshape(32, 2), label=np.arange(32) % 2)
        try:
            lgb.train({"device_type": "cuda", "objective": "binary", "verbose": -1, "min_data_in_leaf": 1}, data, num_boost_round=1)
        except lgb.basic.LightGBMError as exc:
            if "not enabled in this build" not in str(exc):
                raise
            return Availability(False, "this LightGBM build has no CUDA support (the PyPI wheel never has; build it with -DUSE_CUDA=ON)")
        return Availability(True)

    def search_space(self, ctx: FitContext) -> dict[str, BaseDistribution]:
        """The usual LightGBM knobs; tree size and leaf minimum shrink with tiny data."""
        from optuna.distributions import FloatDistribution, IntDistribution  # lazily: load and predict never need optuna

        leaves_high = int(min(256, max(8, ctx.n_rows // 10)))
        child_high = int(min(100, max(4, ctx.n_rows // 4)))
        return {
            "learning_rate": FloatDistribution(0.01, 0.3, log=True),
            "num_leaves": IntDistribution(4, leaves_high, log=True),
            "min_child_samples": IntDistribution(2, child_high, log=True),
            "feature_fraction": FloatDistribution(0.4, 1.0),
            "bagging_fraction": FloatDistribution(0.5, 1.0),
            "lambda_l1": FloatDistribution(1e-8, 10.0, log=True),
            "lambda_l2": FloatDistribution(1e-8, 10.0, log=True),
        }

    def _defaults(self, ctx: FitContext) -> dict[str, Any]:
        """`lightgbm.train`'s own defaults (no regularization: the space's floor of 1e-8), clipped to tiny data."""
        config = {"learning_rate": 0.1, "num_leaves": 31, "min_child_samples": 20, "feature_fraction": 1.0,
                  "bagging_fraction": 1.0, "lambda_l1": 1e-8, "lambda_l2": 1e-8}
        return config

    def _portfolio(self, ctx: FitContext) -> list[dict[str, Any]]:
        """Default, a regularized variant, then AutoGluon's "GBMLarge" (by rising cost)."""
        configs = [
            {
                "learning_rate": 0.1,
                "num_leaves": 31,
                "min_child_samples": 20,
                "feature_fraction": 0.9,
                "bagging_fraction": 1.0,
                "lambda_l1": 1e-8,
                "lambda_l2": 1e-8,
            },
            {
                "learning_rate": 0.05,
                "num_leaves": 15,
                "min_child_samples": 40,
                "feature_fraction": 0.7,
                "bagging_fraction": 0.8,
                "lambda_l1": 1e-8,
                "lambda_l2": 1.0,
            },
            {
                "learning_rate": 0.05,
                "num_leaves": 128,
                "min_child_samples": 5,
                "feature_fraction": 0.9,
                "bagging_fraction": 1.0,
                "lambda_l1": 1e-8,
                "lambda_l2": 1e-8,
            },
        ]
        return configs

    def _params(self, p: Mapping[str, Any], ctx: FitContext, k: int) -> dict[str, Any]:
        objective, metric = _OBJECTIVE[ctx.task]
        params: dict[str, Any] = {
            "objective": objective,
            "metric": metric,
            "learning_rate": float(p["learning_rate"]),
            "num_leaves": int(p["num_leaves"]),
            "min_child_samples": int(p["min_child_samples"]),
            "feature_fraction": float(p["feature_fraction"]),
            "bagging_fraction": float(p["bagging_fraction"]),
            # bagging only happens with a positive frequency
            "bagging_freq": 1 if float(p["bagging_fraction"]) < 1.0 else 0,
            "lambda_l1": float(p["lambda_l1"]),
            "lambda_l2": float(p["lambda_l2"]),
            "num_threads": ctx.n_jobs,
            "seed": ctx.seed,
            "deterministic": True,
            # LightGBM asks for a forced histogram layout with deterministic=True; it also skips the timing probe
            "force_col_wise": True,
            "verbose": -1,
        }
        if ctx.device is Device.CUDA:
            params |= {"device_type": "cuda", "gpu_device_id": ctx.gpu}
        if ctx.task is TaskType.MULTICLASS:
            params["num_class"] = k
        return params

    def _fit(self, X: pd.DataFrame, y: np.ndarray, p: dict[str, Any], ctx: FitContext, deadline: Deadline, plan: FitPlan) -> Model:
        """Boost until early stopping on `eval_set`, exactly `n_iterations` rounds, or a default count."""
        k = plan.n_classes
        lgb_params = self._params(p, ctx, k)
        rounds, patience = round_plan(plan.n_iterations, plan.eval_set is not None, lgb_params["learning_rate"], ctx.n_rows, _MAX_ROUNDS)

        dtrain = lgb.Dataset(X, label=y, params=lgb_params, free_raw_data=True)
        valid_sets: list[lgb.Dataset] = []
        if plan.eval_set is not None:
            X_val, y_val = plan.eval_set
            valid_sets = [lgb.Dataset(X_val, label=y_val, reference=dtrain, params=lgb_params)]
        # bin the data before the clock starts so round timings reflect boosting alone
        dtrain.construct()
        for ds in valid_sets:
            ds.construct()

        stopper = _Stopper(IterationBudget(deadline), patience)
        booster = lgb.train(
            lgb_params,
            dtrain,
            num_boost_round=rounds,
            valid_sets=valid_sets,
            valid_names=["valid"] * len(valid_sets),
            callbacks=[stopper],
        )
        used = stopper.rounds_used()
        truncated = stopper.budget.stopped
        if truncated:
            logger.info("lightgbm stopped after %d of %d rounds: deadline", stopper.last_iter + 1, rounds)
        extra = {"rounds_trained": stopper.last_iter + 1}
        if stopper.best_score is not None:
            extra["best_score"] = float(stopper.best_score)
        info = FitInfo(n_iterations=used, truncated=truncated, extra=extra)
        return LightGBMModel(booster, ctx.task, k, used, info)

    def load(self, directory: Path, meta: Mapping[str, Any]) -> Model:
        """Read `model.txt` (plain text trees; nothing is executed)."""
        task, k = task_from_meta(meta)
        path = model_path(directory, meta, _FILE)
        try:
            booster = lgb.Booster(model_file=str(path))
        except lgb.basic.LightGBMError as exc:
            raise PackageError(f"Could not read {path.name} ({exc}); the package is corrupt.") from exc
        rounds = booster.current_iteration()
        n_iter = meta.get("n_iterations")
        info = FitInfo(n_iterations=int(n_iter) if n_iter is not None else rounds, truncated=bool(meta.get("truncated")))
        return LightGBMModel(booster, task, k, rounds, info)
