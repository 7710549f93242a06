"""Worker processes against one trial at a time, and what a study storage costs per trial (issue 13).

Two parts:

* ``compare``: for each tabular dataset of a suite up to ``--max-rows`` rows (the goal is sets up to
  50k rows), this engine in a fresh process once with ``workers=1`` and once with
  ``workers="auto"``, same seed and budget, the order alternating per dataset so neither always
  runs first. Each run is ``python -m benchmarks.workers --one ...`` under a hard wall-clock limit
  (default 2 x budget + 60 s); the parent samples the resident memory of the whole process tree
  (the worker processes included) and kills the tree at the limit. The test score is computed as
  `automl bench run` computes it (`benchmarks.runners.make_job`, `pipeline_predictions`, `score`).
  The summary compares completed trials (ok + partial; their geometric mean ratio auto/1), the test
  score (auto - 1, sign-adjusted so positive is better), wall seconds and peak memory.
* ``storage``: the search controller in this process (one worker) with an instant backend (its fit
  returns a trivial model at once, so what is left is the search's own bookkeeping) for
  ``--storage-trials`` trials on a small slice of a suite dataset, with the study in memory, in a
  journal file and in SQLite, each with its work folder (artifacts) in a temporary folder. The
  seconds between consecutive trial callbacks are the per-trial costs; their p50/p95 per storage
  and the overhead against memory. Goal: the journal costs <= 30 ms per trial more than memory at p50.

Outputs in ``--out``: ``results.csv`` (compare), ``storage.csv`` and ``workers.md``.

    python -m benchmarks.workers ../shared/datasets --budget 60 --out bench-out/workers
    python -m benchmarks.workers ../shared/datasets --parts storage --storage-trials 200
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import math
import os
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import psutil
from optuna.distributions import FloatDistribution

from backends.contracts import Backend, Deadline, FitContext, FitInfo, FitPlan, Model, TaskType
from benchmarks.bench import kill_after_default, last_line, supervise
from benchmarks.suite import Dataset, lower_is_better, read_manifest

logger = logging.getLogger("benchmarks.workers")

PARTS = ("compare", "storage")
SETTINGS = ("1", "auto")  # the two `workers=` values compared
STORAGES = ("memory", "journal", "sqlite")
JOURNAL_GOAL_MS = 30.0  # the journal may cost at most this much more per trial than memory, at p50
COLUMNS = [
    "dataset", "task", "metric", "rows", "order", "workers", "workers_chosen", "processes", "reason", "storage",
    "completed", "n_trials", "trials", "test_score", "wall_s", "process_s", "peak_mb", "status", "error",
]
STORAGE_COLUMNS = [
    "storage", "dataset", "rows", "trials", "timed", "p50_ms", "p95_ms", "mean_ms", "max_ms",
    "p50_over_memory_ms", "p95_over_memory_ms", "total_s", "statuses",
]


# ---------------------------------------------------------------- part 1: workers=1 against workers="auto"


def manifest_rows(folder: str | Path) -> dict[str, int]:
    """The `rows` column of `folder`/MANIFEST.tsv by dataset name (datasets without one are left out)."""
    out = {}
    with (Path(folder) / "MANIFEST.tsv").open() as fh:
        for row in csv.DictReader(fh, delimiter="\t"):
            try:
                out[row["name"]] = int(row.get("rows") or "")
            except ValueError:
                pass
    return out


def dataset_rows(ds: Dataset, known: Mapping[str, int]) -> int:
    """The dataset's rows: the manifest's count, else the lines of its train and test files."""
    if ds.name in known:
        return known[ds.name]
    train, test = ds.load()
    return len(train) + len(test)


def choose_datasets(suite: Path, names: Sequence[str] | None, max_rows: int) -> tuple[list[tuple[Dataset, int]], dict[str, str]]:
    """(dataset, rows) to compare, in manifest order or as named, and {name: why} for those left out."""
    tabular, others = read_manifest(suite)
    if names:
        unknown = [n for n in names if n not in tabular and n not in others]
        if unknown:
            raise SystemExit(f"error: dataset(s) {', '.join(unknown)} not in {suite}/MANIFEST.tsv; it lists {', '.join([*tabular, *others])}")
    wanted = list(names) if names else [*tabular, *others]
    skipped = {n: f"task {others[n]} is not tabular" for n in wanted if n in others}
    known = manifest_rows(suite)
    chosen = []
    for name in (n for n in wanted if n in tabular):
        rows = dataset_rows(tabular[name], known)
        if rows > max_rows:
            skipped[name] = f"{rows:,} rows > --max-rows {max_rows:,}"
        else:
            chosen.append((tabular[name], rows))
    return chosen, skipped


def run_one(suite: str, dataset: str, workers: str, budget: float, seed: int) -> dict[str, Any]:
    """One `automl.fit` with `workers` ("1" or "auto") on the train split, scored on the test split (in the child)."""
    import automl
    from benchmarks.runners import Predictions, make_job, pipeline_predictions, score

    ds = read_manifest(suite)[0][dataset]
    train, test = ds.load()
    job = make_job(train, test, ds.target, ds.task, ds.metric, budget, seed)
    start = time.monotonic()
    result = automl.fit(job.train, job.target, metric=job.metric, time_budget=budget, seed=seed,
                        workers=int(workers) if workers != "auto" else "auto")
    pred, proba = pipeline_predictions(result.best, job.test_X, job.classes)
    wall = time.monotonic() - start
    report = result.report
    trials = report["budget"]["trials"]
    plan = report["workers"]
    return {
        "test_score": score(job, Predictions(pred, proba), test[ds.target]), "wall_s": wall,
        "workers_chosen": plan["workers"], "processes": plan["processes"], "reason": plan["reason"], "note": plan.get("note", ""),
        "storage": plan.get("storage", ""), "completed": int(trials.get("ok", 0)) + int(trials.get("partial", 0)),
        "n_trials": report["budget"]["n_trials"], "trials": trials,
    }


def one_main(argv: list[str]) -> int:
    """`python -m benchmarks.workers --one ...`: one run, its result as JSON in --out."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.workers --one")
    parser.add_argument("--suite", required=True)
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--workers", required=True, choices=SETTINGS)
    parser.add_argument("--budget", type=float, required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    start = time.monotonic()
    try:
        result = {"status": "ok"} | run_one(args.suite, args.dataset, args.workers, args.budget, args.seed)
        code = 0
    except BaseException as exc:  # noqa: B036 - a KeyboardInterrupt is a failed run too, recorded
        import traceback

        traceback.print_exc()
        text = f"{type(exc).__name__}: {exc}".strip().splitlines() or [type(exc).__name__]
        result, code = {"status": "failed", "error": text[0][:500], "wall_s": time.monotonic() - start}, 1
    Path(args.out).write_text(json.dumps(result, default=str))
    return code


def compare_run(suite: Path, ds: Dataset, rows: int, workers: str, order: int, budget: float, seed: int, out: Path,
                kill_after: float | None = None) -> dict[str, Any]:
    """One run in a fresh process under a hard wall-clock limit, with its process tree's peak memory; its results.csv row."""
    limit = kill_after_default(budget) if kill_after is None else kill_after
    row: dict[str, Any] = {
        "dataset": ds.name, "task": ds.task, "metric": ds.metric, "rows": rows, "order": order, "workers": workers,
        "test_score": math.nan, "wall_s": math.nan, "status": "ok", "error": "",
    }
    logs = out / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    log_path, json_path = logs / f"{ds.name}.workers-{workers}.log", logs / f"{ds.name}.workers-{workers}.json"
    json_path.unlink(missing_ok=True)
    cmd = [sys.executable, "-m", "benchmarks.workers", "--one", "--suite", str(Path(suite).resolve()), "--dataset", ds.name,
           "--workers", workers, "--budget", repr(float(budget)), "--seed", str(seed), "--out", str(json_path.resolve())]
    run = supervise(cmd, log_path, limit)
    timed_out = run.timed_out
    row |= {"process_s": round(run.process_s, 2), "peak_mb": round(run.peak_mb, 1)}
    try:
        result = json.loads(json_path.read_text())
    except (OSError, ValueError):
        result = {}
    if timed_out:
        row |= {"status": "timeout", "wall_s": limit, "error": f"killed after {limit:g}s; last output: {last_line(log_path, 300)}"}
    elif result.get("status") == "ok" and run.returncode == 0:
        row |= {k: result[k] for k in ("workers_chosen", "processes", "reason", "storage", "completed", "n_trials", "test_score", "wall_s")}
        row["trials"] = json.dumps(result["trials"], sort_keys=True)
        if result.get("note"):
            row["reason"] = f"{row['reason']} ({result['note']})"
    else:
        error = result.get("error") or last_line(log_path, 300) or f"exit code {run.returncode}"
        if run.returncode < 0 and not result:
            error = f"killed by signal {-run.returncode} (out of memory?); last output: {last_line(log_path, 300)}"
        row |= {"status": "failed", "wall_s": float(result.get("wall_s", row["process_s"])), "error": error}
    row["wall_s"] = round(float(row["wall_s"]), 2)
    return row


def compare_summary(rows: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], float | None]:
    """Per dataset: completed trials auto / 1, the test score gain of auto (positive = better), walls, peaks;
    and the geometric mean of the ratios (None when no dataset has both runs with completed trials)."""
    out = []
    for name in dict.fromkeys(r["dataset"] for r in rows):
        runs = {r["workers"]: r for r in rows if r["dataset"] == name}
        one, auto = runs.get("1"), runs.get("auto")
        if one is None or auto is None:
            continue
        ok = one["status"] == "ok" and auto["status"] == "ok"
        ratio = auto["completed"] / one["completed"] if ok and one["completed"] else None
        gain = None
        if ok and math.isfinite(one["test_score"]) and math.isfinite(auto["test_score"]):
            gain = (auto["test_score"] - one["test_score"]) * (-1.0 if lower_is_better(one["metric"]) else 1.0)
        out.append({"dataset": name, "metric": one["metric"], "one": one, "auto": auto, "ratio": ratio, "gain": gain})
    ratios = [s["ratio"] for s in out if s["ratio"] is not None and s["ratio"] > 0]
    geomean = float(np.exp(np.mean(np.log(ratios)))) if ratios else None
    return out, geomean


