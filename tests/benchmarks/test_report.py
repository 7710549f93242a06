"""Normalization, wins/ties/losses and report files, on hand-made results frames."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from benchmarks import report
from benchmarks.bench import COLUMNS, append_row


def _rows(budget: float, scores: dict[tuple[str, str], float | list[float]], status: dict | None = None) -> list[dict]:
    metrics = {"adult": "roc_auc", "housing": "rmse", "sat": "log_loss"}
    rows = []
    for (dataset, framework), values in scores.items():
        for repeat, value in enumerate(values if isinstance(values, list) else [values]):
            rows.append({
                "dataset": dataset, "framework": framework, "repeat": repeat, "budget_s": budget, "seed": repeat,
                "metric": metrics[dataset], "test_score": value, "wall_s": budget / 2, "process_s": budget / 2 + 1,
                "peak_mb": 300.0, "status": (status or {}).get((dataset, framework), "ok"), "error": "", "info": "{}",
            })
    return rows


def _frame(rows: list[dict]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=COLUMNS)


SCORES = {
    ("adult", "constant"): 0.5, ("adult", "automl"): [0.92, 0.94], ("adult", "flaml"): 0.90, ("adult", "lightgbm-default"): 0.93,
    ("housing", "constant"): 100.0, ("housing", "automl"): 50.0, ("housing", "flaml"): 40.0, ("housing", "lightgbm-default"): 50.04,
}


def test_normalized_score_handles_both_directions() -> None:
    summary = report.summarize(_frame(_rows(60, SCORES))).set_index(["dataset", "framework"])
    assert summary.loc[("adult", "automl"), "score"] == pytest.approx(0.93)
    assert summary.loc[("adult", "automl"), "std"] == pytest.approx(0.0141421, rel=1e-4)
    # roc_auc: best mean is 0.93 (automl and lightgbm tie at the top)
    assert summary.loc[("adult", "automl"), "normalized"] == pytest.approx(1.0)
    assert summary.loc[("adult", "flaml"), "normalized"] == pytest.approx(0.4 / 0.43)
    assert summary.loc[("adult", "constant"), "normalized"] == pytest.approx(0.0)
    # rmse: lower is better, best = flaml's 40
    assert summary.loc[("housing", "flaml"), "normalized"] == pytest.approx(1.0)
    assert summary.loc[("housing", "automl"), "normalized"] == pytest.approx(50 / 60)
    assert summary.loc[("housing", "constant"), "normalized"] == pytest.approx(0.0)
    overall = report.mean_normalized(summary.reset_index()).set_index("framework")["mean_normalized"]
    assert overall["automl"] == pytest.approx((1.0 + 50 / 60) / 2)
    assert list(overall.index[:2]) == ["flaml", "automl"]  # best first: (0.4 / 0.43 + 1) / 2 > (1 + 50 / 60) / 2


def test_wins_ties_losses_per_peer() -> None:
    summary = report.summarize(_frame(_rows(60, SCORES)))
    wtl = report.wins_ties_losses(summary).set_index("peer")
    # adult: 0.93 vs flaml 0.90 win, vs lightgbm 0.93 tie, vs constant win
    # housing (rmse): 50 vs flaml 40 loss, vs lightgbm 50.04 tie (within 0.1 %), vs constant 100 win
    assert wtl.loc["flaml", ["wins", "ties", "losses"]].tolist() == [1, 0, 1]
    assert wtl.loc["lightgbm-default", ["wins", "ties", "losses"]].tolist() == [0, 2, 0]
    assert wtl.loc["constant", ["wins", "ties", "losses"]].tolist() == [2, 0, 0]
    assert report.compare(0.5, 0.6, "log_loss") == 1 and report.compare(0.5, 0.6, "accuracy") == -1
    assert report.compare(1.0, 1.0005, "rmse") == 0


def test_against_the_better_floor_and_time_to_quality() -> None:
    summary = report.summarize(_frame(_rows(60, SCORES)))
    floors = report.against_best_of(summary).set_index("dataset")
    # adult: the better floor is lightgbm's 0.93, a tie; housing: flaml's 40 beats automl's 50
    assert floors.loc["adult", "best floor"] == "lightgbm-default" and floors.loc["adult", "verdict"] == "tie"
    assert floors.loc["housing", "best floor"] == "flaml" and floors.loc["housing", "verdict"] == "loss"
    quick = {("adult", "automl"): 0.905, ("housing", "automl"): 45.0, ("adult", "flaml"): 0.85, ("housing", "flaml"): 60.0}
    both = report.summarize(_frame(_rows(60, SCORES) + _rows(20, quick)))
    ttq = report.time_to_quality(both).set_index("dataset")
    # automl at 20 s against flaml at 60 s: adult 0.905 beats 0.90; housing 45 is worse than 40
    assert ttq.loc["adult", "matched"] and not ttq.loc["housing", "matched"]
    assert report.time_to_quality(summary).empty  # one budget: nothing to compare


def test_failures_count_as_constant_and_missing_rows_are_left_out() -> None:
    scores = dict(SCORES) | {("adult", "flaml"): 0.5}
    rows = _rows(60, scores, status={("adult", "flaml"): "timeout"})
    rows += _rows(60, {("adult", "autogluon-best"): 0.5}, status={("adult", "autogluon-best"): "missing"})
    summary = report.summarize(_frame(rows)).set_index(["dataset", "framework"])
    assert ("adult", "autogluon-best") not in summary.index
    assert summary.loc[("adult", "flaml"), "failures"] == 1
    assert summary.loc[("adult", "flaml"), "normalized"] == pytest.approx(0.0)


def test_constant_score_from_info_when_the_constant_did_not_run() -> None:
    rows = _rows(10, {("sat", "automl"): 0.4, ("sat", "flaml"): 0.6})
    for row in rows:
        row["info"] = json.dumps({"constant_score": 1.6})
    summary = report.summarize(_frame(rows)).set_index("framework")
    assert summary.loc["automl", "normalized"] == pytest.approx(1.0)
    assert summary.loc["flaml", "normalized"] == pytest.approx(1.0 / 1.2)


def _write(folder: Path, rows: list[dict]) -> Path:
    folder.mkdir(parents=True)
    for row in rows:
        append_row(folder / "results.csv", row)
    return folder


def test_report_writes_plots_html_and_markdown(tmp_path: Path) -> None:
    short = _write(tmp_path / "b10", _rows(10, {k: (v if not isinstance(v, list) else v[0]) for k, v in SCORES.items()}))
    longer = _write(tmp_path / "b60", _rows(60, SCORES))
    markdown, paths = report.write_report([short])
    for name in ("scores.png", "time_to_score.png", "report.html", "report.md"):
        assert paths[name].is_file() and paths[name].stat().st_size > 0 and paths[name].parent == short
    assert paths["scores.png"].read_bytes()[:4] == b"\x89PNG"
    assert "## Mean normalized score, budget 10 s" in markdown
    assert "| peer | wins | ties | losses | datasets |" in markdown
    assert "### housing: test rmse (lower is better), budget 10 s" in markdown
    page = paths["report.html"].read_text()
    assert "src='scores.png'" in page and "src='time_to_score.png'" in page and "<table" in page

    # Two budgets combine: one line per framework over the budgets, tables per budget
    markdown, paths = report.write_report([short, longer], tmp_path / "both")
    assert "budget 10 s" in markdown and "budget 60 s" in markdown
    assert paths["report.md"].read_text() == markdown
    assert (tmp_path / "both" / "time_to_score.png").stat().st_size > 0
