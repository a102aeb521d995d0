"""One case's model inputs as tensors, with each modality's embedding computed once.

Every attribution in `explain` perturbs one modality and holds the others at the case's
values. Recomputing the fixed branches (above all the 3D CNN) for every IG path point would
dominate the cost, so `CaseTensors` runs each branch once and evaluates the model's fusion step
(absent embedding where a modality is masked out, then the head) on the cached embeddings.
`CaseTensors.verify` checks that this gives `NeoadjNet.forward`'s logit, so a change of the
model's fusion cannot silently change what is explained.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from inference.batch import collate
from inference.input_spec import InputSpec
from inference.model import NeoadjNet
from inference.preprocess import ModelInputs

FUSION_TOLERANCE_LOGIT = 1e-4
"""Largest accepted difference between the cached-embedding logit and the model's own."""


@dataclass(frozen=True)
class CaseTensors:
    """Model inputs of one case (batch size 1) and their embeddings under one model.

    Attributes:
        model: The model the embeddings come from (in eval mode).
        mri: (1, P, Z, Y, X) float32 normalised intensities on the model grid, or None.
        tiles: (1, N, 3, h, w) uint8 tiles, or None.
        tile_features: (1, N, D) float32 tile embeddings from the model's tile encoder, or None.
        tile_mask: (1, N) bool, or None with ``tiles``.
        genes: (1, G) float32 alteration calls in [0, 1], or None.
        modality_mask: (1, 3) bool presence of (mri, slide, genes).
        embeddings: (1, 3, D) float32 branch outputs (zeros for an absent modality).
    """

    model: NeoadjNet
    mri: Tensor | None
    tiles: Tensor | None
    tile_features: Tensor | None
    tile_mask: Tensor | None
    genes: Tensor | None
    modality_mask: Tensor
    embeddings: Tensor

    @classmethod
    def build(
        cls,
        model: NeoadjNet,
        mri: Tensor | None,
        tiles: Tensor | None,
        tile_mask: Tensor | None,
        genes: Tensor | None,
        modality_mask: Tensor,
    ) -> CaseTensors:
        """Encode every present modality with ``model`` (no gradient)."""
        d = model.config.embed_dim
        device = modality_mask.device
        with torch.no_grad():
            feats = model.slide_branch.encode_tiles(tiles) if tiles is not None else None
            parts = [
                model.mri_branch(mri) if mri is not None else torch.zeros(1, d, device=device),
                (
                    model.slide_branch(feats, tile_mask)[0]
                    if feats is not None and tile_mask is not None
                    else torch.zeros(1, d, device=device)
                ),
                model.gene_branch(genes) if genes is not None else torch.zeros(1, d, device=device),
            ]
        return cls(
            model, mri, tiles, feats, tile_mask, genes, modality_mask, torch.stack(parts, dim=1)
        )

    @classmethod
    def from_inputs(
        cls, model: NeoadjNet, inputs: ModelInputs, spec: InputSpec, device: str
    ) -> CaseTensors:
        """Collate prepared inputs as the runner does, on ``device``, and encode them."""
        b = collate([inputs.arrays()], spec).to(device)
        return cls.build(model, b.mri, b.tiles, b.tile_mask, b.genes, b.modality_mask)

    def with_model(self, model: NeoadjNet) -> CaseTensors:
        """The same inputs encoded by another model (e.g. a randomised copy)."""
        return self.build(
            model, self.mri, self.tiles, self.tile_mask, self.genes, self.modality_mask
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

        Branches whose input is not given use the cached embedding, expanded to the batch
        size B of the inputs given (B = 1 when none is).
        """
        given = [t for t in (mri, tile_features, genes, modality_mask) if t is not None]
        b = given[0].shape[0] if given else 1
        model = self.model
        emb = list(self.embeddings.expand(b, -1, -1).unbind(dim=1))  # 3 x (B, D)
        if mri is not None:
            emb[0] = model.mri_branch(mri)
        if tile_features is not None:
            if self.tile_mask is None:
                raise ValueError("the case has no tiles")
            emb[1] = model.slide_branch(tile_features, self.tile_mask.expand(b, -1))[0]
        if genes is not None:
            emb[2] = model.gene_branch(genes)
        mask = self.modality_mask.expand(b, -1) if modality_mask is None else modality_mask
        return self._fuse(torch.stack(emb, dim=1), mask)

    def _fuse(self, emb: Tensor, mask: Tensor) -> Tensor:
        """The model's fusion: (B, 3, D) embeddings and (B, 3) mask -> (B,) logits."""
        absent = self.model.absent.unsqueeze(0).expand(emb.shape[0], -1, -1)
        fused = torch.where(mask.unsqueeze(-1), emb, absent)
        out: Tensor = self.model.head(fused.flatten(1)).squeeze(-1)
        return out

    def verify(self) -> float:
        """The model's own logit for the case, after checking the cached path agrees.

        Raises:
            RuntimeError: if the two differ by more than `FUSION_TOLERANCE_LOGIT`.
        """
        with torch.no_grad():
            own = float(
                self.model(self.mri, self.tiles, self.tile_mask, self.genes, self.modality_mask)[0]
            )
            cached = float(self.logits()[0])
        if abs(own - cached) > FUSION_TOLERANCE_LOGIT:
            raise RuntimeError(
                f"explanation path disagrees with the model ({cached:.6f} vs {own:.6f}): "
                "NeoadjNet's fusion changed and explain/tensors.py must follow it"
            )
        return own
