"""The synthetic centres: six training centres and one external centre.

Centres differ only in appearance (scanner and stain profiles), never in case mix: the
generating model is the same everywhere, so the Bayes-optimal AUC is comparable across splits.
The cohort's ``--patients N`` are the training patients, spread over the six training centres
in fixed proportions; the external centre adds ``round(0.2 N)`` patients on top (at least 1),
as in the trial's development (536 patients from six centres, then external validation).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Split = Literal["train", "external"]
ContrastAgent = Literal["gadoxetate", "gadobutrol"]

EXTERNAL_FRACTION = 0.2
TRAIN_PROPORTIONS = (0.22, 0.19, 0.17, 0.16, 0.14, 0.12)


@dataclass(frozen=True)
class MriProfile:
    """One centre's MRI scanner and protocol.

    Attributes:
        matrix: Rows = columns of each axial image.
        pixel_spacing_mm: In-plane spacing (rows and columns), mm.
        slice_thickness_mm: SliceThickness, mm.
        slice_spacing_mm: SpacingBetweenSlices (= IPP step), mm.
        slices: Number of slices per phase.
        table_offset_mm: LPS position of the grid centre, mm (differs between centres).
        gain: Scanner intensity scaling applied to every tissue signal.
        noise_sd: Standard deviation of the Rician noise, in signal units after gain.
        bias_amplitude: Peak relative amplitude of the smooth receive-bias field.
        rescale_slope: RescaleSlope written in the headers (stored = (value - b) / slope).
        rescale_intercept: RescaleIntercept written in the headers.
        field_strength_t: MagneticFieldStrength, tesla.
        sequence: Sequence name used in SeriesDescription ("VIBE", "LAVA", "THRIVE").
        model_name: ManufacturerModelName.
        contrast_agent: ContrastBolusAgent of the post-contrast phases.
        arterial_delay_s: Arterial-phase acquisition time after the bolus start, s.
    """

    matrix: int
    pixel_spacing_mm: float
    slice_thickness_mm: float
    slice_spacing_mm: float
    slices: int
    table_offset_mm: tuple[float, float, float]
    gain: float
    noise_sd: float
    bias_amplitude: float
    rescale_slope: float
    rescale_intercept: float
    field_strength_t: float
    sequence: str
    model_name: str
    contrast_agent: ContrastAgent
    arterial_delay_s: float


@dataclass(frozen=True)
class StainProfile:
    """One centre's H&E staining and scanner colour.

    Attributes:
        hematoxylin_od: Optical density per unit hematoxylin for (R, G, B).
        eosin_od: Optical density per unit eosin for (R, G, B).
        hematoxylin_strength: Scale of all hematoxylin densities.
        eosin_strength: Scale of all eosin densities.
        background_rgb: Colour of glass without tissue (0-255).
        jpeg_quality: JPEG quality of the slide tiles.
    """

    hematoxylin_od: tuple[float, float, float]
    eosin_od: tuple[float, float, float]
    hematoxylin_strength: float
    eosin_strength: float
    background_rgb: tuple[int, int, int]
    jpeg_quality: int


@dataclass(frozen=True)
class Centre:
    """A synthetic centre: its code, split and appearance profiles."""

    code: str
    name: str
    split: Split
    mri: MriProfile
    stain: StainProfile


def _mri(
    matrix: int,
    spacing: float,
    thickness: float,
    slices: int,
    offset: tuple[float, float, float],
    gain: float,
    noise: float,
    bias: float,
    slope: float,
    intercept: float,
    tesla: float,
    sequence: str,
    agent: ContrastAgent,
    delay: float,
) -> MriProfile:
    return MriProfile(
        matrix=matrix,
        pixel_spacing_mm=spacing,
        slice_thickness_mm=thickness,
        slice_spacing_mm=thickness,
        slices=slices,
        table_offset_mm=offset,
        gain=gain,
        noise_sd=noise,
        bias_amplitude=bias,
        rescale_slope=slope,
        rescale_intercept=intercept,
        field_strength_t=tesla,
        sequence=sequence,
        model_name=f"SYNTHETIC {sequence} scanner {tesla:g}T",
        contrast_agent=agent,
        arterial_delay_s=delay,
    )


_H = (0.65, 0.70, 0.29)
_E = (0.09, 0.80, 0.45)

CENTRES: tuple[Centre, ...] = (
    Centre(
        "C1",
        "Synthetic centre 1",
        "train",
        _mri(
            96,
            4.0,
            5.0,
            36,
            (0.0, 0.0, 0.0),
            1.0,
            10.0,
            0.10,
            1.0,
            0.0,
            1.5,
            "VIBE",
            "gadoxetate",
            25.0,
        ),
        StainProfile(_H, _E, 1.0, 1.0, (242, 242, 244), 75),
    ),
    Centre(
        "C2",
        "Synthetic centre 2",
        "train",
        _mri(
            90,
            4.2,
            5.0,
            36,
            (3.0, -12.0, -150.0),
            1.6,
            14.0,
            0.20,
            2.0,
            0.0,
            3.0,
            "LAVA",
            "gadobutrol",
            30.0,
        ),
        StainProfile((0.60, 0.74, 0.30), (0.12, 0.78, 0.50), 1.2, 0.85, (236, 236, 240), 72),
    ),
    Centre(
        "C3",
        "Synthetic centre 3",
        "train",
        _mri(
            96,
            3.8,
            4.5,
            40,
            (-5.0, 8.0, 40.0),
            0.7,
            8.0,
            0.05,
            1.0,
            0.0,
            1.5,
            "THRIVE",
            "gadoxetate",
            22.0,
        ),
        StainProfile((0.70, 0.66, 0.26), (0.07, 0.84, 0.40), 0.85, 1.15, (246, 245, 246), 78),
    ),
    Centre(
        "C4",
        "Synthetic centre 4",
        "train",
        _mri(
            88,
            4.4,
            6.0,
            30,
            (10.0, 0.0, -60.0),
            1.2,
            12.0,
            0.25,
            0.5,
            -50.0,
            3.0,
            "VIBE",
            "gadobutrol",
            28.0,
        ),
        StainProfile((0.62, 0.72, 0.31), (0.14, 0.76, 0.52), 1.1, 1.05, (240, 238, 242), 70),
    ),
    Centre(
        "C5",
        "Synthetic centre 5",
        "train",
        _mri(
            92,
            4.0,
            5.5,
            33,
            (0.0, 5.0, 120.0),
            0.9,
            16.0,
            0.15,
            1.0,
            0.0,
            1.5,
            "LAVA",
            "gadoxetate",
            33.0,
        ),
        StainProfile((0.68, 0.68, 0.25), (0.10, 0.82, 0.42), 0.95, 0.9, (244, 243, 240), 75),
    ),
    Centre(
        "C6",
        "Synthetic centre 6",
        "train",
        _mri(
            96,
            3.6,
            5.0,
            36,
            (-8.0, -6.0, 15.0),
            1.35,
            9.0,
            0.30,
            1.0,
            0.0,
            3.0,
            "THRIVE",
            "gadobutrol",
            20.0,
        ),
        StainProfile((0.64, 0.71, 0.28), (0.08, 0.80, 0.48), 1.05, 1.2, (238, 240, 244), 80),
    ),
    Centre(
        "EXT",
        "Synthetic external centre",
        "external",
        _mri(
            94,
            3.9,
            4.8,
            38,
            (6.0, 10.0, -30.0),
            1.1,
            13.0,
            0.18,
            1.5,
            0.0,
            3.0,
            "VIBE",
            "gadoxetate",
            27.0,
        ),
        StainProfile((0.63, 0.73, 0.27), (0.11, 0.79, 0.46), 1.08, 0.95, (241, 240, 243), 75),
    ),
)

TRAINING_CENTRES: tuple[Centre, ...] = tuple(c for c in CENTRES if c.split == "train")
EXTERNAL_CENTRE: Centre = next(c for c in CENTRES if c.split == "external")


def centre_by_code(code: str) -> Centre:
    """The centre with this code ("C1".."C6", "EXT"); `KeyError` when unknown."""
    for centre in CENTRES:
        if centre.code == code:
            return centre
    raise KeyError(code)


def external_count(train_patients: int) -> int:
    """External-centre patients added on top of ``train_patients`` (20%, at least 1)."""
    return max(1, round(EXTERNAL_FRACTION * train_patients))


def assign_centres(train_patients: int) -> list[Centre]:
    """Centre of each cohort index: training centres in fixed proportions, then external.

    Args:
        train_patients: Patients over the six training centres, >= 1.

    Returns:
        ``train_patients + external_count(train_patients)`` centres; index i is patient i.
    """
    if train_patients < 1:
        raise ValueError(f"need at least one training patient, got {train_patients}")
    raw = [p * train_patients for p in TRAIN_PROPORTIONS]
    counts = [int(r) for r in raw]
    by_remainder = sorted(range(len(raw)), key=lambda i: (counts[i] - raw[i], i))
    for i in by_remainder[: train_patients - sum(counts)]:
        counts[i] += 1
    out = [c for c, n in zip(TRAINING_CENTRES, counts, strict=True) for _ in range(n)]
    return out + [EXTERNAL_CENTRE] * external_count(train_patients)
