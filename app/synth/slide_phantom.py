"""An H&E-like liver biopsy/resection slide with tumour, necrosis and immune infiltrate.

The slide is rendered at level 0 (1 µm/px by default) in three scales, all vectorised:

- region fields at 1/16 (16 µm/px): tissue pieces on white glass, tumour and its central
  necrosis;
- stroma at 1/4 (4 µm/px): lymphocyte aggregates, the fibrous capsule band at the tumour
  border, and the eosin density of hepatocyte plates and sinusoids (normal liver, regular
  thin plates), thick trabeculae (tumour), homogeneous pink necrosis and fibrous bands;
- nuclei at full resolution, stamped as soft disks: hepatocytes (r ~4 µm, on plates),
  tumour nuclei (r ~5-6 µm, darker, denser by ``tumour_nuclear_density``), lymphocytes
  (r ~3.5 µm, very dark, packed in aggregates and scattered by ``immune_density``), necrotic
  debris and fibroblasts.

Hematoxylin and eosin densities become RGB by Beer-Lambert with the centre's stain vectors
(a 256 x 256 lookup table). At 2 µm/px (level 1) lymphocyte aggregates are dark-blue blobs
80-220 µm across and tumour differs from normal liver in nuclear size, darkness and density.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from app.synth.centres import StainProfile
from app.synth.generating_model import PatientFeatures

MASK_DOWNSAMPLE = 16
"""Ground-truth slide masks hold one pixel per 16 x 16 level-0 pixels."""

_STROMA_DOWNSAMPLE = 4
_H_MAX = 2.2  # hematoxylin density of code 255
_E_MAX = 1.6  # eosin density of code 255

# Region labels of the stroma map.
BACKGROUND, NORMAL, TUMOUR, NECROSIS, FIBROUS, IMMUNE = range(6)


@dataclass
class SlidePhantom:
    """A rendered slide and its ground truth.

    Attributes:
        rgb: (H, W, 3) uint8 level-0 image.
        mpp: Level-0 microns per pixel.
        tissue: (H/16, W/16) bool, tissue (any kind).
        tumour: (H/16, W/16) bool, tumour including its necrosis.
        necrosis: (H/16, W/16) bool, tumour necrosis.
        immune: (H/16, W/16) bool, lymphocyte aggregates.
        measured: Areas actually rendered: tissue_mm2, tumour_fraction_of_tissue,
            necrosis_fraction_of_tumour, immune_fraction_of_viable_tumour, nuclei counts.
    """

    rgb: NDArray[np.uint8]
    mpp: float
    tissue: NDArray[np.bool_]
    tumour: NDArray[np.bool_]
    necrosis: NDArray[np.bool_]
    immune: NDArray[np.bool_]
    measured: dict[str, float]


def _smooth_noise(
    rng: np.random.Generator, shape: tuple[int, int], sigma: float
) -> NDArray[np.float32]:
    """Gaussian-filtered white noise with unit standard deviation."""
    field = ndimage.gaussian_filter(rng.standard_normal(shape).astype(np.float32), sigma)
    out: NDArray[np.float32] = (field / max(float(field.std()), 1e-6)).astype(np.float32)
    return out


def _quantile_mask(
    field: NDArray[np.float32], within: NDArray[np.bool_], fraction: float
) -> NDArray[np.bool_]:
    """The top ``fraction`` of ``field`` inside ``within``."""
    if fraction <= 0 or not within.any():
        return np.zeros_like(within)
    threshold = np.quantile(field[within], 1.0 - min(fraction, 1.0))
    return within & (field >= threshold)


def _tissue_mask(rng: np.random.Generator, n: int) -> NDArray[np.bool_]:
    """1-2 irregular tissue pieces covering roughly 25-35% of an n x n low-res grid."""
    yy, xx = np.mgrid[0:n, 0:n].astype(np.float32) / n
    pieces = int(rng.integers(1, 3))
    field = np.full((n, n), -1.0, dtype=np.float32)
    for k in range(pieces):
        if pieces == 1:
            cy, cx = rng.uniform(0.45, 0.55, 2)
            a, b = rng.uniform(0.30, 0.38), rng.uniform(0.22, 0.30)
        else:
            cy, cx = (0.3 + 0.4 * k + rng.uniform(-0.03, 0.03)), rng.uniform(0.45, 0.55)
            a, b = rng.uniform(0.32, 0.38), rng.uniform(0.12, 0.15)
        angle = rng.uniform(-0.4, 0.4)
        u = (xx - cx) * np.cos(angle) + (yy - cy) * np.sin(angle)
        v = -(xx - cx) * np.sin(angle) + (yy - cy) * np.cos(angle)
        rho = np.sqrt((u / a) ** 2 + (v / b) ** 2)
        field = np.maximum(field, 1.0 - rho)
    field += 0.12 * _smooth_noise(rng, (n, n), n / 40)
    return field > 0


def _aggregates(
    rng: np.random.Generator,
    viable: NDArray[np.bool_],
    tumour: NDArray[np.bool_],
    target_area_px: float,
    stroma_shape: tuple[int, int],
    stroma_um: float,
) -> NDArray[np.bool_]:
    """Lymphocyte aggregates (stroma grid) covering about ``target_area_px`` stroma pixels.

    Centres fall in viable tumour, preferring the tumour border; radii 40-110 µm;
    ``stroma_um`` is the size of a stroma pixel in µm.
    """
    scale = MASK_DOWNSAMPLE // _STROMA_DOWNSAMPLE
    out = np.zeros(stroma_shape, dtype=bool)
    candidates = np.flatnonzero(viable)
    if candidates.size == 0 or target_area_px <= 0:
        return out
    depth = ndimage.distance_transform_edt(tumour).ravel()[candidates]
    weights = 1.0 + 3.0 * np.exp(-depth / 4.0)
    weights /= weights.sum()
    covered = 0.0
    ny, nx = stroma_shape
    for _ in range(400):
        if covered >= target_area_px:
            break
        idx = int(rng.choice(candidates, p=weights))
        cy = (idx // viable.shape[1] + rng.random()) * scale
        cx = (idx % viable.shape[1] + rng.random()) * scale
        radius = rng.uniform(40.0, 110.0) / stroma_um
        r = int(radius * 1.3) + 2
        y0, y1 = max(0, int(cy) - r), min(ny, int(cy) + r + 1)
        x0, x1 = max(0, int(cx) - r), min(nx, int(cx) + r + 1)
        yy, xx = np.mgrid[y0:y1, x0:x1]
        angle = np.arctan2(yy - cy, xx - cx)
        wobble = (
            1.0
            + 0.18 * np.sin(3 * angle + rng.uniform(0, 6.3))
            + 0.1 * np.sin(5 * angle + rng.uniform(0, 6.3))
        )
        disk = np.hypot(yy - cy, xx - cx) <= radius * wobble
        out[y0:y1, x0:x1] |= disk
        covered += float(disk.sum())
    return out


def _plates(
    rng: np.random.Generator,
    region: NDArray[np.bool_],
    warp: NDArray[np.float32],
    period_px: float,
    sinusoid_fraction: float,
) -> NDArray[np.bool_]:
    """Cell plates inside ``region``: True on plates, False in sinusoids and outside.

    Sinusoids are channels along the crests of two warped waves; evaluated only at the
    region's pixels. ``warp`` is a coarse smooth field sampled at 1/8 of the region grid.
    """
    iy, ix = np.nonzero(region)
    plates = np.zeros_like(region)
    angle = float(rng.uniform(0, np.pi))
    if iy.size == 0:
        return plates
    y, x = iy.astype(np.float32), ix.astype(np.float32)
    w = ndimage.map_coordinates(warp, [y / 8, x / 8], order=1, mode="nearest")
    k = np.float32(2 * np.pi / period_px)
    c1, s1 = np.float32(np.cos(angle)), np.float32(np.sin(angle))
    c2, s2 = np.float32(np.cos(angle + 1.1)), np.float32(np.sin(angle + 1.1))
    first = np.sin((x * c1 + y * s1) * k + 3.0 * w)
    second = np.sin((x * c2 + y * s2) * (0.8 * k) - 2.0 * w)
    distance = np.minimum(1.0 - first, 2.0 * (1.0 - second))
    plates[iy, ix] = distance > np.quantile(distance[::7], sinusoid_fraction)
    return plates


def _jittered_grid(
    rng: np.random.Generator, shape: tuple[int, int], spacing: float
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Candidate nucleus centres (y, x) in level-0 px: one per grid cell, uniformly jittered."""
    ny, nx = shape
    gy, gx = np.mgrid[0 : ny / spacing, 0 : nx / spacing]
    y = (gy.ravel() + rng.random(gy.size)) * spacing
    x = (gx.ravel() + rng.random(gx.size)) * spacing
    keep = (y < ny) & (x < nx)
    return y[keep], x[keep]


