"""Model metrics: a name, a direction, whether it needs probabilities, and a function.

Predictions handed to a metric are the engine's raw outputs: class-probability matrices
(n, k) for classification and values (n,) for regression; targets are encoded labels.
Every built-in function is a module-level one, not a lambda: a Task and its metrics go to
worker processes and into pickled estimators.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.stats import rankdata
from sklearn import metrics as skm

from backends.contracts import TaskType
from backends.errors import ConfigError

_EPS = 1e-15


@dataclass(frozen=True)
class Metric:
    """A model metric; `score` works on raw predictions (probabilities or values)."""

    name: str
    fn: Callable[[np.ndarray, np.ndarray], float]
    greater_is_better: bool
    tasks: frozenset[TaskType]

    def score(self, y_true: np.ndarray, raw: np.ndarray) -> float:
        """The metric value of raw predictions `raw` against encoded targets `y_true`."""
        return float(self.fn(y_true, raw))

    def better(self, a: float, b: float) -> bool:
        """True if value `a` is strictly better than `b`."""
        return a > b if self.greater_is_better else a < b

    def loss(self, value: float) -> float:
        """The value as a quantity to minimize (Optuna minimizes)."""
        return -value if self.greater_is_better else value


def _labels(raw: np.ndarray) -> np.ndarray:
    return np.asarray(raw).argmax(axis=1)


def _roc_auc(y: np.ndarray, proba: np.ndarray) -> float:
    k = proba.shape[1]
    y = np.asarray(y)
    present = np.bincount(y, minlength=k) if y.dtype.kind in "iu" and len(y) and y.min() >= 0 and y.max() < k else None
    if present is None or not (present > 0).all() or not np.isfinite(proba).all():
        # sklearn's own checks and messages (one class present, NaN, labels out of range)
        if k == 2:
            return skm.roc_auc_score(y, proba[:, 1])
        return skm.roc_auc_score(y, proba, multi_class="ovr", average="macro", labels=range(k))
    if k == 2:
        return _binary_auc(y == 1, proba[:, 1])
    return float(np.mean([_binary_auc(y == c, proba[:, c]) for c in range(k)]))


def _binary_auc(positive: np.ndarray, score: np.ndarray) -> float:
    """Mann-Whitney AUC with average ranks on ties: the value sklearn's trapezoidal ROC AUC gives, at a
    third of its cost (the ensemble selection scores hundreds of blends)."""
    ranks = rankdata(score)
    n_pos = int(positive.sum())
    n_neg = len(positive) - n_pos
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def _log_loss(y: np.ndarray, proba: np.ndarray) -> float:
    k = proba.shape[1]
    y = np.asarray(y)
    p = np.clip(proba, _EPS, 1.0)
    p = p / p.sum(axis=1, keepdims=True)
    if y.dtype.kind not in "iu" or not len(y) or y.min() < 0 or y.max() >= k or not np.isfinite(p).all():
        return skm.log_loss(y, p, labels=range(k))  # sklearn's own checks and messages
    # what sklearn computes (it clips at float64 eps, below _EPS), without its validation's overhead
    return float(-np.log(p[np.arange(len(y)), y]).mean())


def _f1(y: np.ndarray, proba: np.ndarray) -> float:
    average = "binary" if proba.shape[1] == 2 else "macro"
    return skm.f1_score(y, _labels(proba), average=average)


def _accuracy(y: np.ndarray, proba: np.ndarray) -> float:
    return skm.accuracy_score(y, _labels(proba))


def _balanced_accuracy(y: np.ndarray, proba: np.ndarray) -> float:
    return skm.balanced_accuracy_score(y, _labels(proba))


def _rmse(y: np.ndarray, pred: np.ndarray) -> float:
    return float(np.sqrt(skm.mean_squared_error(y, pred)))


_CLS = frozenset({TaskType.BINARY, TaskType.MULTICLASS})
_REG = frozenset({TaskType.REGRESSION})

METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        Metric("roc_auc", _roc_auc, True, _CLS),
        Metric("log_loss", _log_loss, False, _CLS),
        Metric("accuracy", _accuracy, True, _CLS),
        Metric("balanced_accuracy", _balanced_accuracy, True, _CLS),
        Metric("f1", _f1, True, _CLS),
        Metric("rmse", _rmse, False, _REG),
        Metric("mae", skm.mean_absolute_error, False, _REG),
        Metric("r2", skm.r2_score, True, _REG),
    )
}

DEFAULT_METRIC = {TaskType.BINARY: "roc_auc", TaskType.MULTICLASS: "log_loss", TaskType.REGRESSION: "rmse"}


def get_metric(spec: str | Callable[..., float] | Metric | None, task: TaskType) -> Metric:
    """Resolve a metric name, a `Metric`, or a user callable `fn(y_true, raw) -> float` for `task`.

    A plain callable is taken as greater-is-better unless it carries a
    `greater_is_better = False` attribute; its name is its `__name__`.
    """
    if spec is None:
        spec = DEFAULT_METRIC[task]
    if isinstance(spec, Metric):
        metric = spec
    elif callable(spec):
        name = getattr(spec, "__name__", "custom_metric")
        metric = Metric(name, spec, bool(getattr(spec, "greater_is_better", True)), frozenset(TaskType))
    elif isinstance(spec, str):
        key = spec.strip().lower()
        if key not in METRICS:
            raise ConfigError(f"Unknown metric {spec!r}; choose from {', '.join(METRICS)} or pass a callable.")
        metric = METRICS[key]
    else:
        raise ConfigError(f"metric must be a name or a callable, got {type(spec).__name__}; pass e.g. 'roc_auc'.")
    if task not in metric.tasks:
        valid = [n for n, m in METRICS.items() if task in m.tasks]
        raise ConfigError(f"Metric {metric.name!r} does not apply to a {task.value} task; use one of {', '.join(valid)}.")
    return metric
