"""Neoadj-Net on tensors: shapes, missing modalities, attention, and a loss that falls."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from inference.batch import CaseArrays, collate
from inference.input_spec import InputSpec
from inference.model import MRI_MAP_NAMES, ArchitectureConfig, NeoadjNet, NeoadjOutput
from inference.training import TrainConfig, predict_arrays, train_model
from inference.training_targets import TrainingTargets

SPEC = InputSpec(grid_shape_zyx=(8, 16, 16), tile_size_px=16, max_tiles=6)
ARCH = ArchitectureConfig(
    mri_channels=(4, 8), tile_channels=(4, 8), embed_dim=8, attention_dim=8, fusion_hidden=8
)


def _case(
    rng: np.random.Generator,
    *,
    mri: bool = True,
    slide: bool = True,
    genes: bool = True,
    tiles: int = 5,
) -> CaseArrays:
    return CaseArrays(
        rng.random((4, *SPEC.grid_shape_zyx), dtype=np.float32) if mri else None,
        rng.integers(0, 255, (tiles, 3, 16, 16), dtype=np.uint8) if slide else None,
        (rng.random(14) > 0.5).astype(np.float32) if genes else None,
    )


@pytest.fixture
def model() -> NeoadjNet:
    torch.manual_seed(0)
    return NeoadjNet(ARCH).eval()


def test_every_subset_of_modalities_predicts(model: NeoadjNet) -> None:
    rng = np.random.default_rng(0)
    for mask in itertools.product([False, True], repeat=3):
        if not any(mask):
            continue
        batch = collate([_case(rng, mri=mask[0], slide=mask[1], genes=mask[2])], SPEC)
        logits = model(batch.mri, batch.tiles, batch.tile_mask, batch.genes, batch.modality_mask)
        assert logits.shape == (1,)
        assert torch.isfinite(logits).all()


def test_absent_modality_input_is_ignored(model: NeoadjNet) -> None:
    rng = np.random.default_rng(1)
    batch = collate([_case(rng)], SPEC)
    mask = torch.tensor([[False, True, True]])
    a = model(batch.mri, batch.tiles, batch.tile_mask, batch.genes, mask)
    b = model(batch.mri * 0 + 3.0, batch.tiles, batch.tile_mask, batch.genes, mask)
    c = model(None, batch.tiles, batch.tile_mask, batch.genes, mask)
    assert torch.equal(a, b) and torch.equal(a, c)
    full = model(
        batch.mri, batch.tiles, batch.tile_mask, batch.genes, torch.ones(1, 3, dtype=torch.bool)
    )
    assert not torch.equal(a, full)


def test_attention_covers_real_tiles_only(model: NeoadjNet) -> None:
    rng = np.random.default_rng(2)
    batch = collate([_case(rng, tiles=5), _case(rng, tiles=2), _case(rng, slide=False)], SPEC)
    assert batch.tiles is not None and batch.tile_mask is not None
    with torch.no_grad():
        out = model(
            batch.mri,
            batch.tiles,
            batch.tile_mask,
            batch.genes,
            batch.modality_mask,
            return_attention=True,
        )
    assert isinstance(out, NeoadjOutput) and out.attention is not None
    sums = out.attention.sum(dim=1)
    assert torch.allclose(sums[:2], torch.ones(2), atol=1e-6)
    assert float(sums[2]) == 0.0
    assert float(out.attention[1, 2:].abs().sum()) == 0.0


def test_padding_tiles_do_not_change_the_prediction(model: NeoadjNet) -> None:
    rng = np.random.default_rng(3)
    short = _case(rng, tiles=2)
    alone = collate([short], SPEC)
    padded = collate([short, _case(rng, tiles=6)], SPEC)
    a = model(alone.mri, alone.tiles, alone.tile_mask, alone.genes, alone.modality_mask)
    b = model(padded.mri, padded.tiles, padded.tile_mask, padded.genes, padded.modality_mask)
    assert torch.allclose(a[0], b[0], atol=1e-5)


def test_tile_features_path_matches_images(model: NeoadjNet) -> None:
    rng = np.random.default_rng(4)
    batch = collate([_case(rng)], SPEC)
    assert batch.tiles is not None
    feats = model.slide_branch.encode_tiles(batch.tiles)
    a = model(batch.mri, batch.tiles, batch.tile_mask, batch.genes, batch.modality_mask)
    b = model(batch.mri, feats, batch.tile_mask, batch.genes, batch.modality_mask)
    assert torch.allclose(a, b, atol=1e-6)


def test_last_conv_is_a_3d_convolution(model: NeoadjNet) -> None:
    assert isinstance(model.mri_branch.last_conv, torch.nn.Conv3d)
    assert model.mri_branch.last_conv.out_channels == ARCH.mri_channels[-1]


def test_lesion_maps_come_out_on_the_full_model_grid(model: NeoadjNet) -> None:
    batch = collate([_case(np.random.default_rng(4))], SPEC)
    out = model(
        batch.mri, batch.tiles, batch.tile_mask, batch.genes, batch.modality_mask, return_aux=True
    )
    assert out.aux.map_logits.shape == (1, len(MRI_MAP_NAMES), *SPEC.grid_shape_zyx)


def test_the_mri_branch_reads_lesion_to_liver_enhancement_under_any_gain() -> None:
    """Benefit = a bright arterial lesion relative to its liver, with a random scanner gain per
    case (the absolute brightness says nothing): the maps learn where lesion and liver are, and
    the lesion-to-liver ratio separates the classes."""
    rng = np.random.default_rng(11)
    z, y, x = SPEC.grid_shape_zyx
    cases, labels, targets = [], [], []
    for i in range(16):
        tumour = np.zeros(SPEC.grid_shape_zyx, np.float32)
        c = rng.integers(3, [z - 3, y - 5, x - 5])
        tumour[c[0] - 2 : c[0] + 2, c[1] - 3 : c[1] + 3, c[2] - 3 : c[2] + 3] = 1.0
        liver = 1.0 - tumour
        label = i % 2
        ratio = 2.0 if label else 1.15
        gain = rng.uniform(0.5, 2.0)
        mri = np.stack([np.ones_like(tumour)] * 4) * gain
        mri[1] *= 1.0 + (ratio - 1.0) * tumour  # arterial hyperenhancement
        mri += rng.normal(0.0, 0.03, mri.shape).astype(np.float32)
        maps = np.stack([tumour, np.zeros_like(tumour), np.zeros_like(tumour), liver])
        cases.append(CaseArrays(mri.astype(np.float32), None, None))
        labels.append(label)
        targets.append(TrainingTargets(lesion_maps=maps))
    arch = ArchitectureConfig(**{**ARCH.__dict__, "modality_dropout": 0.0, "dropout": 0.0})
    config = TrainConfig(
        epochs=40, batch_size=4, learning_rate=3e-2, aux_weight=0.0, head_epochs=0, seed=0
    )
    model, _ = train_model(cases, np.array(labels), SPEC, arch, config, targets=targets)
    probs = predict_arrays(model, cases, SPEC)
    y = np.array(labels)
    assert probs[y == 1].min() > probs[y == 0].max()


def test_training_loss_falls_on_a_learnable_task() -> None:
    rng = np.random.default_rng(5)
    cases = [_case(rng) for _ in range(8)]
    labels = np.array([int(c.genes is not None and c.genes[0] > 0.5) for c in cases])
    labels[:2] = [0, 1]
    cases[0].genes[0], cases[1].genes[0] = 0.0, 1.0  # type: ignore[index]
    arch = ArchitectureConfig(**{**ARCH.__dict__, "modality_dropout": 0.0, "dropout": 0.0})
    config = TrainConfig(epochs=20, batch_size=2, learning_rate=2e-2, aux_weight=0.0, seed=0)
    model, losses = train_model(cases, labels, SPEC, arch, config)
    assert len(losses) == 20
    assert np.mean(losses[-3:]) < 0.7 * np.mean(losses[:3])
    probs = predict_arrays(model, cases, SPEC)
    assert probs.shape == (8,) and np.all((probs >= 0) & (probs <= 1))
    assert probs[labels == 1].min() > probs[labels == 0].max()  # the gene rule was learnt


def test_training_is_deterministic_from_the_seed() -> None:
    rng = np.random.default_rng(6)
    cases = [_case(rng) for _ in range(4)]
    labels = np.array([0, 1, 0, 1])
    config = TrainConfig(epochs=2, batch_size=2, seed=3)
    m1, l1 = train_model(cases, labels, SPEC, ARCH, config)
    m2, l2 = train_model(cases, labels, SPEC, ARCH, config)
    assert l1 == l2
    for (k, v), (_, w) in zip(m1.state_dict().items(), m2.state_dict().items(), strict=True):
        assert torch.equal(v, w), k
