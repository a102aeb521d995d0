"""Training loop of Neoadj-Net on cached case arrays (CPU or CUDA, deterministic from a seed).

Augmentation (training only, drawn from one seeded generator): per-phase MRI intensity gain
(log-normal, sd 0.1) and a random shift of up to 2 voxels in Y and X and 1 in Z; per-slide
colour gain (0.85-1.15 per channel) and offset (sd 0.03), a random rotation by a multiple of 90°
and flip of the tiles, and a random subset of at most 32 tiles per bag each step (cheaper steps;
the bag changes every epoch); whole modalities dropped by the model (``modality_dropout``).

Loss: binary cross-entropy on the fused logits plus, weighted by ``aux_weight``, the
cross-entropy of a linear head on each present modality's embedding (so that every branch
learns its own signal rather than leaning on the others). When the cohort provides auxiliary
targets (`inference.training_targets`), ``target_weight`` x their losses are added: mean
squared error of the MRI and slide feature heads, the lesion-weighted cross-entropy of the MRI
lesion maps plus their soft Dice losses (`soft_dice_loss`), and the (infiltrate-weighted)
cross-entropy of the per-tile tumour / immune fractions (soft targets). Optimiser: AdamW with
a cosine learning-rate schedule.

Then the fusion head is refitted (``head_epochs``): the branches are frozen, every training
case's embeddings are computed once without augmentation, and a re-initialised head and the
"absent" embeddings are trained on them with modality dropout. The head is small and the
labels noisy, so it must stop before it learns their noise: 7-fold cross-validation picks the
step count (the lowest mean held-out loss), and the head is then trained on every case for
that many steps. One held-out seventh alone picked that count too noisily (on the demo cohort,
with the same branches: 12-14 steps against the folds' 44-51, and an external AUC of 0.842
against 0.848). The branches' training is dominated by the auxiliary targets and sees each
case a few times; the head, a small classifier over 3 x D features, needs many passes over
the noisy benefit labels, which are cheap once embedded.
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
from inference.model import (
    MRI_MAP_NAMES,
    ArchitectureConfig,
    AuxOutputs,
    NeoadjNet,
    NeoadjOutput,
)
from inference.training_targets import TrainingTargets

log = logging.getLogger(__name__)

_TRAIN_TILES = 32
_MAX_SHIFT_ZYX = (1, 2, 2)
_MAP_POS = 10.0
"""BCE weight of lesion voxels: lesions fill ~1.5% of the model box, so an unweighted loss
is met by predicting "no lesion" everywhere (a soft Dice loss per map helps likewise)."""
_TILE_POS = 10.0
"""BCE weight of a tile's immune-infiltrate fraction (about 6% of a tile on average)."""
_HEAD_FOLDS = 7
"""Folds of the head refit's cross-validated step count."""


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
        target_weight: Weight of the auxiliary-target losses (when targets are given).
        head_epochs: Full-batch steps of the fusion-head refit (0: no refit).
        head_learning_rate: AdamW learning rate of the refit.
        seed: Seed of initialisation, shuffling, augmentation and modality dropout.
        device: "cpu" or "cuda".
    """

    epochs: int = 15
    batch_size: int = 8
    learning_rate: float = 3e-3
    weight_decay: float = 1e-4
    aux_weight: float = 0.3
    target_weight: float = 1.0
    head_epochs: int = 300
    head_learning_rate: float = 1e-2
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
    targets: list[TrainingTargets] | None = None,
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
        targets: Auxiliary targets, one per case (entries may be empty), or None.
        progress: Called as (steps done, steps total).
        cancel: Checked before every step.
        on_epoch: Called as (epoch, mean training loss) after each epoch.

    Returns:
        The trained model (eval mode) and the mean loss of each epoch.
    """
    if len(cases) != len(labels) or not cases:
        raise ValueError("need as many labels as cases, and at least one case")
    if targets is not None and len(targets) != len(cases):
        raise ValueError("need as many target sets as cases")
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
            raw_batch = collate([cases[i] for i in idx], spec)
            target_batch = (
                collate_targets([targets[i] for i in idx], raw_batch, spec)
                if targets is not None
                else None
            )
            batch, target_batch = augment(raw_batch, generator, target_batch)
            batch = batch.to(config.device)
            for group in optimiser.param_groups:
                group["lr"] = config.learning_rate * 0.5 * (1 + math.cos(math.pi * step / total))
            out = model(
                batch.mri,
                batch.tiles,
                batch.tile_mask,
                batch.genes,
                batch.modality_mask,
                return_aux=config.aux_weight > 0 or target_batch is not None,
                generator=generator,
            )
            y = y_all[idx].to(config.device)
            loss = _loss(out, y, batch.modality_mask, config.aux_weight)
            if target_batch is not None and isinstance(out, NeoadjOutput) and out.aux is not None:
                target_loss = _target_loss(out.aux, target_batch.to(config.device), batch)
                loss = loss + config.target_weight * target_loss
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
    if config.head_epochs > 0:
        refit_head(model, cases, y_all, spec, config, generator, cancel)
    model.eval()
    return model, losses


