"""GPU against CPU: search time-to-score at one budget, and raw XGBoost `hist` fit time at 1M x 50.

Two parts, every run in its own fresh process, one after another (so no run competes for the cores):

* ``xgboost``: a seeded synthetic binary problem of ``--xgb-rows`` x ``--xgb-features``; a plain
  ``xgb.DMatrix`` from host float32 arrays for both devices (so the quantile sketch and, on CUDA,
  the copy to the GPU count as training), then ``xgb.train`` with ``tree_method="hist"``,
  ``max_depth=8``, ``learning_rate=0.1`` and ``nthread=os.cpu_count()`` on ``device="cpu"`` and
  on ``device="cuda"``. Construction and training seconds are timed apart; the training logloss of
  both shows that they fit the same thing.
* ``search``: ``automl.fit`` on a suite dataset (train split; test split for the test score, both
  with the manifest's metric) or on a seeded synthetic table, at the same budget and seed with
  ``device="cpu"`` and ``device="cuda"``. A callback records the best-so-far validation score after
  every trial; time-to-score is the first second at which the GPU run reaches the CPU run's final
  validation score, divided by the second at which the CPU run first reached it. The same seed
  gives both runs the same folds, so their validation scores compare.

Goals (on an H100 against its own 16 cores): time-to-score ratio <= 0.2, XGBoost CUDA >= 4x faster
than CPU hist at 1,000,000 x 50. A CUDA run that cannot happen here is a ``skipped`` row with the
reason. Outputs in ``--out``: ``gpu.csv``, ``gpu.md``, ``gpu.png`` and ``curves.json``.

    python -m benchmarks.gpu ../shared/datasets --budget 120 --out bench-out/gpu
    python -m benchmarks.gpu ../shared/datasets --synthetic 1000000 --parts search --budget 300
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import math
import os
import shutil
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Sequence
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from benchmarks.suite import in_fresh_process
from features.synthesis import peak_rss_mb

logger = logging.getLogger("benchmarks.gpu")

PARTS = ("xgboost", "search")
SEARCH_GOAL_RATIO = 0.2  # the GPU search reaches the CPU's final score in at most 1/5 of the CPU's time
XGB_GOAL_SPEEDUP = 4.0  # raw XGBoost CUDA at least 4x faster than CPU hist ...
XGB_GOAL_SHAPE = (1_000_000, 50)  # ... at this many rows x features
XGB_PARAMS = {"objective": "binary:logistic", "tree_method": "hist", "max_depth": 8, "learning_rate": 0.1}
SYNTHETIC_FEATURES = 20  # numeric inputs of the --synthetic search table (one of them turned into a category)
COLUMNS = [
    "part", "mode", "status", "error", "device_used", "device_name", "cores", "dataset", "task", "metric",
    "greater_is_better", "rows", "features", "rounds", "budget_s", "seed", "construct_s", "train_s", "train_logloss",
    "speedup", "final_val_score", "selected_val_score", "test_score", "n_trials", "trials_by_device",
    "trials_by_backend", "final_backend", "wall_s", "time_to_final_s", "time_to_cpu_final_s", "ratio", "peak_rss_mb",
]

Curve = Sequence[tuple[float, float | None]]  # (seconds since fit start, validation score; None: no score yet)


# ---------------------------------------------------------------- time-to-score


def is_at_least(value: float, target: float, greater_is_better: bool) -> bool:
    """True when `value` is as good as `target` or better in the metric's direction."""
    return value >= target if greater_is_better else value <= target


def final_score(curve: Curve, greater_is_better: bool) -> float | None:
    """The best score on `curve` (None when it has none)."""
    values = [v for _, v in curve if v is not None and math.isfinite(v)]
    if not values:
        return None
    return max(values) if greater_is_better else min(values)


def time_to_reach(curve: Curve, target: float, greater_is_better: bool) -> float | None:
    """The first second at which `curve` reaches `target` (None: never)."""
    for seconds, value in curve:
        if value is not None and math.isfinite(value) and is_at_least(value, target, greater_is_better):
            return seconds
    return None


