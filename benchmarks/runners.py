"""One framework on one dataset, in its own process: fit on train, predict test, score, write JSON.

    python -m benchmarks.runners --framework flaml --train T.csv.gz --test S.csv.gz \\
        --target income --task binary --metric roc_auc --budget 60 --seed 0 --out run.json

`automl bench run` starts one of these per run (cwd = repository root) and kills it at its
wall-clock limit. Only the standard library, numpy, pandas and scikit-learn are imported at
module level: this file also runs inside AutoGluon's own virtual environment, which lacks
this engine's dependencies. Each framework is imported inside its runner function.

Every framework is scored by `benchmarks.suite.test_score` against one class list, the
sorted unique training labels, with its probability columns aligned to that list.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from benchmarks.suite import test_score


@dataclass
class Job:
    """What a runner gets: the data (test without its target), the task and the budget."""

    train: pd.DataFrame
    test_X: pd.DataFrame
    target: str
    task: str
    metric: str
    budget: float
    seed: int
    classes: list | None  # sorted unique training labels (classification), else None
    kind: str = "table"  # what the dataset really is ("series", "relational"): train/test are its table view
    files: tuple[str, ...] = ()  # its own files (benchmarks.suite.Dataset.files), for this engine's native input

    @property
    def is_classification(self) -> bool:
        return self.task in ("binary", "multiclass")

    @property
    def X(self) -> pd.DataFrame:
        return self.train.drop(columns=self.target)

    @property
    def y(self) -> pd.Series:
        return self.train[self.target]


@dataclass
class Predictions:
    """A runner's test-set output: labels or values, probabilities in `Job.classes` order, extras."""

    pred: np.ndarray
    proba: np.ndarray | None = None
    info: dict[str, Any] = field(default_factory=dict)


def training_classes(y: pd.Series) -> list:
    """The class list every framework is scored against: sorted unique training labels."""
    return sorted(pd.unique(y.dropna()).tolist())


def align_proba(proba: Any, own_classes: list, classes: list) -> np.ndarray:
    """Reorder a framework's probability columns (in `own_classes` order) into `classes` order."""
    values = np.asarray(proba, dtype=np.float64)
    position = {c: i for i, c in enumerate(own_classes)}
    # Frameworks sometimes hand labels back as strings or numpy scalars: match on str() too
    by_text = {str(c): i for i, c in enumerate(own_classes)}
    out = np.zeros((values.shape[0], len(classes)))
    for j, c in enumerate(classes):
        i = position.get(c, by_text.get(str(c)))
        if i is not None:
            out[:, j] = values[:, i]
    return out


def _labels_from_proba(proba: np.ndarray, classes: list) -> np.ndarray:
    return np.asarray(classes, dtype=object)[proba.argmax(axis=1)]


# --- runners ----------------------------------------------------------------------------


def run_constant(job: Job) -> Predictions:
    """The floor: class priors from train (majority class as the label), or the train mean."""
    n = len(job.test_X)
    if not job.is_classification:
        return Predictions(np.full(n, float(job.y.mean())), info={"value": float(job.y.mean())})
    assert job.classes is not None
    priors = job.y.value_counts(normalize=True).reindex(job.classes, fill_value=0.0).to_numpy()
    proba = np.tile(priors, (n, 1))
    return Predictions(_labels_from_proba(proba, job.classes), proba)


