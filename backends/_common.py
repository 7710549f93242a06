"""Small helpers shared by the backend modules: parameters, class counts, probabilities, time.

Nothing here imports a heavy library, so every backend module can use it freely.
"""

from __future__ import annotations

import ctypes
import functools
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from backends.contracts import Deadline, FitContext, FitInfo, TaskType
from backends.errors import ConfigError, DataError, PackageError

if TYPE_CHECKING:  # optuna is imported where a search space is built: load and predict never need it
    from optuna.distributions import BaseDistribution

logger = logging.getLogger(__name__)


def resolve_params(
    backend: str, params: Mapping[str, Any], space: Mapping[str, BaseDistribution], defaults: Mapping[str, Any]
) -> dict[str, Any]:
    """Defaults overlaid with `params`; ConfigError for a key the search space does not know.

    Being strict here catches a search layer that sends another family's parameters,
    which would otherwise be silently ignored.
    """
    unknown = sorted(set(params) - set(space))
    if unknown:
        raise ConfigError(
            f"Unknown parameter(s) {', '.join(unknown)} for backend {backend!r}; "
            f"valid ones are {', '.join(sorted(space))}."
        )
    return {**defaults, **params}


def clip_to_space(config: Mapping[str, Any], space: Mapping[str, BaseDistribution]) -> dict[str, Any]:
    """`config` with numeric values clamped into their distribution's bounds.

    The space shrinks on tiny data (e.g. num_leaves), so a fixed portfolio value can
    fall outside it; clamping keeps every portfolio entry a valid point of the space.
    """
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    out = dict(config)
    for key, value in config.items():
        dist = space.get(key)
        if isinstance(dist, IntDistribution):
            out[key] = int(min(max(int(value), dist.low), dist.high))
        elif isinstance(dist, FloatDistribution):
            out[key] = float(min(max(float(value), dist.low), dist.high))
        elif isinstance(dist, CategoricalDistribution) and value not in dist.choices:
            out[key] = dist.choices[0]
    return out


