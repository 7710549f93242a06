"""The GPU-aware executor, on CPU: slot accounting, waiting with a deadline, parallel lanes feeding one study,
GPU out-of-memory as a trial failure with an optional CPU retry. The GPU is faked by the backends' own probes."""

from __future__ import annotations

import threading
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
from search.controller import Controller, warm_start_order
from search.executor import Slots
from search.metrics import get_metric
from search.splits import make_splits
from search.task import SearchData, Task
from tests.conftest import load_slice
from tests.search.test_controller import _ConstModel

GPU0 = Placement(Device.CUDA, (0,))


def test_slots_split_the_cores_between_gpu_and_cpu_lanes() -> None:
    slots = Slots(gpus=(0, 1), per_gpu=1, cpu_slots=1, cores=16)
    assert [lane.name for lane in slots.lanes] == ["cuda:0", "cuda:1", "cpu"]
    assert [lane.n_jobs for lane in slots.lanes] == [2, 2, 12]
    two = Slots(gpus=(0,), per_gpu=2, cpu_slots=2, cores=8)
    assert [lane.name for lane in two.lanes] == ["cuda:0", "cuda:0", "cpu", "cpu"]
    assert sum(lane.n_jobs for lane in two.lanes) == 8
    assert len(Slots(cores=2)) == 1 and Slots(cores=2).lanes[0].n_jobs == 2  # no GPU: one CPU lane, every core
    tiny = Slots(gpus=(0,), cores=2)  # never fewer than one core per lane
    assert [lane.n_jobs for lane in tiny.lanes] == [1, 1]


def test_for_plan_adds_gpu_lanes_only_when_a_backend_runs_there() -> None:
    cpu_plan = DevicePlan("auto", (0,), {"a": CPU})
    assert [lane.name for lane in Slots.for_plan(cpu_plan, cores=4).lanes] == ["cpu"]
    gpu_plan = DevicePlan("auto", (0,), {"a": GPU0, "b": CPU})
    assert [lane.name for lane in Slots.for_plan(gpu_plan, cores=4).lanes] == ["cuda:0", "cpu"]


def test_acquire_waits_for_a_release_and_gives_up_at_the_deadline() -> None:
    slots = Slots(gpus=(0,), cores=4)
    gpu = slots.acquire(GPU0, Deadline.after(1))
    assert gpu is not None and gpu.device is Device.CUDA
    assert slots.acquire(GPU0, Deadline.after(0.3)) is None  # the one GPU slot is held
    cpu = slots.acquire(CPU, Deadline.after(0.1))
    assert cpu is not None and cpu.device is Device.CPU  # CPU trials do not wait for the GPU
    got: list[Any] = []
    waiter = threading.Thread(target=lambda: got.append(slots.acquire(GPU0, Deadline.after(5))))
    waiter.start()
    time.sleep(0.2)
    assert got == []
    slots.release(gpu)
    waiter.join(5)
    assert got and got[0] == gpu
    slots.release(cpu)
    with pytest.raises(ValueError, match="not held"):
        slots.release(cpu)
    with pytest.raises(ValueError, match="no slot serves"):
        slots.acquire(Placement(Device.CUDA, (3,)), Deadline.after(1))


