"""Explanation cost on the demo case (CPU): each attribution against one model forward pass;
the whole explanation on CUDA against CPU when a CUDA GPU is present.

Targets (issues 5 and 9): Integrated Gradients to a convergence delta < 1e-2 logit in
<= 50 forward passes, Grad-CAM <= 1 forward pass,
the whole ``explain_case`` + ``write_explanation`` < 60 s. The reference, one forward pass of
the full model (tiles encoded), is timed in the same run on the same inputs.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import torch

from app.case import Case, load_case
from benchmarks.framework import Result, best_of, is_quick
from benchmarks.inputs import checkpoint_dir, demo_case, load_bench_checkpoint
from explain.explanation import explain_case, write_explanation
from explain.gene_attribution import gene_attribution
from explain.integrated import IG_TOLERANCE_LOGIT, IgResult
from explain.modality_shapley import modality_shapley
from explain.mri_saliency import gradcam_mri, integrated_gradients_mri
from explain.slide_saliency import tile_integrated_gradients
from explain.tensors import CaseTensors
from inference.batch import collate
from inference.checkpoint import Checkpoint, load_checkpoint
from inference.preprocess import ModelInputs
from inference.runner import prepare_inputs


def _row(
    metric: str, ours_s: float, forward_s: float, target: float, note: str, ok: bool = True
) -> Result:
    ratio = ours_s / forward_s
    return Result(
        metric,
        ours_s,
        forward_s,
        ratio,
        f"<= {target:g}x forward",
        ratio <= target and ok,
        "s",
        f"{note}; reference: one full forward pass, same inputs",
    )


def _ig_row(
    metric: str, fn: Callable[[], IgResult], forward_s: float, repeats: int, note: str
) -> Result:
    """An IG row: passes only when it also converged (delta < 1e-2 logit)."""
    result = fn()
    converged = result.delta < IG_TOLERANCE_LOGIT
    detail = f"{note}; {result.n_steps} steps, delta {result.delta:.1e}" + (
        "" if converged else " (did not converge)"
    )
    return _row(metric, best_of(fn, repeats), forward_s, 50.0, detail, converged)


def _whole_explanation_s(
    case: Case, checkpoint: Checkpoint, inputs: ModelInputs, out: Path
) -> float:
    """Wall time of ``explain_case`` + ``write_explanation`` (inputs already prepared)."""
    t0 = time.perf_counter()
    write_explanation(explain_case(case, checkpoint, inputs=inputs), out)
    return time.perf_counter() - t0


def _cuda_row(case: Case, work: Path, cpu_whole_s: float, note: str) -> Result:
    """The whole explanation on CUDA vs on CPU in this run; not measured without a CUDA GPU."""
    metric, target = "explain on the demo case, CUDA vs CPU (whole explanation)", ">= 10x faster"
    if not torch.cuda.is_available():
        note = "not measured: no CUDA GPU on this machine"
        return Result(metric, None, None, None, target, None, note=note)
    checkpoint = load_checkpoint(checkpoint_dir(work)[0], device="cuda")
    inputs = prepare_inputs(case, checkpoint)
    _whole_explanation_s(case, checkpoint, inputs, work / "cuda_warm_up")
    cuda_s = _whole_explanation_s(case, checkpoint, inputs, work / "cuda_explained")
    speedup = cpu_whole_s / cuda_s
    return Result(
        metric,
        cuda_s,
        cpu_whole_s,
        speedup,
        target,
        speedup >= 10.0,
        "s",
        f"{note}; {torch.cuda.get_device_name()}; CPU: 2 threads, warm from the rows above; "
        "CUDA: after one warm-up run",
    )


def run(work: Path, shared_data: Path) -> list[Result]:
    """Time each attribution on the demo case with the demo checkpoint, 2 CPU threads."""
    torch.set_num_threads(2)
    repeats = 1 if is_quick() else 3
    case = load_case([demo_case(work)])
    checkpoint, note = load_bench_checkpoint(work)
    inputs = prepare_inputs(case, checkpoint)
    spec, model = checkpoint.input_spec, checkpoint.model
    batch = collate([inputs.arrays()], spec)

    def forward() -> None:
        with torch.no_grad():
            model(batch.mri, batch.tiles, batch.tile_mask, batch.genes, batch.modality_mask)

    tensors = CaseTensors.from_inputs(model, inputs, spec, "cpu")
    forward()  # warm-up
    t_forward = best_of(forward, 7)
    rows = [
        _ig_row(
            "explain: MRI Integrated Gradients to delta < 1e-2",
            lambda: integrated_gradients_mri(tensors),
            t_forward,
            repeats,
            note,
        ),
        _row(
            "explain: MRI Grad-CAM",
            best_of(lambda: gradcam_mri(tensors), 7),
            t_forward,
            1.0,
            note,
        ),
        _ig_row(
            "explain: slide tile IG to delta < 1e-2",
            lambda: tile_integrated_gradients(tensors),
            t_forward,
            repeats,
            note,
        ),
        _row(
            "explain: gene IG",
            best_of(lambda: gene_attribution(tensors, spec.genes), repeats),
            t_forward,
            50.0,
            note,
        ),
        _row(
            "explain: modality Shapley (8 coalitions)",
            best_of(lambda: modality_shapley(tensors), 7),
            t_forward,
            8.0,
            note,
        ),
    ]
    whole = _whole_explanation_s(case, checkpoint, inputs, work / "explained")
    rows.append(
        Result(
            "explain: whole explanation incl. sanity checks and artefacts",
            whole,
            None,
            None,
            "< 60 s",
            whole < 60.0,
            "s",
            f"{note}; demo case, inputs already prepared",
        )
    )
    rows.append(_cuda_row(case, work, whole, note))
    return rows