# ---------------------------------------------------------------- part 2: what a storage costs per trial


class _InstantModel(Model):
    backend = "instant"

    def __init__(self, w: float, k: int) -> None:
        self.w, self.k, self.info = w, k, FitInfo()

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        v = np.nan_to_num(X.iloc[:, 0].to_numpy(dtype=np.float64)) * self.w
        if self.k == 0:
            return v
        logits = np.outer(v, np.arange(self.k) - (self.k - 1) / 2.0)
        logits -= logits.max(axis=1, keepdims=True)
        e = np.exp(logits)
        return e / e.sum(axis=1, keepdims=True)

    def save(self, directory: Path) -> dict[str, Any]:
        return {"w": self.w, "k": self.k}

    def size_bytes(self) -> int:
        return 64


class InstantBackend(Backend):
    """Fits nothing: a model that scores its first input column times `w` (so trials differ), returned at once."""

    name = "instant"
    recipe = "dense"
    tasks: ClassVar[frozenset[TaskType]] = frozenset(TaskType)

    def search_space(self, ctx: FitContext) -> dict:
        return {"w": FloatDistribution(0.05, 3.0)}

    def _portfolio(self, ctx: FitContext) -> list[dict[str, Any]]:
        return [{"w": 1.0}]

    def _fit(self, X, y, p, ctx, deadline: Deadline, plan: FitPlan) -> Model:
        return _InstantModel(float(p["w"]), max(2, plan.n_classes) if ctx.task.is_classification else 0)

    def load(self, directory: Path, meta: Mapping[str, Any]) -> Model:
        return _InstantModel(float(meta["w"]), int(meta["k"]))


