"""The backend registry: one line per model family.

Backends register by name; `available()` returns those that can run for a task on a
device, logging one line per skipped backend with its reason.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Iterable

from backends.contracts import Backend, Device, TaskType
from backends.errors import ConfigError

logger = logging.getLogger(__name__)

# module that defines each family; imported lazily so `import backends` stays light
_MODULES: dict[str, str] = {
    "linear": "backends.linear",
    "lightgbm": "backends.lightgbm",
    "xgboost": "backends.xgboost",
    "catboost": "backends.catboost",
    "mlp": "backends.torch_mlp",
    "extra_trees": "backends.sklearn_trees",
    "random_forest": "backends.sklearn_trees",
    "knn": "backends.knn",
}
_REGISTRY: dict[str, Backend] = {}


def register(cls: type[Backend]) -> type[Backend]:
    """Class decorator: add one backend instance under `cls.name` (refuses duplicates)."""
    if cls.name in _REGISTRY and type(_REGISTRY[cls.name]) is not cls:
        raise ConfigError(f"A backend named {cls.name!r} is already registered; pick another name.")
    _REGISTRY[cls.name] = cls()
    return cls


def names() -> list[str]:
    """Every known backend name, in registry order."""
    return list(_MODULES)


def preload(only: Iterable[str] | None = None) -> None:
    """Import the backends named in `only` (default: all) whose libraries are installed (torch, LightGBM, ...), so
    that a `fit` budget pays for work, not for one-time imports; a missing optional library or an unknown name is
    skipped here and reported by `available` or `get`."""
    chosen = names() if only is None else [n for n in only if n in _MODULES]
    for module in dict.fromkeys(_MODULES[n] for n in chosen):
        try:
            importlib.import_module(module)
        except ImportError:
            continue


def get(name: str) -> Backend:
    """The backend called `name`; ConfigError listing the valid names otherwise."""
    if name not in _MODULES:
        raise ConfigError(f"Unknown backend {name!r}; choose from {', '.join(_MODULES)}.")
    if name not in _REGISTRY:
        importlib.import_module(_MODULES[name])
    return _REGISTRY[name]


def available(task: TaskType, device: Device, only: Iterable[str] | None = None) -> list[Backend]:
    """Backends that support `task` and run on `device` here (optionally restricted to `only`)."""
    chosen = list(only) if only is not None else names()
    result = []
    for name in chosen:
        try:
            backend = get(name)
        except ImportError as exc:  # optional dependency missing: skip, say why
            logger.info("backend %s skipped: %s", name, exc)
            continue
        if task not in backend.tasks:
            continue
        status = backend.available(device)
        if not status.ok:
            logger.info("backend %s skipped: %s", name, status.reason)
            continue
        result.append(backend)
    return result
