"""A worker process: `main` with ``--fd N --bundle FILE --control FILE --lane DEVICE:GPU:THREADS:INDEX``.

Forked by `search.forkserver` for `search.workers.WorkerPool`, one per lane. It loads the search's bundle once, joins the
study, says "ready", then runs each trial spec it receives with `search.trial.run_trial` and
answers with the trial's record; it leaves when told to (None), or when its socket closes (the
driver is gone).
"""

from __future__ import annotations

import argparse
import logging
import math
import pickle
from multiprocessing.connection import Connection

import optuna

from search.artifacts import FileStore
from search.evaluate import FoldCache
from search.study import join_study
from search.trial import TrialHooks, TrialSpec, run_trial, worker_id
from search.workers import N_FOLDS, SEARCH_END, Control

logger = logging.getLogger("search.worker")


def serve(conn: Connection, bundle: dict, control: Control) -> None:
    """Run trials until told to stop."""
    data, task = bundle["data"], bundle["task"]
    backends, contexts = bundle["backends"], bundle["contexts"]
    study = join_study(bundle["storage"], bundle["study_name"], len(data.splits), data.screen is not None)
    store = FileStore(bundle["artifacts"])
    cache = FoldCache(data)

    def n_folds() -> int:
        planned = int(control.get(N_FOLDS))
        return min(planned, len(data.splits)) if planned > 0 else len(data.splits)

    conn.send(("ready", worker_id()))
    while True:
        try:
            spec: TrialSpec | None = conn.recv()
        except EOFError:
            return
        if spec is None:
            return
        trial = optuna.Trial(study, spec.trial_id)
        hooks = TrialHooks(
            n_folds=n_folds,
            fold_done=lambda seconds: conn.send(("fold", seconds)),
            search_end=lambda: control.get(SEARCH_END) or math.inf,
            local_gpu=0,  # CUDA_VISIBLE_DEVICES shows this worker its one GPU as ordinal 0
        )
        record, _ = run_trial(spec, trial, backends[spec.backend], contexts[spec.backend], data, task, cache, store, hooks)
        conn.send(("result", spec.number, record.to_dict()))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="search.worker")
    parser.add_argument("--fd", type=int, required=True)
    parser.add_argument("--bundle", required=True)
    parser.add_argument("--control", required=True)
    parser.add_argument("--lane", required=True)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format=f"worker {worker_id()} %(levelname)s %(name)s: %(message)s")
    conn = Connection(args.fd)
    try:
        with open(args.bundle, "rb") as f:
            bundle = pickle.load(f)
        logging.getLogger().setLevel(bundle.get("log_level", logging.WARNING))
        control = Control(args.control)
    except Exception as exc:  # the driver falls back to running trials itself, with this reason
        conn.send(("error", f"{type(exc).__name__}: {exc}"))
        return 1
    serve(conn, bundle, control)
    return 0
