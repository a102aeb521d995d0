"""Neoadj-Net: a small multimodal benefit classifier (MRI 3D CNN, slide attention-MIL, gene MLP).

Each modality is encoded to an ``embed_dim`` vector and layer-normalised (so that no modality
dominates the fusion by its scale). A modality that is absent (per sample,
from ``modality_mask``) is replaced by a learned "absent" embedding, so any subset of
{mri, slide, genes} gives a prediction; during training whole modalities are dropped at random
(``modality_dropout``) so that the subsets are meaningful. The fused vector goes through a
two-layer head to one logit per patient.

Gated attention-MIL follows Ilse, Tomczak & Welling, "Attention-based Deep Multiple Instance
Learning", ICML 2018.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any, NamedTuple

import torch
from torch import Tensor, nn

ARCHITECTURE_NAME = "NeoadjNet"
ARCHITECTURE_VERSION = "2"
"""Bumped whenever a change makes older weights unloadable or meaningless."""

MODALITIES: tuple[str, ...] = ("mri", "slide", "genes")
"""Column order of ``modality_mask``."""


@dataclass(frozen=True)
class ArchitectureConfig:
    """Sizes of Neoadj-Net (everything needed to rebuild the module before loading weights).

    Attributes:
        phases: MRI input channels, one per contrast phase.
        mri_channels: Output channels of the 3D convolutions (at least 2): the first has
            stride 2, each middle one is followed by a 2x max-pool, the last is ``last_conv``.
        tile_channels: Output channels of the 2D tile-encoder layers: the first embeds 4x4
            patches, each next one halves h and w.
        genes: Length of the gene-panel vector.
        embed_dim: Size of each modality embedding.
        attention_dim: Hidden size of the gated MIL attention.
        fusion_hidden: Hidden size of the fusion head.
        dropout: Dropout before the last layer (training only).
        modality_dropout: Probability of dropping each present modality per sample during
            training (at least one modality is always kept).
    """

    phases: int = 4
    mri_channels: tuple[int, ...] = (16, 32, 32)
    tile_channels: tuple[int, ...] = (16, 32, 32)
    genes: int = 14
    embed_dim: int = 32
    attention_dim: int = 32
    fusion_hidden: int = 32
    dropout: float = 0.1
    modality_dropout: float = 0.25

    def __post_init__(self) -> None:
        if len(self.mri_channels) < 2 or not self.tile_channels:
            raise ValueError("need at least 2 MRI and 1 tile-encoder channel counts")
        if not 0.0 <= self.modality_dropout < 1.0:
            raise ValueError(f"modality_dropout must be in [0, 1), got {self.modality_dropout}")

    def to_json(self) -> dict[str, Any]:
        """JSON-ready mapping (tuples as lists)."""
        out = asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in out.items()}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ArchitectureConfig:
        """Inverse of `to_json`; unknown keys raise `ValueError`."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown architecture field(s): {', '.join(unknown)}")
        values: dict[str, Any] = {
            k: tuple(v) if isinstance(v, list) else v for k, v in data.items()
        }
        return cls(**values)


class NeoadjOutput(NamedTuple):
    """What `NeoadjNet.forward` returns with ``return_attention`` or ``return_aux``.

    Attributes:
        logits: (B,) benefit logits.
        attention: (B, N) MIL attention weights over tiles (zeros where masked or the
            slide is absent), or None when no tiles were given.
        modality_logits: (B, 3) logits of the per-modality auxiliary heads (training aid:
            each branch alone must predict benefit), or None unless ``return_aux``.
    """

    logits: Tensor
    attention: Tensor | None
    modality_logits: Tensor | None = None


def _relu() -> list[nn.Module]:
    # No per-sample normalisation inside the encoders: GroupNorm over a tile or a volume
    # would erase exactly what matters (how much of a tile is dark lymphocytes, how bright
    # an arterial lesion is), so the convolutions see raw, globally scaled intensities.
    return [nn.ReLU(inplace=True)]


