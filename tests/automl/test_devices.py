"""Devices from the public API: honest reports, typed errors, a cheap MLP in short searches; real GPU runs marked `gpu`."""

from __future__ import annotations

import os
import socket
import time

import numpy as np
import pytest
from click.testing import CliRunner
from sklearn.metrics import roc_auc_score

import automl
from automl.cli import main
from backends import registry
from backends._common import cuda_device_count
from backends.contracts import Availability, Device
from backends.errors import BackendUnavailable, ConfigError
from backends.lightgbm import LightGBMBackend
from tests.conftest import dataset_path, load_slice

no_gpu = pytest.mark.skipif(cuda_device_count() > 0, reason="a GPU is visible here; these check the no-GPU paths")


@no_gpu
@pytest.mark.parametrize("device", ["cuda", "cuda:0", "cuda:1"])
def test_cuda_without_a_gpu_fails_fast_with_a_typed_error(device: str) -> None:
    started = time.monotonic()
    with pytest.raises(BackendUnavailable, match="no CUDA GPU is visible to this process; use device='auto' or 'cpu'"):
        automl.fit(load_slice("german_credit", 200), "credit", time_budget=30, device=device)
    assert time.monotonic() - started < 10  # refused before any search or synthesis


def test_bad_device_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="cuda:N"):
        automl.fit(load_slice("german_credit", 200), "credit", time_budget=30, device="gpu:0")


@no_gpu
def test_auto_without_a_gpu_reports_cpu_and_why() -> None:
    result = automl.fit(load_slice("german_credit", 300), "credit", time_budget=60, n_trials=3, backends=["linear", "lightgbm"])
    devices = result.report["devices"]
    assert devices["requested"] == "auto" and devices["gpus"] == []
    assert devices["backends"] == {"linear": "cpu", "lightgbm": "cpu"}
    assert devices["fallbacks"] == {"*": "no CUDA GPU is visible to this process"}
    assert devices["trials"] == {"cpu": 3}
    assert set(result.leaderboard["device"]) == {"cpu"}


@no_gpu
def test_cli_device_cuda_is_one_line_error(tmp_path) -> None:
    train = tmp_path / "train.csv"
    load_slice("german_credit", 200).to_csv(train, index=False)
    result = CliRunner().invoke(main, ["fit", str(train), "--target", "credit", "--device", "cuda", "--out", str(tmp_path / "o")])
    assert result.exit_code == 2
    assert "no CUDA GPU is visible" in result.output and "Traceback" not in result.output


@pytest.mark.slow
def test_a_short_search_on_two_cores_tries_the_mlp() -> None:
    """The portfolio's cheap MLP config runs early, so a 40 s search on a 2-core laptop includes it."""
    data = load_slice("adult", 12_000)
    result = automl.fit(data, "income", time_budget=40)
    board = result.leaderboard
    mlp = board[board["backend"] == "mlp"]
    assert len(mlp) >= 1 and (mlp["status"] == "ok").any(), board[["model_id", "status", "error"]]
    assert mlp.loc[mlp["status"] == "ok", "score_mean"].max() > 0.85  # ROC AUC: a real model, not a placeholder


@pytest.mark.gpu
def test_cuda_search_runs_trials_on_the_gpu_and_the_package_predicts_on_cpu(tmp_path) -> None:
    if cuda_device_count() < 1:
        pytest.skip("no CUDA GPU is visible to this process")
    import pandas as pd

    data = load_slice("adult", 20_000)
    result = automl.fit(data, "income", time_budget=60, device="cuda", backends=["xgboost", "mlp", "lightgbm"])
    devices = result.report["devices"]
    assert devices["backends"]["xgboost"] == "cuda:0", devices
    assert any(d.startswith("cuda") for d in devices["trials"]), devices
    assert (result.leaderboard["device"] == "cuda:0").any()
    path = result.export(tmp_path / "run")
    test = pd.read_csv(dataset_path("adult", "test")).iloc[:2000]
    proba = automl.load(path).predict_proba(test.drop(columns="income"))
    assert np.isfinite(proba.to_numpy()).all() and roc_auc_score(test["income"] == ">50K", proba[">50K"]) > 0.85