def as_categories(train: pd.DataFrame, test: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """String columns as pandas categories with the training levels (LightGBM's native path)."""
    train, test = train.copy(), test.copy()
    for col in train.columns:
        if train[col].dtype == object or str(train[col].dtype) == "category":
            train[col] = train[col].astype("category")
            test[col] = pd.Categorical(test[col], categories=train[col].cat.categories)
    return train, test


def run_lightgbm_default(job: Job) -> Predictions:
    """LightGBM with the sklearn API defaults and native categoricals; no tuning, no budget."""
    import lightgbm as lgb

    X, X_test = as_categories(job.X, job.test_X)
    if not job.is_classification:
        model = lgb.LGBMRegressor(verbose=-1).fit(X, job.y)
        return Predictions(model.predict(X_test))
    model = lgb.LGBMClassifier(verbose=-1).fit(X, job.y)
    assert job.classes is not None
    proba = align_proba(model.predict_proba(X_test), list(model.classes_), job.classes)
    return Predictions(model.predict(X_test), proba)


def pipeline_predictions(pipeline: Any, X: pd.DataFrame, classes: list | None) -> tuple[np.ndarray, np.ndarray | None]:
    """This engine's predictions on `X` and, when `classes` is given (classification), probabilities in that order."""
    pred = np.asarray(pipeline.predict(X))
    if classes is None:
        return pred, None
    return pred, align_proba(pipeline.predict_proba(X).to_numpy(), list(pipeline.classes or []), classes)


def run_automl(job: Job) -> Predictions:
    """This engine: `automl.fit` with the manifest's metric, the budget and the seed, on the dataset's own input
    (the long-format series, or every related table with their schema, with the manifest's task: integer class
    labels would otherwise read as a regression target), predicting the table view's test rows."""
    import automl

    logging.basicConfig(level=logging.WARNING)
    start = time.monotonic()
    if job.kind == "series":
        series, labels, test_input, test_labels = (pd.read_csv(f, low_memory=False) for f in job.files)
        kind = "channel" if "channel" in series.columns else None
        result = automl.fit(series=series, labels=labels, target=job.target, column_kind=kind, task=job.task,
                            metric=job.metric, time_budget=job.budget, seed=job.seed)
    elif job.kind == "relational":
        from features.relational import read_schema

        tables, spec = read_schema(job.files[0], "train")
        test_input, _ = read_schema(job.files[0], "test")
        result = automl.fit(tables=tables, **spec.fit_arguments(), task=job.task, metric=job.metric, time_budget=job.budget,
                            seed=job.seed)
    else:
        result = automl.fit(job.train, job.target, metric=job.metric, time_budget=job.budget, seed=job.seed)
        test_input = job.test_X
    fit_s = time.monotonic() - start
    best = result.best
    report = result.report
    info = {
        "n_trials": report["budget"]["n_trials"],
        "best": report["best"]["model_id"],
        "members": list(dict.fromkeys(m.model_id for m in best.members)),  # a bag's k fold models share one id
        "cv_score": report["best"]["score_mean"],
        "validation": report["validation"],
        "refit_on_all_rows": report["refit"]["on_all_rows"],
        "basis": report["package"]["basis"],
        "fit_s": round(fit_s, 2),
    }
    assert not job.is_classification or job.classes is not None
    if job.kind == "series":  # one prediction per series id, in order of first appearance: put them in the view's order
        proba_frame = best.predict_proba(test_input).reindex(test_labels["id"])
        proba = align_proba(proba_frame.to_numpy(), list(best.classes or []), job.classes or [])
        return Predictions(_labels_from_proba(proba, job.classes or []), proba, info)
    pred, proba = pipeline_predictions(best, test_input, job.classes if job.is_classification else None)
    return Predictions(pred, proba, info)


def run_1nn_euclidean(job: Job) -> Predictions:
    """The time-series floor: 1-nearest-neighbour on the raw values (Euclidean), missing steps as 0."""
    from sklearn.neighbors import KNeighborsClassifier

    assert job.classes is not None
    model = KNeighborsClassifier(n_neighbors=1).fit(job.X.fillna(0.0).to_numpy(), job.y)
    test = job.test_X.fillna(0.0).to_numpy()
    return Predictions(model.predict(test), align_proba(model.predict_proba(test), list(model.classes_), job.classes))


FLAML_METRICS = {"roc_auc": "roc_auc", "log_loss": "log_loss", "rmse": "rmse", "accuracy": "accuracy"}


def run_flaml(job: Job) -> Predictions:
    """FLAML's AutoML with the same budget and seed, all cores, the metric mapped to FLAML's name."""
    from flaml import AutoML

    metric = FLAML_METRICS[job.metric]
    if metric == "roc_auc" and job.task == "multiclass":
        metric = "roc_auc_ovr"
    model = AutoML()
    model.fit(job.X, job.y, task=job.task, metric=metric, time_budget=job.budget, seed=job.seed, verbose=0, n_jobs=-1)
    per_learner = getattr(model, "_iter_per_learner", None) or {}  # private, but the only trial count FLAML keeps
    info = {"best": model.best_estimator, "n_trials": int(sum(per_learner.values())) or None}
    if not job.is_classification:
        return Predictions(np.asarray(model.predict(job.test_X)), info=info)
    assert job.classes is not None
    proba = align_proba(model.predict_proba(job.test_X), list(model.classes_), job.classes)
    return Predictions(np.asarray(model.predict(job.test_X)), proba, info)


AUTOGLUON_METRICS = {"roc_auc": "roc_auc", "log_loss": "log_loss", "rmse": "root_mean_squared_error", "accuracy": "accuracy"}


def _run_autogluon(job: Job, presets: str) -> Predictions:
    from autogluon.tabular import TabularPredictor

    metric = AUTOGLUON_METRICS[job.metric]
    if metric == "roc_auc" and job.task == "multiclass":
        metric = "roc_auc_ovr"
    with tempfile.TemporaryDirectory(prefix="autogluon-") as path:
        predictor = TabularPredictor(label=job.target, problem_type=job.task, eval_metric=metric, path=os.path.join(path, "ag"), verbosity=1)
        predictor.fit(job.train, time_limit=job.budget, presets=presets)
        # AutoGluon keeps its own model seeds (0 by default); the run's seed is not passed on
        info = {"best": predictor.model_best, "n_models": len(predictor.model_names()), "presets": presets, "seed_applied": False}
        pred = np.asarray(predictor.predict(job.test_X))
        if not job.is_classification:
            return Predictions(pred, info=info)
        assert job.classes is not None
        frame = predictor.predict_proba(job.test_X, as_multiclass=True)
        return Predictions(pred, align_proba(frame.to_numpy(), list(frame.columns), job.classes), info)


def run_autogluon_medium(job: Job) -> Predictions:
    """AutoGluon-Tabular, presets medium_quality, time_limit = budget."""
    return _run_autogluon(job, "medium_quality")


def run_autogluon_best(job: Job) -> Predictions:
    """AutoGluon-Tabular, presets best_quality, time_limit = budget."""
    return _run_autogluon(job, "best_quality")


def run_sleep(job: Job) -> Predictions:
    """Test hook for the hard kill: starts a child process (printing its pid), sleeps for the budget, then acts as constant."""
    import subprocess

    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    print(f"child pid {child.pid}", flush=True)
    time.sleep(job.budget)
    child.kill()
    return run_constant(job)


RUNNERS: dict[str, Callable[[Job], Predictions]] = {
    "automl": run_automl,
    "flaml": run_flaml,
    "autogluon-medium": run_autogluon_medium,
    "autogluon-best": run_autogluon_best,
    "lightgbm-default": run_lightgbm_default,
    "1nn-euclidean": run_1nn_euclidean,
    "constant": run_constant,
    "_sleep": run_sleep,
}


def make_job(train: pd.DataFrame, test: pd.DataFrame, target: str, task: str, metric: str, budget: float, seed: int,
             kind: str = "table", files: tuple[str, ...] = ()) -> Job:
    classes = training_classes(train[target]) if task in ("binary", "multiclass") else None
    return Job(train, test.drop(columns=target), target, task, metric, budget, seed, classes, kind, tuple(files))


def score(job: Job, out: Predictions, y_test: pd.Series) -> float:
    """The manifest metric on the test labels, with the shared class list."""
    return test_score(job.metric, job.classes, y_test, out.pred, out.proba)


def run(framework: str, train: pd.DataFrame, test: pd.DataFrame, target: str, task: str, metric: str,
        budget: float, seed: int, kind: str = "table", files: tuple[str, ...] = ()) -> dict[str, Any]:
    """Run one framework in this process; `wall_s` covers its fit and predict only."""
    job = make_job(train, test, target, task, metric, budget, seed, kind, files)
    start = time.monotonic()
    out = RUNNERS[framework](job)
    wall = time.monotonic() - start
    return {"test_score": score(job, out, test[target]), "wall_s": wall, "info": out.info}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--framework", required=True, choices=sorted(RUNNERS))
    parser.add_argument("--train", required=True)
    parser.add_argument("--test", required=True)
    parser.add_argument("--target", required=True)
    parser.add_argument("--task", required=True, choices=["binary", "multiclass", "regression"])
    parser.add_argument("--metric", required=True, choices=sorted(FLAML_METRICS))
    parser.add_argument("--budget", type=float, required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--kind", default="table", choices=["table", "series", "relational"],
                        help="what the dataset is; --train/--test are then its table view")
    parser.add_argument("--files", default="", help="the dataset's own files, ';'-separated (series and relational)")
    parser.add_argument("--out", required=True, help="Write the result as JSON here.")
    args = parser.parse_args(argv)
    result: dict[str, Any] = {"framework": args.framework, "pid": os.getpid(), "python": sys.executable}
    start = time.monotonic()
    try:
        train = pd.read_csv(args.train, low_memory=False)
        test = pd.read_csv(args.test, low_memory=False)
        start = time.monotonic()
        files = tuple(f for f in args.files.split(";") if f)
        result |= run(args.framework, train, test, args.target, args.task, args.metric, args.budget, args.seed, args.kind, files)
        result["status"] = "ok"
        code = 0
    except BaseException as exc:  # noqa: B036 - a KeyboardInterrupt is a failed run too, recorded
        traceback.print_exc()
        text = f"{type(exc).__name__}: {exc}".strip().splitlines() or [type(exc).__name__]
        result |= {"status": "failed", "error": text[0][:500], "wall_s": time.monotonic() - start}
        code = 1
    with open(args.out, "w") as fh:
        json.dump(result, fh, default=str)
    return code


if __name__ == "__main__":
    raise SystemExit(main())
