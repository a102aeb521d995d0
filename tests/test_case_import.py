"""Case import across kinds, and the `neoadj inspect` contract."""

from __future__ import annotations

import json
import shutil
import threading
from pathlib import Path

import pydicom
import pytest

from app.case import load_case
from app.cli import main
from app.errors import Cancelled, CaseImportError
from app.hashing import sha256_file

LIVER = "mri/liver_philips_s401_T2W_TRA_BH"


def _inspect_json(capsys: pytest.CaptureFixture[str], *paths: Path) -> tuple[int, dict]:
    code = main(["inspect", "--json", *map(str, paths)])
    out = capsys.readouterr().out
    lines = [line for line in out.splitlines() if line.strip()]
    assert len(lines) == 1, "inspect --json must print exactly one JSON object"
    return code, json.loads(lines[0])


def test_inspect_whole_shared_data_keys_and_exit(
    shared_data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, doc = _inspect_json(capsys, shared_data)
    assert code == 0
    assert set(doc) == {"mri", "slides", "genomics", "skipped", "errors"}
    mri_keys = {
        "source", "series_instance_uid", "series_description", "phase", "files", "frames",
        "volumes", "shape_zyx", "spacing_mm_zyx", "origin_mm", "image_orientation_patient",
        "warnings",
    }
    for entry in doc["mri"]:
        assert set(entry) == mri_keys
    slide_keys = {
        "source", "vendor", "dimensions", "level_count", "level_dimensions", "mpp",
        "objective_power", "associated_images", "warnings",
    }
    for entry in doc["slides"]:
        assert slide_keys <= set(entry)
    for entry in doc["genomics"]:
        assert {"source", "format", "variants", "samples", "genes", "genome_build"} <= set(entry)
    # the presentation state is skipped with a reason, not an error
    skipped = {Path(s["source"]).name: s["reason"] for s in doc["skipped"]}
    assert skipped.get("PS_0026.dcm")
    # every real series, slide and panel is imported
    uids = {e["series_instance_uid"] for e in doc["mri"]}
    liver_uid = pydicom.dcmread(
        shared_data / LIVER / "IM_0001.dcm", stop_before_pixels=True
    ).SeriesInstanceUID
    assert liver_uid in uids
    assert len(doc["slides"]) >= 4
    assert len(doc["genomics"]) >= 2


def test_inspect_never_prints_patient_identifiers(
    shared_data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["inspect", "--json", str(shared_data / "mri")])
    text = capsys.readouterr()
    assert code == 0
    names = set()
    for path in (shared_data / "mri").rglob("*.dcm"):
        ds = pydicom.dcmread(path, stop_before_pixels=True)
        for tag in ("PatientName", "PatientID"):
            value = str(ds.get(tag, "") or "")
            if len(value) > 3 and value != "Anonymized":
                names.add(value)
    assert names, "the test needs identifiers to look for"
    for name in names:
        assert name not in text.out and name not in text.err


def test_inputs_recorded_with_sha256(shared_data: Path) -> None:
    case = load_case([shared_data / LIVER])
    by_name = {f.path.name: f for f in case.inputs}
    assert len([f for f in case.inputs if f.kind == "mri"]) == 25
    ref = shared_data / LIVER / "IM_0007.dcm"
    assert by_name["IM_0007.dcm"].sha256 == sha256_file(ref)
    assert case.content_hash == load_case([shared_data / LIVER]).content_hash


def test_bad_files_are_reported_and_the_rest_imported(
    shared_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "case"
    shutil.copytree(shared_data / LIVER, folder / "mri")
    (folder / "empty.dcm").write_bytes(b"")
    (folder / "notes.xyz").write_text("some notes")
    (folder / ".DS_Store").write_bytes(b"\x00junk")
    code, doc = _inspect_json(capsys, folder)
    assert code == 0
    errors = {Path(e["source"]).name: e["message"] for e in doc["errors"]}
    assert "empty.dcm" in errors and "empty.dcm" in errors["empty.dcm"]
    skipped = {Path(s["source"]).name: s["reason"] for s in doc["skipped"]}
    assert skipped["notes.xyz"] == "unknown file type"
    assert ".DS_Store" not in skipped and ".DS_Store" not in errors
    assert [e["frames"] for e in doc["mri"]] == [25]


def test_nothing_imported_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "readme.txt").write_text("nothing here")
    code, doc = _inspect_json(capsys, tmp_path)
    assert code == 2
    assert doc["mri"] == [] and doc["slides"] == [] and doc["genomics"] == []


def test_missing_path_is_an_error_entry(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, doc = _inspect_json(capsys, tmp_path / "nope")
    assert code == 2
    assert "does not exist" in doc["errors"][0]["message"]
    with pytest.raises(CaseImportError, match="does not exist"):
        load_case([tmp_path / "nope"])


def test_human_output_names_what_was_found(
    shared_data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["inspect", str(shared_data / LIVER)])
    out = capsys.readouterr().out
    assert code == 0
    assert "25x480x480" in out.replace(" ", "")
    assert "PS_0026.dcm" in out


def test_clinical_json_is_read_and_bad_one_reported(shared_data: Path, tmp_path: Path) -> None:
    folder = tmp_path / "case"
    shutil.copytree(shared_data / LIVER, folder / "mri")
    (folder / "clinical.json").write_text(json.dumps({"ecog": 1, "bilirubin": 20.5}))
    (folder / "case.json").write_text(json.dumps({"synthetic": True, "case_id": "X-1"}))
    case = load_case([folder])
    assert case.clinical is not None and case.clinical.ecog == 1
    assert case.synthetic and case.case_id == "X-1"
    (folder / "clinical.json").write_text("{not json")
    case = load_case([folder])
    assert case.clinical is None
    assert any("clinical.json" in msg for _, msg in case.errors)


def test_cancel_stops_import(shared_data: Path) -> None:
    cancel = threading.Event()
    seen: list[int] = []

    def progress(done: int, total: int) -> None:
        seen.append(done)
        if done >= 3:
            cancel.set()

    with pytest.raises(Cancelled):
        load_case([shared_data / LIVER], progress=progress, cancel=cancel)
    assert seen and max(seen) < 10