def refit_head(
    model: NeoadjNet,
    cases: list[CaseArrays],
    labels: Tensor,
    spec: InputSpec,
    config: TrainConfig,
    generator: torch.Generator,
    cancel: threading.Event | None = None,
) -> list[float]:
    """Refit ``model.head`` and ``model.absent`` on frozen embeddings (module docstring).

    The head is re-initialised, trained on each 6 of 7 folds for ``config.head_epochs``
    full-batch steps while the 7th fold's loss is recorded, and finally trained on every case
    for the step count at which the folds' mean held-out loss was lowest.

    Args:
        labels: (n,) float32 0/1 labels of ``cases``.

    Returns:
        The mean held-out loss over the folds after each step.
    """
    model.eval()
    parts: list[Tensor] = []
    masks: list[Tensor] = []
    with torch.no_grad():
        for start in range(0, len(cases), 32):
            check_cancel(cancel)
            batch = collate(cases[start : start + 32], spec).to(config.device)
            parts.append(model.embeddings(batch))
            masks.append(batch.modality_mask)
    data = (torch.cat(parts), torch.cat(masks), labels.to(config.device))  # (n,3,D), (n,3), (n,)
    with torch.random.fork_rng():  # initialisation and dropout: seeded from ``generator``
        torch.manual_seed(int(torch.randint(2**31 - 1, (1,), generator=generator)))
        for layer in model.head:
            if isinstance(layer, torch.nn.Linear):
                layer.reset_parameters()
        fresh = _head_state(model)
        fold = torch.arange(len(cases), device=config.device) % _HEAD_FOLDS
        curves = []
        for k in range(_HEAD_FOLDS):
            held = fold == k
            if held.any() and not held.all():
                check_cancel(cancel)
                _load_head_state(model, fresh)
                curves.append(
                    _fit_head(model, data, ~held, held, config.head_epochs, config, generator)
                )
        mean = torch.tensor(curves).mean(dim=0).tolist() if curves else []
        steps = int(torch.tensor(mean).argmin()) + 1 if mean else config.head_epochs
        _load_head_state(model, fresh)
        everyone = torch.ones(len(cases), dtype=torch.bool, device=config.device)
        _fit_head(model, data, everyone, None, steps, config, generator)
    model.eval()
    if mean:
        log.info("head refit: %d steps (held-out loss %.4f -> %.4f)", steps, mean[0], min(mean))
    return mean


