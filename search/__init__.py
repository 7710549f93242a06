"""Search: tasks, metrics and criteria, splits, budgets, the Optuna controller, the leaderboard."""

from search.budget import Budget
from search.controller import Controller, SearchOutcome
from search.criteria import Criterion, parse_criteria
from search.leaderboard import Leaderboard, TrialRecord
from search.metrics import METRICS, Metric, get_metric
from search.task import SearchData, Task

__all__ = [
    "METRICS",
    "Budget",
    "Controller",
    "Criterion",
    "Leaderboard",
    "Metric",
    "SearchData",
    "SearchOutcome",
    "Task",
    "TrialRecord",
    "get_metric",
    "parse_criteria",
]
