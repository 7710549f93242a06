"""Stack against no stack on the same search: one `automl.fit` per dataset (greedy ensemble and stack both compete,
as shipped); the same outcome is packaged again with the stack's row removed from the leaderboard (what the engine
packaged before stacking existed, given all the refit time it needs, which favours it). Both score on the test file.
Search noise cancels out of the pair.

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
from search.leaderboard import Leaderboard

alternatives = []
ranks: dict[str, object] = {}


class PairedFinalizer(Finalizer):
    def run(self):
        packaged = super().run()
        board = self.outcome.leaderboard
        ranked = [r for r in board.records() if r.ok]
        stack = next((r for r in ranked if r.backend == "stack"), None)
        ensemble = next((r for r in ranked if r.backend == "ensemble"), None)
        ranks.update(stack_rank=None if stack is None else ranked.index(stack) + 1,
                     stack_val=None if stack is None else stack.score_mean,
                     ensemble_val=None if ensemble is None else ensemble.score_mean, best_single=next(r.score_mean for r in ranked if not r.is_ensemble))
        if packaged.record.backend != "stack":
            alternatives.append(None)
            return packaged
        without = Leaderboard(board.metric, board.criteria_texts)
        for r in board.records():
            if r.backend != "stack":
                without.add(r)
        t = time.monotonic()
        alt = Finalizer(replace(self.outcome, leaderboard=without), self.plan, self.task, Budget(900)).run()
        ranks["alt_s"] = time.monotonic() - t
        alternatives.append(alt)
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
            alternatives.clear()
            ranks.clear()
            t = time.monotonic()
            result = automl.fit(train, ds.target, metric=ds.metric, time_budget=budget, seed=0)
            wall = time.monotonic() - t
            shipped = result.best
            alt = alternatives[0]
            pipes = [shipped] if alt is None else [shipped, replace(shipped, members=alt.members, model_id=alt.model_id, stacker=None)]
            scores = []
            for pipe in pipes:
                pred, proba = pipeline_predictions(pipe, job.test_X, job.classes)
                scores.append(test_score(ds.metric, job.classes, test[ds.target], pred, proba))
            row = [name, halves[name], ds.metric, shipped.model_id, result.report["package"]["basis"], "" if alt is None else alt.model_id,
                   scores[0], scores[-1], ranks.get("stack_rank"), ranks.get("stack_val"), ranks.get("ensemble_val"),
                   ranks.get("best_single"), round(wall, 1)]
            w.writerow(row)
            f.flush()
            print(*row, flush=True)


if __name__ == "__main__":
    main(sys.argv[1], float(sys.argv[2]), sys.argv[3], sys.argv[4])
