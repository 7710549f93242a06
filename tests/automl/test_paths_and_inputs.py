"""Paths, arguments and inputs a user really has: a clear error before the work (CLI: one line on stderr,
exit 2, no traceback; Python: a typed error), and the input kinds beyond CSV through the CLI and `fit`."""

from __future__ import annotations

import json
import os
import sqlite3
import warnings

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

import automl
from automl.cli import main
from backends.errors import ConfigError, CriteriaNotMetWarning, DataError, PackageError
from tests.conftest import DATASETS, load_slice

QUICK = ["--n-trials", "1", "--backend", "linear", "--time-budget", "60"]


@pytest.fixture(scope="module")
def train_csv(tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "train.csv"
    load_slice("german_credit", 200).to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def run(tmp_path_factory, train_csv):
    """One finished run folder (fit with a criterion no model meets: exit 3, everything written)."""
    out = tmp_path_factory.mktemp("runs") / "run"
    result = CliRunner().invoke(main, ["fit", str(train_csv), "--target", "credit", *QUICK, "--success", "roc_auc >= 0.999", "--out", str(out)])
    return out, result


def _one_line_error(result, *words: str) -> str:
    """The CLI failed with exit 2 and one line on stderr naming `words`, and no traceback anywhere."""
    assert result.exit_code == 2, (result.exit_code, result.output, result.exception)
    err = result.stderr.strip()
    assert err.startswith("error: ") and "\n" not in err, err
    assert "Traceback" not in result.output and (result.exception is None or isinstance(result.exception, SystemExit))
    for word in words:
        assert word.lower() in err.lower(), err
    return err


def _fit(*args: str):
    return CliRunner().invoke(main, ["fit", *args])


# -- exit codes and what fit prints ----------------------------------------------------------------------
def test_declared_criteria_that_no_candidate_passes_exit_3_with_everything_written(run):
    out, result = run
    assert result.exit_code == 3, result.output
    for name in ["leaderboard.csv", "leaderboard.json", "report.json", "model/manifest.json"]:
        assert (out / name).is_file(), name
    assert "NO candidate passes all success criteria" in result.stdout
    assert json.loads((out / "report.json").read_text())["success"]["best_passed"] is False


def test_fit_prints_the_inferred_task_the_metric_direction_and_what_the_package_claims(run):
    _, result = run
    assert "task: binary (inferred); metric: roc_auc (higher is better)" in result.stdout
    assert "packaged t" in result.stdout and "roc_auc=" in result.stdout and "judged on" not in result.stderr


def test_a_failing_criterion_is_a_python_warning_too():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        automl.fit(load_slice("german_credit", 200), "credit", n_trials=1, backends=["linear"], success="roc_auc >= 0.999")
    assert any(issubclass(w.category, CriteriaNotMetWarning) and issubclass(w.category, UserWarning) for w in caught)


# -- output locations: checked before any work, never overwriting an unrelated file ----------------------
def test_out_that_is_a_file_is_refused_before_the_search(train_csv, tmp_path):
    target = tmp_path / "notes.txt"
    target.write_text("keep me")
    _one_line_error(_fit(str(train_csv), "--target", "credit", *QUICK, "--out", str(target)), "is a file")
    assert target.read_text() == "keep me"


def test_out_that_is_an_unrelated_folder_is_refused_and_left_untouched(train_csv, tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    (folder / "cat.jpg").write_bytes(b"meow")
    _one_line_error(_fit(str(train_csv), "--target", "credit", *QUICK, "--out", str(folder)), "non-empty folder")
    assert sorted(p.name for p in folder.iterdir()) == ["cat.jpg"]
    with pytest.raises(ConfigError, match="non-empty folder"):
        automl.fit(load_slice("german_credit", 200), "credit", n_trials=1, backends=["linear"]).export(folder)
    assert sorted(p.name for p in folder.iterdir()) == ["cat.jpg"]


def test_an_earlier_run_folder_is_replaced_whole(run, train_csv):
    out, _ = run
    before = json.loads((out / "report.json").read_text())["study_name"]
    result = _fit(str(train_csv), "--target", "credit", *QUICK, "--seed", "3", "--out", str(out))
    assert result.exit_code == 0, result.output
    assert json.loads((out / "report.json").read_text())["study_name"] != before
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".")]  # no temporary folder left behind


def test_predict_out_that_is_a_folder_is_refused(run, train_csv, tmp_path):
    out, _ = run
    result = CliRunner().invoke(main, ["predict", str(out / "model"), str(train_csv), "--out", str(tmp_path)])
    _one_line_error(result, "is a folder")


def test_predict_without_data_names_data_not_train(run):
    out, _ = run
    err = _one_line_error(CliRunner().invoke(main, ["predict", str(out / "model")]), "DATA")
    assert "TRAIN" not in err


# -- arguments -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("seed", ["-5", "4294967296"])
def test_out_of_range_seed_is_one_line(train_csv, tmp_path, seed):
    _one_line_error(_fit(str(train_csv), "--target", "credit", *QUICK, "--seed", seed, "--out", str(tmp_path / "r")), "0 to 4294967295")


@pytest.mark.parametrize("budget", ["inf", "nan", "-1"])
def test_non_finite_budget_is_one_line(train_csv, tmp_path, budget):
    _one_line_error(_fit(str(train_csv), "--target", "credit", "--time-budget", budget, "--out", str(tmp_path / "r")), "time_budget")


