"""`automl.fit`: profile -> task -> search -> refit -> Result, within a hard time budget."""

from __future__ import annotations

import hashlib
import json
import logging
import math
import pickle
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from automl.artifact import load, save_package
from automl.finalize import Finalizer, Packaged, no_model_error
from automl.pipeline import FeatureSet, Member, Pipeline
from automl.rundir import write_run
from backends import registry
from backends.contracts import Device, TaskType
from backends.device import check_request, plan_devices
from backends.errors import ConfigError, CriteriaNotMetWarning, DataError, IncompleteModelWarning
from features.io import read_table
from features.profile import DataProfile, infer_task, profile
from features.schema import input_schema
from features.synthesis import BuiltView, Synthesizer, peak_rss_mb, relational_views, series_views
from search.budget import Budget
from search.controller import Controller, TrialCallback
from search.criteria import criteria_metrics, parse_criteria
from search.forkserver import prestart
from search.leaderboard import Leaderboard
from search.metrics import Metric, get_metric
from search.prepare import encode_target
from search.splits import make_splits, n_repeats_for, screen_split
from search.task import TABLE_VIEW, SearchData, Task, View
from search.workers import check_workers, plan_workers

logger = logging.getLogger(__name__)

MAX_SEED = 2**32 - 1  # numpy's and scikit-learn's seed range


@dataclass
class Result:
    """What `fit` returns: the leaderboard, the fitted best pipeline, and the report."""

    best: Pipeline
    leaderboard: pd.DataFrame
    report: dict[str, Any]
    board: Leaderboard
    _manifest_extra: dict[str, Any]

    def predict(self, data: Any) -> np.ndarray:
        """Labels or values from the best pipeline (input of the kind `fit` got: a frame, related tables or series)."""
        return self.best.predict(data)

    def predict_proba(self, data: Any) -> pd.DataFrame:
        """Class probabilities from the best pipeline, one column per class."""
        return self.best.predict_proba(data)

    def save(self, path: str | Path) -> Path:
        """Write the package (a directory, or a .zip); `automl.load(path)` reads it back."""
        return save_package(self.best, path, self._manifest_extra)

    def export(self, out_dir: str | Path) -> Path:
        """Write leaderboard.csv/json, report.json and the package to `out_dir/model`; return the package path.

        The run is written beside `out_dir` and moved into place whole; `out_dir` may be new, empty or an
        earlier run's folder (replaced), never anything else (ConfigError, before anything is written).
        """

        def write(folder: Path) -> None:
            self.leaderboard.to_csv(folder / "leaderboard.csv", index=False)
            rows = [r.to_dict() | {"rank": i + 1, "model_id": r.model_id} for i, r in enumerate(self.board.records())]
            (folder / "leaderboard.json").write_text(json.dumps(rows, indent=1))
            (folder / "report.json").write_text(json.dumps(self.report, indent=1, default=str))
            self.save(folder / "model")

        return write_run(out_dir, write) / "model"


def fingerprint(frame: pd.DataFrame) -> str:
    """SHA-256 over column names and row hashes: same data, same fingerprint."""
    digest = hashlib.sha256("\x1f".join(map(str, frame.columns)).encode())
    digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return digest.hexdigest()


