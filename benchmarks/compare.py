"""Compare `automl.fit` with default LightGBM on datasets of a suite, side by side.

    python -m benchmarks.compare --suite ../shared/datasets --datasets adult german_credit \
        --time-budget 60 --out benchmarks/results/compare.json

Both are trained on the dataset's train file and scored with the manifest's metric on its
test file; wall seconds include everything each one does.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path
from typing import Any

import lightgbm as lgb
import pandas as pd

import automl
from benchmarks.suite import Dataset, read_suite, test_score


def _as_categories(train: pd.DataFrame, test: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """String columns as pandas categories with the training levels (LightGBM's native path)."""
    train, test = train.copy(), test.copy()
    for col in train.columns:
        if train[col].dtype == object or str(train[col].dtype) == "category":
            train[col] = train[col].astype("category")
            test[col] = pd.Categorical(test[col], categories=train[col].cat.categories)
    return train, test


def run_lightgbm(ds: Dataset, train: pd.DataFrame, test: pd.DataFrame) -> dict[str, Any]:
    """Default LightGBM (the sklearn API defaults), native categoricals."""
    start = time.monotonic()
    X, X_test = _as_categories(train.drop(columns=ds.target), test.drop(columns=ds.target))
    y, y_test = train[ds.target], test[ds.target]
    if ds.task == "regression":
        model = lgb.LGBMRegressor(verbose=-1).fit(X, y)
        pred, proba, classes = model.predict(X_test), None, None
    else:
        model = lgb.LGBMClassifier(verbose=-1).fit(X, y)
        proba, classes = model.predict_proba(X_test), list(model.classes_)
        pred = model.predict(X_test)
    score = test_score(ds.metric, classes, y_test, pred, proba)
    return {"system": "lightgbm-default", "score": score, "wall_s": time.monotonic() - start, "trials": 1}


def run_automl(ds: Dataset, train: pd.DataFrame, test: pd.DataFrame, budget: float, seed: int) -> dict[str, Any]:
    """`automl.fit` with the manifest's metric and `budget` seconds, scored on the test file."""
    start = time.monotonic()
    result = automl.fit(train, ds.target, metric=ds.metric, time_budget=budget, seed=seed)
    wall = time.monotonic() - start
    best = result.best
    proba = best.predict_proba(test).to_numpy() if best.task.is_classification else None
    classes = list(best.classes) if best.classes is not None else None
    score = test_score(ds.metric, classes, test[ds.target], best.predict(test), proba)
    return {
        "system": "automl",
        "score": score,
        "wall_s": wall,
        "trials": result.report["budget"]["n_trials"],
        "trial_status": result.report["budget"]["trials"],
        "best": result.report["best"]["model_id"],
        "cv_score": result.report["best"]["score_mean"],
        "refit_on_all_rows": result.report["refit"]["on_all_rows"],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--suite", default="../shared/datasets")
    parser.add_argument("--datasets", nargs="+", default=["adult", "german_credit", "california_housing", "satimage"])
    parser.add_argument("--time-budget", type=float, default=60.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=None, help="Write the rows as JSON here.")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    suite = read_suite(args.suite)
    rows = []
    for name in args.datasets:
        ds = suite[name]
        train, test = ds.load()
        for row in (run_automl(ds, train, test, args.time_budget, args.seed), run_lightgbm(ds, train, test)):
            row |= {"dataset": name, "metric": ds.metric, "train_rows": len(train), "test_rows": len(test)}
            rows.append(row)
            line = f"{name:20s} {row['system']:17s} {ds.metric}={row['score']:.4f}  wall {row['wall_s']:6.1f}s  trials {row['trials']}"
            print(line, flush=True)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
