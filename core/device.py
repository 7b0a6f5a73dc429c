"""Compute-device selection for inference: ``auto`` picks CUDA, then Apple MPS, then the CPU."""

from __future__ import annotations

import logging

import torch

from core.errors import DeviceError

log = logging.getLogger(__name__)


def _mps_available() -> bool:
    mps = getattr(torch.backends, "mps", None)
    return bool(mps is not None and mps.is_available())


def pick_device(name: str = "auto") -> torch.device:
    """Resolve a device name to a usable :class:`torch.device`.

    Args:
        name: ``"auto"`` (CUDA -> MPS -> CPU), ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or ``"mps"``.

    Returns:
        the device.

    Raises:
        DeviceError: the name is unknown or the device is not available on this machine.
    """
    key = (name or "auto").strip().lower()
    if key == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        dev = torch.device(key)
    except (RuntimeError, ValueError) as exc:
        raise DeviceError(f"Unknown device {name!r}; use auto, cpu, cuda or mps") from exc
    if dev.type == "cpu":
        return dev
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise DeviceError("CUDA was requested but no CUDA GPU is available "
                              "(or this PyTorch build has no CUDA support); use --device cpu")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise DeviceError(f"CUDA device {dev.index} does not exist "
                              f"({torch.cuda.device_count()} GPU(s) found)")
        return dev
    if dev.type == "mps":
        if not _mps_available():
            raise DeviceError("MPS (Apple GPU) was requested but is not available here; "
                              "use --device cpu")
        return dev
    raise DeviceError(f"Unsupported device {name!r}; use auto, cpu, cuda or mps")
