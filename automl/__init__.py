"""AutoML engine: `fit` a table, read the leaderboard, `load` the packaged best model anywhere.

`load`, `Pipeline` and the errors import without the search: a machine that only predicts never
imports Optuna. `fit`, `Result` and the scikit-learn estimators are imported on first access.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from automl._logging import set_verbosity
from automl.artifact import load
from automl.pipeline import Pipeline
from backends.errors import (
    AutoMLError,
    AutoMLWarning,
    BackendUnavailable,
    ConfigError,
    CriteriaNotMetWarning,
    DataError,
    IncompleteModelWarning,
    PackageError,
    SearchError,
)

if TYPE_CHECKING:
    from automl.api import Result, fit
    from automl.sklearn import AutoClassifier, AutoRegressor

# name -> the module that defines it, imported on first access (PEP 562)
_LAZY = {
    "fit": "automl.api",
    "Result": "automl.api",
    "AutoClassifier": "automl.sklearn",
    "AutoRegressor": "automl.sklearn",
}

__all__ = [
    "AutoClassifier",
    "AutoMLError",
    "AutoMLWarning",
    "AutoRegressor",
    "BackendUnavailable",
    "ConfigError",
    "CriteriaNotMetWarning",
    "DataError",
    "IncompleteModelWarning",
    "PackageError",
    "Pipeline",
    "Result",
    "SearchError",
    "fit",
    "load",
    "set_verbosity",
]


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_LAZY[name]), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
