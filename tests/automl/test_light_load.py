"""Loading a package and predicting import neither Optuna nor the search package (a fresh interpreter checks)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import automl
from tests.conftest import load_slice

ROOT = Path(__file__).resolve().parents[2]

_CHECK = """
import sys
import pandas as pd
import automl
pipeline = automl.load(sys.argv[1])
pipeline.predict(pd.read_csv(sys.argv[2]))
heavy = sorted(m for m in sys.modules if m == "optuna" or m.startswith("optuna.") or m == "search" or m.startswith("search."))
assert not heavy, f"load and predict imported {heavy}"
assert "automl.api" not in sys.modules, "load and predict imported automl.api"
"""


def test_load_and_predict_import_neither_optuna_nor_search(tmp_path):
    data = load_slice("german_credit", 300)
    result = automl.fit(data, "credit", time_budget=3, n_trials=2, backends=["linear", "lightgbm"])
    package = result.save(tmp_path / "pkg")
    rows = tmp_path / "rows.csv"
    data.drop(columns="credit").head(20).to_csv(rows, index=False)
    done = subprocess.run([sys.executable, "-c", _CHECK, str(package), str(rows)], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


def test_lazy_names_resolve_and_are_listed():
    assert {"fit", "Result", "AutoClassifier", "AutoRegressor", "load", "Pipeline"} <= set(dir(automl))
    assert set(automl.__all__) <= set(dir(automl))
    from automl.api import fit
    from automl.sklearn import AutoRegressor

    assert automl.fit is fit and automl.AutoRegressor is AutoRegressor