@pytest.mark.parametrize("kw,word", [({"seed": -1}, "0 to 4294967295"), ({"seed": 2**32}, "seed"), ({"time_budget": float("inf")}, "finite")])
def test_bad_seed_and_budget_in_python_are_config_errors(kw, word):
    with pytest.raises(ConfigError, match=word):
        automl.fit(load_slice("german_credit", 100), "credit", **kw)


def test_sklearn_wrappers_speak_in_x_and_y():
    data = load_slice("german_credit", 100)
    X, y = data.drop(columns="credit"), data["credit"].astype(float)
    y_nan = y.copy()
    y_nan.iloc[7] = np.nan
    with pytest.raises(DataError, match="y has 1 missing value") as info:
        automl.AutoClassifier(n_trials=1).fit(X, y_nan)
    assert "__target__" not in str(info.value)
    with pytest.raises(DataError, match="y has 99 values but X has 100 rows"):
        automl.AutoClassifier(n_trials=1).fit(X, y.iloc[:99])
    with pytest.raises(DataError, match="two-dimensional"):
        automl.AutoRegressor(n_trials=1).fit(np.arange(10.0), np.arange(10.0))


# -- inputs beyond comma-separated CSV -------------------------------------------------------------------
def test_semicolon_file_is_read_and_the_delimiter_reported(tmp_path):
    path = tmp_path / "train.csv"
    load_slice("german_credit", 200).to_csv(path, sep=";", index=False)
    result = _fit(str(path), "--target", "credit", *QUICK, "--out", str(tmp_path / "r"))
    assert result.exit_code == 0, result.output
    assert "semicolon-separated" in result.stdout and "200 rows" in result.stdout


def test_duplicate_column_names_in_a_file_are_refused(tmp_path):
    path = tmp_path / "dup.csv"
    path.write_text("a,a,y\n1,2,0\n3,4,1\n5,6,0\n")
    _one_line_error(_fit(str(path), "--target", "y", "--out", str(tmp_path / "r")), "a")


@pytest.mark.parametrize("suffix", [".json", ".jsonl.gz"])
def test_json_and_json_lines_train(tmp_path, suffix):
    data = load_slice("german_credit", 200)
    path = tmp_path / f"train{suffix}"
    if suffix == ".json":
        data.to_json(path, orient="records")
    else:
        data.to_json(path, orient="records", lines=True, compression="gzip")
    result = _fit(str(path), "--target", "credit", *QUICK, "--out", str(tmp_path / "r"))
    assert result.exit_code == 0, result.output


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    path = tmp_path_factory.mktemp("db") / "shop.db"
    with sqlite3.connect(path) as con:
        load_slice("german_credit", 200).to_sql("orders", con, index=False)
    return path


def test_a_database_table_or_query_trains_through_cli_and_api(shop, tmp_path):
    url = f"sqlite:///{shop}"
    result = _fit(url, "--table", "orders", "--target", "credit", *QUICK, "--out", str(tmp_path / "r"))
    assert result.exit_code == 0, result.output
    assert "table 'orders'" in result.stdout
    fitted = automl.fit(url, "credit", query="select * from orders where age > 20", n_trials=1, backends=["linear"])
    assert fitted.report["profile"]["n_rows"] > 100
    preds = CliRunner().invoke(main, ["predict", str(tmp_path / "r" / "model"), url, "--table", "orders"])
    assert preds.exit_code == 0 and len(preds.stdout.strip().splitlines()) == 201


def test_database_mistakes_are_one_line(shop, tmp_path):
    url = f"sqlite:///{shop}"
    _one_line_error(_fit(url, "--table", "customers", "--target", "credit", "--out", str(tmp_path / "r")), "customers", "orders")
    _one_line_error(_fit(f"sqlite:///{tmp_path / 'missing.db'}", "--table", "orders", "--target", "credit", "--out", str(tmp_path / "r")))
    assert not (tmp_path / "missing.db").exists()
    _one_line_error(_fit(url, "--target", "credit", "--out", str(tmp_path / "r")), "table")
    with pytest.raises(ConfigError, match="database URL"):
        automl.fit(load_slice("german_credit", 100), "credit", table="orders")


# -- the package on disk -----------------------------------------------------------------------------------
def test_a_package_with_a_symbolic_link_is_refused(run, tmp_path):
    out, _ = run
    import shutil

    pkg = tmp_path / "pkg"
    shutil.copytree(out / "model", pkg)
    model_file = next(p for p in (pkg / "model" / "0").iterdir() if p.is_file())
    outside = tmp_path / "outside.bin"
    model_file.rename(outside)
    os.symlink(outside, model_file)  # the same bytes, so every checksum still matches
    with pytest.raises(PackageError, match="symbolic link"):
        automl.load(pkg)
    _one_line_error(CliRunner().invoke(main, ["predict", str(pkg), str(out / "leaderboard.csv")]), "symbolic link")


def test_a_channel_column_the_series_lack_says_how_to_fix_it():
    root = DATASETS / "gunpoint"
    if not root.is_dir():
        pytest.skip("shared dataset gunpoint not found")
    series = pd.read_csv(root / "gunpoint.train.series.csv.gz")
    labels = pd.read_csv(root / "gunpoint.train.labels.csv.gz")
    with pytest.raises(DataError, match="column_kind='channel'") as info:
        automl.fit(series=series, labels=labels, column_kind="channel", time_budget=30)
    assert "SeriesSpec" not in str(info.value) and "column_kind=None" in str(info.value)