def fit(
    data: pd.DataFrame | str | Path | None = None,
    target: str | None = None,
    *,
    tables: Mapping[str, pd.DataFrame] | None = None,
    target_table: str | None = None,
    relationships: Sequence[Any] | None = None,
    index: Mapping[str, str] | None = None,
    time_index: Mapping[str, str] | None = None,
    categorical: Mapping[str, Sequence[str]] | None = None,
    series: pd.DataFrame | None = None,
    labels: pd.DataFrame | None = None,
    column_id: str = "id",
    column_sort: str | None = "time",
    column_value: str = "value",
    column_kind: str | None = None,
    feature_recipes: Sequence[str] | None = None,
    task: str | TaskType | None = None,
    metric: str | Callable[..., float] | Metric | None = None,
    success: str | Sequence[str] | None = None,
    time_budget: float = 60,
    n_trials: int | None = None,
    device: str = "auto",
    trials_per_gpu: int = 1,
    seed: int = 0,
    storage: str | None = None,
    study_name: str | None = None,
    backends: Sequence[str] | None = None,
    callbacks: Sequence[TrialCallback] = (),
    table: str | None = None,
    query: str | None = None,
    workers: int | str = "auto",
    workdir: str | Path | None = None,
) -> Result:
    """Search for the best model of `target` within `time_budget` seconds, from one of three inputs.

    * a table: ``fit(frame, "label")``, or a file (CSV/TSV with its delimiter detected, JSON, JSON Lines,
      Parquet) or a database: ``fit("sqlite:///shop.db", "label", table="orders")`` (or ``query="select ..."``;
      any SQLAlchemy URL, e.g. ``postgresql://...``);
    * related tables: ``fit(tables={"molecule": m, "atom": a}, target_table="molecule", target="y",
      relationships=[("molecule", "molecule_id", "atom", "molecule_id")])`` (optional `index`,
      `time_index` and `categorical` per table); Featuretools DFS synthesizes the features;
    * time series in long format: ``fit(series=long_df, labels=labels_df, column_id="id",
      column_sort="time", column_value="value", column_kind="channel")``; tsfresh synthesizes them.

    `feature_recipes` limits the synthesis recipes the search chooses among (default: all the
    budget affords). `success` criteria (e.g. ``"roc_auc >= 0.85"``, ``"predict_ms_p95 <= 5"``)
    decide which candidates qualify; `n_trials` caps the trial count (reproducible with `seed`);
    `storage` (an Optuna URL such as ``sqlite:///run.db``) makes the search resumable.
    `device` is "auto" (a GPU wherever a backend's probe shows it works), "cpu", "cuda" or "cuda:N";
    `trials_per_gpu` runs that many trials on each GPU at once (raise it when one trial leaves most
    of the GPU's memory free).

    `workers` runs trials side by side in that many worker processes ("auto": chosen from the cores,
    GPUs, data size, free memory and budget; the report's "workers" block says what and why). With
    `workers=1` the search runs in this process, one trial at a time, and a fixed `seed` and `n_trials`
    give the same leaderboard every time; with more, trials finish in an order the machine decides, so
    the leaderboard may differ between runs (every trial still scores on the same folds). `workdir`
    keeps the search's study journal and artifacts (out-of-fold predictions, fold models): pass the same
    folder again to resume a killed search; without it a temporary folder serves.
    """
    # one-time imports, once per process, are not part of any budget: a few seconds must not go to importing
    # torch and scikit-learn's estimators, or Featuretools and tsfresh
    requested_workers = check_workers(workers)
    budget_s = check_budget(time_budget)
    prestart(requested_workers, n_trials, budget_s)  # the fork server imports the stack beside this process's own imports below
    registry.preload(backends)
    if tables is not None:
        import featuretools  # noqa: F401
    if series is not None:
        import tsfresh.feature_extraction  # noqa: F401
    t0 = time.monotonic()
    budget = Budget(budget_s)
    check_seed(seed)
    check_request(device)  # a bad spelling or a GPU this process lacks fails before any costly work
    if not isinstance(trials_per_gpu, int) or isinstance(trials_per_gpu, bool) or trials_per_gpu < 1:
        raise ConfigError(f"trials_per_gpu must be a positive integer, got {trials_per_gpu!r}.")
    if n_trials is not None and (not isinstance(n_trials, int) or isinstance(n_trials, bool) or n_trials < 1):
        raise ConfigError(f"n_trials must be a positive integer or None, got {n_trials!r}.")
    given = [name for name, value in (("data", data), ("tables", tables), ("series", series)) if value is not None]
    if len(given) != 1:
        raise ConfigError(
            f"Pass exactly one of data= (a table), tables= (related tables) or series= (time series), got {given or 'none'}."
        )
    if feature_recipes is not None and data is not None:
        raise ConfigError("feature_recipes applies to tables= or series= input; a plain table trains on its own columns.")
    if (table is not None or query is not None) and not isinstance(data, (str, Path)):
        raise ConfigError("table= and query= name what to read from a database URL passed as data=, e.g. data='sqlite:///shop.db'.")

    def early_check(kind: TaskType) -> None:
        get_metric(metric, kind)
        parse_criteria(success, kind)

    if tables is not None:
        inputs = _relational_inputs(tables, target_table, target, relationships, index, time_index, categorical, feature_recipes, task, budget,
                                    early_check)
    elif series is not None:
        from features.timeseries import SeriesSpec

        spec = SeriesSpec(column_id=column_id, column_sort=column_sort, column_value=column_value, column_kind=column_kind)
        inputs = _series_inputs(series, labels, target, spec, feature_recipes, task, budget, early_check)
    else:
        if target is None:
            raise ConfigError("target is required: name the column of `data` to predict.")
        frame = read_table(data, table=table, query=query) if isinstance(data, (str, Path)) else data
        prof = profile(frame, target, task)
        inputs = _Inputs(
            views={TABLE_VIEW: View(frame[prof.feature_columns], prof)}, label=frame[target], target=target,
            synths={}, fingerprint=fingerprint(frame), synthesis={},
        )
    prof = next(iter(inputs.views.values())).profile
    primary = get_metric(metric, prof.task)
    criteria = parse_criteria(success, prof.task)
    the_task = Task(
        type=prof.task,
        metrics=tuple(criteria_metrics(criteria, primary, prof.task)),
        criteria=tuple(criteria),
        n_classes=len(prof.classes or ()),
        seed=seed,
    )
    families = registry.available(prof.task, Device.CPU, backends)
    if not families:
        raise ConfigError(f"No backend can run a {prof.task.value} task here; check the `backends` option.")
    plan = plan_devices(device, families)

    y = encode_target(inputs.label, prof)
    n_features = max(len(v.profile.feature_columns) for v in inputs.views.values())
    n_repeats = n_repeats_for(len(y), n_features, budget)
    splits = make_splits(y, prof.task, seed, n_repeats=n_repeats)
    search_data = SearchData(inputs.views, y, splits, screen=screen_split(splits, y, prof.task, seed), n_repeats=n_repeats)
    data_print = inputs.fingerprint
    # same data, seed and search setup -> the same study (a rerun resumes it); another setup -> a study of its own
    setup = json.dumps([the_task.type.value, [m.name for m in the_task.metrics], [c.text for c in criteria], sorted(b.name for b in families),
                        len(splits), n_repeats], sort_keys=True)
    name = study_name or f"automl-{data_print[:12]}-seed{seed}-{hashlib.sha256(setup.encode()).hexdigest()[:8]}"
    worker_plan = plan_workers(
        requested_workers, plan, per_gpu=trials_per_gpu, cells=len(y) * n_features,
        data_mb=_data_mb(search_data), budget_s=budget.remaining(),
        sequential_reason=_sequential_reason(the_task, search_data, families, budget)
        or ("n_trials is set: one worker keeps the leaderboard reproducible with the seed" if n_trials is not None and requested_workers == "auto" else ""),
    )
    controller = Controller(
        the_task, search_data, families, budget,
        plan=plan, per_gpu=trials_per_gpu, n_trials=n_trials, storage=storage, study_name=name, callbacks=callbacks,
        workers=worker_plan, workdir=workdir,
    )
    try:
        t_search = time.monotonic()
        outcome = controller.run()
        search_s = time.monotonic() - t_search
        board = outcome.leaderboard

        t_refit = time.monotonic()
        if not any(r.ok for r in board.records()):
            raise no_model_error(board, budget, t_search - t0)
        packaged = Finalizer(outcome, controller.refit_plan, the_task, budget).run()
        refit_s = time.monotonic() - t_refit
    finally:
        controller.close()
    trial_counts = board.counts(trials_only=True)
    used = controller.data  # the validation plan the search ended with

    pipeline = Pipeline(
        task=prof.task, target=inputs.target, classes=prof.classes, feature_sets=_feature_sets(packaged.members, inputs),
        members=packaged.members, model_id=packaged.model_id, stacker=packaged.stacker,
    )
    success_block = _success(board, packaged, criteria)
    _warn(packaged, success_block, criteria)
    report = {
        "task": prof.task.value,
        "target": inputs.target,
        "input": pipeline.input_kind,
        "metric": primary.name,
        "greater_is_better": primary.greater_is_better,
        "criteria": [c.text for c in criteria],
        "success": success_block,
        "best": packaged.record.to_dict() | {"model_id": packaged.model_id},
        "package": packaged.to_dict(),
        "refit": packaged.refit,
        "profile": prof.to_dict(),
        "features": inputs.synthesis,
        "validation": used.plan() | {
            "planned_folds": len(splits), "plan_note": controller.plan_note,
            "screen_rows": None if search_data.screen is None else len(search_data.screen[0]),
        },
        "budget": {
            "time_budget_s": float(time_budget),
            "synthesis_s": round(sum(v["seconds"] for v in inputs.synthesis.get("recipes", [])), 3),
            "search_s": round(search_s, 3),
            "refit_s": round(refit_s, 3),
            "wall_s": round(time.monotonic() - t0, 3),
            "trials": trial_counts,
            "n_trials": sum(trial_counts.values()),
            "ensemble": any(e.stacker is None for e in outcome.ensembles),
            "stack": any(e.stacker is not None for e in outcome.ensembles),
        },
        "workers": worker_plan.to_dict() | {"note": controller.worker_note, "storage": _storage_kind(controller.storage)},
        "device": plan.requested,
        "devices": plan.to_dict() | {"trials": _trials_per_device(board)},
        "backends": [b.name for b in families],
        "seed": seed,
        "study_name": name,
        "data_fingerprint": data_print,
    }
    manifest_extra = {
        "seed": seed,
        "data_fingerprint": data_print,
        "metrics": {m.name: packaged.metrics.get(m.name) for m in the_task.metrics},
        "judged_on": packaged.judged_on(),
        "complete": packaged.complete,
        "primary_metric": primary.name,
        "criteria": [c.text for c in criteria],
        "verdicts": packaged.verdicts,
        "passed_all": packaged.passed,
        "leaderboard_row": packaged.record.to_dict() | {"model_id": packaged.model_id},
        "refit": packaged.refit,
        "devices": plan.to_dict(),
    }
    frame_out = board.to_frame()
    frame_out.insert(2, "packaged", frame_out["model_id"] == packaged.model_id)
    return Result(best=pipeline, leaderboard=frame_out, report=report, board=board, _manifest_extra=manifest_extra)


