"""The conditional search space: backend choice, then that backend's own parameters.

Backends declare plain Optuna distributions; here they are suggested under names
prefixed by the backend (``lightgbm.num_leaves``) so the spaces never collide.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import optuna
from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution, IntDistribution

BACKEND_PARAM = "backend"
FEATURES_PARAM = "features"  # the view (feature set) a trial trains on, when there are several


def qualified(backend: str, param: str) -> str:
    return f"{backend}.{param}"


def suggest(trial: optuna.Trial, backend: str, space: Mapping[str, BaseDistribution]) -> dict[str, Any]:
    """Suggest every parameter of `space` for `backend` through the trial's public API."""
    params: dict[str, Any] = {}
    for name, dist in space.items():
        key = qualified(backend, name)
        if isinstance(dist, FloatDistribution):
            params[name] = trial.suggest_float(key, dist.low, dist.high, log=dist.log, step=dist.step)
        elif isinstance(dist, IntDistribution):
            params[name] = trial.suggest_int(key, dist.low, dist.high, log=dist.log, step=dist.step)
        elif isinstance(dist, CategoricalDistribution):
            params[name] = trial.suggest_categorical(key, dist.choices)
        else:  # pragma: no cover - a backend bug, caught by the conformance tests
            raise TypeError(f"unsupported distribution {type(dist).__name__} for {key}")
    return params


def fixed_params(backend: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """The enqueue form of a portfolio configuration."""
    return {BACKEND_PARAM: backend, **{qualified(backend, k): v for k, v in params.items()}}
