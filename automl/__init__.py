"""AutoML engine: `fit` a table, read the leaderboard, `load` the packaged best model anywhere."""

from automl._logging import set_verbosity
from automl.api import Result, fit, load
from automl.pipeline import Pipeline
from automl.sklearn import AutoClassifier, AutoRegressor
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
