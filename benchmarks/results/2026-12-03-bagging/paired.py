"""Bag against refit on the same search: one `automl.fit` per dataset packages the bag as usual, and the same
outcome is packaged again with bagging off (every winner or ensemble member refitted on all rows, with all the
time it needs, which favours the refit); both score on the test file. Search noise cancels out of the pair.

    PYTHONPATH=$PWD python benchmarks/results/2026-12-03-bagging/paired.py ../shared/datasets-more 60 OUT.csv D1,D2,...
"""

from __future__ import annotations

import csv
import sys
from dataclasses import replace

import automl
import automl.api as api
from automl.finalize import Finalizer
from benchmarks.runners import make_job, pipeline_predictions
from benchmarks.suite import read_suite, test_score
from search.budget import Budget

refits = []


class PairedFinalizer(Finalizer):
    def run(self):
        packaged = super().run()
        plan = self.plan
        plan.bags = lambda: False  # this instance only: the second packaging refits
        refits.append(Finalizer(self.outcome, plan, self.task, Budget(900)).run())
        return packaged


def main(suite: str, budget: float, out: str, names: str) -> None:
    api.Finalizer = PairedFinalizer
    datasets = read_suite(suite)
    with open(out, "a", newline="") as f:
        w = csv.writer(f)
        for name in names.split(","):
            ds = datasets[name]
            train, test = ds.load()
            job = make_job(train, test, ds.target, ds.task, ds.metric, budget, 0)
            refits.clear()
            result = automl.fit(train, ds.target, metric=ds.metric, time_budget=budget, seed=0)
            bag = result.best
            alt = refits[0]
            refit = replace(bag, members=alt.members, model_id=alt.model_id)
            scores = []
            for pipe in (bag, refit):
                pred, proba = pipeline_predictions(pipe, job.test_X, job.classes)
                scores.append(test_score(ds.metric, job.classes, test[ds.target], pred, proba))
            row = [name, ds.metric, result.report["package"]["basis"], alt.basis, bag.model_id, alt.model_id, *scores]
            w.writerow(row)
            f.flush()
            print(*row, flush=True)


if __name__ == "__main__":
    main(sys.argv[1], float(sys.argv[2]), sys.argv[3], sys.argv[4])
