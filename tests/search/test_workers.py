"""Where trials run, on CPU: the worker plan (lanes, threads, why), GPU and CPU worker processes feeding one
study, GPU out-of-memory as a trial failure with an optional CPU retry. The GPU is faked by the backends' probes;
fits log to a file, so the test sees across processes which device ran what, and when."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import pytest
from optuna.distributions import CategoricalDistribution
from optuna.trial import TrialState

from backends.contracts import Availability, Backend, Deadline, Device, FitContext, Model, TaskType
from backends.device import CPU, DevicePlan, Placement, plan_devices
from features.profile import profile
from search.budget import Budget
from search.controller import Controller
from search.metrics import get_metric
from search.portfolio import warm_start_order
from search.splits import make_splits
from search.task import SearchData, Task
from search.workers import plan_workers
from tests.conftest import load_slice
from tests.search.test_controller import _ConstModel

GPU0 = Placement(Device.CUDA, (0,))
GPU_PLAN = DevicePlan("auto", (0,), {"a": GPU0, "b": CPU})
CPU_PLAN = DevicePlan("auto", (), {"a": CPU})


def test_explicit_workers_split_the_cores_between_gpu_and_cpu_lanes() -> None:
    two_gpus = DevicePlan("auto", (0, 1), {"a": Placement(Device.CUDA, (0, 1)), "b": CPU})
    plan = plan_workers(3, two_gpus, cores=16)
    assert [lane.name for lane in plan.lanes] == ["cuda:0", "cuda:1", "cpu"] and plan.processes
    assert [lane.n_jobs for lane in plan.lanes] == [2, 2, 12]
    shared = plan_workers(4, GPU_PLAN, per_gpu=2, cores=8)
    assert [lane.name for lane in shared.lanes] == ["cuda:0", "cuda:0", "cpu", "cpu"]
    assert sum(lane.n_jobs for lane in shared.lanes) == 8
    tiny = plan_workers(2, GPU_PLAN, cores=2)  # never fewer than one core per lane
    assert [lane.n_jobs for lane in tiny.lanes] == [1, 1]


def test_one_worker_runs_every_trial_here_on_its_placed_device() -> None:
    plan = plan_workers(1, GPU_PLAN, cores=4)
    (lane,) = plan.lanes
    assert not plan.processes and "workers=1" in plan.reason
    assert lane.serves(GPU0) and lane.serves(CPU) and lane.n_jobs == 4
    assert lane.runs_on(GPU0) == (Device.CUDA, 0) and lane.runs_on(CPU) == (Device.CPU, -1)


def test_auto_decides_from_cores_data_size_budget_and_memory() -> None:
    small = plan_workers("auto", CPU_PLAN, cores=2, cells=200_000, budget_s=60, free_mb=16_000)
    assert small.processes and [lane.n_jobs for lane in small.lanes] == [1, 1] and "small" in small.reason
    big = plan_workers("auto", CPU_PLAN, cores=2, cells=250_000 * 14, budget_s=60, free_mb=16_000)
    assert not big.processes and big.lanes[0].n_jobs == 2 and "2 thread(s)" in big.reason  # 1 x 2
    many = plan_workers("auto", CPU_PLAN, cores=16, cells=250_000 * 14, budget_s=60, free_mb=64_000)
    assert len(many.lanes) == 8 and {lane.n_jobs for lane in many.lanes} == {2}
    short = plan_workers("auto", CPU_PLAN, cores=16, cells=1000, budget_s=10)
    assert not short.processes and "too short" in short.reason
    cramped = plan_workers("auto", CPU_PLAN, cores=16, cells=1000, budget_s=60, free_mb=2_000, data_mb=10)
    assert len(cramped.lanes) == 2 and "memory for 2" in cramped.reason
    gpu = plan_workers("auto", GPU_PLAN, cores=16, cells=1000, budget_s=60, free_mb=64_000)
    assert [lane.name for lane in gpu.lanes][:1] == ["cuda:0"] and len(gpu.lanes) == 15  # 2 cores kept for the GPU worker
    unpicklable = plan_workers("auto", CPU_PLAN, cores=16, cells=1000, budget_s=60, sequential_reason="the metric is a lambda")
    assert not unpicklable.processes and "lambda" in unpicklable.reason


@pytest.mark.parametrize("value", [0, -1, 1.5, "two", True])
def test_bad_workers_is_a_config_error(value) -> None:
    from backends.errors import ConfigError
    from search.workers import check_workers

    with pytest.raises(ConfigError, match="workers must be 'auto' or a positive integer"):
        check_workers(value)


class _FileTracker:
    """Fits append (time, +1/-1, device, pid) lines to a file: visible from every process."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)

    def _log(self, sign: int, ctx: FitContext) -> None:
        with open(self.path, "a") as f:
            f.write(f"{time.monotonic():.6f} {sign} {ctx.device_name} {os.getpid()}\n")

    def enter(self, ctx: FitContext) -> None:
        self._log(1, ctx)

    def leave(self, ctx: FitContext) -> None:
        self._log(-1, ctx)

    def events(self) -> list[tuple[float, int, str, int]]:
        if not os.path.exists(self.path):
            return []
        rows = [line.split() for line in Path(self.path).read_text().splitlines()]
        return sorted((float(t), int(s), d, int(p)) for t, s, d, p in rows)

    @property
    def devices(self) -> list[str]:
        return [d for _, s, d, _ in self.events() if s == 1]

    def peak(self) -> dict[str, int]:
        now: dict[str, int] = {"cpu": 0, "cuda": 0}
        peak = dict(now)
        for _, sign, device, _ in self.events():
            key = device.split(":")[0]
            now[key] += sign
            peak[key] = max(peak[key], now[key])
        return peak

    def overlap(self) -> bool:
        """A CPU fit ran while a GPU fit did."""
        now = {"cpu": 0, "cuda": 0}
        for _, sign, device, _ in self.events():
            now[device.split(":")[0]] += sign
            if now["cpu"] > 0 and now["cuda"] > 0:
                return True
        return False


