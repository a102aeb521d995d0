"""Model-ready arrays of one case, and their collation into a batch of tensors."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from numpy.typing import NDArray
from torch import Tensor

from inference.input_spec import InputSpec
from inference.model import MODALITIES


@dataclass
class CaseArrays:
    """One case's model inputs as plain arrays (what the training cache stores).

    Attributes:
        mri: (P, Z, Y, X) float32 on the model grid, or None when MRI is missing.
        tiles: (N, 3, h, w) uint8 slide tiles (N >= 1), or None when the slide is missing.
        genes: (G,) float32 alteration calls, or None when the gene panel is missing.
        grid_matrix: (4, 4) model-grid zyx index -> LPS mm affine of ``mri``, or None.
        tile_positions: (N, 2) int64 level-0 top-left (x, y) of each tile, or None.
        tile_extent_px: Side of one tile in level-0 pixels, or None.

    The geometry is what lets training targets (tumour masks) be sampled where the inputs are.
    """

    mri: NDArray[np.float32] | None
    tiles: NDArray[np.uint8] | None
    genes: NDArray[np.float32] | None
    grid_matrix: NDArray[np.float64] | None = None
    tile_positions: NDArray[np.int64] | None = None
    tile_extent_px: float | None = None

    @property
    def modality_mask(self) -> tuple[bool, bool, bool]:
        """Presence of (mri, slide, genes)."""
        return (self.mri is not None, self.tiles is not None, self.genes is not None)

    def save(self, path: Path) -> None:
        """Write to an ``.npz`` file (MRI stored as float16: ample for intensities in [0, 5])."""
        arrays: dict[str, NDArray[np.generic]] = {}
        if self.mri is not None:
            arrays["mri"] = self.mri.astype(np.float16)
        if self.tiles is not None:
            arrays["tiles"] = self.tiles
        if self.genes is not None:
            arrays["genes"] = self.genes
        if self.grid_matrix is not None:
            arrays["grid_matrix"] = self.grid_matrix
        if self.tile_positions is not None and self.tile_extent_px is not None:
            arrays["tile_positions"] = self.tile_positions
            arrays["tile_extent_px"] = np.array(self.tile_extent_px, dtype=np.float64)
        tmp = path.with_suffix(".tmp.npz")
        np.savez(tmp, **arrays)  # type: ignore[arg-type]
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path) -> CaseArrays:
        """Read what `save` wrote."""
        with np.load(path) as data:
            mri = data["mri"].astype(np.float32) if "mri" in data else None
            tiles = data["tiles"].astype(np.uint8) if "tiles" in data else None
            genes = data["genes"].astype(np.float32) if "genes" in data else None
            matrix = data["grid_matrix"].astype(np.float64) if "grid_matrix" in data else None
            has_tiles = "tile_positions" in data
            positions = data["tile_positions"].astype(np.int64) if has_tiles else None
            extent = float(data["tile_extent_px"]) if "tile_extent_px" in data else None
        return cls(mri, tiles, genes, matrix, positions, extent)


@dataclass
class InputBatch:
    """A batch of B cases as tensors for `NeoadjNet.forward`.

    Attributes:
        mri: (B, P, Z, Y, X) float32 (zeros where absent), or None when no case has MRI.
        tiles: (B, N, 3, h, w) uint8 padded with zeros, or None when no case has a slide.
        tile_mask: (B, N) bool, True for real tiles, or None with ``tiles``.
        genes: (B, G) float32, or None when no case has a gene panel.
        modality_mask: (B, 3) bool in `MODALITIES` order.
    """

    mri: Tensor | None
    tiles: Tensor | None
    tile_mask: Tensor | None
    genes: Tensor | None
    modality_mask: Tensor

    def to(self, device: str) -> InputBatch:
        """The same batch on ``device``."""

        def move(t: Tensor | None) -> Tensor | None:
            return None if t is None else t.to(device)

        return InputBatch(
            move(self.mri),
            move(self.tiles),
            move(self.tile_mask),
            move(self.genes),
            self.modality_mask.to(device),
        )


def collate(cases: list[CaseArrays], spec: InputSpec) -> InputBatch:
    """Stack cases into one batch, padding tiles to the longest bag."""
    b = len(cases)
    mask = torch.tensor([c.modality_mask for c in cases], dtype=torch.bool).view(b, len(MODALITIES))
    mri: Tensor | None = None
    if any(c.mri is not None for c in cases):
        mri = torch.zeros((b, len(spec.phases), *spec.grid_shape_zyx), dtype=torch.float32)
        for i, c in enumerate(cases):
            if c.mri is not None:
                mri[i] = torch.from_numpy(np.ascontiguousarray(c.mri, dtype=np.float32))
    tiles: Tensor | None = None
    tile_mask: Tensor | None = None
    if any(c.tiles is not None for c in cases):
        n = max(len(c.tiles) for c in cases if c.tiles is not None)
        t = spec.tile_size_px
        tiles = torch.zeros((b, n, 3, t, t), dtype=torch.uint8)
        tile_mask = torch.zeros((b, n), dtype=torch.bool)
        for i, c in enumerate(cases):
            if c.tiles is not None:
                tiles[i, : len(c.tiles)] = torch.from_numpy(np.ascontiguousarray(c.tiles))
                tile_mask[i, : len(c.tiles)] = True
    genes: Tensor | None = None
    if any(c.genes is not None for c in cases):
        genes = torch.zeros((b, len(spec.genes)), dtype=torch.float32)
        for i, c in enumerate(cases):
            if c.genes is not None:
                genes[i] = torch.from_numpy(c.genes.astype(np.float32))
    return InputBatch(mri, tiles, tile_mask, genes, mask)
