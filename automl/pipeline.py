"""The fitted best model as users hold it: input checks, feature synthesis, preprocessing, member models, label decoding.

A pipeline has one member (a single model), several of one candidate (its bag: the fold models of
k-fold validation, averaged) or several of several candidates, which may be bags: with weights (an
ensemble chosen by greedy selection) or combined by a stacking layer (a stack). Each member trains on one feature set: the user's table itself, or
features synthesized from related tables (Featuretools) or time series (tsfresh). Members
of one feature set share its synthesis, and members of one recipe share a preprocessor.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from backends.contracts import ENSEMBLE_BACKEND, STACK_BACKEND, Model, TaskType
from backends.errors import ConfigError, DataError
from backends.numeric import Stacker, blend
from features.preprocess import Preprocessor
from features.schema import conform
from features.synthesis import Synthesizer

INPUT_KINDS = ("table", "relational", "series")


@dataclass
class FeatureSet:
    """How one feature set is built at predict time: a synthesis (None: the input table itself) and the schema of its columns."""

    schema: list[dict[str, Any]]
    synth: Synthesizer | None = None


@dataclass
class Member:
    """One fitted model of a pipeline with its preprocessing and its weight in the blend."""

    model_id: str
    backend: str
    params: dict[str, Any]
    preprocessor: Preprocessor
    model: Model
    weight: float = 1.0
    features: str = "table"


@dataclass
class Pipeline:
    """Predicts from raw inputs of the kind it was trained on: a frame, related tables, or long-format series."""

    task: TaskType
    target: str
    classes: Sequence[Any] | None
    feature_sets: dict[str, FeatureSet]
    members: list[Member]
    model_id: str
    stacker: Stacker | None = None  # combines the members' candidates (each its members' blend) in a stack

    @property
    def backend(self) -> str:
        """The candidate's backend (one model or its bag), or "ensemble" / "stack" for members of several candidates."""
        if self.stacker is not None:
            return STACK_BACKEND
        return self.members[0].backend if len({m.model_id for m in self.members}) == 1 else ENSEMBLE_BACKEND

    @property
    def input_kind(self) -> str:
        """"table", "relational" (a dict of related tables) or "series" (a long-format frame)."""
        synth = next((fs.synth for fs in self.feature_sets.values() if fs.synth is not None), None)
        return "table" if synth is None else synth.input_kind

    def _check_input(self, data: Any) -> None:
        kind = self.input_kind
        if kind == "relational":
            if not isinstance(data, Mapping):
                raise DataError(f"This model was trained on related tables; pass a dict of table name -> DataFrame, not {type(data).__name__}.")
        elif not isinstance(data, pd.DataFrame):
            what = "a long-format series frame" if kind == "series" else "a DataFrame"
            raise DataError(f"This model needs {what}, got {type(data).__name__}; wrap the rows with pd.DataFrame(...).")

    def _raw(self, data: Any) -> tuple[np.ndarray, pd.Index]:
        """Blended raw predictions and the row labels they belong to."""
        self._check_input(data)
        frames: dict[str, pd.DataFrame] = {}
        for name in dict.fromkeys(m.features for m in self.members):
            fs = self.feature_sets[name]
            built = data if fs.synth is None else fs.synth.transform(data)
            frames[name] = conform(built, fs.schema, target=self.target)
        inputs: dict[int, pd.DataFrame] = {}  # members of one recipe share a preprocessor: transform once
        preds = []
        for m in self.members:
            key = id(m.preprocessor)
            if key not in inputs:
                inputs[key] = m.preprocessor.transform(frames[m.features])
            preds.append(m.model.predict(inputs[key]))
        index = self._row_index(data, next(iter(frames.values())))
        if self.stacker is not None:
            by_candidate: dict[str, list[tuple[np.ndarray, float]]] = {}
            for m, pred in zip(self.members, preds):
                by_candidate.setdefault(m.model_id, []).append((pred, m.weight))
            candidates = [blend([p for p, _ in by_candidate[i]], [w for _, w in by_candidate[i]]) for i in self.stacker.members]
            return self.stacker.combine(candidates), index
        return (preds[0] if len(preds) == 1 else blend(preds, [m.weight for m in self.members])), index

    def _row_index(self, data: Any, frame: pd.DataFrame) -> pd.Index:
        if self.input_kind == "table":
            return data.index
        if self.input_kind == "series":
            return frame.index  # the series ids, in order of first appearance
        synth = next(fs.synth for fs in self.feature_sets.values() if fs.synth is not None)
        return data[synth.spec.target_table].index  # type: ignore[attr-defined]

    def predict(self, data: Any) -> np.ndarray:
        """Class labels (classification) or values (regression), one per input row (per series id for series), in order."""
        raw, _ = self._raw(data)
        return self._labels(raw)

    def _labels(self, raw: np.ndarray) -> np.ndarray:
        if self.task.is_classification:
            assert self.classes is not None
            return np.asarray(self.classes)[raw.argmax(axis=1)]
        return raw

    def predict_proba(self, data: Any) -> pd.DataFrame:
        """One probability column per class (named by the class), rows in input order (indexed by series id for series)."""
        if not self.task.is_classification:
            raise ConfigError("predict_proba needs a classification model; use predict for regression.")
        raw, index = self._raw(data)
        return pd.DataFrame(raw, columns=list(self.classes or []), index=index)

    def predict_frame(self, data: Any, proba: bool = False) -> pd.DataFrame:
        """What `automl predict` writes: `id` first for series, then `prediction`, then `proba_<class>` columns if asked."""
        if proba and not self.task.is_classification:
            raise ConfigError("--proba needs a classification model; leave it out for regression.")
        raw, index = self._raw(data)
        out = pd.DataFrame({"id": index.to_numpy()}) if self.input_kind == "series" else pd.DataFrame(index=range(len(raw)))
        out["prediction"] = self._labels(raw)
        if proba:
            for j, label in enumerate(self.classes or []):
                out[f"proba_{label}"] = raw[:, j]
        return out
