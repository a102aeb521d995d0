"""The 2D frames of one parsed DICOM image file, each placed in patient space.

Three layouts are understood:

- classic single-frame images (MR/CT Image Storage): one frame, geometry at the top level;
- legacy multi-frame (NumberOfFrames > 1 without functional groups): one position and
  orientation for all frames. When FrameIncrementPointer names FrameTime/FrameTimeVector the
  frames are time points at that one position; otherwise they are assumed to be stacked along
  the slice normal every SpacingBetweenSlices (or SliceThickness) mm, with a warning;
- Enhanced MR/CT (and the Legacy Converted variants): each frame's position, orientation,
  pixel spacing and rescale come from its per-frame functional groups, else the shared ones.

Each frame also carries the values that can tell apart volumes sharing slice positions
(`VOLUME_ATTRIBUTES`: temporal position, echo, b-value, frame type, stack, other dimension
indices...); `app.imaging.volume_split` uses them.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.tag import Tag

from app.errors import CaseImportError
from app.imaging.dicom_files import IMPORT_KEYWORDS, NESTED_KEYWORDS
from app.imaging.element_values import ElementValues
from app.imaging.phase import seconds_of_day, seconds_of_day_dt

AttrValue = int | float | str | tuple[int | float | str, ...] | None
"""A per-frame value that may distinguish volumes (hashable, None when absent)."""

VOLUME_ATTRIBUTES = (
    "temporal",
    "echo",
    "echo_time",
    "bvalue",
    "frame_type",
    "stack",
    "dimension",
    "trigger",
    "acquisition",
    "frame",
)
"""Names of `Frame.attributes`, in the order they are tried to split repeated positions."""

ORIENTATION_TOL = 1e-2
"""How far a direction cosine vector may be from unit length or perpendicularity."""

_FUNCTIONAL_GROUPS = (
    "PlanePositionSequence",
    "PlaneOrientationSequence",
    "PixelMeasuresSequence",
    "PixelValueTransformationSequence",
    "FrameContentSequence",
    "MRImageFrameTypeSequence",
    "CTImageFrameTypeSequence",
    "MREchoSequence",
    "MRDiffusionSequence",
    "CardiacSynchronizationSequence",
)
"""Functional group macros read per frame (from the per-frame groups, else the shared)."""
_TEMPORAL_POINTERS = frozenset({Tag("FrameTime"), Tag("FrameTimeVector")})
_SPATIAL_DIMENSIONS = frozenset(
    {Tag("StackID"), Tag("InStackPositionNumber"), Tag("ImagePositionPatient")}
)
_NAMED_DIMENSIONS = frozenset(
    {Tag("TemporalPositionIndex"), Tag("EffectiveEchoTime"), Tag("DiffusionBValue")}
)


@dataclass(frozen=True)
class SeriesInfo:
    """Series-level values of one file (taken from the first file of each geometry)."""

    series_instance_uid: str
    series_description: str
    frame_of_reference_uid: str
    sop_instance_uid: str
    contrast_agent: str
    bolus_start_s: float | None


@dataclass(frozen=True, eq=False)
class Frame:
    """One 2D frame of a file, placed in patient space (LPS, mm).

    Attributes:
        file_index: Which file (index into the importer's list of read files).
        frame_index: Which frame of that file, from 0.
        position_mm: ImagePositionPatient of the frame's first pixel.
        orientation: Row cosines then column cosines.
        pixel_spacing_mm: (row spacing, column spacing): between rows (Y), between columns (X).
        rows: Image height in pixels.
        cols: Image width in pixels.
        slope: Rescale slope.
        intercept: Rescale intercept.
        attributes: `VOLUME_ATTRIBUTES` values present on the frame.
        acquisition_s: Acquisition time, seconds after midnight, when known.
        instance_number: InstanceNumber (0 when absent).
        slice_spacing_hint_mm: SpacingBetweenSlices, else SliceThickness, when given: the
            slice spacing of a single-slice geometry.
    """

    file_index: int
    frame_index: int
    position_mm: tuple[float, float, float]
    orientation: tuple[float, float, float, float, float, float]
    pixel_spacing_mm: tuple[float, float]
    rows: int
    cols: int
    slope: float
    intercept: float
    attributes: dict[str, AttrValue]
    acquisition_s: float | None
    instance_number: int
    slice_spacing_hint_mm: float | None

    @property
    def order_key(self) -> tuple[float, int, int, int]:
        """Acquisition order: time, instance number, file, frame."""
        t = self.acquisition_s if self.acquisition_s is not None else math.inf
        return (t, self.instance_number, self.file_index, self.frame_index)


@dataclass
class FileFrames:
    """The frames of one file and what it says about itself."""

    info: SeriesInfo
    frames: list[Frame]
    warnings: list[str] = field(default_factory=list)


_T = {k: Tag(k) for k in (*IMPORT_KEYWORDS, *NESTED_KEYWORDS)}


def describe_frames(
    ds: Dataset, *, file_index: int, name: str, values: ElementValues
) -> FileFrames:
    """The frames of one parsed MR/CT image file, placed in patient space.

    Args:
        ds: The file's dataset (at least `app.imaging.dicom_files.IMPORT_KEYWORDS`).
        file_index: Index of the file in the importer's list, stored in each frame.
        name: The file name, for messages.
        values: The importer's shared value cache.

    Raises:
        CaseImportError: if the geometry is missing or unusable (no ImagePositionPatient /
            ImageOrientationPatient / PixelSpacing, degenerate orientation, frame count
            mismatch...).
    """
    info = _series_info(ds, values)
    rows, cols = values.integer(ds, _T["Rows"]) or 0, values.integer(ds, _T["Columns"]) or 0
    if rows <= 0 or cols <= 0:
        raise CaseImportError(f"'{name}' is truncated or incomplete: it has no Rows/Columns.")
    n_frames = values.integer(ds, _T["NumberOfFrames"]) or 1
    if ds.get_item(_T["PerFrameFunctionalGroupsSequence"]) is not None:
        return FileFrames(info, _enhanced_frames(ds, file_index, name, values, rows, cols))
    if n_frames > 1:
        return _legacy_frames(ds, file_index, name, values, info, n_frames, rows, cols)
    position, orientation, spacing = _geometry(values, ds, ds, ds, f"'{name}'")
    frame = Frame(
        file_index=file_index,
        frame_index=0,
        position_mm=position,
        orientation=orientation,
        pixel_spacing_mm=spacing,
        rows=rows,
        cols=cols,
        slope=values.number(ds, _T["RescaleSlope"]) or 1.0,
        intercept=values.number(ds, _T["RescaleIntercept"]) or 0.0,
        attributes=_classic_attributes(ds, values),
        acquisition_s=_acquisition_s(ds, values),
        instance_number=values.integer(ds, _T["InstanceNumber"]) or 0,
        slice_spacing_hint_mm=_spacing_hint(ds, values),
    )
    return FileFrames(info, [frame])


def _series_info(ds: Dataset, values: ElementValues) -> SeriesInfo:
    agent = values.string(ds, _T["ContrastBolusAgent"])
    if not agent:
        agent_item = values.item(ds, _T["ContrastBolusAgentSequence"])
        agent = values.string(agent_item, _T["CodeMeaning"]) if agent_item is not None else ""
    return SeriesInfo(
        series_instance_uid=values.text(ds, _T["SeriesInstanceUID"]),
        series_description=values.string(ds, _T["SeriesDescription"]),
        frame_of_reference_uid=values.text(ds, _T["FrameOfReferenceUID"]),
        sop_instance_uid=values.text(ds, _T["SOPInstanceUID"]),
        contrast_agent=agent,
        bolus_start_s=seconds_of_day(values.text(ds, _T["ContrastBolusStartTime"])),
    )


def _geometry(
    values: ElementValues,
    position_ds: Dataset | None,
    orientation_ds: Dataset | None,
    spacing_ds: Dataset | None,
    what: str,
) -> tuple[
    tuple[float, float, float],
    tuple[float, float, float, float, float, float],
    tuple[float, float],
]:
    """ImagePositionPatient, ImageOrientationPatient and PixelSpacing, validated.

    Args:
        values: The value cache.
        position_ds: The dataset (or functional group item) holding ImagePositionPatient.
        orientation_ds: The one holding ImageOrientationPatient.
        spacing_ds: The one holding PixelSpacing.
        what: The file (and frame) for messages, e.g. "'a.dcm' (frame 3)".
    """
    ipp = values.floats(position_ds, _T["ImagePositionPatient"])
    iop = values.floats(orientation_ds, _T["ImageOrientationPatient"])
    spacing = values.floats(spacing_ds, _T["PixelSpacing"])
    missing = [
        keyword
        for keyword, value, count in (
            ("ImagePositionPatient", ipp, 3),
            ("ImageOrientationPatient", iop, 6),
            ("PixelSpacing", spacing, 2),
        )
        if value is None or len(value) < count
    ]
    if missing or ipp is None or iop is None or spacing is None:
        raise CaseImportError(
            f"{what} has no usable {'/'.join(missing)}: it cannot be placed in patient space."
        )
    if not _is_orientation(iop[:6]):
        raise CaseImportError(
            f"{what}: ImageOrientationPatient {list(iop[:6])} is not two perpendicular unit "
            "vectors."
        )
    if spacing[0] <= 0 or spacing[1] <= 0:
        raise CaseImportError(f"{what}: PixelSpacing {list(spacing[:2])} is not positive.")
    return (
        (ipp[0], ipp[1], ipp[2]),
        (iop[0], iop[1], iop[2], iop[3], iop[4], iop[5]),
        (spacing[0], spacing[1]),
    )


@functools.lru_cache(maxsize=64)
def _is_orientation(iop: tuple[float, ...]) -> bool:
    """Whether row and column cosines are unit vectors and perpendicular (within tolerance)."""
    row, col = iop[:3], iop[3:6]
    norm_r, norm_c = math.sqrt(sum(v * v for v in row)), math.sqrt(sum(v * v for v in col))
    dot = sum(a * b for a, b in zip(row, col, strict=True))
    return (
        abs(norm_r - 1) <= ORIENTATION_TOL
        and abs(norm_c - 1) <= ORIENTATION_TOL
        and (abs(dot) <= ORIENTATION_TOL)
    )


def _classic_attributes(ds: Dataset, values: ElementValues) -> dict[str, AttrValue]:
    attributes: dict[str, AttrValue] = {
        "temporal": values.integer(ds, _T["TemporalPositionIdentifier"]),
        "echo": values.integer(ds, _T["EchoNumbers"]),
        "echo_time": values.number(ds, _T["EchoTime"]),
        "bvalue": values.number(ds, _T["DiffusionBValue"]),
        "frame_type": values.text(ds, _T["ImageType"]) or None,
        "trigger": values.number(ds, _T["TriggerTime"]),
        "acquisition": values.integer(ds, _T["AcquisitionNumber"]),
    }
    return {k: v for k, v in attributes.items() if v is not None}


def _acquisition_s(ds: Dataset, values: ElementValues) -> float | None:
    seconds = seconds_of_day(values.text(ds, _T["AcquisitionTime"]))
    if seconds is None:
        seconds = seconds_of_day_dt(values.text(ds, _T["AcquisitionDateTime"]))
    return seconds


def _spacing_hint(ds: Dataset | None, values: ElementValues) -> float | None:
    for key in ("SpacingBetweenSlices", "SliceThickness"):
        value = values.number(ds, _T[key])
        if value is not None and value > 0:
            return value
    return None


def _legacy_frames(
    ds: Dataset,
    file_index: int,
    name: str,
    values: ElementValues,
    info: SeriesInfo,
    n_frames: int,
    rows: int,
    cols: int,
) -> FileFrames:
    """Frames of a legacy multi-frame image: one geometry, frames in time or stacked."""
    position, orientation, spacing = _geometry(values, ds, ds, ds, f"'{name}'")
    pointers = values.raw(ds, _T["FrameIncrementPointer"])
    pointer_list = pointers if isinstance(pointers, MultiValue | list | tuple) else [pointers]
    temporal = any(p is not None and Tag(p) in _TEMPORAL_POINTERS for p in pointer_list)
    step = _spacing_hint(ds, values)
    warnings: list[str] = []
    if temporal:
        positions = [position] * n_frames
        warnings.append(
            f"'{name}': its {n_frames} frames are time points at one slice position "
            "(FrameIncrementPointer: FrameTime)."
        )
    else:
        if step is None:
            raise CaseImportError(
                f"'{name}' holds {n_frames} frames without a position for each and without "
                "SpacingBetweenSlices or SliceThickness: they cannot be placed in patient space."
            )
        normal = _normal(orientation)
        positions = [
            (
                position[0] + i * step * normal[0],
                position[1] + i * step * normal[1],
                position[2] + i * step * normal[2],
            )
            for i in range(n_frames)
        ]
        warnings.append(
            f"'{name}' is a legacy multi-frame image without per-frame positions: its "
            f"{n_frames} frames are assumed to be stacked along the slice normal every "
            f"{step:g} mm."
        )
    base = _classic_attributes(ds, values)
    acquisition_s = _acquisition_s(ds, values)
    frames = [
        Frame(
            file_index=file_index,
            frame_index=i,
            position_mm=positions[i],
            orientation=orientation,
            pixel_spacing_mm=spacing,
            rows=rows,
            cols=cols,
            slope=values.number(ds, _T["RescaleSlope"]) or 1.0,
            intercept=values.number(ds, _T["RescaleIntercept"]) or 0.0,
            attributes={**base, "frame": i + 1} if temporal else base,
            acquisition_s=acquisition_s,
            instance_number=values.integer(ds, _T["InstanceNumber"]) or 0,
            slice_spacing_hint_mm=step,
        )
        for i in range(n_frames)
    ]
    return FileFrames(info, frames, warnings)


def _enhanced_frames(
    ds: Dataset, file_index: int, name: str, values: ElementValues, rows: int, cols: int
) -> list[Frame]:
    """Frames of an Enhanced (or Legacy Converted Enhanced) MR/CT image."""
    n_frames = values.integer(ds, _T["NumberOfFrames"]) or 1
    per_frame: Sequence[Dataset] = ds[_T["PerFrameFunctionalGroupsSequence"]].value
    if len(per_frame) != n_frames:
        raise CaseImportError(
            f"'{name}' has {len(per_frame)} per-frame functional groups for {n_frames} frames: "
            "it is inconsistent or truncated."
        )
    shared = values.item(ds, _T["SharedFunctionalGroupsSequence"])
    shared_groups = {key: values.item(shared, _T[key]) for key in _FUNCTIONAL_GROUPS}
    extra_dims = _extra_dimensions(ds, values)
    top_slope = values.number(ds, _T["RescaleSlope"]) or 1.0
    top_intercept = values.number(ds, _T["RescaleIntercept"]) or 0.0
    instance = values.integer(ds, _T["InstanceNumber"]) or 0
    file_acquisition_s = _acquisition_s(ds, values)
    frames = []
    for i, fg in enumerate(per_frame):
        # each group from the frame's own functional groups, else the shared ones
        own = {key: values.item(fg, _T[key]) for key in _FUNCTIONAL_GROUPS}
        group = {key: own[key] if own[key] is not None else shared_groups[key] for key in own}
        position, orientation, spacing = _geometry(
            values,
            group["PlanePositionSequence"],
            group["PlaneOrientationSequence"],
            group["PixelMeasuresSequence"],
            f"'{name}' (frame {i + 1})",
        )
        transform = group["PixelValueTransformationSequence"]
        content = group["FrameContentSequence"]
        frame_type = group["MRImageFrameTypeSequence"] or group["CTImageFrameTypeSequence"]
        index_values = values.floats(content, _T["DimensionIndexValues"]) or ()
        dimension = tuple(int(index_values[d]) for d in extra_dims if d < len(index_values))
        attributes: dict[str, AttrValue] = {
            "temporal": values.integer(content, _T["TemporalPositionIndex"]),
            "stack": values.text(content, _T["StackID"]) or None,
            "acquisition": values.integer(content, _T["FrameAcquisitionNumber"]),
            "echo_time": values.number(group["MREchoSequence"], _T["EffectiveEchoTime"]),
            "bvalue": values.number(group["MRDiffusionSequence"], _T["DiffusionBValue"]),
            "frame_type": values.text(frame_type, _T["FrameType"]) or None,
            "dimension": dimension or None,
            "trigger": values.number(
                group["CardiacSynchronizationSequence"], _T["NominalCardiacTriggerDelayTime"]
            ),
        }
        acquisition_s = seconds_of_day_dt(values.text(content, _T["FrameAcquisitionDateTime"]))
        slope = values.number(transform, _T["RescaleSlope"])
        intercept = values.number(transform, _T["RescaleIntercept"])
        frames.append(
            Frame(
                file_index=file_index,
                frame_index=i,
                position_mm=position,
                orientation=orientation,
                pixel_spacing_mm=spacing,
                rows=rows,
                cols=cols,
                slope=slope if slope is not None else top_slope,
                intercept=intercept if intercept is not None else top_intercept,
                attributes={k: v for k, v in attributes.items() if v is not None},
                acquisition_s=acquisition_s if acquisition_s is not None else file_acquisition_s,
                instance_number=instance,
                slice_spacing_hint_mm=_spacing_hint(group["PixelMeasuresSequence"], values),
            )
        )
    return frames


def _extra_dimensions(ds: Dataset, values: ElementValues) -> list[int]:
    """Positions in DimensionIndexValues of dimensions that are neither spatial nor named."""
    if ds.get_item(_T["DimensionIndexSequence"]) is None:
        return []
    out = []
    for d, item in enumerate(ds[_T["DimensionIndexSequence"]].value):
        pointer = values.raw(item, _T["DimensionIndexPointer"])
        if pointer is None:
            continue
        tag = Tag(pointer)
        if tag not in _SPATIAL_DIMENSIONS and tag not in _NAMED_DIMENSIONS:
            out.append(d)
    return out


def _normal(orientation: Sequence[float]) -> tuple[float, float, float]:
    """Unit row cosine x column cosine."""
    r, c = orientation[:3], orientation[3:6]
    n = (r[1] * c[2] - r[2] * c[1], r[2] * c[0] - r[0] * c[2], r[0] * c[1] - r[1] * c[0])
    length = math.sqrt(sum(v * v for v in n))
    return (n[0] / length, n[1] / length, n[2] / length)
