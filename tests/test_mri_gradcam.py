"""Grad-CAM on the MRI: the short path (no-grad trunk, graded tail) equals Captum's LayerGradCam
on the full model graph, for every combination of present modalities."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from captum.attr import LayerAttribution, LayerGradCam
from torch import Tensor

from explain.mri_saliency import gradcam_mri
from explain.tensors import CaseTensors
from inference.model import ArchitectureConfig, NeoadjNet


def _case(slide: bool, genes: bool, mri_present: bool = True) -> CaseTensors:
    torch.manual_seed(7)
    config = ArchitectureConfig(phases=2, mri_channels=(4, 8, 8), tile_channels=(4, 8), genes=5)
    model = NeoadjNet(config).eval()
    with torch.no_grad():  # a non-zero absent vector, so masking is visible in the logit
        model.absent.normal_()
    mri = torch.randn(1, 2, 12, 20, 16)
    tiles = torch.randint(0, 256, (1, 3, 3, 16, 16), dtype=torch.uint8) if slide else None
    mask = torch.tensor([[mri_present, slide, genes]])
    return CaseTensors(
        model,
        mri,
        tiles,
        None,
        torch.tensor([[True, True, False]]) if slide else None,
        torch.rand(1, 5) if genes else None,
        mask,
    ).with_model(model)


def _full_graph_gradcam(case: CaseTensors) -> np.ndarray:
    """Captum's LayerGradCam through the whole model, as the explanation computed it before."""
    assert case.mri is not None

    def forward(x: Tensor) -> Tensor:
        return case.logits(mri=x)

    cam = LayerGradCam(forward, case.model.mri_branch.last_conv)
    attr = cam.attribute(case.mri, relu_attributions=False)
    up = LayerAttribution.interpolate(attr, tuple(case.mri.shape[2:]), "trilinear")
    return up[0, 0].detach().numpy()


@pytest.mark.parametrize(("slide", "genes"), [(True, True), (False, True), (True, False)])
def test_gradcam_equals_captums_full_graph_map(slide: bool, genes: bool) -> None:
    case = _case(slide, genes)
    expected = _full_graph_gradcam(case)
    got = gradcam_mri(case)
    assert got.shape == (12, 20, 16) and got.dtype == np.float32
    assert np.abs(expected).max() > 0
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6 * np.abs(expected).max())


def test_gradcam_is_zero_when_the_mri_is_masked_out() -> None:
    case = _case(True, True, mri_present=False)
    np.testing.assert_array_equal(gradcam_mri(case), _full_graph_gradcam(case))
    assert not gradcam_mri(case).any()


def test_gradcam_needs_an_mri() -> None:
    case = _case(True, True)
    no_mri = CaseTensors(
        case.model,
        None,
        case.tiles,
        case.tile_features,
        case.tile_mask,
        case.genes,
        case.modality_mask,
    )
    with pytest.raises(ValueError, match="no MRI"):
        gradcam_mri(no_mri)