class _Fake(Backend):
    recipe = "dense"
    tasks: ClassVar[frozenset[TaskType]] = frozenset(TaskType)

    def __init__(self, name: str, cuda: bool, tracker: _FileTracker, oom_on_gpu: bool = False, seconds: float = 0.05) -> None:
        self.name = name  # type: ignore[misc]
        self.devices = frozenset({Device.CPU, Device.CUDA} if cuda else {Device.CPU})  # type: ignore[misc]
        self.tracker, self.oom_on_gpu, self.seconds = tracker, oom_on_gpu, seconds
        self.spaces: list[Device] = []
        self.driver = os.getpid()  # the driver's own warm-up fit is quick: only trials take `seconds`

    def available(self, device: Device) -> Availability:
        return Availability(True) if device in self.devices else Availability(False, "cpu only")

    def search_space(self, ctx: FitContext) -> dict:
        self.spaces.append(ctx.device)
        # per-device spaces: the GPU affords a bigger setting (same choices list would be required by Optuna
        # for a categorical, so the device changes the choice set only between searches, never within one)
        return {"size": CategoricalDistribution(["big", "small"] if ctx.device is Device.CUDA else ["small"])}

    def _portfolio(self, ctx: FitContext) -> list[dict[str, Any]]:
        return [{"size": "small"}]

    def _fit(self, X, y, params, ctx, deadline: Deadline, plan) -> Model:
        self.tracker.enter(ctx)
        try:
            if ctx.device is Device.CUDA and self.oom_on_gpu:
                raise RuntimeError("CUDA out of memory. Tried to allocate 80.00 GiB")
            time.sleep(self.seconds if os.getpid() != self.driver else 0.0)
            return _ConstModel(0.5)
        finally:
            self.tracker.leave(ctx)

    def load(self, directory: Path, meta: Any) -> Model:
        return _ConstModel(0.5)


def _search_data() -> tuple[Task, SearchData]:
    data = load_slice("german_credit", 200)
    prof = profile(data, "credit")
    y = pd.Categorical(data["credit"], categories=list(prof.classes)).codes.astype(np.int64)
    search_data = SearchData.table(data[prof.feature_columns], y, prof, make_splits(y, prof.task, 0))
    return Task(prof.task, (get_metric("roc_auc", prof.task),), (), 2), search_data