@dataclass(frozen=True)
class TimeToScore:
    """When the GPU run reached the CPU run's final validation score, against when the CPU run did."""

    target: float | None  # the CPU run's final validation score (None: the CPU run scored nothing)
    cpu_s: float | None  # when the CPU run first reached it
    gpu_s: float | None  # when the GPU run first reached it (None: never)

    @property
    def ratio(self) -> float | None:
        """gpu_s / cpu_s; inf when the GPU run never reached the target, None without a target."""
        if self.target is None or self.cpu_s is None:
            return None
        if self.gpu_s is None:
            return math.inf
        if self.cpu_s <= 0:
            return 1.0 if self.gpu_s <= 0 else math.inf
        return self.gpu_s / self.cpu_s


def time_to_score(curve_gpu: Curve, curve_cpu: Curve, greater_is_better: bool) -> TimeToScore:
    """The GPU run's time to the CPU run's final validation score, and the CPU run's own time to it."""
    target = final_score(curve_cpu, greater_is_better)
    if target is None:
        return TimeToScore(None, None, None)
    return TimeToScore(target, time_to_reach(curve_cpu, target, greater_is_better), time_to_reach(curve_gpu, target, greater_is_better))


# ---------------------------------------------------------------- machine and data


def cpu_name() -> str:
    """The CPU model from /proc/cpuinfo, or the platform's processor string."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    import platform

    return platform.processor() or "unknown"


def gpu_name() -> str:
    """The first GPU's name from nvidia-smi, else from torch when it sees CUDA, else "none"."""
    if shutil.which("nvidia-smi"):
        try:
            out = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"], capture_output=True, text=True, timeout=20, check=False)
            if out.returncode == 0 and out.stdout.strip():
                return out.stdout.strip().splitlines()[0].strip()
        except (OSError, subprocess.SubprocessError):
            pass
    import importlib.util

    if importlib.util.find_spec("torch") is not None:
        import torch

        if torch.cuda.is_available():
            return str(torch.cuda.get_device_name(0))
    return "none"