@dataclass
class _Inputs:
    """What every kind of input becomes before the search: views over the same rows, their labels, synthesizers."""

    views: dict[str, View]
    label: pd.Series
    target: str
    synths: dict[str, Synthesizer]
    fingerprint: str
    synthesis: dict[str, Any]


def _profiled_views(built: Sequence[BuiltView], label: pd.Series, target: str, task: str | TaskType | None) -> dict[str, View]:
    """Profile every synthesized feature set with the labels (drops constant and id-like columns, infers the task).

    Views built on one matrix (a relevance-filtered view and its base) share its profile and columns.
    """
    profiled: dict[int, tuple[DataProfile, pd.DataFrame]] = {}
    views = {}
    for bv in built:
        key = id(bv.frame)
        if key not in profiled:
            if target in bv.frame.columns:
                raise DataError(f"A synthesized feature is named like the target {target!r}; rename the target column.")
            prof = profile(bv.frame.assign(**{target: label.to_numpy()}), target, task)
            profiled[key] = (prof, bv.frame[prof.feature_columns])
        prof, X = profiled[key]
        views[bv.name] = View(X, prof, bv.select)
    return views


def _synthesis_report(built: Sequence[BuiltView], rss_before: float) -> dict[str, Any]:
    """Per recipe: columns and seconds (a filtered view shares its base matrix: 0 s); the process's peak memory."""
    recipes = []
    for bv in built:
        entry = bv.summary()
        if bv.select is not None:
            entry["selection"] = "tsfresh relevance filter, fitted per training fold"
        recipes.append(entry)
    peak = peak_rss_mb()
    return {"recipes": recipes, "peak_rss_mb": round(peak, 1), "rss_growth_mb": round(max(0.0, peak - rss_before), 1)}


