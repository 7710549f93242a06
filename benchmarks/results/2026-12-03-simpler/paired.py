"""The simpler-feature-set preference against plain rank order, on the same search: one `automl.fit` per dataset
(series and related tables: the searches with several feature sets), packaged as shipped (the preference on);
the candidate that ranks first by score alone is packaged from the same outcome too, and both are scored on
the test file. Search noise cancels out of the pair.

    PYTHONPATH=$PWD python benchmarks/results/2026-12-03-simpler/paired.py SUITE BUDGET OUT.csv D1,D2,...
"""

from __future__ import annotations

import csv
import sys
import time
from dataclasses import replace

import automl
import automl.api as api
import benchmarks.runners as runners
from automl.finalize import Finalizer
from benchmarks.suite import read_collection
from search.budget import Budget

alternative: dict[str, object] = {}


class PairedFinalizer(Finalizer):
    def run(self):
        packaged = super().run()
        board = self.outcome.leaderboard
        ok = [r for r in board.records() if r.ok]
        plain = sorted(ok, key=board._key)[0]
        alternative.update(shipped=ok[0], plain=plain, widths=dict(board.view_columns))
        if plain is not ok[0]:
            again = Finalizer(self.outcome, self.plan, self.task, Budget(900))
            alternative["package"], _ = again._ensemble(plain) if plain.is_ensemble else again._single(plain)
        return packaged


def main(suite: str, budget: float, out: str, names: str) -> None:
    api.Finalizer = PairedFinalizer
    datasets, _ = read_collection(suite)
    with open(f"{suite}/MANIFEST.tsv") as fh:
        halves = {row["name"]: row.get("half", "") for row in csv.DictReader(fh, delimiter="\t")}
    real_fit = automl.fit
    with open(out, "a", newline="") as f:
        w = csv.writer(f)
        for name in names.split(","):
            ds = datasets[name]
            train, test = ds.load()
            job = runners.make_job(train, test, ds.target, ds.task, ds.metric, budget, 0, ds.kind, tuple(map(str, ds.files)))
            alternative.clear()
            captured = {}

            def fit_once(*args, captured=captured, **kwargs):
                captured["result"] = real_fit(*args, **kwargs)
                return captured["result"]

            automl.fit = fit_once
            t = time.monotonic()
            shipped = runners.score(job, runners.run_automl(job), test[ds.target])
            wall = time.monotonic() - t
            s, p = alternative["shipped"], alternative["plain"]
            plain_score = shipped
            if "package" in alternative:  # predict with the plain pick through the same path, fitting nothing again
                pkg = alternative["package"]
                result = captured["result"]
                swapped = replace(result, best=replace(result.best, members=pkg.members, model_id=pkg.model_id, stacker=pkg.stacker))
                automl.fit = lambda *a, swapped=swapped, **k: swapped
                plain_score = runners.score(job, runners.run_automl(job), test[ds.target])
            automl.fit = real_fit
            row = [name, halves.get(name, ""), ds.metric, s.model_id, s.features, s.score_mean, shipped,
                   p.model_id, p.features, p.score_mean, plain_score, round(wall, 1), alternative["widths"]]
            w.writerow(row)
            f.flush()
            print(*row, flush=True)


if __name__ == "__main__":
    main(sys.argv[1], float(sys.argv[2]), sys.argv[3], sys.argv[4])
