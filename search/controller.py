"""The search controller: an Optuna study over backend x parameters under a hard budget.

Portfolio configurations are enqueued first (cheapest families first, round-robin), then
TPE (multivariate, grouped for the conditional space) takes over. The controller is the driver:
it samples each trial (ask), runs it in its own process or sends it to a worker process
(`search.workers`), and tells the study the outcome once the trial's artifacts are stored. Each
trial is scored on the shared folds; successive halving over folds stops weak searched candidates
early. When the search ends, greedy ensemble selection and a stacking layer over the out-of-fold
predictions (read back from the artifact store for trials finished elsewhere or earlier) add an
ensemble row and a stack row that compete like any candidate. With a storage the study is resumable: finished trials are kept and
never re-run, and a trial whose process was killed is recorded failed and retried once.
"""

from __future__ import annotations

import logging
import math
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import optuna
from optuna.trial import TrialState

from backends.contracts import Backend, Deadline, Device, FitContext, device_name
from backends.device import DevicePlan, Placement
from backends.errors import ConfigError
from features.preprocess import Preprocessor
from search.artifacts import MODEL, OOF, ArtifactError, FileStore, MemoryStore, Store
from search.budget import Budget
from search.ensemble import MAX_POOL, Ensemble, build_ensemble, selection_pool
from search.evaluate import FittedCandidate, FoldCache
from search.finalize import RefitPlan
from search.forkserver import ServerGone, fork_server
from search.leaderboard import Leaderboard, TrialRecord
from search.portfolio import warm_start_order, with_views
from search.space import BACKEND_PARAM, FEATURES_PARAM, fixed_params, suggest
from search.stacking import build_stack
from search.study import open_study, quiet_optuna
from search.task import SearchData, Task
from search.trial import RECORD_ATTR, TrialHooks, TrialSpec, run_trial, worker_id
from search.workers import N_FOLDS, SEARCH_END, STARTUP_S, Control, Lane, WorkerPlan, WorkerPool, describe_exit, plan_workers, write_bundle

logger = logging.getLogger(__name__)

TrialCallback = Callable[[TrialRecord, Leaderboard], None]
MIN_TRIAL_S = 1.0  # do not start a trial with less than this left
MIN_FIRST_FIT_S = 0.2  # ... except the first, which may try with this little: any model beats none
FOLD_MODELS_KEPT = MAX_POOL  # fold models of this many best (the ensemble's pool) and of each family's best are stored: bags, the refit fallback
PLAN_TRIALS = 3  # the validation plan must afford this many trials at the cost of the search's first folds
PLAN_SAMPLES = 2  # first folds the plan is sized from (the cheaper counts: a first fit also pays one-time warm-ups)
PLAN_ATTR = "n_folds"  # study attribute: the folds the plan kept, so a resumed search scores on the same ones
RETRY_ATTR = "retry_of"  # trial user attribute: the trial number a retried trial repeats
POLL_S = 0.05  # how often the driver looks at its workers while trials run
STRAGGLER_GRACE_S = 3.0  # a worker still in a trial this long after the search deadline is killed
WARM_UP_ROWS = 200  # rows of the driver's warm-up fit per family while the worker processes start
WARM_UP_S = 2.0  # the longest a warm-up fit may take


@dataclass
class SearchOutcome:
    """What a search hands on: the leaderboard, the study, the artifact store, the ensemble and the stack."""

    leaderboard: Leaderboard
    study: optuna.Study
    store: Store
    backends: dict[str, Backend]
    ensembles: list[Ensemble] = field(default_factory=list)
    _models: dict[int, list[FittedCandidate]] = field(default_factory=dict, repr=False)

    def fold_models(self, number: int) -> list[FittedCandidate]:
        """The stored fold models of trial `number` (fold 0 first; the best few have them); [] if none or unreadable."""
        if number not in self._models:
            record = next((r for r in self.leaderboard.records() if r.number == number), None)
            ref = record.artifacts.get(MODEL) if record is not None else None
            models: list[FittedCandidate] = []
            if ref is not None:
                try:
                    models = self.store.model(ref, self.backends)
                except (ArtifactError, KeyError, OSError, ValueError) as exc:
                    logger.warning("the fold models of %s are left out: %s", record.model_id, exc)
            self._models[number] = models
        return self._models[number]

    def combined(self, number: int) -> Ensemble:
        """The ensemble or stack whose leaderboard row is trial `number`."""
        return next(e for e in self.ensembles if e.record.number == number)

    def fold_model(self, number: int) -> FittedCandidate | None:
        """The stored fold-0 model of trial `number`, the refit fallback; None if none."""
        models = self.fold_models(number)
        return models[0] if models else None


