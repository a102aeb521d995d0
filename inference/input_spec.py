"""What a checkpoint expects as input: MRI phases and grid, slide tiles, gene list."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from app.genomics.hcc_panel import HCC_PANEL_GENES
from app.imaging.series import Phase

DEFAULT_PHASES: tuple[Phase, ...] = (
    Phase.PRE_CONTRAST,
    Phase.ARTERIAL,
    Phase.PORTAL_VENOUS,
    Phase.DELAYED,
)


@dataclass(frozen=True)
class InputSpec:
    """Model input specification, stored in the checkpoint manifest.

    Attributes:
        phases: MRI contrast phases, in channel order.
        grid_shape_zyx: Model grid size (Z, Y, X) in voxels.
        grid_spacing_mm_zyx: Model grid spacing (Z, Y, X) in mm; the grid is axis-aligned
            with the patient: Z runs inferior->superior, Y anterior->posterior,
            X right->left (LPS +x).
        tile_size_px: Side of a square slide tile, in pixels.
        tile_mpp: Tile resolution in µm per pixel.
        max_tiles: Most tiles sampled from a slide.
        min_tissue_fraction: Least tissue fraction of a tile's area for it to be sampled.
        genes: Gene symbols of the gene-panel vector, in input order.
    """

    phases: tuple[Phase, ...] = DEFAULT_PHASES
    grid_shape_zyx: tuple[int, int, int] = (24, 48, 48)
    grid_spacing_mm_zyx: tuple[float, float, float] = (6.0, 5.0, 5.0)
    tile_size_px: int = 64
    tile_mpp: float = 4.0
    max_tiles: int = 64
    min_tissue_fraction: float = 0.5
    genes: tuple[str, ...] = HCC_PANEL_GENES

    @property
    def grid_extent_mm_zyx(self) -> tuple[float, float, float]:
        """Physical size of the model grid box (Z, Y, X) in mm."""
        z, y, x = self.grid_shape_zyx
        sz, sy, sx = self.grid_spacing_mm_zyx
        return (z * sz, y * sy, x * sx)

    def to_json(self) -> dict[str, Any]:
        """JSON-ready mapping (tuples as lists, phases as strings)."""
        out = asdict(self)
        out["phases"] = [str(p) for p in self.phases]
        return {k: list(v) if isinstance(v, tuple) else v for k, v in out.items()}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> InputSpec:
        """Inverse of `to_json`; unknown keys or phases raise `ValueError`."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown input-spec field(s): {', '.join(unknown)}")
        values: dict[str, Any] = {
            k: tuple(v) if isinstance(v, list) else v for k, v in data.items()
        }
        if "phases" in values:
            values["phases"] = tuple(Phase(p) for p in values["phases"])
        if "grid_shape_zyx" in values:
            values["grid_shape_zyx"] = tuple(int(v) for v in values["grid_shape_zyx"])
        if "grid_spacing_mm_zyx" in values:
            values["grid_spacing_mm_zyx"] = tuple(float(v) for v in values["grid_spacing_mm_zyx"])
        return cls(**values)
