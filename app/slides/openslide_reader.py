"""Slides that OpenSlide reads (SVS, NDPI, MRXS, tiled TIFF, SCN, BIF, VMS...)."""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Mapping
from ctypes import POINTER, c_uint32
from pathlib import Path

import numpy as np
import openslide
import tifffile
from numpy.typing import NDArray
from openslide import lowlevel

from app.errors import CaseImportError
from app.slides.info import SlideInfo, missing_mpp_warning
from app.slides.reader import SlideReader
from app.slides.tile_cache import DEFAULT_TILE_CACHE_BYTES

log = logging.getLogger(__name__)

OPENSLIDE_CACHE_BYTES = 128 * 1024 * 1024
"""OpenSlide's cache of decoded source tiles, shared by every open slide (bounds memory)."""

_shared_cache: openslide.OpenSlideCache | None = None
_shared_cache_lock = threading.Lock()

# Byte offsets of B, G, R, A in OpenSlide's native-endian premultiplied ARGB pixels.
_B, _G, _R, _A = (0, 1, 2, 3) if sys.byteorder == "little" else (3, 2, 1, 0)

_TIFF_MAGICS = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")


def _openslide_cache() -> openslide.OpenSlideCache:
    global _shared_cache
    with _shared_cache_lock:
        if _shared_cache is None:
            _shared_cache = openslide.OpenSlideCache(OPENSLIDE_CACHE_BYTES)
        return _shared_cache


def _clean(message: str, path: Path) -> str:
    """OpenSlide's message with the full path shortened to the file name."""
    return message.replace(str(path), path.name).rstrip(".")


def _not_a_slide(path: Path) -> CaseImportError:
    """The error for a file OpenSlide does not recognise, saying why where we can tell."""
    with path.open("rb") as fh:
        head = fh.read(4)
    if not head:
        return CaseImportError(f"'{path.name}' is empty (0 bytes): it holds no slide.")
    if head in _TIFF_MAGICS:
        return CaseImportError(
            f"'{path.name}' is a TIFF file but its structure is damaged or truncated "
            "(or it is not a tiled whole-slide image); re-export or copy the slide again."
        )
    return CaseImportError(
        f"'{path.name}' is not a whole-slide image that OpenSlide can read "
        "(SVS, NDPI, MRXS, SCN, BIF, VMS or tiled TIFF expected)."
    )


def _check_tiff_extents(path: Path) -> None:
    """Raise if a TIFF-based slide cannot be parsed, or its image data runs past the file end."""
    with path.open("rb") as fh:
        if fh.read(4) not in _TIFF_MAGICS:
            return
    size = path.stat().st_size
    tifffile_log = logging.getLogger("tifffile")
    level = tifffile_log.level
    tifffile_log.setLevel(logging.CRITICAL)  # it logs each bad offset; we raise one message
    try:
        with tifffile.TiffFile(path) as tif:
            for index, page in enumerate(tif.pages):
                if not isinstance(page, tifffile.TiffPage):
                    continue
                ends = [o + c for o, c in zip(page.dataoffsets, page.databytecounts, strict=False)]
                if ends and max(ends) > size:
                    raise CaseImportError(
                        f"'{path.name}' is truncated: image {index} needs {max(ends)} bytes "
                        f"but the file has {size}; copy the slide again."
                    )
    except (tifffile.TiffFileError, ValueError, OSError, IndexError) as exc:
        raise CaseImportError(
            f"'{path.name}' is damaged or truncated: its TIFF structure cannot be read "
            f"({_clean(str(exc), path)}); copy the slide again."
        ) from exc
    finally:
        tifffile_log.setLevel(level)


def _float_property(props: Mapping[str, str], key: str) -> float | None:
    value = props.get(key)
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        return None


def _slide_files(path: Path, vendor: str) -> list[Path]:
    """The files a slide spans: an MRXS index also has a data folder of the same name."""
    data = path.with_suffix("")
    if vendor == "mirax" and data.is_dir():
        return [path, *sorted(p for p in data.rglob("*") if p.is_file())]
    return [path]


