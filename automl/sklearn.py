"""scikit-learn style estimators that delegate to `automl.fit`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.utils.validation import check_is_fitted

from automl.api import Result, fit

_TARGET = "__target__"


class _AutoBase(BaseEstimator):
    """Stores its arguments verbatim (sklearn rule); all work happens in `fit`."""

    def _task_of(self, y: np.ndarray) -> str:
        raise NotImplementedError

    def __init__(
        self,
        *,
        metric: str | None = None,
        success: Sequence[str] | None = None,
        time_budget: float = 60,
        n_trials: int | None = None,
        device: str = "auto",
        seed: int = 0,
        backends: Sequence[str] | None = None,
    ) -> None:
        self.metric = metric
        self.success = success
        self.time_budget = time_budget
        self.n_trials = n_trials
        self.device = device
        self.seed = seed
        self.backends = backends

    @staticmethod
    def _frame(X: Any) -> pd.DataFrame:
        if isinstance(X, pd.DataFrame):
            return X
        arr = np.asarray(X)
        return pd.DataFrame(arr, columns=[f"x{i}" for i in range(arr.shape[1])])

    def fit(self, X: Any, y: Any) -> _AutoBase:
        """Run the search on X, y; the result is kept in `result_`."""
        frame = self._frame(X).copy()
        frame[_TARGET] = np.asarray(y)
        self.result_: Result = fit(
            frame, _TARGET, task=self._task_of(frame[_TARGET].to_numpy()), metric=self.metric, success=self.success,
            time_budget=self.time_budget, n_trials=self.n_trials, device=self.device,
            seed=self.seed, backends=self.backends,
        )
        self.feature_names_in_ = np.asarray([c for c in frame.columns if c != _TARGET], dtype=object)
        self.n_features_in_ = len(self.feature_names_in_)
        return self

    def predict(self, X: Any) -> np.ndarray:
        """Labels or values for X."""
        check_is_fitted(self, "result_")
        return self.result_.predict(self._frame(X))

    @property
    def leaderboard_(self) -> pd.DataFrame:
        check_is_fitted(self, "result_")
        return self.result_.leaderboard


class AutoClassifier(ClassifierMixin, _AutoBase):
    """Binary or multiclass classification by AutoML search; `score` is accuracy."""

    def _task_of(self, y: np.ndarray) -> str:
        return "binary" if len(pd.unique(y)) == 2 else "multiclass"

    def fit(self, X: Any, y: Any) -> AutoClassifier:
        super().fit(X, y)
        self.classes_ = np.asarray(self.result_.best.classes)
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities, columns in the order of `classes_`."""
        check_is_fitted(self, "result_")
        return self.result_.predict_proba(self._frame(X)).to_numpy()


class AutoRegressor(RegressorMixin, _AutoBase):
    """Regression by AutoML search; `score` is R^2."""

    def _task_of(self, y: np.ndarray) -> str:
        return "regression"
