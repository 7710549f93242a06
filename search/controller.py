"""The search controller: an Optuna study over backend x parameters under a hard budget.

Portfolio configurations are enqueued first (cheapest families first, round-robin), then
TPE (multivariate, grouped for the conditional space) takes over. Each trial is scored on
the shared folds; successive halving over folds stops weak searched candidates early.
When the search ends, greedy ensemble selection over the out-of-fold predictions adds an
ensemble row that competes like any candidate. With an RDB storage URL the study is
resumable: heartbeats mark a killed trial failed and re-queue it, and finished trials
are never re-run.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import sys
import threading
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace

import numpy as np
import optuna
from optuna.storages import RDBStorage, RetryHeartbeatStaleTrialCallback
from optuna.trial import TrialState

from backends.contracts import Backend, Deadline, Device, FitContext
from backends.device import CPU, DevicePlan, Placement
from backends.errors import ConfigError
from search.budget import Budget
from search.ensemble import Ensemble, build_ensemble, selection_pool
from search.evaluate import FittedCandidate, FoldCache, TrialPruned, evaluate, refit_estimate
from search.executor import Lane, Slots
from search.leaderboard import Leaderboard, TrialRecord
from search.portfolio import Contexts, context_for, portfolio_for
from search.space import BACKEND_PARAM, FEATURES_PARAM, fixed_params, suggest
from search.task import SearchData, Task

logger = logging.getLogger(__name__)

TrialCallback = Callable[[TrialRecord, Leaderboard], None]
MIN_TRIAL_S = 1.0  # do not start a trial with less than this left
MIN_FIRST_FIT_S = 0.2  # ... except the first, which may try with this little: any model beats none
HEARTBEAT_S = 5
RECORD_ATTR = "record"
PRUNE_AFTER_TRIALS = 5  # no pruning before this many trials have finished
ENSEMBLE_RESERVE_MEMBERS = 3  # the refit reserve covers this many of the best candidates
FOLD_MODELS_KEPT = 5  # fold-0 models of this many best candidates stay in memory (refit fallback)
BIG_FIT_WORK = 500_000  # fit_work beyond which the warm start runs its cheapest entries first
GPU_COST_FACTOR = 0.2  # a CUDA fit's cost relative to the same fit on the CPU cores (a rough, conservative speedup)
PLAN_TRIALS = 3  # the validation plan must afford this many trials at the cost of the search's first folds
PLAN_SAMPLES = 2  # first folds the plan is sized from (the cheaper counts: a first fit also pays one-time warm-ups)
PLAN_ATTR = "n_folds"  # study attribute: the folds the plan kept, so a resumed search scores on the same ones


def free_gpu_memory() -> None:
    """After a GPU out-of-memory error: drop what the failed trial left and give torch's cached blocks back to
    the driver, so the next trial on that GPU (XGBoost has its own allocator) finds the memory free."""
    gc.collect()
    torch = sys.modules.get("torch")  # only when the MLP backend already imported it
    if torch is not None:
        try:
            torch.cuda.empty_cache()
        except Exception:  # noqa: BLE001 - best effort; the next trial reports its own error
            logger.debug("torch.cuda.empty_cache failed", exc_info=True)


class _TrialFailed(Exception):
    """Tells Optuna a trial failed; the reason is already on its record."""


@dataclass
class SearchOutcome:
    """What a search hands on: the leaderboard, the study, the best candidates' fold-0 models, the ensemble."""

    leaderboard: Leaderboard
    study: optuna.Study
    fold_models: dict[int, FittedCandidate]
    ensemble: Ensemble | None = None

    def fold_model(self, number: int) -> FittedCandidate | None:
        """The fold-0 model of trial `number` if it is still in memory (the best few are kept)."""
        return self.fold_models.get(number)


@contextlib.contextmanager
def quiet_optuna() -> Iterator[None]:
    """Our logger reports every trial (failures as one-line warnings); Optuna's lines, with a traceback
    per failed trial, would repeat them. Its verbosity is restored after."""
    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(max(verbosity, logging.ERROR))
    try:
        yield
    finally:
        optuna.logging.set_verbosity(verbosity)


