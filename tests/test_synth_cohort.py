"""The synthetic cohort's files: layout, determinism, DICOM geometry, slide, VCF, ground truth.

One small cohort (2 training + 1 external patient) is generated once for the module; expected
values come from the ground truth (truth.json, masks) or from other libraries (pydicom,
OpenSlide, pysam, scikit-learn), never from the generator's own summaries.
"""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import json
import threading
from pathlib import Path
from typing import Any

import numpy as np
import openslide
import pydicom
import pysam
import pytest
from pydicom.filebase import DicomBytesIO
from sklearn.metrics import roc_auc_score

from app.clinical import ClinicalData
from app.errors import Cancelled, ScreeningError
from app.hashing import sha256_file
from app.synth import layout
from app.synth.cohort import generate_cohort
from app.synth.patient import PatientRequest, generate_patient

SEED = 11
PHASES = ("pre_contrast", "arterial", "portal_venous", "delayed")


@pytest.fixture(scope="module")
def cohort(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("cohort") / "out"
    generate_cohort(out, train_patients=2, seed=SEED, workers=1)
    return out


def _case_ids(out: Path) -> list[str]:
    with (out / layout.COHORT_CSV).open(encoding="utf-8") as fh:
        return [row["case_id"] for row in csv.DictReader(fh)]


def _truth(out: Path, case_id: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(
        (layout.cohort_truth_dir(out, case_id) / layout.TRUTH_JSON).read_text(encoding="utf-8")
    )
    return data


def _hashes(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): sha256_file(p)
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _series(case: Path, phase: str) -> list[pydicom.Dataset]:
    return [pydicom.dcmread(p) for p in sorted((case / layout.MRI_DIR / phase).glob("*.dcm"))]


def _volume(datasets: list[pydicom.Dataset]) -> np.ndarray:
    return np.stack(
        [d.pixel_array * float(d.RescaleSlope) + float(d.RescaleIntercept) for d in datasets]
    )


def test_cohort_layout(cohort: Path) -> None:
    ids = _case_ids(cohort)
    assert ids == ["SYN-0001", "SYN-0002", "SYN-0003"]
    with (cohort / layout.COHORT_CSV).open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == ["case_id", "centre", "split", "benefit_probability", "label"]
    assert [r["split"] for r in rows] == ["train", "train", "external"]
    assert rows[2]["centre"] == "EXT"
    for case_id in ids:
        case = layout.cohort_case_dir(cohort, case_id)
        truth = layout.cohort_truth_dir(cohort, case_id)
        for phase in PHASES:
            assert len(list((case / "mri" / phase).glob("*.dcm"))) >= 30
        for name in ("slide/slide.tiff", "genomics/panel.vcf.gz", "clinical.json", "case.json"):
            assert (case / name).is_file(), name
        for name in (
            "truth.json",
            "mri_tumour_mask.npz",
            "slide_tumour_mask.png",
            "slide_immune_mask.png",
            "slide_masks.npz",
        ):
            assert (truth / name).is_file(), name
        meta = json.loads((case / "case.json").read_text(encoding="utf-8"))
        assert meta == {
            "synthetic": True,
            "generator": "neoadj synth",
            "version": meta["version"],
            "seed": SEED,
            "case_id": case_id,
            "centre": rows[ids.index(case_id)]["centre"],
        }


@pytest.mark.slow
def test_same_seed_gives_identical_files_with_any_worker_count(
    cohort: Path, tmp_path: Path
) -> None:
    again = tmp_path / "again"
    generate_cohort(again, train_patients=2, seed=SEED, workers=2)
    first, second = _hashes(cohort), _hashes(again)
    assert len(first) > 400
    assert first == second


def test_different_seed_gives_different_files(cohort: Path, tmp_path: Path) -> None:
    request = PatientRequest("SYN-0001", "C1", "train", SEED + 1, 0)
    generate_patient(request, tmp_path / "case", tmp_path / "truth")
    original = _hashes(layout.cohort_case_dir(cohort, "SYN-0001"))
    other = _hashes(tmp_path / "case")
    assert set(original) == set(other)  # same centre: same file names
    compared = [k for k in original if not k.startswith("genomics/")]
    assert len(compared) > 100
    assert all(original[k] != other[k] for k in compared)


def test_dicom_geometry_frame_of_reference_and_phase_labels(cohort: Path) -> None:
    for case_id in _case_ids(cohort):
        case = layout.cohort_case_dir(cohort, case_id)
        truth = _truth(cohort, case_id)["mri"]
        frames, series_uids = set(), set()
        for phase in PHASES:
            series = _series(case, phase)
            first = series[0]
            assert first.SOPClassUID == pydicom.uid.MRImageStorage
            assert first.file_meta.TransferSyntaxUID == pydicom.uid.ExplicitVRLittleEndian
            assert first.pixel_array.dtype == np.uint16
            assert phase.replace("_", " ").replace("pre contrast", "pre-contrast") in (
                first.SeriesDescription
            )
            frames |= {d.FrameOfReferenceUID for d in series}
            series_uids |= {d.SeriesInstanceUID for d in series}
            assert len({d.SOPInstanceUID for d in series}) == len(series)
            positions = np.array([[float(v) for v in d.ImagePositionPatient] for d in series])
            steps = np.diff(positions, axis=0)
            normal = np.cross(
                [float(v) for v in first.ImageOrientationPatient[:3]],
                [float(v) for v in first.ImageOrientationPatient[3:]],
            )
            np.testing.assert_allclose(steps @ normal, float(first.SpacingBetweenSlices), atol=1e-3)
            np.testing.assert_allclose(steps - np.outer(steps @ normal, normal), 0, atol=1e-3)
            assert [float(v) for v in first.PixelSpacing] == truth["spacing_mm_zyx"][1:]
            assert (len(series), first.Rows, first.Columns) == tuple(truth["shape_zyx"])
            np.testing.assert_allclose(positions[0], truth["origin_mm"], atol=1e-3)
        assert len(frames) == 1 and frames == {truth["frame_of_reference_uid"]}
        assert len(series_uids) == 4


def test_contrast_timing_matches_phases(cohort: Path) -> None:
    def seconds(tm: str) -> float:
        t = dt.datetime.strptime(tm.split(".")[0], "%H%M%S")
        return t.hour * 3600 + t.minute * 60 + t.second

    case = layout.cohort_case_dir(cohort, "SYN-0001")
    pre = _series(case, "pre_contrast")[0]
    assert "ContrastBolusAgent" not in pre
    delays = {}
    for phase in PHASES[1:]:
        ds = _series(case, phase)[0]
        assert ds.ContrastBolusAgent in ("gadoxetate", "gadobutrol")
        delays[phase] = seconds(ds.AcquisitionTime) - seconds(ds.ContrastBolusStartTime)
    assert 15 <= delays["arterial"] <= 40
    assert 60 <= delays["portal_venous"] <= 90
    assert 150 <= delays["delayed"] <= 240
    assert seconds(pre.AcquisitionTime) < seconds(
        _series(case, "arterial")[0].ContrastBolusStartTime
    )


def test_written_dicom_equals_pydicoms_own_encoding(cohort: Path) -> None:
    path = sorted((layout.cohort_case_dir(cohort, "SYN-0002") / "mri" / "arterial").glob("*.dcm"))[
        3
    ]
    ds = pydicom.dcmread(path)
    buffer = DicomBytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    assert buffer.getvalue() == path.read_bytes()


def test_planted_tumours_are_hyperenhancing_in_the_arterial_dicom(cohort: Path) -> None:
    for case_id in _case_ids(cohort):
        truth = _truth(cohort, case_id)
        masks = np.load(layout.cohort_truth_dir(cohort, case_id) / layout.MRI_MASK_NPZ)
        case = layout.cohort_case_dir(cohort, case_id)
        labels = masks["tumour_labels"]
        viable = (labels > 0) & ~masks["necrosis"] & ~masks["capsule"]
        liver = masks["liver"] & (labels == 0) & ~masks["vessels"] & ~masks["thrombus"]
        assert viable.sum() > 20 and liver.sum() > 1000
        arterial = _volume(_series(case, "arterial"))
        portal = _volume(_series(case, "portal_venous"))
        assert arterial.shape == labels.shape
        aphe = arterial[viable].mean() / arterial[liver].mean()
        washout = portal[viable].mean() / portal[liver].mean()
        planted = truth["features"]
        assert aphe == pytest.approx(planted["aphe_ratio"], rel=0.2)
        assert washout == pytest.approx(planted["washout_ratio"], rel=0.2)
        assert washout < 1.0 < aphe
        for i, tumour in enumerate(truth["mri"]["tumours"], start=1):
            voxels = np.argwhere(labels == i)
            centre = (np.array(truth["mri"]["affine_zyx"]) @ np.r_[voxels.mean(0), 1])[:3]
            assert np.linalg.norm(centre - tumour["centre_mm"]) < 8.0
        if planted["necrosis_fraction"] > 0.1:
            necrosis = masks["necrosis"]
            assert arterial[necrosis].mean() < 0.6 * arterial[viable].mean()


def test_slide_opens_in_openslide_with_levels_mpp_and_label(cohort: Path) -> None:
    slide = openslide.OpenSlide(layout.cohort_case_dir(cohort, "SYN-0001") / layout.SLIDE_PATH)
    try:
        assert slide.properties[openslide.PROPERTY_NAME_VENDOR] == "generic-tiff"
        assert slide.level_dimensions == (
            (4096, 4096),
            (2048, 2048),
            (1024, 1024),
            (512, 512),
            (256, 256),
        )
        assert float(slide.properties[openslide.PROPERTY_NAME_MPP_X]) == pytest.approx(1.0)
        assert slide.level_downsamples == pytest.approx((1.0, 2.0, 4.0, 8.0, 16.0))
        assert "SYNTHETIC" in slide.properties[openslide.PROPERTY_NAME_COMMENT]
    finally:
        slide.close()


def test_slide_features_are_visible_at_two_microns(cohort: Path) -> None:
    """At level 1 (2 µm/px), immune aggregates are darker than viable tumour, tissue darker
    than glass, and tumour darker (denser, larger nuclei) than normal liver."""
    for case_id in _case_ids(cohort):
        masks = np.load(layout.cohort_truth_dir(cohort, case_id) / layout.SLIDE_MASKS_NPZ)
        down = int(masks["downsample"])
        slide = openslide.OpenSlide(layout.cohort_case_dir(cohort, case_id) / layout.SLIDE_PATH)
        try:
            w, h = slide.level_dimensions[1]
            level1 = np.asarray(slide.read_region((0, 0), 1, (w, h)).convert("L"), dtype=float)
        finally:
            slide.close()
        cell = down // 2  # one mask pixel in level-1 pixels
        cells = level1.reshape(h // cell, cell, w // cell, cell).mean(axis=(1, 3))
        tissue, tumour, immune = masks["tissue"], masks["tumour"], masks["immune"]
        viable = tumour & ~masks["necrosis"] & ~immune
        normal = tissue & ~tumour
        glass = ~tissue
        assert cells[glass].mean() > 220
        assert cells[tissue].mean() < cells[glass].mean() - 30
        if normal.sum() > 50 and viable.sum() > 50:
            assert cells[viable].mean() < cells[normal].mean() - 10
        if immune.sum() > 10:
            assert cells[immune].mean() < cells[viable].mean() - 15


def test_vcf_holds_the_planted_genes(cohort: Path) -> None:
    for case_id in _case_ids(cohort):
        planted = _truth(cohort, case_id)["features"]
        path = layout.cohort_case_dir(cohort, case_id) / layout.PANEL_PATH
        with gzip.open(path, "rt", encoding="ascii") as fh:
            header = [line for line in fh if line.startswith("##")]
        assert "##source=SYNTHETIC neoadj synth" in "".join(header)
        assert "##reference=GRCh38\n" in header
        with pysam.VariantFile(str(path)) as vcf:
            assert list(vcf.header.samples) == ["SYNTHETIC_TUMOUR"]
            assert vcf.header.contigs["chr1"].length == 248956422
            assert vcf.header.contigs["chr17"].length == 83257441
            fields = vcf.header.info["CSQ"].description.split("Format: ")[1].split("|")
            symbol = fields.index("SYMBOL")
            genes: dict[str, str] = {}
            for record in vcf:
                for csq in record.info["CSQ"]:
                    genes[csq.split("|")[symbol]] = record.alts[0]
                if record.alts[0] == "<DUP>":
                    assert record.info["SVTYPE"] == "DUP" and record.info["CN"] >= 3
                    assert record.stop > record.pos
        expected = planted["mutated_genes"] + planted["amplified_genes"] + planted["deleted_genes"]
        assert sorted(genes) == sorted(expected)
        assert all(genes[g] == "<DUP>" for g in planted["amplified_genes"])


def test_bayes_auc_equals_sklearn_on_the_ground_truth(cohort: Path) -> None:
    report = json.loads((cohort / layout.COHORT_JSON).read_text(encoding="utf-8"))
    truths = [_truth(cohort, c) for c in _case_ids(cohort)]
    labels = [t["label"] for t in truths]
    probabilities = [t["benefit_probability"] for t in truths]
    with (cohort / layout.COHORT_CSV).open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert [float(r["benefit_probability"]) for r in rows] == probabilities
    assert [int(r["label"]) for r in rows] == labels
    expected = roc_auc_score(labels, probabilities) if len(set(labels)) == 2 else None
    assert report["splits"]["all"]["bayes_optimal_auc"] == (
        pytest.approx(expected) if expected is not None else None
    )
    assert 0.8 < report["population_bayes_optimal_auc"] < 0.95
    assert report["train_patients"] == 2 and report["external_patients"] == 1


def test_every_file_says_synthetic(cohort: Path) -> None:
    case = layout.cohort_case_dir(cohort, "SYN-0003")
    for phase in PHASES:
        ds = _series(case, phase)[0]
        assert str(ds.PatientName) == "SYNTHETIC^SYN-0003"
        assert ds.PatientID == "SYN-0003"
        assert "SYNTHETIC" in ds.ImageComments and "SYNTHETIC" in ds.SeriesDescription
        assert "SYNTHETIC" in ds.StudyDescription
    clinical = json.loads((case / "clinical.json").read_text(encoding="utf-8"))
    assert clinical["patient_id"].startswith("SYNTHETIC-")
    assert json.loads((case / "case.json").read_text(encoding="utf-8"))["synthetic"] is True
    assert _truth(cohort, "SYN-0003")["synthetic"] is True


def test_clinical_data_matches_the_planted_tumours(cohort: Path) -> None:
    for case_id in _case_ids(cohort):
        planted = _truth(cohort, case_id)["features"]
        clinical = ClinicalData.from_json_file(
            layout.cohort_case_dir(cohort, case_id) / "clinical.json"
        )
        assert clinical.nodule_count == len(planted["tumour_diameters_mm"])
        assert clinical.largest_diameter_mm == pytest.approx(
            planted["tumour_diameters_mm"][0], abs=0.5
        )
        assert clinical.macrovascular_invasion == planted["macrovascular_invasion"]
        assert clinical.ecog in (0, 1) and clinical.biopsy_confirmed_hcc is True
        assert clinical.date_of_birth is not None and clinical.screening_date is not None
        age = (clinical.screening_date - clinical.date_of_birth).days / 365.25
        assert 18 <= age <= 75


def test_refuses_a_non_empty_output_folder(tmp_path: Path) -> None:
    (tmp_path / "existing.txt").write_text("keep me", encoding="utf-8")
    with pytest.raises(ScreeningError, match="not empty"):
        generate_cohort(tmp_path, train_patients=1, seed=1)
    assert (tmp_path / "existing.txt").read_text(encoding="utf-8") == "keep me"


@pytest.mark.parametrize(("patients", "workers"), [(0, 1), (2, 0)])
def test_refuses_bad_counts(tmp_path: Path, patients: int, workers: int) -> None:
    with pytest.raises(ScreeningError):
        generate_cohort(tmp_path / "out", train_patients=patients, seed=1, workers=workers)


def test_cancel_stops_before_the_first_patient(tmp_path: Path) -> None:
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(Cancelled):
        generate_cohort(tmp_path / "out", train_patients=3, seed=1, cancel=cancel)
    assert not (tmp_path / "out" / layout.COHORT_CSV).exists()


@pytest.mark.slow
def test_cancel_stops_a_parallel_cohort(tmp_path: Path) -> None:
    cancel = threading.Event()

    def progress(done: int, total: int) -> None:
        cancel.set()

    with pytest.raises(Cancelled):
        generate_cohort(
            tmp_path / "out", train_patients=8, seed=1, workers=2, progress=progress, cancel=cancel
        )
    written = list((tmp_path / "out" / layout.COHORT_TRUTH_DIR).glob("*/truth.json"))
    assert 1 <= len(written) < 10
    assert not (tmp_path / "out" / layout.COHORT_CSV).exists()
