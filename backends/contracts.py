"""Contracts shared by every layer: devices, tasks, deadlines and the Backend/Model seam.

A backend is one model family. It declares which tasks and devices it supports, which
feature recipe it wants its input in, a search space sized by the data, a portfolio of
proven configurations (cheapest first), and how to fit a `Model` under a deadline. A
`Model` predicts and saves itself in its library's native, non-pickle format.
"""

from __future__ import annotations

import enum
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import pandas as pd

if TYPE_CHECKING:  # importing optuna takes a while; loading and predicting never need it
    from optuna.distributions import BaseDistribution

ENSEMBLE_BACKEND = "ensemble"  # the backend name of a weighted blend of members (a leaderboard row, a pipeline)
STACK_BACKEND = "stack"  # ... and of members combined by a stacking layer


class Device(str, enum.Enum):
    """Where a model trains and predicts."""

    CPU = "cpu"
    CUDA = "cuda"


def device_name(device: Device, gpu: int = 0) -> str:
    """The device as libraries spell it: "cpu" or "cuda:N"."""
    return "cpu" if device is Device.CPU else f"cuda:{gpu}"


class TaskType(str, enum.Enum):
    """The supervised task, inferred from the target or forced by the user."""

    BINARY = "binary"
    MULTICLASS = "multiclass"
    REGRESSION = "regression"

    @property
    def is_classification(self) -> bool:
        return self is not TaskType.REGRESSION


@dataclass(frozen=True)
class Deadline:
    """An absolute point in time on an injectable monotonic clock."""

    at: float
    clock: Callable[[], float] = time.monotonic

    @classmethod
    def after(cls, seconds: float, clock: Callable[[], float] = time.monotonic) -> Deadline:
        """A deadline `seconds` from now on `clock`."""
        return cls(clock() + seconds, clock)

    def remaining(self) -> float:
        """Seconds left, never negative."""
        return max(0.0, self.at - self.clock())

    def expired(self) -> bool:
        return self.remaining() <= 0.0

    def earlier(self, seconds: float) -> Deadline:
        """A deadline at most `seconds` from now and never later than this one."""
        return Deadline(min(self.at, self.clock() + seconds), self.clock)


@dataclass(frozen=True)
class FitContext:
    """What a backend may know about the problem when it builds a space or fits."""

    task: TaskType
    n_rows: int
    n_features: int
    n_classes: int = 0
    seed: int = 0
    device: Device = Device.CPU
    n_jobs: int = 1
    gpu: int = 0  # the CUDA ordinal when device is CUDA

    @property
    def device_name(self) -> str:
        """The device as libraries spell it: "cpu" or "cuda:N"."""
        return device_name(self.device, self.gpu)


@dataclass(frozen=True)
class Availability:
    """Whether a backend can run on a device here, and why not."""

    ok: bool
    reason: str = ""


@dataclass
class FitInfo:
    """What a fit learned about itself: rounds actually used, whether the deadline cut it."""

    n_iterations: int | None = None
    truncated: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class FitPlan:
    """What `Backend.fit` settled before a family's `_fit`: the class count, a checked eval set, fixed rounds."""

    n_classes: int  # k encoded classes (2 for binary), 0 for regression
    eval_set: tuple[pd.DataFrame, np.ndarray] | None = None  # early-stop on this (None with fixed rounds)
    n_iterations: int | None = None  # exactly this many rounds/trees/epochs (a refit)


# each backend's CUDA probe answer, by backend name: a probe fits on the GPU, once per process
_CUDA_PROBES: dict[str, Availability] = {}


def forget_cuda_probes() -> None:
    """Drop the cached CUDA probe answers (for tests that pretend a GPU is there)."""
    _CUDA_PROBES.clear()


class Model(ABC):
    """A fitted model of one family.

    `predict` returns class probabilities of shape (n, n_classes) for classification
    (columns in encoded-label order 0..k-1) and values of shape (n,) for regression.
    """

    backend: ClassVar[str]
    info: FitInfo

    @abstractmethod
    def predict(self, X: pd.DataFrame) -> np.ndarray: ...

    @abstractmethod
    def save(self, directory: Path) -> dict[str, Any]:
        """Write native model file(s) into `directory`; return JSON-safe metadata for `load`."""

    @abstractmethod
    def size_bytes(self) -> int:
        """Size of the serialized model in bytes."""


