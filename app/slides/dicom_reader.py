"""DICOM whole-slide images (VL Whole Slide Microscopy), read frame by frame with highdicom.

OpenSlide 4.0.1 refuses single-level DICOM-WSI files without ImageType ("Couldn't get image
flavor") and decodes JFIF-coded frames labelled RGB without their YCbCr-to-RGB conversion, so
every DICOM-WSI slide is read here: frames are located on the tile grid (TILED_FULL order, or
TILED_SPARSE per-frame positions, concatenations included), read raw under a per-file lock and
decoded by highdicom/pydicom outside it.
"""

from __future__ import annotations

import logging
import math
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from highdicom.frame import decode_frame
from highdicom.io import ImageFileReader
from numpy.typing import NDArray
from pydicom import Dataset
from pydicom.uid import JPEGBaseline8Bit

from app.errors import CaseImportError
from app.slides.dicom_series import WsiInstance, find_wsi_instances, quiet_pydicom
from app.slides.info import SlideInfo, missing_mpp_warning
from app.slides.reader import SlideReader
from app.slides.tile_cache import DEFAULT_TILE_CACHE_BYTES, TileCache

log = logging.getLogger(__name__)

_ASSOCIATED_NAMES = {"LABEL": "label", "OVERVIEW": "macro", "THUMBNAIL": "thumbnail"}


