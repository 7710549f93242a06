"""Device choice: CUDA only when it really works here, otherwise CPU with one clear warning."""

from __future__ import annotations

import logging
import shutil
import subprocess

from backends.contracts import Device
from backends.errors import ConfigError

logger = logging.getLogger(__name__)

DEVICE_CHOICES = ("auto", "cpu", "cuda")


def cuda_visible() -> bool:
    """True when an NVIDIA GPU answers `nvidia-smi` (cheap, no CUDA context created)."""
    if shutil.which("nvidia-smi") is None:
        return False
    try:
        out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return False
    return out.returncode == 0 and "GPU" in out.stdout


def resolve_device(requested: str | Device) -> Device:
    """Map "auto"/"cpu"/"cuda" to a Device; a CUDA request without a usable GPU falls back to CPU with a warning.

    "auto" picks CPU until the CUDA backends land; the device is still recorded on every trial.
    """
    value = requested.value if isinstance(requested, Device) else str(requested).strip().lower()
    if value not in DEVICE_CHOICES:
        raise ConfigError(f"Unknown device {requested!r}; choose one of {', '.join(DEVICE_CHOICES)}.")
    if value == "cuda":
        if cuda_visible():
            return Device.CUDA
        logger.warning("device='cuda' was requested but no CUDA GPU is usable here; running on CPU instead.")
    return Device.CPU
