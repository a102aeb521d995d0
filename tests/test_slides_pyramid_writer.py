"""The pyramidal TIFF writer: OpenSlide reads every level, the pixels, the pixel size."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import openslide
import pytest
import tifffile
from numpy.typing import NDArray

from app.errors import Cancelled
from app.slides import open_slide, pyramid_writer, write_pyramidal_tiff


def _image(height: int, width: int, seed: int = 0, noise: int = 24) -> NDArray[np.uint8]:
    """Smooth gradients plus uniform noise of `noise` grey levels."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width]
    base = np.stack([xx * 255 // width, yy * 255 // height, (xx + yy) // 4 % 256], axis=-1)
    jitter = rng.integers(0, noise + 1, size=(height, width, 3))
    return np.clip(base + jitter, 0, 255).astype(np.uint8)


def _block_mean(image: NDArray[np.uint8], factor: int) -> NDArray[np.float64]:
    """Float mean over factor x factor blocks (floor size), computed independently."""
    h, w = image.shape[0] // factor, image.shape[1] // factor
    blocks = image[: h * factor, : w * factor].astype(np.float64)
    return blocks.reshape(h, factor, w, factor, 3).mean(axis=(1, 3))


def test_lossless_pyramid_reads_back_exactly(tmp_path: Path) -> None:
    image = _image(700, 1100)
    path = tmp_path / "slide.tiff"
    sizes = write_pyramidal_tiff(path, image, 0.25, "SYNTHETIC test", compression="deflate")
    with openslide.OpenSlide(path) as slide:
        assert slide.properties["openslide.vendor"] == "generic-tiff"
        assert slide.properties["openslide.comment"] == "SYNTHETIC test"
        assert float(slide.properties["openslide.mpp-x"]) == pytest.approx(0.25)
        assert float(slide.properties["openslide.mpp-y"]) == pytest.approx(0.25)
        assert list(slide.level_dimensions) == sizes
        level0 = np.asarray(slide.read_region((0, 0), 0, (1100, 700)))
    np.testing.assert_array_equal(level0[..., :3], image)
    assert (level0[..., 3] == 255).all()
    # each level halves (floor) the one before until it fits one 256 px tile
    assert sizes == [(1100, 700), (550, 350), (275, 175), (137, 87)]
    with tifffile.TiffFile(path) as tif:
        pages = list(tif.pages)
        assert [p.shape for p in pages] == [(h, w, 3) for w, h in sizes]
        assert all(p.is_tiled and p.tilewidth == 256 for p in pages)
        for level, page in enumerate(pages):
            error = np.abs(page.asarray().astype(np.float64) - _block_mean(image, 2**level))
            # successive 2x2 means round once per halving: at most 0.5 grey level each
            assert error.max() <= 0.5 * level + 0.5
            assert error.mean() < 0.5
            x_res = page.tags["XResolution"].value
            assert x_res[1] / x_res[0] * 1e4 == pytest.approx(0.25 * 1100 / sizes[level][0])


def test_jpeg_pyramid_is_close_and_opens_with_our_reader(tmp_path: Path) -> None:
    image = _image(600, 520, noise=0)
    path = tmp_path / "slide.tif"
    write_pyramidal_tiff(path, image, 0.5, "SYNTHETIC jpeg")
    with open_slide(path) as reader:
        assert reader.info.mpp == pytest.approx((0.5, 0.5))
        assert reader.info.level_dimensions == [(520, 600), (260, 300), (130, 150)]
        pixels = reader.read_region((0, 0), 0, (520, 600))
    assert np.abs(pixels.astype(int) - image).mean() < 3.0


def test_output_is_deterministic_and_callable_source_matches_array(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    image = _image(1300, 1500, seed=3)
    calls: list[tuple[int, int, int, int]] = []

    def region(x: int, y: int, w: int, h: int) -> NDArray[np.uint8]:
        calls.append((x, y, w, h))
        return image[y : y + h, x : x + w]

    # force the in-memory switch after level 1 so both callable paths run
    monkeypatch.setattr(pyramid_writer, "_IN_MEMORY_PX", 400 * 400)
    first, second, third = tmp_path / "a.tif", tmp_path / "b.tif", tmp_path / "c.tif"
    sizes = write_pyramidal_tiff(first, image, 0.3, "SYNTHETIC", compression="jpeg")
    write_pyramidal_tiff(second, image, 0.3, "SYNTHETIC", compression="jpeg")
    write_pyramidal_tiff(third, region, 0.3, "SYNTHETIC", compression="jpeg", size=(1500, 1300))
    assert first.read_bytes() == second.read_bytes()
    assert first.read_bytes() == third.read_bytes()
    assert len(sizes) == 4
    # never asked for more than a tile's worth of level 0 per call at levels 0 and 1
    assert max(w * h for _, _, w, h in calls) <= (256 * 2) ** 2


def test_progress_reaches_total_and_cancel_removes_the_file(tmp_path: Path) -> None:
    image = _image(512, 512)
    seen: list[tuple[int, int]] = []
    write_pyramidal_tiff(
        tmp_path / "ok.tif", image, 1.0, "SYNTHETIC", progress=lambda d, t: seen.append((d, t))
    )
    assert seen[-1] == (5, 5)  # 4 tiles at level 0, 1 at level 1
    cancel = threading.Event()
    cancel.set()
    path = tmp_path / "cancelled.tif"
    with pytest.raises(Cancelled):
        write_pyramidal_tiff(path, image, 1.0, "SYNTHETIC", cancel=cancel)
    assert not path.exists()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"mpp": 0.0}, "mpp"),
        ({"tile": 100}, "multiple of 16"),
        ({"description": "Aperio fake"}, "Aperio"),
        ({"level0": np.zeros((10, 10), np.uint8)}, "(H, W, 3)"),
        ({"level0": np.zeros((10, 10, 3), np.float32)}, "uint8"),
        ({"level0": lambda x, y, w, h: np.zeros((h, w, 3), np.uint8)}, "size="),
    ],
)
def test_invalid_arguments_are_refused(
    tmp_path: Path, kwargs: dict[str, object], message: str
) -> None:
    args: dict[str, object] = {
        "path": tmp_path / "x.tif",
        "level0": np.zeros((32, 32, 3), np.uint8),
        "mpp": 0.5,
        "description": "SYNTHETIC",
    }
    args.update(kwargs)
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        write_pyramidal_tiff(**args)  # type: ignore[arg-type]
