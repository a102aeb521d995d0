"""``neoadj predict`` and ``neoadj train`` end to end on synthetic cases made in tmp_path."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from app.cli import main
from app.synth.cohort import generate_demo
from inference.checkpoint import (
    WEIGHTS_NAME,
    default_checkpoint_dir,
    load_checkpoint,
    save_checkpoint,
)
from inference.input_spec import InputSpec
from inference.model import ArchitectureConfig, NeoadjNet

JSON_KEYS = {
    "probability",
    "threshold",
    "predicted_benefit",
    "modalities_used",
    "modalities_missing",
    "device",
    "timings_s",
    "checkpoint",
}


@pytest.fixture(scope="module")
def demo_case(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("demo")
    generate_demo(out, slide_size_px=4096)  # the cohort slides size
    return out / "case"


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)
    arch = ArchitectureConfig(
        mri_channels=(4, 8), tile_channels=(4, 8), embed_dim=8, attention_dim=8, fusion_hidden=8
    )
    out = tmp_path_factory.mktemp("tiny")
    save_checkpoint(
        NeoadjNet(arch),
        out,
        name="tiny",
        version="0",
        input_spec=InputSpec(max_tiles=8),
        threshold=0.5,
        training_cohort={},
        metrics={},
        synthetic=True,
    )
    return out


def test_predict_json_is_one_object(
    demo_case: Path, tiny_checkpoint: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        [
            "predict",
            str(demo_case),
            "--checkpoint",
            str(tiny_checkpoint),
            "--device",
            "cpu",
            "--json",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    obj = json.loads(out)  # exactly one JSON document: trailing text would fail here
    assert obj.keys() >= JSON_KEYS
    assert obj["modalities_used"] == ["mri", "slide", "genes"] and obj["modalities_missing"] == []
    assert obj["device"] == "cpu" and obj["checkpoint"]["name"] == "tiny"
    assert obj["synthetic_case"] is True


def test_predict_with_a_corrupt_checkpoint_exits_2(
    demo_case: Path, tiny_checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad"
    bad.mkdir()
    for f in tiny_checkpoint.iterdir():
        (bad / f.name).write_bytes(f.read_bytes())
    weights = bad / WEIGHTS_NAME
    weights.write_bytes(weights.read_bytes()[:-4] + b"\0\0\0\0")
    code = main(["predict", str(demo_case), "--checkpoint", str(bad), "--json"])
    err = capsys.readouterr().err
    assert code == 2
    assert "does not match its manifest" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_predict_on_a_missing_case_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["predict", str(tmp_path / "nowhere"), "--json"]) == 2
    assert "does not exist" in capsys.readouterr().err


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_predict_on_cuda_without_gpu_exits_2(
    demo_case: Path, tiny_checkpoint: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        ["predict", str(demo_case), "--checkpoint", str(tiny_checkpoint), "--device", "cuda"]
    )
    assert code == 2 and "no CUDA GPU" in capsys.readouterr().err


@pytest.mark.slow
def test_demo_checkpoint_predicts_the_demo_case(
    demo_case: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ckpt = load_checkpoint(default_checkpoint_dir())
    assert ckpt.info.synthetic
    runs = []
    for _ in range(2):
        assert main(["predict", str(demo_case), "--device", "cpu", "--json"]) == 0
        runs.append(json.loads(capsys.readouterr().out))
    assert runs[0]["checkpoint"]["sha256"] == ckpt.info.sha256
    assert abs(runs[0]["probability"] - runs[1]["probability"]) <= 1e-6
    assert runs[0]["modalities_missing"] == []


@pytest.mark.slow
def test_train_writes_a_loadable_checkpoint(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cohort = tmp_path / "cohort"
    assert (
        main(["synth", "cohort", str(cohort), "--patients", "6", "--seed", "5", "--workers", "1"])
        == 0
    )
    capsys.readouterr()  # the synth command's own summary
    out = tmp_path / "ckpt"
    code = main(
        [
            "train",
            str(cohort),
            "--out",
            str(out),
            "--epochs",
            "2",
            "--batch-size",
            "3",
            "--threads",
            "1",
            "--json",
        ]
    )
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    ckpt = load_checkpoint(out)
    assert ckpt.info.sha256 == report["checkpoint"]["sha256"]
    assert ckpt.manifest["synthetic"] is True
    assert ckpt.manifest["training_cohort"]["n_train"] == 6
    assert len(ckpt.manifest["metrics"]["epoch_losses"]) == 2
    assert 0.0 <= ckpt.threshold <= 1.0
