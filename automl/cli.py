"""The `automl` command: fit, predict, leaderboard.

Exit codes: 0 done; 2 an error (one line on stderr, before any work where it can be told); 3 `fit` wrote
everything but its packaged model fails a declared success criterion (no candidate passed them all).
"""

from __future__ import annotations

import functools
import json
import logging
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click
import pandas as pd

from backends.errors import AutoMLError, AutoMLWarning

F = TypeVar("F", bound=Callable[..., Any])
EXIT_ERROR = 2
EXIT_CRITERIA_FAILED = 3
SUMMARY_COLUMNS = [
    "rank", "model_id", "features", "backend", "device", "score_mean", "score_std",
    "fit_s", "predict_ms_p95", "model_mb", "passed_all", "status", "packaged",
]


def _friendly_errors(func: F) -> F:
    """Turn engine errors into `error: <sentence>` on stderr and exit code 2."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except AutoMLError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(EXIT_ERROR)

    return wrapper  # type: ignore[return-value]


def _setup_logging(verbose: int) -> None:
    import optuna
    from rich.logging import RichHandler

    from automl._logging import set_verbosity

    level = logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    handler = RichHandler(console=_stderr_console(), show_path=False, show_time=False)
    logging.basicConfig(level=logging.WARNING, handlers=[handler], format="%(message)s")
    set_verbosity(level)
    # Optuna's own per-trial lines duplicate ours; the leaderboard keeps every failure
    optuna.logging.set_verbosity(logging.ERROR if verbose < 2 else logging.INFO)
    optuna.logging.disable_default_handler()
    logging.captureWarnings(True)
    # the engine logs what its own warnings say; captured, each would print twice
    warnings.filterwarnings("ignore", category=AutoMLWarning)


@functools.lru_cache(maxsize=1)
def _stderr_console() -> Any:
    from rich.console import Console

    return Console(stderr=True)


class _Progress:
    """A progress bar over the time budget with trials so far and the best score (terminals only)."""

    def __init__(self, budget: float) -> None:
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        self.enabled = sys.stderr.isatty()
        self.start = time.monotonic()
        self.budget = budget
        self.progress = Progress(
            TextColumn("[bold]search"), BarColumn(), TimeElapsedColumn(), TextColumn("{task.description}"),
            console=_stderr_console(), transient=True, disable=not self.enabled,
        )
        self.task_id = self.progress.add_task("starting", total=budget)

    def __enter__(self) -> _Progress:
        self.progress.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.progress.__exit__(*exc)

    def __call__(self, record: Any, board: Any) -> None:
        best = next((r for r in board.records() if r.ok), None)
        text = f"{len(board)} trials"
        if best is not None:
            text += f" | best {board.metric.name}={best.score_mean:.5g} ({best.backend})"
        self.progress.update(self.task_id, completed=min(self.budget, time.monotonic() - self.start), description=text)


def _summary(board: pd.DataFrame, top: int) -> str:
    cols = [c for c in SUMMARY_COLUMNS if c in board.columns]
    if "features" in board.columns and board["features"].eq("table").all():
        cols.remove("features")  # a plain table has one feature set: the column says nothing
    return board[cols].head(top).to_string(index=False, float_format=lambda v: f"{v:.5g}")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="automl-engine")
def main() -> None:
    """AutoML engine: search models for a table, package the best, predict with it."""


@main.command("fit")
@click.argument("train", required=False)
@click.option("--target", "-t", default=None, help="Name of the column to predict (the label column of --labels for series).")
@click.option("--schema", "schema", type=click.Path(path_type=Path), default=None,
              help="Related tables: a *.schema.json (tables, keys, relationships); trains on the target table's train file.")
@click.option("--series", type=click.Path(path_type=Path), default=None, help="Time series in long format (id, time, value[, channel]).")
@click.option("--labels", type=click.Path(path_type=Path), default=None, help="With --series: one row per series id and its label.")
@click.option("--column-kind", default="auto", show_default=True,
              help="With --series: the channel column of multivariate series ('auto': 'channel' when present, 'none': univariate).")
@click.option("--recipes", default=None,
              help="Comma-separated feature recipes to choose among (dfs-d0, dfs-d1, dfs-d2, dfs-d2-wide; ts-raw, ts-minimal, ts-minirocket, ...).")
@click.option(
    "--task", type=click.Choice(["binary", "multiclass", "regression"]), default=None, help="Force the task type (inferred by default)."
)
@click.option("--metric", "-m", default=None, help="Primary metric: roc_auc, log_loss, accuracy, balanced_accuracy, f1, rmse, mae, r2.")
@click.option("--success", "-s", multiple=True, help="Success criterion, e.g. 'roc_auc >= 0.85' or 'predict_ms_p95 <= 5' (repeatable).")
@click.option("--time-budget", type=float, default=60.0, show_default=True, help="Seconds for the whole fit, refit and packaging included.")
@click.option("--n-trials", type=int, default=None, help="Stop after this many trials (reproducible with --seed).")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--device", default="auto", show_default=True, help="auto (a GPU where a backend can really use it), cpu, cuda, or cuda:N.")
@click.option("--trials-per-gpu", type=int, default=1, show_default=True, help="Trials run on each GPU at once.")
@click.option("--backend", "backends", multiple=True, help="Restrict the search to these backends (repeatable).")
@click.option("--workers", default="auto", show_default=True,
              help="Worker processes running trials side by side: auto (from cores, GPUs, data size, memory) or N; 1 runs here, reproducibly.")
@click.option("--storage", default=None, help="Optuna storage URL (sqlite:///run.db) or journal file; default: OUT/search/study.journal with worker processes.")
@click.option("--study-name", default=None, help="Study name inside --storage (default: derived from the data and seed).")
@click.option("--table", default=None, help="With a database URL as TRAIN (sqlite:///shop.db, postgresql://...): the table to read.")
@click.option("--query", default=None, help="With a database URL as TRAIN: a SELECT whose rows are the training data.")
@click.option("--out", "-o", type=click.Path(path_type=Path), default=Path("automl-out"), show_default=True,
              help="Output folder: new, empty, or an earlier run's (replaced).")
@click.option("--top", type=int, default=10, show_default=True, help="Leaderboard rows to print.")
@click.option("-v", "--verbose", count=True, help="-v: one line per trial; -vv: debug.")
@_friendly_errors
def fit_cmd(train: str | None, target: str | None, schema: Path | None, series: Path | None, labels: Path | None, column_kind: str,
            recipes: str | None, task: str | None, metric: str | None, success: tuple[str, ...], time_budget: float,
            n_trials: int | None, seed: int, device: str, trials_per_gpu: int, backends: tuple[str, ...], workers: str, storage: str | None,
            study_name: str | None, table: str | None, query: str | None, out: Path, top: int, verbose: int) -> None:
    """Search models for TRAIN (CSV/TSV/TXT with its delimiter detected, JSON, JSON Lines, Parquet, or a database
    URL with --table/--query), for related tables (--schema) or for time series (--series, --labels).

    Writes the leaderboard, report and package to --out; the search's journal and artifacts go to OUT/search, so
    rerunning the same command after a kill resumes it. Exit code 3: success criteria were declared and the
    packaged model fails one (everything is still written).
    """
    from search.forkserver import prestart

    n_workers: int | str = int(workers) if workers.isdigit() else workers
    prestart(n_workers, n_trials, time_budget)  # before the imports below: they overlap
    from automl.api import check_budget, check_seed, fit
    from automl.rundir import SEARCH_DIR, check_run_dir

    _setup_logging(verbose)
    # what can be told without reading the data fails before any work
    check_budget(time_budget)
    check_seed(seed)
    check_run_dir(out)
    inputs = _fit_inputs(train, target, schema, series, labels, column_kind, table, query)
    with _Progress(time_budget) as progress:
        result = fit(
            **inputs, feature_recipes=_names(recipes), task=task, metric=metric, success=list(success) or None,
            time_budget=time_budget, n_trials=n_trials, device=device, trials_per_gpu=trials_per_gpu, seed=seed, storage=storage, study_name=study_name,
            backends=list(backends) or None, callbacks=[progress], workers=n_workers, workdir=out / SEARCH_DIR,
        )
    package = result.export(out)
    report = result.report
    click.echo(_summary(result.leaderboard, top))
    click.echo("")
    source = _source_line(inputs)
    if source:
        click.echo(source)
    direction = "higher is better" if report["greater_is_better"] else "lower is better"
    forced = "forced" if task else "inferred"
    click.echo(f"task: {report['task']} ({forced}); metric: {report['metric']} ({direction}); validation: {_plan_words(report['validation'])}")
    budget = report["budget"]
    for recipe in report["features"].get("recipes", []):
        click.echo(f"features {recipe['recipe']}: {recipe['n_features']} columns in {recipe['seconds']:.1f}s")
    click.echo(f"{budget['n_trials']} trials in {budget['wall_s']:.1f}s ({', '.join(f'{k} {v}' for k, v in budget['trials'].items() if v)})")
    click.echo(_devices_line(report["devices"]))
    click.echo(_workers_line(report["workers"]))
    packaged = report["package"]
    claimed = packaged["metrics"].get(report["metric"])
    click.echo(
        f"packaged {packaged['model_id']}: {report['metric']}={claimed:.5g} on {packaged['judged_on']}"
        + ("" if packaged["complete"] else " (INCOMPLETE: " + "; ".join(packaged["notes"]) + ")")
    )
    if report["success"]["declared"]:
        click.echo(report["success"]["message"])
    click.echo(f"leaderboard: {out / 'leaderboard.csv'}  report: {out / 'report.json'}")
    click.echo(f"package: {package}")
    if report["success"]["declared"] and not report["success"]["best_passed"]:
        sys.exit(EXIT_CRITERIA_FAILED)


def _workers_line(workers: dict[str, Any]) -> str:
    """How the trials ran: 'workers: 2 processes (cpu x1 thread, cpu x1 thread): <why>'."""
    lanes = ", ".join(f"{lane['device']} x{lane['threads']} thread{'s' if lane['threads'] > 1 else ''}" for lane in workers["lanes"])
    where = f"{workers['workers']} processes ({lanes})" if workers["processes"] else f"1, in this process ({lanes})"
    note = f"; {workers['note']}" if workers.get("note") else ""
    return f"workers: {where}: {workers['reason']}; study in {workers['storage']}{note}"


def _source_line(inputs: dict[str, Any]) -> str:
    """Where a table was read from and how (the delimiter detected), for tables read by `read_table`."""
    frame = inputs.get("data")
    source = getattr(frame, "attrs", {}).get("source") if frame is not None else None
    if not source:
        return ""
    from features.io import DELIMITER_NAMES

    how = source["format"]
    if source.get("delimiter"):
        how += f", {DELIMITER_NAMES.get(source['delimiter'], repr(source['delimiter']))}-separated"
    what = f"table {source['table']!r}" if source.get("table") else "a query" if source.get("query") else ""
    return f"data: {source['path']}{' ' + what if what else ''} ({how}): {len(frame)} rows x {frame.shape[1]} columns"


def _plan_words(validation: dict[str, Any]) -> str:
    """The validation plan in a few words, with why it was cut when the budget could not afford it."""
    used, k = validation["used_folds"], validation["n_folds"]
    words = {"holdout": "a holdout (1 fold)", "kfold": f"{k}-fold" + (f" x {validation['n_repeats']}" if validation["n_repeats"] > 1 else "")}
    text = words.get(validation["kind"], f"{used} of {k} folds")
    return text + (f" ({validation['plan_note']})" if validation.get("plan_note") else "")


def _devices_line(devices: dict[str, Any]) -> str:
    """Where the trials ran, and why any backend is not on the GPU (never claim a GPU that was not used)."""
    ran = ", ".join(f"{n} on {d}" for d, n in devices["trials"].items()) or "none"
    line = f"devices: requested {devices['requested']}; trials: {ran}"
    fallbacks = devices["fallbacks"]
    if fallbacks:
        line += "; on CPU because " + "; ".join(("no GPU: " if k == "*" else f"{k}: ") + v for k, v in fallbacks.items())
    return line


def _one_input(data: str | Path | None, schema: Path | None, series: Path | None, name: str = "TRAIN") -> None:
    given = [flag for flag, value in ((name, data), ("--schema", schema), ("--series", series)) if value is not None]
    if len(given) != 1:
        from backends.errors import ConfigError

        raise ConfigError(f"Give exactly one input: a {name} file, --schema or --series (got {', '.join(given) or 'none'}).")


def _series_kind(frame: pd.DataFrame, column_kind: str) -> str | None:
    if column_kind == "auto":
        return "channel" if "channel" in frame.columns else None
    return None if column_kind.lower() == "none" else column_kind


def _fit_inputs(train: str | None, target: str | None, schema: Path | None, series: Path | None, labels: Path | None,
                column_kind: str, table: str | None = None, query: str | None = None) -> dict[str, Any]:
    """The keyword arguments of `automl.fit` for the input the command line names."""
    from backends.errors import ConfigError
    from features.io import read_table

    _one_input(train, schema, series)
    if (table or query) and train is None:
        raise ConfigError("--table and --query read from a database URL given as TRAIN, e.g. automl fit sqlite:///shop.db --table orders.")
    if schema is not None:
        from features.relational import read_schema

        tables, spec = read_schema(schema, "train")
        return {"tables": tables, **spec.fit_arguments()} | ({"target": target} if target else {})
    if series is not None:
        if labels is None:
            raise ConfigError("--series needs --labels: a file with one row per series id and its label.")
        frame = read_table(series)
        return {"series": frame, "labels": read_table(labels), "target": target, "column_kind": _series_kind(frame, column_kind)}
    if target is None:
        raise ConfigError("--target is required with a TRAIN file: name the column to predict.")
    return {"data": read_table(train, table=table, query=query), "target": target}


@main.command("predict")
@click.argument("model", type=click.Path(path_type=Path))
@click.argument("data", required=False)
@click.option("--schema", "schema", type=click.Path(path_type=Path), default=None, help="Related tables: the *.schema.json of the data to predict.")
@click.option("--split", default="test", show_default=True, help="With --schema: which file of the target table to predict.")
@click.option("--series", type=click.Path(path_type=Path), default=None, help="Time series in long format; one prediction per series id.")
@click.option("--proba", is_flag=True, help="Add one proba_<class> column per class (classification).")
@click.option("--table", default=None, help="With a database URL as DATA: the table to predict.")
@click.option("--query", default=None, help="With a database URL as DATA: a SELECT whose rows to predict.")
@click.option("--out", "-o", type=click.Path(path_type=Path), default=None, help="Write CSV here instead of stdout.")
@_friendly_errors
def predict_cmd(model: Path, data: str | None, schema: Path | None, split: str, series: Path | None, proba: bool,
                table: str | None, query: str | None, out: Path | None) -> None:
    """Predict DATA (a file or a database URL with --table/--query; or --schema tables, or --series) with the package at
    MODEL; rows stay in input order, a target column is ignored."""
    from automl import load
    from features.io import read_table

    _one_input(data, schema, series, name="DATA")
    if out is not None:
        _check_out_file(out)
    pipeline = load(model)
    inputs: Any
    if schema is not None:
        from features.relational import read_schema

        inputs, _ = read_schema(schema, split)
    else:
        inputs = read_table(series) if series is not None else read_table(data, table=table, query=query)  # type: ignore[arg-type]
    result = pipeline.predict_frame(inputs, proba=proba)
    if out is None:
        result.to_csv(sys.stdout, index=False)
    else:
        result.to_csv(out, index=False)
        click.echo(f"wrote {len(result)} predictions to {out}", err=True)


def _check_out_file(out: Path) -> None:
    """Refuse a --out that cannot take a CSV file, before the package is even loaded."""
    from backends.errors import ConfigError

    if out.is_dir():
        raise ConfigError(f"--out {str(out)!r} is a folder; pass a file name for the predictions, e.g. {str(out / 'predictions.csv')!r}.")
    if not out.absolute().parent.is_dir():
        raise ConfigError(f"--out {str(out)!r}: the folder {str(out.absolute().parent)!r} does not exist; create it first.")


@main.command("leaderboard")
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.option("--top", type=int, default=20, show_default=True)
@click.option("--all-columns", is_flag=True, help="Show every column, not the summary.")
@_friendly_errors
def leaderboard_cmd(run_dir: Path, top: int, all_columns: bool) -> None:
    """Print the leaderboard of a finished `automl fit --out RUN_DIR`."""
    from backends.errors import DataError

    path = run_dir / "leaderboard.csv"
    if not path.is_file():
        raise DataError(f"No leaderboard.csv in {str(run_dir)!r}; pass the --out directory of `automl fit`.")
    board = pd.read_csv(path)
    click.echo(board.head(top).to_string(index=False) if all_columns else _summary(board, top))
    report = run_dir / "report.json"
    if report.is_file():
        click.echo(json.loads(report.read_text())["success"]["message"])

# --- automl bench: this engine against peers on a dataset suite ---------------------------

_BENCH_INSTALL = 'the benchmark extras are not installed: pip install -e ".[bench]" (or `make install`)'


def _bench_module(name: str) -> Any:
    """Import benchmarks.<name>, or exit with how to install the missing extra."""
    import importlib

    try:
        return importlib.import_module(f"benchmarks.{name}")
    except ImportError as exc:
        click.echo(f"error: {_BENCH_INSTALL} ({exc})", err=True)
        sys.exit(2)


def _names(value: str | None) -> list[str] | None:
    """'a, b' -> ['a', 'b']; None or empty -> None."""
    names = [v.strip() for v in (value or "").split(",") if v.strip()]
    return names or None


@main.group("bench")
def bench_group() -> None:
    """Benchmark this engine against FLAML, AutoGluon, default LightGBM and a constant predictor."""


@bench_group.command("run")
@click.argument("suite_dir", type=click.Path(path_type=Path))
@click.option("--budget", type=float, required=True, help="Seconds each framework gets per dataset.")
@click.option("--frameworks", default=None,
              help="Comma-separated: automl, flaml, autogluon-medium, autogluon-best, lightgbm-default, constant (default: all installed).")
@click.option("--datasets", default=None, help="Comma-separated dataset names from SUITE_DIR/MANIFEST.tsv (default: every tabular one).")
@click.option("--repeats", type=int, default=1, show_default=True, help="Runs per dataset and framework; run r uses seed --seed + r.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--out", "-o", type=click.Path(path_type=Path), default=Path("bench-out"), show_default=True,
              help="Results folder: results.csv (appended; finished runs are skipped) and logs/.")
@click.option("--kill-after", type=float, default=None, help="Hard wall-clock limit of one run in seconds (default: 2 x budget + 60).")
@_friendly_errors
def bench_run_cmd(suite_dir: Path, budget: float, frameworks: str | None, datasets: str | None, repeats: int, seed: int,
                  out: Path, kill_after: float | None) -> None:
    """Run each framework on each tabular dataset of SUITE_DIR, each in its own process, and append to OUT/results.csv."""
    bench = _bench_module("bench")
    progress = bench.Progress(_stderr_console()) if sys.stderr.isatty() else None
    echo = progress.echo if progress is not None else click.echo
    results = bench.run_bench(
        suite_dir, budget, out, frameworks=_names(frameworks), datasets=_names(datasets), repeats=repeats, seed=seed,
        kill_after=kill_after, echo=echo, progress=progress,
    )
    click.echo(f"{len(results)} rows in {out / 'results.csv'}; report with: automl bench report {out}")


@bench_group.command("report")
@click.argument("dirs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--out", "-o", type=click.Path(path_type=Path), default=None, help="Where to write the report (default: the first DIR).")
@_friendly_errors
def bench_report_cmd(dirs: tuple[Path, ...], out: Path | None) -> None:
    """Tables, wins/ties/losses, normalized scores and plots from one or more `automl bench run` folders."""
    report = _bench_module("report")
    markdown, paths = report.write_report(list(dirs), out)
    click.echo(markdown)
    click.echo(f"report: {paths['report.html']}  markdown: {paths['report.md']}  plots: {paths['scores.png']}, {paths['time_to_score.png']}")


@bench_group.command("synthesis")
@click.argument("suite_dir", type=click.Path(path_type=Path))
@click.option("--budget", type=float, default=120.0, show_default=True, help="Seconds per fit.")
@click.option("--datasets", default=None, help="Comma-separated names (default: every relational and time-series dataset of SUITE_DIR).")
@click.option("--modes", default="synthesis,without", show_default=True, help="synthesis: every recipe; without: target table / raw values only.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--out", "-o", type=click.Path(path_type=Path), default=Path("bench-out/synthesis"), show_default=True)
def bench_synthesis_cmd(suite_dir: Path, budget: float, datasets: str | None, modes: str, seed: int, out: Path) -> None:
    """Test scores with and without synthesized features (DFS, tsfresh) on the relational and time-series datasets."""
    synthesis = _bench_module("synthesis")
    argv = [str(suite_dir), "--budget", str(budget), "--modes", modes, "--seed", str(seed), "--out", str(out)]
    synthesis.main(argv + (["--datasets", datasets] if datasets else []))


@bench_group.command("gpu", context_settings={"ignore_unknown_options": True, "help_option_names": []})
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def bench_gpu_cmd(args: tuple[str, ...]) -> None:
    """CPU-only vs GPU search time-to-score and raw XGBoost hist CPU vs CUDA (options: automl bench gpu --help)."""
    raise SystemExit(_bench_module("gpu").main(list(args)))


@bench_group.command("workers", context_settings={"ignore_unknown_options": True, "help_option_names": []})
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def bench_workers_cmd(args: tuple[str, ...]) -> None:
    """workers=1 vs workers=auto trials and test scores, and study storage cost per trial (options: automl bench workers --help)."""
    raise SystemExit(_bench_module("workers").main(list(args)))


@bench_group.command("frameworks")
def bench_frameworks_cmd() -> None:
    """List the benchmark frameworks, whether each is installed, and how to install it."""
    bench = _bench_module("bench")
    for name, fw in bench.FRAMEWORKS.items():
        python = fw.python()
        click.echo(f"{name:<17} " + (f"installed ({python})" if python else f"not installed: {fw.hint}"))


if __name__ == "__main__":
    main()
