"""The runner on built cases: every modality subset, bad input flagged or refused, cancel."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from app.case import Case
from app.errors import Cancelled, CheckpointError, InputValidationError
from app.imaging.series import MriSeries, Phase
from app.slides import open_slide, write_pyramidal_tiff
from inference.checkpoint import load_checkpoint, save_checkpoint
from inference.device import DeviceUnavailableError, configure_determinism, select_device
from inference.input_spec import InputSpec
from inference.model import ArchitectureConfig, NeoadjNet
from inference.runner import Prediction, predict_case

SPEC = InputSpec(
    grid_shape_zyx=(8, 16, 16),
    grid_spacing_mm_zyx=(10.0, 10.0, 10.0),
    tile_size_px=16,
    tile_mpp=2.0,
    max_tiles=8,
)
ARCH = ArchitectureConfig(
    mri_channels=(4, 8), tile_channels=(4, 8), embed_dim=8, attention_dim=8, fusion_hidden=8
)
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


class FakePanel:
    """A gene panel with given altered genes (the runner only calls these two methods)."""

    def __init__(self, altered: set[str], extra: list[str] | None = None) -> None:
        self.altered, self.extra = altered, extra or []

    def alteration_calls(self, genes: tuple[str, ...]) -> dict[str, float]:
        return {g: float(g in self.altered) for g in genes}

    def unknown_genes(self, genes: tuple[str, ...]) -> list[str]:
        return sorted(self.extra)


def _series(phase: Phase) -> MriSeries:
    shape = (20, 40, 40)
    s = MriSeries(
        Path("mri"),
        f"uid-{phase}",
        "",
        phase,
        (),
        shape[0],
        np.zeros((1, *shape), np.float32),
        (8.0, 8.0, 8.0),
        (-160.0, -150.0, -80.0),
        (1.0, 0.0, 0.0, 0.0, 1.0, 0.0),
        "for-1",
    )
    zz, yy, xx = np.indices(shape)
    body = ((xx - 20) / 19) ** 2 + ((yy - 20) / 15) ** 2 <= 1
    lesion = (zz - 10) ** 2 + (yy - 18) ** 2 + (xx - 12) ** 2 <= 9
    s.voxels[0] = np.where(body, 100.0, 0.0) + np.where(lesion, 150.0, 0.0)
    return s


def _slide(path: Path, *, tissue: bool) -> Path:
    img = np.full((1024, 1024, 3), 242, np.uint8)
    if tissue:
        rng = np.random.default_rng(0)
        img[200:800, 200:800] = (190, 110, 170)
        img[200:800, 200:800] += rng.integers(0, 20, (600, 600, 1), dtype=np.uint8)
    write_pyramidal_tiff(path, img, 0.5, "SYNTHETIC test slide", compression="deflate")
    return path


@pytest.fixture(scope="module")
def checkpoint_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)
    out = tmp_path_factory.mktemp("ckpt")
    save_checkpoint(
        NeoadjNet(ARCH).eval(),
        out,
        name="tiny",
        version="0",
        input_spec=SPEC,
        threshold=0.5,
        training_cohort={},
        metrics={},
        synthetic=True,
    )
    return out


@pytest.fixture(scope="module")
def slides(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("slides")
    return {
        "tissue": _slide(folder / "t.tiff", tissue=True),
        "blank": _slide(folder / "b.tiff", tissue=False),
    }


def _case(
    slides: dict[str, Path],
    *,
    phases: tuple[Phase, ...] = tuple(SPEC.phases),
    slide: str | None = "tissue",
    panel: FakePanel | None = None,
) -> Case:
    case = Case(root=None, meta={"synthetic": True})
    case.mri = [_series(p) for p in phases]
    if slide is not None:
        with open_slide(slides[slide]) as reader:
            case.slides = [reader.info]
    case.genomics = [panel or FakePanel({"VEGFA", "TP53"})]  # type: ignore[list-item]
    return case


def test_full_case_predicts_with_every_modality(
    slides: dict[str, Path], checkpoint_dir: Path
) -> None:
    pred = predict_case(_case(slides), checkpoint_dir, device="cpu")
    assert isinstance(pred, Prediction)
    assert 0.0 <= pred.probability <= 1.0
    assert pred.modalities_used == ["mri", "slide", "genes"] and pred.modalities_missing == []
    assert pred.predicted_benefit == (pred.probability >= pred.threshold)
    out = pred.to_json()
    assert out.keys() >= JSON_KEYS
    assert out["checkpoint"].keys() == {"path", "name", "version", "sha256", "synthetic"}
    assert {"mri", "slide", "genes", "forward", "total"} <= out["timings_s"].keys()


def test_same_case_same_probability(slides: dict[str, Path], checkpoint_dir: Path) -> None:
    ckpt = load_checkpoint(checkpoint_dir)
    a = predict_case(_case(slides), ckpt, device="cpu").probability
    b = predict_case(_case(slides), ckpt, device="cpu").probability
    assert abs(a - b) <= 1e-6


def test_case_without_mri_predicts_and_says_so(
    slides: dict[str, Path], checkpoint_dir: Path
) -> None:
    pred = predict_case(_case(slides, phases=()), checkpoint_dir, device="cpu")
    assert pred.modalities_missing == ["mri"]
    assert any("no MRI" in f for f in pred.flags)


def test_mri_without_arterial_phase_is_flagged(
    slides: dict[str, Path], checkpoint_dir: Path
) -> None:
    phases = (Phase.PRE_CONTRAST, Phase.PORTAL_VENOUS, Phase.DELAYED)
    pred = predict_case(_case(slides, phases=phases), checkpoint_dir, device="cpu")
    assert "mri" in pred.modalities_used
    assert any("no arterial phase" in f for f in pred.flags)


def test_slide_without_tissue_drops_the_slide(
    slides: dict[str, Path], checkpoint_dir: Path
) -> None:
    pred = predict_case(_case(slides, slide="blank"), checkpoint_dir, device="cpu")
    assert pred.modalities_missing == ["slide"]
    assert any("no tissue" in f for f in pred.flags)


def test_panel_with_unknown_genes_is_flagged(slides: dict[str, Path], checkpoint_dir: Path) -> None:
    panel = FakePanel({"TP53"}, extra=["BRCA1", "KRAS"])
    pred = predict_case(_case(slides, panel=panel), checkpoint_dir, device="cpu")
    assert "genes" in pred.modalities_used
    assert any("BRCA1" in f and "KRAS" in f for f in pred.flags)


def test_nothing_usable_is_refused(checkpoint_dir: Path) -> None:
    with pytest.raises(InputValidationError, match="nothing to predict from"):
        predict_case(Case(root=None), checkpoint_dir, device="cpu")


def test_bad_checkpoint_is_refused(slides: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(CheckpointError):
        predict_case(_case(slides), tmp_path, device="cpu")


def test_cancel_in_the_tile_loop_stops_within_a_second(
    slides: dict[str, Path], checkpoint_dir: Path
) -> None:
    cancel = threading.Event()
    set_at: list[float] = []

    def progress(done: int, total: int) -> None:
        if done > 40 and not cancel.is_set():  # the slide's share of the 0-100 scale
            set_at.append(time.perf_counter())
            cancel.set()

    with pytest.raises(Cancelled):
        predict_case(_case(slides), checkpoint_dir, device="cpu", progress=progress, cancel=cancel)
    assert set_at and time.perf_counter() - set_at[0] < 1.0


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_without_a_gpu_is_a_clear_error() -> None:
    assert select_device(None) == "cpu"
    with pytest.raises(DeviceUnavailableError, match="no CUDA GPU"):
        select_device("cuda")


def test_float32_stays_ieee_so_cpu_and_cuda_agree() -> None:
    """cuDNN convolutions default to TF32 (about 1e-3 relative error) on recent GPUs."""
    torch.backends.cudnn.conv.fp32_precision = "tf32"  # type: ignore[attr-defined]
    torch.backends.cuda.matmul.fp32_precision = "tf32"
    configure_determinism()
    assert torch.backends.cudnn.conv.fp32_precision == "ieee"  # type: ignore[attr-defined]
    assert torch.backends.cuda.matmul.fp32_precision == "ieee"
