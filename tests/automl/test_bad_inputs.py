"""Every bad input ends in a typed error with a one-sentence message, never a deep traceback."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import automl
from backends.errors import ConfigError, DataError
from tests.conftest import load_slice


@pytest.fixture(scope="module")
def credit():
    return load_slice("german_credit", 200)


def _fit(frame, target="credit", **kw):
    kw.setdefault("n_trials", 1)
    kw.setdefault("backends", ["linear"])
    return automl.fit(frame, target, **kw)


def _cases(credit):
    dup = credit.copy()
    dup.columns = ["duration"] * 2 + list(credit.columns[2:])
    nan_target = credit.copy().astype({"credit": float})
    nan_target.loc[3, "credit"] = np.nan
    inf_target = load_slice("cpu_act", 200)
    inf_target.loc[5, "target"] = np.inf
    const = pd.DataFrame({"a": [1] * 50, "b": ["x"] * 50, "credit": [1, 2] * 25})
    weird = credit.copy()
    weird["blob"] = [{"k": i} for i in range(len(weird))]
    return {
        "empty": (credit.iloc[:0], {}, DataError, "no rows"),
        "no columns": (pd.DataFrame(), {}, DataError, "no columns"),
        "target missing": (credit.drop(columns="credit"), {}, DataError, "credit"),
        "target all NaN": (credit.assign(credit=np.nan), {}, DataError, "entirely missing"),
        "single class": (credit.assign(credit=1), {}, DataError, "class"),
        "NaN in target": (nan_target, {}, DataError, "missing"),
        "inf in target": (inf_target, {"target": "target"}, DataError, "inf"),
        "duplicate columns": (dup, {}, DataError, "duplicate"),
        "unsupported dtype": (weird, {}, DataError, "blob"),
        "all-constant features": (const, {}, DataError, "feature"),
        "budget zero": (credit, {"time_budget": 0}, ConfigError, "time_budget"),
        "budget negative": (credit, {"time_budget": -5}, ConfigError, "time_budget"),
        "unknown metric": (credit, {"metric": "auc_roc"}, ConfigError, "auc_roc"),
        "unknown criterion": (credit, {"success": ["speed >= 3"]}, ConfigError, "speed"),
        "malformed criterion": (credit, {"success": "roc_auc about 0.9"}, ConfigError, "parse"),
        "metric for other task": (credit, {"metric": "rmse"}, ConfigError, "rmse"),
        "unknown backend": (credit, {"backends": ["h2o_gbm"]}, ConfigError, "h2o_gbm"),
        "unknown device": (credit, {"device": "tpu"}, ConfigError, "tpu"),
        "unknown task": (credit, {"task": "ranking"}, ConfigError, "ranking"),
        "bad n_trials": (credit, {"n_trials": 0}, ConfigError, "n_trials"),
        "missing file": ("/nonexistent/train.csv", {}, DataError, "does not exist"),
    }




@pytest.mark.parametrize(
    "name",
    [
        "empty", "no columns", "target missing", "target all NaN", "single class", "NaN in target", "inf in target",
        "duplicate columns", "unsupported dtype", "all-constant features", "budget zero", "budget negative",
        "unknown metric", "unknown criterion", "malformed criterion", "metric for other task", "unknown backend",
        "unknown device", "unknown task", "bad n_trials", "missing file",
    ],
)
def test_bad_input_raises_typed_error(credit, name):
    frame, kw, error, word = _cases(credit)[name]
    target = kw.pop("target", "credit")
    with pytest.raises(error) as info:
        _fit(frame, target, **kw)
    message = str(info.value)
    assert word.lower() in message.lower(), message
    assert "\n" not in message and len(message) < 400


def test_unreadable_and_non_csv_files(tmp_path):
    garbage = tmp_path / "train.csv.gz"
    garbage.write_bytes(b"not gzip at all")
    with pytest.raises(DataError, match="Could not read"):
        automl.fit(garbage, "y")
    sheet = tmp_path / "train.xlsx"
    sheet.write_bytes(b"PK\x03\x04 a spreadsheet")
    with pytest.raises(DataError, match="Unsupported file type"):
        automl.fit(sheet, "b")
