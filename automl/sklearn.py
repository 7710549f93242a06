"""scikit-learn style estimators that delegate to `automl.fit`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.utils.validation import check_is_fitted

from automl.api import Result, fit
from backends.errors import DataError

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
        workers: int | str = "auto",
    ) -> None:
        self.metric = metric
        self.success = success
        self.time_budget = time_budget
        self.n_trials = n_trials
        self.device = device
        self.seed = seed
        self.backends = backends
        self.workers = workers

    @staticmethod
    def _frame(X: Any) -> pd.DataFrame:
        if isinstance(X, pd.DataFrame):
            return X
        arr = np.asarray(X)
        if arr.ndim != 2:
            raise DataError(f"X must be two-dimensional (rows x features), got shape {arr.shape}; reshape it, e.g. X.reshape(-1, 1).")
        return pd.DataFrame(arr, columns=[f"x{i}" for i in range(arr.shape[1])])

    @staticmethod
    def _target(y: Any, n_rows: int) -> np.ndarray:
        """`y` as one value per row of X, checked in the caller's terms (X, y), not the frame's internal column."""
        values = np.asarray(y)
        if values.ndim == 2 and values.shape[1] == 1:
            values = values[:, 0]
        if values.ndim != 1:
            raise DataError(f"y must be one-dimensional (one target value per row of X), got shape {values.shape}.")
        if len(values) != n_rows:
            raise DataError(f"y has {len(values)} values but X has {n_rows} rows; pass one target value per row of X.")
        missing = pd.isna(values)
        if missing.any():
            first = int(np.flatnonzero(missing)[0])
            raise DataError(
                f"y has {int(missing.sum())} missing value(s) (the first at position {first}); drop those rows from X and y or fill them."
            )
        return values

    def fit(self, X: Any, y: Any) -> _AutoBase:
        """Run the search on X, y; the result is kept in `result_`."""
        frame = self._frame(X).copy()
        frame[_TARGET] = self._target(y, len(frame))
        self.result_: Result = fit(
            frame, _TARGET, task=self._task_of(frame[_TARGET].to_numpy()), metric=self.metric, success=self.success,
            time_budget=self.time_budget, n_trials=self.n_trials, device=self.device,
            seed=self.seed, backends=self.backends, workers=self.workers,
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
