"""A multiphase contrast T1 liver MRI phantom on an axial grid, with its ground-truth masks.

Anatomy (patient LPS mm, relative to a per-patient anatomy centre): body wall with
subcutaneous fat, spine, aorta, IVC, stomach, kidneys, spleen, a two-lobed liver with portal
vein branches, and 1-3 tumours. Tumours show arterial hyperenhancement (APHE), washout in the
portal venous and delayed phases, an optional enhancing capsule, central necrosis in the
largest tumour and, with macrovascular invasion, an enhancing tumour thrombus in the portal vein.

All four phases share one grid (one FrameOfReference, identical geometry): volumes are indexed
(z, y, x) with z along +S (inferior to superior), y along +P (rows), x along +L (columns), i.e.
ImageOrientationPatient (1, 0, 0, 0, 1, 0). Partial volume is modelled by soft edges one voxel
wide, so every planted structure of 10 mm or more survives resampling to about 5 mm voxels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from app.imaging.series import Phase
from app.synth.centres import MriProfile
from app.synth.generating_model import PatientFeatures

PHASES: tuple[Phase, ...] = (Phase.PRE_CONTRAST, Phase.ARTERIAL, Phase.PORTAL_VENOUS, Phase.DELAYED)
"""The four phases, in acquisition order."""

PHASE_DELAYS_S: dict[Phase, float] = {
    Phase.PRE_CONTRAST: -60.0,
    Phase.ARTERIAL: 25.0,  # replaced by the centre's arterial delay
    Phase.PORTAL_VENOUS: 70.0,
    Phase.DELAYED: 180.0,
}
"""Acquisition time relative to the contrast bolus start, seconds."""

CAPSULE_THICKNESS_MM = 4.0
NECROSIS_MIN_DIAMETER_MM = 30.0

Signal = tuple[float, float, float, float]
"""Signal of a tissue in (pre-contrast, arterial, portal venous, delayed), before gain."""

_TISSUE_SIGNAL: dict[str, Signal] = {
    "fat": (110.0, 115.0, 125.0, 125.0),  # fat-suppressed T1
    "viscera": (190.0, 220.0, 250.0, 245.0),
    "muscle": (200.0, 230.0, 260.0, 255.0),
    "vertebra": (330.0, 350.0, 380.0, 380.0),
    "csf": (80.0, 80.0, 85.0, 85.0),
    "stomach": (90.0, 95.0, 105.0, 105.0),
    "kidney": (280.0, 800.0, 700.0, 600.0),
    "spleen": (260.0, 620.0, 520.0, 470.0),
    "liver": (300.0, 380.0, 520.0, 490.0),
    "aorta": (120.0, 1100.0, 520.0, 400.0),
    "ivc": (120.0, 250.0, 560.0, 450.0),
    "portal_vein": (120.0, 400.0, 700.0, 480.0),
    "necrosis": (150.0, 155.0, 160.0, 160.0),
}
_GADOXETATE_LIVER_DELAYED = 560.0  # hepatocyte uptake starts in the transitional phase


@dataclass(frozen=True)
class MriGrid:
    """An axial voxel grid (IOP 1,0,0,0,1,0).

    Attributes:
        shape_zyx: (slices, rows, columns).
        spacing_mm_zyx: (slice spacing, row spacing, column spacing), mm.
        origin_mm: LPS position of voxel (0, 0, 0) centre, mm.
    """

    shape_zyx: tuple[int, int, int]
    spacing_mm_zyx: tuple[float, float, float]
    origin_mm: tuple[float, float, float]

    @classmethod
    def from_profile(cls, profile: MriProfile) -> MriGrid:
        """The grid of a centre's protocol, centred on its table offset."""
        n, dz, dxy = profile.matrix, profile.slice_spacing_mm, profile.pixel_spacing_mm
        cx, cy, cz = profile.table_offset_mm
        origin = (
            cx - (n - 1) / 2 * dxy,
            cy - (n - 1) / 2 * dxy,
            cz - (profile.slices - 1) / 2 * dz,
        )
        return cls((profile.slices, n, n), (dz, dxy, dxy), origin)

    @property
    def affine_zyx(self) -> NDArray[np.float64]:
        """4x4 matrix mapping (z, y, x, 1) voxel indices to LPS mm (x, y, z, 1)."""
        dz, dy, dx = self.spacing_mm_zyx
        m = np.zeros((4, 4))
        m[0, 2], m[1, 1], m[2, 0], m[3, 3] = dx, dy, dz, 1.0
        m[:3, 3] = self.origin_mm
        return m

    @property
    def centre_mm(self) -> NDArray[np.float64]:
        """LPS position of the grid centre, mm."""
        z, y, x = (np.asarray(self.shape_zyx) - 1) / 2
        centre: NDArray[np.float64] = (self.affine_zyx @ np.array([z, y, x, 1.0]))[:3]
        return centre

    def axes_mm(self) -> tuple[NDArray[np.float32], NDArray[np.float32], NDArray[np.float32]]:
        """Broadcastable LPS coordinates of voxel centres: x (1,1,X), y (1,Y,1), z (Z,1,1)."""
        nz, ny, nx = self.shape_zyx
        dz, dy, dx = self.spacing_mm_zyx
        ox, oy, oz = self.origin_mm
        x = (ox + dx * np.arange(nx, dtype=np.float32)).reshape(1, 1, nx)
        y = (oy + dy * np.arange(ny, dtype=np.float32)).reshape(1, ny, 1)
        z = (oz + dz * np.arange(nz, dtype=np.float32)).reshape(nz, 1, 1)
        return x, y, z