def _disk_kernel(radius: float) -> tuple[NDArray[np.intp], NDArray[np.intp], NDArray[np.float32]]:
    """Offsets and soft weights (1 inside, linear ramp over the last pixel) of a disk."""
    r = int(np.ceil(radius + 1))
    oy, ox = np.mgrid[-r : r + 1, -r : r + 1]
    weight = np.clip(radius + 0.5 - np.hypot(oy, ox), 0.0, 1.0).astype(np.float32)
    keep = weight > 0
    return oy[keep].astype(np.intp), ox[keep].astype(np.intp), weight[keep]


def _stamp(
    h_code: NDArray[np.uint8],
    y: NDArray[np.float64],
    x: NDArray[np.float64],
    radius: float,
    darkness: NDArray[np.float64],
) -> None:
    """Stamp soft disks of hematoxylin into ``h_code`` (in place, max-composited)."""
    if y.size == 0:
        return
    oy, ox, weight = _disk_kernel(radius)
    ny, nx = h_code.shape
    ys = np.clip(np.rint(y).astype(np.intp)[:, None] + oy[None, :], 0, ny - 1)
    xs = np.clip(np.rint(x).astype(np.intp)[:, None] + ox[None, :], 0, nx - 1)
    values = np.minimum(darkness[:, None] * weight[None, :] * (255.0 / _H_MAX), 255.0)
    h_code[ys, xs] = np.maximum(h_code[ys, xs], values.astype(np.uint8))