class _NoIccNotice(logging.Filter):
    """Drops highdicom's notice that a colour image has no ICC profile: like OpenSlide, we
    never colour-correct, so it would only repeat once per file on every import."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() != "no ICC Profile found in image metadata."


logging.getLogger("highdicom.io").addFilter(_NoIccNotice())


@dataclass(frozen=True)
class _FrameFile:
    """One open instance: its reader, the lock guarding its file position, decode settings."""

    path: Path
    reader: ImageFileReader
    lock: threading.Lock
    header: Dataset
    photometric: str


@dataclass(frozen=True)
class _TiledImage:
    """One total pixel matrix (a level or an associated image) laid out on a frame grid.

    ``frames[row, col]`` holds (file index, frame index) of the tile, or (-1, -1) where absent.
    """

    width: int
    height: int
    tile_width: int
    tile_height: int
    frames: NDArray[np.int64]


class DicomSlideReader(SlideReader):
    """A DICOM-WSI series (one file or several levels) read through highdicom frames.

    Args:
        path: Any file of the series, or the folder holding it.
        tile_cache_bytes: Bound of the decoded-tile LRU (decoded frames get as much again).

    Raises:
        CaseImportError: if the files are not a readable DICOM whole-slide image.
    """

    def __init__(self, path: Path, *, tile_cache_bytes: int = DEFAULT_TILE_CACHE_BYTES) -> None:
        instances = find_wsi_instances(path)
        self._files: list[_FrameFile] = []
        self._frame_cache = TileCache(tile_cache_bytes)
        try:
            notes: list[str] = []
            by_flavor: dict[str, list[WsiInstance]] = {}
            for inst in instances:
                by_flavor.setdefault(inst.image_flavor, []).append(inst)
            volumes = by_flavor.get("VOLUME", [])
            if not volumes:
                raise CaseImportError(f"'{path.name}' holds no pyramid (VOLUME) image.")
            self._levels = self._build_levels(volumes, notes)
            self._associated = {
                _ASSOCIATED_NAMES[flavor]: self._tiled_image(insts[:1], notes)
                for flavor, insts in by_flavor.items()
                if flavor in _ASSOCIATED_NAMES
            }
            base = self._levels[0]
            first = self._files[int(base.frames[base.frames[..., 0] >= 0][0, 0])].header
            mpp = _pixel_spacing_um(first)
            if mpp is None:
                notes.append(missing_mpp_warning(path.name))
            info = SlideInfo(
                source=path,
                vendor="dicom",
                dimensions=(base.width, base.height),
                level_count=len(self._levels),
                level_dimensions=[(lvl.width, lvl.height) for lvl in self._levels],
                level_downsamples=[
                    (base.width / lvl.width + base.height / lvl.height) / 2 for lvl in self._levels
                ],
                mpp=mpp,
                objective_power=_objective_power(first),
                associated_images=sorted(self._associated),
                warnings=notes,
                files=[f.path for f in self._files],
            )
            super().__init__(info, tile_cache_bytes=tile_cache_bytes)
            self._smoke_read()
        except BaseException:
            self._close_files()
            raise
        log.debug("opened DICOM-WSI slide, %d levels", info.level_count)

    def _build_levels(self, volumes: list[WsiInstance], notes: list[str]) -> list[_TiledImage]:
        """Group VOLUME instances by pixel-matrix size, finest first, one tiled image each."""
        by_size: dict[tuple[int, int], list[WsiInstance]] = {}
        for inst in volumes:
            by_size.setdefault(_matrix_size(inst), []).append(inst)
        levels = []
        for size in sorted(by_size, reverse=True):
            group = sorted(by_size[size], key=lambda i: int(i.header.get("InstanceNumber") or 0))
            concatenation = str(group[0].header.get("ConcatenationUID", ""))
            parts = [
                inst
                for inst in group
                if concatenation and str(inst.header.get("ConcatenationUID", "")) == concatenation
            ] or group[:1]
            if len(parts) < len(group):
                notes.append(
                    f"'{group[0].path.name}': {len(group)} images of {size[0]}x{size[1]} px "
                    "(focal planes or optical paths); only the first is shown."
                )
            levels.append(self._tiled_image(parts, notes))
        return levels

    def _tiled_image(self, parts: list[WsiInstance], notes: list[str]) -> _TiledImage:
        """Open `parts` (one instance, or a concatenation) and place their frames on a grid."""
        width, height = _matrix_size(parts[0])
        tile_h, tile_w = int(parts[0].header.Rows), int(parts[0].header.Columns)
        rows, cols = math.ceil(height / tile_h), math.ceil(width / tile_w)
        frames = np.full((rows, cols, 2), -1, dtype=np.int64)
        for inst in parts:
            file_index = self._open_file(inst)
            header = inst.header
            if (int(header.Rows), int(header.Columns)) != (tile_h, tile_w):
                raise CaseImportError(f"'{inst.path.name}' has a different frame size.")
            for frame, (row, col) in _frame_positions(inst, rows, cols, tile_w, tile_h, notes):
                if frames[row, col, 0] < 0:
                    frames[row, col] = (file_index, frame)
        if (frames[..., 0] < 0).all():
            raise CaseImportError(f"'{parts[0].path.name}' holds no frame on its tile grid.")
        return _TiledImage(width, height, tile_w, tile_h, frames)

    def _open_file(self, inst: WsiInstance) -> int:
        header = inst.header
        samples, bits = int(header.SamplesPerPixel), int(header.BitsAllocated)
        photometric = str(header.PhotometricInterpretation)
        if bits != 8 or samples not in (1, 3) or photometric == "PALETTE COLOR":
            raise CaseImportError(
                f"'{inst.path.name}': pixel format {photometric}, {samples} sample(s) of "
                f"{bits} bits is not supported (8-bit RGB or greyscale expected)."
            )
        reader = ImageFileReader(inst.path)
        try:
            with quiet_pydicom():
                reader.open()
                for _ in reader.metadata:  # decode the values now, while validation is off
                    pass
                transfer_syntax = reader.transfer_syntax_uid
                if transfer_syntax == JPEGBaseline8Bit and photometric == "RGB":
                    # JFIF streams are YCbCr whatever the header says (pydicom decides alike).
                    head = reader.read_frame_raw(0)[:64]
                    if b"JFIF\x00" in head:
                        photometric = "YBR_FULL_422"
        except (OSError, ValueError, EOFError) as exc:
            reader.close()
            raise CaseImportError(
                f"'{inst.path.name}' is damaged or truncated: its frames cannot be located "
                f"({_clean(exc, inst.path)})."
            ) from exc
        self._files.append(_FrameFile(inst.path, reader, threading.Lock(), header, photometric))
        return len(self._files) - 1

    def _smoke_read(self) -> None:
        """Read each file's last frame and decode the finest level's, to catch truncation now."""
        for index, frame_file in enumerate(self._files):
            count = int(frame_file.header.get("NumberOfFrames") or 1)
            self._decode(index, count - 1)

    def _decode(self, file_index: int, frame: int) -> NDArray[np.uint8]:
        """One frame as (Rows, Columns, 3) uint8 RGB."""
        frame_file = self._files[file_index]
        header = frame_file.header
        try:
            with frame_file.lock:
                raw = frame_file.reader.read_frame_raw(frame)
            pixels = decode_frame(
                raw,
                transfer_syntax_uid=frame_file.reader.transfer_syntax_uid,
                rows=int(header.Rows),
                columns=int(header.Columns),
                samples_per_pixel=int(header.SamplesPerPixel),
                bits_allocated=int(header.BitsAllocated),
                bits_stored=int(header.BitsStored),
                photometric_interpretation=frame_file.photometric,
                pixel_representation=int(header.PixelRepresentation),
                planar_configuration=header.get("PlanarConfiguration"),
            )
        except (OSError, ValueError, EOFError, RuntimeError) as exc:
            raise CaseImportError(
                f"'{frame_file.path.name}' cannot be read: frame {frame + 1} is damaged or "
                f"truncated ({_clean(exc, frame_file.path)})."
            ) from exc
        pixels = np.asarray(pixels, dtype=np.uint8)
        if pixels.ndim == 2:
            if frame_file.photometric == "MONOCHROME1":
                pixels = 255 - pixels
            pixels = np.repeat(pixels[..., None], 3, axis=2)
        return pixels

    def _frame(self, key: str, image: _TiledImage, row: int, col: int) -> NDArray[np.uint8] | None:
        file_index, frame = (int(v) for v in image.frames[row, col])
        if file_index < 0:
            return None
        cache_key = (key, row, col)
        cached = self._frame_cache.get(cache_key)
        if cached is not None:
            return cached
        return self._frame_cache.put(cache_key, self._decode(file_index, frame))

    def _render(
        self, key: str, image: _TiledImage, x: int, y: int, w: int, h: int
    ) -> NDArray[np.uint8]:
        """Pixels [y, y+h) x [x, x+w) of `image`, white outside it and where tiles are absent."""
        out = np.full((h, w, 3), 255, dtype=np.uint8)
        x0, y0 = max(x, 0), max(y, 0)
        x1, y1 = min(x + w, image.width), min(y + h, image.height)
        if x0 >= x1 or y0 >= y1:
            return out
        th, tw = image.tile_height, image.tile_width
        for row in range(y0 // th, (y1 - 1) // th + 1):
            for col in range(x0 // tw, (x1 - 1) // tw + 1):
                tile = self._frame(key, image, row, col)
                if tile is None:
                    continue
                ty, tx = row * th, col * tw
                sy0, sy1 = max(y0, ty), min(y1, ty + th)
                sx0, sx1 = max(x0, tx), min(x1, tx + tw)
                out[sy0 - y : sy1 - y, sx0 - x : sx1 - x] = tile[
                    sy0 - ty : sy1 - ty, sx0 - tx : sx1 - tx
                ]
        return out

    def read_region(
        self, location: tuple[int, int], level: int, size: tuple[int, int]
    ) -> NDArray[np.uint8]:
        """See `SlideReader.read_region`; level pixels = level-0 location / downsample, rounded."""
        self._check_region(level, size)
        downsample = self.info.level_downsamples[level]
        x, y = round(location[0] / downsample), round(location[1] / downsample)
        return self._render(f"level{level}", self._levels[level], x, y, size[0], size[1])

    def associated_image(self, name: str) -> NDArray[np.uint8]:
        """See `SlideReader.associated_image`."""
        image = self._associated.get(name)
        if image is None:
            raise KeyError(f"'{self.info.source.name}' has no associated image '{name}'")
        return self._render(name, image, 0, 0, image.width, image.height)

    def close(self) -> None:
        """Close every file and drop cached frames and tiles."""
        self.closed = True
        self._close_files()
        self.tile_cache.clear()

    def _close_files(self) -> None:
        for frame_file in self._files:
            with frame_file.lock:
                frame_file.reader.close()
        self._frame_cache.clear()


def _clean(exc: BaseException, path: Path) -> str:
    """A library's error message with the full path shortened to the file name."""
    return str(exc).replace(str(path), path.name).strip().rstrip(".")