@dataclass(frozen=True)
class PlacedTumour:
    """A tumour as planted: centre (LPS mm) and diameter (mm)."""

    centre_mm: tuple[float, float, float]
    diameter_mm: float


@dataclass
class MriPhantom:
    """The rendered phases and their ground truth on one grid.

    Attributes:
        grid: The shared grid of every phase.
        signal: Phase -> (Z, Y, X) float32 signal after gain, bias and noise; the value that
            stored pixels times RescaleSlope plus RescaleIntercept must reproduce.
        liver: (Z, Y, X) bool, liver parenchyma including tumours.
        tumour_labels: (Z, Y, X) uint8, 0 outside tumours, i for tumour i (1-based, largest
            first), capsule and necrosis included.
        capsule: (Z, Y, X) bool, enhancing capsule rims.
        necrosis: (Z, Y, X) bool, central necrosis of the largest tumour.
        thrombus: (Z, Y, X) bool, portal-vein tumour thrombus (macrovascular invasion).
        vessels: (Z, Y, X) bool, aorta, IVC and portal vein (thrombus included).
        tumours: The planted tumours, largest first.
    """

    grid: MriGrid
    signal: dict[Phase, NDArray[np.float32]]
    liver: NDArray[np.bool_]
    tumour_labels: NDArray[np.uint8]
    capsule: NDArray[np.bool_]
    necrosis: NDArray[np.bool_]
    thrombus: NDArray[np.bool_]
    vessels: NDArray[np.bool_]
    tumours: tuple[PlacedTumour, ...]


