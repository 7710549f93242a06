"""Search: tasks, metrics and criteria, splits, budgets, the Optuna controller, worker processes, the leaderboard.

Names resolve on first use (PEP 562), so importing one light module (say `search.metrics`) does not
import the controller and Optuna with it.
"""

from __future__ import annotations

import importlib
from typing import Any

_WHERE = {
    "METRICS": "search.metrics",
    "Budget": "search.budget",
    "Controller": "search.controller",
    "Criterion": "search.criteria",
    "Leaderboard": "search.leaderboard",
    "Metric": "search.metrics",
    "SearchData": "search.task",
    "SearchOutcome": "search.controller",
    "Task": "search.task",
    "TrialRecord": "search.leaderboard",
    "get_metric": "search.metrics",
    "parse_criteria": "search.criteria",
    "prepare_table": "search.prepare",
    "encode_target": "search.prepare",
}

__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'search' has no attribute {name!r}")
    value = getattr(importlib.import_module(_WHERE[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_WHERE))
