"""Integrated Gradients (Sundararajan, Taly & Yan, ICML 2017) with an adaptive step count.

Captum's `IntegratedGradients` integrates the gradient of the logit along the straight path
from a baseline to the input by quadrature (Gauss-Legendre unless the caller names another of
Captum's rules), ``internal_batch_size`` path points per forward/backward pass. The step count
grows along a schedule (Gauss-Legendre: 16, 32, 64, 128) until the convergence delta
``|sum(attributions) - (f(input) - f(baseline))|`` falls below the tolerance; the delta
actually reached is kept, so that a map that did not converge can be flagged.

The midpoint rule nests when the step count grows by an odd factor r: the n-step nodes
(k + 1/2)/n include the n/r-step ones, and the other r - 1 nodes of each old interval form
uniform grids, each a midpoint rule over the path shifted by a fraction of a step. Captum
integrates such a shifted path with its public API (a baseline and an input moved along the
path), so a midpoint schedule that triples (12, 36, 108) pays for its last step count only,
not for the sum of all of them.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from captum.attr import IntegratedGradients
from torch import Tensor

from app.progress import check_cancel

IG_STEP_SCHEDULE: tuple[int, ...] = (16, 32, 64, 128)
"""Step counts tried in turn, until the convergence delta is below the tolerance."""
MIDPOINT_STEP_SCHEDULE: tuple[int, ...] = (12, 36, 108)
"""The same for the midpoint rule: each count 3x the last, so every node is reused."""
IG_TOLERANCE_LOGIT = 1e-2
"""Largest acceptable convergence delta, in logit units."""
IG_INTERNAL_BATCH = 16
"""Path points per forward/backward pass."""


@dataclass(frozen=True)
class IgResult:
    """Integrated Gradients of one input.

    Attributes:
        attributions: Same shape as the input; logit units, summing to about
            ``logit_input - logit_baseline``.
        delta: Convergence delta in logit units (absolute value).
        n_steps: Quadrature steps used.
        logit_input: Model logit at the input.
        logit_baseline: Model logit at the baseline.
    """

    attributions: Tensor
    delta: float
    n_steps: int
    logit_input: float
    logit_baseline: float

    @property
    def converged(self) -> bool:
        """Whether the delta is below `IG_TOLERANCE_LOGIT`."""
        return self.delta < IG_TOLERANCE_LOGIT


def integrated_gradients(
    forward: Callable[[Tensor], Tensor],
    inputs: Tensor,
    baseline: Tensor,
    *,
    cancel: threading.Event | None = None,
    on_batch: Callable[[], None] | None = None,
    steps: Sequence[int] = IG_STEP_SCHEDULE,
    tolerance: float = IG_TOLERANCE_LOGIT,
    internal_batch_size: int = IG_INTERNAL_BATCH,
    method: str = "gausslegendre",
) -> IgResult:
    """IG of a scalar logit with respect to one input tensor.

    Args:
        forward: Maps a (B, ...) batch of inputs to (B,) logits.
        inputs: (1, ...) input.
        baseline: (1, ...) reference input, same shape.
        cancel: Checked before every forward pass (so between IG batches).
        on_batch: Called after every forward pass (progress).
        steps: Step counts to try, increasing.
        tolerance: Stop at the first step count whose delta is below this (logit units).
        internal_batch_size: Path points per forward/backward pass.
        method: Captum's quadrature rule ("gausslegendre", "riemann_middle", ...).

    Returns:
        The attributions at the first converged step count, else at the last one tried.

    Raises:
        Cancelled: if ``cancel`` was set.
    """
    if inputs.shape != baseline.shape or inputs.shape[0] != 1:
        raise ValueError(f"inputs {tuple(inputs.shape)} and baseline must both be (1, ...)")

    def wrapped(x: Tensor) -> Tensor:
        check_cancel(cancel)
        out = forward(x)
        if on_batch is not None:
            on_batch()
        return out

    ig = IntegratedGradients(wrapped)
    with torch.no_grad():
        f_in = float(forward(inputs)[0])
        f_base = float(forward(baseline)[0])

    step = inputs - baseline  # the whole path

    def path_integral(n_steps: int, shift: float = 0.0) -> Tensor:
        """IG over the path moved by ``shift`` (fraction of the whole path) along itself."""
        attr: Tensor = ig.attribute(
            inputs + shift * step,
            baselines=baseline + shift * step,
            n_steps=n_steps,
            internal_batch_size=internal_batch_size,
            method=method,
        )
        return attr.detach()

    result: IgResult | None = None
    for n_steps in steps:
        if result is not None and method == "riemann_middle" and _nests(result.n_steps, n_steps):
            attr = _refine_midpoint(path_integral, result.attributions, result.n_steps, n_steps)
        else:
            attr = path_integral(n_steps)
        # Captum's convergence delta, from the end-point logits computed once above
        delta = abs(float(attr.double().sum()) - (f_in - f_base))
        result = IgResult(attr, delta, n_steps, f_in, f_base)
        if result.delta < tolerance:
            break
    if result is None:
        raise ValueError("steps must not be empty")
    return result


def _nests(coarse: int, fine: int) -> bool:
    """Whether the ``coarse``-step midpoint nodes are among the ``fine``-step ones."""
    return fine % coarse == 0 and (fine // coarse) % 2 == 1


def _refine_midpoint(
    path_integral: Callable[[int, float], Tensor], coarse_attr: Tensor, coarse: int, fine: int
) -> Tensor:
    """The ``fine``-step midpoint IG from the ``coarse``-step one, evaluating new nodes only.

    With r = fine / coarse (odd), node j of r in each coarse interval sits
    ((j + 1/2) / r - 1/2) / coarse from that interval's midpoint; j = (r - 1) / 2 is the
    midpoint itself, already in ``coarse_attr``.
    """
    r = fine // coarse
    total = coarse_attr.clone()
    for j in range(r):
        if j != r // 2:
            total += path_integral(coarse, ((j + 0.5) / r - 0.5) / coarse)
    return total / r
