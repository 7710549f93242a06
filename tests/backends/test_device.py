"""Device planning with faked probes: where each backend runs, every fallback explained, typed errors."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, ClassVar

import pytest

from backends import registry
from backends.contracts import Availability, Backend, Device, FitContext, TaskType
from backends.device import CPU, DevicePlan, Placement, check_request, parse_device, plan_devices
from backends.errors import BackendUnavailable, ConfigError


class _Probe(Backend):
    """A backend whose CUDA probe answers what the test says, counting how often it is asked."""

    recipe = "native"
    tasks: ClassVar[frozenset[TaskType]] = frozenset(TaskType)

    def __init__(self, name: str, cuda: Availability | None) -> None:
        self.name = name  # type: ignore[misc]
        self.cuda = cuda
        self.devices = frozenset({Device.CPU} if cuda is None else {Device.CPU, Device.CUDA})  # type: ignore[misc]
        self.asked = 0

    def available(self, device: Device) -> Availability:
        if device is Device.CUDA and self.cuda is not None:
            self.asked += 1
            return self.cuda
        return super().available(device)

    def search_space(self, ctx: FitContext) -> dict:
        return {}

    def _portfolio(self, ctx: FitContext) -> list[dict[str, Any]]:
        return [{}]

    def _fit(self, *args: Any, **kwargs: Any) -> Any:  # pragma: no cover - never fitted here
        raise NotImplementedError

    def load(self, directory: Path, meta: Any) -> Any:  # pragma: no cover
        raise NotImplementedError


def _family() -> list[_Probe]:
    return [
        _Probe("gpu_ok", Availability(True)),
        _Probe("no_cuda_build", Availability(False, "built without CUDA")),
        _Probe("cpu_only", None),
    ]


@pytest.mark.parametrize(
    ("text", "kind", "gpu"), [("auto", "auto", None), ("CPU", "cpu", None), (" cuda ", "cuda", None), ("cuda:1", "cuda", 1)]
)
def test_parse_device(text: str, kind: str, gpu: int | None) -> None:
    request = parse_device(text)
    assert (request.kind, request.gpu) == (kind, gpu)
    assert parse_device(Device.CUDA).kind == "cuda"


@pytest.mark.parametrize("text", ["gpu", "cuda:x", "cpu:0", "auto:1", "cuda:-1", ""])
def test_bad_device_spelling_is_a_config_error(text: str) -> None:
    with pytest.raises(ConfigError, match="choose one of auto, cpu, cuda, cuda:N"):
        parse_device(text)


def test_cpu_puts_everything_on_cpu_without_probing() -> None:
    family = _family()
    plan = plan_devices("cpu", family, gpu_count=lambda: 4)
    assert {p.device for p in plan.placements.values()} == {Device.CPU}
    assert not plan.uses_gpu and plan.notes == {}
    assert all(b.asked == 0 for b in family)


def test_auto_without_a_gpu_is_a_cpu_search_that_says_why(caplog: pytest.LogCaptureFixture) -> None:
    family = _family()
    with caplog.at_level(logging.INFO, logger="backends.device"):
        plan = plan_devices("auto", family, gpu_count=lambda: 0)
    assert not plan.uses_gpu and plan.notes == {"*": "no CUDA GPU is visible to this process"}
    assert all(b.asked == 0 for b in family)  # no GPU: no probe needed
    assert sum("every backend runs on CPU" in r.getMessage() for r in caplog.records) == 1


def test_auto_with_a_gpu_places_only_backends_whose_probe_passes(caplog: pytest.LogCaptureFixture) -> None:
    family = _family()
    with caplog.at_level(logging.INFO, logger="backends.device"):
        plan = plan_devices("auto", family, gpu_count=lambda: 2)
    assert plan.placement("gpu_ok") == Placement(Device.CUDA, (0, 1))
    assert plan.placement("no_cuda_build") == CPU and plan.placement("cpu_only") == CPU
    assert plan.notes == {"no_cuda_build": "built without CUDA"}  # a CPU-only family is not a fallback
    assert plan.gpus == (0, 1) and plan.uses_gpu
    # exactly one line per fallback, naming the backend and the reason
    lines = [r.getMessage() for r in caplog.records if "no_cuda_build" in r.getMessage() and "CPU" in r.getMessage()]
    assert lines == ["no_cuda_build runs on CPU, not CUDA: built without CUDA"]
    assert plan.to_dict() == {
        "requested": "auto",
        "gpus": [0, 1],
        "backends": {"gpu_ok": "cuda:0,1", "no_cuda_build": "cpu", "cpu_only": "cpu"},
        "fallbacks": {"no_cuda_build": "built without CUDA"},
    }


def test_cuda_n_uses_that_gpu_only() -> None:
    plan = plan_devices("cuda:1", _family(), gpu_count=lambda: 2)
    assert plan.placement("gpu_ok") == Placement(Device.CUDA, (1,)) and plan.gpus == (1,)
    assert plan.requested == "cuda:1"


def test_explicit_cuda_fallbacks_are_warnings(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="backends.device"):
        plan_devices("cuda", _family(), gpu_count=lambda: 1)
    fallback = [r for r in caplog.records if "no_cuda_build runs on CPU" in r.getMessage()]
    assert [r.levelno for r in fallback] == [logging.WARNING]


@pytest.mark.parametrize(
    ("request_text", "gpus", "family", "match"),
    [
        ("cuda", 0, _family, "no CUDA GPU is visible"),
        ("cuda:0", 0, _family, "no CUDA GPU is visible"),
        ("cuda:2", 2, _family, r"sees 2 GPU\(s\), numbered 0..1"),
        ("cuda", 1, lambda: [_Probe("no_cuda_build", Availability(False, "built without CUDA")), _Probe("cpu_only", None)],
         "no backend can use the GPU here \\(no_cuda_build: built without CUDA\\)"),
    ],
)
def test_cuda_that_cannot_be_used_is_a_typed_error(request_text: str, gpus: int, family: Any, match: str) -> None:
    with pytest.raises(BackendUnavailable, match=match):
        plan_devices(request_text, family(), gpu_count=lambda: gpus)


def test_auto_when_no_probe_passes_is_all_cpu_with_the_reasons() -> None:
    plan = plan_devices("auto", [_Probe("no_cuda_build", Availability(False, "built without CUDA"))], gpu_count=lambda: 1)
    assert not plan.uses_gpu and plan.notes == {"no_cuda_build": "built without CUDA"}


def test_check_request_is_cheap_and_early() -> None:
    assert check_request("cpu", gpu_count=lambda: 1 / 0) == (parse_device("cpu"), 0)  # no driver call for cpu
    assert check_request("auto", gpu_count=lambda: 0)[1] == 0
    with pytest.raises(BackendUnavailable):
        check_request("cuda", gpu_count=lambda: 0)


def test_all_cpu_plan_and_summary() -> None:
    plan = DevicePlan.all_cpu(["a", "b"])
    assert plan.summary == "a on cpu; b on cpu" and plan.placement("unknown") == CPU


@pytest.mark.parametrize("name", ["xgboost", "lightgbm", "mlp"])
def test_real_probes_answer_without_raising_and_are_cached(name: str) -> None:
    backend = registry.get(name)
    first = backend.available(Device.CUDA)
    assert isinstance(first, Availability)
    assert backend.available(Device.CUDA) is first  # cached per process
    if not first.ok:
        assert first.reason  # every "no" says why


def test_lightgbm_probe_says_the_wheel_lacks_cuda(monkeypatch: pytest.MonkeyPatch) -> None:
    import lightgbm

    from backends import _common
    from backends.contracts import forget_cuda_probes

    forget_cuda_probes()
    monkeypatch.setattr(_common, "cuda_device_count", lambda: 1)  # pretend a GPU is there
    try:
        status = registry.get("lightgbm").available(Device.CUDA)
    finally:
        forget_cuda_probes()

    if status.ok:  # a CUDA build of LightGBM on a real GPU
        pytest.skip(f"LightGBM {lightgbm.__version__} has CUDA here")
    assert "CUDA" in status.reason


def test_xgboost_probe_failure_is_an_answer_not_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from backends import _common
    from backends import xgboost as xgb_backend
    from backends.contracts import forget_cuda_probes

    forget_cuda_probes()
    monkeypatch.setattr(_common, "cuda_device_count", lambda: 1)
    monkeypatch.setattr(xgb_backend.xgb, "train", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("driver exploded")))
    try:
        status = registry.get("xgboost").available(Device.CUDA)
    finally:
        forget_cuda_probes()
    if xgb_backend.xgb.build_info().get("USE_CUDA", False):
        assert not status.ok and "driver exploded" in status.reason
    else:
        assert not status.ok and "without CUDA" in status.reason