def synthetic_binary(rows: int, features: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A seeded binary problem: float32 inputs, a weak linear and a strong nonlinear signal on the first 10, logistic noise."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((rows, features), dtype=np.float32)
    k = min(features, 10)

    def col(i: int) -> np.ndarray:
        return X[:, i % features]

    logit = 0.3 * (X[:, :k] @ rng.normal(0.0, 1.0, size=k).astype(np.float32))
    # waves, products and thresholds: trees reach ROC AUC ~0.94 on it, a linear model ~0.75
    logit += 1.5 * np.sin(2.0 * col(0)) + 1.2 * col(1) * col(2) + 0.8 * np.cos(3.0 * col(6)) * col(7)
    logit += 2.0 * ((col(3) > 0.5) & (col(4) < 0)) - 1.5 * (np.abs(col(5)) > 1.2)
    logit += rng.logistic(0.0, 0.5, size=rows).astype(np.float32)
    return X, (logit > np.median(logit)).astype(np.float32)


@dataclass
class SearchInput:
    """What one search fits and scores: train and test frames, the target, the task and the metric."""

    name: str
    task: str
    target: str
    metric: str
    train: pd.DataFrame = field(repr=False)
    test: pd.DataFrame = field(repr=False)


def synthetic_table(rows: int, seed: int) -> SearchInput:
    """A seeded binary table (20 inputs, one a string category) split 75/25, scored by ROC AUC."""
    X, y = synthetic_binary(rows, SYNTHETIC_FEATURES, seed)
    frame = pd.DataFrame(X, columns=[f"x{i:02d}" for i in range(X.shape[1])])
    edges = np.quantile(X[:, 3], np.linspace(0, 1, 9)[1:-1])  # input 3 (a threshold effect) in 8 bands named by letters
    frame["x03"] = np.array(list("abcdefgh"))[np.digitize(X[:, 3], edges)]
    frame = frame.rename(columns={"x03": "band"})
    frame["target"] = y.astype(np.int64)
    order = np.random.default_rng(seed + 1).permutation(rows)
    cut = int(rows * 0.75)
    train, test = frame.iloc[order[:cut]].reset_index(drop=True), frame.iloc[order[cut:]].reset_index(drop=True)
    return SearchInput(f"synthetic-{rows}", "binary", "target", "roc_auc", train, test)


def load_search_input(source: dict[str, Any], seed: int) -> SearchInput:
    """The search data: a suite dataset ({"suite", "dataset"}) or a synthetic table ({"synthetic": rows})."""
    if source.get("synthetic"):
        return synthetic_table(int(source["synthetic"]), seed)
    from benchmarks.suite import read_suite

    ds = read_suite(source["suite"])[source["dataset"]]
    train, test = ds.load()
    return SearchInput(ds.name, ds.task, ds.target, ds.metric, train, test)


# ---------------------------------------------------------------- part 1: raw XGBoost


def xgboost_timing(rows: int, features: int, rounds: int, device: str, seed: int = 0) -> dict[str, Any]:
    """Time DMatrix construction and `xgb.train` (hist) on `device`; a row with status "skipped" when CUDA is unusable."""
    import xgboost as xgb

    from backends.xgboost import trained_device

    cores = os.cpu_count() or 1
    row: dict[str, Any] = {
        "part": "xgboost", "mode": "cuda" if device.startswith("cuda") else "cpu", "status": "ok", "error": "",
        "dataset": f"synthetic-binary-{rows}x{features}", "task": "binary", "metric": "logloss", "greater_is_better": False,
        "rows": rows, "features": features, "rounds": rounds, "seed": seed, "cores": cores, "xgboost": xgb.__version__,
    }
    if row["mode"] == "cuda":
        from backends import registry
        from backends.contracts import Device

        # the probe also trains one round on the GPU, so CUDA start-up is not in the timings below
        probe = registry.get("xgboost").available(Device.CUDA)
        if not probe.ok:
            return row | {"status": "skipped", "error": probe.reason, "device_name": "none", "peak_rss_mb": round(peak_rss_mb(), 1)}
        row["device_name"] = gpu_name()
    else:
        row["device_name"] = cpu_name()
    X, y = synthetic_binary(rows, features, seed)
    start = time.perf_counter()
    dtrain = xgb.DMatrix(X, label=y, nthread=cores)
    row["construct_s"] = round(time.perf_counter() - start, 3)
    params = XGB_PARAMS | {"device": device, "nthread": cores, "seed": seed, "verbosity": 1}
    start = time.perf_counter()
    booster = xgb.train(params, dtrain, num_boost_round=rounds)
    row["train_s"] = round(time.perf_counter() - start, 3)
    row["device_used"] = trained_device(booster)
    if row["mode"] == "cuda" and not str(row["device_used"]).startswith("cuda"):
        row["status"], row["error"] = "fallback", f"XGBoost trained on {row['device_used']}, not on {device}"
    p = np.clip(booster.predict(dtrain), 1e-15, 1 - 1e-15)
    row["train_logloss"] = round(float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))), 5)
    row["peak_rss_mb"] = round(peak_rss_mb(), 1)
    return row


# ---------------------------------------------------------------- part 2: the search


class CurveRecorder:
    """A `fit` callback: after each finished trial, the seconds since `start`, its score, the best so far, backend and device."""

    def __init__(self) -> None:
        self.start = time.monotonic()
        self.points: list[dict[str, Any]] = []
        self.best: float | None = None
        self.greater_is_better: bool | None = None

    def __call__(self, record: Any, board: Any) -> None:
        self.greater_is_better = bool(board.metric.greater_is_better)
        score = float(record.score_mean) if record.ok else None
        if score is not None and (self.best is None or not is_at_least(self.best, score, self.greater_is_better)):
            self.best = score
        self.points.append({
            "t": round(time.monotonic() - self.start, 3), "score": score, "best": self.best,
            "backend": record.backend, "device": record.device, "status": record.status,
        })

    def curve(self) -> list[tuple[float, float | None]]:
        """(seconds, best-so-far score) after each trial."""
        return [(p["t"], p["best"]) for p in self.points]