def storage_url(kind: str, folder: Path) -> str | None:
    """The Controller's `storage=` for `kind`: None (memory), a journal file, or a SQLite URL, inside `folder`."""
    if kind == "memory":
        return None
    if kind == "journal":
        return str(folder / "study.journal")
    if kind == "sqlite":
        return f"sqlite:///{folder / 'study.db'}"
    raise ValueError(f"unknown storage {kind!r}; choose from {', '.join(STORAGES)}")


def storage_data(ds: Dataset, rows: int, seed: int) -> tuple[Any, Any]:
    """(task, search data) of a `rows`-row slice of the dataset's train split, prepared as `automl.fit` does."""
    from features.profile import profile
    from search.metrics import get_metric
    from search.splits import make_splits
    from search.task import SearchData, Task

    frame = ds.load()[0]
    if rows < len(frame):
        frame = frame.sample(n=rows, random_state=seed).reset_index(drop=True)
    prof = profile(frame, ds.target)
    if prof.task.is_classification:
        y = pd.Categorical(frame[ds.target], categories=list(prof.classes)).codes.astype(np.int64)
    else:
        y = frame[ds.target].to_numpy(dtype=np.float64)
    data = SearchData.table(frame[prof.feature_columns], y, prof, make_splits(y, prof.task, seed))
    task = Task(prof.task, (get_metric(ds.metric, prof.task),), (), len(prof.classes or ()), seed)
    return task, data