class MriBranch(nn.Module):
    """3D CNN over the co-registered phases: (B, P, Z, Y, X) -> (B, embed_dim).

    The first convolution has stride 2 (learned downsampling: cheap on CPU, and every voxel is
    still seen), each middle block is a convolution and a 2x max-pool, and ``last_conv`` is the
    last ``nn.Conv3d``: its output, (B, C, Z/4, Y/4, X/4) with two blocks, is the layer
    Grad-CAM reads. Pooling concatenates the global mean and the global max over space.
    """

    def __init__(self, config: ArchitectureConfig) -> None:
        super().__init__()
        c = config.mri_channels
        layers: list[nn.Module] = [
            nn.Conv3d(config.phases, c[0], kernel_size=3, stride=2, padding=1),
            *_relu(),
        ]
        for i in range(1, len(c) - 1):
            layers += [nn.Conv3d(c[i - 1], c[i], kernel_size=3, padding=1), *_relu()]
            layers.append(nn.MaxPool3d(2))
        self.blocks = nn.Sequential(*layers)
        self.last_conv = nn.Conv3d(c[-2], c[-1], kernel_size=3, padding=1)
        self.last_act = nn.ReLU()
        self.project = nn.Linear(2 * c[-1], config.embed_dim)

    def forward(self, mri: Tensor) -> Tensor:
        """(B, P, Z, Y, X) float32 normalised intensities -> (B, embed_dim)."""
        h = self.last_act(self.last_conv(self.blocks(mri)))  # (B, C, Z', Y', X')
        flat = h.flatten(2)  # (B, C, Z'Y'X')
        pooled = torch.cat([flat.mean(dim=2), flat.amax(dim=2)], dim=1)  # (B, 2C)
        out: Tensor = self.project(pooled)
        return out


class TileEncoder(nn.Module):
    """2D CNN for one tile: (T, 3, h, w) float in [0, 1] -> (T, embed_dim).

    The first layer embeds 4x4-pixel patches (stride 4: 16 µm at the demo's 4 µm/px, about a
    lymphocyte cluster's grain), the next layers are stride-2 convolutions; pooling
    concatenates global mean and max.
    """

    def __init__(self, config: ArchitectureConfig) -> None:
        super().__init__()
        c = config.tile_channels
        layers: list[nn.Module] = [nn.Conv2d(3, c[0], kernel_size=4, stride=4), *_relu()]
        for i in range(1, len(c)):
            layers += [
                nn.Conv2d(c[i - 1], c[i], kernel_size=3, stride=2, padding=1),
                *_relu(),
            ]
        self.features = nn.Sequential(*layers)
        self.project = nn.Linear(2 * c[-1], config.embed_dim)

    def forward(self, tiles: Tensor) -> Tensor:
        """(T, 3, h, w) in [0, 1] -> (T, embed_dim)."""
        h = self.features(tiles - 0.5).flatten(2)  # (T, C, h'w')
        pooled = torch.cat([h.mean(dim=2), h.amax(dim=2)], dim=1)
        return torch.relu(self.project(pooled))  # non-negative: attention and pooling inputs


class SlideBranch(nn.Module):
    """Gated attention-MIL over tiles -> (B, embed_dim) and (B, N) attention weights."""

    def __init__(self, config: ArchitectureConfig) -> None:
        super().__init__()
        self.encoder = TileEncoder(config)
        self.attn_v = nn.Linear(config.embed_dim, config.attention_dim)
        self.attn_u = nn.Linear(config.embed_dim, config.attention_dim)
        self.attn_w = nn.Linear(config.attention_dim, 1)

    def encode_tiles(self, tiles: Tensor) -> Tensor:
        """(B, N, 3, h, w) uint8 or float in [0, 1] -> (B, N, embed_dim) tile features."""
        b, n = tiles.shape[:2]
        x = tiles.flatten(0, 1)
        x = x.float() / 255.0 if x.dtype == torch.uint8 else x.float()
        feats: Tensor = self.encoder(x)  # (B*N, D)
        return feats.view(b, n, -1)

    def forward(self, tiles: Tensor, tile_mask: Tensor) -> tuple[Tensor, Tensor]:
        """Pool tiles.

        Args:
            tiles: (B, N, 3, h, w) uint8 / float images, or (B, N, embed_dim) features
                from `encode_tiles`.
            tile_mask: (B, N) bool, True for real tiles (padding is False).

        Returns:
            (B, embed_dim) slide embeddings and (B, N) attention weights (sum 1 over real
            tiles; all zero for a sample without tiles).
        """
        feats = self.encode_tiles(tiles) if tiles.dim() == 5 else tiles  # (B, N, D)
        scores = self.attn_w(torch.tanh(self.attn_v(feats)) * torch.sigmoid(self.attn_u(feats)))
        scores = scores.squeeze(-1).masked_fill(~tile_mask, float("-inf"))  # (B, N)
        any_tile = tile_mask.any(dim=1, keepdim=True)
        weights = torch.softmax(torch.where(any_tile, scores, torch.zeros_like(scores)), dim=1)
        weights = weights * tile_mask  # samples without tiles get zero weights
        return torch.einsum("bn,bnd->bd", weights, feats), weights