def _matrix_size(inst: WsiInstance) -> tuple[int, int]:
    """(width, height) of the total pixel matrix (one frame's size if the tags are absent)."""
    header = inst.header
    width = header.get("TotalPixelMatrixColumns") or header.get("Columns")
    height = header.get("TotalPixelMatrixRows") or header.get("Rows")
    if not width or not height:
        raise CaseImportError(f"'{inst.path.name}' gives no image size (Rows/Columns).")
    return int(width), int(height)


def _frame_positions(
    inst: WsiInstance, rows: int, cols: int, tile_w: int, tile_h: int, notes: list[str]
) -> list[tuple[int, tuple[int, int]]]:
    """(frame index in the file, (tile row, tile col)) of each frame of the first plane/path."""
    header = inst.header
    count = int(header.get("NumberOfFrames") or 1)
    if (
        int(header.get("TotalPixelMatrixFocalPlanes") or 1) > 1
        or int(header.get("NumberOfOpticalPaths") or 1) > 1
    ):
        notes.append(
            f"'{inst.path.name}' holds several focal planes or optical paths; "
            "only the first is shown."
        )
    organisation = str(header.get("DimensionOrganizationType", ""))
    per_frame = header.get("PerFrameFunctionalGroupsSequence")
    if organisation == "TILED_FULL" or (not organisation and per_frame is None):
        # Implicit order: columns fastest, then rows (then focal planes, optical paths).
        offset = int(header.get("ConcatenationFrameOffsetNumber") or 0)
        last = min(count, rows * cols - offset)
        return [(k, divmod(offset + k, cols)) for k in range(max(0, last))]
    if per_frame is None or len(per_frame) != count:
        raise CaseImportError(
            f"'{inst.path.name}' does not say where its frames lie (no per-frame positions)."
        )
    positions = []
    for k, item in enumerate(per_frame):
        try:
            pos = item.PlanePositionSlideSequence[0]
            x = int(pos.ColumnPositionInTotalImagePixelMatrix) - 1
            y = int(pos.RowPositionInTotalImagePixelMatrix) - 1
        except (AttributeError, IndexError, TypeError, ValueError) as exc:
            raise CaseImportError(
                f"'{inst.path.name}': frame {k + 1} has no position in the pixel matrix."
            ) from exc
        if x % tile_w or y % tile_h or not (0 <= y // tile_h < rows and 0 <= x // tile_w < cols):
            raise CaseImportError(
                f"'{inst.path.name}': frame {k + 1} lies off the tile grid ({x + 1}, {y + 1})."
            )
        positions.append((k, (y // tile_h, x // tile_w)))
    return positions


def _pixel_spacing_um(header: Dataset) -> tuple[float, float] | None:
    """Level-0 (x, y) pixel size in micrometres from the shared Pixel Measures, or None."""
    try:
        measures = header.SharedFunctionalGroupsSequence[0].PixelMeasuresSequence[0]
        row_spacing_mm, col_spacing_mm = (float(v) for v in measures.PixelSpacing)
    except (AttributeError, IndexError, TypeError, ValueError):
        return None
    if row_spacing_mm <= 0 or col_spacing_mm <= 0:
        return None
    return col_spacing_mm * 1000.0, row_spacing_mm * 1000.0


def _objective_power(header: Dataset) -> float | None:
    """Objective lens power of the first optical path, or None."""
    try:
        return float(header.OpticalPathSequence[0].ObjectiveLensPower)
    except (AttributeError, IndexError, TypeError, ValueError):
        return None
