"""MRI saliency on the model grid: Integrated Gradients per phase and Grad-CAM.

IG baseline ("homogeneous tissue"): each phase's body voxels (above the phase's Otsu
threshold) are set to that phase's median body intensity, everything else to 0. Preprocessing
divides each phase by its foreground median, so this is a liver-and-body silhouette with no
internal contrast. Against it, IG credits what differs from ordinary tissue (enhancing or
necrotic tumour, vessels, thrombus) rather than the presence of the body itself, which a zero
(air) baseline would credit everywhere the patient is. A phase that is missing (all zeros)
has a zero baseline and so zero attribution.

Grad-CAM (Selvaraju et al., ICCV 2017) reads the last 3D conv layer
(``model.mri_branch.last_conv``) and is upsampled trilinearly to the model grid. It is kept
signed: the model has one benefit logit, so positive values are evidence for benefit and
negative values evidence against it (the paper's final ReLU would keep one side only, and
leave an empty map whenever the MRI speaks against benefit). It mixes all phases (the layer
sees them together), so it is one map per case.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from captum.attr import LayerAttribution
from numpy.typing import NDArray
from skimage.filters import threshold_otsu
from torch import Tensor

from app.progress import check_cancel
from explain.integrated import MIDPOINT_STEP_SCHEDULE, IgResult, integrated_gradients
from explain.tensors import CaseTensors

MRI_BASELINE = "homogeneous tissue (body at its per-phase median, background 0)"
MRI_IG_METHOD = "riemann_middle"
"""Captum's quadrature rule for the MRI's Integrated Gradients (`integrated_gradients_mri`)."""


@dataclass(frozen=True)
class MriSaliency:
    """MRI attributions of one case on the model grid.

    Attributes:
        integrated_gradients: (P, Z, Y, X) float32 IG per phase, logit units.
        gradcam: (Z, Y, X) float32 signed Grad-CAM, arbitrary units (+ towards benefit).
        ig: Step count, convergence delta and end-point logits of the IG run.
    """

    integrated_gradients: NDArray[np.float32]
    gradcam: NDArray[np.float32]
    ig: IgResult

    @property
    def ig_magnitude(self) -> NDArray[np.float32]:
        """(Z, Y, X) sum over phases of |IG|: where the evidence lies, whatever its sign."""
        out: NDArray[np.float32] = np.abs(self.integrated_gradients).sum(axis=0)
        return out


def tissue_baseline(volume: NDArray[np.float32]) -> NDArray[np.float32]:
    """The homogeneous-tissue baseline of a (P, Z, Y, X) model-grid volume (same shape)."""
    base = np.zeros_like(volume, dtype=np.float32)
    for p, channel in enumerate(volume):
        inside = channel[channel > 0]
        if inside.size < 2 or float(inside.max()) <= float(inside.min()):
            continue
        body = channel > float(threshold_otsu(inside))  # type: ignore[no-untyped-call]
        base[p][body] = float(np.median(channel[body]))
    return base


def body_mask(volume: NDArray[np.float32]) -> NDArray[np.bool_]:
    """(Z, Y, X) bool: where the tissue baseline of a (P, Z, Y, X) volume is non-zero.

    Outside it input and baseline nearly coincide, so every model's IG is close to 0 there.
    """
    mask: NDArray[np.bool_] = tissue_baseline(volume).max(axis=0) > 0
    return mask


def integrated_gradients_mri(
    case: CaseTensors,
    *,
    cancel: threading.Event | None = None,
    on_batch: Callable[[], None] | None = None,
    steps: Sequence[int] = MIDPOINT_STEP_SCHEDULE,
) -> IgResult:
    """IG of the logit with respect to the (1, P, Z, Y, X) MRI input, tissue baseline.

    The midpoint rule (`MRI_IG_METHOD`): along the path the MRI branch's gradient jumps
    wherever one of its many full-resolution units switches, and Gauss-Legendre's nodes,
    crowded at the ends of the path, gained nothing from the smoothness they assume. With
    demo checkpoint 0.4.0, on the demo case and 3 of 4 cohort cases the midpoint rule reached
    the tolerance with half the steps (demo: delta 0.003 at 32 steps against 0.009 at 64).
    Its schedule triples (`MIDPOINT_STEP_SCHEDULE`), so each refinement reuses every node
    already evaluated.
    """
    if case.mri is None:
        raise ValueError("the case has no MRI")
    mri = case.mri
    baseline = torch.from_numpy(tissue_baseline(mri[0].detach().cpu().numpy()))[None]
    return integrated_gradients(
        lambda x: case.logits(mri=x),
        mri,
        baseline.to(mri.device),
        cancel=cancel,
        on_batch=on_batch,
        steps=steps,
        method=MRI_IG_METHOD,
    )


def gradcam_mri(case: CaseTensors) -> NDArray[np.float32]:
    """(Z, Y, X) signed Grad-CAM on ``model.mri_branch.last_conv``, upsampled to the model grid.

    The map is Captum's ``LayerGradCam`` on that layer (``relu_attributions=False``): the
    layer's (1, C, z', y', x') output A and dlogit/dA, computed without re-running the graph
    below the layer with gradients. The MRI branch up to ``last_conv`` and the slide and gene
    embeddings run once without gradients (they are constants for dlogit/dA); only the layer's
    output -> logit tail (`_logit_from_last_conv`) is recorded, so it costs less than one full
    forward pass.
    """
    if case.mri is None:
        raise ValueError("the case has no MRI")
    branch = case.model.mri_branch
    with torch.no_grad():
        acts = branch.last_conv(branch.blocks(case.mri))  # (1, C, z', y', x')
        others = _other_embeddings(case)
    acts.requires_grad_(True)
    with torch.enable_grad():
        logit = _logit_from_last_conv(case, acts, others)
        (grads,) = torch.autograd.grad(logit.sum(), acts)  # (1, C, z', y', x')
    weights = grads.mean(dim=(2, 3, 4), keepdim=True)  # (1, C, 1, 1, 1)
    attr = (weights * acts.detach()).sum(dim=1, keepdim=True)  # (1, 1, z', y', x')
    up = LayerAttribution.interpolate(attr, tuple(case.mri.shape[2:]), "trilinear")
    out: NDArray[np.float32] = up[0, 0].detach().cpu().numpy().astype(np.float32)
    return out


def _other_embeddings(case: CaseTensors) -> tuple[Tensor, Tensor]:
    """The case's (1, D) slide and gene embeddings, or the model's learned absent vectors."""
    model = case.model
    absent = model.absent.unsqueeze(0)  # (1, 3, D)
    if case.tile_features is not None:
        if case.tile_mask is None:
            raise ValueError("tile_mask is required with tiles")
        slide = model.slide_branch(case.tile_features, case.tile_mask)[0]
    else:
        slide = absent[:, 1]
    genes = model.gene_branch(case.genes) if case.genes is not None else absent[:, 2]
    return slide, genes


def _logit_from_last_conv(case: CaseTensors, acts: Tensor, others: tuple[Tensor, Tensor]) -> Tensor:
    """(1,) logit from the (1, C, z', y', x') ``last_conv`` output, as ``NeoadjNet.forward``
    fuses it (eval mode) with the (1, D) slide and gene embeddings ``others``."""
    model = case.model
    if case.mri is None:
        raise ValueError("the case has no MRI")
    mri_emb = model.mri_branch.embed(acts, case.mri)[0]  # (1, D)
    return model.fuse(model.normalise((mri_emb, *others)), case.modality_mask)


def mri_saliency(
    case: CaseTensors,
    *,
    cancel: threading.Event | None = None,
    on_batch: Callable[[], None] | None = None,
    steps: Sequence[int] = MIDPOINT_STEP_SCHEDULE,
) -> MriSaliency:
    """IG and Grad-CAM of one case's MRI on the model grid."""
    ig = integrated_gradients_mri(case, cancel=cancel, on_batch=on_batch, steps=steps)
    check_cancel(cancel)
    cam = gradcam_mri(case)
    ig_map = ig.attributions[0].detach().cpu().numpy().astype(np.float32)
    return MriSaliency(ig_map, cam, ig)