class _TrialTimer:
    """A trial callback: the `time.perf_counter()` of each call."""

    def __init__(self) -> None:
        self.times: list[float] = []

    def __call__(self, record: Any, board: Any) -> None:
        self.times.append(time.perf_counter())


def time_storage(kind: str, task: Any, data: Any, n_trials: int, seed: int) -> dict[str, Any]:
    """Run `n_trials` instant trials with the study in `kind`; the per-trial seconds (between consecutive callbacks)."""
    from search.budget import Budget
    from search.controller import Controller

    timer = _TrialTimer()
    with tempfile.TemporaryDirectory(prefix=f"automl-bench-storage-{kind}-") as tmp:
        folder = Path(tmp)
        controller = Controller(task, data, [InstantBackend()], Budget(3600.0), n_trials=n_trials, storage=storage_url(kind, folder),
                                study_name=f"storage-{kind}-seed{seed}", callbacks=[timer], workdir=folder / "work")
        start = time.perf_counter()
        try:
            board = controller.run().leaderboard
        finally:
            controller.close()
        total = time.perf_counter() - start
    return {"deltas": np.diff(timer.times), "trials": len(timer.times), "total_s": total, "statuses": board.counts(trials_only=True)}


def storage_rows(ds: Dataset, rows: int, n_trials: int, seed: int, echo: Any = print) -> list[dict[str, Any]]:
    """One storage.csv row per storage, memory first (the others' overhead is against it)."""
    task, data = storage_data(ds, rows, seed)
    time_storage("memory", task, data, min(n_trials, 12), seed)  # warm-up: first-use imports and caches count nowhere
    out: list[dict[str, Any]] = []
    for kind in STORAGES:
        timed = time_storage(kind, task, data, n_trials, seed)
        ms = np.asarray(timed["deltas"]) * 1000.0
        row = {
            "storage": kind, "dataset": ds.name, "rows": len(data.y), "trials": timed["trials"], "timed": len(ms),
            "p50_ms": float(np.percentile(ms, 50)) if len(ms) else math.nan, "p95_ms": float(np.percentile(ms, 95)) if len(ms) else math.nan,
            "mean_ms": float(ms.mean()) if len(ms) else math.nan, "max_ms": float(ms.max()) if len(ms) else math.nan,
            "total_s": round(timed["total_s"], 3), "statuses": json.dumps({k: v for k, v in timed["statuses"].items() if v}, sort_keys=True),
        }
        base = out[0] if out else row
        row["p50_over_memory_ms"] = row["p50_ms"] - base["p50_ms"]
        row["p95_over_memory_ms"] = row["p95_ms"] - base["p95_ms"]
        row = {k: round(v, 3) if isinstance(v, float) else v for k, v in row.items()}
        out.append(row)
        echo(f"storage {kind:<8} {row['trials']} trials  p50 {row['p50_ms']:7.2f} ms  p95 {row['p95_ms']:7.2f} ms  "
             f"(+{row['p50_over_memory_ms']:.2f} / +{row['p95_over_memory_ms']:.2f} ms over memory)  total {row['total_s']:.1f}s")
    return out


def journal_verdict(rows: list[dict[str, Any]]) -> tuple[str, bool] | None:
    """The journal goal's sentence and whether it holds (None without a memory and a journal row)."""
    by = {r["storage"]: r for r in rows}
    if "memory" not in by or "journal" not in by or not math.isfinite(by["journal"]["p50_over_memory_ms"]):
        return None
    over = by["journal"]["p50_over_memory_ms"]
    met = over <= JOURNAL_GOAL_MS
    return f"journal overhead {over:+.2f} ms per trial at p50 (goal <= {JOURNAL_GOAL_MS:g} ms): {'met' if met else 'NOT met'}", met


# ---------------------------------------------------------------- outputs