def _relational_inputs(
    tables: Mapping[str, pd.DataFrame], target_table: str | None, target: str | None, relationships: Sequence[Any] | None,
    index: Mapping[str, str] | None, time_index: Mapping[str, str] | None, categorical: Mapping[str, Sequence[str]] | None,
    recipes: Sequence[str] | None, task: str | TaskType | None, budget: Budget, check: Callable[[TaskType], object],
) -> _Inputs:
    from features.relational import RelationalSpec

    if not isinstance(tables, Mapping) or not tables:
        raise ConfigError("tables must be a dict of table name -> DataFrame, e.g. {'molecule': molecules, 'atom': atoms}.")
    if target_table is None or target is None:
        raise ConfigError("Related tables need target_table= (the table with one row per example) and target= (its label column).")
    if not relationships:
        raise ConfigError("Related tables need relationships=[(parent_table, parent_key, child_table, child_key), ...].")
    spec = RelationalSpec.build(tables, target_table, target, relationships, index=index, time_index=time_index, categorical=categorical)
    label = tables[target_table][target].reset_index(drop=True)
    check(infer_task(label, task))  # a metric or criterion that cannot apply says so before synthesis spends the budget
    rss_before = peak_rss_mb()
    built = relational_views(tables, spec, recipes, budget)
    views = _profiled_views(built, label, target, task)
    digest = hashlib.sha256()
    for name in sorted(tables):
        digest.update(name.encode() + fingerprint(tables[name]).encode())
    return _Inputs(views, label, target, {bv.name: bv.synth for bv in built}, digest.hexdigest(), _synthesis_report(built, rss_before))


