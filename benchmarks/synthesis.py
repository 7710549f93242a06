"""Feature synthesis with and without: related tables (DFS) and time series (tsfresh) at one budget.

For each relational and time-series dataset of a suite, two fits at the same budget, each in
its own process (so peak memory is per run):

* ``synthesis``: the search chooses among every synthesis recipe the budget affords;
* ``without``: relational data trains on the target table's own columns only (recipe
  ``dfs-d0``), time series on their raw values as columns (``ts-raw``, what
  1-nearest-neighbour Euclidean sees).

Scores are on the official test split: accuracy for time series, ROC AUC (and accuracy) for
the binary relational target. Results go to ``synthesis.csv`` and a Markdown table.

    python -m benchmarks.synthesis ../shared/datasets --budget 120 --out bench-out/synthesis
"""

from __future__ import annotations

import argparse
import csv
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn import metrics as skm

from benchmarks.suite import in_fresh_process

MODES = ("synthesis", "without")
# published 1-nearest-neighbour accuracies on the official UCR splits (Euclidean, DTW)
REFERENCES = {"gunpoint": {"1nn_euclidean": 0.913, "1nn_dtw": 0.907}, "arrowhead": {"1nn_euclidean": 0.800, "1nn_dtw": 0.703}}
COLUMNS = [
    "dataset", "task", "mode", "budget_s", "seed", "accuracy", "roc_auc", "wall_s", "synthesis_s", "recipes",
    "n_features", "best_features", "best_model", "n_trials", "peak_rss_mb", "error",
]


def suite_rows(folder: Path, names: list[str] | None = None) -> list[dict[str, str]]:
    """Manifest rows of the relational and time-series datasets of `folder` (all, or `names`)."""
    with (folder / "MANIFEST.tsv").open() as fh:
        rows = [r for r in csv.DictReader(fh, delimiter="\t") if r["task"] in ("relational", "ts_classification")]
    return [r for r in rows if names is None or r["name"] in names]


def run_one(folder: str, row: dict[str, str], mode: str, budget: float, seed: int) -> dict[str, Any]:
    """One fit and its test scores (runs in a fresh process)."""
    import automl
    from features.synthesis import peak_rss_mb

    name, task = row["name"], row["task"]
    base = Path(folder) / name
    out: dict[str, Any] = {"dataset": name, "task": task, "mode": mode, "budget_s": budget, "seed": seed, "error": ""}
    t0 = time.monotonic()
    try:
        if task == "relational":
            from features.relational import read_schema

            schema = base / f"{name}.schema.json"
            tables, spec = read_schema(schema, "train")
            test_tables, _ = read_schema(schema, "test")
            truth = test_tables[spec.target_table][spec.target].to_numpy()
            result = automl.fit(
                tables=tables, **spec.fit_arguments(), feature_recipes=["dfs-d0"] if mode == "without" else None, time_budget=budget, seed=seed,
            )
            test_input: Any = test_tables
        else:
            series = pd.read_csv(base / f"{name}.train.series.csv.gz")
            labels = pd.read_csv(base / f"{name}.train.labels.csv.gz")
            test_series = pd.read_csv(base / f"{name}.test.series.csv.gz")
            test_labels = pd.read_csv(base / f"{name}.test.labels.csv.gz")
            kind = "channel" if "channel" in series.columns else None
            recipes = ["ts-raw"] if mode == "without" else None
            result = automl.fit(series=series, labels=labels, target=row["target"], column_kind=kind, feature_recipes=recipes,
                                time_budget=budget, seed=seed)
            test_input = test_series
        out["wall_s"] = round(time.monotonic() - t0, 2)
        pipeline = result.best
        proba = pipeline.predict_proba(test_input)
        if task == "ts_classification":
            truth = test_labels.set_index("id").loc[proba.index, row["target"]].to_numpy()
        predicted = np.asarray(pipeline.classes)[proba.to_numpy().argmax(axis=1)]
        out["accuracy"] = round(float(np.mean(predicted.astype(str) == truth.astype(str))), 4)
        if proba.shape[1] == 2:
            positive = row.get("positive_class") or str(pipeline.classes[1])
            column = next(c for c in proba.columns if str(c) == positive)
            out["roc_auc"] = round(float(skm.roc_auc_score(truth.astype(str) == positive, proba[column])), 4)
        report = result.report
        recipes_built = report["features"].get("recipes", [])
        out["synthesis_s"] = report["budget"].get("synthesis_s", 0.0)
        out["recipes"] = ";".join(f"{r['recipe']}:{r['n_features']}" for r in recipes_built)
        out["n_features"] = max((r["n_features"] for r in recipes_built), default=len(report["profile"]["feature_columns"]))
        out["best_features"] = report["best"].get("features", "table")
        out["best_model"] = report["best"]["model_id"]
        out["n_trials"] = report["budget"]["n_trials"]
    except Exception as exc:  # a failed run is a row, so the table shows it
        out["error"] = f"{type(exc).__name__}: {exc}"
        out["wall_s"] = round(time.monotonic() - t0, 2)
    out["peak_rss_mb"] = round(peak_rss_mb(), 1)
    return out


def markdown(rows: list[dict[str, Any]]) -> str:
    """The results as a Markdown table, with the 1-NN references where published."""
    lines = [
        "| dataset | mode | accuracy | ROC AUC | features (recipe:columns) | best feature set | synthesis s | wall s | peak RSS MB | 1-NN ED / DTW |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        ref = REFERENCES.get(r["dataset"], {})
        refs = f"{ref['1nn_euclidean']:.3f} / {ref['1nn_dtw']:.3f}" if ref else ""
        lines.append(
            f"| {r['dataset']} | {r['mode']} | {r.get('accuracy', '')} | {r.get('roc_auc', '')} | {r.get('recipes', '')} | "
            f"{r.get('best_features', '')} | {r.get('synthesis_s', '')} | {r.get('wall_s', '')} | {r.get('peak_rss_mb', '')} | {refs} |"
            + (f" error: {r['error']}" if r.get("error") else "")
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("suite", type=Path, help="dataset folder with MANIFEST.tsv, e.g. ../shared/datasets")
    parser.add_argument("--budget", type=float, default=120.0)
    parser.add_argument("--datasets", default=None, help="comma-separated names (default: every relational and time-series dataset)")
    parser.add_argument("--modes", default=",".join(MODES))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("bench-out/synthesis"))
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.datasets.split(",")] if args.datasets else None
    args.out.mkdir(parents=True, exist_ok=True)
    rows = []
    for row in suite_rows(args.suite, names):
        for mode in args.modes.split(","):
            result = in_fresh_process(run_one, str(args.suite), row, mode, args.budget, args.seed)
            rows.append(result)
            print(json.dumps(result), flush=True)
            pd.DataFrame(rows, columns=COLUMNS).to_csv(args.out / "synthesis.csv", index=False)
    (args.out / "synthesis.md").write_text(markdown(rows))
    print(markdown(rows))


if __name__ == "__main__":
    main()
