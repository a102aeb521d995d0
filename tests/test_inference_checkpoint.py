"""Checkpoints: round trip, and refusal of a wrong hash or another architecture version."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from app.errors import CheckpointError
from inference.batch import CaseArrays, collate
from inference.checkpoint import (
    MANIFEST_NAME,
    WEIGHTS_NAME,
    default_checkpoint_dir,
    load_checkpoint,
    save_checkpoint,
)
from inference.input_spec import InputSpec
from inference.model import ARCHITECTURE_VERSION, ArchitectureConfig, NeoadjNet

SPEC = InputSpec(grid_shape_zyx=(8, 16, 16), tile_size_px=16, max_tiles=4)
ARCH = ArchitectureConfig(
    mri_channels=(4, 8), tile_channels=(4, 8), embed_dim=8, attention_dim=8, fusion_hidden=8
)


def _save(tmp_path: Path) -> tuple[NeoadjNet, Path]:
    torch.manual_seed(0)
    model = NeoadjNet(ARCH).eval()
    out = tmp_path / "ckpt"
    save_checkpoint(
        model,
        out,
        name="test-net",
        version="9.9",
        input_spec=SPEC,
        threshold=0.4,
        training_cohort={"n_train": 0},
        metrics={"auc": None},
        synthetic=True,
    )
    return model, out


def test_round_trip_gives_the_same_outputs(tmp_path: Path) -> None:
    model, out = _save(tmp_path)
    ckpt = load_checkpoint(out)
    assert ckpt.info.name == "test-net" and ckpt.info.version == "9.9" and ckpt.info.synthetic
    assert ckpt.threshold == 0.4 and ckpt.input_spec == SPEC and ckpt.architecture == ARCH
    manifest = json.loads((out / MANIFEST_NAME).read_text())
    import hashlib

    assert ckpt.info.sha256 == hashlib.sha256((out / WEIGHTS_NAME).read_bytes()).hexdigest()
    assert manifest["weights"]["sha256"] == ckpt.info.sha256
    assert manifest["architecture"]["version"] == ARCHITECTURE_VERSION
    assert not ckpt.model.training
    rng = np.random.default_rng(0)
    case = CaseArrays(
        rng.random((4, 8, 16, 16), dtype=np.float32),
        rng.integers(0, 255, (3, 3, 16, 16), dtype=np.uint8),
        rng.random(14).astype(np.float32),
    )
    b = collate([case], SPEC)
    with torch.no_grad():
        a1 = model(b.mri, b.tiles, b.tile_mask, b.genes, b.modality_mask)
        a2 = ckpt.model(b.mri, b.tiles, b.tile_mask, b.genes, b.modality_mask)
    assert torch.equal(a1, a2)
    assert ckpt.info.to_json().keys() == {"path", "name", "version", "sha256", "synthetic"}


def test_wrong_weights_hash_is_refused(tmp_path: Path) -> None:
    _, out = _save(tmp_path)
    data = bytearray((out / WEIGHTS_NAME).read_bytes())
    data[-1] ^= 0xFF
    (out / WEIGHTS_NAME).write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="does not match its manifest"):
        load_checkpoint(out)


def test_other_architecture_version_is_refused(tmp_path: Path) -> None:
    _, out = _save(tmp_path)
    manifest = json.loads((out / MANIFEST_NAME).read_text())
    manifest["architecture"]["version"] = "999"
    (out / MANIFEST_NAME).write_text(json.dumps(manifest))
    with pytest.raises(CheckpointError, match="version 999"):
        load_checkpoint(out)


def test_weights_of_another_config_are_refused(tmp_path: Path) -> None:
    _, out = _save(tmp_path)
    manifest = json.loads((out / MANIFEST_NAME).read_text())
    manifest["architecture"]["config"]["embed_dim"] = 16
    (out / MANIFEST_NAME).write_text(json.dumps(manifest))
    with pytest.raises(CheckpointError, match="does not fit"):
        load_checkpoint(out)


def test_folder_without_manifest_is_refused(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match=r"no manifest\.json"):
        load_checkpoint(tmp_path)
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(tmp_path / "nowhere")
    (tmp_path / MANIFEST_NAME).write_text("{not json")
    with pytest.raises(CheckpointError, match="not readable JSON"):
        load_checkpoint(tmp_path)


def test_default_checkpoint_dir_is_in_resources() -> None:
    path = default_checkpoint_dir()
    assert path.parts[-3:] == ("resources", "checkpoints", "demo")