def open_study(storage: str | None, study_name: str, seed: int, n_folds: int, screen: bool = False, parallel: bool = False) -> optuna.Study:
    """Create or resume the study; RDB URLs get heartbeats so a killed trial is retried.

    With `parallel` trials (GPU and CPU lanes), TPE treats running trials as bad ("constant liar")
    so that side-by-side trials do not all sample the same point.
    """
    # heartbeats, retries, grouped TPE and the constant liar are marked experimental by Optuna; we rely on them on purpose
    with warnings.catch_warnings(), quiet_optuna():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return _open_study(storage, study_name, seed, n_folds, screen, parallel)


def rung_steps(n_folds: int, screen: bool) -> frozenset[int]:
    """Steps where successive halving compares trials: the screening fit, then after 2, 4, 8, ... folds."""
    offset = 1 if screen else 0
    rungs = {0} if screen else set()
    done = 2
    while done < n_folds:
        rungs.add(offset + done - 1)
        done *= 2
    return frozenset(rungs)


class HalvingPruner(optuna.pruners.BasePruner):
    """Successive halving: at each rung a trial goes on only if it is in the better half of its peers.

    A trial reports at step i the mean loss of its folds so far (with a screening fit on a row
    sample as step 0 on big data), so every rung compares candidates on the same rows. Portfolio
    configurations are spared on the folds (they are known-good and seed TPE and the ensemble),
    not on the screen; nothing is pruned before `PRUNE_AFTER_TRIALS` peers reached the rung.
    """

    def __init__(self, rungs: frozenset[int], screen: bool, keep: float = 0.5) -> None:
        self.rungs, self.screen, self.keep = rungs, screen, keep

    def prune(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> bool:
        step = trial.last_step
        if step is None or step not in self.rungs:
            return False
        if trial.user_attrs.get("source") == "portfolio" and not (self.screen and step == 0):
            return False
        value = trial.intermediate_values[step]
        peers = [
            t.intermediate_values[step]
            for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED))
            if step in t.intermediate_values
        ]
        if len(peers) < PRUNE_AFTER_TRIALS:
            return False
        return bool(value > np.quantile(peers, self.keep))


def _open_study(storage: str | None, study_name: str, seed: int, n_folds: int, screen: bool, parallel: bool) -> optuna.Study:
    store: str | optuna.storages.BaseStorage | None = storage
    if storage is not None and storage.split(":", 1)[0].split("+", 1)[0] in {"sqlite", "postgresql", "mysql"}:
        store = RDBStorage(
            storage,
            heartbeat_interval=HEARTBEAT_S,
            grace_period=2 * HEARTBEAT_S,
            heartbeat_stale_trial_callback=RetryHeartbeatStaleTrialCallback(max_retry=1),
        )
    sampler = optuna.samplers.TPESampler(seed=seed, multivariate=True, group=True, n_startup_trials=10, constant_liar=parallel)
    rungs = rung_steps(n_folds, screen)
    pruner: optuna.pruners.BasePruner = HalvingPruner(rungs, screen) if rungs else optuna.pruners.NopPruner()
    return optuna.create_study(
        storage=store, study_name=study_name, direction="minimize", sampler=sampler, pruner=pruner, load_if_exists=True
    )


def estimated_cost(backend: Backend, params: dict, device: Device = Device.CPU) -> float:
    """A relative cost: the family's hint, times the extra rounds a small learning rate needs (boosters), less on a GPU."""
    lr = params.get("learning_rate") if backend.rounds_follow_learning_rate else None
    cost = backend.relative_cost * (max(1.0, 0.1 / float(lr)) if lr else 1.0)
    return cost * (GPU_COST_FACTOR if device is Device.CUDA else 1.0)


def fit_work(ctx: Contexts) -> int:
    """Rows x features x (classes for multiclass): what one fit's cost grows with."""
    ctx = ctx if isinstance(ctx, FitContext) else next(iter(ctx.values()))
    return ctx.n_rows * max(1, ctx.n_features) * (ctx.n_classes if ctx.n_classes > 2 else 1)