def stain_lookup(stain: StainProfile) -> NDArray[np.uint8]:
    """(256 * 256, 3) uint8 RGB for every (hematoxylin code, eosin code) pair, H-major."""
    h = np.arange(256, dtype=np.float32) / 255.0 * _H_MAX * stain.hematoxylin_strength
    e = np.arange(256, dtype=np.float32) / 255.0 * _E_MAX * stain.eosin_strength
    od = h[:, None, None] * np.asarray(stain.hematoxylin_od, dtype=np.float32) + e[
        None, :, None
    ] * np.asarray(stain.eosin_od, dtype=np.float32)
    rgb = np.asarray(stain.background_rgb, dtype=np.float32) * np.exp(-od)
    return np.clip(np.rint(rgb), 0, 255).astype(np.uint8).reshape(-1, 3)


def _upsample(field: NDArray[np.float32], factor: int) -> NDArray[np.float32]:
    """Smooth ``factor``x upsampling: nearest neighbour, then a box filter of the same width."""
    big = np.repeat(np.repeat(field, factor, 0), factor, 1)
    out: NDArray[np.float32] = ndimage.uniform_filter(big, factor).astype(np.float32)
    return out


def _signed_depth(mask: NDArray[np.bool_]) -> NDArray[np.float32]:
    """Distance to the mask boundary in pixels: > 0 inside, < 0 outside."""
    inside = ndimage.distance_transform_edt(mask)
    outside = ndimage.distance_transform_edt(~mask)
    out: NDArray[np.float32] = (inside - outside).astype(np.float32)
    return out


