"""The greedy ensemble against the stack on the same search: one `automl.fit` per dataset (both compete, as
shipped); then each of the two is packaged from that same outcome (members refitted on all rows with all the time
they need) and scored on the test file, as is the best single model. The greedy selection's cross-fitted score
(weights chosen on other rows) is recorded beside its in-sample one. Search noise cancels out of the pair; the validation scores say whether
the selection rule picks the one that is better on test.

    PYTHONPATH=$PWD python benchmarks/results/2026-12-03-stacking/paired.py ../shared/datasets-more 60 OUT.csv D1,D2,...
"""

from __future__ import annotations

import csv
import sys
import time
from dataclasses import replace

import numpy as np

import automl
import automl.api as api
from automl.finalize import Finalizer
from backends.numeric import blend
from benchmarks.runners import make_job, pipeline_predictions
from benchmarks.suite import read_suite, test_score
from search.budget import Budget
from search.ensemble import combined_record, greedy_weights, rows_finite, selection_pool
from search.stacking import cross_folds

packages: dict[str, object] = {}
vals: dict[str, float] = {}


class PairedFinalizer(Finalizer):
    def run(self):
        packaged = super().run()
        ranked = [r for r in self.outcome.leaderboard.records() if r.ok]
        single = next(r for r in ranked if not r.is_ensemble and not r.partial)
        vals["best_single"] = single.score_mean
        packages["single"], _ = Finalizer(self.outcome, self.plan, self.task, Budget(900))._single(single)
        for combined in self.outcome.ensembles:
            kind = combined.record.backend
            vals[kind] = combined.record.score_mean
            vals[f"{kind}_rank"] = ranked.index(combined.record) + 1
            again = Finalizer(self.outcome, self.plan, self.task, Budget(900))
            packages[kind], _ = again._ensemble(combined.record)
            if kind == "ensemble":  # the greedy selection's own score on rows it did not choose its weights on
                vals["ensemble_cross"] = cross_fitted_score(self.outcome, self.data, self.task)
        return packaged


def cross_fitted_blend(oofs, y: np.ndarray, metric, classification: bool, seed: int) -> np.ndarray:
    """Each row's blend under greedy weights selected on the other cross folds (rows already restricted to scored ones):
    what the selection would score on rows it did not choose its weights on."""
    out = np.zeros_like(np.asarray(oofs[0], dtype=np.float64))
    for train, valid in cross_folds(y, classification, seed):
        weights = greedy_weights([o[train] for o in oofs], y[train], metric)
        out[valid] = blend([o[valid] for o in oofs], weights)
    return out


def cross_fitted_score(outcome, data, task) -> float:
    """The score of greedy selection over the controller's first pool, cross-fitted (weights chosen on other rows)."""
    ranked = [r for r in outcome.leaderboard.records() if r.ok and not r.partial and not r.is_ensemble and r.oof is not None]
    if any(r.passed for r in ranked):
        ranked = [r for r in ranked if r.passed]
    pool = selection_pool(ranked)
    scored = np.stack([rows_finite(r.oof) for r in pool]).all(axis=0)
    oof = np.full_like(pool[0].oof, np.nan, dtype=np.float64)
    oof[scored] = cross_fitted_blend([r.oof[scored] for r in pool], data.y[scored], task.metric, task.type.is_classification, task.seed)
    return combined_record([(r, 1.0) for r in pool], oof, data.y, data.splits, task, -1, "ensemble").score_mean


def main(suite: str, budget: float, out: str, names: str) -> None:
    api.Finalizer = PairedFinalizer
    datasets = read_suite(suite)
    with open(f"{suite}/MANIFEST.tsv") as fh:
        halves = {row["name"]: row.get("half", "") for row in csv.DictReader(fh, delimiter="\t")}
    with open(out, "a", newline="") as f:
        w = csv.writer(f)
        for name in names.split(","):
            ds = datasets[name]
            train, test = ds.load()
            job = make_job(train, test, ds.target, ds.task, ds.metric, budget, 0)
            packages.clear()
            vals.clear()
            t = time.monotonic()
            result = automl.fit(train, ds.target, metric=ds.metric, time_budget=budget, seed=0)
            wall = time.monotonic() - t
            shipped = result.best

            def test_of(pipe, job=job, ds=ds, test=test):
                pred, proba = pipeline_predictions(pipe, job.test_X, job.classes)
                return test_score(ds.metric, job.classes, test[ds.target], pred, proba)

            row = [name, halves[name], ds.metric, shipped.model_id, round(wall, 1), test_of(shipped)]
            for kind in ("ensemble", "stack", "single"):
                pkg = packages.get(kind)
                score = "" if pkg is None else test_of(replace(shipped, members=pkg.members, model_id=pkg.model_id, stacker=pkg.stacker))
                row += [score, vals.get(kind if kind != "single" else "best_single", ""), vals.get(f"{kind}_rank", "")]
            row.append(vals.get("ensemble_cross", ""))
            w.writerow(row)
            f.flush()
            print(*row, flush=True)


if __name__ == "__main__":
    main(sys.argv[1], float(sys.argv[2]), sys.argv[3], sys.argv[4])
