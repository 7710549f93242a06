"""Where trials run: the search's own process (one worker), or worker processes side by side.

A worker process (`search.worker`, forked from this process's `search.forkserver`, which imported the
stack once) loads the search's data once from a bundle file,
joins the study through its storage, and runs the trials the controller sends it, one at a
time, with its own thread count; a GPU worker sees one GPU (`CUDA_VISIBLE_DEVICES`). No process
ever runs two native fits or predicts at once. The controller (the driver) owns the deadline: it
publishes the plan's fold count and a stop flag in a small memory-mapped control file, and
hears back fold costs and results over one socket per worker. A worker that dies mid-trial is
noticed by its closed socket and exit code.
"""

from __future__ import annotations

import logging
import os
import pickle
import socket
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any

import numpy as np

from backends.contracts import Device, device_name
from backends.device import DevicePlan, Placement
from backends.errors import ConfigError
from search.forkserver import LOST, MIN_PARALLEL_BUDGET_S, STARTUP_S, Forked, fork_server

logger = logging.getLogger(__name__)

GPU_LANE_CORES = 2  # host cores a GPU trial keeps busy: data copies, DMatrix building, the Python loop
# rows x columns up to which one thread per trial uses cores best. Classes do not count: a multiclass
# booster grows its per-class trees one after another, each split over threads as a binary one is.
SMALL_CELLS = 1_500_000
LARGE_CELLS = 20_000_000  # beyond this, 4 threads per trial
WORKER_BASE_MB = 600.0  # memory of a worker before data: the imported stack
READY_TIMEOUT_S = 60.0
CONTROL_SLOTS = 4  # the plan's fold count, the search's end (time.monotonic), room for more
N_FOLDS, SEARCH_END = 0, 1


@dataclass(frozen=True)
class Lane:
    """One place a trial runs: the device, the GPU ordinal on CUDA, and the host threads it may use."""

    device: Device
    gpu: int
    n_jobs: int
    index: int
    any_device: bool = False  # the one lane of a sequential search runs every trial on its placed device

    @property
    def name(self) -> str:
        return "any" if self.any_device else device_name(self.device, self.gpu)

    def serves(self, placement: Placement) -> bool:
        """Whether a trial placed on `placement` may run in this lane."""
        if self.any_device:
            return True
        return self.device is placement.device and (self.device is Device.CPU or self.gpu in placement.gpus)

    def runs_on(self, placement: Placement) -> tuple[Device, int]:
        """(device, gpu) a trial placed on `placement` runs on in this lane."""
        if self.any_device:
            return placement.device, placement.gpus[0] if placement.gpus else -1
        return self.device, self.gpu


@dataclass(frozen=True)
class WorkerPlan:
    """How many workers, with how many threads each, and why (the report shows it)."""

    lanes: tuple[Lane, ...]
    processes: bool
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "workers": len(self.lanes), "processes": self.processes, "reason": self.reason,
            "lanes": [{"device": lane.name, "threads": lane.n_jobs} for lane in self.lanes],
        }