def render_slide(
    features: PatientFeatures,
    stain: StainProfile,
    rng: np.random.Generator,
    *,
    size_px: int = 4096,
    mpp: float = 1.0,
) -> SlidePhantom:
    """Render one slide and its ground-truth masks.

    Args:
        features: Planted features (immune_density, tumour_nuclear_density,
            necrosis_fraction, capsule).
        stain: The centre's stain vectors, strengths and background.
        rng: The patient's slide random stream.
        size_px: Level-0 width = height in pixels, a multiple of 256.
        mpp: Level-0 microns per pixel; nuclear sizes are in µm, so they scale with it.

    Returns:
        The slide; masks are (size_px/16, size_px/16).
    """
    if size_px % 256:
        raise ValueError(f"slide size must be a multiple of 256 px, got {size_px}")
    n_low = size_px // MASK_DOWNSAMPLE
    n_mid = size_px // _STROMA_DOWNSAMPLE
    up = MASK_DOWNSAMPLE // _STROMA_DOWNSAMPLE
    um = 1.0 / mpp  # level-0 px per µm
    low_um = MASK_DOWNSAMPLE * mpp  # µm per low-res px
    mid_um = _STROMA_DOWNSAMPLE * mpp  # µm per stroma px

    # Regions at 16 µm/px.
    tissue = _tissue_mask(rng, n_low)
    tumour_field = _smooth_noise(rng, (n_low, n_low), 250.0 / low_um)
    ramp = np.linspace(-1, 1, n_low, dtype=np.float32)
    angle = rng.uniform(0, 2 * np.pi)
    tumour_field += 1.2 * (np.cos(angle) * ramp[None, :] + np.sin(angle) * ramp[:, None])
    tumour = _quantile_mask(tumour_field, tissue, rng.uniform(0.35, 0.7))
    tumour = ndimage.binary_opening(tumour, iterations=2) & tissue
    depth = ndimage.distance_transform_edt(tumour).astype(np.float32)
    necrosis_field = (
        depth + _smooth_noise(rng, (n_low, n_low), 2.0) * max(float(depth.max()), 1.0) / 12
    )
    necrosis = _quantile_mask(
        necrosis_field, tumour & (depth > 2), 0.8 * features.necrosis_fraction
    )
    viable = tumour & ~necrosis
    target = (0.02 + 0.30 * features.immune_density) * float(viable.sum()) * up * up
    immune_mid = _aggregates(rng, viable, tumour, target, (n_mid, n_mid), mid_um)

    # Region labels at 4 µm/px, with smooth boundaries.
    tissue_mid = _upsample(tissue.astype(np.float32), up) >= 0.5
    tumour_depth = _upsample(_signed_depth(tumour), up)
    necrosis_mid = _upsample(necrosis.astype(np.float32), up) >= 0.5
    label = np.where(tissue_mid, NORMAL, BACKGROUND).astype(np.uint8)
    label[tumour_depth > 0] = TUMOUR
    if features.capsule:
        label[(tumour_depth <= 0) & (tumour_depth > -40.0 / low_um)] = FIBROUS
    label[necrosis_mid] = NECROSIS
    label[immune_mid] = IMMUNE
    label[~tissue_mid] = BACKGROUND

    warp = _smooth_noise(rng, (n_mid // 8 + 1, n_mid // 8 + 1), 3.0)
    normal_plates = _plates(rng, label == NORMAL, warp, 30.0 / mid_um, 0.28)
    tumour_plates = _plates(rng, label == TUMOUR, warp, 80.0 / mid_um, 0.15)
    eosin_by_label = np.array([0.0, 0.45, 0.4, 0.65, 0.8, 0.2], dtype=np.float32)
    haze_by_label = np.array([0.0, 0.05, 0.12, 0.2, 0.05, 0.15], dtype=np.float32)
    eosin = eosin_by_label[label]
    eosin[((label == NORMAL) & ~normal_plates) | ((label == TUMOUR) & ~tumour_plates)] = 0.07
    eosin *= 1.0 + 0.08 * _smooth_noise(rng, (n_mid, n_mid), 1.0)
    e_code = np.clip(eosin * (255.0 / _E_MAX), 0, 255).astype(np.uint8)
    h_code_mid = np.clip(haze_by_label[label] * (255.0 / _H_MAX), 0, 255).astype(np.uint8)
    f = _STROMA_DOWNSAMPLE
    h_nuclei = np.zeros((size_px, size_px), dtype=np.uint8)  # hematoxylin of nuclei only

    # Nuclei at level 0.
    shape = (size_px, size_px)
    counts: dict[str, float] = {}

    def nuclei(
        name: str,
        spacing_um: float,
        region: NDArray[np.bool_],
        radius_um: float,
        darkness: tuple[float, float],
        keep_probability: float = 1.0,
    ) -> None:
        y, x = _jittered_grid(rng, shape, spacing_um * um)
        if keep_probability < 1.0:
            chosen = rng.random(y.size) < keep_probability
            y, x = y[chosen], x[chosen]
        inside = region[(y / f).astype(np.intp), (x / f).astype(np.intp)]
        y, x = y[inside], x[inside]
        counts[f"{name}_nuclei"] = float(y.size)
        _stamp(h_nuclei, y, x, radius_um * um, rng.uniform(*darkness, size=y.size))

    nuclei("hepatocyte", 22.0, normal_plates, 4.0, (0.8, 1.0))
    nuclei(
        "tumour",
        22.0 / np.sqrt(features.tumour_nuclear_density),
        tumour_plates,
        5.5,
        (1.2, 1.5),
    )
    nuclei("lymphocyte", 8.5, label == IMMUNE, 3.5, (1.7, 2.0))
    nuclei(
        "scattered_lymphocyte",
        12.0,
        label == TUMOUR,
        3.3,
        (1.6, 1.9),
        keep_probability=0.02 + 0.12 * features.immune_density,
    )
    nuclei("debris", 20.0, label == NECROSIS, 2.0, (0.9, 1.2), keep_probability=0.5)
    nuclei("fibroblast", 28.0, label == FIBROUS, 2.5, (0.9, 1.1))

    # Colour: stroma at 4 µm/px, upsampled, then only the pixels that nuclei cover.
    lookup = stain_lookup(stain)
    rgb_mid = lookup[(h_code_mid.astype(np.uint16) << 8) | e_code]
    rgb = np.repeat(np.repeat(rgb_mid, f, 0), f, 1)
    flat = np.flatnonzero(h_nuclei)
    stroma_index = (flat // size_px // f) * n_mid + (flat % size_px) // f
    h_flat = np.maximum(h_nuclei.ravel()[flat], h_code_mid.ravel()[stroma_index])
    codes = (h_flat.astype(np.uint16) << 8) | e_code.ravel()[stroma_index]
    rgb.reshape(-1, 3)[flat] = lookup[codes]

    immune_low = immune_mid.reshape(n_low, up, n_low, up).mean(axis=(1, 3)) >= 0.5
    viable_mid = (label == TUMOUR) | (label == IMMUNE)
    pixel_mm2 = (mpp / 1000.0) ** 2
    measured = {
        "tissue_mm2": float(tissue.sum()) * MASK_DOWNSAMPLE**2 * pixel_mm2,
        "tumour_fraction_of_tissue": float(tumour.sum()) / max(float(tissue.sum()), 1.0),
        "necrosis_fraction_of_tumour": float(necrosis.sum()) / max(float(tumour.sum()), 1.0),
        "immune_fraction_of_viable_tumour": float((label == IMMUNE).sum())
        / max(float(viable_mid.sum()), 1.0),
        **counts,
    }
    return SlidePhantom(
        rgb=rgb,
        mpp=mpp,
        tissue=tissue,
        tumour=tumour,
        necrosis=necrosis,
        immune=immune_low & tissue,
        measured=measured,
    )