def _fit_head(
    model: NeoadjNet,
    data: tuple[Tensor, Tensor, Tensor],
    fit: Tensor,
    check: Tensor | None,
    steps: int,
    config: TrainConfig,
    generator: torch.Generator,
) -> list[float]:
    """Full-batch AdamW steps of the head and absent embeddings on the ``fit`` cases.

    Args:
        data: (n, 3, D) bounded embeddings, (n, 3) modality presence, (n,) labels.
        fit, check: (n,) bool selections of the cases to train on and to score.

    Returns:
        The loss on the ``check`` cases after each step (empty without ``check``).
    """
    emb, mask, y = data
    bce = torch.nn.functional.binary_cross_entropy_with_logits
    optimiser = torch.optim.AdamW(
        [*model.head.parameters(), model.absent], lr=config.head_learning_rate, weight_decay=1e-2
    )
    losses = []
    for _ in range(steps):
        model.head.train()
        loss = bce(model.fuse(emb[fit], model.drop_modalities(mask[fit], generator)), y[fit])
        optimiser.zero_grad(set_to_none=True)
        loss.backward()  # type: ignore[no-untyped-call]
        optimiser.step()
        if check is not None:
            model.head.eval()
            with torch.no_grad():
                losses.append(float(bce(model.fuse(emb[check], mask[check]), y[check])))
    return losses


def _head_state(model: NeoadjNet) -> dict[str, Any]:
    """Copies of the head's and the absent embeddings' parameters."""
    head = {k: v.detach().clone() for k, v in model.head.state_dict().items()}
    return {"head": head, "absent": model.absent.detach().clone()}


def _load_head_state(model: NeoadjNet, state: dict[str, Any]) -> None:
    """Inverse of `_head_state`."""
    model.head.load_state_dict(state["head"])
    with torch.no_grad():
        model.absent.copy_(state["absent"])


def _loss(out: Any, y: Tensor, modality_mask: Tensor, aux_weight: float) -> Tensor:
    """BCE of the fused logits plus ``aux_weight`` x the mean BCE of present modalities' heads."""
    bce = torch.nn.functional.binary_cross_entropy_with_logits
    if not isinstance(out, NeoadjOutput):
        return bce(out, y)
    loss = bce(out.logits, y)
    if out.aux is not None and aux_weight > 0:
        present = modality_mask.float()  # (B, 3)
        per = bce(out.aux.modality_logits, y.unsqueeze(1).expand_as(present), reduction="none")
        loss = loss + aux_weight * (per * present).sum() / present.sum().clamp(min=1.0)
    return loss


@dataclass
class TargetBatch:
    """Auxiliary targets of a batch of B cases, each with a (B,) bool "has it" mask.

    Attributes:
        mri_features: (B, T_mri) float32.
        slide_features: (B, T_slide) float32.
        lesion_maps: (B, M, Z, Y, X) float32 lesion fractions on the model grid.
        tile_fractions: (B, N, T_tile) float32, aligned with the batch's tiles.
    """

    mri_features: Tensor
    has_mri_features: Tensor
    slide_features: Tensor
    has_slide_features: Tensor
    lesion_maps: Tensor
    has_lesion_maps: Tensor
    tile_fractions: Tensor | None
    has_tile_fractions: Tensor

    def to(self, device: str) -> TargetBatch:
        """The same targets on ``device``."""
        moved = {
            k: (v.to(device) if isinstance(v, Tensor) else v) for k, v in self.__dict__.items()
        }
        return TargetBatch(**moved)