class GeneBranch(nn.Module):
    """MLP over the gene-panel vector: (B, G) in [0, 1] -> (B, embed_dim)."""

    def __init__(self, config: ArchitectureConfig) -> None:
        super().__init__()
        self.mlp = nn.Sequential(
            nn.Linear(config.genes, config.embed_dim),
            nn.ReLU(),
            nn.Linear(config.embed_dim, config.embed_dim),
        )

    def forward(self, genes: Tensor) -> Tensor:
        """(B, G) float32 alteration calls -> (B, embed_dim)."""
        out: Tensor = self.mlp(genes)
        return out


class NeoadjNet(nn.Module):
    """Multimodal benefit model; see the module docstring."""

    def __init__(self, config: ArchitectureConfig) -> None:
        super().__init__()
        self.config = config
        self.mri_branch = MriBranch(config)
        self.slide_branch = SlideBranch(config)
        self.gene_branch = GeneBranch(config)
        self.norms = nn.ModuleList(nn.LayerNorm(config.embed_dim) for _ in MODALITIES)
        self.absent = nn.Parameter(torch.zeros(len(MODALITIES), config.embed_dim))
        self.aux_heads = nn.ModuleList(nn.Linear(config.embed_dim, 1) for _ in MODALITIES)
        self.head = nn.Sequential(
            nn.Linear(len(MODALITIES) * config.embed_dim, config.fusion_hidden),
            nn.ReLU(),
            nn.Dropout(config.dropout),
            nn.Linear(config.fusion_hidden, 1),
        )

    def forward(
        self,
        mri: Tensor | None,
        tiles: Tensor | None,
        tile_mask: Tensor | None,
        genes: Tensor | None,
        modality_mask: Tensor,
        *,
        return_attention: bool = False,
        return_aux: bool = False,
        generator: torch.Generator | None = None,
    ) -> Any:
        """Benefit logits for a batch.

        Args:
            mri: (B, P, Z, Y, X) float32 on the model grid, or None when no sample has MRI.
            tiles: (B, N, 3, h, w) uint8 / float tiles or (B, N, embed_dim) tile features,
                or None when no sample has a slide.
            tile_mask: (B, N) bool, True for real tiles; required with ``tiles``.
            genes: (B, G) float32 alteration calls in [0, 1], or None.
            modality_mask: (B, 3) bool, columns in `MODALITIES` order; False means absent
                (the input is ignored even if given).
            return_attention: Also return the (B, N) MIL attention weights.
            return_aux: Also return the (B, 3) per-modality auxiliary logits.
            generator: Random source for modality dropout in training mode. Default: torch's.

        Returns:
            (B,) logits, or a `NeoadjOutput` with ``return_attention`` or ``return_aux``.
        """
        mask = modality_mask.to(torch.bool)
        if self.training and self.config.modality_dropout > 0:
            mask = self._drop_modalities(mask, generator)
        b = mask.shape[0]
        absent = self.absent.unsqueeze(0).expand(b, -1, -1)  # (B, 3, D)
        parts: list[Tensor] = []
        attention: Tensor | None = None
        if mri is not None:
            parts.append(self.mri_branch(mri))
        else:
            parts.append(absent[:, 0])
        if tiles is not None:
            if tile_mask is None:
                raise ValueError("tile_mask is required with tiles")
            slide_emb, attention = self.slide_branch(tiles, tile_mask)
            parts.append(slide_emb)
        else:
            parts.append(absent[:, 1])
        parts.append(self.gene_branch(genes) if genes is not None else absent[:, 2])
        raw = torch.stack([norm(x) for norm, x in zip(self.norms, parts, strict=True)], dim=1)
        emb = torch.where(mask.unsqueeze(-1), raw, absent)
        logits: Tensor = self.head(emb.flatten(1)).squeeze(-1)  # (B,)
        if not (return_attention or return_aux):
            return logits
        if attention is not None:
            attention = attention * mask[:, 1:2]
        aux = None
        if return_aux:
            aux = torch.cat([h(raw[:, i]) for i, h in enumerate(self.aux_heads)], dim=1)
        return NeoadjOutput(logits, attention, aux)

    def _drop_modalities(self, mask: Tensor, generator: torch.Generator | None) -> Tensor:
        """Drop each present modality with probability p, keeping at least one per sample."""
        keep = torch.rand(mask.shape, generator=generator) >= self.config.modality_dropout
        dropped = mask & keep.to(mask.device)
        empty = ~dropped.any(dim=1)
        return torch.where(empty.unsqueeze(1), mask, dropped)


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
