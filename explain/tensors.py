"""One case's model inputs as tensors, with the slide tiles encoded once.

Every attribution in `explain` perturbs one modality and holds the others at the case's
values. `CaseTensors.logits` is the one place that calls `NeoadjNet.forward`: the inputs not
perturbed are the case's own, expanded to the batch of perturbed ones. Tiles go in as the
(1, N, D) embeddings of the model's tile encoder (a form `forward` accepts), so the tile CNN
runs once per model rather than once per path point.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from inference.batch import collate
from inference.input_spec import InputSpec
from inference.model import NeoadjNet
from inference.preprocess import ModelInputs


@dataclass(frozen=True)
class CaseTensors:
    """Model inputs of one case (batch size 1) for one model, on the model's device.

    Attributes:
        model: The model explained (in eval mode).
        mri: (1, P, Z, Y, X) float32 normalised intensities on the model grid, or None.
        tiles: (1, N, 3, h, w) uint8 tiles, or None.
        tile_features: (1, N, D) float32 tile embeddings from ``model``'s tile encoder, or None.
        tile_mask: (1, N) bool, or None with ``tiles``.
        genes: (1, G) float32 alteration calls in [0, 1], or None.
        modality_mask: (1, 3) bool presence of (mri, slide, genes).
    """

    model: NeoadjNet
    mri: Tensor | None
    tiles: Tensor | None
    tile_features: Tensor | None
    tile_mask: Tensor | None
    genes: Tensor | None
    modality_mask: Tensor

    @classmethod
    def from_inputs(
        cls, model: NeoadjNet, inputs: ModelInputs, spec: InputSpec, device: str
    ) -> CaseTensors:
        """Collate prepared inputs as the runner does, on ``device``, and encode the tiles."""
        b = collate([inputs.arrays()], spec).to(device)
        return cls(model, b.mri, b.tiles, None, b.tile_mask, b.genes, b.modality_mask).with_model(
            model
        )

    def with_model(self, model: NeoadjNet) -> CaseTensors:
        """The same inputs for another model (e.g. a randomised copy): tiles re-encoded."""
        features = None
        if self.tiles is not None:
            with torch.no_grad():
                features = model.slide_branch.encode_tiles(self.tiles)
        return CaseTensors(
            model, self.mri, self.tiles, features, self.tile_mask, self.genes, self.modality_mask
        )

    def logits(
        self,
        *,
        mri: Tensor | None = None,
        tile_features: Tensor | None = None,
        genes: Tensor | None = None,
        modality_mask: Tensor | None = None,
    ) -> Tensor:
        """(B,) logits with any of the inputs replaced by a (B, ...) batch.

        Inputs not given are the case's own, expanded to the batch size B of the ones given
        (B = 1 when none is).
        """
        given = [t for t in (mri, tile_features, genes, modality_mask) if t is not None]
        b = given[0].shape[0] if given else 1
        out: Tensor = self.model(
            mri if mri is not None else _expand(self.mri, b),
            tile_features if tile_features is not None else _expand(self.tile_features, b),
            _expand(self.tile_mask, b),
            genes if genes is not None else _expand(self.genes, b),
            modality_mask if modality_mask is not None else _expand(self.modality_mask, b),
        )
        return out


def _expand(t: Tensor | None, b: int) -> Tensor | None:
    """A (1, ...) tensor viewed as (b, ...), or None."""
    if t is None or t.shape[0] == b:
        return t
    return t.expand(b, *t.shape[1:])
