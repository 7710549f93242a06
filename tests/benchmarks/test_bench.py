"""The orchestrator: one process per run, results.csv schema, resume, hard kill, failures, missing runners, CLI."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pandas as pd
import psutil
import pytest
from click.testing import CliRunner

from automl.cli import main as cli
from backends.errors import ConfigError
from benchmarks import bench
from benchmarks.suite import Dataset, read_suite


def test_run_writes_the_schema_and_resumes(suite: Path, tmp_path: Path) -> None:
    lines: list[str] = []
    frame = bench.run_bench(suite, 3, tmp_path, frameworks=["constant", "lightgbm-default"], datasets=["titanic", "sunspots"],
                            echo=lines.append)
    assert list(frame.columns) == bench.COLUMNS
    assert len(frame) == 2
    assert set(frame["status"]) == {"ok"}
    assert (frame["seed"] == 0).all() and (frame["repeat"] == 0).all() and (frame["budget_s"] == 3.0).all()
    assert (frame["peak_mb"] > 10).all() and (frame["process_s"] >= frame["wall_s"]).all()
    assert any("skipped dataset sunspots" in line for line in lines)
    assert sum(" ok" in line for line in lines) == 2
    scores = frame.set_index("framework")["test_score"]
    assert scores["constant"] == pytest.approx(0.5)
    assert scores["lightgbm-default"] > 0.75
    for info in frame["info"]:
        assert json.loads(info)["constant_score"] == pytest.approx(0.5)
    assert (tmp_path / "logs" / "titanic.lightgbm-default.0.log").is_file()

    # Same call again: nothing new; a second repeat of the constant: one new row with seed 1
    lines.clear()
    again = bench.run_bench(suite, 3, tmp_path, frameworks=["constant", "lightgbm-default"], datasets=["titanic"], echo=lines.append)
    assert len(again) == 2 and any("resuming: 2" in line for line in lines)
    more = bench.run_bench(suite, 3, tmp_path, frameworks=["constant"], datasets=["titanic"], repeats=2, echo=lines.append)
    assert len(more) == 3
    assert more.loc[more["repeat"] == 1, "seed"].tolist() == [1]


def test_hard_kill_is_a_timeout_scored_as_constant(suite: Path, tmp_path: Path) -> None:
    ds = read_suite(suite)["titanic"]
    start = time.monotonic()
    # 8 s: the runner imports pandas and scikit-learn and reads the data before its child starts, which took over 2 s
    # on a busy machine
    row = bench.run_one(ds, "_sleep", 0, 60.0, 0, tmp_path, kill_after=8.0)
    assert time.monotonic() - start < 20
    assert row["status"] == "timeout"
    assert row["test_score"] == pytest.approx(0.5)
    assert row["wall_s"] == 8.0
    assert "killed after 8s" in row["error"]
    # the runner's own child was killed with it
    pid = int(re.search(r"child pid (\d+)", (tmp_path / "logs" / "titanic._sleep.0.log").read_text()).group(1))
    time.sleep(0.2)
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE


def test_a_crash_is_a_failure_scored_as_constant(suite: Path, tmp_path: Path) -> None:
    good = read_suite(suite)["titanic"]
    broken = Dataset(good.name, good.task, "no_such_column", good.metric, good.train, good.test)
    row = bench.run_one(broken, "lightgbm-default", 0, 3.0, 0, tmp_path, constant_score=0.5)
    assert row["status"] == "failed"
    assert row["test_score"] == 0.5
    assert "KeyError" in row["error"] and "no_such_column" in row["error"]


def test_missing_framework_is_reported_with_the_fix(suite: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(bench.AUTOGLUON_ENV, str(tmp_path / "nowhere" / "python"))
    default = bench.plan(suite)
    assert "autogluon-medium" not in default.frameworks and "constant" in default.frameworks
    assert "make bench-autogluon" in default.missing_frameworks["autogluon-best"]
    lines: list[str] = []
    frame = bench.run_bench(suite, 3, tmp_path / "out", frameworks=["autogluon-medium"], datasets=["titanic"], echo=lines.append)
    assert list(frame["status"]) == ["missing"]
    assert "make bench-autogluon" in frame["error"][0]
    assert frame["test_score"][0] == pytest.approx(0.5)
    assert any("autogluon-medium is not installed" in line for line in lines)
    # a missing row is tried again on the next call
    assert bench.done_keys(frame) == set()


def test_bad_names_are_config_errors(suite: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="Unknown framework"):
        bench.plan(suite, frameworks=["h2o"])
    with pytest.raises(ConfigError, match="not in"):
        bench.plan(suite, datasets=["nope"])
    with pytest.raises(ConfigError, match="budget"):
        bench.run_bench(suite, 0, tmp_path)


def test_cli_run_then_report(suite: Path, tmp_path: Path) -> None:
    out = tmp_path / "bench"
    runner = CliRunner()
    result = runner.invoke(cli, ["bench", "run", str(suite), "--budget", "2", "--frameworks", "constant", "--datasets", "titanic,cpu_act",
                                 "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "titanic" in result.output and "2 rows in" in result.output
    assert len(pd.read_csv(out / "results.csv")) == 2
    result = runner.invoke(cli, ["bench", "report", str(out)])
    assert result.exit_code == 0, result.output
    assert "| constant |" in result.output
    assert (out / "report.html").is_file() and (out / "scores.png").is_file()
    result = runner.invoke(cli, ["bench", "report", str(tmp_path / "empty")])
    assert result.exit_code == 2 and "No results.csv" in result.output
    result = runner.invoke(cli, ["bench", "frameworks"])
    assert result.exit_code == 0 and "lightgbm-default" in result.output
