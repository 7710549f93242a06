"""Success criteria: strings like ``roc_auc >= 0.85`` parsed once into objects.

A criterion bounds a model metric from the registry or an operational measure of the
candidate (latency, fit time, package size); every leaderboard row carries its verdict.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from backends.contracts import TaskType
from backends.errors import ConfigError
from search.metrics import METRICS, Metric, get_metric

# operational measures every trial records, with what they mean
OPERATIONAL: dict[str, str] = {
    "predict_ms_p95": "95th percentile latency of a one-row prediction, in milliseconds",
    "predict_ms_per_1k": "batch prediction time per 1,000 rows, in milliseconds",
    "fit_s": "training seconds summed over folds",
    "model_mb": "size of the serialized model, in megabytes",
}

_OPS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge,
    "<=": operator.le,
    ">": operator.gt,
    "<": operator.lt,
    "==": operator.eq,
}
_PATTERN = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(>=|<=|==|>|<)\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*$")


@dataclass(frozen=True)
class Criterion:
    """One declared success criterion, e.g. ``predict_ms_p95 <= 5``."""

    name: str
    op: str
    threshold: float

    @property
    def text(self) -> str:
        return f"{self.name} {self.op} {self.threshold:g}"

    @property
    def is_operational(self) -> bool:
        return self.name in OPERATIONAL

    def check(self, value: float | None) -> bool:
        """Verdict for a measured value; a missing or NaN measurement fails."""
        if value is None or value != value:
            return False
        return _OPS[self.op](float(value), self.threshold)


def parse_criterion(text: str, task: TaskType) -> Criterion:
    """Parse ``"name op number"``; ConfigError for bad syntax or an unknown name."""
    match = _PATTERN.match(text) if isinstance(text, str) else None
    if match is None:
        raise ConfigError(f"Cannot parse success criterion {text!r}; write it as 'name op number', e.g. 'roc_auc >= 0.85'.")
    name, op, number = match.group(1).lower(), match.group(2), float(match.group(3))
    if name not in OPERATIONAL:
        if name not in METRICS:
            known = ", ".join([*METRICS, *OPERATIONAL])
            raise ConfigError(f"Unknown measure {name!r} in criterion {text!r}; use one of {known}.")
        get_metric(name, task)  # raises if the metric does not fit the task
    return Criterion(name, op, number)


def parse_criteria(items: str | Sequence[str] | None, task: TaskType) -> list[Criterion]:
    """Parse zero or more criteria (one string, or a list of strings)."""
    if items is None:
        return []
    if isinstance(items, str):
        items = [items]
    return [parse_criterion(item, task) for item in items]


def criteria_metrics(criteria: Sequence[Criterion], primary: Metric, task: TaskType) -> list[Metric]:
    """The model metrics to score: the primary one first, then any a criterion names."""
    names = [primary.name] + [c.name for c in criteria if not c.is_operational]
    out: list[Metric] = [primary]
    for name in dict.fromkeys(names[1:]):
        if name != primary.name:
            out.append(get_metric(name, task))
    return out


def verdicts(criteria: Sequence[Criterion], measures: Mapping[str, float | None]) -> dict[str, bool]:
    """Criterion text -> pass/fail for one candidate's measures."""
    return {c.text: c.check(measures.get(c.name)) for c in criteria}
