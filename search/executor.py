"""Device slots for running trials side by side: a few trials per GPU, CPU trials on the free cores.

The controller runs one worker thread per slot, all feeding the same Optuna study. A trial
learns its device from its backend's placement (see `backends.device.plan_devices`) and
waits for a free slot of that device before its deadline is set, so waiting never eats a
trial's own time. On a machine without a usable GPU there is one CPU slot with every core,
which keeps the search sequential and its leaderboard reproducible.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass

from backends.contracts import Deadline, Device, device_name
from backends.device import DevicePlan, Placement

logger = logging.getLogger(__name__)

GPU_LANE_CORES = 2  # host cores a GPU trial keeps busy: data copies, DMatrix building, the Python loop
POLL_S = 0.25  # how often a waiting trial re-checks the deadline


@dataclass(frozen=True)
class Lane:
    """One slot a trial runs in: the device, the GPU ordinal on CUDA, and the host threads it may use."""

    device: Device
    gpu: int
    n_jobs: int
    index: int

    @property
    def name(self) -> str:
        return device_name(self.device, self.gpu)

    def serves(self, placement: Placement) -> bool:
        """Whether a trial placed on `placement` may run in this lane."""
        return self.device is placement.device and (self.device is Device.CPU or self.gpu in placement.gpus)


class Slots:
    """Free slots per device. `acquire` blocks until one that suits the placement is free, or the deadline.

    Each GPU takes `per_gpu` trials at a time (1 by default: a boosting or MLP trial keeps an H100
    busy; more only where memory allows). The cores left after the GPU lanes go to `cpu_slots`
    CPU lanes, shared evenly.
    """

    def __init__(self, gpus: Sequence[int] = (), per_gpu: int = 1, cpu_slots: int = 1, cores: int | None = None) -> None:
        if per_gpu < 1 or cpu_slots < 1:
            raise ValueError("per_gpu and cpu_slots must be at least 1")
        cores = max(1, cores or os.cpu_count() or 1)
        gpu_lanes = [(g, i) for g in gpus for i in range(per_gpu)]
        gpu_cores = min(GPU_LANE_CORES, max(1, cores // (len(gpu_lanes) + 1))) if gpu_lanes else 0
        left = max(1, cores - gpu_cores * len(gpu_lanes))
        cpu_slots = min(cpu_slots, left)
        lanes = [Lane(Device.CUDA, g, gpu_cores, n) for n, (g, _) in enumerate(gpu_lanes)]
        lanes += [Lane(Device.CPU, -1, left // cpu_slots + (1 if i < left % cpu_slots else 0), len(lanes) + i) for i in range(cpu_slots)]
        self.lanes: tuple[Lane, ...] = tuple(lanes)
        self._free = list(self.lanes)
        self._cond = threading.Condition()

    @classmethod
    def for_plan(cls, plan: DevicePlan, per_gpu: int = 1, cpu_slots: int = 1, cores: int | None = None) -> Slots:
        """The slots a device plan needs: GPU lanes only when some backend runs on CUDA."""
        return cls(plan.gpus if plan.uses_gpu else (), per_gpu=per_gpu, cpu_slots=cpu_slots, cores=cores)

    def __len__(self) -> int:
        return len(self.lanes)

    def free(self) -> list[Lane]:
        """The lanes no trial holds now."""
        with self._cond:
            return list(self._free)

    def can_serve(self, placement: Placement) -> bool:
        """Whether any lane suits `placement` (else `acquire` would wait forever)."""
        return any(lane.serves(placement) for lane in self.lanes)

    def acquire(self, placement: Placement, deadline: Deadline) -> Lane | None:
        """A free lane for `placement`, waiting for one; None when `deadline` passes first."""
        if not self.can_serve(placement):
            raise ValueError(f"no slot serves {placement.name}")
        with self._cond:
            while True:
                lane = next((lane for lane in self._free if lane.serves(placement)), None)
                if lane is not None:
                    self._free.remove(lane)
                    return lane
                left = deadline.remaining()
                if left <= 0:
                    return None
                self._cond.wait(timeout=min(POLL_S, left))

    def release(self, lane: Lane) -> None:
        """Give `lane` back and wake the trials waiting for one."""
        with self._cond:
            if lane in self._free or lane not in self.lanes:
                raise ValueError(f"lane {lane} is not held")
            self._free.append(lane)
            self._free.sort(key=lambda x: x.index)
            self._cond.notify_all()
