"""Training loop of Neoadj-Net on cached case arrays (CPU or CUDA, deterministic from a seed).

Augmentation (training only, drawn from one seeded generator): per-phase MRI intensity gain
(log-normal, sd 0.1) and a random shift of up to 2 voxels in Y and X and 1 in Z; per-slide
colour gain (0.85-1.15 per channel) and offset (sd 0.03), a random rotation by a multiple of 90°
and flip of the tiles, and a random subset of at most 32 tiles per bag each step (cheaper steps;
the bag changes every epoch); whole modalities dropped by the model (``modality_dropout``).

Loss: binary cross-entropy on the fused logits plus, weighted by ``aux_weight``, the
cross-entropy of a linear head on each present modality's embedding (so that every branch
learns its own signal rather than leaning on the others). Optimiser: AdamW with a cosine
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
from inference.model import ArchitectureConfig, NeoadjNet, NeoadjOutput

log = logging.getLogger(__name__)

_TRAIN_TILES = 32
_MAX_SHIFT_ZYX = (1, 2, 2)


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings.

    Attributes:
        epochs: Passes over the training cases.
        batch_size: Cases per step.
        learning_rate: Peak AdamW learning rate.
        weight_decay: AdamW weight decay.
        aux_weight: Weight of the per-modality auxiliary losses (each branch alone
            predicting benefit); 0 disables them.
        seed: Seed of initialisation, shuffling, augmentation and modality dropout.
        device: "cpu" or "cuda".
    """

    epochs: int = 15
    batch_size: int = 8
    learning_rate: float = 3e-3
    weight_decay: float = 1e-4
    aux_weight: float = 0.3
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
            out = model(
                batch.mri,
                batch.tiles,
                batch.tile_mask,
                batch.genes,
                batch.modality_mask,
                return_aux=config.aux_weight > 0,
                generator=generator,
            )
            y = y_all[idx].to(config.device)
            loss = _loss(out, y, batch.modality_mask, config.aux_weight)
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


def _loss(out: Any, y: Tensor, modality_mask: Tensor, aux_weight: float) -> Tensor:
    """BCE of the fused logits plus ``aux_weight`` x the mean BCE of present modalities' heads."""
    bce = torch.nn.functional.binary_cross_entropy_with_logits
    if not isinstance(out, NeoadjOutput):
        return bce(out, y)
    loss = bce(out.logits, y)
    if out.modality_logits is not None:
        present = modality_mask.float()  # (B, 3)
        per = bce(out.modality_logits, y.unsqueeze(1).expand_as(present), reduction="none")
        loss = loss + aux_weight * (per * present).sum() / present.sum().clamp(min=1.0)
    return loss


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
        shifted = []
        for i in range(b):
            shift = [
                int(torch.randint(-m, m + 1, (1,), generator=generator)) for m in _MAX_SHIFT_ZYX
            ]
            shifted.append(torch.roll(mri[i], shifts=shift, dims=(1, 2, 3)))
        mri = torch.stack(shifted) * gain
    tiles, tile_mask = batch.tiles, batch.tile_mask
    if tiles is not None and tile_mask is not None:
        tiles, tile_mask = _augment_tiles(tiles, tile_mask, generator)
    return InputBatch(mri, tiles, tile_mask, batch.genes, batch.modality_mask)


def _augment_tiles(
    tiles: Tensor, tile_mask: Tensor, generator: torch.Generator
) -> tuple[Tensor, Tensor]:
    """Keep a random subset of each bag's tiles, rotate/flip them, jitter their colour.

    Args:
        tiles: (B, N, 3, h, w) uint8.
        tile_mask: (B, N) bool.

    Returns:
        (B, K, 3, h, w) float in [0, 1] and the (B, K) mask, K = min(N, 32).
    """
    b, n = tile_mask.shape
    keep = min(n, _TRAIN_TILES)
    out = torch.zeros((b, keep, *tiles.shape[2:]), dtype=torch.uint8)
    mask = torch.zeros((b, keep), dtype=torch.bool)
    for i in range(b):
        real = torch.nonzero(tile_mask[i]).squeeze(1)
        if len(real) == 0:
            continue
        k = min(keep, len(real))
        pick = real[torch.randperm(len(real), generator=generator)[:k]]
        chosen = torch.rot90(
            tiles[i, pick], int(torch.randint(0, 4, (1,), generator=generator)), dims=(2, 3)
        )
        if bool(torch.rand((1,), generator=generator) < 0.5):
            chosen = torch.flip(chosen, dims=(3,))
        out[i, :k] = chosen
        mask[i, :k] = True
    gain = 0.85 + 0.3 * torch.rand((b, 1, 3, 1, 1), generator=generator)
    offset = 0.03 * torch.randn((b, 1, 3, 1, 1), generator=generator)
    x = out.float().mul_(gain / 255.0).add_(offset).clamp_(0.0, 1.0)
    return x, mask
