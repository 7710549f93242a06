"""Pluggable model families (CPU and CUDA) behind one `Backend` contract."""

from backends.contracts import (
    Availability,
    Backend,
    Deadline,
    Device,
    FitContext,
    FitInfo,
    Model,
    TaskType,
)
from backends.errors import (
    AutoMLError,
    BackendUnavailable,
    ConfigError,
    DataError,
    PackageError,
    SearchError,
)

__all__ = [
    "AutoMLError",
    "Availability",
    "Backend",
    "BackendUnavailable",
    "ConfigError",
    "DataError",
    "Deadline",
    "Device",
    "FitContext",
    "FitInfo",
    "Model",
    "PackageError",
    "SearchError",
    "TaskType",
]
