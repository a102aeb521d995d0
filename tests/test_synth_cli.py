"""``neoadj synth demo`` through the real command line: layout, labels and bad arguments."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import openslide
import pydicom
import pytest

from app.cli import main
from app.synth.generating_model import benefit_scores, demo_features


def test_demo_case_layout_and_labels(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "demo"
    assert main(["synth", "demo", str(out), "--slide-size", "1024"]) == 0
    assert "demo case written" in capsys.readouterr().out
    case, truth = out / "case", out / "truth"
    assert sorted(p.name for p in out.iterdir()) == ["case", "truth"]
    assert sorted(p.name for p in (case / "mri").iterdir()) == [
        "arterial",
        "delayed",
        "portal_venous",
        "pre_contrast",
    ]
    assert {p.name for p in case.iterdir()} == {
        "mri",
        "slide",
        "genomics",
        "clinical.json",
        "case.json",
    }
    assert {p.name for p in truth.iterdir()} == {
        "truth.json",
        "mri_tumour_mask.npz",
        "slide_tumour_mask.png",
        "slide_immune_mask.png",
        "slide_masks.npz",
    }
    meta = json.loads((case / "case.json").read_text(encoding="utf-8"))
    assert meta["case_id"] == "DEMO-0001" and meta["synthetic"] is True
    assert meta["generator"] == "neoadj synth" and meta["seed"] == 1 and meta["centre"] == "C1"
    ds = pydicom.dcmread(next((case / "mri" / "arterial").glob("*.dcm")))
    assert str(ds.PatientName) == "SYNTHETIC^DEMO"
    slide = openslide.OpenSlide(case / "slide" / "slide.tiff")
    try:
        assert slide.dimensions == (1024, 1024)
    finally:
        slide.close()
    recorded = json.loads((truth / "truth.json").read_text(encoding="utf-8"))
    assert recorded["benefit_probability"] == pytest.approx(
        benefit_scores(demo_features()).probability
    )
    with np.load(truth / "mri_tumour_mask.npz") as masks:
        assert int(masks["tumour_labels"].max()) == len(demo_features().tumour_diameters_mm)
        assert masks["thrombus"].any()  # the demo patient has macrovascular invasion
    clinical = json.loads((case / "clinical.json").read_text(encoding="utf-8"))
    assert clinical["nodule_count"] == 2 and clinical["macrovascular_invasion"] is True


def test_demo_refuses_a_non_empty_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "notes.txt").write_text("x", encoding="utf-8")
    assert main(["synth", "demo", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "not empty" in err and "Traceback" not in err


@pytest.mark.parametrize(
    "argv",
    [
        ["synth", "demo", "{out}", "--slide-size", "1000"],
        ["synth", "demo", "{out}", "--slide-size", "256"],
        ["synth", "cohort", "{out}", "--patients", "0"],
        ["synth", "cohort", "{out}", "--patients", "2", "--workers", "0"],
    ],
)
def test_bad_arguments_exit_2_with_a_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    out = tmp_path / "out"
    assert main([a.replace("{out}", str(out)) for a in argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("neoadj synth:") and "Traceback" not in err
    assert not out.exists()