def collate_targets(
    targets: list[TrainingTargets], batch: InputBatch, spec: InputSpec
) -> TargetBatch:
    """Stack cases' targets in the layout of ``batch`` (tiles padded like its tiles)."""
    b = len(targets)

    def stack(values: list[NDArray[np.float32] | None], width: int) -> tuple[Tensor, Tensor]:
        out = torch.zeros((b, width), dtype=torch.float32)
        has = torch.tensor([v is not None for v in values], dtype=torch.bool)
        for i, v in enumerate(values):
            if v is not None:
                out[i] = torch.from_numpy(v)
        return out, has

    mri_f, has_mri_f = stack([t.mri_features for t in targets], _width(targets, "mri_features"))
    slide_f, has_slide_f = stack(
        [t.slide_features for t in targets], _width(targets, "slide_features")
    )
    n_maps = next((len(t.lesion_maps) for t in targets if t.lesion_maps is not None), 1)
    maps = torch.zeros((b, n_maps, *spec.grid_shape_zyx), dtype=torch.float32)
    has_maps = torch.zeros(b, dtype=torch.bool)
    for i, t in enumerate(targets):
        if t.lesion_maps is not None and t.lesion_maps.shape == maps.shape[1:]:
            maps[i] = torch.from_numpy(t.lesion_maps)
            has_maps[i] = True
    tiles: Tensor | None = None
    has_tiles = torch.zeros(b, dtype=torch.bool)
    if batch.tile_mask is not None:
        n = batch.tile_mask.shape[1]
        tiles = torch.zeros((b, n, _width(targets, "tile_fractions")), dtype=torch.float32)
        for i, t in enumerate(targets):
            real = int(batch.tile_mask[i].sum())
            if t.tile_fractions is not None and len(t.tile_fractions) == real > 0:
                tiles[i, :real] = torch.from_numpy(t.tile_fractions)
                has_tiles[i] = True
    return TargetBatch(mri_f, has_mri_f, slide_f, has_slide_f, maps, has_maps, tiles, has_tiles)


def _width(targets: list[TrainingTargets], name: str) -> int:
    """Second dimension of a target across cases (1 when no case has it)."""
    for t in targets:
        value = getattr(t, name)
        if value is not None:
            return int(value.shape[-1])
    return 1


def soft_dice_loss(logits: Tensor, target: Tensor) -> Tensor:
    """Mean of 1 - soft Dice between sigmoid(logits) and (B, ...) fraction maps, over the
    cases whose map holds the structure (at least half a voxel); 0 when none does.

    A case without the structure (most have no thrombus) would meet its Dice only with an
    empty map everywhere, and outweigh the few that have one: with a per-case Dice over all
    cases the demo model's thrombus map stayed empty (Dice 0 on every thrombus). Such cases
    are left to the cross-entropy.
    """
    p, t = torch.sigmoid(logits).flatten(1), target.flatten(1)
    dice = (2 * (p * t).sum(dim=1) + 1.0) / (p.sum(dim=1) + t.sum(dim=1) + 1.0)
    has = t.sum(dim=1) > 0.5
    if not has.any():
        return torch.zeros((), device=logits.device)
    return (1.0 - dice[has]).mean()


def _target_loss(aux: AuxOutputs, t: TargetBatch, batch: InputBatch) -> Tensor:
    """Sum of the auxiliary-target losses, each averaged over the cases that have it."""
    bce = torch.nn.functional.binary_cross_entropy_with_logits
    total = torch.zeros((), device=t.mri_features.device)
    present = batch.modality_mask
    if aux.mri_features is not None:
        has = t.has_mri_features & present[:, 0]
        if has.any():
            total = total + ((aux.mri_features[has] - t.mri_features[has]) ** 2).mean()
    if aux.slide_features is not None:
        has = t.has_slide_features & present[:, 1]
        if has.any():
            total = total + ((aux.slide_features[has] - t.slide_features[has]) ** 2).mean()
    if aux.map_logits is not None:
        has = t.has_lesion_maps & present[:, 0]
        if has.any() and t.lesion_maps.shape[1] == aux.map_logits.shape[1]:
            z, y, x = aux.map_logits.shape[2:]
            target = torch.nn.functional.adaptive_avg_pool3d(t.lesion_maps[has], (z, y, x))
            logits = aux.map_logits[has]
            pos = torch.full_like(target[:1], _MAP_POS)
            pos[:, MRI_MAP_NAMES.index("liver")] = 1.0  # the liver map is not sparse
            total = total + bce(logits, target, pos_weight=pos)
            total = total + sum(
                (soft_dice_loss(logits[:, i], target[:, i]) for i in range(target.shape[1])),
                torch.zeros(()),
            )
    tile_mask = batch.tile_mask
    if aux.tile_outputs is not None and t.tile_fractions is not None and tile_mask is not None:
        has = t.has_tile_fractions & present[:, 1]
        if has.any():
            mask = tile_mask[has]  # (b, N)
            target = t.tile_fractions[has]
            weight = torch.full_like(target[0, :1], _TILE_POS)  # (1, T)
            weight[:, 0] = 1.0  # tumour covers about half the tiles: no reweighting
            per = bce(aux.tile_outputs[has], target, pos_weight=weight, reduction="none").mean(-1)
            total = total + (per * mask).sum() / mask.sum().clamp(min=1)
    return total


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


