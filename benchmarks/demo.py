"""`make demo`: a real `automl fit` on a real dataset, then the test-set score of the package.

Uses adult from the shared datasets folder, or scikit-learn's bundled breast-cancer data
(written to a CSV, split 75/25) when that folder is absent.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import pandas as pd
from sklearn.datasets import load_breast_cancer
from sklearn.model_selection import train_test_split

from automl import load
from automl.cli import EXIT_CRITERIA_FAILED
from benchmarks.suite import read_suite, test_score


def _fallback(out: Path) -> tuple[Path, Path, str, str, list]:
    data = load_breast_cancer(as_frame=True).frame
    train, test = train_test_split(data, test_size=0.25, random_state=0, stratify=data["target"])
    out.mkdir(parents=True, exist_ok=True)
    train.to_csv(out / "breast_cancer.train.csv", index=False)
    test.to_csv(out / "breast_cancer.test.csv", index=False)
    return out / "breast_cancer.train.csv", out / "breast_cancer.test.csv", "target", "roc_auc", "breast_cancer"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--datasets", default="../shared/datasets")
    parser.add_argument("--dataset", default="adult")
    parser.add_argument("--out", default="demo-out")
    parser.add_argument("--time-budget", default="60")
    args = parser.parse_args(argv)
    out = Path(args.out)
    if (Path(args.datasets) / "MANIFEST.tsv").is_file():
        ds = read_suite(args.datasets)[args.dataset]
        train, test, target, metric, name = ds.train, ds.test, ds.target, ds.metric, ds.name
    else:
        print(f"{args.datasets} not found; using scikit-learn's breast-cancer data instead")
        train, test, target, metric, name = _fallback(out.with_name(f"{out.name}-data"))  # --out must hold only the run
    print(f"demo: automl fit on {name} ({train}), target {target!r}, metric {metric}, budget {args.time_budget}s")
    cmd = [sys.executable, "-m", "automl.cli", "fit", str(train), "--target", target, "--metric", metric,
           "--time-budget", args.time_budget, "--out", str(out), "--success", "predict_ms_p95 <= 50"]
    code = subprocess.call(cmd)
    if code not in (0, EXIT_CRITERIA_FAILED):  # a failed criterion still writes the package: show it
        return code
    pipeline = load(out / "model")
    test_frame = pd.read_csv(test, low_memory=False)
    proba = pipeline.predict_proba(test_frame).to_numpy() if pipeline.task.is_classification else None
    score = test_score(metric, pipeline.classes and list(pipeline.classes), test_frame[target], pipeline.predict(test_frame), proba)
    print(f"test-set {metric} of the package on {len(test_frame)} held-out rows: {score:.4f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
