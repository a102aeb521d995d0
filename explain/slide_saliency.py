"""Slide saliency: MIL attention and per-tile Integrated Gradients, in slide level-0 pixels.

Per-tile attribution is IG with respect to the (1, N, D) tile embeddings that feed the
attention-MIL pooling, summed over the D features of each tile. The baseline is all-zero
embeddings ("tiles with no features": the encoder ends in a ReLU, so 0 is its floor), for
which attention is uniform and the pooled slide embedding is 0. Units: logit; the N values sum
to about ``logit(case) - logit(case with featureless tiles)``.

Attention says where the model looked, attribution what that pushed the logit towards
(signed). Both become a heatmap with a stated geometry and a QuPath-readable GeoJSON.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray

from explain.integrated import IG_STEP_SCHEDULE, IgResult, integrated_gradients
from explain.tensors import CaseTensors

_TILE_NAMESPACE = uuid.UUID("6f0e5a52-3c1b-5d2e-9a57-2f1d8b6c4e10")
"""Namespace of the tiles' UUIDs (uuid5 of "x,y,extent")."""


@dataclass(frozen=True)
class SlideSaliency:
    """Per-tile attention and attribution of one slide.

    Attributes:
        attention: (N,) float32 MIL attention weights (sum 1).
        attribution: (N,) float32 IG per tile, logit units.
        positions_level0_xy: (N, 2) int64 top-left corner of each tile, level-0 px.
        tile_extent_level0_px: Side of one tile in level-0 px.
        ig: Step count, convergence delta and end-point logits of the IG run.
    """

    attention: NDArray[np.float32]
    attribution: NDArray[np.float32]
    positions_level0_xy: NDArray[np.int64]
    tile_extent_level0_px: float
    ig: IgResult


@dataclass(frozen=True)
class SlideHeatmap:
    """Tile values painted on a regular grid over the slide.

    Pixel (row j, column i) covers level-0 x in ``offset_x + [i, i+1) * scale`` and y in
    ``offset_y + [j, j+1) * scale``.

    Attributes:
        attention: (H, W) float32, NaN where no tile was scored.
        attribution: (H, W) float32 logit units, NaN where no tile was scored.
        scale_level0_px: Level-0 pixels per heatmap pixel (both axes).
        offset_level0_xy: Level-0 (x, y) of the heatmap's top-left corner.
    """

    attention: NDArray[np.float32]
    attribution: NDArray[np.float32]
    scale_level0_px: float
    offset_level0_xy: tuple[float, float]


def tile_attention(case: CaseTensors) -> NDArray[np.float32]:
    """(N,) MIL attention weights of the case's tiles (sum 1)."""
    if case.tile_features is None or case.tile_mask is None:
        raise ValueError("the case has no encoded tiles")
    with torch.no_grad():
        _, attention = case.model.slide_branch(case.tile_features, case.tile_mask)
    weights: NDArray[np.float32] = attention[0].cpu().numpy().astype(np.float32)
    return weights


def tile_integrated_gradients(
    case: CaseTensors,
    *,
    cancel: threading.Event | None = None,
    on_batch: Callable[[], None] | None = None,
    steps: Sequence[int] = IG_STEP_SCHEDULE,
) -> IgResult:
    """IG with respect to the (1, N, D) tile embeddings, zero baseline."""
    if case.tile_features is None:
        raise ValueError("the case has no encoded tiles")
    feats = case.tile_features
    return integrated_gradients(
        lambda x: case.logits(tile_features=x),
        feats,
        torch.zeros_like(feats),
        cancel=cancel,
        on_batch=on_batch,
        steps=steps,
    )


def slide_saliency(
    case: CaseTensors,
    positions_level0_xy: NDArray[np.int64],
    tile_extent_level0_px: float,
    *,
    cancel: threading.Event | None = None,
    on_batch: Callable[[], None] | None = None,
) -> SlideSaliency:
    """Attention and per-tile IG of one case's slide."""
    ig = tile_integrated_gradients(case, cancel=cancel, on_batch=on_batch)
    per_tile = ig.attributions[0].sum(dim=-1).cpu().numpy().astype(np.float32)
    return SlideSaliency(
        tile_attention(case),
        per_tile,
        np.asarray(positions_level0_xy, dtype=np.int64),
        float(tile_extent_level0_px),
        ig,
    )


def slide_heatmap(saliency: SlideSaliency, *, pixels_per_tile: int = 1) -> SlideHeatmap:
    """Paint each tile's values over the heatmap pixels whose centres it covers.

    Args:
        saliency: Per-tile values with their level-0 positions.
        pixels_per_tile: Heatmap pixels along one tile side (scale = tile extent / this).

    Returns:
        The heatmap; where tiles overlap, their values are averaged.
    """
    scale = saliency.tile_extent_level0_px / pixels_per_tile
    pos = saliency.positions_level0_xy.astype(np.float64)
    offset = (float(pos[:, 0].min()), float(pos[:, 1].min()))
    extent = saliency.tile_extent_level0_px
    width = int(np.ceil((pos[:, 0].max() + extent - offset[0]) / scale))
    height = int(np.ceil((pos[:, 1].max() + extent - offset[1]) / scale))
    sums = np.zeros((2, height, width), dtype=np.float64)
    counts = np.zeros((height, width), dtype=np.int64)
    centres_x = offset[0] + (np.arange(width) + 0.5) * scale
    centres_y = offset[1] + (np.arange(height) + 0.5) * scale
    for (x, y), att, attr in zip(pos, saliency.attention, saliency.attribution, strict=True):
        cols = np.nonzero((centres_x >= x) & (centres_x < x + extent))[0]
        rows = np.nonzero((centres_y >= y) & (centres_y < y + extent))[0]
        if cols.size == 0 or rows.size == 0:
            continue
        block = np.ix_(rows, cols)
        sums[0][block] += att
        sums[1][block] += attr
        counts[block] += 1
    with np.errstate(invalid="ignore"):
        mean = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan).astype(np.float32)
    return SlideHeatmap(mean[0], mean[1], float(scale), offset)


def tiles_geojson(saliency: SlideSaliency) -> dict[str, Any]:
    """A GeoJSON FeatureCollection of the scored tiles, as QuPath imports it.

    Each tile is a ``Polygon`` in level-0 pixel coordinates (x right, y down), with a UUID
    ``id`` derived from its position (QuPath keeps it as the object's ID) and ``properties``
    ``{"objectType": "tile", "name", "isLocked", "measurements": {"attention", "attribution",
    "attention_rank"}}`` (QuPath >= 0.4 reads measurements as an object); rank 1 is the most
    attended tile.
    """
    extent = saliency.tile_extent_level0_px
    order = np.argsort(-saliency.attention, kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(1, len(order) + 1)
    features = []
    for i, ((x, y), att, attr) in enumerate(
        zip(saliency.positions_level0_xy, saliency.attention, saliency.attribution, strict=True)
    ):
        x0, y0 = float(x), float(y)
        x1, y1 = x0 + extent, y0 + extent
        ring = [[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]
        features.append(
            {
                "type": "Feature",
                "id": str(uuid.uuid5(_TILE_NAMESPACE, f"{x0:g},{y0:g},{extent:g}")),
                "geometry": {"type": "Polygon", "coordinates": [ring]},
                "properties": {
                    "objectType": "tile",
                    "name": f"tile {i}",
                    "isLocked": True,
                    "measurements": {
                        "attention": float(att),
                        "attribution": float(attr),
                        "attention_rank": int(rank[i]),
                    },
                },
            }
        )
    return {"type": "FeatureCollection", "features": features}
