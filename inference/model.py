"""Neoadj-Net: a small multimodal benefit classifier (MRI 3D CNN, slide attention-MIL, gene MLP).

Each modality is encoded to an ``embed_dim`` vector bounded by tanh (so that no modality
dominates the fusion by its scale, while magnitudes such as how bright a lesion is survive,
which a per-sample layer norm would erase). The MRI branch outputs lesion maps (tumour,
necrosis, portal-vein thrombus, liver parenchyma) on the model grid and pools over
them as a radiologist reads regions of interest; the slide branch estimates each tile's tumour
and immune-infiltrate fractions and pools over them. Auxiliary targets supervise these maps and
fractions, and per-modality feature heads (training aids off the logit's path), when a cohort
provides them (`inference.training_targets`); otherwise they are learned from the label alone.

A modality that is absent (per sample, from ``modality_mask``) is replaced by a learned
"absent" embedding, so any subset of {mri, slide, genes} gives a prediction; during training
whole modalities are dropped at random (``modality_dropout``) so that the subsets are
meaningful. The fused vector goes through a two-layer head to one logit per patient.

Gated attention-MIL follows Ilse, Tomczak & Welling, "Attention-based Deep Multiple Instance
Learning", ICML 2018.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import TYPE_CHECKING, Any, NamedTuple

import torch
from torch import Tensor, nn

if TYPE_CHECKING:
    from inference.batch import InputBatch

ARCHITECTURE_NAME = "NeoadjNet"
ARCHITECTURE_VERSION = "4"
"""Bumped whenever a change makes older weights unloadable or meaningless."""

MODALITIES: tuple[str, ...] = ("mri", "slide", "genes")
"""Column order of ``modality_mask``."""
MRI_MAP_NAMES: tuple[str, ...] = ("tumour", "necrosis", "thrombus", "liver")
"""The MRI lesion maps, in the order of the map head's channels."""
_POOLED_MAPS = tuple(MRI_MAP_NAMES.index(n) for n in ("tumour", "necrosis", "liver"))
_LOG_EPS = 0.05
"""Added to normalised intensities (foreground median 1) before the log of a ratio."""