def _series_inputs(
    series: pd.DataFrame, labels: pd.DataFrame | None, target: str | None, spec: Any,
    recipes: Sequence[str] | None, task: str | TaskType | None, budget: Budget, check: Callable[[TaskType], object],
) -> _Inputs:
    from features.timeseries import align_labels

    if labels is None:
        raise ConfigError("Time series need labels=: a frame with one row per series id and its label.")
    if not isinstance(labels, pd.DataFrame):
        raise DataError(f"labels must be a DataFrame with columns {spec.column_id!r} and the label, got {type(labels).__name__}.")
    if target is None:
        others = [c for c in labels.columns if c != spec.column_id]
        if len(others) != 1:
            raise ConfigError(f"Name the label column with target=; the labels frame has columns {list(labels.columns)}.")
        target = str(others[0])
    aligned = align_labels(series, labels, spec, target)  # validates the series too
    ids = aligned[spec.column_id].tolist()
    label = aligned[target].reset_index(drop=True)
    kind = infer_task(label, task)
    check(kind)  # a metric or criterion that cannot apply says so before synthesis spends the budget
    classification = kind.is_classification  # the relevance filter tests classes or a trend
    rss_before = peak_rss_mb()
    built = series_views(series, spec, ids, recipes, budget, classification)
    views = _profiled_views(built, label, target, task)
    data_print = hashlib.sha256((fingerprint(series) + fingerprint(aligned)).encode()).hexdigest()
    return _Inputs(views, label, target, {bv.name: bv.synth for bv in built}, data_print, _synthesis_report(built, rss_before))


def _data_mb(data: SearchData) -> float:
    """Megabytes of the search's feature matrices (what each worker process holds a copy of)."""
    seen: dict[int, float] = {}
    for v in data.views.values():
        seen.setdefault(id(v.X), float(v.X.memory_usage(deep=False).sum()) / 1e6)
    return sum(seen.values())


def _sequential_reason(task: Task, data: SearchData, families: Sequence[Any], budget: Budget) -> str:
    """Why trials cannot go to worker processes (what they need does not pickle, or a test's clock), or ""."""
    if budget.clock is not time.monotonic:
        return "the budget runs on an injected clock, which other processes cannot share"
    # a worker process cannot import the caller's script: what is defined there stays here
    from_main = [m.name for m in task.metrics if getattr(m.fn, "__module__", "") == "__main__"]
    from_main += [b.name for b in families if type(b).__module__ == "__main__"]
    if from_main:
        return f"{', '.join(from_main)} is defined in the running script (__main__), which worker processes cannot import"
    try:
        pickle.dumps((task, families, [v.select for v in data.views.values()]))
    except Exception as exc:  # noqa: BLE001 - any pickling failure means: run here
        return f"the search's task or backends cannot be sent to another process ({type(exc).__name__}: {exc})"
    return ""


