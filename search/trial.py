"""One trial as a plain function: (task, data, backend, params, device, deadline) -> record and artifacts.

The same function runs in the search's own process (one worker) and in worker processes. What
it needs from the running search (the plan's fold count, where fold costs go, whether to keep
its fold model) comes through `TrialHooks`; the Optuna trial is only reported to (pruning) and
given the record and artifact references as user attributes before it is told COMPLETE.
"""

from __future__ import annotations

import gc
import math
import os
import socket
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import optuna

from backends.contracts import Backend, Deadline, Device, FitContext, device_name
from search.artifacts import MODEL, OOF, ArtifactError, Store
from search.evaluate import FittedCandidate, FoldCache, TrialPruned, evaluate
from search.leaderboard import TrialRecord
from search.task import SearchData, Task

RECORD_ATTR = "record"  # trial user attribute: the record, JSON-safe


def worker_id(pid: int | None = None) -> str:
    """host:pid of this process (or of worker `pid` on this host), as the leaderboard's `worker` column shows it."""
    return f"{socket.gethostname()}:{os.getpid() if pid is None else pid}"


@dataclass(frozen=True)
class LiveDeadline(Deadline):
    """A trial's deadline that also ends with the search, whose end the driver may move earlier meanwhile."""

    end: Callable[[], float] = lambda: math.inf

    def remaining(self) -> float:
        return max(0.0, min(self.at, self.end()) - self.clock())

    def earlier(self, seconds: float) -> Deadline:
        return Deadline(min(self.at, self.end(), self.clock() + seconds), self.clock)


@dataclass(frozen=True)
class TrialSpec:
    """Everything a process needs to run one trial besides the search's data: picklable, sent once per trial."""

    number: int
    trial_id: int
    backend: str
    params: dict[str, Any]
    features: str
    source: str
    device: Device
    gpu: int
    n_jobs: int
    deadline_at: float  # on the search's clock (time.monotonic in worker processes: shared by every process)
    first: bool  # the search's first fit: fold 0 may take the whole deadline (a complete model before anything)
    report: bool = True  # report fold losses to the pruner (not on a CPU retry after a GPU out-of-memory)
    keep_below: float = math.inf  # store the fold models when the trial's loss is below this (the best few's)


@dataclass
class TrialHooks:
    """What a trial asks of the search it runs in (defaults: a fixed plan, no plan sizing, a fixed deadline)."""

    n_folds: Callable[[], int] | None = None
    fold_done: Callable[[float], None] = lambda seconds: None
    clock: Callable[[], float] | None = None
    search_end: Callable[[], float] | None = None  # when the search ends now (it moves earlier as the refit reserve grows)
    local_gpu: int | None = None  # the GPU's ordinal in this process, where CUDA_VISIBLE_DEVICES renumbers it


def run_trial(
    spec: TrialSpec,
    trial: optuna.Trial,
    backend: Backend,
    context: FitContext,
    data: SearchData,
    task: Task,
    cache: FoldCache,
    store: Store,
    hooks: TrialHooks,
) -> tuple[TrialRecord, list[FittedCandidate]]:
    """Run `spec` on `data`, report to `trial`'s pruner, store its artifacts and set its record on `trial`.

    Returns the record (with its out-of-fold predictions in memory) and its fold models (fold 0 first).
    """
    clock = hooks.clock or time.monotonic
    record = TrialRecord(
        number=spec.number, backend=backend.name, device=device_name(spec.device, max(0, spec.gpu)), recipe=backend.recipe,
        params=dict(spec.params), features=spec.features, source=spec.source, worker=worker_id(), threads=spec.n_jobs,
    )
    gpu = max(0, spec.gpu) if hooks.local_gpu is None else hooks.local_gpu
    ctx = replace(context, device=spec.device, gpu=gpu, n_jobs=spec.n_jobs)
    deadline = Deadline(spec.deadline_at, clock) if hooks.search_end is None else LiveDeadline(spec.deadline_at, clock, hooks.search_end)
    planned = hooks.n_folds or (lambda: len(data.splits))
    losses: list[float] = []
    offset = 0 if data.screen is None else 1
    last = [clock()]

    def on_fold(fold: int, loss: float) -> None:
        if fold < 0:  # the screening fit on a row sample: step 0, not part of the score
            trial.report(loss, 0)
        else:
            hooks.fold_done(clock() - last[0])
            losses.append(loss)
            if spec.report:
                trial.report(sum(losses) / len(losses), fold + offset)
        last[0] = clock()
        if spec.report and fold < planned() - 1 and trial.should_prune():
            raise TrialPruned()

    record, fitted = evaluate(backend, spec.params, record, data, task, ctx, cache, deadline, on_fold, folds=planned,
                                 first_fold_all=spec.first)
    if record.status == "oom" and spec.device is Device.CUDA:
        free_gpu_memory()
    store_artifacts(trial, record, fitted, store, keep_model=task.metric.loss(record.score_mean) < spec.keep_below)
    return record, fitted


def free_gpu_memory() -> None:
    """After a GPU out-of-memory error: drop what the failed trial left and give torch's cached blocks back to
    the driver, so the next trial on that GPU (XGBoost has its own allocator) finds the memory free."""
    gc.collect()
    torch = sys.modules.get("torch")  # only when the MLP backend already imported it
    if torch is not None:
        try:
            torch.cuda.empty_cache()
        except Exception:  # noqa: BLE001 - best effort; the next trial reports its own error
            pass


def store_artifacts(trial: optuna.Trial, record: TrialRecord, fitted: list[FittedCandidate], store: Store, keep_model: bool) -> None:
    """Write the out-of-fold predictions (and the fold models when `keep_model`: it beats the best few so far), then the record.

    A failed write is the trial's failure: a trial whose artifacts are not stored must not count as finished.
    """
    try:
        if record.ok and record.oof is not None:
            record.artifacts[OOF] = store.put_oof(trial, record.oof)
        if record.ok and fitted and keep_model:
            record.artifacts[MODEL] = store.put_model(trial, fitted)
    except (OSError, ArtifactError) as exc:
        record.status, record.error = "failed", f"could not store its artifacts: {type(exc).__name__}: {exc}"
        record.artifacts.clear()
    trial.set_user_attr(RECORD_ATTR, record.to_dict())