@pytest.mark.parametrize("value", [0, -1, 1.5, True])
def test_bad_trials_per_gpu_is_a_config_error(value) -> None:
    with pytest.raises(ConfigError, match="trials_per_gpu must be a positive integer"):
        automl.fit(load_slice("german_credit", 200), "credit", time_budget=30, trials_per_gpu=value)


class _PretendCuda(LightGBMBackend):
    """LightGBM that passes a CUDA probe and, handed a CUDA lane, trains on the CPU: the GPU path without a GPU."""

    name = "pretend_cuda"  # type: ignore[assignment]
    devices = frozenset({Device.CPU, Device.CUDA})  # type: ignore[assignment]
    seen: list[str] = []

    def available(self, device: Device) -> Availability:
        return Availability(True)

    def fit(self, X, y, params, ctx, deadline, eval_set=None, n_iterations=None):
        from dataclasses import replace

        type(self).seen.append(ctx.device_name)
        return super().fit(X, y, params, replace(ctx, device=Device.CPU), deadline, eval_set, n_iterations)


@pytest.fixture
def pretend_one_gpu(monkeypatch: pytest.MonkeyPatch):
    """One GPU "visible"; the real probes run against it (and fail), so their caches are cleared after."""
    from backends import _common
    from backends import device as device_module
    from backends.contracts import forget_cuda_probes

    forget_cuda_probes()
    for module in (device_module, _common):
        monkeypatch.setattr(module, "cuda_device_count", lambda: 1)
    monkeypatch.setitem(registry._MODULES, "pretend_cuda", __name__)
    monkeypatch.setitem(registry._REGISTRY, "pretend_cuda", _PretendCuda())
    _PretendCuda.seen = []
    yield
    forget_cuda_probes()


@pytest.mark.slow
def test_gpu_path_end_to_end_with_a_pretend_gpu(pretend_one_gpu, tmp_path) -> None:
    """Through `fit`: the plan, a GPU worker process beside a CPU one, honest fallbacks, a package that loads."""
    import pandas as pd

    data = load_slice("adult", 4000)
    budget = 40
    started = time.monotonic()
    result = automl.fit(data, "income", time_budget=budget, device="cuda", backends=["pretend_cuda", "lightgbm", "linear"])
    assert time.monotonic() - started <= budget * 1.05 + 5
    devices = result.report["devices"]
    assert devices["requested"] == "cuda" and devices["gpus"] == [0]
    assert devices["backends"] == {"pretend_cuda": "cuda:0", "lightgbm": "cpu", "linear": "cpu"}
    # the real LightGBM probe ran against the "GPU" and said why it cannot use it
    assert "no CUDA support" in devices["fallbacks"]["lightgbm"] and set(devices["fallbacks"]) == {"lightgbm"}
    assert devices["trials"].get("cuda:0", 0) >= 1 and devices["trials"].get("cpu", 0) >= 1
    board = result.leaderboard
    assert set(board.loc[board["backend"] == "pretend_cuda", "device"]) == {"cuda:0"}
    assert set(board.loc[board["backend"].isin(["lightgbm", "linear"]), "device"]) == {"cpu"}
    # the GPU lane is a worker process of its own: its trials ran in one process, the CPU trials in another, neither this one
    assert result.report["workers"]["processes"] and [lane["device"] for lane in result.report["workers"]["lanes"]] == ["cuda:0", "cpu"]
    gpu_workers = set(board.loc[board["backend"] == "pretend_cuda", "worker"])
    cpu_workers = set(board.loc[board["backend"].isin(["lightgbm", "linear"]), "worker"])
    assert len(gpu_workers) == 1 and gpu_workers.isdisjoint(cpu_workers) and f"{socket.gethostname()}:{os.getpid()}" not in gpu_workers | cpu_workers
    assert set(_PretendCuda.seen) <= {"cuda:0"}  # a refit in this process, if it packaged the GPU family, ran on its device
    path = result.export(tmp_path / "run")
    test = pd.read_csv(dataset_path("adult", "test")).iloc[:1000]
    proba = automl.load(path).predict_proba(test.drop(columns="income"))
    assert roc_auc_score(test["income"] == ">50K", proba[">50K"]) > 0.85
