"""A tiny suite made of real slices of the shared datasets, written once per test session."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import DATASETS, load_slice

# name, task, target, metric, train rows, test rows
SLICES = [
    ("titanic", "binary", "Survived", "roc_auc", 300, 150),
    ("cpu_act", "regression", "target", "rmse", 300, 150),
    ("satimage", "multiclass", "target", "log_loss", 300, 150),
]


@pytest.fixture(scope="session")
def suite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A suite folder with MANIFEST.tsv: three tabular slices, a time-series and a related-tables dataset (copies of
    gunpoint and mutagenesis), and a row of a task no table view covers (to be skipped)."""
    root = tmp_path_factory.mktemp("suite")
    rows = []
    for name, task, target, metric, n_train, n_test in SLICES:
        (root / name).mkdir()
        load_slice(name, n_train, "train").to_csv(root / name / f"{name}.train.csv", index=False)
        load_slice(name, n_test, "test").to_csv(root / name / f"{name}.test.csv", index=False)
        rows.append({"name": name, "files": f"{name}/{name}.train.csv;{name}/{name}.test.csv", "task": task,
                     "target": target, "metric": metric})
    shared = pd.read_csv(DATASETS / "MANIFEST.tsv", sep="\t").set_index("name")
    for name in ("gunpoint", "mutagenesis"):
        shutil.copytree(DATASETS / name, root / name)
        row = shared.loc[name]
        rows.append({"name": name, "files": row["files"], "task": row["task"], "target": row["target"], "metric": row["metric"]})
    rows.append({"name": "sunspots", "files": "sunspots/sunspots.csv", "task": "forecasting", "target": "count", "metric": "rmse"})
    pd.DataFrame(rows).to_csv(root / "MANIFEST.tsv", sep="\t", index=False)
    return root
