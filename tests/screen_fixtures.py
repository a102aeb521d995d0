"""Fixtures of the batch-screening tests: small synthetic cases and a tiny checkpoint.

Cases come from `app.synth` (512 px slides: about half a second each); the checkpoint is an
untrained small Neoadj-Net (its outputs are whatever they are; the tests compare the record
with independent runs, never with fixed numbers).
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Sequence
from pathlib import Path

import pytest

from app.pseudonym import SiteSecret

CASES = 4
SEED = 11
SLIDE_PX = 512
CENTRE = "C2"


@pytest.fixture(scope="session")
def synthetic_cases(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """``CASES`` synthetic case folders (read-only: copy them with `make_root`)."""
    from app.synth.layout import cohort_case_id
    from app.synth.patient import PatientRequest, generate_patient

    out = tmp_path_factory.mktemp("screen_cohort")
    folders = []
    for i in range(CASES):
        cid = cohort_case_id(i)
        request = PatientRequest(cid, CENTRE, "train", SEED, i, slide_size_px=SLIDE_PX)
        generate_patient(request, out / "cases" / cid, out / "truth" / cid)
        folders.append(out / "cases" / cid)
    return folders


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small, untrained checkpoint folder (fast on CPU)."""
    import torch

    from inference.checkpoint import save_checkpoint
    from inference.input_spec import InputSpec
    from inference.model import ArchitectureConfig, NeoadjNet

    torch.manual_seed(0)
    out = tmp_path_factory.mktemp("screen_ckpt")
    save_checkpoint(
        NeoadjNet(
            ArchitectureConfig(
                mri_channels=(4, 8),
                tile_channels=(4, 8),
                embed_dim=8,
                attention_dim=8,
                fusion_hidden=8,
            )
        ).eval(),
        out,
        name="tiny-test",
        version="0",
        input_spec=InputSpec(
            grid_shape_zyx=(8, 16, 16),
            grid_spacing_mm_zyx=(20.0, 16.0, 16.0),
            tile_size_px=16,
            max_tiles=8,
        ),
        threshold=0.5,
        training_cohort={},
        metrics={},
        synthetic=True,
    )
    return out


@pytest.fixture
def secret_file(tmp_path: Path) -> Path:
    """A site-secret file holding a fixed test key."""
    path = tmp_path / "site_secret.key"
    path.write_text(bytes(range(32)).hex() + "\n", encoding="ascii")
    return path


def fixed_secret() -> SiteSecret:
    """The key in `secret_file`."""
    return SiteSecret(bytes(range(32)))


def make_root(
    root: Path, cases: Sequence[Path], *, garbage: bool = False, genes_only: bool = False
) -> Path:
    """A cases root with copies of ``cases`` and, on request, two cases that must fail:
    ``garbage`` (text and a fake .dcm) and ``genes-only`` (a gene panel and clinical data,
    no MRI or slide)."""
    root.mkdir(parents=True)
    for case in cases:
        shutil.copytree(case, root / case.name)
    if garbage:
        folder = root / "garbage"
        folder.mkdir()
        (folder / "notes.txt").write_text("not a case\n")
        (folder / "scan.dcm").write_bytes(b"\x00" * 64)
    if genes_only:
        source = cases[0]
        folder = root / "genes-only"
        shutil.copytree(source / "genomics", folder / "genomics")
        clinical = json.loads((source / "clinical.json").read_text())
        clinical["patient_id"] = "SYNTHETIC-GENES-ONLY"
        (folder / "clinical.json").write_text(json.dumps(clinical))
    return root


def input_hash(folder: Path) -> str:
    """The content hash of a synthetic case computed with hashlib alone: sha256 over the
    sorted sha256 of every file but the VCF index (which is not an input of its own)."""
    digests = sorted(
        hashlib.sha256(p.read_bytes()).hexdigest()
        for p in folder.rglob("*")
        if p.is_file() and p.suffix != ".tbi"
    )
    return hashlib.sha256("\n".join(digests).encode()).hexdigest()


def screen_args(root: Path, url: str, checkpoint: Path, secret: Path, *extra: str) -> list[str]:
    """``neoadj screen`` arguments for a test run (``--no-explain`` unless ``extra`` says)."""
    return [
        "screen",
        str(root),
        "--db",
        url,
        "--checkpoint",
        str(checkpoint),
        "--site-secret",
        str(secret),
        "--threads",
        "1",
        "--json",
        *extra,
    ]
