"""Device choice: each backend runs on CUDA only when a probe shows it really works there.

`plan_devices` turns the user's ``device`` ("auto", "cpu", "cuda" or "cuda:N") into a
`DevicePlan`: one placement per backend, the GPUs the search may use, and a note for every
backend that could not go where it was asked to (logged once, kept for the report). The
probes are each backend's own `available(Device.CUDA)`: a tiny fit on the GPU, cached per
process, never raising. Asking for CUDA when no backend can use it is a typed error.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from backends._common import cuda_device_count
from backends.contracts import Backend, Device
from backends.errors import BackendUnavailable, ConfigError

logger = logging.getLogger(__name__)

DEVICE_CHOICES = ("auto", "cpu", "cuda", "cuda:N")
_DEVICE = re.compile(r"^(auto|cpu|cuda)(?::(\d+))?$")


@dataclass(frozen=True)
class DeviceRequest:
    """What the user asked for: a kind ("auto", "cpu", "cuda") and, for "cuda:N", one GPU."""

    kind: str
    gpu: int | None = None

    @property
    def text(self) -> str:
        return self.kind if self.gpu is None else f"{self.kind}:{self.gpu}"


def parse_device(requested: str | Device) -> DeviceRequest:
    """The request in `requested`; ConfigError naming the valid spellings otherwise."""
    value = requested.value if isinstance(requested, Device) else str(requested).strip().lower()
    match = _DEVICE.match(value)
    if match is None or (match.group(2) is not None and match.group(1) != "cuda"):
        raise ConfigError(f"Unknown device {requested!r}; choose one of {', '.join(DEVICE_CHOICES)} (N = GPU number).")
    return DeviceRequest(match.group(1), None if match.group(2) is None else int(match.group(2)))


@dataclass(frozen=True)
class Placement:
    """Where one backend trains: a device and, on CUDA, the GPU ordinals it may use."""

    device: Device
    gpus: tuple[int, ...] = ()

    @property
    def name(self) -> str:
        """"cpu", "cuda:0", or "cuda:0,1" when several GPUs share the backend's trials."""
        return "cpu" if self.device is Device.CPU else "cuda:" + ",".join(map(str, self.gpus))


CPU = Placement(Device.CPU)


@dataclass(frozen=True)
class DevicePlan:
    """Every backend's placement, the GPUs in use, and why any backend is not where it was asked to be."""

    requested: str
    gpus: tuple[int, ...]
    placements: Mapping[str, Placement]
    notes: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def all_cpu(cls, backends: Sequence[str], requested: str = "cpu", notes: Mapping[str, str] | None = None) -> DevicePlan:
        """Every backend on CPU."""
        return cls(requested, (), {name: CPU for name in backends}, dict(notes or {}))

    def placement(self, backend: str) -> Placement:
        return self.placements.get(backend, CPU)

    @property
    def uses_gpu(self) -> bool:
        return any(p.device is Device.CUDA for p in self.placements.values())

    @property
    def summary(self) -> str:
        """One line: which backend runs where."""
        return "; ".join(f"{name} on {p.name}" for name, p in self.placements.items())

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form for the report and the package manifest."""
        return {
            "requested": self.requested,
            "gpus": list(self.gpus),
            "backends": {name: p.name for name, p in self.placements.items()},
            "fallbacks": dict(self.notes),
        }


def check_request(requested: str | Device, gpu_count: Callable[[], int] | None = None) -> tuple[DeviceRequest, int]:
    """The parsed request and the number of visible GPUs; BackendUnavailable when it names GPUs this process lacks.

    Cheap (no backend probe), so `fit` calls it before any costly work. `gpu_count` defaults to asking the driver.
    """
    request = parse_device(requested)
    if request.kind == "cpu":
        return request, 0
    visible = max(0, int((gpu_count or cuda_device_count)()))
    if request.kind == "cuda" and visible == 0:
        raise BackendUnavailable(f"device={request.text!r} was requested but no CUDA GPU is visible to this process; use device='auto' or 'cpu'.")
    if request.gpu is not None and request.gpu >= visible:
        raise BackendUnavailable(
            f"device={request.text!r} was requested but this process sees {visible} GPU(s), numbered 0..{visible - 1}; pick one of those."
        )
    return request, visible


def plan_devices(
    requested: str | Device, backends: Sequence[Backend], gpu_count: Callable[[], int] | None = None
) -> DevicePlan:
    """Place every backend for `requested`; log one line per fallback; never run CUDA that a probe refused.

    "cpu" puts everything on CPU. "auto" and "cuda" put each CUDA-capable backend whose probe
    passes on every visible GPU ("cuda:N": on GPU N only) and the rest on CPU. "auto" without
    a usable GPU is a plain CPU search; "cuda" or "cuda:N" without one is a BackendUnavailable.
    """
    request, visible = check_request(requested, gpu_count)
    names = [b.name for b in backends]
    if request.kind == "cpu":
        return DevicePlan.all_cpu(names)
    explicit = request.kind == "cuda"
    if visible == 0:
        reason = "no CUDA GPU is visible to this process"
        logger.info("device='auto': %s; every backend runs on CPU", reason)
        return DevicePlan.all_cpu(names, request.text, {"*": reason})
    gpus = (request.gpu,) if request.gpu is not None else tuple(range(visible))
    placements: dict[str, Placement] = {}
    notes: dict[str, str] = {}
    for backend in backends:
        if Device.CUDA not in backend.devices:
            placements[backend.name] = CPU  # a CPU-only family; nothing fell back
            continue
        status = backend.available(Device.CUDA)
        if status.ok:
            placements[backend.name] = Placement(Device.CUDA, gpus)
        else:
            placements[backend.name] = CPU
            notes[backend.name] = status.reason
            logger.log(logging.WARNING if explicit else logging.INFO, "%s runs on CPU, not CUDA: %s", backend.name, status.reason)
    plan = DevicePlan(request.text, gpus, placements, notes)
    if not plan.uses_gpu:
        if explicit:
            why = "; ".join(f"{name}: {reason}" for name, reason in notes.items()) or "no selected backend has a CUDA version"
            raise BackendUnavailable(f"device={request.text!r} was requested but no backend can use the GPU here ({why}); use device='auto' or 'cpu'.")
        return DevicePlan.all_cpu(names, request.text, notes)
    logger.info("devices: %s", plan.summary)
    return plan
