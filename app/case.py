"""A case: every input of one patient, imported from a folder (recursively) or a list of paths.

`load_case` sorts files by kind (DICOM, slide, gene panel, clinical data), hashes each input,
and hands each kind to its importer. One bad file never stops the rest: it becomes an entry in
`Case.errors` naming the file. Files of no known kind go to `Case.skipped` with the reason.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from app.clinical import CLINICAL_FILENAME, ClinicalData
from app.errors import CaseImportError
from app.genomics import GenePanel, is_gene_panel_file, read_gene_panel
from app.hashing import sha256_bytes, sha256_file
from app.imaging.dicom_import import load_mri
from app.imaging.series import MriSeries
from app.progress import ProgressFn, check_cancel, no_progress
from app.slides import SlideInfo, group_wsi_files, is_slide_file, open_slide

log = logging.getLogger(__name__)

CASE_META_FILENAME = "case.json"
DICOM_SUFFIXES = {".dcm", ".dicom", ".ima"}
INDEX_SUFFIXES = {".tbi", ".csi", ".bai", ".crai"}

InputKind = Literal["mri", "slide", "genomics", "clinical", "case_meta"]


@dataclass(frozen=True)
class InputFile:
    """One input file of a case with its content hash."""

    path: Path
    sha256: str
    size_bytes: int
    kind: InputKind


@dataclass
class Case:
    """Everything imported for one patient.

    Attributes:
        root: The case folder, or None when built from loose files.
        inputs: Every imported input with its sha256.
        mri: One entry per reconstructed MRI geometry.
        slides: Whole-slide images (open them with `app.slides.open_slide(info.source)`).
        genomics: Gene panels.
        clinical: Clinical data from ``clinical.json``, when present.
        meta: The content of ``case.json`` (synthetic flag, case id...), or {}.
        skipped: (file, reason) for files that are not inputs (unknown type, non-image DICOM).
        errors: (file, message) for inputs that could not be imported.
    """

    root: Path | None
    inputs: list[InputFile] = field(default_factory=list)
    mri: list[MriSeries] = field(default_factory=list)
    slides: list[SlideInfo] = field(default_factory=list)
    genomics: list[GenePanel] = field(default_factory=list)
    clinical: ClinicalData | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    skipped: list[tuple[Path, str]] = field(default_factory=list)
    errors: list[tuple[Path, str]] = field(default_factory=list)

    @property
    def synthetic(self) -> bool:
        """True when ``case.json`` marks the case as synthetic."""
        return bool(self.meta.get("synthetic", False))

    @property
    def case_id(self) -> str:
        """The case's pseudonymous id from ``case.json``, else the folder name."""
        if "case_id" in self.meta:
            return str(self.meta["case_id"])
        return self.root.name if self.root is not None else "loose-files"

    @property
    def content_hash(self) -> str:
        """sha256 over the sorted sha256 of every input: the same files give the same hash."""
        return sha256_bytes("\n".join(sorted(f.sha256 for f in self.inputs)).encode())

    @property
    def imported_anything(self) -> bool:
        """Whether at least one MRI series, slide or gene panel was imported."""
        return bool(self.mri or self.slides or self.genomics)


