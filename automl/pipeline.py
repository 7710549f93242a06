"""The fitted best model as users hold it: input checks, preprocessing, model, label decoding."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from backends.contracts import Model, TaskType
from backends.errors import ConfigError
from features.preprocess import Preprocessor
from features.schema import conform


@dataclass
class Pipeline:
    """Predicts from raw frames with the same columns the search saw (extra columns ignored)."""

    task: TaskType
    target: str
    classes: Sequence[Any] | None
    schema: list[dict[str, Any]]
    preprocessor: Preprocessor
    model: Model
    backend: str
    params: dict[str, Any]
    model_id: str

    def _raw(self, data: pd.DataFrame) -> np.ndarray:
        frame = conform(data, self.schema, target=self.target)
        return self.model.predict(self.preprocessor.transform(frame))

    def predict(self, data: pd.DataFrame) -> np.ndarray:
        """Class labels (classification) or values (regression), one per input row, in order."""
        raw = self._raw(data)
        if self.task.is_classification:
            assert self.classes is not None
            return np.asarray(self.classes)[raw.argmax(axis=1)]
        return raw

    def predict_proba(self, data: pd.DataFrame) -> pd.DataFrame:
        """One probability column per class (named by the class), rows in input order."""
        if not self.task.is_classification:
            raise ConfigError("predict_proba needs a classification model; use predict for regression.")
        raw = self._raw(data)
        return pd.DataFrame(raw, columns=list(self.classes or []), index=data.index)