def warm_start_order(backends: Sequence[Backend], ctx: Contexts) -> list[tuple[str, dict]]:
    """What to enqueue before TPE, with each backend's space sized by its own context (`ctx` may map names
    to contexts: a backend on a GPU gets its GPU space and configs).

    The tuned portfolio (search/portfolio.json) comes first, except that each family it does not cover
    (a newer one, such as the MLP) gets its cheapest own config right after the best tuned entry, so even
    a short search tries it. Then the rest of the tuned portfolio; then, for families placed on a GPU, their
    own configs the tuned portfolio (derived on CPU) lacks; then the uncovered families' other configs.
    When one fit is costly (`BIG_FIT_WORK`), cheap entries go first (a stable sort by `estimated_cost`),
    so the budget buys several models instead of a few slow ones."""
    tuned = portfolio_for(backends, ctx)
    covered = {name for name, _ in tuned}
    firsts: list[tuple[str, dict]] = []
    later: list[tuple[str, dict]] = []
    for name, cfg in portfolio_order([b for b in backends if b.name not in covered], ctx):
        (later if any(n == name for n, _ in firsts) else firsts).append((name, cfg))
    on_gpu = [
        (b.name, cfg)
        for b in backends
        if b.name in covered and context_for(ctx, b.name).device is Device.CUDA
        for cfg in b.portfolio(context_for(ctx, b.name))
        if (b.name, cfg) not in tuned
    ]
    entries = tuned[:1] + firsts + tuned[1:] + on_gpu + later
    if fit_work(ctx) > BIG_FIT_WORK:
        by_name = {b.name: b for b in backends}
        entries.sort(key=lambda e: estimated_cost(by_name[e[0]], e[1], context_for(ctx, e[0]).device))
    return entries


def with_views(entries: Sequence[tuple[str, dict]], views: Sequence[str]) -> list[tuple[str, dict, str]]:
    """The warm start over several feature sets: the first (best) entry on every view, so each view gets
    a fair first look, then the other entries round-robin over the views."""
    if not entries:
        return []
    first, rest = entries[0], entries[1:]
    out = [(first[0], first[1], v) for v in views]
    out += [(name, params, views[i % len(views)]) for i, (name, params) in enumerate(rest)]
    return out


def portfolio_order(backends: Sequence[Backend], ctx: Contexts) -> list[tuple[str, dict]]:
    """The backends' own hand-picked configs, round-robin by relative cost (the pool and baseline of
    benchmarks/portfolio.py; the search enqueues `warm_start_order`)."""
    ordered = sorted(backends, key=lambda b: b.relative_cost)
    configs = {b.name: b.portfolio(context_for(ctx, b.name)) for b in ordered}
    out = []
    for i in range(max((len(c) for c in configs.values()), default=0)):
        out.extend((b.name, configs[b.name][i]) for b in ordered if i < len(configs[b.name]))
    return out