def free_memory_mb() -> float:
    """Available memory (MemAvailable), or a large number where it cannot be read."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return 1e9


def check_workers(workers: object) -> int | str:
    """`workers` as given: "auto" or a positive integer (ConfigError otherwise)."""
    if workers == "auto":
        return "auto"
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ConfigError(f"workers must be 'auto' or a positive integer, got {workers!r}.")
    return workers


def plan_workers(
    requested: int | str,
    plan: DevicePlan,
    *,
    per_gpu: int = 1,
    cores: int | None = None,
    cells: int = 0,
    data_mb: float = 0.0,
    budget_s: float = 60.0,
    free_mb: float | None = None,
    sequential_reason: str = "",
) -> WorkerPlan:
    """The workers a search runs: `requested` ("auto" or N) from the cores, GPUs, data size and free memory.

    `sequential_reason` (e.g. a metric that cannot be sent to another process) forces one worker.
    """
    cores = max(1, cores or os.cpu_count() or 1)
    gpus = list(plan.gpus) if plan.uses_gpu else []
    sequential = Lane(Device.CPU, -1, cores, 0, any_device=True)
    if requested == 1:
        return WorkerPlan((sequential,), False, "workers=1: one trial at a time in this process")
    if sequential_reason:
        if requested != "auto":
            raise ConfigError(f"workers={requested} needs worker processes, but {sequential_reason}; pass workers=1.")
        return WorkerPlan((sequential,), False, f"one worker: {sequential_reason}")
    per_worker_mb = WORKER_BASE_MB + data_mb * 8  # the data, its fold copies and the models' own matrices
    room = max(1, int((free_mb if free_mb is not None else free_memory_mb()) * 0.7 // per_worker_mb))
    gpu_lanes = [(g, i) for g in gpus for i in range(per_gpu)]
    gpu_cores = min(GPU_LANE_CORES, max(1, cores // (len(gpu_lanes) + 1))) if gpu_lanes else 0
    left = max(1, cores - gpu_cores * len(gpu_lanes))
    if requested == "auto":
        if budget_s < MIN_PARALLEL_BUDGET_S and not gpu_lanes:
            return WorkerPlan((sequential,), False, f"one worker: a {budget_s:g}s budget is too short to start worker processes (~{STARTUP_S:g}s each)")
        threads = 1 if cells <= SMALL_CELLS else 2 if cells <= LARGE_CELLS else 4
        n_cpu = max(1, min(left // min(threads, left), room - len(gpu_lanes)))
        why = f"{cores} cores, {cells:,} cells ({'small' if threads == 1 else 'large' if threads == 4 else 'mid-sized'} data: {threads} thread(s) per trial)"
        if room < left // min(threads, left):
            why += f", memory for {room} worker(s)"
        if gpu_lanes:
            why += f", {len(gpus)} GPU(s) x {per_gpu} trial(s)"
        if n_cpu + len(gpu_lanes) == 1:
            return WorkerPlan((replace_index(sequential, 0),), False, f"one worker: {why}")
    else:
        n_cpu = max(1, int(requested) - len(gpu_lanes))
        why = f"workers={requested}"
        if room < int(requested):
            logger.warning("workers=%s may exceed free memory (room for ~%d by the data size)", requested, room)
    lanes = [Lane(Device.CUDA, g, gpu_cores, n) for n, (g, _) in enumerate(gpu_lanes)]
    lanes += [Lane(Device.CPU, -1, left // n_cpu + (1 if i < left % n_cpu else 0), len(lanes) + i) for i in range(n_cpu)]
    lanes = [lane if lane.n_jobs >= 1 else Lane(lane.device, lane.gpu, 1, lane.index) for lane in lanes]
    return WorkerPlan(tuple(lanes), True, why)


def replace_index(lane: Lane, index: int) -> Lane:
    return Lane(lane.device, lane.gpu, lane.n_jobs, index, lane.any_device)


class Control:
    """A few numbers the driver publishes to its workers through a memory-mapped file: the plan's folds, the search's end."""

    def __init__(self, path: str | Path, create: bool = False) -> None:
        self.path = Path(path)
        if create:
            np.zeros(CONTROL_SLOTS, dtype=np.float64).tofile(self.path)
        self._values = np.memmap(self.path, dtype=np.float64, mode="r+", shape=(CONTROL_SLOTS,))

    def set(self, slot: int, value: float) -> None:
        if self._values[slot] != value:  # the driver publishes every poll; only a change needs writing
            self._values[slot] = value
            self._values.flush()

    def get(self, slot: int) -> float:
        return float(self._values[slot])


def write_bundle(path: str | Path, bundle: dict[str, Any]) -> Path:
    """What every worker loads once: the task, the data, the backends, the study's coordinates (pickled, local)."""
    path = Path(path)
    tmp = path.with_suffix(".tmp")
    with open(tmp, "wb") as f:
        pickle.dump(bundle, f, protocol=pickle.HIGHEST_PROTOCOL)
    os.replace(tmp, path)
    return path


@dataclass
class _Worker:
    lane: Lane
    proc: Forked
    conn: Connection
    ready: bool = False
    busy: Any = None  # the spec it is running
    overran: bool = False  # the driver killed it: its trial ran past its deadline

    @property
    def pid(self) -> int:
        return self.proc.pid


