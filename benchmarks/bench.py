"""`automl bench run`: every (dataset, framework, repeat) of a suite in its own process.

Each run is `python -m benchmarks.runners ...` (cwd = repository root) under a hard
wall-clock limit (default 2 x budget + 60 s); the parent samples the process tree's
resident memory for `peak_mb`, kills the whole tree at the limit, and appends one row to
DIR/results.csv as each run ends. A crash or a timeout is a recorded failure scored as the
constant predictor, as the AutoML Benchmark does. Rows already in results.csv (same
dataset, framework, repeat and budget) are skipped, so an interrupted run resumes.

Time-series and related-table datasets run too, so one command measures a whole collection: this engine
fits on their own input (long-format series; every table with its schema), every other framework on their
table view (`benchmarks.suite.Dataset.load`: each series' raw values as a row, or the target table alone),
which makes `lightgbm-default` the related-table floor, and `1nn-euclidean` (series only) the series floor.
"""

from __future__ import annotations

import csv
import importlib.util
import json
import math
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import psutil

from backends.errors import ConfigError
from benchmarks import runners
from benchmarks.suite import Dataset, read_collection

REPO = Path(__file__).resolve().parents[1]
COLUMNS = [
    "dataset", "framework", "repeat", "budget_s", "seed", "metric", "test_score",
    "wall_s", "process_s", "peak_mb", "status", "error", "info",
]
STATUSES = ("ok", "failed", "timeout", "missing")
AUTOGLUON_ENV = "AUTOML_BENCH_AUTOGLUON_PYTHON"
POLL_S = 0.2
ALL_KINDS = frozenset({"table", "series", "relational"})


@dataclass(frozen=True)
class Framework:
    """A runner of `benchmarks.runners` and where its Python comes from."""

    name: str
    module: str  # what its Python must be able to import
    hint: str  # how to install it
    own_venv: bool = False  # AutoGluon: a separate interpreter
    kinds: frozenset[str] = ALL_KINDS  # the dataset kinds it runs on (benchmarks.suite.Dataset.kind)

    def python(self) -> str | None:
        """The interpreter that runs it, or None when it is not installed."""
        if not self.own_venv:
            return sys.executable if importlib.util.find_spec(self.module) is not None else None
        configured = os.environ.get(AUTOGLUON_ENV)
        candidate = Path(configured) if configured else REPO / ".venv-autogluon" / "bin" / "python"
        return str(candidate) if candidate.is_file() else None


_AG_HINT = f"make bench-autogluon (creates .venv-autogluon), or set {AUTOGLUON_ENV} to a Python with autogluon.tabular"
FRAMEWORKS: dict[str, Framework] = {
    f.name: f
    for f in (
        Framework("automl", "automl", 'pip install -e .'),
        Framework("flaml", "flaml", 'pip install -e ".[bench]"'),
        Framework("autogluon-medium", "autogluon.tabular", _AG_HINT, own_venv=True),
        Framework("autogluon-best", "autogluon.tabular", _AG_HINT, own_venv=True),
        Framework("lightgbm-default", "lightgbm", 'pip install -e .'),
        Framework("constant", "numpy", 'pip install -e .'),
        Framework("1nn-euclidean", "sklearn", 'pip install -e .', kinds=frozenset({"series"})),  # the time-series floor
    )
}


def runs_on(framework: str, ds: Dataset) -> bool:
    """Whether `framework` runs on `ds` (the series floor only on series; test hooks everywhere)."""
    return framework not in FRAMEWORKS or ds.kind in FRAMEWORKS[framework].kinds


def kill_after_default(budget: float) -> float:
    """The hard wall-clock limit of one run: 2 x budget + 60 s."""
    return 2 * budget + 60


def tree_rss_mb(proc: psutil.Process) -> float:
    """Resident memory of a process and all its descendants, in MB."""
    total = 0
    for p in [proc, *_children(proc)]:
        try:
            total += p.memory_info().rss
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            pass
    return total / 2**20


def _children(proc: psutil.Process) -> list[psutil.Process]:
    try:
        return proc.children(recursive=True)
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return []