def load_case(
    paths: Sequence[Path],
    *,
    progress: ProgressFn = no_progress,
    cancel: threading.Event | None = None,
) -> Case:
    """Import a case from folders (searched recursively) and/or files.

    Args:
        paths: Case folders or individual files.
        progress: Called with (files done, files total).
        cancel: Set it to stop; `Cancelled` is raised between files.

    Raises:
        CaseImportError: if a path does not exist.
        Cancelled: if `cancel` was set.
    """
    missing = [p for p in paths if not Path(p).exists()]
    if missing:
        raise CaseImportError(f"'{missing[0]}' does not exist.")
    dirs = [Path(p) for p in paths if Path(p).is_dir()]
    case = Case(root=dirs[0] if len(dirs) == 1 and len(paths) == 1 else None)
    files = sorted(set(_walk(Path(p) for p in paths)))
    total = 2 * len(files)
    done = 0

    dicom: list[Path] = []
    slides: list[Path] = []
    panels: list[Path] = []
    hashes: dict[Path, tuple[str, int]] = {}
    for path in files:
        check_cancel(cancel)
        done += 1
        progress(done, total)
        size = path.stat().st_size
        name = path.name.lower()
        if size == 0:
            case.errors.append((path, f"'{path.name}' is empty (0 bytes)."))
            continue
        if path.suffix.lower() in INDEX_SUFFIXES:
            case.skipped.append((path, "index file (read with the file it indexes)"))
            continue
        if name == CLINICAL_FILENAME:
            _read_clinical(case, path, hashes)
        elif name == CASE_META_FILENAME:
            _read_meta(case, path, hashes)
        elif is_slide_file(path):
            slides.append(path)
        elif is_gene_panel_file(path):
            panels.append(path)
        elif path.suffix.lower() in DICOM_SUFFIXES or _has_dicom_magic(path):
            # a .dcm name without the DICM marker still goes to the importer, which names the
            # problem; other names are DICOM only when they carry the marker
            dicom.append(path)
        else:
            case.skipped.append((path, "unknown file type"))

    def sub_progress(sub_done: int, sub_total: int) -> None:
        progress(len(files) + sub_done * len(dicom) // max(sub_total, 1), total)

    mri = load_mri(dicom, progress=sub_progress, cancel=cancel)
    case.mri.extend(mri.series)
    case.skipped.extend(mri.skipped)
    case.errors.extend(mri.errors)
    used = {f for s in mri.series for f in s.files}
    for path in sorted(used):
        _record(case, path, "mri", hashes)
    done = len(files) + len(dicom)
    wsi_groups = group_wsi_files(mri.other_images)
    in_groups = {p for g in wsi_groups for p in g}
    case.skipped.extend(
        (p, "DICOM image that is neither cross-sectional (MR/CT) nor a whole-slide image")
        for p in mri.other_images
        if p not in in_groups
    )
    slide_groups = [[p] for p in slides] + wsi_groups
    for group in slide_groups:
        check_cancel(cancel)
        _read_slide(case, group, hashes)
        done += len(group)
        progress(done, total)
    for path in panels:
        check_cancel(cancel)
        try:
            case.genomics.append(read_gene_panel(path))
            _record(case, path, "genomics", hashes)
        except CaseImportError as exc:
            case.errors.append((path, exc.user_message))
        except Exception:  # an importer bug must not lose the rest of the case
            log.exception("unexpected error reading a gene panel")
            case.errors.append((path, f"'{path.name}' could not be read (unexpected error)."))
        done += 1
        progress(done, total)
    progress(total, total)
    log.info(
        "imported %d MRI geometries, %d slides, %d panels; %d skipped, %d errors",
        len(case.mri), len(case.slides), len(case.genomics), len(case.skipped), len(case.errors),
    )
    return case


def _walk(paths: Iterator[Path]) -> Iterator[Path]:
    """Files under the given paths, skipping hidden files and folders."""
    for path in paths:
        if path.is_file():
            yield path
            continue
        for child in sorted(path.rglob("*")):
            rel = child.relative_to(path)
            if any(part.startswith(".") for part in rel.parts):
                continue
            if child.is_file():
                yield child


def _has_dicom_magic(path: Path) -> bool:
    with path.open("rb") as fh:
        head = fh.read(132)
    return len(head) == 132 and head[128:132] == b"DICM"


def _record(case: Case, path: Path, kind: InputKind, hashes: dict[Path, tuple[str, int]]) -> None:
    if path not in hashes:
        hashes[path] = (sha256_file(path), path.stat().st_size)
    digest, size = hashes[path]
    case.inputs.append(InputFile(path=path, sha256=digest, size_bytes=size, kind=kind))


def _read_clinical(case: Case, path: Path, hashes: dict[Path, tuple[str, int]]) -> None:
    try:
        case.clinical = ClinicalData.from_json_file(path)
        _record(case, path, "clinical", hashes)
    except CaseImportError as exc:
        case.errors.append((path, exc.user_message))


def _read_meta(case: Case, path: Path, hashes: dict[Path, tuple[str, int]]) -> None:
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        case.errors.append((path, f"'{path.name}' is not a readable JSON file."))
        return
    if not isinstance(meta, dict):
        case.errors.append((path, f"'{path.name}' must hold a JSON object."))
        return
    case.meta = meta
    _record(case, path, "case_meta", hashes)


def _read_slide(case: Case, group: list[Path], hashes: dict[Path, tuple[str, int]]) -> None:
    target = group[0]
    try:
        with open_slide(target) as reader:
            case.slides.append(reader.info)
    except CaseImportError as exc:
        case.errors.append((target, exc.user_message))
        return
    except Exception:  # an importer bug must not lose the rest of the case
        log.exception("unexpected error reading a slide")
        case.errors.append((target, f"'{target.name}' could not be read (unexpected error)."))
        return
    for path in group:
        _record(case, path, "slide", hashes)
