"""Write explanation artefacts all at once: into a hidden sibling folder, then one rename.

Every file is hashed (sha256) as it is written. Until `ArtefactWriter.commit` renames the
temporary folder to the destination, nothing appears there; cancel or an error removes the
temporary folder, so a half-written explanation is never left behind. A destination that
already holds an explanation (its `MANIFEST_NAME`) is replaced; any other non-empty folder is
refused.
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np
from numpy.typing import NDArray
from pydicom.dataset import Dataset

from app.errors import ScreeningError
from app.hashing import sha256_file
from app.progress import check_cancel

log = logging.getLogger(__name__)

MANIFEST_NAME = "explanation.json"


class OutputFolderError(ScreeningError):
    """The output folder cannot receive an explanation."""


@dataclass(frozen=True)
class Artefact:
    """One written file.

    Attributes:
        path: Path relative to the explanation folder (POSIX separators).
        sha256: Hex sha256 of the file's bytes.
        size_bytes: File size.
        kind: What it holds ("mri_saliency", "dicom_parametric_map", "slide_heatmap"...).
    """

    path: str
    sha256: str
    size_bytes: int
    kind: str

    def to_json(self) -> dict[str, Any]:
        """``{"path", "sha256", "size_bytes", "kind"}``."""
        return {
            "path": self.path,
            "sha256": self.sha256,
            "size_bytes": self.size_bytes,
            "kind": self.kind,
        }


def check_output_folder(out_dir: Path) -> None:
    """Refuse a destination that exists and is neither empty nor an explanation folder.

    Raises:
        OutputFolderError: naming the folder.
    """
    if out_dir.exists() and not out_dir.is_dir():
        raise OutputFolderError(f"'{out_dir}' exists and is not a folder: choose another --out")
    if out_dir.is_dir() and any(out_dir.iterdir()) and not (out_dir / MANIFEST_NAME).is_file():
        raise OutputFolderError(
            f"'{out_dir}' is not empty and holds no earlier explanation: choose an empty or "
            "new folder"
        )


class ArtefactWriter:
    """Context manager collecting artefacts in a temporary folder (see the module docstring).

    Args:
        out_dir: Final destination folder.
        cancel: Checked before every file.
    """

    def __init__(self, out_dir: Path, *, cancel: threading.Event | None = None) -> None:
        check_output_folder(out_dir)
        self.out_dir = out_dir
        self.cancel = cancel
        self.artefacts: list[Artefact] = []
        self._tmp: Path | None = None

    def __enter__(self) -> ArtefactWriter:
        parent = self.out_dir.resolve().parent
        try:
            parent.mkdir(parents=True, exist_ok=True)
            self._tmp = Path(tempfile.mkdtemp(prefix=f".{self.out_dir.name}.partial-", dir=parent))
        except OSError as exc:
            raise OutputFolderError(f"cannot write in '{parent}': {exc.strerror}") from exc
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._tmp is not None and self._tmp.exists():
            shutil.rmtree(self._tmp, ignore_errors=True)

    def _staging(self) -> Path:
        if self._tmp is None:
            raise RuntimeError("ArtefactWriter used outside its with-block or after commit")
        return self._tmp

    def _path(self, rel: str) -> Path:
        check_cancel(self.cancel)
        path = self._staging() / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    def _record(self, rel: str, kind: str) -> Artefact:
        path = self._staging() / rel
        artefact = Artefact(rel, sha256_file(path), path.stat().st_size, kind)
        self.artefacts.append(artefact)
        return artefact

    def write_json(self, rel: str, data: Any, kind: str) -> Artefact:
        """Write indented UTF-8 JSON."""
        self._path(rel).write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
        return self._record(rel, kind)

    def write_npz(self, rel: str, arrays: dict[str, NDArray[Any]], kind: str) -> Artefact:
        """Write a compressed ``.npz`` (``rel`` must end in ``.npz``)."""
        with self._path(rel).open("wb") as fh:
            np.savez_compressed(fh, **arrays)  # type: ignore[arg-type]
        return self._record(rel, kind)

    def write_dicom(self, rel: str, dataset: Dataset, kind: str) -> Artefact:
        """Write a DICOM Part 10 file."""
        dataset.save_as(self._path(rel), enforce_file_format=True)
        return self._record(rel, kind)

    def commit(self, manifest: dict[str, Any]) -> Path:
        """Write ``manifest`` (plus the artefact list) and move the folder into place.

        Returns:
            The path of the manifest in the destination.
        """
        manifest = {**manifest, "artefacts": [a.to_json() for a in self.artefacts]}
        self._path(MANIFEST_NAME).write_text(
            json.dumps(manifest, indent=2) + "\n", encoding="utf-8"
        )
        check_cancel(self.cancel)
        staging = self._staging()
        check_output_folder(self.out_dir)
        old: Path | None = None
        if self.out_dir.exists():
            old = self.out_dir.with_name(f".{self.out_dir.name}.old-{staging.name[-8:]}")
            self.out_dir.rename(old)
        staging.rename(self.out_dir)
        self._tmp = None
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
        log.info("explanation written (%d artefacts)", len(self.artefacts))
        return self.out_dir / MANIFEST_NAME