def kill_tree(popen: subprocess.Popen) -> None:
    """SIGKILL the run's process group (it has its own session) and any descendant outside it."""
    try:
        descendants = _children(psutil.Process(popen.pid))
    except psutil.NoSuchProcess:
        descendants = []
    try:
        os.killpg(popen.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    for p in descendants:
        try:
            p.kill()
        except psutil.Error:
            pass
    popen.wait()


@dataclass(frozen=True)
class Supervised:
    """How a supervised run ended: its return code (None when killed at the limit), seconds, peak tree memory."""

    returncode: int | None
    timed_out: bool
    process_s: float
    peak_mb: float


def supervise(cmd: list[str], log_path: Path, limit: float, tick: Callable[[float], None] | None = None) -> Supervised:
    """Run `cmd` from the repository root in its own session, output to `log_path`, sampling the peak memory of its
    process tree; SIGKILL the tree at `limit` seconds (or on any interruption)."""
    env = os.environ | {"PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    peak, timed_out = 0.0, False
    start = time.monotonic()
    with log_path.open("w") as log:
        popen = subprocess.Popen(cmd, cwd=REPO, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                 env=env, start_new_session=True)
        try:
            while popen.poll() is None:
                try:
                    peak = max(peak, tree_rss_mb(psutil.Process(popen.pid)))
                except psutil.NoSuchProcess:  # it ended between poll() and here
                    pass
                elapsed = time.monotonic() - start
                if elapsed >= limit:
                    timed_out = True
                    kill_tree(popen)
                    break
                if tick is not None:
                    tick(elapsed)
                try:
                    popen.wait(timeout=POLL_S)
                except subprocess.TimeoutExpired:
                    pass
        except BaseException:
            kill_tree(popen)
            raise
    return Supervised(None if timed_out else popen.returncode, timed_out, time.monotonic() - start, peak)


def last_line(path: Path, limit: int = 500) -> str:
    """The last non-empty line of a run's log, cut to `limit` characters ("" when unreadable)."""
    try:
        lines = [ln.strip() for ln in path.read_text(errors="replace").splitlines() if ln.strip()]
    except OSError:
        return ""
    return lines[-1][:limit] if lines else ""


def run_one(ds: Dataset, framework: str, repeat: int, budget: float, seed: int, out_dir: Path, *,
            kill_after: float | None = None, constant_score: float | None = None,
            tick: Callable[[float], None] | None = None) -> dict[str, Any]:
    """Run one framework on one dataset in a subprocess; return its results.csv row."""
    out_dir = Path(out_dir)
    limit = kill_after_default(budget) if kill_after is None else kill_after
    fw = FRAMEWORKS[framework] if framework in FRAMEWORKS else Framework(framework, "numpy", "")
    python = fw.python()
    row: dict[str, Any] = {
        "dataset": ds.name, "framework": framework, "repeat": repeat, "budget_s": float(budget), "seed": seed,
        "metric": ds.metric, "test_score": math.nan, "wall_s": math.nan, "process_s": math.nan, "peak_mb": math.nan,
        "status": "ok", "error": "", "info": {},
    }
    if constant_score is None:
        constant_score = score_constant(ds)
    row["info"]["constant_score"] = constant_score
    if python is None:
        row |= {"status": "missing", "test_score": constant_score, "error": f"not installed; install with: {fw.hint}"}
        return _finish(row)
    logs = out_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    stem = f"{ds.name}.{framework}.{repeat}"
    log_path, json_path = logs / f"{stem}.log", logs / f"{stem}.json"
    json_path.unlink(missing_ok=True)
    train_path, test_path = view_files(ds, out_dir)
    cmd = [
        python, "-m", "benchmarks.runners", "--framework", framework, "--train", str(train_path.resolve()),
        "--test", str(test_path.resolve()), "--target", ds.target, "--task", ds.task, "--metric", ds.metric,
        "--budget", repr(float(budget)), "--seed", str(seed), "--out", str(json_path.resolve()),
        "--kind", ds.kind, "--files", ";".join(str(Path(f).resolve()) for f in ds.files),
    ]
    run = supervise(cmd, log_path, limit, tick)
    timed_out, process_s, peak = run.timed_out, run.process_s, run.peak_mb
    row |= {"process_s": process_s, "peak_mb": peak}
    result = _read_json(json_path)
    if timed_out:
        row |= {"status": "timeout", "test_score": constant_score, "wall_s": limit,
                "error": f"killed after {limit:g}s (wall-clock limit); last output: {last_line(log_path)}"}
    elif result.get("status") == "ok" and run.returncode == 0:
        row |= {"test_score": float(result["test_score"]), "wall_s": float(result["wall_s"])}
        row["info"] |= result.get("info") or {}
    else:
        error = result.get("error") or last_line(log_path) or f"exit code {run.returncode}"
        if run.returncode < 0 and not result:  # e.g. SIGKILL from the kernel's out-of-memory killer
            error = f"killed by signal {-run.returncode} (out of memory?); last output: {last_line(log_path)}"
        row |= {"status": "failed", "test_score": constant_score, "wall_s": float(result.get("wall_s", process_s)), "error": error}
    return _finish(row)


def view_files(ds: Dataset, out_dir: Path) -> tuple[Path, Path]:
    """The train and test files a runner reads: a table's own, or its table view written once under `out_dir`/views."""
    if ds.kind == "table":
        return Path(ds.train), Path(ds.test)
    paths = out_dir / "views" / f"{ds.name}.train.csv.gz", out_dir / "views" / f"{ds.name}.test.csv.gz"
    if not all(p.is_file() for p in paths):
        paths[0].parent.mkdir(parents=True, exist_ok=True)
        for frame, path in zip(ds.load(), paths):
            partial = path.with_suffix(".part")
            frame.to_csv(partial, index=False, compression="gzip")
            partial.replace(path)  # a run killed mid-write leaves no half view behind
    return paths


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def _finish(row: dict[str, Any]) -> dict[str, Any]:
    row["info"] = json.dumps(row["info"], sort_keys=True, default=str)
    return {c: row[c] for c in COLUMNS}


_CONSTANT_CACHE: dict[tuple[str, str], float] = {}


def score_constant(ds: Dataset) -> float:
    """The constant predictor's test score on `ds` (computed in this process, cached)."""
    key = (str(ds.train), ds.metric)
    if key not in _CONSTANT_CACHE:
        train, test = ds.load()
        _CONSTANT_CACHE[key] = runners.run("constant", train, test, ds.target, ds.task, ds.metric, 0.0, 0)["test_score"]
    return _CONSTANT_CACHE[key]


def read_results(path: Path) -> pd.DataFrame:
    """results.csv as a frame with the schema's columns (empty when the file does not exist)."""
    if not Path(path).is_file():
        return pd.DataFrame(columns=COLUMNS)
    frame = pd.read_csv(path, keep_default_na=False, na_values=[""])
    for col in ("error", "info"):
        frame[col] = frame[col].fillna("").astype(str)
    return frame


def append_row(path: Path, row: dict[str, Any]) -> None:
    """Append one row to results.csv, writing the header first when the file is new."""
    new = not path.is_file() or path.stat().st_size == 0
    with path.open("a", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=COLUMNS)
        if new:
            writer.writeheader()
        writer.writerow(row)


def done_keys(results: pd.DataFrame) -> set[tuple[str, str, int, float]]:
    """(dataset, framework, repeat, budget) already run; `missing` rows are tried again."""
    ran = results[results["status"] != "missing"]
    return {(str(d), str(f), int(r), float(b)) for d, f, r, b in ran[["dataset", "framework", "repeat", "budget_s"]].itertuples(index=False)}


@dataclass
class Plan:
    """What `plan` decided: the datasets and frameworks to run, and what it left out and why."""

    datasets: list[Dataset]
    frameworks: list[str]
    skipped_datasets: dict[str, str]  # name -> reason
    missing_frameworks: dict[str, str]  # name -> install hint


def installed_frameworks() -> dict[str, bool]:
    return {name: fw.python() is not None for name, fw in FRAMEWORKS.items()}


def plan(suite_dir: str | Path, frameworks: Sequence[str] | None = None, datasets: Sequence[str] | None = None) -> Plan:
    """Resolve the suite, the dataset names and the framework names (None: all installed)."""
    tabular, others = read_collection(suite_dir)
    unknown = [f for f in frameworks or () if f not in FRAMEWORKS and f != "_sleep"]
    if unknown:
        raise ConfigError(f"Unknown framework(s) {', '.join(unknown)}; choose among {', '.join(FRAMEWORKS)}.")
    skipped = {name: f"task {task} has no table view (tabular, time series, related tables)" for name, task in others.items()}
    if datasets:
        missing = [d for d in datasets if d not in tabular and d not in others]
        if missing:
            raise ConfigError(f"Dataset(s) {', '.join(missing)} not in {suite_dir}/MANIFEST.tsv; it lists {', '.join([*tabular, *others])}.")
        skipped = {d: why for d, why in skipped.items() if d in datasets}
        chosen = [tabular[d] for d in datasets if d in tabular]
    else:
        chosen = list(tabular.values())
    missing_fw = {name: fw.hint for name, fw in FRAMEWORKS.items() if fw.python() is None}
    if frameworks:
        names = list(dict.fromkeys(frameworks))
    else:
        names = [n for n in FRAMEWORKS if n not in missing_fw]
    return Plan(chosen, names, skipped, {n: h for n, h in missing_fw.items() if frameworks is None or n in names})


def run_bench(suite_dir: str | Path, budget: float, out: str | Path, *, frameworks: Sequence[str] | None = None,
              datasets: Sequence[str] | None = None, repeats: int = 1, seed: int = 0, kill_after: float | None = None,
              echo: Callable[[str], None] = print, progress: Any = None) -> pd.DataFrame:
    """Run the plan, appending to `out`/results.csv; return every row of that file."""
    if budget <= 0:
        raise ConfigError(f"--budget must be a positive number of seconds, got {budget}.")
    if repeats < 1:
        raise ConfigError(f"--repeats must be at least 1, got {repeats}.")
    the_plan = plan(suite_dir, frameworks, datasets)
    for name, why in the_plan.skipped_datasets.items():
        echo(f"skipped dataset {name}: {why}")
    for name, hint in the_plan.missing_frameworks.items():
        verb = "recorded as missing" if frameworks else "skipped"
        echo(f"{verb}: {name} is not installed; install with: {hint}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    results_path = out / "results.csv"
    done = done_keys(read_results(results_path))
    runs = [(ds, fw, rep) for ds in the_plan.datasets for rep in range(repeats) for fw in the_plan.frameworks if runs_on(fw, ds)]
    todo = [(ds, fw, rep) for ds, fw, rep in runs if (ds.name, fw, rep, float(budget)) not in done]
    already = len(runs) - len(todo)
    if already:
        echo(f"resuming: {already} run(s) already in {results_path}")
    if progress is not None:
        progress.start(len(todo))
    try:
        for ds, fw, rep in todo:
            if progress is not None:
                progress.begin(ds.name, fw, rep, budget)
            tick = progress.tick if progress is not None else None
            row = run_one(ds, fw, rep, budget, seed + rep, out, kill_after=kill_after, tick=tick)
            append_row(results_path, row)
            echo(format_row(row))
            if progress is not None:
                progress.end()
    finally:
        if progress is not None:
            progress.stop()
    return read_results(results_path)


def format_row(row: dict[str, Any]) -> str:
    """One line per finished run."""
    text = (
        f"{row['dataset']:<20} {row['framework']:<17} r{row['repeat']} {row['metric']}={row['test_score']:.4f}  "
        f"wall {row['wall_s']:7.1f}s  peak {row['peak_mb']:7.0f} MB  {row['status']}"
    )
    if row["status"] != "ok":
        text += f"  ({row['error'][:120]})"
    return text


class Progress:
    """A rich progress bar over the runs: dataset / framework / repeat and the run's elapsed time."""

    def __init__(self, console: Any) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self.progress = Progress(
            TextColumn("[bold]bench"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
            TextColumn("{task.description}"), console=console, transient=True,
        )
        self.task_id: Any = None
        self.label = ""

    def start(self, total: int) -> None:
        self.progress.start()
        self.task_id = self.progress.add_task("starting", total=total)

    def begin(self, dataset: str, framework: str, repeat: int, budget: float) -> None:
        self.label = f"{dataset} / {framework} / r{repeat} (budget {budget:g}s)"
        self.progress.update(self.task_id, description=self.label)

    def tick(self, elapsed: float) -> None:
        self.progress.update(self.task_id, description=f"{self.label} {elapsed:5.0f}s")

    def end(self) -> None:
        self.progress.advance(self.task_id)

    def stop(self) -> None:
        self.progress.stop()

    def echo(self, text: str) -> None:
        """A line above the bar."""
        self.progress.console.print(text, markup=False, highlight=False)
