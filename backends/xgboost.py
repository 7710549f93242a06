"""XGBoost family via the native `xgboost.train` API, on CPU or CUDA.

Input is the "native" recipe; pandas `category` columns are split on natively
(`enable_categorical=True`). Models are saved as UBJSON, XGBoost's own format.
"""

from __future__ import annotations

import json
import logging
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import pandas as pd
import xgboost as xgb

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

_MAX_ROUNDS = 5000
_FILE = "model.ubj"

_OBJECTIVE = {
    TaskType.BINARY: ("binary:logistic", "logloss"),
    TaskType.MULTICLASS: ("multi:softprob", "mlogloss"),
    TaskType.REGRESSION: ("reg:squarederror", "rmse"),
}


class XGBoostModel(Model):
    """An XGBoost booster holding exactly the rounds it predicts with."""

    backend: ClassVar[str] = "xgboost"

    def __init__(self, booster: xgb.Booster, task: TaskType, n_classes: int, info: FitInfo) -> None:
        self.booster = booster
        self.task = task
        self.n_classes = n_classes
        self.info = info

    @property
    def n_rounds(self) -> int:
        """Boosting rounds in the booster (all of them are used to predict)."""
        return int(self.booster.num_boosted_rounds())

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """(n, k) probabilities for classification, (n,) values for regression, float64."""
        dmat = xgb.DMatrix(X, enable_categorical=True)
        # explicit range: never depend on a stale best_iteration attribute
        return shape_prediction(self.booster.predict(dmat, iteration_range=(0, self.n_rounds)), self.task, self.n_classes)

    def save(self, directory: Path) -> dict[str, Any]:
        """Write `model.ubj`; return the metadata `load` needs."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        self.booster.save_model(str(directory / _FILE))
        return booster_meta(_FILE, self.task, self.n_classes, self.n_rounds, self.info) | {"xgboost_version": xgb.__version__}

    def size_bytes(self) -> int:
        """Size of the UBJSON serialization."""
        return len(self.booster.save_raw(raw_format="ubj"))


class _DeadlineCallback(xgb.callback.TrainingCallback):
    """Stops boosting when the next round would likely pass the deadline."""

    def __init__(self, budget: IterationBudget) -> None:
        super().__init__()
        self.budget = budget
        self.rounds = 0

    def before_iteration(self, model: Any, epoch: int, evals_log: Any) -> bool:
        # counted here: XGBoost skips later after_iteration hooks once EarlyStopping says stop
        self.rounds = epoch + 1
        return False

    def after_iteration(self, model: Any, epoch: int, evals_log: Any) -> bool:
        return self.budget.step_done()


def trained_device(booster: xgb.Booster) -> str:
    """The device a booster really trained on ("cpu", "cuda:0"): XGBoost falls back to CPU silently."""
    return str(json.loads(booster.save_config())["learner"]["generic_param"]["device"])


@register
class XGBoostBackend(Backend):
    """Depth-wise gradient-boosted trees (histogram method), CPU or CUDA."""

    name: ClassVar[str] = "xgboost"
    recipe: ClassVar[str] = "native"
    tasks: ClassVar[frozenset[TaskType]] = frozenset(TaskType)
    devices: ClassVar[frozenset[Device]] = frozenset({Device.CPU, Device.CUDA})
    relative_cost: ClassVar[float] = 1.5
    rounds_follow_learning_rate: ClassVar[bool] = True

    def _probe_cuda(self) -> Availability:
        """One round on the GPU with a CUDA build: XGBoost silently falls back to CPU when it cannot use it."""
        if not xgb.build_info().get("USE_CUDA", False):
            return Availability(False, "xgboost was built without CUDA support")
        dmat = xgb.DMatrix(np.zeros((4, 1), dtype=np.float32), label=np.array([0.0, 1.0, 0.0, 1.0]))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            booster = xgb.train({"device": "cuda", "tree_method": "hist", "verbosity": 0}, dmat, 1)
        if not trained_device(booster).startswith("cuda"):
            return Availability(False, "xgboost could not use the CUDA GPU and fell back to CPU")
        return Availability(True)

    def search_space(self, ctx: FitContext) -> dict[str, BaseDistribution]:
        """The usual XGBoost knobs; the leaf-weight minimum is capped on tiny data, and a GPU affords deeper trees."""
        from optuna.distributions import FloatDistribution, IntDistribution  # lazily: load and predict never need optuna

        mcw_high = float(min(50.0, max(2.0, ctx.n_rows / 10)))
        return {
            "learning_rate": FloatDistribution(0.01, 0.3, log=True),
            "max_depth": IntDistribution(2, 16 if ctx.device is Device.CUDA else 12),
            "min_child_weight": FloatDistribution(0.5, mcw_high, log=True),
            "subsample": FloatDistribution(0.5, 1.0),
            "colsample_bytree": FloatDistribution(0.4, 1.0),
            "reg_lambda": FloatDistribution(1e-8, 10.0, log=True),
            "reg_alpha": FloatDistribution(1e-8, 10.0, log=True),
        }

    def _defaults(self, ctx: FitContext) -> dict[str, Any]:
        """XGBoost's own defaults (learning rate 0.3, depth 6, lambda 1, no alpha: the space's floor of 1e-8)."""
        config = {"learning_rate": 0.3, "max_depth": 6, "min_child_weight": 1.0, "subsample": 1.0,
                  "colsample_bytree": 1.0, "reg_lambda": 1.0, "reg_alpha": 1e-8}
        return config

    def _portfolio(self, ctx: FitContext) -> list[dict[str, Any]]:
        """XGBoost's defaults (lr 0.1), then a deeper, slower, subsampled configuration; on a GPU, a third
        that is deeper and slower still (more rounds), which only a GPU makes cheap."""
        configs = [
            {
                "learning_rate": 0.1,
                "max_depth": 6,
                "min_child_weight": 1.0,
                "subsample": 1.0,
                "colsample_bytree": 1.0,
                "reg_lambda": 1.0,
                "reg_alpha": 1e-8,
            },
            {
                "learning_rate": 0.05,
                "max_depth": 10,
                "min_child_weight": 1.0,
                "subsample": 0.8,
                "colsample_bytree": 0.8,
                "reg_lambda": 1.0,
                "reg_alpha": 1e-8,
            },
        ]
        if ctx.device is Device.CUDA:
            configs.append(
                {
                    "learning_rate": 0.02,
                    "max_depth": 12,
                    "min_child_weight": 2.0,
                    "subsample": 0.8,
                    "colsample_bytree": 0.6,
                    "reg_lambda": 2.0,
                    "reg_alpha": 1e-8,
                }
            )
        return configs

    def _params(self, p: Mapping[str, Any], ctx: FitContext, k: int) -> dict[str, Any]:
        objective, metric = _OBJECTIVE[ctx.task]
        params: dict[str, Any] = {
            "objective": objective,
            "eval_metric": metric,
            "tree_method": "hist",
            "device": ctx.device_name,
            "nthread": ctx.n_jobs,
            "seed": ctx.seed,
            "verbosity": 0,
            "learning_rate": float(p["learning_rate"]),
            "max_depth": int(p["max_depth"]),
            "min_child_weight": float(p["min_child_weight"]),
            "subsample": float(p["subsample"]),
            "colsample_bytree": float(p["colsample_bytree"]),
            "reg_lambda": float(p["reg_lambda"]),
            "reg_alpha": float(p["reg_alpha"]),
        }
        if ctx.task is TaskType.MULTICLASS:
            params["num_class"] = k
        return params

    def _fit(self, X: pd.DataFrame, y: np.ndarray, p: dict[str, Any], ctx: FitContext, deadline: Deadline, plan: FitPlan) -> Model:
        """Boost until early stopping on `eval_set`, exactly `n_iterations` rounds, or a default count."""
        k = plan.n_classes
        xgb_params = self._params(p, ctx, k)
        rounds, patience = round_plan(plan.n_iterations, plan.eval_set is not None, xgb_params["learning_rate"], ctx.n_rows, _MAX_ROUNDS)

        dtrain = xgb.DMatrix(X, label=y, enable_categorical=True, nthread=ctx.n_jobs)
        evals: list[tuple[xgb.DMatrix, str]] = []
        callbacks: list[xgb.callback.TrainingCallback] = []
        if plan.eval_set is not None:
            X_val, y_val = plan.eval_set
            evals = [(xgb.DMatrix(X_val, label=y_val, enable_categorical=True, nthread=ctx.n_jobs), "valid")]
            # save_best cuts the booster to its best round, also when the deadline callback ends training
            callbacks.append(xgb.callback.EarlyStopping(rounds=patience, data_name="valid", save_best=True))
        deadline_cb = _DeadlineCallback(IterationBudget(deadline))
        callbacks.append(deadline_cb)

        booster = xgb.train(xgb_params, dtrain, num_boost_round=rounds, evals=evals, verbose_eval=False, callbacks=callbacks)
        truncated = deadline_cb.budget.stopped
        if truncated:
            logger.info("xgboost stopped after %d of %d rounds: deadline", deadline_cb.rounds, rounds)
        used = int(booster.num_boosted_rounds())
        extra: dict[str, Any] = {"rounds_trained": deadline_cb.rounds}
        if evals and booster.attr("best_score") is not None:
            extra["best_score"] = float(booster.attr("best_score"))
        return XGBoostModel(booster, ctx.task, k, FitInfo(n_iterations=used, truncated=truncated, extra=extra))

    def load(self, directory: Path, meta: Mapping[str, Any]) -> Model:
        """Read `model.ubj` (XGBoost's own JSON-like format; nothing is executed)."""
        task, k = task_from_meta(meta)
        path = model_path(directory, meta, _FILE)
        booster = xgb.Booster()
        try:
            booster.load_model(str(path))
        except xgb.core.XGBoostError as exc:
            raise PackageError(f"Could not read {path.name} ({exc}); the package is corrupt.") from exc
        # a package must predict anywhere: a GPU-trained model would otherwise ask for CUDA here
        booster.set_param({"device": "cpu"})
        n_iter = meta.get("n_iterations")
        info = FitInfo(
            n_iterations=int(n_iter) if n_iter is not None else int(booster.num_boosted_rounds()),
            truncated=bool(meta.get("truncated")),
        )
        return XGBoostModel(booster, task, k, info)