def test_gpu_and_cpu_trials_run_side_by_side_in_worker_processes_into_one_study(tmp_path) -> None:
    task, data = _search_data()
    tracker = _FileTracker(tmp_path / "fits.log")
    families = [_Fake("gpu_family", True, tracker, seconds=0.2), _Fake("cpu_family", False, tracker, seconds=0.2)]
    plan = plan_devices("auto", families, gpu_count=lambda: 1)
    workers = plan_workers(2, plan, cores=4)
    assert [lane.name for lane in workers.lanes] == ["cuda:0", "cpu"]
    controller = Controller(task, data, families, Budget(120), plan=plan, n_trials=16, workers=workers, workdir=tmp_path / "search")
    outcome = controller.run()
    controller.close()
    board = outcome.leaderboard
    trials = [r for r in board.records() if not r.is_ensemble]
    assert len(trials) == 16
    # one trial per GPU at a time, and CPU trials ran while a GPU trial did, each device in its own process
    assert tracker.peak() == {"cuda": 1, "cpu": 1}
    assert tracker.overlap()
    # the driver's own fits are one warm-up per family while its workers start (its refits come after the search)
    driver = [e for e in tracker.events() if e[3] == os.getpid() and e[1] == 1]
    assert len(driver) == len(families)
    pids = {device: {p for _, s, dv, p in tracker.events() if dv == device and p != os.getpid()} for device in ("cuda:0", "cpu")}
    assert len(pids["cuda:0"]) == 1 and len(pids["cpu"]) == 1 and pids["cuda:0"] != pids["cpu"]
    # every trial is on the board with the device and the worker it really ran on
    assert {r.device for r in trials if r.backend == "gpu_family"} == {"cuda:0"}
    assert {r.device for r in trials if r.backend == "cpu_family"} == {"cpu"}
    assert {int(r.worker.split(":")[1]) for r in trials} == pids["cuda:0"] | pids["cpu"]
    finished = outcome.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    assert len(finished) == len(trials)
    assert (tmp_path / "search" / "study.journal").exists()  # worker processes share a journal by default