def augment(
    batch: InputBatch, generator: torch.Generator, targets: TargetBatch | None = None
) -> tuple[InputBatch, TargetBatch | None]:
    """Randomly perturbed copy of a CPU batch and its targets moved alike (module docstring)."""
    mri = batch.mri
    maps = targets.lesion_maps if targets is not None else None
    if mri is not None:
        b, p = mri.shape[:2]
        gain = torch.exp(0.1 * torch.randn((b, p, 1, 1, 1), generator=generator))
        shifted, shifted_maps = [], []
        for i in range(b):
            shift = [
                int(torch.randint(-m, m + 1, (1,), generator=generator)) for m in _MAX_SHIFT_ZYX
            ]
            shifted.append(torch.roll(mri[i], shifts=shift, dims=(1, 2, 3)))
            if maps is not None:
                shifted_maps.append(torch.roll(maps[i], shifts=shift, dims=(1, 2, 3)))
        mri = torch.stack(shifted) * gain
        if maps is not None:
            maps = torch.stack(shifted_maps)
    tiles, tile_mask = batch.tiles, batch.tile_mask
    tile_targets = targets.tile_fractions if targets is not None else None
    if tiles is not None and tile_mask is not None:
        tiles, tile_mask, tile_targets = _augment_tiles(tiles, tile_mask, generator, tile_targets)
    out = InputBatch(mri, tiles, tile_mask, batch.genes, batch.modality_mask)
    if targets is None:
        return out, None
    moved = dict(targets.__dict__)
    if maps is not None:
        moved["lesion_maps"] = maps
    moved["tile_fractions"] = tile_targets
    return out, TargetBatch(**moved)


def _augment_tiles(
    tiles: Tensor, tile_mask: Tensor, generator: torch.Generator, tile_targets: Tensor | None
) -> tuple[Tensor, Tensor, Tensor | None]:
    """Keep a random subset of each bag's tiles, rotate/flip them, jitter their colour.

    Args:
        tiles: (B, N, 3, h, w) uint8.
        tile_mask: (B, N) bool.
        tile_targets: (B, N, T) per-tile targets, kept for the same tiles, or None.

    Returns:
        (B, K, 3, h, w) float in [0, 1], the (B, K) mask and the (B, K, T) targets,
        K = min(N, 32).
    """
    b, n = tile_mask.shape
    keep = min(n, _TRAIN_TILES)
    out = torch.zeros((b, keep, *tiles.shape[2:]), dtype=torch.uint8)
    mask = torch.zeros((b, keep), dtype=torch.bool)
    kept_targets = (
        torch.zeros((b, keep, tile_targets.shape[2])) if tile_targets is not None else None
    )
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
        if kept_targets is not None and tile_targets is not None:
            kept_targets[i, :k] = tile_targets[i, pick]
    gain = 0.85 + 0.3 * torch.rand((b, 1, 3, 1, 1), generator=generator)
    offset = 0.03 * torch.randn((b, 1, 3, 1, 1), generator=generator)
    x = out.float().mul_(gain / 255.0).add_(offset).clamp_(0.0, 1.0)
    return x, mask, kept_targets