class OpenSlideReader(SlideReader):
    """A slide read through OpenSlide, with OpenSlide's (shared) cache and our tile LRU.

    Args:
        path: The slide file (for MRXS, the .mrxs file next to its data folder).
        tile_cache_bytes: Bound of the decoded-tile LRU. Default: 64 MiB.

    Raises:
        CaseImportError: if OpenSlide cannot open the file, or its first tiles cannot be read.
    """

    def __init__(self, path: Path, *, tile_cache_bytes: int = DEFAULT_TILE_CACHE_BYTES) -> None:
        if path.stat().st_size == 0:
            raise CaseImportError(f"'{path.name}' is empty (0 bytes): it holds no slide.")
        _check_tiff_extents(path)
        try:
            slide = openslide.OpenSlide(path)
        except openslide.OpenSlideUnsupportedFormatError as exc:
            raise _not_a_slide(path) from exc
        except openslide.OpenSlideError as exc:
            raise CaseImportError(
                f"'{path.name}' is damaged: OpenSlide says {_clean(str(exc), path)}."
            ) from exc
        self._slide = slide
        try:
            props = slide.properties
            vendor = props.get(openslide.PROPERTY_NAME_VENDOR, "unknown")
            slide.set_cache(_openslide_cache())
            mpp_x = _float_property(props, openslide.PROPERTY_NAME_MPP_X)
            mpp_y = _float_property(props, openslide.PROPERTY_NAME_MPP_Y)
            warnings = []
            if mpp_x and mpp_y and mpp_x > 0 and mpp_y > 0:
                mpp: tuple[float, float] | None = (mpp_x, mpp_y)
            else:
                mpp = None
                warnings.append(missing_mpp_warning(path.name))
            info = SlideInfo(
                source=path,
                vendor=vendor,
                dimensions=slide.dimensions,
                level_count=slide.level_count,
                level_dimensions=list(slide.level_dimensions),
                level_downsamples=list(slide.level_downsamples),
                mpp=mpp,
                objective_power=_float_property(props, openslide.PROPERTY_NAME_OBJECTIVE_POWER),
                associated_images=sorted(slide.associated_images),
                warnings=warnings,
                files=_slide_files(path, vendor),
            )
            super().__init__(info, tile_cache_bytes=tile_cache_bytes)
            self._smoke_read()
        except BaseException:
            slide.close()
            raise
        log.debug("opened %s slide, %d levels", vendor, info.level_count)

    def _smoke_read(self) -> None:
        """Decode the last level-0 tile and the coarsest level's corner, to catch damage now."""
        width, height = self.info.dimensions
        self.read_region((max(0, width - 256), max(0, height - 256)), 0, (256, 256))
        last = self.info.level_count - 1
        last_w, last_h = self.info.level_dimensions[last]
        self.read_region((0, 0), last, (min(last_w, 256), min(last_h, 256)))

    def read_region(
        self, location: tuple[int, int], level: int, size: tuple[int, int]
    ) -> NDArray[np.uint8]:
        """See `SlideReader.read_region`; thread-safe, cached by OpenSlide."""
        self._check_region(level, size)
        width, height = size
        # openslide_read_region fills premultiplied ARGB; calling it directly (instead of
        # OpenSlide.read_region) skips un-premultiplying and the PIL image: about 1.3x faster.
        argb = np.empty((height, width), dtype=np.uint32)
        try:
            lowlevel._read_region(
                self._slide._osr,
                argb.ctypes.data_as(POINTER(c_uint32)),
                location[0],
                location[1],
                level,
                width,
                height,
            )
        except openslide.OpenSlideError as exc:
            path = self.info.source
            raise CaseImportError(
                f"'{path.name}' cannot be read at level {level}, ({location[0]}, {location[1]}): "
                f"the file is damaged ({_clean(str(exc), path)})."
            ) from exc
        return _premultiplied_to_rgb_on_white(argb)

    def associated_image(self, name: str) -> NDArray[np.uint8]:
        """See `SlideReader.associated_image`."""
        if name not in self.info.associated_images:
            raise KeyError(f"'{self.info.source.name}' has no associated image '{name}'")
        rgba = np.asarray(self._slide.associated_images[name].convert("RGBA"))
        return _straight_to_rgb_on_white(rgba)

    def close(self) -> None:
        """Close the OpenSlide handle and drop cached tiles."""
        self.closed = True
        self._slide.close()
        self.tile_cache.clear()


def _premultiplied_to_rgb_on_white(argb: NDArray[np.uint32]) -> NDArray[np.uint8]:
    """(h, w) premultiplied ARGB -> (h, w, 3) C-contiguous RGB composited on white.

    The result is a contiguous copy on purpose: a strided RGB view of the 4-byte buffer would
    save this copy (about 70 µs a tile) but make every later copy of the tile (a viewport,
    a model tile) about 40x slower. Transparent pixels become white.
    """
    channels = argb.view(np.uint8).reshape(*argb.shape, 4)
    rgb = np.empty((*argb.shape, 3), dtype=np.uint8)
    rgb[..., 0] = channels[..., _R]
    rgb[..., 1] = channels[..., _G]
    rgb[..., 2] = channels[..., _B]
    if argb.size and int(argb.min()) < 0xFF000000:  # alpha is the high byte: some pixel < 255
        # Premultiplied: colour <= alpha, so colour + (255 - alpha) is "over white" exactly.
        rgb += (255 - channels[..., _A])[..., None]
    return rgb


def _straight_to_rgb_on_white(rgba: NDArray[np.uint8]) -> NDArray[np.uint8]:
    """(h, w, 4) straight-alpha RGBA -> (h, w, 3) RGB over white."""
    alpha = rgba[..., 3:4].astype(np.uint16)
    rgb = rgba[..., :3].astype(np.uint16)
    return ((rgb * alpha + 255 * (255 - alpha) + 127) // 255).astype(np.uint8)