@dataclass(frozen=True)
class ArchitectureConfig:
    """Sizes of Neoadj-Net (everything needed to rebuild the module before loading weights).

    Attributes:
        phases: MRI input channels, one per contrast phase.
        mri_channels: Output channels of the 3D convolutions (at least 2): the first has
            stride 2, the others keep that half-resolution grid; the last is ``last_conv``.
        tile_channels: Output channels of the 2D tile-encoder layers: the first embeds 4x4
            patches, each next one halves h and w.
        genes: Length of the gene-panel vector.
        embed_dim: Size of each modality embedding.
        attention_dim: Hidden size of the gated MIL attention.
        fusion_hidden: Hidden size of the fusion head.
        dropout: Dropout before the last layer (training only).
        modality_dropout: Probability of dropping each present modality per sample during
            training (at least one modality is always kept).
        mri_targets: Outputs of the MRI feature head (auxiliary regression targets).
        slide_targets: Outputs of the slide feature head.
        tile_targets: Outputs of the per-tile head (e.g. tumour and immune fractions).
        mri_maps: Channels of the MRI lesion-map head, one per `MRI_MAP_NAMES` entry.
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
    mri_targets: int = 3
    slide_targets: int = 2
    tile_targets: int = 2
    mri_maps: int = 4

    def __post_init__(self) -> None:
        if len(self.mri_channels) < 2 or not self.tile_channels:
            raise ValueError("need at least 2 MRI and 1 tile-encoder channel counts")
        if self.mri_maps != len(MRI_MAP_NAMES):
            raise ValueError(f"need the {', '.join(MRI_MAP_NAMES)} maps (mri_maps = 4)")
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


class AuxOutputs(NamedTuple):
    """Training aids of one forward pass (``return_aux``); None where the input was absent.

    Attributes:
        modality_logits: (B, 3) benefit logits of a linear head on each modality's embedding
            (each branch alone must predict benefit).
        mri_features: (B, mri_targets) MRI feature-head outputs (read from the branch's
            embedding before the tanh bound, where magnitudes are linear).
        slide_features: (B, slide_targets) slide feature-head outputs (likewise).
        map_logits: (B, mri_maps, Z, Y, X) MRI lesion-map logits on the model grid.
        tile_outputs: (B, N, tile_targets) per-tile head outputs (logits).
    """

    modality_logits: Tensor
    mri_features: Tensor | None
    slide_features: Tensor | None
    map_logits: Tensor | None
    tile_outputs: Tensor | None


class NeoadjOutput(NamedTuple):
    """What `NeoadjNet.forward` returns with ``return_attention`` or ``return_aux``.

    Attributes:
        logits: (B,) benefit logits.
        attention: (B, N) MIL attention weights over tiles (zeros where masked or the
            slide is absent), or None when no tiles were given.
        aux: The training aids, or None unless ``return_aux``.
    """

    logits: Tensor
    attention: Tensor | None
    aux: AuxOutputs | None = None


def _relu() -> list[nn.Module]:
    # No per-sample normalisation inside the encoders: GroupNorm over a tile or a volume
    # would erase exactly what matters (how much of a tile is dark lymphocytes, how bright
    # an arterial lesion is), so the convolutions see raw, globally scaled intensities.
    return [nn.ReLU(inplace=True)]


class MriBranch(nn.Module):
    """3D CNN over the co-registered phases: (B, P, Z, Y, X) -> (B, embed_dim).

    The first convolution has stride 2 (learned downsampling: cheap on CPU, and every voxel is
    still seen); the others keep that grid, and ``last_conv`` is the last ``nn.Conv3d``: its
    output, (B, C, Z/2, Y/2, X/2), is the layer Grad-CAM reads. A 1x1x1 ``map_head`` maps it
    to coarse lesion-map logits (`MRI_MAP_NAMES`), and ``refine``, a per-voxel MLP over those
    logits (upsampled) and the phases' intensities, sharpens them on the full model grid: a
    5 mm voxel at a lesion's edge is tumour or liver by its own enhancement, which the
    half-resolution grid averages away.

    Pooling is what a radiologist reads off regions of interest drawn on the lesion and on the
    liver, with the model's own maps as the ROIs: the mean intensity of each phase over the
    viable tumour (tumour x (1 - necrosis)) and over the liver parenchyma, and their log ratio
    (lesion-to-liver enhancement, e.g. arterial hyperenhancement, free of scanner gain); the
    tumour-ROI mean of the features and of each map, and each map's maximum (e.g. a thrombus
    anywhere). Both ROIs are squared, so that partial-volume voxels at their edges count
    little. Nothing is pooled over the whole box: what the branch reports comes from the
    lesions it found (a global maximum would read the aorta's brightness).
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
        self.blocks = nn.Sequential(*layers)
        self.last_conv = nn.Conv3d(c[-2], c[-1], kernel_size=3, padding=1)
        self.last_act = nn.ReLU()
        self.map_head = nn.Conv3d(c[-1], config.mri_maps, kernel_size=1)
        self.refine = nn.Sequential(
            nn.Conv3d(config.mri_maps + config.phases, 16, kernel_size=1),
            nn.ReLU(),
            nn.Conv3d(16, config.mri_maps, kernel_size=1),
        )
        pooled = c[-1] + 3 * config.phases + 2 * config.mri_maps
        self.project = nn.Linear(pooled, config.embed_dim)

    def forward(self, mri: Tensor) -> Tensor:
        """(B, P, Z, Y, X) float32 normalised intensities -> (B, embed_dim)."""
        return self.embed(self.last_conv(self.blocks(mri)), mri)[0]

    def embed(self, acts: Tensor, mri: Tensor) -> tuple[Tensor, Tensor]:
        """ROI pooling (class docstring).

        Args:
            acts: (B, C, z, y, x) ``last_conv`` output.
            mri: (B, P, Z, Y, X) the branch's input.

        Returns:
            (B, embed_dim) embeddings and (B, M, Z, Y, X) lesion-map logits on the model grid.
        """
        h = self.last_act(acts)
        coarse = self.map_head(h)  # (B, M, z, y, x)
        up = nn.functional.interpolate(coarse, size=tuple(mri.shape[2:]), mode="trilinear")
        maps = up + self.refine(torch.cat([up, mri], dim=1))  # (B, M, Z, Y, X)
        prob = torch.sigmoid(maps)
        tumour, necrosis, liver = (prob[:, i : i + 1] for i in _POOLED_MAPS)  # (B, 1, Z, Y, X)
        core = (tumour * (1 - necrosis)) ** 2  # viable tumour
        ref = liver**2  # (B, 1, Z, Y, X) liver parenchyma
        core_int = (mri * core).sum(dim=(2, 3, 4)) / (core.sum(dim=(2, 3, 4)) + 1e-3)  # (B, P)
        ref_int = (mri * ref).sum(dim=(2, 3, 4)) / (ref.sum(dim=(2, 3, 4)) + 1e-3)  # (B, P)
        ratio = torch.log(core_int + _LOG_EPS) - torch.log(ref_int + _LOG_EPS)
        roi = nn.functional.adaptive_avg_pool3d(tumour, tuple(h.shape[2:])).flatten(2)
        area = roi.sum(dim=2) + 1e-3
        flat_prob, flat_t = prob.flatten(2), tumour.flatten(2)
        pooled = torch.cat(
            [
                (h.flatten(2) * roi).sum(dim=2) / area,  # (B, C) tumour-ROI mean features
                core_int,  # (B, P) viable-tumour mean of each phase
                ref_int,  # (B, P) liver mean of each phase
                ratio,  # (B, P) log lesion-to-liver ratio of each phase
                (flat_prob * flat_t).sum(dim=2) / (flat_t.sum(dim=2) + 1e-3),  # (B, M)
                flat_prob.amax(dim=2),  # (B, M)
            ],
            dim=1,
        )
        out: Tensor = self.project(pooled)
        return out, maps


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
    """Gated attention-MIL over tiles -> (B, embed_dim) and (B, N) attention weights.

    Next to the attention-pooled tile features, the embedding reads what a pathologist
    estimates over the slide from the per-tile ``tile_head`` (tumour and immune-infiltrate
    fractions of each tile): the tumour-weighted mean of the tile features, the mean tumour
    fraction and the immune infiltrate per tumour area.
    """

    def __init__(self, config: ArchitectureConfig) -> None:
        super().__init__()
        self.encoder = TileEncoder(config)
        self.attn_v = nn.Linear(config.embed_dim, config.attention_dim)
        self.attn_u = nn.Linear(config.embed_dim, config.attention_dim)
        self.attn_w = nn.Linear(config.attention_dim, 1)
        self.tile_head = nn.Linear(config.embed_dim, config.tile_targets)
        self.project = nn.Linear(2 * config.embed_dim + config.tile_targets, config.embed_dim)

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
        attended = torch.einsum("bn,bnd->bd", weights, feats)  # (B, D)
        fractions = torch.sigmoid(self.tile_head(feats)) * tile_mask.unsqueeze(-1)  # (B, N, T)
        tumour = fractions[..., :1]  # (B, N, 1)
        tumour_area = tumour.sum(dim=1) + 1e-3  # (B, 1)
        in_tumour = (feats * tumour).sum(dim=1) / tumour_area  # (B, D)
        tiles_per_sample = tile_mask.sum(dim=1, keepdim=True).clamp(min=1)  # (B, 1)
        per_tumour = fractions[..., 1:].sum(dim=1) / tumour_area  # (B, T - 1)
        pooled = torch.cat(
            [attended, in_tumour, tumour.sum(dim=1) / tiles_per_sample, per_tumour], dim=1
        )
        out: Tensor = self.project(pooled)
        return out, weights


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
        self.absent = nn.Parameter(torch.zeros(len(MODALITIES), config.embed_dim))
        self.aux_heads = nn.ModuleList(nn.Linear(config.embed_dim, 1) for _ in MODALITIES)
        self.feature_heads = nn.ModuleDict(
            {
                "mri": nn.Linear(config.embed_dim, config.mri_targets),
                "slide": nn.Linear(config.embed_dim, config.slide_targets),
            }
        )
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
            return_aux: Also return the training aids (`AuxOutputs`).
            generator: Random source for modality dropout in training mode. Default: torch's.

        Returns:
            (B,) logits, or a `NeoadjOutput` with ``return_attention`` or ``return_aux``.
        """
        mask = modality_mask.to(torch.bool)
        if self.training and self.config.modality_dropout > 0:
            mask = self.drop_modalities(mask, generator)
        b = mask.shape[0]
        absent = self.absent.unsqueeze(0).expand(b, -1, -1)  # (B, 3, D)
        attention = maps = tile_out = None
        if mri is not None:
            mri_emb, maps = self.mri_branch.embed(
                self.mri_branch.last_conv(self.mri_branch.blocks(mri)), mri
            )
        else:
            mri_emb = absent[:, 0]
        if tiles is not None:
            if tile_mask is None:
                raise ValueError("tile_mask is required with tiles")
            feats = self.slide_branch.encode_tiles(tiles) if tiles.dim() == 5 else tiles
            slide_emb, attention = self.slide_branch(feats, tile_mask)
            if return_aux:
                tile_out = self.slide_branch.tile_head(feats)  # (B, N, tile_targets)
        else:
            slide_emb = absent[:, 1]
        gene_emb = self.gene_branch(genes) if genes is not None else absent[:, 2]
        raw = self.normalise((mri_emb, slide_emb, gene_emb))
        logits = self.fuse(raw, mask)
        if not (return_attention or return_aux):
            return logits
        if attention is not None:
            attention = attention * mask[:, 1:2]
        aux = None
        if return_aux:
            aux = AuxOutputs(
                torch.cat([h(raw[:, i]) for i, h in enumerate(self.aux_heads)], dim=1),
                self.feature_heads["mri"](mri_emb) if mri is not None else None,
                self.feature_heads["slide"](slide_emb) if tiles is not None else None,
                maps,
                tile_out,
            )
        return NeoadjOutput(logits, attention, aux)

    def embeddings(self, batch: InputBatch) -> Tensor:
        """(B, 3, D) bounded embeddings of an `InputBatch` (absent inputs give zeros)."""
        b = batch.modality_mask.shape[0]
        zeros = torch.zeros((b, self.config.embed_dim), device=batch.modality_mask.device)
        mri = self.mri_branch(batch.mri) if batch.mri is not None else zeros
        slide = (
            self.slide_branch(batch.tiles, batch.tile_mask)[0] if batch.tiles is not None else zeros
        )
        genes = self.gene_branch(batch.genes) if batch.genes is not None else zeros
        return self.normalise((mri, slide, genes))

    def normalise(self, parts: tuple[Tensor, Tensor, Tensor]) -> Tensor:
        """Bound the (B, D) mri, slide and gene embeddings by tanh -> (B, 3, D)."""
        return torch.tanh(torch.stack(parts, dim=1))

    def fuse(self, normalised: Tensor, modality_mask: Tensor) -> Tensor:
        """(B, 3, D) bounded embeddings and (B, 3) presence -> (B,) logits."""
        absent = self.absent.unsqueeze(0)
        emb = torch.where(modality_mask.to(torch.bool).unsqueeze(-1), normalised, absent)
        logits: Tensor = self.head(emb.flatten(1)).squeeze(-1)
        return logits

    def drop_modalities(self, mask: Tensor, generator: torch.Generator | None) -> Tensor:
        """Drop each present modality with probability p, keeping at least one per sample."""
        keep = torch.rand(mask.shape, generator=generator) >= self.config.modality_dropout
        dropped = mask & keep.to(mask.device)
        empty = ~dropped.any(dim=1)
        return torch.where(empty.unsqueeze(1), mask, dropped)


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