def _test_score(result: Any, data: SearchInput) -> float:
    from benchmarks.runners import pipeline_predictions, training_classes
    from benchmarks.suite import test_score

    classes = None if data.task == "regression" else training_classes(data.train[data.target])
    pred, proba = pipeline_predictions(result.best, data.test.drop(columns=data.target), classes)
    return test_score(data.metric, classes, data.test[data.target], pred, proba)


def run_search(source: dict[str, Any], device: str, budget: float, seed: int, log_level: int = logging.WARNING) -> dict[str, Any]:
    """One `automl.fit` on `device` with a curve recorder; its row and curve (runs in a fresh process)."""
    logging.basicConfig(level=log_level, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    import automl
    from backends.errors import BackendUnavailable

    data = load_search_input(source, seed)
    mode = "cuda" if device.startswith("cuda") else "cpu"
    row: dict[str, Any] = {
        "part": "search", "mode": mode, "status": "ok", "error": "", "dataset": data.name, "task": data.task, "metric": data.metric,
        "rows": len(data.train), "features": data.train.shape[1] - 1, "budget_s": budget, "seed": seed, "cores": os.cpu_count(),
    }
    recorder = CurveRecorder()
    devices: Any = None
    recorder.start = time.monotonic()
    try:
        result = automl.fit(data.train, data.target, metric=data.metric, time_budget=budget, seed=seed, device=device, callbacks=[recorder])
    except BackendUnavailable as exc:
        row.update(status="skipped", error=f"BackendUnavailable: {exc}", device_name="none")
        return {"row": row | {"peak_rss_mb": round(peak_rss_mb(), 1)}, "points": [], "devices": None}
    except Exception as exc:  # a failed run is a row, so the table shows it
        row.update(status="failed", error=f"{type(exc).__name__}: {exc}", wall_s=round(time.monotonic() - recorder.start, 2))
    else:
        row["wall_s"] = round(time.monotonic() - recorder.start, 2)
        report = result.report
        devices = report.get("devices")
        row["greater_is_better"] = bool(report["greater_is_better"])
        row["selected_val_score"] = report["best"].get("score_mean")  # the model fit returns (an ensemble, maybe)
        row["n_trials"] = report["budget"]["n_trials"]
        try:
            row["test_score"] = round(_test_score(result, data), 6)
        except Exception as exc:  # the search's figures stand; the row says why the test score is missing
            row.update(status="failed", error=f"test score: {type(exc).__name__}: {exc}")
    if recorder.greater_is_better is not None:
        row["greater_is_better"] = recorder.greater_is_better
    used = Counter(str(p["device"]) for p in recorder.points)
    row["trials_by_device"] = json.dumps(dict(used))
    row["trials_by_backend"] = json.dumps(dict(Counter(f"{p['backend']}@{p['device']}" for p in recorder.points)))
    row["device_used"] = ",".join(sorted(used))
    row["device_name"] = gpu_name() if mode == "cuda" else cpu_name()
    if mode == "cuda" and row["status"] == "ok" and not any(d.startswith("cuda") for d in used):
        row.update(status="fallback", error=f"device={device!r} ran no trial on a GPU (every trial ran on {row['device_used'] or 'nothing'})")
    if "greater_is_better" in row:
        final = final_score(recorder.curve(), row["greater_is_better"])
        row["final_val_score"] = final
        row["time_to_final_s"] = None if final is None else time_to_reach(recorder.curve(), final, row["greater_is_better"])
        row["final_backend"] = next((f"{p['backend']}@{p['device']}" for p in recorder.points if p["score"] == final), "")
    row["peak_rss_mb"] = round(peak_rss_mb(), 1)
    return {"row": row, "points": recorder.points, "devices": devices}


# ---------------------------------------------------------------- outputs


def _fmt(value: Any, digits: int = 4) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, float):
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return f"{value:.{digits}f}".rstrip("0").rstrip(".") if abs(value) >= 1 else f"{value:.{digits}g}"
    return str(value)


