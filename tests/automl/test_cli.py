"""The `automl` command line: fit, predict, leaderboard, and errors as one line with exit code 2."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from automl.cli import main
from tests.conftest import dataset_path, load_slice


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("cli")
    train = tmp / "train.csv"
    load_slice("german_credit", 600).to_csv(train, index=False)
    result = CliRunner().invoke(main, [
        "fit", str(train), "--target", "credit", "--n-trials", "3", "--time-budget", "120",
        "--backend", "linear", "--backend", "lightgbm", "--success", "roc_auc >= 0.5", "--out", str(tmp / "run"),
    ])
    assert result.exit_code == 0, result.output
    return tmp / "run", result.output


def test_fit_writes_outputs_and_prints_leaderboard(run_dir):
    out, output = run_dir
    for name in ["leaderboard.csv", "leaderboard.json", "report.json", "model/manifest.json"]:
        assert (out / name).is_file(), name
    assert "rank" in output and "package:" in output and "passes every success criterion" in output
    board = pd.read_csv(out / "leaderboard.csv")
    # three trials, plus the greedy ensemble over them when it keeps more than one
    combined = board["backend"].isin(["ensemble", "stack"])
    assert (~combined).sum() == 3 and (board["backend"] == "ensemble").sum() <= 1 and (board["backend"] == "stack").sum() <= 1
    assert board.loc[0, "rank"] == 1
    assert len(json.loads((out / "leaderboard.json").read_text())) == len(board)
    assert json.loads((out / "report.json").read_text())["success"]["best_passed"] is True


def test_predict_keeps_row_order_and_ignores_target(run_dir, tmp_path):
    out, _ = run_dir
    test = pd.read_csv(dataset_path("german_credit", "test"))
    data = tmp_path / "test.csv.gz"
    test.to_csv(data, index=False)
    preds = tmp_path / "preds.csv"
    result = CliRunner().invoke(main, ["predict", str(out / "model"), str(data), "--proba", "--out", str(preds)])
    assert result.exit_code == 0, result.output
    frame = pd.read_csv(preds)
    assert list(frame.columns) == ["prediction", "proba_1", "proba_2"] and len(frame) == len(test)
    # the same rows reversed give the same predictions reversed
    reversed_file = tmp_path / "rev.parquet"
    test.iloc[::-1].drop(columns="credit").to_parquet(reversed_file)
    again = CliRunner().invoke(main, ["predict", str(out / "model"), str(reversed_file), "--proba"])
    back = pd.read_csv(__import__("io").StringIO(again.stdout))
    np.testing.assert_allclose(back["proba_2"].to_numpy(), frame["proba_2"].to_numpy()[::-1], rtol=0, atol=1e-9)


def test_leaderboard_command(run_dir):
    out, _ = run_dir
    result = CliRunner().invoke(main, ["leaderboard", str(out), "--top", "2"])
    assert result.exit_code == 0 and "model_id" in result.output and len(result.output.splitlines()) >= 3


@pytest.mark.parametrize(
    "args,word",
    [
        (["fit", "/no/such.csv", "--target", "y"], "does not exist"),
        (["predict", "/no/model", "/no/data.csv"], "No model package"),
        (["leaderboard", "/no/dir"], "leaderboard.csv"),
    ],
)
def test_errors_are_one_line_with_exit_code_2(args, word):
    proc = subprocess.run([sys.executable, "-m", "automl.cli", *args], capture_output=True, text=True)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and word in lines[0], proc.stderr


def test_bad_criterion_and_budget_on_cli(tmp_path):
    train = tmp_path / "t.csv"
    load_slice("german_credit", 100).to_csv(train, index=False)
    for extra, word in [(["--success", "roc_auc ~ 3"], "criterion"), (["--time-budget", "0"], "time_budget")]:
        proc = subprocess.run([sys.executable, "-m", "automl.cli", "fit", str(train), "--target", "credit", *extra],
                              capture_output=True, text=True)
        assert proc.returncode == 2 and word in proc.stderr and proc.stderr.count("\n") == 1, proc.stderr


def test_help_for_each_command():
    for cmd in [[], ["fit"], ["predict"], ["leaderboard"]]:
        result = CliRunner().invoke(main, [*cmd, "--help"])
        assert result.exit_code == 0 and "Usage" in result.output
