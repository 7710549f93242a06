"""Dataset suites: a folder with MANIFEST.tsv (the ../shared/datasets convention)."""

from __future__ import annotations

import csv
import multiprocessing as mp
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn import metrics as skm

# numpy, pandas and scikit-learn only: `benchmarks.runners` imports this module inside
# other frameworks' virtual environments, where this engine's own dependencies are absent.


@dataclass(frozen=True)
class Dataset:
    """One tabular dataset of a suite with its fixed train/test files."""

    name: str
    task: str
    target: str
    metric: str
    train: Path
    test: Path

    def load(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        return pd.read_csv(self.train, low_memory=False), pd.read_csv(self.test, low_memory=False)


TABULAR = ("binary", "multiclass", "regression")
LOWER_IS_BETTER = frozenset({"log_loss", "rmse"})


def read_manifest(folder: str | Path) -> tuple[dict[str, Dataset], dict[str, str]]:
    """The tabular datasets of `folder`/MANIFEST.tsv by name, and the other rows as {name: task}."""
    from backends.errors import DataError  # lazily: see the note on the imports

    root = Path(folder)
    manifest = root / "MANIFEST.tsv"
    if not manifest.is_file():
        raise DataError(f"No MANIFEST.tsv in {str(root)!r}; pass a dataset suite folder such as ../shared/datasets.")
    out, skipped = {}, {}
    with manifest.open() as fh:
        for row in csv.DictReader(fh, delimiter="\t"):
            if row["task"] not in TABULAR:
                skipped[row["name"]] = row["task"]
                continue
            files = row["files"].split(";")
            out[row["name"]] = Dataset(row["name"], row["task"], row["target"], row["metric"], root / files[0], root / files[1])
    return out, skipped


def read_suite(folder: str | Path) -> dict[str, Dataset]:
    """The tabular datasets listed in `folder`/MANIFEST.tsv, by name."""
    return read_manifest(folder)[0]


def in_fresh_process(fn: Callable[..., Any], *args: Any) -> Any:
    """`fn(*args)` in a new spawned process: nothing is shared between runs, and peak memory is the run's own."""
    with ProcessPoolExecutor(max_workers=1, mp_context=mp.get_context("spawn")) as pool:
        return pool.submit(fn, *args).result()


def lower_is_better(metric: str) -> bool:
    """True for losses (log_loss, rmse), False for scores (roc_auc, accuracy)."""
    return metric in LOWER_IS_BETTER


def test_score(metric: str, classes: list | None, y_true: pd.Series, pred: np.ndarray, proba: np.ndarray | None) -> float:
    """Score test-set predictions with the manifest's metric (roc_auc, log_loss, accuracy or rmse)."""
    if metric == "roc_auc":
        assert proba is not None and classes is not None
        if len(classes) == 2:
            return float(skm.roc_auc_score(y_true == classes[1], proba[:, 1]))
        return float(skm.roc_auc_score(y_true, proba, multi_class="ovr", labels=classes))
    if metric == "log_loss":
        assert proba is not None
        return float(skm.log_loss(y_true, np.clip(proba, 1e-15, 1), labels=classes))
    if metric == "accuracy":
        return float(skm.accuracy_score(y_true, pred))
    if metric == "rmse":
        return float(np.sqrt(skm.mean_squared_error(y_true, pred)))
    raise ValueError(f"unknown metric {metric}")