def _find(rows: list[dict[str, Any]], part: str, mode: str) -> dict[str, Any] | None:
    return next((r for r in rows if r["part"] == part and r["mode"] == mode), None)


def verdicts(rows: list[dict[str, Any]], tts: TimeToScore | None) -> list[tuple[str, str, str]]:
    """(goal, measured, verdict) for each part that ran: met, not met, or n/a with the reason."""
    out = []
    cpu, gpu = _find(rows, "xgboost", "cpu"), _find(rows, "xgboost", "cuda")
    if cpu is not None and gpu is not None:
        shape = (cpu["rows"], cpu["features"])
        goal = f"raw XGBoost CUDA >= {XGB_GOAL_SPEEDUP:g}x faster than CPU hist at {XGB_GOAL_SHAPE[0]:,} x {XGB_GOAL_SHAPE[1]}"
        where = "" if shape == XGB_GOAL_SHAPE else f" (measured at {shape[0]:,} x {shape[1]})"
        if gpu.get("speedup") is None:
            out.append((goal, f"CUDA {gpu['status']}", f"n/a: {gpu.get('error') or cpu.get('error')}"))
        else:
            met = "met" if gpu["speedup"] >= XGB_GOAL_SPEEDUP else "not met"
            out.append((goal, f"{gpu['speedup']:.2f}x ({cpu['train_s']:.2f} s CPU vs {gpu['train_s']:.2f} s CUDA){where}", met + where))
    cpu, gpu = _find(rows, "search", "cpu"), _find(rows, "search", "cuda")
    if cpu is not None and gpu is not None:
        goal = f"GPU search reaches the CPU search's final validation score in <= {SEARCH_GOAL_RATIO:g} of the CPU's time"
        if gpu["status"] != "ok" or cpu["status"] != "ok" or tts is None or tts.ratio is None:
            bad = gpu if gpu["status"] != "ok" else cpu
            out.append((goal, f"{bad['mode'].upper()} search {bad['status']}", f"n/a: {bad.get('error') or 'no score'}"))
        elif tts.gpu_s is None:
            out.append((goal, f"GPU never reached {_fmt(tts.target)} (CPU did at {_fmt(tts.cpu_s, 1)} s)", "not met"))
        else:
            ratio = tts.ratio or 0.0
            measured = f"{ratio:.3f} ({_fmt(tts.gpu_s, 1)} s GPU vs {_fmt(tts.cpu_s, 1)} s CPU to {_fmt(tts.target)})"
            out.append((goal, measured, "met" if ratio <= SEARCH_GOAL_RATIO else "not met"))
    return out