def dedupe(configs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """`configs` without repeats, order kept (clamping on tiny data can make two equal)."""
    seen: list[dict[str, Any]] = []
    for cfg in configs:
        if cfg not in seen:
            seen.append(cfg)
    return seen


def n_classes(ctx: FitContext, y: np.ndarray | None = None) -> int:
    """The number of encoded classes k (2 for binary), from `ctx` or else from `y`."""
    if ctx.task is TaskType.BINARY:
        return 2
    if ctx.task is TaskType.MULTICLASS:
        if ctx.n_classes >= 2:
            return ctx.n_classes
        if y is not None and len(y):
            return max(3, int(np.max(y)) + 1)
        raise ConfigError("A multiclass FitContext needs n_classes >= 2; set FitContext.n_classes.")
    return 0


def check_xy(X: Any, y: np.ndarray, ctx: FitContext, what: str = "training set") -> np.ndarray:
    """`y` as a 1-d array of the right dtype for the task; DataError on shape or label problems."""
    y = np.asarray(y)
    if y.ndim != 1 or len(y) != len(X):
        raise DataError(f"The {what} target must be 1-d with one value per row ({len(X)}), got shape {y.shape}.")
    if len(y) == 0:
        raise DataError(f"The {what} has zero rows; provide a non-empty {what}.")
    if ctx.task.is_classification:
        k = n_classes(ctx, y)
        if y.min() < 0 or y.max() >= k or not np.all(np.equal(np.mod(y, 1), 0)):
            raise DataError(f"Classification targets of the {what} must be encoded as integers 0..{k - 1}.")
        return y.astype(np.int64)
    return y.astype(np.float64)


def expand_proba(proba: np.ndarray, classes: np.ndarray, k: int) -> np.ndarray:
    """Probabilities over `classes` (those seen in training) placed into k columns, rows summing to 1.

    A CV fold can lack a rare class; the caller still needs all k columns in label order.
    """
    out = np.zeros((proba.shape[0], k), dtype=np.float64)
    out[:, np.asarray(classes, dtype=np.int64)] = proba
    return normalize_rows(out)


def normalize_rows(proba: np.ndarray) -> np.ndarray:
    """float64 copy of `proba` whose rows sum to exactly 1 (up to rounding)."""
    proba = np.clip(np.asarray(proba, dtype=np.float64), 0.0, None)
    total = proba.sum(axis=1, keepdims=True)
    # an all-zero row can only come from a degenerate model: spread it uniformly
    total[total <= 0.0] = np.nan
    out = proba / total
    out[np.isnan(out).any(axis=1)] = 1.0 / proba.shape[1]
    return out


def binary_to_two_columns(p: np.ndarray) -> np.ndarray:
    """(n,) positive-class probabilities as an (n, 2) float64 array [1-p, p]."""
    p = np.clip(np.asarray(p, dtype=np.float64).reshape(-1), 0.0, 1.0)
    return np.column_stack([1.0 - p, p])


def early_stopping_patience(n_rows: int) -> int:
    """Rounds without improvement before stopping: 50, fewer on very small data.

    On a few hundred rows the validation loss is noisy and each round is cheap to
    waste, so a shorter patience saves time without hurting the chosen round.
    """
    return int(min(50, max(10, n_rows // 20)))


def default_rounds(learning_rate: float) -> int:
    """Boosting rounds when neither an eval set nor a round count is given.

    100 at learning rate 0.1 (both libraries' own default), scaled inversely with the
    rate so a small rate is not badly underfit.
    """
    return int(min(1000, max(100, round(10.0 / max(learning_rate, 1e-6)))))


class IterationBudget:
    """Decides after each boosting round / tree chunk whether another one fits before the deadline.

    The next step is predicted to take as long as the slower of the last step and the
    average step so far, times a safety margin, so training stops before `deadline`.
    """

    def __init__(self, deadline: Deadline, margin: float = 1.5) -> None:
        self._deadline = deadline
        self._margin = margin
        self._start = deadline.clock()
        self._last = self._start
        self._steps = 0
        self.stopped = False

    def step_done(self) -> bool:
        """Record one finished step; True when the next one would likely pass the deadline."""
        now = self._deadline.clock()
        self._steps += 1
        last = now - self._last
        self._last = now
        mean = (now - self._start) / self._steps
        if self._deadline.remaining() < self._margin * max(last, mean):
            self.stopped = True
        return self.stopped


def read_meta_file(meta: Mapping[str, Any], default: str) -> str:
    """The model file name in `meta`, refusing path tricks (it must be a bare file name)."""
    name = meta.get("file", default)
    if not isinstance(name, str) or not name or "/" in name or "\\" in name or name in {".", ".."}:
        raise PackageError(f"Model metadata names an invalid file {name!r}; the package is corrupt.")
    return name


def shape_prediction(raw: np.ndarray, task: TaskType, n_classes: int) -> np.ndarray:
    """A booster's raw output as the Model contract wants it: (n, k) probabilities or (n,) values."""
    raw = np.asarray(raw, dtype=np.float64)
    if task is TaskType.BINARY:
        return binary_to_two_columns(raw)
    if task is TaskType.MULTICLASS:
        return normalize_rows(raw.reshape(-1, n_classes))
    return raw.reshape(-1)


def booster_meta(file: str, task: TaskType, n_classes: int, n_rounds: int, info: FitInfo) -> dict[str, Any]:
    """The metadata a booster's `load` needs, written beside its model file."""
    return {
        "file": file,
        "task": task.value,
        "n_classes": n_classes,
        "best_iteration": n_rounds,
        "n_iterations": info.n_iterations,
        "truncated": info.truncated,
    }


def model_path(directory: Path, meta: Mapping[str, Any], default: str) -> Path:
    """The existing model file named by `meta` inside `directory`; PackageError when it is missing."""
    path = Path(directory) / read_meta_file(meta, default)
    if not path.is_file():
        raise PackageError(f"Model file {path.name} is missing; the package is incomplete.")
    return path


def round_plan(
    n_iterations: int | None, has_eval_set: bool, learning_rate: float, n_rows: int, max_rounds: int
) -> tuple[int, int | None]:
    """(rounds, early-stopping patience) for a booster: fixed rounds, early stopping on an eval set, or a default."""
    if n_iterations is not None:
        return int(n_iterations), None
    if has_eval_set:
        return max_rounds, early_stopping_patience(n_rows)
    return default_rounds(learning_rate), None


def task_from_meta(meta: Mapping[str, Any]) -> tuple[TaskType, int]:
    """(task, n_classes) recorded by a model's `save`; PackageError if missing or malformed."""
    try:
        task = TaskType(meta["task"])
        k = int(meta.get("n_classes", 0))
    except (KeyError, ValueError, TypeError) as exc:
        raise PackageError(f"Model metadata lacks a valid task/n_classes ({exc}); the package is corrupt.") from exc
    if task.is_classification and k < 2:
        raise PackageError("Model metadata has a classification task without n_classes >= 2; the package is corrupt.")
    return task, k


@functools.lru_cache(maxsize=1)
def cuda_device_count() -> int:
    """Number of CUDA GPUs the driver shows this process (0 without a driver); never raises.

    Asks the driver library directly so no CUDA framework has to be importable.
    """
    for lib in ("libcuda.so.1", "libcuda.so", "nvcuda.dll"):
        try:
            cuda = ctypes.CDLL(lib)
        except OSError:
            continue
        try:
            if cuda.cuInit(0) != 0:
                return 0
            count = ctypes.c_int(0)
            if cuda.cuDeviceGetCount(ctypes.byref(count)) != 0:
                return 0
            return int(count.value)
        except Exception:  # noqa: BLE001 - a broken driver must read as "no GPU", not crash
            logger.debug("CUDA driver probe failed", exc_info=True)
            return 0
    return 0