def test_gpu_out_of_memory_is_a_trial_failure_and_the_search_goes_on(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    import sys
    import types

    emptied: list[int] = []
    fake_torch = types.SimpleNamespace(cuda=types.SimpleNamespace(empty_cache=lambda: emptied.append(1)))
    monkeypatch.setitem(sys.modules, "torch", fake_torch)  # cached GPU blocks are given back after each OOM
    task, data = _search_data()
    tracker = _FileTracker(tmp_path / "fits.log")
    families = [_Fake("gpu_family", True, tracker, oom_on_gpu=True, seconds=0.0), _Fake("cpu_family", False, tracker, seconds=0.0)]
    plan = plan_devices("cuda", families, gpu_count=lambda: 1)
    board = Controller(task, data, families, Budget(120), plan=plan, n_trials=6, oom_retry_cpu=False).run().leaderboard
    gpu = [r for r in board.records() if r.backend == "gpu_family"]
    assert gpu and all(r.status == "oom" and "out of memory" in r.error and r.device == "cuda:0" for r in gpu)
    assert len(emptied) == len(gpu)
    assert any(r.ok and r.backend == "cpu_family" for r in board.records())


@pytest.mark.parametrize("workers", [1, 2])
def test_gpu_out_of_memory_retries_on_cpu_when_allowed(workers: int, tmp_path) -> None:
    task, data = _search_data()
    tracker = _FileTracker(tmp_path / "fits.log")
    families = [_Fake("gpu_family", True, tracker, oom_on_gpu=True, seconds=0.0)]
    plan = plan_devices("cuda", families, gpu_count=lambda: 1)
    lanes = plan_workers(workers, plan, cores=2)
    controller = Controller(task, data, families, Budget(120), plan=plan, n_trials=3, workers=lanes)
    board = controller.run().leaderboard
    controller.close()
    trials = [r for r in board.records() if not r.is_ensemble]
    assert len(trials) == 3 and all(r.ok and r.device == "cpu" for r in trials)
    assert all(r.error.startswith("retried on CPU after RuntimeError: CUDA out of memory") for r in trials)
    assert "cuda:0" in tracker.devices and "cpu" in tracker.devices


def test_warm_start_on_a_gpu_adds_the_family_gpu_configs() -> None:
    from backends import registry

    xgb = registry.get("xgboost")
    cpu_ctx = FitContext(TaskType.BINARY, n_rows=5000, n_features=20, n_classes=2)
    gpu_ctx = FitContext(TaskType.BINARY, n_rows=5000, n_features=20, n_classes=2, device=Device.CUDA)
    on_cpu = warm_start_order([xgb], {"xgboost": cpu_ctx})
    on_gpu = warm_start_order([xgb], {"xgboost": gpu_ctx})
    assert on_gpu[: len(on_cpu)] == on_cpu  # the tuned portfolio first, as on CPU
    extra = [cfg for _, cfg in on_gpu[len(on_cpu) :]]
    assert extra and any(cfg["max_depth"] >= 12 for cfg in extra)
    assert xgb.search_space(gpu_ctx)["max_depth"].high > xgb.search_space(cpu_ctx)["max_depth"].high


def test_a_cpu_search_with_one_worker_stays_in_this_process(tmp_path) -> None:
    task, data = _search_data()
    tracker = _FileTracker(tmp_path / "fits.log")
    families = [_Fake("gpu_family", True, tracker)]
    controller = Controller(task, data, families, Budget(60), plan=plan_devices("cpu", families), n_trials=3)
    assert not controller.worker_plan.processes and controller.storage is None  # in memory: nothing to resume
    controller.run()
    assert {p for *_, p in tracker.events()} == {os.getpid()}


def test_two_trials_per_gpu_share_it(tmp_path) -> None:
    task, data = _search_data()
    tracker = _FileTracker(tmp_path / "fits.log")
    families = [_Fake("gpu_family", True, tracker, seconds=0.3)]
    plan = plan_devices("cuda", families, gpu_count=lambda: 1)
    workers = plan_workers(3, plan, per_gpu=2, cores=4)
    assert [lane.name for lane in workers.lanes] == ["cuda:0", "cuda:0", "cpu"]
    controller = Controller(task, data, families, Budget(120), plan=plan, per_gpu=2, n_trials=8, workers=workers)
    controller.run()
    controller.close()
    assert tracker.peak() == {"cuda": 2, "cpu": 0}


def test_a_refit_out_of_gpu_memory_is_redone_on_cpu(caplog: pytest.LogCaptureFixture, tmp_path) -> None:
    from search.evaluate import is_out_of_memory, refit
    from search.leaderboard import TrialRecord

    task, data = _search_data()
    tracker = _FileTracker(tmp_path / "fits.log")
    backend = _Fake("gpu_family", True, tracker, oom_on_gpu=True, seconds=0.0)
    record = TrialRecord(number=0, backend=backend.name, device="cuda:0", recipe="dense", params={"size": "small"})
    ctx = FitContext(TaskType.BINARY, len(data.y), 10, n_classes=2, device=Device.CUDA)
    fitted = refit(backend, record, data, ctx, Deadline.after(60))
    assert isinstance(fitted.model, _ConstModel)
    assert tracker.devices == ["cuda:0", "cpu"]
    assert any("ran out of GPU memory" in r.getMessage() for r in caplog.records)
    # other errors are not retried
    assert is_out_of_memory(MemoryError()) and is_out_of_memory(RuntimeError("CUDA error: out of memory"))
    assert not is_out_of_memory(RuntimeError("illegal memory access"))


def test_a_too_costly_ensemble_really_shrinks_with_many_families(clock, tmp_path) -> None:
    """The retry pools are the top k only: the best of every family would keep each retry as large."""
    from search.leaderboard import TrialRecord

    task, data = _search_data()
    tracker = _FileTracker(tmp_path / "fits.log")
    controller = Controller(task, data, [_Fake("f", False, tracker)], Budget(100, clock))
    rng = np.random.default_rng(0)
    y = data.y.astype(float)
    for i, family in enumerate(["a", "b", "c", "d", "e", "f"]):
        p = np.clip(0.5 + 0.3 * (y - 0.5) + rng.normal(0, 0.25, len(y)), 0.01, 0.99)  # independent errors: averaging helps
        oof = np.column_stack([1 - p, p])
        score = float(get_metric("roc_auc", task.type).score(data.y, oof))
        # each refit costs ~45 s of the ~90 s left: two members fit, three do not
        controller.board.add(TrialRecord(number=i, backend=family, device="cpu", recipe="dense", params={}, score_mean=score,
                                         score_std=0.0, fit_s=150.0, oof=oof))
    built = controller.build_ensembles()
    assert [e.record.backend for e in built] == ["ensemble", "stack"]
    assert all(len(e.weights) == 2 for e in built)  # the stack's pool shrinks the same way


@pytest.mark.slow
def test_a_trial_that_ignores_its_deadline_is_stopped_with_its_worker_and_times_out(tmp_path) -> None:
    task, data = _search_data()
    tracker = _FileTracker(tmp_path / "fits.log")
    families = [_Fake("stuck", False, tracker, seconds=120.0)]  # sleeps through any deadline
    budget = Budget(12)
    controller = Controller(task, data, families, budget, workers=plan_workers(2, CPU_PLAN, cores=2), workdir=tmp_path / "search")
    started = time.monotonic()
    board = controller.run().leaderboard
    controller.close()
    assert time.monotonic() - started <= 12 * 1.05 + 5
    stuck = [r for r in board.records() if not r.is_ensemble]
    assert stuck and all(r.status == "timeout" and "ran past its deadline" in r.error and "SIGKILL" in r.error for r in stuck)
    assert all(not r.error.endswith("retried as a new trial") for r in stuck)  # an overrun is not retried
