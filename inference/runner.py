"""The local runner: one case + one checkpoint -> a benefit prediction with its provenance.

Determinism: the same case and checkpoint give the same probability on every run on the same
device (tiles are sampled deterministically, kernels are deterministic where torch has them);
tests hold CPU runs to 1e-6 absolute, and CPU and CUDA are expected to agree within 1e-4.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from app.case import Case
from app.errors import InputValidationError
from app.progress import ProgressFn, check_cancel, no_progress
from inference.batch import collate
from inference.checkpoint import Checkpoint, CheckpointInfo, default_checkpoint_dir, load_checkpoint
from inference.device import configure_determinism, select_device
from inference.preprocess import ModelInputs, prepare_case_inputs

__all__ = ["Prediction", "predict_case", "predict_inputs", "prepare_inputs", "select_device"]

log = logging.getLogger(__name__)


@dataclass
class Prediction:
    """A benefit prediction for one case.

    Attributes:
        probability: Predicted probability of benefit from neoadjuvant therapy, in [0, 1].
        threshold: The checkpoint's decision threshold.
        predicted_benefit: ``probability >= threshold``.
        modalities_used: Modalities the prediction rests on ("mri", "slide", "genes").
        modalities_missing: Modalities absent or refused (their learned "absent" embedding
            stood in).
        device: "cpu" or "cuda".
        timings_s: Seconds per step ("checkpoint" loading and verification, "mri",
            "slide", "genes", "forward", "total").
        checkpoint: Identity of the checkpoint.
        flags: Warnings, one line each (missing modality or phase, no tissue...).
        synthetic_case: Whether the case is marked synthetic.
    """

    probability: float
    threshold: float
    predicted_benefit: bool
    modalities_used: list[str]
    modalities_missing: list[str]
    device: str
    timings_s: dict[str, float]
    checkpoint: CheckpointInfo
    flags: list[str] = field(default_factory=list)
    synthetic_case: bool = False

    def to_json(self) -> dict[str, Any]:
        """The ``neoadj predict --json`` object."""
        return {
            "probability": self.probability,
            "threshold": self.threshold,
            "predicted_benefit": self.predicted_benefit,
            "modalities_used": list(self.modalities_used),
            "modalities_missing": list(self.modalities_missing),
            "device": self.device,
            "timings_s": {k: round(v, 4) for k, v in self.timings_s.items()},
            "checkpoint": self.checkpoint.to_json(),
            "flags": list(self.flags),
            "synthetic_case": self.synthetic_case,
        }


def resolve_checkpoint(checkpoint: Path | Checkpoint | None, device: str | None) -> Checkpoint:
    """A loaded checkpoint on the selected device (the demo checkpoint when None)."""
    if isinstance(checkpoint, Checkpoint):
        if device is not None and select_device(device) != checkpoint.device:
            checkpoint.model.to(select_device(device))
            checkpoint.device = select_device(device)
        return checkpoint
    return load_checkpoint(checkpoint or default_checkpoint_dir(), device=select_device(device))


def prepare_inputs(
    case: Case,
    checkpoint: Checkpoint,
    *,
    progress: ProgressFn = no_progress,
    cancel: threading.Event | None = None,
) -> ModelInputs:
    """The case's modalities prepared for ``checkpoint``'s input specification.

    Raises:
        InputValidationError: if no modality is usable.
        Cancelled: if ``cancel`` was set.
    """
    inputs = prepare_case_inputs(case, checkpoint.input_spec, progress=progress, cancel=cancel)
    if not inputs.modalities_used:
        raise InputValidationError(
            "the case has no usable MRI, slide or gene panel: nothing to predict from "
            f"({'; '.join(inputs.flags)})"
        )
    return inputs


def predict_inputs(checkpoint: Checkpoint, inputs: ModelInputs) -> tuple[float, float]:
    """Forward pass on prepared inputs: (probability, forward seconds)."""
    configure_determinism()
    batch = collate([inputs.arrays()], checkpoint.input_spec).to(checkpoint.device)
    t0 = time.perf_counter()
    with torch.inference_mode():
        logits = checkpoint.model(
            batch.mri, batch.tiles, batch.tile_mask, batch.genes, batch.modality_mask
        )
    probability = float(torch.sigmoid(logits.double()).cpu()[0])
    return probability, time.perf_counter() - t0


def predict_case(
    case: Case,
    checkpoint: Path | Checkpoint | None = None,
    *,
    device: str | None = None,
    progress: ProgressFn = no_progress,
    cancel: threading.Event | None = None,
) -> Prediction:
    """Predict benefit for one imported case.

    Args:
        case: The imported case.
        checkpoint: A checkpoint folder, a loaded checkpoint, or None for the demo one.
        device: "cpu", "cuda", or None for CUDA when available.
        progress: Called as (done, 100).
        cancel: Set it to stop; checked in MRI resampling and before every tile read.

    Returns:
        The prediction; a missing modality is listed in ``modalities_missing`` and flagged.

    Raises:
        CheckpointError: checkpoint missing, corrupt or of another architecture version.
        DeviceUnavailableError: "cuda" requested without CUDA.
        InputValidationError: no usable modality.
        Cancelled: if ``cancel`` was set.
    """
    t_start = time.perf_counter()
    ckpt = resolve_checkpoint(checkpoint, device)
    checkpoint_s = time.perf_counter() - t_start
    check_cancel(cancel)
    inputs = prepare_inputs(case, ckpt, progress=progress, cancel=cancel)
    check_cancel(cancel)
    probability, forward_s = predict_inputs(ckpt, inputs)
    timings = {"checkpoint": checkpoint_s, **inputs.timings_s, "forward": forward_s}
    timings["total"] = time.perf_counter() - t_start
    flags = list(inputs.flags)
    if ckpt.info.synthetic:
        flags.append("checkpoint trained on SYNTHETIC data: not for clinical use")
    log.info("prediction %.4f with %s", probability, ", ".join(inputs.modalities_used))
    return Prediction(
        probability=probability,
        threshold=ckpt.threshold,
        predicted_benefit=probability >= ckpt.threshold,
        modalities_used=inputs.modalities_used,
        modalities_missing=inputs.modalities_missing,
        device=ckpt.device,
        timings_s=timings,
        checkpoint=ckpt.info,
        flags=flags,
        synthetic_case=case.synthetic,
    )