def _fmt(value: Any, digits: int = 4) -> str:
    if value is None or value == "" or (isinstance(value, float) and not math.isfinite(value)):
        return ""
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def markdown(rows: list[dict[str, Any]], storage: list[dict[str, Any]], budget: float, seed: int, skipped: Mapping[str, str]) -> str:
    """Both parts as Markdown: the runs, the per-dataset summary, the storage costs and the goal verdict."""
    lines = ["# Worker processes: workers=1 against workers=auto, and storage cost per trial", "",
             f"Machine: {os.cpu_count()} CPU cores, {psutil.virtual_memory().total / 2**30:.1f} GiB memory.", ""]
    if rows:
        lines += [
            f"## workers=1 against workers=auto (budget {budget:g} s, seed {seed})", "",
            "Completed trials are ok + partial. Peak MB is the whole process tree's (worker processes included).", "",
            "| dataset | rows | metric | workers | order | chosen | completed | total trials | test score | wall s | peak MB | status |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for r in rows:
            lines.append(
                f"| {r['dataset']} | {r['rows']:,} | {r['metric']} | {r['workers']} | {r['order']} | {_fmt(r.get('workers_chosen'))} | "
                f"{_fmt(r.get('completed'))} | {_fmt(r.get('n_trials'))} | {_fmt(r.get('test_score'))} | {_fmt(r.get('wall_s'), 1)} | "
                f"{_fmt(r.get('peak_mb'), 0)} | {r['status']}{' (' + r['error'][:120] + ')' if r.get('error') else ''} |"
            )
        summary, geomean = compare_summary(rows)
        lines += [
            "", "| dataset | completed 1 / auto | ratio auto/1 | score gain of auto (+ = better) | wall s 1 / auto | peak MB 1 / auto | auto chose |",
            "|---|---|---|---|---|---|---|",
        ]
        for s in summary:
            one, auto = s["one"], s["auto"]
            lines.append(
                f"| {s['dataset']} | {_fmt(one.get('completed'))} / {_fmt(auto.get('completed'))} | {_fmt(s['ratio'], 2)} | "
                f"{_fmt(s['gain'])} ({s['metric']}) | {_fmt(one.get('wall_s'), 1)} / {_fmt(auto.get('wall_s'), 1)} | "
                f"{_fmt(one.get('peak_mb'), 0)} / {_fmt(auto.get('peak_mb'), 0)} | {_fmt(auto.get('workers_chosen'))}: {auto.get('reason', '')} |"
            )
        counted = sum(s["ratio"] is not None for s in summary)
        lines += ["", f"Geometric mean of completed trials auto/1: {_fmt(geomean, 2) or 'n/a'} over {counted} dataset(s).", ""]
    if skipped:
        lines += ["Skipped: " + "; ".join(f"{n} ({why})" for n, why in skipped.items()), ""]
    if storage:
        r0 = storage[0]
        lines += [
            f"## Storage cost per trial ({r0['trials']} instant trials on {r0['dataset']}, {r0['rows']} rows, one worker)", "",
            "Per-trial seconds are the gaps between consecutive trial callbacks (sampling, folds, artifacts, telling the study). "
            "As in `automl.fit`, a study in a journal or SQLite also keeps its artifacts (out-of-fold predictions) in files, memory in memory.", "",
            "| storage | trials | p50 ms | p95 ms | mean ms | max ms | p50 over memory ms | p95 over memory ms | total s |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for r in storage:
            lines.append(
                f"| {r['storage']} | {r['trials']} | {_fmt(r['p50_ms'], 2)} | {_fmt(r['p95_ms'], 2)} | {_fmt(r['mean_ms'], 2)} | {_fmt(r['max_ms'], 2)} | "
                f"{_fmt(r['p50_over_memory_ms'], 2)} | {_fmt(r['p95_over_memory_ms'], 2)} | {_fmt(r['total_s'], 1)} |"
            )
        verdict = journal_verdict(storage)
        lines += ["", f"Goal: {verdict[0]}." if verdict else "Goal: n/a (no memory or journal row).", ""]
    return "\n".join(lines)


def write_csv(path: Path, rows: list[dict[str, Any]], columns: list[str]) -> None:
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows({k: ("" if v is None else v) for k, v in r.items()} for r in rows)


def format_run(r: dict[str, Any]) -> str:
    """One line per finished run."""
    text = (f"{r['dataset']:<20} workers={r['workers']:<4} chose {_fmt(r.get('workers_chosen')) or '?':>2}  "
            f"completed {_fmt(r.get('completed')) or '?':>4}/{_fmt(r.get('n_trials')) or '?':<4} {r['metric']}={_fmt(r.get('test_score')) or 'nan'}  "
            f"wall {r['wall_s']:6.1f}s  peak {r.get('peak_mb', math.nan):6.0f} MB  {r['status']}")
    return text + (f"  ({r['error'][:120]})" if r.get("error") else "")


# ---------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    """The CLI: run the parts, write the outputs, print the Markdown; 1 when a run failed."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--one"]:
        return one_main(argv[1:])
    parser = argparse.ArgumentParser(prog="automl bench workers", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("suite", type=Path, help="dataset folder with MANIFEST.tsv, e.g. ../shared/datasets")
    parser.add_argument("--budget", type=float, default=60.0, help="seconds per fit (default: 60)")
    parser.add_argument("--datasets", default=None, help="comma-separated names (default: every tabular dataset of the suite)")
    parser.add_argument("--max-rows", type=int, default=50_000, help="skip datasets with more rows than this (default: 50000)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--kill-after", type=float, default=None, help="hard wall-clock limit of one run in seconds (default: 2 x budget + 60)")
    parser.add_argument("--parts", default=",".join(PARTS), help="comma-separated: compare, storage")
    parser.add_argument("--storage-trials", type=int, default=200, help="instant trials per storage (default: 200)")
    parser.add_argument("--storage-dataset", default="german_credit", help="suite dataset the storage part slices (default: german_credit)")
    parser.add_argument("--storage-rows", type=int, default=300, help="rows of that slice (default: 300)")
    parser.add_argument("--out", type=Path, default=Path("bench-out/workers"))
    args = parser.parse_args(argv)
    parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    if unknown := sorted(set(parts) - set(PARTS)):
        parser.error(f"unknown part(s) {unknown}; choose from {', '.join(PARTS)}")
    if args.budget <= 0:
        parser.error(f"--budget must be a positive number of seconds, got {args.budget}")
    if args.storage_trials < 2:
        parser.error(f"--storage-trials must be at least 2 (per-trial times are gaps between trials), got {args.storage_trials}")
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    args.out.mkdir(parents=True, exist_ok=True)

    rows: list[dict[str, Any]] = []
    skipped: dict[str, str] = {}
    if "compare" in parts:
        names = [n.strip() for n in args.datasets.split(",") if n.strip()] if args.datasets else None
        chosen, skipped = choose_datasets(args.suite, names, args.max_rows)
        for name, why in skipped.items():
            print(f"skipped dataset {name}: {why}", flush=True)
        for i, (ds, n_rows) in enumerate(chosen):
            order = SETTINGS if i % 2 == 0 else SETTINGS[::-1]  # neither setting always runs first
            for position, workers in enumerate(order, start=1):
                row = compare_run(args.suite, ds, n_rows, workers, position, args.budget, args.seed, args.out, args.kill_after)
                rows.append(row)
                print(format_run(row), flush=True)
                write_csv(args.out / "results.csv", rows, COLUMNS)
    storage: list[dict[str, Any]] = []
    if "storage" in parts:
        tabular = read_manifest(args.suite)[0]
        if args.storage_dataset not in tabular:
            parser.error(f"no tabular dataset {args.storage_dataset!r} in {args.suite}/MANIFEST.tsv; choose from {', '.join(tabular)}")
        storage = storage_rows(tabular[args.storage_dataset], args.storage_rows, args.storage_trials, args.seed, echo=lambda s: print(s, flush=True))
        write_csv(args.out / "storage.csv", storage, STORAGE_COLUMNS)
        verdict = journal_verdict(storage)
        if verdict:
            print(verdict[0], flush=True)
    text = markdown(rows, storage, args.budget, args.seed, skipped)
    (args.out / "workers.md").write_text(text)
    print(text)
    written = [p for p in ("results.csv", "storage.csv") if (args.out / p).is_file() and (p != "results.csv" or rows) and (p != "storage.csv" or storage)]
    print(f"wrote {', '.join(str(args.out / p) for p in [*written, 'workers.md'])}", file=sys.stderr)
    return 1 if any(r["status"] != "ok" for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