def _storage_kind(storage: str | None) -> str:
    if storage is None:
        return "memory"
    return storage.split(":", 1)[0] if "://" in storage else "journal"


def _feature_sets(members: Sequence[Member], inputs: _Inputs) -> dict[str, FeatureSet]:
    """The feature sets the members use, each synthesizing and checking only the columns its preprocessors read."""
    out = {}
    for name in dict.fromkeys(m.features for m in members):
        used = list(dict.fromkeys(c for m in members if m.features == name for c in m.preprocessor.input_columns))
        view = inputs.views[name]
        by_name = {e["name"]: e for e in input_schema(view.profile)}
        if name == TABLE_VIEW:
            out[name] = FeatureSet(schema=list(by_name.values()))
        else:
            out[name] = FeatureSet(schema=[by_name[c] for c in used], synth=inputs.synths[name].restrict(used))
    return out


def _trials_per_device(board: Leaderboard) -> dict[str, int]:
    """How many trials ran on each device (a CPU retry after a GPU out-of-memory counts as CPU)."""
    counts: dict[str, int] = {}
    for r in board.records():
        if not r.is_ensemble:
            counts[r.device] = counts.get(r.device, 0) + 1
    return counts


def _success(board: Leaderboard, packaged: Packaged, criteria: Sequence[Any]) -> dict[str, Any]:
    """The verdicts of the packaged model (on what it is judged by) and whether any candidate passed."""
    if not criteria:
        return {"declared": False, "any_passed": True, "best_passed": True, "verdicts": {}, "message": "no success criteria declared"}
    any_passed = board.any_passed()
    if packaged.passed:
        message = f"{packaged.model_id} passes every success criterion (judged on {packaged.judged_on()})"
    else:
        failed = [text for text, ok in packaged.verdicts.items() if not ok]
        lead = "NO candidate passes all success criteria" if not any_passed else "The packaged model does not pass all success criteria"
        message = f"{lead}; returning the best failing model {packaged.model_id} (it fails: {', '.join(failed)}; judged on {packaged.judged_on()})"
    return {
        "declared": True, "any_passed": any_passed, "best_passed": packaged.passed, "verdicts": packaged.verdicts, "message": message,
    }


def _warn(packaged: Packaged, success: dict[str, Any], criteria: Sequence[Any]) -> None:
    """Say it loudly, as a log line and a Python warning, when the package fails a criterion or is incomplete."""
    if criteria and not success["best_passed"]:
        logger.warning(success["message"])
        warnings.warn(success["message"], CriteriaNotMetWarning, stacklevel=3)
    if not packaged.complete:
        message = (
            f"Only an incomplete model could be packaged ({packaged.model_id}): {'; '.join(packaged.notes)}; "
            "rerun with a larger time_budget for a complete one."
        )
        logger.warning(message)
        warnings.warn(message, IncompleteModelWarning, stacklevel=3)


def check_budget(time_budget: Any) -> float:
    """The budget as positive, finite seconds, or ConfigError."""
    if not isinstance(time_budget, (int, float)) or isinstance(time_budget, bool) or not math.isfinite(time_budget) or time_budget <= 0:
        raise ConfigError(f"time_budget must be a positive, finite number of seconds, got {time_budget!r}.")
    return float(time_budget)


def check_seed(seed: Any) -> int:
    """The seed as an int in numpy's range [0, 2**32 - 1], or ConfigError."""
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or not 0 <= int(seed) <= MAX_SEED:
        raise ConfigError(f"seed must be an integer from 0 to {MAX_SEED}, got {seed!r}.")
    return int(seed)


__all__ = ["Result", "check_budget", "check_seed", "fingerprint", "fit", "load"]
