"""Linear family: logistic regression for classification, ridge for regression.

Input is the "dense" recipe (all float32, clipped to training quantiles, imputed and
standardized), so a fixed, small iteration cap is enough for lbfgs to converge and the
family stays the cheapest baseline.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import pandas as pd
from scipy.linalg import LinAlgWarning
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression, Ridge
from threadpoolctl import threadpool_limits

from backends._skops import SkopsModel
from backends.contracts import Backend, Deadline, FitContext, FitInfo, FitPlan, Model, TaskType
from backends.errors import DataError
from backends.registry import register

if TYPE_CHECKING:
    from optuna.distributions import BaseDistribution

logger = logging.getLogger(__name__)

# lbfgs on standardized data converges well within this; the cap bounds the worst case.
_MAX_ITER = 200
# lbfgs runs in warm-started chunks of this many iterations so a deadline can stop it between them
_CHUNK = 25


class LinearModel(SkopsModel):
    """A fitted LogisticRegression or Ridge."""

    backend: ClassVar[str] = "linear"
    estimator_types: ClassVar[frozenset[str]] = frozenset({"LogisticRegression", "Ridge"})

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """As `SkopsModel.predict`, computed in float64 like the fit."""
        return super().predict(X.astype(np.float64))


@register
class LinearBackend(Backend):
    """Regularized linear models: the cheap, well-calibrated baseline."""

    name: ClassVar[str] = "linear"
    recipe: ClassVar[str] = "dense"
    tasks: ClassVar[frozenset[TaskType]] = frozenset(TaskType)
    relative_cost: ClassVar[float] = 0.2

    def search_space(self, ctx: FitContext) -> dict[str, BaseDistribution]:
        """Inverse regularization C for classification, ridge alpha for regression."""
        from optuna.distributions import FloatDistribution  # lazily: load and predict never need optuna

        if ctx.task.is_classification:
            return {"C": FloatDistribution(1e-3, 100.0, log=True)}
        return {"alpha": FloatDistribution(1e-3, 1e3, log=True)}

    def _portfolio(self, ctx: FitContext) -> list[dict[str, Any]]:
        """sklearn's default strength and a stronger one; on wide data (a column per ten rows or more) the
        stronger ones first and a third stronger still, since there C=1 fits noise in the many weights."""
        strengths = [1.0, 0.1] if ctx.n_features * 10 < max(1, ctx.n_rows) else [0.1, 0.01, 1.0]
        if ctx.task.is_classification:
            return [{"C": c} for c in strengths]
        return [{"alpha": 1.0 / c} for c in strengths]

    def _fit(self, X: pd.DataFrame, y: np.ndarray, p: dict[str, Any], ctx: FitContext, deadline: Deadline, plan: FitPlan) -> Model:
        """Ridge in closed form; logistic lbfgs in warm-started chunks until it converges or `deadline` passes."""
        k = plan.n_classes
        if ctx.task.is_classification:
            if len(np.unique(y)) < 2:
                raise DataError("Logistic regression needs at least two classes in the training rows.")
            est: Any = LogisticRegression(C=float(p["C"]), max_iter=_CHUNK, warm_start=True, random_state=ctx.seed)
        else:
            est = Ridge(alpha=float(p["alpha"]), random_state=ctx.seed)
        # float64: the solvers are cheap here and float32 normal equations lose digits
        X64 = X.astype(np.float64)
        total, truncated = 0, False
        # one BLAS thread: these matrices are small, and threaded BLAS on a busy machine spins
        # (measured: 25 lbfgs iterations on fars took 44 s threaded under load, 0.24 s on one thread)
        with warnings.catch_warnings(), threadpool_limits(limits=1, user_api="blas"):
            # a capped lbfgs or collinear engineered features are expected here, not news
            warnings.simplefilter("ignore", ConvergenceWarning)
            warnings.simplefilter("ignore", LinAlgWarning)
            while True:
                est.fit(X64, y)
                n_iter = getattr(est, "n_iter_", None)
                if n_iter is None:  # ridge: one closed-form solve
                    break
                total += int(np.max(n_iter))
                if int(np.max(n_iter)) < _CHUNK or total >= _MAX_ITER:
                    break
                if deadline.expired():
                    truncated = True
                    logger.info("logistic regression stopped after %d lbfgs iterations: deadline", total)
                    break
        extra = {"solver_iterations": total} if total else {}
        return LinearModel(est, ctx.task, k, FitInfo(truncated=truncated, extra=extra))

    def load(self, directory: Path, meta: Mapping[str, Any]) -> Model:
        """Read `model.skops` through the allowlisting loader."""
        return LinearModel.load_model(directory, meta)