class WorkerPool:
    """Worker processes, one per lane, started once per search; `poll` yields their messages and deaths."""

    def __init__(self, lanes: Sequence[Lane], bundle: Path, control: Path) -> None:
        self.lanes, self.bundle, self.control = list(lanes), bundle, control
        self.workers: dict[int, _Worker] = {}
        self.stopped: list[_Worker] = []  # told to leave, not yet reaped
        self.started_s = 0.0

    def start(self) -> None:
        """Fork one worker per lane; ServerGone when the fork server cannot start them."""
        t0 = time.monotonic()
        for lane in self.lanes:
            self.workers[lane.index] = self._spawn(lane)
        self.started_s = time.monotonic() - t0

    def _spawn(self, lane: Lane) -> _Worker:
        """A worker forked from this process's fork server (the stack already imported), with its lane's
        thread counts and GPU in its environment."""
        mine, theirs = socket.socketpair()
        env = dict(os.environ)
        threads = str(max(1, lane.n_jobs))
        env.update(OMP_NUM_THREADS=threads, MKL_NUM_THREADS=threads, OPENBLAS_NUM_THREADS=threads)
        if lane.device is Device.CUDA:
            env["CUDA_VISIBLE_DEVICES"] = str(lane.gpu)
        argv = ["--bundle", str(self.bundle), "--control", str(self.control), "--lane", f"{lane.device.value}:{lane.gpu}:{lane.n_jobs}:{lane.index}"]
        try:
            server = fork_server()
            assert server is not None
            proc = server.spawn(argv, env, theirs.fileno())
        finally:
            theirs.close()
        return _Worker(lane, proc, Connection(mine.detach()))

    def replace(self, index: int) -> None:
        """Start a new worker in the lane of a dead one."""
        old = self.workers[index]
        old.conn.close()
        self.stopped.append(old)
        self.workers[index] = self._spawn(old.lane)

    def drop(self, index: int) -> None:
        """Give up the worker of lane `index` (it failed to start, or died with no time for another)."""
        worker = self.workers.pop(index, None)
        if worker is not None:
            self.stopped.append(worker)

    def idle(self) -> list[_Worker]:
        return [w for w in self.workers.values() if w.ready and w.busy is None and w.proc.poll() is None]

    def running(self) -> list[_Worker]:
        return [w for w in self.workers.values() if w.busy is not None]

    def starting(self) -> list[_Worker]:
        return [w for w in self.workers.values() if not w.ready and w.proc.poll() is None]

    def submit(self, worker: _Worker, spec: Any) -> None:
        worker.busy = spec
        worker.conn.send(spec)

    def poll(self, timeout: float) -> list[tuple[_Worker, tuple]]:
        """Messages from workers, and ("died", returncode) for each that ended; waits up to `timeout` for one."""
        conns = {w.conn: w for w in self.workers.values() if not w.conn.closed}
        out: list[tuple[_Worker, tuple]] = []
        for conn in wait(list(conns), timeout=max(0.0, timeout)):
            worker = conns[conn]  # type: ignore[index]
            try:
                while conn.poll():
                    message = conn.recv()
                    if message[0] == "ready":
                        worker.ready = True
                    out.append((worker, message))
            except (EOFError, OSError):
                code = _reap(worker.proc)
                conn.close()
                out.append((worker, ("died", code)))
        return out

    def stop(self) -> None:
        """Ask every worker to leave (without waiting: `reap` does, once the search's own work is done)."""
        for w in self.workers.values():
            if not w.conn.closed:
                try:
                    w.conn.send(None)
                except OSError:
                    pass
            self.stopped.append(w)

    def reap(self, grace_s: float = 5.0) -> None:
        """Wait for the stopped workers to exit; kill (by pid) any still running after `grace_s`."""
        end = time.monotonic() + grace_s
        for w in self.stopped:
            try:
                w.proc.wait(timeout=max(0.0, end - time.monotonic()))
            except subprocess.TimeoutExpired:
                w.proc.kill()
                w.proc.wait()
            if not w.conn.closed:
                w.conn.close()


def _reap(proc: Forked) -> int | None:
    try:
        return proc.wait(timeout=5)
    except subprocess.TimeoutExpired:  # a closed socket but a live process: it is stuck; end it
        proc.kill()
        return proc.wait()


def describe_exit(code: int | None) -> str:
    """'killed by SIGKILL', 'exit code 1', ... for a worker's return code."""
    import signal

    if code is None:
        return "still running"
    if code == LOST:
        return "ended (its exit status went with the fork server)"
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"
