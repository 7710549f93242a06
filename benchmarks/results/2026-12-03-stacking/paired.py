"""The greedy ensemble against the stack on the same search: one `automl.fit` per dataset (both compete, as
shipped); then each of the two is packaged from that same outcome (members refitted on all rows with all the time
they need) and scored on the test file. Search noise cancels out of the pair; the validation scores say whether
the selection rule picks the one that is better on test.

    PYTHONPATH=$PWD python benchmarks/results/2026-12-03-stacking/paired.py ../shared/datasets-more 60 OUT.csv D1,D2,...
"""

from __future__ import annotations

import csv
import sys
import time
from dataclasses import replace

import automl
import automl.api as api
from automl.finalize import Finalizer
from benchmarks.runners import make_job, pipeline_predictions
from benchmarks.suite import read_suite, test_score
from search.budget import Budget

packages: dict[str, object] = {}
vals: dict[str, float] = {}


class PairedFinalizer(Finalizer):
    def run(self):
        packaged = super().run()
        ranked = [r for r in self.outcome.leaderboard.records() if r.ok]
        vals["best_single"] = next(r.score_mean for r in ranked if not r.is_ensemble)
        for combined in self.outcome.ensembles:
            kind = combined.record.backend
            vals[kind] = combined.record.score_mean
            vals[f"{kind}_rank"] = ranked.index(combined.record) + 1
            again = Finalizer(self.outcome, self.plan, self.task, Budget(900))
            packages[kind], _ = again._ensemble(combined.record)
        return packaged


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

            def test_of(pipe):
                pred, proba = pipeline_predictions(pipe, job.test_X, job.classes)
                return test_score(ds.metric, job.classes, test[ds.target], pred, proba)

            row = [name, halves[name], ds.metric, shipped.model_id, round(wall, 1), test_of(shipped)]
            for kind in ("ensemble", "stack"):
                pkg = packages.get(kind)
                score = "" if pkg is None else test_of(replace(shipped, members=pkg.members, model_id=pkg.model_id, stacker=pkg.stacker))
                row += [score, vals.get(kind, ""), vals.get(f"{kind}_rank", "")]
            row.append(vals.get("best_single", ""))
            w.writerow(row)
            f.flush()
            print(*row, flush=True)


if __name__ == "__main__":
    main(sys.argv[1], float(sys.argv[2]), sys.argv[3], sys.argv[4])