class _Canvas:
    """Paints soft tissue masks in order (later structures cover earlier ones)."""

    def __init__(self, grid: MriGrid) -> None:
        self.grid = grid
        self.x, self.y, self.z = grid.axes_mm()
        self.edge_mm = float(np.mean(grid.spacing_mm_zyx))
        self.signal = np.zeros((4, *grid.shape_zyx), dtype=np.float32)

    def soft_from_distance(self, inside_mm: NDArray[np.float32]) -> NDArray[np.float32]:
        """Soft mask from a signed depth (mm, > 0 inside): 0.5 at the surface, one voxel ramp."""
        mask: NDArray[np.float32] = np.clip(0.5 + inside_mm / self.edge_mm, 0.0, 1.0).astype(
            np.float32
        )
        return mask

    def ellipsoid(
        self, centre: NDArray[np.float64], semi_axes: tuple[float, float, float]
    ) -> NDArray[np.float32]:
        """Soft mask of an axis-aligned ellipsoid (LPS centre and semi-axes, mm)."""
        a, b, c = semi_axes
        rho = np.sqrt(
            ((self.x - centre[0]) / a) ** 2
            + ((self.y - centre[1]) / b) ** 2
            + ((self.z - centre[2]) / c) ** 2
        )
        return self.soft_from_distance((1.0 - rho) * min(semi_axes))

    def cylinder(
        self, centre_xy: NDArray[np.float64], semi_axes: tuple[float, float]
    ) -> NDArray[np.float32]:
        """Soft mask of an elliptic cylinder along z (LPS centre x, y and semi-axes, mm)."""
        a, b = semi_axes
        rho = np.sqrt(((self.x - centre_xy[0]) / a) ** 2 + ((self.y - centre_xy[1]) / b) ** 2)
        mask = self.soft_from_distance((1.0 - rho) * min(semi_axes))
        return np.broadcast_to(mask, self.grid.shape_zyx)

    def sphere(self, centre: NDArray[np.float64], radius_mm: float) -> NDArray[np.float32]:
        """Soft mask of a sphere."""
        d = np.sqrt(
            (self.x - centre[0]) ** 2 + (self.y - centre[1]) ** 2 + (self.z - centre[2]) ** 2
        )
        return self.soft_from_distance(radius_mm - d)

    def tube(
        self, p0: NDArray[np.float64], p1: NDArray[np.float64], radius_mm: float
    ) -> NDArray[np.float32]:
        """Soft mask of a capsule-ended tube from p0 to p1 (LPS mm)."""
        v = p1 - p0
        t = ((self.x - p0[0]) * v[0] + (self.y - p0[1]) * v[1] + (self.z - p0[2]) * v[2]) / float(
            v @ v
        )
        t = np.clip(t, 0.0, 1.0)
        d = np.sqrt(
            (self.x - p0[0] - t * v[0]) ** 2
            + (self.y - p0[1] - t * v[1]) ** 2
            + (self.z - p0[2] - t * v[2]) ** 2
        )
        return self.soft_from_distance(radius_mm - d)

    def paint(self, mask: NDArray[np.float32], signal: Signal) -> None:
        """Composite a tissue over what is painted so far."""
        values = np.asarray(signal, dtype=np.float32).reshape(4, 1, 1, 1)
        self.signal += mask[None] * (values - self.signal)


def _place_tumours(
    rng: np.random.Generator,
    diameters_mm: tuple[float, ...],
    lobe_centre: NDArray[np.float64],
    lobe_semi_axes: NDArray[np.float64],
) -> tuple[PlacedTumour, ...]:
    """Centres inside the right lobe, kept apart when possible (50 tries per tumour)."""
    placed: list[PlacedTumour] = []
    for diameter in diameters_mm:
        radius = diameter / 2
        max_rho = max(0.15, 1.0 - 0.8 * radius / float(lobe_semi_axes.min()))
        candidate = lobe_centre
        for _ in range(50):
            direction = rng.normal(size=3)
            direction /= np.linalg.norm(direction)
            rho = max_rho * rng.random() ** (1 / 3)
            candidate = lobe_centre + direction * rho * lobe_semi_axes
            if all(
                np.linalg.norm(candidate - np.asarray(t.centre_mm)) > radius + t.diameter_mm / 2 + 5
                for t in placed
            ):
                break
        placed.append(PlacedTumour(tuple(float(c) for c in candidate), diameter))  # type: ignore[arg-type]
    return tuple(placed)


