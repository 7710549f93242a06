"""The fitted best model as users hold it: input checks, preprocessing, member models, label decoding.

A pipeline has one member (a single model) or several with weights (an ensemble chosen by
greedy selection); members share a preprocessor when they use the same recipe.
"""

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
from search.ensemble import blend
from search.leaderboard import ENSEMBLE_BACKEND


@dataclass
class Member:
    """One fitted model of a pipeline with its preprocessing and its weight in the blend."""

    model_id: str
    backend: str
    params: dict[str, Any]
    preprocessor: Preprocessor
    model: Model
    weight: float = 1.0


@dataclass
class Pipeline:
    """Predicts from raw frames with the same columns the search saw (extra columns ignored)."""

    task: TaskType
    target: str
    classes: Sequence[Any] | None
    schema: list[dict[str, Any]]
    members: list[Member]
    model_id: str

    @property
    def backend(self) -> str:
        """The member's backend, or "ensemble" for several members."""
        return self.members[0].backend if len(self.members) == 1 else ENSEMBLE_BACKEND

    def _raw(self, data: pd.DataFrame) -> np.ndarray:
        frame = conform(data, self.schema, target=self.target)
        inputs: dict[int, pd.DataFrame] = {}  # members of one recipe share a preprocessor: transform once
        preds = []
        for m in self.members:
            key = id(m.preprocessor)
            if key not in inputs:
                inputs[key] = m.preprocessor.transform(frame)
            preds.append(m.model.predict(inputs[key]))
        return preds[0] if len(preds) == 1 else blend(preds, [m.weight for m in self.members])

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
