"""Metadata of one whole-slide image, as the case importer and ``neoadj inspect`` report it."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class SlideInfo:
    """What a slide holds, without any patient identifier.

    Attributes:
        source: The path the slide was opened from (a file, or a DICOM-WSI folder).
        vendor: OpenSlide's vendor name ("aperio", "hamamatsu", "generic-tiff", ...) or "dicom".
        dimensions: Level-0 (width, height) in pixels.
        level_count: Number of pyramid levels.
        level_dimensions: (width, height) in pixels of each level, finest first.
        level_downsamples: Level-0 pixels per level pixel, per level (1.0 for level 0).
        mpp: Level-0 (x, y) pixel size in micrometres; None when the file does not say
            (it is never guessed; ``warnings`` then says that physical sizes are unavailable).
        objective_power: Scanner objective magnification (e.g. 20.0), None when absent.
        associated_images: Names of the non-pyramid images ("label", "macro", "thumbnail").
            The label can show a patient name: it is never read unless asked for by name.
        warnings: Problems the user should know about, one sentence each.
        files: Every file that makes up the slide (several for a DICOM-WSI series).
    """

    source: Path
    vendor: str
    dimensions: tuple[int, int]
    level_count: int
    level_dimensions: list[tuple[int, int]]
    level_downsamples: list[float]
    mpp: tuple[float, float] | None
    objective_power: float | None
    associated_images: list[str]
    warnings: list[str]
    files: list[Path] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """The ``slides`` entry of ``neoadj inspect --json`` (JSON-serialisable types only)."""
        return {
            "source": str(self.source),
            "vendor": self.vendor,
            "dimensions": list(self.dimensions),
            "level_count": self.level_count,
            "level_dimensions": [list(d) for d in self.level_dimensions],
            "mpp": list(self.mpp) if self.mpp is not None else None,
            "objective_power": self.objective_power,
            "associated_images": list(self.associated_images),
            "warnings": list(self.warnings),
        }


def missing_mpp_warning(name: str) -> str:
    """The warning shown when a slide has no pixel size."""
    return (
        f"'{name}' does not record its pixel size (microns per pixel): "
        "physical sizes and distances are unavailable for this slide."
    )