def _bias_field(grid: MriGrid, amplitude: float, rng: np.random.Generator) -> NDArray[np.float32]:
    """Smooth multiplicative receive bias, 1 +- amplitude over the field of view."""
    x, y, z = grid.axes_mm()
    c = grid.centre_mm
    half = (
        np.asarray(grid.shape_zyx[::-1], dtype=np.float64)
        * np.asarray(grid.spacing_mm_zyx[::-1])
        / 2
    )
    u, v, w = (x - c[0]) / half[0], (y - c[1]) / half[1], (z - c[2]) / half[2]
    gx, gy, gz, q = rng.uniform(-1.0, 1.0, size=4)
    field = 0.5 * (gx * u + gy * v + 0.5 * gz * w) + 0.5 * q * (u**2 + v**2 - 0.6)
    bias: NDArray[np.float32] = (1.0 + amplitude * np.clip(field, -1.0, 1.0)).astype(np.float32)
    return bias


def render_mri(
    features: PatientFeatures, profile: MriProfile, rng: np.random.Generator
) -> MriPhantom:
    """Render the four phases and ground-truth masks of one patient.

    Args:
        features: Planted features (tumour sizes, APHE, washout, capsule, necrosis, MVI).
        profile: The centre's scanner profile (grid, gain, noise, bias, contrast timing).
        rng: The patient's MRI random stream (anatomy jitter, tumour positions, noise).

    Returns:
        The phantom; ``signal`` volumes are (Z, Y, X) float32 in stored-value units after
        rescale (i.e. what an importer reads back), before quantisation.
    """
    grid = MriGrid.from_profile(profile)
    canvas = _Canvas(grid)
    scale = rng.uniform(0.93, 1.05)
    anatomy = grid.centre_mm + np.array(
        [rng.uniform(-10, 10), rng.uniform(-10, 10), rng.uniform(-6, 6)]
    )

    def at(dx: float, dy: float, dz: float = 0.0) -> NDArray[np.float64]:
        point: NDArray[np.float64] = anatomy + scale * np.array([dx, dy, dz])
        return point

    def sig(name: str) -> Signal:
        return _TISSUE_SIGNAL[name]

    body_axes = (150.0 * scale, 112.0 * scale)
    canvas.paint(canvas.cylinder(at(0, 10), body_axes), sig("fat"))
    canvas.paint(canvas.cylinder(at(0, 10), (body_axes[0] - 14, body_axes[1] - 14)), sig("viscera"))
    for side in (-1.0, 1.0):
        canvas.paint(canvas.cylinder(at(side * 35, 88), (22 * scale, 18 * scale)), sig("muscle"))
        canvas.paint(
            canvas.ellipsoid(at(side * 70, 72, -55), (27 * scale, 30 * scale, 48 * scale)),
            sig("kidney"),
        )
    canvas.paint(canvas.cylinder(at(0, 72), (20 * scale, 18 * scale)), sig("vertebra"))
    canvas.paint(canvas.cylinder(at(0, 97), (8 * scale, 7 * scale)), sig("csf"))
    canvas.paint(
        canvas.ellipsoid(at(60, -40, 30), (42 * scale, 28 * scale, 32 * scale)), sig("stomach")
    )
    canvas.paint(
        canvas.ellipsoid(at(92, 50, 15), (28 * scale, 45 * scale, 48 * scale)), sig("spleen")
    )

    liver_signal = np.asarray(sig("liver")) * rng.uniform(0.92, 1.08)
    if profile.contrast_agent == "gadoxetate":
        liver_signal[3] = _GADOXETATE_LIVER_DELAYED * liver_signal[0] / sig("liver")[0]
    liver_sig: Signal = tuple(float(v) for v in liver_signal)  # type: ignore[assignment]
    lobe_centre = at(-62, 5, 5)
    lobe_axes = np.array([66.0, 72.0, 68.0]) * scale
    right_lobe = canvas.ellipsoid(lobe_centre, (lobe_axes[0], lobe_axes[1], lobe_axes[2]))
    left_lobe = canvas.ellipsoid(at(8, -35, 22), (45 * scale, 33 * scale, 38 * scale))
    liver_soft = np.maximum(right_lobe, left_lobe)
    canvas.paint(liver_soft, liver_sig)

    canvas.paint(canvas.cylinder(at(15, 48), (11 * scale, 11 * scale)), sig("aorta"))
    ivc = canvas.cylinder(at(-25, 42), (13 * scale, 10 * scale)) * (
        canvas.z < anatomy[2] + 60 * scale
    )
    canvas.paint(ivc.astype(np.float32), sig("ivc"))
    hilum = at(-35, 15, -8)
    pv_main = canvas.tube(at(-5, 28, -48), hilum, 7.5 * scale)
    pv_right = canvas.tube(hilum, at(-85, 8, 4), 6.0 * scale)
    pv_left = canvas.tube(hilum, at(12, -18, 18), 5.5 * scale)
    portal = np.maximum(pv_main, np.maximum(pv_right, pv_left))
    canvas.paint(portal, sig("portal_vein"))

    tumours = _place_tumours(rng, features.tumour_diameters_mm, lobe_centre, lobe_axes)
    art, pv, dl = liver_sig[1], liver_sig[2], liver_sig[3]
    tumour_sig: Signal = (
        0.8 * liver_sig[0],
        art * features.aphe_ratio,
        pv * features.washout_ratio,
        dl * (features.washout_ratio - 0.05),
    )
    capsule_sig: Signal = (0.78 * liver_sig[0], 0.9 * art, 1.3 * pv, 1.35 * dl)
    shape = grid.shape_zyx
    labels = np.zeros(shape, dtype=np.uint8)
    capsule = np.zeros(shape, dtype=bool)
    for i, tumour in enumerate(tumours, start=1):
        centre = np.asarray(tumour.centre_mm)
        radius = tumour.diameter_mm / 2
        whole = canvas.sphere(centre, radius)
        labels[(whole >= 0.5) & (labels == 0)] = i
        if features.capsule:
            canvas.paint(whole, capsule_sig)
            core = canvas.sphere(centre, max(radius - CAPSULE_THICKNESS_MM, radius / 2))
            capsule |= (whole >= 0.5) & (core < 0.5)
            canvas.paint(core, tumour_sig)
        else:
            canvas.paint(whole, tumour_sig)

    necrosis = np.zeros(shape, dtype=bool)
    largest = tumours[0]
    if features.necrosis_fraction > 0 and largest.diameter_mm >= NECROSIS_MIN_DIAMETER_MM:
        viable_radius = largest.diameter_mm / 2 - (CAPSULE_THICKNESS_MM if features.capsule else 0)
        nec_radius = viable_radius * features.necrosis_fraction ** (1 / 3)
        nec = canvas.sphere(np.asarray(largest.centre_mm), nec_radius)
        canvas.paint(nec, sig("necrosis"))
        necrosis = nec >= 0.5

    thrombus = np.zeros(shape, dtype=bool)
    if features.macrovascular_invasion:
        branch = pv_right if largest.centre_mm[0] < hilum[0] else pv_left
        upper_main = pv_main * (canvas.z > anatomy[2] - 30 * scale)
        clot = np.maximum(branch, upper_main).astype(np.float32)
        thrombus_sig: Signal = (
            0.85 * liver_sig[0],
            0.9 * art * features.aphe_ratio,
            0.75 * pv,
            0.7 * dl,
        )
        canvas.paint(clot, thrombus_sig)
        thrombus = clot >= 0.5

    bias = _bias_field(grid, profile.bias_amplitude, rng)
    signal: dict[Phase, NDArray[np.float32]] = {}
    for k, phase in enumerate(PHASES):
        clean = canvas.signal[k] * (profile.gain * bias)
        noise = rng.normal(0.0, profile.noise_sd, size=(2, *shape)).astype(np.float32)
        signal[phase] = np.sqrt((clean + noise[0]) ** 2 + noise[1] ** 2).astype(np.float32)

    aorta_ivc = canvas.cylinder(at(15, 48), (11 * scale, 11 * scale)) >= 0.5
    return MriPhantom(
        grid=grid,
        signal=signal,
        liver=(liver_soft >= 0.5) | (labels > 0),
        tumour_labels=labels,
        capsule=capsule,
        necrosis=necrosis,
        thrombus=thrombus,
        vessels=aorta_ivc | (ivc >= 0.5) | (portal >= 0.5),
        tumours=tumours,
    )