class _Tracker:
    """Counts fits running at once, per device."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.now: dict[str, int] = {"cpu": 0, "cuda": 0}
        self.peak: dict[str, int] = {"cpu": 0, "cuda": 0}
        self.overlap = False  # a CPU fit ran while a GPU fit did
        self.devices: list[str] = []

    def enter(self, ctx: FitContext) -> None:
        with self.lock:
            key = ctx.device.value
            self.now[key] += 1
            self.peak[key] = max(self.peak[key], self.now[key])
            self.overlap |= self.now["cpu"] > 0 and self.now["cuda"] > 0
            self.devices.append(ctx.device_name)

    def leave(self, ctx: FitContext) -> None:
        with self.lock:
            self.now[ctx.device.value] -= 1


class _Fake(Backend):
    recipe = "dense"
    tasks: ClassVar[frozenset[TaskType]] = frozenset(TaskType)

    def __init__(self, name: str, cuda: bool, tracker: _Tracker, oom_on_gpu: bool = False, seconds: float = 0.05) -> None:
        self.name = name  # type: ignore[misc]
        self.devices = frozenset({Device.CPU, Device.CUDA} if cuda else {Device.CPU})  # type: ignore[misc]
        self.tracker, self.oom_on_gpu, self.seconds = tracker, oom_on_gpu, seconds
        self.spaces: list[Device] = []

    def available(self, device: Device) -> Availability:
        return Availability(True) if device in self.devices else Availability(False, "cpu only")

    def search_space(self, ctx: FitContext) -> dict:
        self.spaces.append(ctx.device)
        # per-device spaces: the GPU affords a bigger setting (same choices list would be required by Optuna
        # for a categorical, so the device changes the choice set only between searches, never within one)
        return {"size": CategoricalDistribution(["big", "small"] if ctx.device is Device.CUDA else ["small"])}

    def portfolio(self, ctx: FitContext) -> list[dict[str, Any]]:
        return [{"size": "small"}]

    def fit(self, X, y, params, ctx, deadline: Deadline, eval_set=None, n_iterations=None) -> Model:
        self.tracker.enter(ctx)
        try:
            if ctx.device is Device.CUDA and self.oom_on_gpu:
                raise RuntimeError("CUDA out of memory. Tried to allocate 80.00 GiB")
            time.sleep(self.seconds)
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


def test_gpu_and_cpu_trials_run_side_by_side_into_one_study() -> None:
    task, data = _search_data()
    tracker = _Tracker()
    families = [_Fake("gpu_family", True, tracker), _Fake("cpu_family", False, tracker)]
    plan = plan_devices("auto", families, gpu_count=lambda: 1)
    controller = Controller(task, data, families, Budget(120), plan=plan, n_trials=16)
    assert [lane.name for lane in controller.slots.lanes] == ["cuda:0", "cpu"]
    assert controller.workers() == 4  # two draws per lane: a freed lane finds its next trial drawn
    outcome = controller.run()
    board = outcome.leaderboard
    trials = [r for r in board.records() if not r.is_ensemble]
    assert len(trials) >= 16
    # one trial per GPU at a time, and CPU trials ran while a GPU trial did
    assert tracker.peak["cuda"] == 1 and tracker.peak["cpu"] == 1
    assert tracker.overlap
    # every trial is on the board with the device it really ran on
    assert {r.device for r in trials if r.backend == "gpu_family"} == {"cuda:0"}
    assert {r.device for r in trials if r.backend == "cpu_family"} == {"cpu"}
    assert set(tracker.devices) == {"cuda:0", "cpu"}
    # the GPU family searched its GPU space, the CPU family its CPU space
    assert set(families[0].spaces) == {Device.CUDA} and set(families[1].spaces) == {Device.CPU}
    finished = outcome.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    assert len(finished) == len(trials)
    assert len(controller.slots.free()) == len(controller.slots)  # every lane given back


def test_gpu_out_of_memory_is_a_trial_failure_and_the_search_goes_on(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys
    import types

    emptied: list[int] = []
    fake_torch = types.SimpleNamespace(cuda=types.SimpleNamespace(empty_cache=lambda: emptied.append(1)))
    monkeypatch.setitem(sys.modules, "torch", fake_torch)  # cached GPU blocks are given back after each OOM
    task, data = _search_data()
    tracker = _Tracker()
    families = [_Fake("gpu_family", True, tracker, oom_on_gpu=True, seconds=0.0), _Fake("cpu_family", False, tracker, seconds=0.0)]
    plan = plan_devices("cuda", families, gpu_count=lambda: 1)
    board = Controller(task, data, families, Budget(120), plan=plan, n_trials=6, oom_retry_cpu=False).run().leaderboard
    gpu = [r for r in board.records() if r.backend == "gpu_family"]
    assert gpu and all(r.status == "oom" and "out of memory" in r.error and r.device == "cuda:0" for r in gpu)
    assert len(emptied) == len(gpu)
    assert any(r.ok and r.backend == "cpu_family" for r in board.records())


def test_gpu_out_of_memory_retries_on_cpu_when_allowed() -> None:
    task, data = _search_data()
    tracker = _Tracker()
    families = [_Fake("gpu_family", True, tracker, oom_on_gpu=True, seconds=0.0)]
    plan = plan_devices("cuda", families, gpu_count=lambda: 1)
    board = Controller(task, data, families, Budget(120), plan=plan, n_trials=3).run().leaderboard
    trials = [r for r in board.records() if not r.is_ensemble]
    assert trials and all(r.ok and r.device == "cpu" for r in trials)
    assert all(r.error.startswith("retried on CPU after RuntimeError: CUDA out of memory") for r in trials)
    assert "cuda:0" in tracker.devices and "cpu" in tracker.devices


def test_waiting_for_a_lane_does_not_outlive_the_search(clock) -> None:
    task, data = _search_data()
    tracker = _Tracker()
    families = [_Fake("gpu_family", True, tracker)]
    plan = plan_devices("cuda", families, gpu_count=lambda: 1)
    controller = Controller(task, data, families, Budget(60, clock), plan=plan)
    held = controller.slots.acquire(GPU0, Deadline.after(1))  # someone else holds the only GPU
    assert held is not None
    clock.advance(59.5)  # the search deadline has passed: the waiting trial gives up, the search ends
    started = time.monotonic()
    board = controller.run().leaderboard
    assert time.monotonic() - started < 10
    assert len([r for r in board.records() if not r.is_ensemble]) == 0


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


def test_one_lane_draws_one_trial_at_a_time() -> None:
    task, data = _search_data()
    families = [_Fake("gpu_family", True, _Tracker())]
    controller = Controller(task, data, families, Budget(60), plan=plan_devices("cpu", families))
    assert len(controller.slots) == 1 and controller.workers() == 1  # a CPU search stays sequential


def test_two_trials_per_gpu_share_it() -> None:
    task, data = _search_data()
    tracker = _Tracker()
    families = [_Fake("gpu_family", True, tracker, seconds=0.2)]
    plan = plan_devices("cuda", families, gpu_count=lambda: 1)
    controller = Controller(task, data, families, Budget(120), plan=plan, per_gpu=2, n_trials=8)
    assert [lane.name for lane in controller.slots.lanes] == ["cuda:0", "cuda:0", "cpu"]
    controller.run()
    assert tracker.peak["cuda"] == 2 and tracker.peak["cpu"] == 0


def test_a_refit_out_of_gpu_memory_is_redone_on_cpu(caplog: pytest.LogCaptureFixture) -> None:
    from search.evaluate import is_out_of_memory, refit
    from search.leaderboard import TrialRecord

    task, data = _search_data()
    tracker = _Tracker()
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


def test_a_too_costly_ensemble_really_shrinks_with_many_families(clock) -> None:
    """The retry pools are the top k only: the best of every family would keep each retry as large."""
    from search.leaderboard import TrialRecord

    task, data = _search_data()
    tracker = _Tracker()
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
    ensemble = controller.build_ensemble()
    assert ensemble is not None and len(ensemble.weights) == 2