def markdown(rows: list[dict[str, Any]], tts: TimeToScore | None) -> str:
    """The figures, the goal verdicts and where CUDA was skipped, as Markdown."""
    names = {r.get("device_name") for r in rows if r["mode"] == "cpu"} - {None}
    gpus = {r.get("device_name") for r in rows if r["mode"] == "cuda"} - {None, "none"}
    lines = [
        "# GPU against CPU: search time-to-score and raw XGBoost",
        "",
        f"Machine: {os.cpu_count()} CPU cores ({', '.join(sorted(names)) or cpu_name()}); GPU: {', '.join(sorted(gpus)) or 'none'}.",
        "",
    ]
    xgb_rows = [r for r in rows if r["part"] == "xgboost"]
    if xgb_rows:
        r0 = xgb_rows[0]
        lines += [
            f"## Raw XGBoost hist: {r0['rows']:,} x {r0['features']}, {r0['rounds']} rounds",
            "",
            f"max_depth 8, learning_rate 0.1, nthread {r0['cores']}, xgboost {r0.get('xgboost', '')}; `xgb.DMatrix` from host float32 "
            "arrays for both devices (the quantile sketch and the copy to the GPU count as training).",
            "",
            "| device | status | device name | DMatrix s | train s | train logloss | speedup |",
            "|---|---|---|---|---|---|---|",
        ]
        for r in xgb_rows:
            lines.append(
                f"| {r['mode']} | {r['status']} | {r.get('device_name', '')} | {_fmt(r.get('construct_s'), 3)} | {_fmt(r.get('train_s'), 3)} | "
                f"{_fmt(r.get('train_logloss'), 5)} | {_fmt(r.get('speedup'), 2)} |"
            )
        lines.append("")
    search_rows = [r for r in rows if r["part"] == "search"]
    if search_rows:
        r0 = search_rows[0]
        direction = "higher" if r0.get("greater_is_better", r0["metric"] not in ("rmse", "log_loss")) else "lower"
        lines += [
            f"## Search: {r0['dataset']} ({r0['task']}, {r0['rows']:,} training rows x {r0['features']}), "
            f"{r0['metric']} ({direction} is better), budget {_fmt(r0['budget_s'])} s, seed {r0['seed']}",
            "",
            "Same seed, same folds: the validation scores of the two runs compare. Seconds are since the start of `automl.fit`.",
            "",
            f"| mode | status | final validation {r0['metric']} | selected model's | test {r0['metric']} | trials | trials per device | wall s | "
            "reached own final at s | reached CPU final at s |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
        for r in search_rows:
            lines.append(
                f"| {r['mode']} | {r['status']} | {_fmt(r.get('final_val_score'))} | {_fmt(r.get('selected_val_score'))} | {_fmt(r.get('test_score'))} | "
                f"{_fmt(r.get('n_trials'))} | {r.get('trials_by_device', '')} | {_fmt(r.get('wall_s'), 1)} | {_fmt(r.get('time_to_final_s'), 1)} | "
                f"{_fmt(r.get('time_to_cpu_final_s'), 1)} |"
            )
        lines.append("")
        lines += [f"The {r['mode']} run's final validation score came from its {r['final_backend']} trial at {_fmt(r.get('time_to_final_s'), 1)} s."
                  for r in search_rows if r.get("final_backend")]
        lines.append("")
    goals = verdicts(rows, tts)
    if goals:
        lines += ["## Goals", "", "| goal | measured | verdict |", "|---|---|---|"]
        lines += [f"| {g} | {m} | {v} |" for g, m, v in goals]
        lines.append("")
    not_run = [f"{r['part']}: {r['status']} ({r.get('error', '')})" for r in rows if r["mode"] == "cuda" and r["status"] != "ok"]
    lines.append("CUDA skipped: " + "; ".join(not_run) if not_run else "CUDA ran for every part.")
    return "\n".join(lines) + "\n"


def plot(rows: list[dict[str, Any]], points: dict[str, list[dict[str, Any]]], tts: TimeToScore | None, path: Path) -> Path | None:
    """Best-so-far validation score against seconds (left) and raw XGBoost train seconds (right); None without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        logger.warning("no plot: matplotlib is not installed (%s)", exc)
        return None
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
    search = {r["mode"]: r for r in rows if r["part"] == "search"}
    for mode, color in (("cpu", "tab:blue"), ("cuda", "tab:green")):
        curve = [(p["t"], p["best"]) for p in points.get(mode, []) if p["best"] is not None]
        if curve:
            trials = list(range(len(curve)))  # a marker per trial, none on the plateau's end
            wall = search[mode].get("wall_s")
            if wall and wall > curve[-1][0]:  # the plateau up to the end of the fit
                curve.append((wall, curve[-1][1]))
            t, best = zip(*curve)
            left.step(t, best, where="post", color=color, marker=".", markevery=trials, label=f"{mode} ({search[mode].get('device_used', '')})")
    if tts is not None and tts.target is not None:
        left.axhline(tts.target, color="gray", linestyle="--", linewidth=0.8, label="CPU final")
        if tts.gpu_s is not None:
            left.plot([tts.gpu_s], [tts.target], "o", color="tab:green", markersize=9, fillstyle="none",
                      label=f"GPU reaches it: ratio {_fmt(tts.ratio, 3)}")
    metric = next(iter(search.values()))["metric"] if search else "score"
    left.set(xlabel="seconds since fit start", ylabel=f"best validation {metric}", title="search: best so far")
    left.set_xlim(left=0)
    if search:
        left.legend(fontsize=8)
    xgb_rows = [r for r in rows if r["part"] == "xgboost"]
    labels = [r["mode"] for r in xgb_rows]
    heights = [r.get("train_s") or 0.0 for r in xgb_rows]
    bars = right.bar(labels, heights, color=["tab:blue" if m == "cpu" else "tab:green" for m in labels])
    for bar, r in zip(bars, xgb_rows):
        text = _fmt(r.get("train_s"), 2) + " s" if r["status"] == "ok" else r["status"]
        right.annotate(text, (bar.get_x() + bar.get_width() / 2, bar.get_height()), ha="center", va="bottom", fontsize=9)
    shape = f"{xgb_rows[0]['rows']:,} x {xgb_rows[0]['features']}, {xgb_rows[0]['rounds']} rounds" if xgb_rows else "not run"
    right.set(ylabel="train seconds", title=f"raw XGBoost hist: {shape}")
    for ax, ran in ((left, bool(search)), (right, bool(xgb_rows))):
        if not ran:
            ax.set_axis_off()
            ax.text(0.5, 0.5, "part not run", ha="center", va="center", transform=ax.transAxes)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _json_safe(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None if math.isnan(value) else ("inf" if value > 0 else "-inf")
    return value


def write_outputs(out: Path, rows: list[dict[str, Any]], points: dict[str, list[dict[str, Any]]], devices: dict[str, Any],
                  tts: TimeToScore | None) -> str:
    """gpu.csv, gpu.md, curves.json and gpu.png in `out`; returns the Markdown."""
    out.mkdir(parents=True, exist_ok=True)
    with (out / "gpu.csv").open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=COLUMNS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows({k: ("" if v is None else v) for k, v in r.items()} for r in rows)
    text = markdown(rows, tts)
    (out / "gpu.md").write_text(text)
    curves = {
        "search": {mode: {"points": pts, "devices": devices.get(mode)} for mode, pts in points.items()},
        "time_to_score": None if tts is None else {"target": tts.target, "cpu_s": tts.cpu_s, "gpu_s": tts.gpu_s, "ratio": tts.ratio},
        "rows": rows,
    }
    (out / "curves.json").write_text(json.dumps(_json_safe(curves), indent=1, default=str))
    plot(rows, points, tts, out / "gpu.png")
    return text


# ---------------------------------------------------------------- main


def _crashed(part: str, mode: str, exc: BaseException) -> dict[str, Any]:
    return {"part": part, "mode": mode, "status": "failed", "error": f"{type(exc).__name__}: {exc}"}


def main(argv: list[str] | None = None) -> int:
    """The CLI: run the parts, write the outputs, print the Markdown; 1 when a run failed."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.gpu", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("suite", type=Path, help="dataset folder with MANIFEST.tsv, e.g. ../shared/datasets (unused with --synthetic)")
    data = parser.add_mutually_exclusive_group()
    data.add_argument("--dataset", default="fertility_work", help="tabular dataset of the suite for the search (default: fertility_work)")
    data.add_argument("--synthetic", type=int, default=None, metavar="ROWS", help="search a seeded synthetic binary table of ROWS rows instead")
    parser.add_argument("--budget", type=float, default=120.0, help="seconds per search (default: 120)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--xgb-rows", type=int, default=1_000_000)
    parser.add_argument("--xgb-features", type=int, default=50)
    parser.add_argument("--xgb-rounds", type=int, default=200)
    parser.add_argument("--cuda-device", default="cuda", help='the GPU device for both parts, "cuda" or "cuda:N"')
    parser.add_argument("--parts", default=",".join(PARTS), help="comma-separated: xgboost, search")
    parser.add_argument("--out", type=Path, default=Path("bench-out/gpu"))
    parser.add_argument("-v", "--verbose", action="store_true", help="the engine's INFO lines too")
    args = parser.parse_args(argv)
    parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    if unknown := sorted(set(parts) - set(PARTS)):
        parser.error(f"unknown part(s) {unknown}; choose from {', '.join(PARTS)}")
    if not args.cuda_device.startswith("cuda"):
        parser.error(f"--cuda-device must be cuda or cuda:N, got {args.cuda_device!r}")
    source: dict[str, Any] = {"synthetic": args.synthetic} if args.synthetic else {"suite": str(args.suite), "dataset": args.dataset}
    if not args.synthetic:
        from benchmarks.suite import read_suite

        if args.dataset not in (known := read_suite(args.suite)):
            parser.error(f"no tabular dataset {args.dataset!r} in {args.suite}/MANIFEST.tsv; choose from {', '.join(known)}")
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    child_level = logging.INFO if args.verbose else logging.WARNING

    rows: list[dict[str, Any]] = []
    points: dict[str, list[dict[str, Any]]] = {}
    devices: dict[str, Any] = {}
    if "xgboost" in parts:
        for device in ("cpu", args.cuda_device):
            mode = "cpu" if device == "cpu" else "cuda"
            logger.info("xgboost hist on %s: %d x %d, %d rounds", device, args.xgb_rows, args.xgb_features, args.xgb_rounds)
            try:
                row = in_fresh_process(xgboost_timing, args.xgb_rows, args.xgb_features, args.xgb_rounds, device, args.seed)
            except (BrokenProcessPool, OSError) as exc:
                row = _crashed("xgboost", mode, exc)
            logger.info("xgboost %s: %s %s", mode, row["status"], row.get("train_s", row.get("error", "")))
            rows.append(row)
        cpu, gpu = _find(rows, "xgboost", "cpu"), _find(rows, "xgboost", "cuda")
        if cpu and gpu and cpu["status"] == "ok" and gpu["status"] == "ok":
            gpu["speedup"] = round(cpu["train_s"] / gpu["train_s"], 3)
            cpu["speedup"] = 1.0
    tts = None
    if "search" in parts:
        for device in ("cpu", args.cuda_device):
            mode = "cpu" if device == "cpu" else "cuda"
            logger.info("search on %s: %s, budget %g s, seed %d", device, args.dataset if not args.synthetic else f"synthetic {args.synthetic}",
                        args.budget, args.seed)
            try:
                out = in_fresh_process(run_search, source, device, args.budget, args.seed, child_level)
            except (BrokenProcessPool, OSError) as exc:
                out = {"row": _crashed("search", mode, exc), "points": [], "devices": None}
            row = out["row"]
            logger.info("search %s: %s, %s trials, final %s %s", mode, row["status"], row.get("n_trials"), row.get("metric"), _fmt(row.get("final_val_score")))
            rows.append(row)
            points[mode], devices[mode] = out["points"], out["devices"]
        cpu, gpu = _find(rows, "search", "cpu"), _find(rows, "search", "cuda")
        if cpu and gpu and cpu["status"] == "ok" and gpu["status"] == "ok" and "greater_is_better" in cpu:
            tts = time_to_score([(p["t"], p["best"]) for p in points["cuda"]], [(p["t"], p["best"]) for p in points["cpu"]], cpu["greater_is_better"])
            gpu["time_to_cpu_final_s"], gpu["ratio"] = tts.gpu_s, tts.ratio
    text = write_outputs(args.out, rows, points, devices, tts)
    print(text)
    print(f"wrote {args.out / 'gpu.csv'}, gpu.md, gpu.png, curves.json", file=sys.stderr)
    return 1 if any(r["status"] == "failed" for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
