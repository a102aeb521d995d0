"""Compute device choice and deterministic settings for inference and training."""

from __future__ import annotations

import os

import torch

from app.errors import ScreeningError

DEVICES = ("cpu", "cuda")


class DeviceUnavailableError(ScreeningError):
    """The requested compute device is not available on this machine."""


def select_device(requested: str | None) -> str:
    """ "cuda" when available, else "cpu"; an explicit "cuda" without CUDA is an error.

    Raises:
        DeviceUnavailableError: unknown device name, or "cuda" requested without CUDA.
    """
    if requested is None:
        return "cuda" if torch.cuda.is_available() else "cpu"
    if requested not in DEVICES:
        raise DeviceUnavailableError(f"unknown device '{requested}': use cpu or cuda")
    if requested == "cuda" and not torch.cuda.is_available():
        raise DeviceUnavailableError(
            "device 'cuda' was requested but no CUDA GPU is available: use --device cpu"
        )
    return requested


def configure_determinism(seed: int | None = None, *, strict: bool = False) -> None:
    """Deterministic kernel choices for repeatable results.

    Sets ``CUBLAS_WORKSPACE_CONFIG`` when unset (needed by deterministic cuBLAS), keeps float32
    matrix products and convolutions in IEEE float32 (cuDNN convolutions default to TF32 on
    Ampere and later, about 1e-3 relative error, which would break CPU/CUDA agreement), turns
    off cuDNN autotuning and asks cuDNN for deterministic algorithms. Inference needs no more: the
    forward pass has no atomic accumulations on CPU. ``strict`` (training) also calls
    ``torch.use_deterministic_algorithms(True, warn_only=True)``, which covers backward
    kernels but imports torch's compiler stack (about 10 s on a busy 2-core machine).
    When ``seed`` is given, torch's generators are seeded.
    """
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    # torch's stubs lack the fp32_precision API (torch >= 2.9) that replaces allow_tf32
    torch.backends.cudnn.conv.fp32_precision = "ieee"  # type: ignore[attr-defined]
    torch.backends.cuda.matmul.fp32_precision = "ieee"
    torch.backends.cudnn.benchmark = False
    torch.backends.cudnn.deterministic = True
    if strict:
        torch.use_deterministic_algorithms(True, warn_only=True)
    if seed is not None:
        torch.manual_seed(seed)