class Backend(ABC):
    """One model family (see module docstring). Stateless; one instance per registry entry."""

    name: ClassVar[str]
    recipe: ClassVar[str]  # feature recipe the input must be in: "native" or "dense"
    tasks: ClassVar[frozenset[TaskType]]
    devices: ClassVar[frozenset[Device]] = frozenset({Device.CPU})
    relative_cost: ClassVar[float] = 1.0  # FLAML-style hint, LightGBM default = 1
    # boosters: a smaller learning rate needs proportionally more rounds (an MLP's does not work that way)
    rounds_follow_learning_rate: ClassVar[bool] = False

    def available(self, device: Device) -> Availability:
        """Whether this backend runs on `device` here; CUDA is probed once per process (`_probe_cuda`). Never raises."""
        if device not in self.devices:
            return Availability(False, f"{self.name} does not support {device.value}")
        if device is not Device.CUDA:
            return Availability(True)
        if self.name not in _CUDA_PROBES:  # a probe fits on the GPU: the answer does not change in a process
            from backends import _common  # looked up at call time so a test can pretend a GPU

            try:
                if _common.cuda_device_count() < 1:
                    _CUDA_PROBES[self.name] = Availability(False, "no CUDA GPU is visible to this process")
                else:
                    _CUDA_PROBES[self.name] = self._probe_cuda()
            except Exception as exc:  # noqa: BLE001 - a probe must answer, never raise
                first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                _CUDA_PROBES[self.name] = Availability(False, f"{self.name} CUDA probe failed: {first}")
        return _CUDA_PROBES[self.name]

    def _probe_cuda(self) -> Availability:
        """A tiny fit on the GPU, for a family that lists Device.CUDA; it may raise (read as "not usable")."""
        return Availability(False, f"{self.name} has no CUDA probe")

    @abstractmethod
    def search_space(self, ctx: FitContext) -> dict[str, BaseDistribution]:
        """Optuna distributions of the tunable parameters, sized by the data in `ctx`."""

    def portfolio(self, ctx: FitContext) -> list[dict[str, Any]]:
        """Proven configurations as points of `search_space` (clamped into it on tiny data), cheapest first."""
        from backends._common import clip_to_space, dedupe

        space = self.search_space(ctx)
        return dedupe([clip_to_space(cfg, space) for cfg in self._portfolio(ctx)])

    @abstractmethod
    def _portfolio(self, ctx: FitContext) -> list[dict[str, Any]]:
        """The family's proven configurations, cheapest first (`portfolio` clamps them into the space)."""

    def defaults(self, ctx: FitContext) -> dict[str, Any] | None:
        """The library's own default configuration as a point of `search_space` (None: the family has none
        worth a floor). The search tries it early, so its model is never worse on validation than these."""
        from backends._common import clip_to_space

        config = self._defaults(ctx)
        return None if config is None else clip_to_space(config, self.search_space(ctx))

    def _defaults(self, ctx: FitContext) -> dict[str, Any] | None:
        """The library's default parameters in this family's names (`defaults` clamps them), or None."""
        return None

    def fit(
        self,
        X: pd.DataFrame,
        y: np.ndarray,
        params: Mapping[str, Any],
        ctx: FitContext,
        deadline: Deadline,
        eval_set: tuple[pd.DataFrame, np.ndarray] | None = None,
        n_iterations: int | None = None,
    ) -> Model:
        """Fit on encoded targets (ints 0..k-1 or floats) and stop by `deadline`.

        With `eval_set`, iterative families early-stop on it and record the best round in
        `info.n_iterations`; `n_iterations` instead fixes the number of rounds (refit) and the
        eval set is dropped. Checks everything once, then hands over to the family's `_fit`.
        """
        from backends._common import check_xy, n_classes, resolve_params
        from backends.errors import ConfigError

        p = resolve_params(self.name, params, self.search_space(ctx), self.portfolio(ctx)[0])
        y = check_xy(X, y, ctx)
        if n_iterations is not None and int(n_iterations) < 1:
            raise ConfigError(f"n_iterations must be a positive number of rounds, got {n_iterations}.")
        checked = None
        if eval_set is not None and n_iterations is None:
            checked = (eval_set[0], check_xy(eval_set[0], eval_set[1], ctx, "eval set"))
        rounds = None if n_iterations is None else int(n_iterations)
        return self._fit(X, y, p, ctx, deadline, FitPlan(n_classes(ctx, y), checked, rounds))

    @abstractmethod
    def _fit(
        self, X: pd.DataFrame, y: np.ndarray, p: dict[str, Any], ctx: FitContext, deadline: Deadline, plan: FitPlan
    ) -> Model:
        """The family's own fit on checked inputs: `p` is the full configuration, `plan` the classes and rounds."""

    @abstractmethod
    def load(self, directory: Path, meta: Mapping[str, Any]) -> Model:
        """Read a model written by `Model.save` without executing code from the files."""
