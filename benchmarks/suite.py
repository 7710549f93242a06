"""Dataset suites: a folder with MANIFEST.tsv (the ../shared/datasets convention)."""

from __future__ import annotations

import csv
import json
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
    """One dataset of a suite with its fixed train/test files.

    `kind` "table": `train`/`test` are its tables. "series": `files` are the train series, train labels, test
    series and test labels (long format: id, time, value[, channel]). "relational": `train`/`test` are the
    target table's and `files` holds the schema (features.relational). Every kind has a table view (`load`),
    what a tabular framework can take: the table itself, each series' raw values as one row (what
    1-nearest-neighbour Euclidean compares), or the target table's own columns without its key.
    """

    name: str
    task: str
    target: str
    metric: str
    train: Path
    test: Path
    kind: str = "table"
    files: tuple[Path, ...] = ()

    def load(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        """The (train, test) table view, target column included."""
        if self.kind == "series":
            series = [pd.read_csv(f, low_memory=False) for f in self.files]
            train = series_table(series[0], series[1], self.target)
            # the test rows get the training columns: series longer than any training one are cut, shorter ones padded
            return train, series_table(series[2], series[3], self.target).reindex(columns=train.columns)
        train, test = pd.read_csv(self.train, low_memory=False), pd.read_csv(self.test, low_memory=False)
        if self.kind == "relational":
            schema = json.loads(self.files[0].read_text())
            key = schema["tables"][schema["target_table"]]["index"]
            return train.drop(columns=[key], errors="ignore"), test.drop(columns=[key], errors="ignore")
        return train, test


def series_table(series: pd.DataFrame, labels: pd.DataFrame, target: str) -> pd.DataFrame:
    """One row per series id, in `labels` order: its values by channel and time step as columns, then the target."""
    keys = ["channel", "time"] if "channel" in series.columns else ["time"]
    wide = series.pivot(index="id", columns=keys, values="value").sort_index(axis=1)
    wide.columns = ["_".join(["v", *map(str, c)]) if isinstance(c, tuple) else f"v_{c}" for c in wide.columns]
    out = wide.reindex(labels["id"]).reset_index(drop=True)
    out[target] = labels[target].to_numpy()
    return out


TABULAR = ("binary", "multiclass", "regression")
KINDS = {"ts_classification": "series", "relational": "relational"}  # manifest task -> Dataset.kind
LOWER_IS_BETTER = frozenset({"log_loss", "rmse"})


def _rows(folder: str | Path) -> list[dict[str, str]]:
    from backends.errors import DataError  # lazily: see the note on the imports

    manifest = Path(folder) / "MANIFEST.tsv"
    if not manifest.is_file():
        raise DataError(f"No MANIFEST.tsv in {str(folder)!r}; pass a dataset suite folder such as ../shared/datasets.")
    with manifest.open() as fh:
        return list(csv.DictReader(fh, delimiter="\t"))


def read_manifest(folder: str | Path) -> tuple[dict[str, Dataset], dict[str, str]]:
    """The tabular datasets of `folder`/MANIFEST.tsv by name, and the other rows as {name: task}."""
    return _datasets(folder, with_views=False)


def read_collection(folder: str | Path) -> tuple[dict[str, Dataset], dict[str, str]]:
    """Every dataset of `folder`/MANIFEST.tsv that has a table view (tabular, time series, related tables) by name,
    and the rows of other tasks as {name: task}. A series task is binary or multiclass by its training labels."""
    return _datasets(folder, with_views=True)


def _datasets(folder: str | Path, with_views: bool) -> tuple[dict[str, Dataset], dict[str, str]]:
    root = Path(folder)
    out, skipped = {}, {}
    for row in _rows(folder):
        name, target, metric = row["name"], row["target"], row["metric"]
        files = [root / f for f in row["files"].split(";")]
        kind = "table" if row["task"] in TABULAR else KINDS.get(row["task"]) if with_views else None
        if kind == "table":
            out[name] = Dataset(name, row["task"], target, metric, files[0], files[1])
        elif kind == "series":
            task = "binary" if pd.read_csv(files[1])[target].nunique() == 2 else "multiclass"
            out[name] = Dataset(name, task, target, metric, files[0], files[2], kind, tuple(files))
        elif kind == "relational":
            schema = next(f for f in files if f.name.endswith(".schema.json"))
            task = json.loads(schema.read_text())["task"]
            out[name] = Dataset(name, task, target, metric, files[0], files[1], kind, (schema,))
        else:
            skipped[name] = row["task"]
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
    if metric == "accuracy":  # labels compared as text: frameworks hand back ints, strings or object arrays
        return float(skm.accuracy_score(np.asarray(y_true).astype(str), np.asarray(pred).astype(str)))
    if metric == "rmse":
        return float(np.sqrt(skm.mean_squared_error(y_true, pred)))
    raise ValueError(f"unknown metric {metric}")