class Controller:
    """Runs the search for one `Task` over `data` with the given backends, within `budget`.

    `plan` places each backend on CPU or CUDA (default: all on CPU). With GPUs in the plan, trials
    run side by side in device lanes (`per_gpu` per GPU, CPU trials on the free cores), all
    feeding one study; a trial that runs out of GPU memory is retried on CPU when `oom_retry_cpu`.
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
    ) -> None:
        if not backends:
            raise ValueError("Controller needs at least one backend")
        self.task, self.data, self.budget = task, data, budget
        self.backends = {b.name: b for b in backends}
        self.plan = plan if plan is not None else DevicePlan.all_cpu(list(self.backends))
        self.ctx = data.context(task, Device.CPU)
        # each backend's space and portfolio are sized for the device it runs on
        self.contexts: dict[str, FitContext] = {name: self._placed(self.ctx, self.plan.placement(name)) for name in self.backends}
        self.slots = Slots.for_plan(self.plan, per_gpu=per_gpu, cores=self.ctx.n_jobs)
        self.oom_retry_cpu = oom_retry_cpu
        self.n_trials = n_trials
        self.callbacks = list(callbacks)
        self.cache = FoldCache(data)
        self.board = Leaderboard(task.metric, [c.text for c in task.criteria])
        self.fold_models: dict[int, FittedCandidate] = {}
        self._lock = threading.Lock()  # the board, the kept fold models and the callbacks, shared by lanes
        self.study = open_study(storage, study_name, task.seed, len(data.splits), screen=data.screen is not None, parallel=len(self.slots) > 1)
        self._check_signature()
        self.plan_note = ""
        stored = self.study.user_attrs.get(PLAN_ATTR)
        self._plan_sized = stored is not None
        self._fold_costs: list[float] = []
        if stored is not None and int(stored) < len(data.splits):
            self.data = data.first_folds(int(stored))

    @staticmethod
    def _placed(ctx: FitContext, placement: Placement) -> FitContext:
        return replace(ctx, device=placement.device, gpu=placement.gpus[0] if placement.gpus else 0)

    def workers(self) -> int:
        """Trials drawn at a time: one on a single lane (sequential, reproducible); otherwise two per lane, so
        that when a lane frees up a trial for it has usually been drawn already. A draw decides its
        device, so with one draw per lane a CPU lane idles while its trial waits for the busy GPU (measured
        with 30 fake trials on a GPU and a CPU lane: the lanes were busy 57 % of the time with one draw per
        lane, 75 % with two, and the search took 13.6 s instead of 11.1 s)."""
        return 1 if len(self.slots) == 1 else 2 * len(self.slots)

    def refit_context(self, backend: str, n_rows: int) -> FitContext:
        """The context for refitting `backend` on `n_rows` rows after the search: its device, every core."""
        return replace(self.contexts[backend], n_rows=n_rows, n_jobs=self.ctx.n_jobs)

    def _signature(self) -> dict[str, object]:
        return {
            "task": self.task.type.value,
            "metric": self.task.metric.name,
            "backends": sorted(self.backends),
            "n_rows": len(self.data.y),
            "columns": {name: list(v.profile.feature_columns) for name, v in self.data.views.items()},
            "seed": self.task.seed,
        }

    def _check_signature(self) -> None:
        """A resumed study must be the same search: same task, metric, backends, data shape and seed."""
        mine = self._signature()
        stored = self.study.user_attrs.get("signature")
        if stored is None:
            self.study.set_user_attr("signature", mine)
        elif stored != mine:
            differs = ", ".join(k for k in mine if stored.get(k) != mine[k])
            raise ConfigError(
                f"Study {self.study.study_name!r} in this storage belongs to a different search ({differs} differ); "
                "use another study name or storage."
            )

    # -- budget -----------------------------------------------------------------
    def refit_reserve(self) -> float:
        """Seconds to keep for the final refit: the best few candidates, as an ensemble may need them all.

        Only refits that fit under the budget's cap count; when even the best one does not, nothing is
        reserved and the search runs on: its fold-0 model is packaged instead of a refit.
        """
        total = 0.0
        for r in [r for r in self.board.records() if r.ok][:ENSEMBLE_RESERVE_MEMBERS]:
            estimate = refit_estimate(r, self.data)
            if total + estimate > self.budget.refit_cap():
                break
            total += estimate
        return total

    def search_remaining(self) -> float:
        return self.budget.search_deadline(self.refit_reserve()).remaining()

    def have_model(self) -> bool:
        return any(r.ok for r in self.board.records())

    def _search_deadline(self) -> Deadline:
        """When trials must end. Until some model exists no refit is reserved: the first fit may run until
        packaging (its fold model is then what gets packaged), so a small budget still returns a model."""
        if not self.have_model():
            return self.budget.first_fit_deadline()
        return self.budget.search_deadline(self.refit_reserve())

    def n_folds(self) -> int:
        """Splits the validation plan uses now (a prefix of the shared ones)."""
        return len(self.data.splits)

    def _observe_fold(self, fold_s: float) -> None:
        """Collect the search's first fold costs and size the plan from the cheaper of `PLAN_SAMPLES` (one slow,
        cold first fit must not cut the plan), or from the first alone when waiting for a second cannot fit."""
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
        with contextlib.suppress(Exception):  # an in-memory study always takes it; a remote one may hiccup
            self.study.set_user_attr(PLAN_ATTR, self.n_folds())

    def _finished(self) -> int:
        states = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)
        return len(self.study.get_trials(deepcopy=False, states=states))

    def _done(self) -> bool:
        if self.n_trials is not None and self._finished() >= self.n_trials:
            return True
        if not self.have_model():  # the first model may use whatever is left before packaging
            return self._search_deadline().remaining() < MIN_FIRST_FIT_S
        return self.search_remaining() < MIN_TRIAL_S

    # -- the loop -----------------------------------------------------------------
    def _restore(self) -> None:
        """Put the records of trials finished by an earlier run of this study on the board."""
        for frozen in self.study.get_trials(deepcopy=False):
            if frozen.state.is_finished() and RECORD_ATTR in frozen.user_attrs:
                self.board.add(TrialRecord.from_dict(frozen.user_attrs[RECORD_ATTR]))
        if len(self.board):
            logger.info("resumed study %r with %d finished trials", self.study.study_name, len(self.board))

    def _enqueue_portfolio(self) -> None:
        views = list(self.data.views)
        for name, params, view in with_views(warm_start_order(list(self.backends.values()), self.contexts), views):
            fixed = fixed_params(name, params) | ({FEATURES_PARAM: view} if len(views) > 1 else {})
            self.study.enqueue_trial(fixed, user_attrs={"source": "portfolio"}, skip_if_exists=True)

    def _objective(self, trial: optuna.Trial) -> float:
        views = list(self.data.views)
        # the feature set is part of the trial: TPE learns which synthesis recipe suits which model
        features = trial.suggest_categorical(FEATURES_PARAM, views) if len(views) > 1 else views[0]
        name = trial.suggest_categorical(BACKEND_PARAM, list(self.backends))
        backend = self.backends[name]
        params = suggest(trial, name, backend.search_space(self.contexts[name]))
        placement = self.plan.placement(name)
        source = str(trial.user_attrs.get("source", "search"))
        # wait for a free lane of the trial's device; the trial's own deadline starts once it has one
        lane = self.slots.acquire(placement, self._search_deadline())
        if lane is None:
            raise _TrialFailed(f"no free {placement.name} slot before the search deadline")
        try:
            record, candidate = self._evaluate(trial, backend, params, str(features), source, lane)
            if record.status == "oom" and lane.device is Device.CUDA:
                free_gpu_memory()
            if record.status == "oom" and lane.device is Device.CUDA and self.oom_retry_cpu and Device.CPU in backend.devices:
                logger.warning("trial %d %s ran out of GPU memory on %s; retrying it on CPU", trial.number, name, lane.name)
                self.slots.release(lane)
                lane = self.slots.acquire(CPU, self._search_deadline())
                if lane is not None:
                    note = f"retried on CPU after {record.error}"
                    record, candidate = self._evaluate(trial, backend, params, str(features), source, lane, report=False)
                    record.error = note if record.ok else f"{record.error} ({note})"
        finally:
            if lane is not None:
                self.slots.release(lane)
        with self._lock:
            trial.set_user_attr(RECORD_ATTR, record.to_dict())
            self.board.add(record)
            if candidate is not None:
                self.fold_models[record.number] = candidate
                keep = {r.number for r in self.board.records()[:FOLD_MODELS_KEPT]}
                self.fold_models = {n: c for n, c in self.fold_models.items() if n in keep}
            self._log(record)
            for callback in self.callbacks:
                callback(record, self.board)
        if record.ok:
            return self.task.metric.loss(record.score_mean)
        if record.status == "pruned":
            raise optuna.TrialPruned()
        raise _TrialFailed(f"{record.status}: {record.error}")

    def _evaluate(
        self, trial: optuna.Trial, backend: Backend, params: dict, features: str, source: str, lane: Lane, report: bool = True
    ) -> tuple[TrialRecord, FittedCandidate | None]:
        """Run one candidate in `lane`; report fold losses to the pruner when `report` (not on a CPU retry)."""
        record = TrialRecord(
            number=trial.number, backend=backend.name, device=lane.name, recipe=backend.recipe,
            params=params, features=features, source=source,
        )
        ctx = replace(self.contexts[backend.name], device=lane.device, gpu=max(0, lane.gpu), n_jobs=lane.n_jobs)
        first = not self.have_model()
        deadline = self.budget.trial_deadline(self._search_deadline(), have_model=not first)

        losses: list[float] = []
        offset = 0 if self.data.screen is None else 1
        last = [self.budget.clock()]  # fold costs on the budget's clock: the plan compares them with its seconds

        def on_fold(fold: int, loss: float) -> None:
            if fold < 0:  # the screening fit on a row sample: step 0, not part of the score
                trial.report(loss, 0)
            else:
                with self._lock:
                    if not self._plan_sized:
                        self._observe_fold(self.budget.clock() - last[0])
                losses.append(loss)
                if report:
                    trial.report(sum(losses) / len(losses), fold + offset)
            last[0] = self.budget.clock()
            if report and fold < self.n_folds() - 1 and trial.should_prune():
                raise TrialPruned()

        return evaluate(backend, params, record, self.data, self.task, ctx, self.cache, deadline, on_fold, folds=self.n_folds, first_fold_all=first)

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

    def build_ensemble(self) -> Ensemble | None:
        """Greedy ensemble over the best candidates with out-of-fold predictions, if it can be packaged in time.

        Candidates passing every criterion are preferred; the pool shrinks until the members'
        refits fit in the time left for refitting, or, on holdout validation (big data: the fold
        holds 80 % of many rows), until every member's fold-0 model is in memory to be packaged
        as is. On k-fold data a fold model misses too many of the few rows, so the ensemble shrinks.
        """
        # a partial trial predicted only some rows: blending it would score the ensemble on those alone
        ranked = [r for r in self.board.records() if r.ok and not r.partial and r.oof is not None]
        if any(r.passed for r in ranked):
            ranked = [r for r in ranked if r.passed]
        number = max((t.number for t in self.study.get_trials(deepcopy=False)), default=-1) + 1
        available = self.budget.refit_deadline().remaining() - self.budget.slack()
        for size in (10, 5, 3, 2):
            # the first try adds the best of every other family (diversity); a retry must really be smaller,
            # and with many families those additions alone would keep it as large
            pool = selection_pool(ranked, size) if size == 10 else ranked[:size]
            ensemble = build_ensemble(pool, self.data.y, self.data.splits, self.task, number, deadline=self.budget.refit_deadline())
            if ensemble is None:
                return None
            cost = sum(refit_estimate(r, self.data) for r in ranked if r.number in ensemble.weights)
            if cost <= available:
                self.board.add(ensemble.record)
                return ensemble
            if len(self.data.splits) == 1 and all(n in self.fold_models for n in ensemble.weights):
                logger.info("ensemble of %d packages its fold-0 models: a refit needs ~%.1fs, %.1fs left", len(ensemble.weights), cost, available)
                self.board.add(ensemble.record)
                return replace(ensemble, refit=False)
            logger.info("ensemble of %d skipped: its refit needs ~%.1fs, %.1fs left", len(ensemble.weights), cost, available)
        return None

    def run(self) -> SearchOutcome:
        """Search until the trial count or the search deadline is reached, add the ensemble; return the outcome."""
        self._restore()
        self._enqueue_portfolio()

        def stop_when_done(study: optuna.Study, _trial: optuna.trial.FrozenTrial) -> None:
            if self._done():
                study.stop()

        workers = self.workers()
        if workers > 1:
            lanes = ", ".join(f"{lane.name} ({lane.n_jobs} cores)" for lane in self.slots.lanes)
            logger.info("%d lanes run trials side by side: %s; %d trials drawn at a time", len(self.slots), lanes, workers)
        if not self._done():
            with quiet_optuna():
                self.study.optimize(
                    self._objective, catch=(_TrialFailed,), callbacks=[stop_when_done], gc_after_trial=False, n_jobs=workers
                )
        ensemble = self.build_ensemble()
        return SearchOutcome(self.board, self.study, self.fold_models, ensemble)