@dataclass
class Drawn:
    """A sampled trial not yet run: what it trains, and (a CPU retry after a GPU out-of-memory) its spec."""

    trial: optuna.Trial
    backend: str
    params: dict[str, Any]
    features: str
    source: str
    spec: TrialSpec | None = None


class Controller:
    """Runs the search for one `Task` over `data` with the given backends, within `budget`.

    `plan` places each backend on CPU or CUDA (default: all on CPU). `workers` (see
    `search.workers.plan_workers`) says where trials run: one at a time in this process, or
    side by side in worker processes (one per GPU lane, CPU workers on the free cores), all
    feeding one study. A trial that runs out of GPU memory is retried on CPU when `oom_retry_cpu`.
    `workdir` holds the study's journal (worker processes without a `storage`), the artifacts
    and the workers' data bundle; without it a temporary folder serves and is removed.
    """

    def __init__(
        self,
        task: Task,
        data: SearchData,
        backends: Sequence[Backend],
        budget: Budget,
        *,
        plan: DevicePlan | None = None,
        per_gpu: int = 1,
        oom_retry_cpu: bool = True,
        n_trials: int | None = None,
        storage: str | None = None,
        study_name: str = "automl",
        callbacks: Sequence[TrialCallback] = (),
        workers: WorkerPlan | None = None,
        workdir: str | Path | None = None,
    ) -> None:
        if not backends:
            raise ValueError("Controller needs at least one backend")
        self.task, self.budget = task, budget
        self.backends = {b.name: b for b in backends}
        self.plan = plan if plan is not None else DevicePlan.all_cpu(list(self.backends))
        self.ctx = data.context(task, Device.CPU)
        # each backend's space and portfolio are sized for the device it runs on
        self.contexts: dict[str, FitContext] = {name: self._placed(self.ctx, self.plan.placement(name)) for name in self.backends}
        self.worker_plan = workers or plan_workers(1, self.plan, per_gpu=per_gpu, cores=self.ctx.n_jobs)
        if self.worker_plan.processes and budget.clock is not time.monotonic:
            raise ValueError("worker processes share the search deadline on time.monotonic; an injected clock needs workers=1")
        self.oom_retry_cpu = oom_retry_cpu
        self.n_trials = n_trials
        self.callbacks = list(callbacks)
        self.cache = FoldCache(data)
        view_columns = {name: len(v.profile.feature_columns) for name, v in data.views.items()}
        self.board = Leaderboard(task.metric, [c.text for c in task.criteria], view_columns, data.folds_per_repeat)
        durable = storage is not None or self.worker_plan.processes  # else nothing outlives this process: no folder
        self._tmp = tempfile.TemporaryDirectory(prefix="automl-search-") if durable and workdir is None else None
        self.workdir = Path(workdir if workdir is not None else self._tmp.name if self._tmp is not None else ".")
        if durable:
            self.workdir.mkdir(parents=True, exist_ok=True)
        if storage is None and self.worker_plan.processes:
            storage = str(self.workdir / "study.journal")  # worker processes share the study through a journal file
        self.storage = storage
        self.store: Store = FileStore(self.workdir / "artifacts") if durable else MemoryStore()
        parallel = len(self.worker_plan.lanes) > 1
        self.study = open_study(storage, study_name, task.seed, len(data.splits), screen=data.screen is not None, parallel=parallel)
        self._check_signature(data)
        self.refit_plan = RefitPlan(budget, self.backends, self.contexts, self.ctx.n_jobs, data, self.cache)
        self.plan_note = ""
        self.worker_note = ""
        stored = self.study.user_attrs.get(PLAN_ATTR)
        self._plan_sized = stored is not None
        self._fold_costs: list[float] = []
        self.data = data.first_folds(int(stored)) if stored is not None and int(stored) < len(data.splits) else data
        self._asked: dict[int, optuna.Trial] = {}
        self._pools: list[WorkerPool] = []
        self._retried: set[int] = set()

    @property
    def data(self) -> SearchData:
        return self._data

    @data.setter
    def data(self, value: SearchData) -> None:
        self._data = value
        if hasattr(self, "refit_plan"):
            self.refit_plan.data = value

    @staticmethod
    def _placed(ctx: FitContext, placement: Placement) -> FitContext:
        return replace(ctx, device=placement.device, gpu=placement.gpus[0] if placement.gpus else 0)

    def close(self) -> None:
        """Wait for the worker processes to exit and remove the temporary work folder (when none was given);
        the outcome's store must not be read after."""
        for pool in self._pools:
            pool.reap()
        if self._tmp is not None:
            self._tmp.cleanup()

    def _signature(self, data: SearchData) -> dict[str, object]:
        return {
            "task": self.task.type.value,
            "metric": self.task.metric.name,
            "backends": sorted(self.backends),
            "n_rows": len(data.y),
            "splits": len(data.splits),
            "columns": {name: list(v.profile.feature_columns) for name, v in data.views.items()},
            "seed": self.task.seed,
        }

    def _check_signature(self, data: SearchData) -> None:
        """A resumed study must be the same search: same task, metric, backends, data shape and seed."""
        mine = self._signature(data)
        stored = self.study.user_attrs.get("signature")
        if stored is None:
            self.study.set_user_attr("signature", mine)
        elif stored != mine:
            differs = ", ".join(k for k in mine if stored.get(k) != mine[k])
            raise ConfigError(
                f"Study {self.study.study_name!r} in this storage belongs to a different search ({differs} differ); "
                "use another study name, storage or output folder."
            )

    # -- budget -----------------------------------------------------------------
    def search_remaining(self) -> float:
        return self.budget.search_deadline(self.refit_plan.reserve(self.board.records())).remaining()

    def have_model(self) -> bool:
        return any(r.ok for r in self.board.records())

    def _search_deadline(self) -> Deadline:
        """When trials must end. Until some model exists no refit is reserved: the first fit may run until
        packaging (its fold model is then what gets packaged), so a small budget still returns a model."""
        if not self.have_model():
            return self.budget.first_fit_deadline()
        return self.budget.search_deadline(self.refit_plan.reserve(self.board.records()))

    def n_folds(self) -> int:
        """Splits the validation plan uses now (a prefix of the shared ones)."""
        return len(self.data.splits)

    def _observe_fold(self, fold_s: float) -> None:
        """Collect the search's first fold costs and size the plan from the cheaper of `PLAN_SAMPLES` (one slow,
        cold first fit must not cut the plan), or from the first alone when waiting for a second cannot fit.
        With worker processes side by side a fold costs the search its seconds divided among the workers."""
        if self._plan_sized:
            return
        parallel = len(self.worker_plan.lanes) if self.worker_plan.processes else 1
        fold_s /= parallel
        self._fold_costs.append(fold_s)
        available = self.search_remaining() + sum(self._fold_costs)
        if len(self._fold_costs) >= PLAN_SAMPLES or len(self.data.splits) == 1 or 2 * fold_s > available:
            self._size_plan(min(self._fold_costs), available)

    def _size_plan(self, fold_s: float, available: float) -> None:
        """Keep the planned folds only if `PLAN_TRIALS` trials at `fold_s` per fold fit in `available` seconds of
        search; else one k-fold (no repeats), else the first folds of it (the first alone is a holdout). Every
        trial then scores on the same folds, and the ensemble on the rows they predict."""
        self._plan_sized = True
        total, k = len(self.data.splits), self.data.folds_per_repeat
        ladder = sorted({total, *range(1, k + 1)}, reverse=True)
        n = next((n for n in ladder if n * fold_s * PLAN_TRIALS <= available), 1)
        if n < total:
            self.plan_note = f"{n} of {total} planned folds: a fold took {fold_s:.2f}s and {available:.1f}s were left for the search"
            logger.info("validation plan: %s", self.plan_note)
            self.data = self.data.first_folds(n)
        try:  # an in-memory study always takes it; a remote one may hiccup
            self.study.set_user_attr(PLAN_ATTR, self.n_folds())
        except Exception:  # noqa: BLE001
            logger.debug("could not store the plan on the study", exc_info=True)

    def _finished(self) -> int:
        states = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)
        return len(self.study.get_trials(deepcopy=False, states=states))

    def _can_draw(self, in_flight: int) -> bool:
        """Whether another trial may start: under the trial count, with time left for it."""
        if self.n_trials is not None and self._finished() + in_flight >= self.n_trials:
            return False
        return self._time_left()

    def _time_left(self) -> bool:
        """Whether a trial started now would have time to run."""
        if not self.have_model():  # the first model may use whatever is left before packaging
            return self._search_deadline().remaining() >= MIN_FIRST_FIT_S
        return self.search_remaining() >= MIN_TRIAL_S

    # -- trials -----------------------------------------------------------------
    def _restore(self) -> None:
        """Put the records of trials finished by an earlier run of this study on the board; fail its orphans."""
        for frozen in self.study.get_trials(deepcopy=False):
            if frozen.state.is_finished() and RECORD_ATTR in frozen.user_attrs:
                record = TrialRecord.from_dict(frozen.user_attrs[RECORD_ATTR])
                record.restored = True
                self.board.add(record)
            elif frozen.state is TrialState.RUNNING:
                # its process died with the earlier run: failed, and retried once
                self._fail(frozen.number, frozen.params, frozen.user_attrs, "its process ended with an earlier run of the search")
        if len(self.board):
            logger.info("resumed study %r with %d finished trials", self.study.study_name, len(self.board))

    def _enqueue_portfolio(self) -> None:
        views = list(self.data.views)
        for name, params, view in with_views(warm_start_order(list(self.backends.values()), self.contexts), views):
            fixed = fixed_params(name, params) | ({FEATURES_PARAM: view} if len(views) > 1 else {})
            self.study.enqueue_trial(fixed, user_attrs={"source": "portfolio"}, skip_if_exists=True)

    def _ask(self) -> Drawn:
        """Sample the next trial."""
        with quiet_optuna():
            trial = self.study.ask()
        views = list(self.data.views)
        # the feature set is part of the trial: TPE learns which synthesis recipe suits which model
        features = trial.suggest_categorical(FEATURES_PARAM, views) if len(views) > 1 else views[0]
        name = trial.suggest_categorical(BACKEND_PARAM, list(self.backends))
        params = suggest(trial, name, self.backends[name].search_space(self.contexts[name]))
        self._asked[trial.number] = trial
        return Drawn(trial, name, params, str(features), str(trial.user_attrs.get("source", "search")))

    def _spec(self, drawn: Drawn, lane: Lane, first_in_flight: bool = False) -> TrialSpec:
        """The spec of a drawn trial for `lane`; until some model exists one trial at a time is the search's
        first fit (it may take what is left), the others get half of it like any later trial."""
        if drawn.spec is not None:
            return drawn.spec
        trial = drawn.trial
        device, gpu = lane.runs_on(self.plan.placement(drawn.backend))
        first = not self.have_model() and not first_in_flight
        deadline = self.budget.trial_deadline(self._search_deadline(), have_model=not first)
        n_jobs = self.ctx.n_jobs if lane.any_device else lane.n_jobs
        return TrialSpec(
            number=trial.number, trial_id=trial._trial_id, backend=drawn.backend, params=drawn.params, features=drawn.features,
            source=drawn.source, device=device, gpu=gpu, n_jobs=n_jobs, deadline_at=deadline.at, first=first,
            keep_below=self._keep_below(drawn.backend),
        )

    def _keep_below(self, backend: str) -> float:
        """The loss a trial of `backend` must beat for its fold models to be stored: the `FOLD_MODELS_KEPT`-th best
        so far, or its family's best (so every family keeps a bag for a diverse ensemble)."""
        scored = [r for r in self.board.records() if r.ok and not r.is_ensemble]
        losses = sorted(self.task.metric.loss(r.score_mean) for r in scored)
        overall = losses[FOLD_MODELS_KEPT - 1] if len(losses) >= FOLD_MODELS_KEPT else math.inf
        family = min((self.task.metric.loss(r.score_mean) for r in scored if r.backend == backend), default=math.inf)
        return max(overall, family)

    def _kept(self) -> set[int]:
        """Trials whose fold models stay stored: the best few and the best of each family."""
        records = [r for r in self.board.records() if r.ok and not r.is_ensemble]
        keep = {r.number for r in records[:FOLD_MODELS_KEPT]}
        best: dict[str, int] = {}
        for r in records:  # best first
            best.setdefault(r.backend, r.number)
        return keep | set(best.values())

    def _finish(self, number: int, record: TrialRecord) -> None:
        """Put a finished trial on the board and tell the study (its artifacts are already stored)."""
        trial = self._asked.pop(number, None)
        self.board.add(record)
        if isinstance(self.store, MemoryStore):  # only the best few trials' fold models stay in this process
            keep = self._kept()
            for r in self.board.records():
                if r.number not in keep and MODEL in r.artifacts:
                    self.store.discard(r.artifacts.pop(MODEL))
        self._log(record)
        for callback in self.callbacks:
            callback(record, self.board)
        state = TrialState.COMPLETE if record.ok else TrialState.PRUNED if record.status == "pruned" else TrialState.FAIL
        value = self.task.metric.loss(record.score_mean) if record.ok else None
        with quiet_optuna():
            self.study.tell(trial if trial is not None else number, value, state=state, skip_if_finished=True)

    def _fail(self, number: int, params: dict[str, Any], attrs: dict[str, Any], why: str, record: TrialRecord | None = None,
              status: str = "failed") -> None:
        """Record trial `number` failed for `why` (its process died) and retry it once as a new trial (a timeout is not retried)."""
        retry = status == "failed" and number not in self._retried and RETRY_ATTR not in attrs
        note = f"{why}; retried as a new trial" if retry else why if status != "failed" else f"{why}; not retried again"
        if record is None:
            backend = str(params.get(BACKEND_PARAM, "unknown"))
            record = TrialRecord(number=number, backend=backend, device="", recipe="", params={}, source=str(attrs.get("source", "search")))
        record.status, record.error = status, note
        self._asked.pop(number, None)
        storage = self.study._storage  # the trial may belong to a process that is gone: set its record by id
        storage.set_trial_user_attr(storage.get_trial_id_from_study_id_trial_number(self.study._study_id, number), RECORD_ATTR, record.to_dict())
        with quiet_optuna():
            self.study.tell(number, state=TrialState.FAIL, skip_if_finished=True)
        self.board.add(record)
        logger.warning("trial %d %s failed: %s", number, record.backend, note)
        if retry:
            self._retried.add(number)
            self.study.enqueue_trial(dict(params), user_attrs={"source": attrs.get("source", "search"), RETRY_ATTR: number})

    def _log(self, r: TrialRecord) -> None:
        if r.ok:
            logger.info(
                "trial %d %s@%s %s=%.5f±%.5f fit %.1fs%s",
                r.number, r.backend, r.device, self.task.metric.name, r.score_mean, r.score_std, r.fit_s,
                "" if r.passed else " (fails a criterion)",
            )
        elif r.status in ("failed", "oom"):
            logger.warning("trial %d %s@%s %s: %s", r.number, r.backend, r.device, r.status, r.error)
        else:
            logger.info("trial %d %s@%s %s %s", r.number, r.backend, r.device, r.status, r.error)

    def _oom_retry(self, spec: TrialSpec, record: TrialRecord) -> bool:
        return (record.status == "oom" and spec.device is Device.CUDA and self.oom_retry_cpu
                and Device.CPU in self.backends[spec.backend].devices)

    # -- running trials here ------------------------------------------------------------
    def _run_here(self) -> None:
        """One trial at a time in this process (one worker: sequential and same-seed reproducible)."""
        lane = self.worker_plan.lanes[0]
        hooks = TrialHooks(n_folds=self.n_folds, fold_done=self._observe_fold, clock=self.budget.clock,
                           search_end=lambda: self._search_deadline().at)
        while self._can_draw(0):
            drawn = self._ask()
            spec = self._spec(drawn, lane)
            record = self._run_spec(spec, drawn.trial, hooks)
            if self._oom_retry(spec, record):
                logger.warning("trial %d %s ran out of GPU memory on %s; retrying it on CPU", spec.number, spec.backend, record.device)
                note = f"retried on CPU after {record.error}"
                record = self._run_spec(replace(spec, device=Device.CPU, gpu=-1, report=False), drawn.trial, hooks)
                self._note_retry(drawn.trial, record, note)
            self._finish(spec.number, record)

    @staticmethod
    def _note_retry(trial: optuna.Trial, record: TrialRecord, note: str) -> None:
        """Say in a retried trial's record why it ran again (also in the copy its trial keeps for a resumed run)."""
        record.error = note if record.ok else f"{record.error} ({note})"
        trial.set_user_attr(RECORD_ATTR, record.to_dict())

    def _run_spec(self, spec: TrialSpec, trial: optuna.Trial, hooks: TrialHooks) -> TrialRecord:
        backend = self.backends[spec.backend]
        record, _ = run_trial(spec, trial, backend, self.contexts[spec.backend], self.data, self.task, self.cache, self.store, hooks)
        return record

    # -- running trials in worker processes --------------------------------------------------
    def _run_pool(self) -> None:
        """Trials side by side in worker processes; the driver samples, dispatches, watches and tells."""
        bundle = write_bundle(self.workdir / "bundle.pkl", {
            "task": self.task, "data": self.data, "backends": self.backends, "contexts": self.contexts,
            "storage": self.storage, "study_name": self.study.study_name, "artifacts": str(self.store.root),  # type: ignore[union-attr]
            "log_level": logging.getLogger("search").getEffectiveLevel(),
        })
        control = Control(self.workdir / "control.bin", create=True)
        pool = WorkerPool(self.worker_plan.lanes, bundle, control.path)
        self._pools.append(pool)
        cold = list(self.backends)  # families this process has not fitted yet (see _warm_up)
        server = fork_server()
        while cold and server is not None and not server.ready():  # the server still imports: warm up meanwhile
            self._warm_up(cold.pop(0))
        try:
            pool.start()
        except ServerGone as exc:
            raise _NoWorkers(str(exc)) from None
        pending: list[Drawn] = []  # drawn trials waiting for a worker of their device
        specs: dict[int, TrialSpec] = {}
        notes: dict[int, str] = {}  # trial number -> why it was run again (on CPU after a GPU out-of-memory)
        errors: list[str] = []
        try:
            while True:
                control.set(N_FOLDS, self.n_folds())
                control.set(SEARCH_END, self._search_deadline().at)
                if not pool.running() and not (pending and self._time_left()) and not self._can_draw(len(pending)):
                    break
                if not pool.workers:
                    raise _NoWorkers("; ".join(errors) or "no worker process started")
                if not pool.running() and not pool.idle() and not pool.starting():
                    raise _NoWorkers("; ".join(errors) or "every worker process ended")
                for worker in pool.idle() if self._time_left() else []:
                    drawn = next((d for d in pending if worker.lane.serves(self.plan.placement(d.backend))), None)
                    if drawn is not None:
                        pending.remove(drawn)
                    while drawn is None and self._can_draw(len(pool.running()) + len(pending)) and len(pending) <= len(pool.workers):
                        candidate = self._ask()
                        if worker.lane.serves(self.plan.placement(candidate.backend)):
                            drawn = candidate
                        else:
                            pending.append(candidate)
                    if drawn is not None:
                        firsts = any(s.first for s in specs.values())
                        spec = self._spec(drawn, worker.lane, first_in_flight=firsts)
                        specs[spec.number] = spec
                        pool.submit(worker, spec)
                self._straggle(pool)
                if cold:  # every idle worker got its trial above: warm up one family while they run
                    self._warm_up(cold.pop(0))
                for worker, message in pool.poll(0.0 if cold else POLL_S):
                    kind = message[0]
                    if kind == "fold":
                        self._observe_fold(float(message[1]))
                    elif kind == "error":
                        errors.append(str(message[1]))
                        logger.warning("worker %s could not start: %s", worker.pid, message[1])
                        pool.drop(worker.lane.index)
                    elif kind == "result":
                        worker.busy = None
                        record = TrialRecord.from_dict(message[2])
                        spec = specs.pop(message[1])
                        if self._oom_retry(spec, record):
                            cpu = replace(spec, device=Device.CPU, gpu=-1, report=False)
                            logger.warning("trial %d %s ran out of GPU memory; retrying it on CPU", spec.number, spec.backend)
                            notes[spec.number] = f"retried on CPU after {record.error}"
                            pending.append(Drawn(self._asked[spec.number], spec.backend, spec.params, spec.features, spec.source, cpu))
                            continue
                        if spec.number in notes:
                            self._note_retry(self._asked[spec.number], record, notes.pop(spec.number))
                        self._finish(spec.number, record)
                    elif kind == "died" and not worker.ready:
                        errors.append(f"a worker process was {describe_exit(message[1])} before it was ready")
                        pool.drop(worker.lane.index)
                    elif kind == "died":
                        self._worker_died(pool, worker, specs, describe_exit(message[1]))
        finally:
            pool.stop()
            logger.debug("trials ended %.2fs after the search deadline, %.2fs before the refit deadline",
                         -self._search_deadline().remaining(), self.budget.refit_deadline().remaining())
            for drawn in pending:  # drawn but never run: the search ended first
                with quiet_optuna():
                    self.study.tell(drawn.trial, state=TrialState.FAIL, skip_if_finished=True)
                self._asked.pop(drawn.trial.number, None)

    def _warm_up(self, name: str) -> None:
        """Fit family `name` once here on a few rows, while the workers start or run their trials (never while one
        waits for a trial): the refits after the search run in this process, and a process's first fit pays one-time
        costs (torch's start-up alone ~1 s on 2 cores) that a refit's share of the budget cannot afford. Best effort:
        a failure only means no warm-up."""
        view = next(iter(self.data.views))
        rows = np.sort(self.data.splits[0][0][:WARM_UP_ROWS])
        X, y = self.data.views[view].X.iloc[rows], self.data.y[rows]
        backend = self.backends[name]
        try:
            pre = Preprocessor(backend.recipe).fit(X, self.data.views[view].profile)
            configs = backend.portfolio(self.contexts[name]) or [{}]
            ctx = replace(self.contexts[name], n_rows=len(rows))
            backend.fit(pre.transform(X), y, configs[0], ctx, Deadline.after(WARM_UP_S), n_iterations=2)
        except Exception:  # noqa: BLE001 - a warm-up that fails costs nothing but its try
            logger.debug("warm-up fit of %s failed", name, exc_info=True)

    def _worker_died(self, pool: WorkerPool, worker: Any, specs: dict[int, TrialSpec], how: str) -> None:
        spec = worker.busy
        worker.busy = None
        pid = worker.pid
        if spec is not None:
            specs.pop(spec.number, None)
            trial = self._asked.get(spec.number)
            record = TrialRecord(number=spec.number, backend=spec.backend, device=device_name(spec.device, max(0, spec.gpu)),
                                 recipe=self.backends[spec.backend].recipe, params=dict(spec.params), features=spec.features,
                                 source=spec.source, worker=worker_id(pid))
            params, attrs = (dict(trial.params), dict(trial.user_attrs)) if trial is not None else ({}, {})
            if worker.overran:
                self._fail(spec.number, params, attrs, f"stopped: it ran past its deadline and its worker process {pid} was {how}",
                           record, status="timeout")
            else:
                self._fail(spec.number, params, attrs, f"its worker process {pid} was {how} during the trial", record)
        if self.search_remaining() > STARTUP_S + MIN_TRIAL_S:
            logger.warning("worker %d was %s; starting another in its lane", pid, how)
            try:
                pool.replace(worker.lane.index)
            except ServerGone as exc:
                logger.warning("no worker replaces it: %s", exc)
                pool.drop(worker.lane.index)
        else:
            pool.drop(worker.lane.index)

    def _straggle(self, pool: WorkerPool) -> None:
        """Kill a worker whose trial runs on well past its own deadline (a fit that ignores it); its trial times out."""
        for worker in pool.running():
            if time.monotonic() > worker.busy.deadline_at + self.budget.slack() + STRAGGLER_GRACE_S:
                logger.warning("trial %d overran its deadline; stopping worker %d", worker.busy.number, worker.pid)
                worker.overran = True
                worker.proc.kill()

    # -- the search ---------------------------------------------------------------------
    def build_ensembles(self) -> list[Ensemble]:
        """The greedy ensemble and the stack over the best candidates with out-of-fold predictions, each if it can be packaged in time.

        Candidates passing every criterion are preferred; the pool shrinks until the members' refits fit in the
        time left for refitting, or until every member's fold models are stored to be packaged as they are: on
        holdout validation (big data: the fold holds 80 % of many rows) its fold-0 model, on k-fold its bag.
        """
        # a partial trial predicted only some rows: blending it would score the ensemble on those alone
        ranked = [r for r in self.board.records() if r.ok and not r.partial and self._load_oof(r)]
        if any(r.passed for r in ranked):
            ranked = [r for r in ranked if r.passed]
        number = max((t.number for t in self.study.get_trials(deepcopy=False)), default=-1) + 1
        # with several feature sets, a blend on the narrowest alone too: the simpler-set preference needs a
        # candidate as strong as a blend there (a single model would rarely be within noise of one)
        sizes = self.board.view_columns
        narrow = min(sizes, key=sizes.get) if len(set(sizes.values())) > 1 else None
        narrowest = [r for r in ranked if r.features == narrow]
        built = []
        for builder, pool in ((build_ensemble, ranked), (build_stack, ranked), (build_ensemble, narrowest)):
            combined = self._affordable(builder, pool, number + len(built)) if pool else None
            if combined is not None:
                self.board.add(combined.record)
                built.append(combined)
        return built

    def _affordable(self, builder: Callable[..., Ensemble | None], ranked: list[TrialRecord], number: int) -> Ensemble | None:
        """`builder`'s combination of the best of `ranked`, from a pool that shrinks until it can be packaged in time."""
        available = self.refit_plan.available()
        as_is = len(self.data.splits) == 1 or self.refit_plan.bags()  # fold models that may be packaged without a refit
        for size in (10, 5, 3, 2):
            # the first try adds the best of every other family (diversity); a retry must really be smaller,
            # and with many families those additions alone would keep it as large
            pool = selection_pool(ranked, size) if size == 10 else ranked[:size]
            combined = builder(pool, self.data.y, self.data.splits, self.task, number, deadline=self.budget.refit_deadline())
            if combined is None:
                return None
            kind, n = combined.record.backend, len(combined.weights)
            members = [r for r in ranked if r.number in combined.weights]
            cost = self.refit_plan.ensemble_cost(members)
            if cost <= available:
                return combined
            if as_is and all(MODEL in r.artifacts for r in members):
                what = "fold-0 models" if len(self.data.splits) == 1 else "members' bags"
                logger.info("%s of %d packages its %s: a refit needs ~%.1fs, %.1fs left", kind, n, what, cost, available)
                return replace(combined, refit=False)
            logger.info("%s of %d skipped: its refit needs ~%.1fs, %.1fs left", kind, n, cost, available)
        return None

    def _load_oof(self, record: TrialRecord) -> bool:
        """Whether `record` has its out-of-fold predictions, read back from the store for a trial finished elsewhere."""
        if record.oof is not None:
            return True
        ref = record.artifacts.get(OOF)
        if ref is None:
            return False
        try:
            oof = self.store.oof(ref)
        except (ArtifactError, OSError, ValueError) as exc:
            logger.warning("trial %s is left out of the ensemble: %s", record.model_id, exc)
            return False
        if len(oof) != len(self.data.y):
            logger.warning("trial %s is left out of the ensemble: its predictions cover %d rows, not %d", record.model_id, len(oof), len(self.data.y))
            return False
        record.oof = oof
        return True

    def run(self) -> SearchOutcome:
        """Search until the trial count or the search deadline is reached, add the ensemble; return the outcome."""
        self._restore()
        self._enqueue_portfolio()
        if self.worker_plan.processes:
            lanes = ", ".join(f"{lane.name} ({lane.n_jobs} threads)" for lane in self.worker_plan.lanes)
            logger.info("%d worker processes run trials side by side: %s (%s)", len(self.worker_plan.lanes), lanes, self.worker_plan.reason)
            try:
                self._run_pool()
            except _NoWorkers as exc:
                self.worker_note = f"worker processes failed ({exc}); the search ran its trials itself"
                logger.warning("%s", self.worker_note)
                self._run_here()
        else:
            self._run_here()
        return SearchOutcome(self.board, self.study, self.store, self.backends, self.build_ensembles())


class _NoWorkers(Exception):
    """No worker process could run trials: the search runs them itself."""


