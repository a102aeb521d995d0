"""Training loop of Neoadj-Net on cached case arrays (CPU or CUDA, deterministic from a seed).

Augmentation (training only, drawn from one seeded generator): per-phase MRI intensity gain
(log-normal, sd 0.1) and a random shift of up to 2 voxels in Y and X and 1 in Z; per-slide
colour gain (0.85-1.15 per channel) and offset (sd 0.03), a random rotation by a multiple of 90°
and flip of the tiles, and 25% of the tiles dropped; whole modalities dropped by the model
(``modality_dropout``). Loss: binary cross-entropy on the logits; optimiser AdamW with a cosine
learning-rate schedule.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray
from torch import Tensor

from app.progress import ProgressFn, check_cancel, no_progress
from inference.batch import CaseArrays, InputBatch, collate
from inference.input_spec import InputSpec
from inference.model import ArchitectureConfig, NeoadjNet

log = logging.getLogger(__name__)

_TILE_DROP = 0.25
_MAX_SHIFT_ZYX = (1, 2, 2)


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings.

    Attributes:
        epochs: Passes over the training cases.
        batch_size: Cases per step.
        learning_rate: Peak AdamW learning rate.
        weight_decay: AdamW weight decay.
        seed: Seed of initialisation, shuffling, augmentation and modality dropout.
        device: "cpu" or "cuda".
    """

    epochs: int = 30
    batch_size: int = 16
    learning_rate: float = 2e-3
    weight_decay: float = 1e-4
    seed: int = 0
    device: str = "cpu"

    def to_json(self) -> dict[str, Any]:
        """JSON-ready mapping."""
        return asdict(self)


def train_model(
    cases: list[CaseArrays],
    labels: NDArray[np.integer[Any]],
    spec: InputSpec,
    architecture: ArchitectureConfig,
    config: TrainConfig,
    *,
    progress: ProgressFn = no_progress,
    cancel: threading.Event | None = None,
    on_epoch: Callable[[int, float], None] | None = None,
) -> tuple[NeoadjNet, list[float]]:
    """Train a fresh `NeoadjNet`.

    Args:
        cases: Training cases' arrays.
        labels: (n,) 0/1 benefit labels.
        spec: Input specification of the arrays.
        architecture: Network sizes.
        config: Optimisation settings.
        progress: Called as (steps done, steps total).
        cancel: Checked before every step.
        on_epoch: Called as (epoch, mean training loss) after each epoch.

    Returns:
        The trained model (eval mode) and the mean loss of each epoch.
    """
    if len(cases) != len(labels) or not cases:
        raise ValueError("need as many labels as cases, and at least one case")
    torch.manual_seed(config.seed)
    generator = torch.Generator().manual_seed(config.seed)
    model = NeoadjNet(architecture).to(config.device)
    optimiser = torch.optim.AdamW(
        model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay
    )
    steps_per_epoch = math.ceil(len(cases) / config.batch_size)
    total = steps_per_epoch * config.epochs
    y_all = torch.as_tensor(np.asarray(labels), dtype=torch.float32)
    losses: list[float] = []
    step = 0
    for epoch in range(config.epochs):
        model.train()
        order = torch.randperm(len(cases), generator=generator).tolist()
        epoch_loss = 0.0
        for start in range(0, len(cases), config.batch_size):
            check_cancel(cancel)
            idx = order[start : start + config.batch_size]
            batch = augment(collate([cases[i] for i in idx], spec), generator).to(config.device)
            for group in optimiser.param_groups:
                group["lr"] = config.learning_rate * 0.5 * (1 + math.cos(math.pi * step / total))
            logits = model(
                batch.mri,
                batch.tiles,
                batch.tile_mask,
                batch.genes,
                batch.modality_mask,
                generator=generator,
            )
            loss = torch.nn.functional.binary_cross_entropy_with_logits(
                logits, y_all[idx].to(config.device)
            )
            optimiser.zero_grad(set_to_none=True)
            loss.backward()  # type: ignore[no-untyped-call]
            optimiser.step()
            epoch_loss += float(loss.detach()) * len(idx)
            step += 1
            progress(step, total)
        losses.append(epoch_loss / len(cases))
        log.info("epoch %d: loss %.4f", epoch + 1, losses[-1])
        if on_epoch is not None:
            on_epoch(epoch + 1, losses[-1])
    model.eval()
    return model, losses


def predict_arrays(
    model: NeoadjNet,
    cases: list[CaseArrays],
    spec: InputSpec,
    *,
    device: str = "cpu",
    batch_size: int = 16,
    cancel: threading.Event | None = None,
) -> NDArray[np.float64]:
    """(n,) benefit probabilities of cached cases (eval mode, no augmentation)."""
    model.eval()
    out: list[NDArray[np.float64]] = []
    with torch.inference_mode():
        for start in range(0, len(cases), batch_size):
            check_cancel(cancel)
            batch = collate(cases[start : start + batch_size], spec).to(device)
            logits = model(
                batch.mri, batch.tiles, batch.tile_mask, batch.genes, batch.modality_mask
            )
            out.append(torch.sigmoid(logits.double()).cpu().numpy())
    return np.concatenate(out)


def augment(batch: InputBatch, generator: torch.Generator) -> InputBatch:
    """Randomly perturbed copy of a CPU batch (see the module docstring)."""
    mri = batch.mri
    if mri is not None:
        b, p = mri.shape[:2]
        gain = torch.exp(0.1 * torch.randn((b, p, 1, 1, 1), generator=generator))
        mri = mri * gain
        shifted = []
        for i in range(b):
            shift = [
                int(torch.randint(-m, m + 1, (1,), generator=generator)) for m in _MAX_SHIFT_ZYX
            ]
            shifted.append(torch.roll(mri[i], shifts=shift, dims=(1, 2, 3)))
        mri = torch.stack(shifted)
    tiles, tile_mask = batch.tiles, batch.tile_mask
    if tiles is not None and tile_mask is not None:
        tiles = _augment_tiles(tiles, generator)
        keep = torch.rand(tile_mask.shape, generator=generator) >= _TILE_DROP
        dropped = tile_mask & keep
        tile_mask = torch.where(dropped.any(dim=1, keepdim=True), dropped, tile_mask)
    return InputBatch(mri, tiles, tile_mask, batch.genes, batch.modality_mask)


def _augment_tiles(tiles: Tensor, generator: torch.Generator) -> Tensor:
    """(B, N, 3, h, w) uint8 -> float in [0, 1] with colour jitter, rotation and flip."""
    b = tiles.shape[0]
    x = tiles.float() / 255.0
    gain = 0.85 + 0.3 * torch.rand((b, 1, 3, 1, 1), generator=generator)
    offset = 0.03 * torch.randn((b, 1, 3, 1, 1), generator=generator)
    x = (x * gain + offset).clamp(0.0, 1.0)
    out = []
    for i in range(b):
        k = int(torch.randint(0, 4, (1,), generator=generator))
        xi = torch.rot90(x[i], k, dims=(2, 3))
        if bool(torch.rand((1,), generator=generator) < 0.5):
            xi = torch.flip(xi, dims=(3,))
        out.append(xi)
    return torch.stack(out)
