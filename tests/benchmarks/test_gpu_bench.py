"""`python -m benchmarks.gpu`: time-to-score on hand-made curves, the outputs of a tiny run, XGBoost on CUDA."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from backends import registry
from backends.contracts import Device
from benchmarks import gpu


def test_time_to_score_when_higher_is_better() -> None:
    cpu = [(1.0, None), (2.0, 0.80), (10.0, 0.85), (30.0, 0.90), (50.0, 0.90)]
    fast = [(0.5, 0.70), (3.0, 0.88), (5.0, 0.91)]
    tts = gpu.time_to_score(fast, cpu, greater_is_better=True)
    assert tts.target == 0.90 and tts.cpu_s == 30.0 and tts.gpu_s == 5.0
    assert tts.ratio == pytest.approx(1 / 6)
    # a GPU run that only comes close never reaches it
    never = gpu.time_to_score([(1.0, 0.85), (2.0, 0.899)], cpu, greater_is_better=True)
    assert never.gpu_s is None and never.ratio == math.inf


def test_time_to_score_when_lower_is_better() -> None:
    cpu = [(4.0, 21.0), (20.0, 20.5), (40.0, 20.2)]
    tts = gpu.time_to_score([(1.0, 20.9), (6.0, 20.1), (8.0, 19.0)], cpu, greater_is_better=False)
    assert (tts.target, tts.cpu_s, tts.gpu_s) == (20.2, 40.0, 6.0)
    assert tts.ratio == pytest.approx(0.15)
    # the direction matters: read as higher-is-better, the CPU's final is 21.0, reached at 4 s
    assert gpu.time_to_score([(1.0, 20.9), (6.0, 21.5)], cpu, greater_is_better=True).gpu_s == 6.0
    assert gpu.time_to_score([(1.0, 20.9)], cpu, greater_is_better=False).ratio == math.inf


def test_time_to_score_without_a_cpu_score_has_no_ratio() -> None:
    tts = gpu.time_to_score([(1.0, 0.9)], [(3.0, None), (4.0, float("nan"))], greater_is_better=True)
    assert tts.target is None and tts.ratio is None
    assert gpu.time_to_score([(1.0, 0.9)], [], greater_is_better=True).ratio is None
    assert gpu.final_score([(1.0, None), (2.0, 3.0), (3.0, 2.0)], greater_is_better=False) == 2.0
    assert gpu.time_to_reach([(1.0, None), (2.0, 3.0), (3.0, 2.0)], 2.5, greater_is_better=False) == 3.0


def test_curve_recorder_keeps_the_best_so_far_in_the_metric_direction() -> None:
    board = SimpleNamespace(metric=SimpleNamespace(greater_is_better=False))
    recorder = gpu.CurveRecorder()

    def trial(score: float, ok: bool = True) -> SimpleNamespace:
        return SimpleNamespace(ok=ok, score_mean=score, backend="xgboost", device="cpu", status="ok" if ok else "failed")

    for record in (trial(5.0), trial(float("nan"), ok=False), trial(3.0), trial(4.0)):
        recorder(record, board)
    assert [best for _, best in recorder.curve()] == [5.0, 5.0, 3.0, 3.0]
    assert [p["score"] for p in recorder.points] == [5.0, None, 3.0, 4.0]
    assert recorder.greater_is_better is False
    assert all(p["t"] >= 0 for p in recorder.points)


def test_synthetic_data_is_seeded_and_balanced() -> None:
    X, y = gpu.synthetic_binary(5000, 12, seed=3)
    X2, y2 = gpu.synthetic_binary(5000, 12, seed=3)
    assert X.dtype == np.float32 and X.shape == (5000, 12)
    assert np.array_equal(X, X2) and np.array_equal(y, y2)
    assert 0.45 < y.mean() < 0.55
    table = gpu.synthetic_table(4000, seed=0)
    assert (len(table.train), len(table.test)) == (3000, 1000)
    assert table.train["band"].dtype == object and table.train["band"].nunique() == 8
    assert (table.task, table.metric) == ("binary", "roc_auc")


def test_verdicts_compare_with_the_goals() -> None:
    rows = [
        {"part": "xgboost", "mode": "cpu", "status": "ok", "rows": 1_000_000, "features": 50, "train_s": 40.0},
        {"part": "xgboost", "mode": "cuda", "status": "ok", "rows": 1_000_000, "features": 50, "train_s": 5.0, "speedup": 8.0},
        {"part": "search", "mode": "cpu", "status": "ok"},
        {"part": "search", "mode": "cuda", "status": "ok"},
    ]
    goals = gpu.verdicts(rows, gpu.TimeToScore(0.9, 100.0, 30.0))
    assert [v for _, _, v in goals] == ["met", "not met"]
    assert "8.00x" in goals[0][1] and "0.300" in goals[1][1]
    rows[1] = {"part": "xgboost", "mode": "cuda", "status": "skipped", "error": "no CUDA GPU"}
    assert gpu.verdicts(rows, gpu.TimeToScore(0.9, 100.0, None))[0][2] == "n/a: no CUDA GPU"
    assert gpu.verdicts(rows, gpu.TimeToScore(0.9, 100.0, None))[1][2] == "not met"


@pytest.mark.slow
def test_a_tiny_run_writes_every_output(tmp_path: Path) -> None:
    out = tmp_path / "gpu"
    code = gpu.main([str(tmp_path), "--synthetic", "3000", "--budget", "15", "--xgb-rows", "20000", "--xgb-features", "10",
                     "--xgb-rounds", "20", "--out", str(out)])
    assert code == 0
    for name in ("gpu.csv", "gpu.md", "gpu.png", "curves.json"):
        assert (out / name).is_file(), name
    with (out / "gpu.csv").open() as fh:
        rows = {(r["part"], r["mode"]): r for r in csv.DictReader(fh)}
    assert set(rows) == {("xgboost", "cpu"), ("xgboost", "cuda"), ("search", "cpu"), ("search", "cuda")}

    xgb_cpu, search_cpu = rows[("xgboost", "cpu")], rows[("search", "cpu")]
    assert xgb_cpu["status"] == "ok" and xgb_cpu["device_used"] == "cpu"
    assert float(xgb_cpu["train_s"]) > 0 and float(xgb_cpu["construct_s"]) >= 0
    assert 0 < float(xgb_cpu["train_logloss"]) < math.log(2)
    assert (xgb_cpu["rows"], xgb_cpu["features"], xgb_cpu["rounds"]) == ("20000", "10", "20")
    assert search_cpu["status"] == "ok" and search_cpu["metric"] == "roc_auc"
    assert 0.6 < float(search_cpu["final_val_score"]) <= 1 and 0.6 < float(search_cpu["test_score"]) <= 1
    assert int(search_cpu["n_trials"]) >= 1 and json.loads(search_cpu["trials_by_device"]).keys() == {"cpu"}
    assert 0 < float(search_cpu["time_to_final_s"]) <= float(search_cpu["wall_s"]) <= 15 + 10

    curves = json.loads((out / "curves.json").read_text())
    points = curves["search"]["cpu"]["points"]
    best = [p["best"] for p in points if p["best"] is not None]
    assert best and best == sorted(best)  # roc_auc: the best so far only goes up

    text = (out / "gpu.md").read_text()
    assert "| goal | measured | verdict |" in text
    probe = registry.get("xgboost").available(Device.CUDA)
    if probe.ok:  # on a GPU machine both CUDA rows ran
        assert rows[("xgboost", "cuda")]["status"] == "ok" and rows[("xgboost", "cuda")]["device_used"].startswith("cuda")
        assert "CUDA ran for every part." in text
        return
    xgb_cuda, search_cuda = rows[("xgboost", "cuda")], rows[("search", "cuda")]
    assert xgb_cuda["status"] == "skipped" and xgb_cuda["error"] == probe.reason and xgb_cuda["train_s"] == ""
    if search_cuda["status"] == "skipped":
        assert search_cuda["error"].startswith("BackendUnavailable:") and search_cuda["final_val_score"] == ""
    else:  # an engine that falls back to CPU instead of raising: the row must say the GPU was not used
        assert search_cuda["status"] == "fallback" and "ran no trial on a GPU" in search_cuda["error"]
    assert "CUDA skipped: xgboost: skipped (" + probe.reason in text
    assert text.count("| n/a: ") == 2


@pytest.mark.gpu
def test_xgboost_really_trains_on_cuda() -> None:
    probe = registry.get("xgboost").available(Device.CUDA)
    if not probe.ok:
        pytest.skip(probe.reason)
    on_gpu = gpu.xgboost_timing(50_000, 10, 30, "cuda")
    on_cpu = gpu.xgboost_timing(50_000, 10, 30, "cpu")
    assert on_gpu["status"] == "ok" and on_gpu["device_used"].startswith("cuda")
    assert on_gpu["device_name"] != "none" and on_gpu["train_s"] > 0
    # the same data and parameters: both devices fit the same thing
    assert on_gpu["train_logloss"] == pytest.approx(on_cpu["train_logloss"], abs=0.03)
