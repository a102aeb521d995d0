"""Prediction on the demo case: the whole ``predict_case`` vs the forward pass alone (CPU), and
CUDA vs CPU when a CUDA GPU is present."""

from __future__ import annotations

from pathlib import Path

import torch

from app.case import Case, load_case
from benchmarks.framework import Result, best_of
from benchmarks.inputs import checkpoint_dir, demo_case, load_bench_checkpoint
from inference.batch import collate
from inference.checkpoint import load_checkpoint
from inference.runner import predict_case, prepare_inputs


def _cuda_row(case: Case, work: Path, cpu_total_s: float, cpu_forward_s: float) -> Result:
    """Whole predict on CUDA vs the CPU total of this run; not measured without a CUDA GPU."""
    metric, target = "predict on the demo case, CUDA vs CPU (whole predict)", ">= 10x faster"
    if not torch.cuda.is_available():
        note = "not measured: no CUDA GPU on this machine"
        return Result(metric, None, None, None, target, None, note=note)
    folder, note = checkpoint_dir(work)
    checkpoint = load_checkpoint(folder, device="cuda")
    inputs = prepare_inputs(case, checkpoint)
    batch = collate([inputs.arrays()], checkpoint.input_spec).to("cuda")

    def forward() -> None:
        with torch.inference_mode():
            checkpoint.model(
                batch.mri, batch.tiles, batch.tile_mask, batch.genes, batch.modality_mask
            )
        torch.cuda.synchronize()

    predict_case(case, checkpoint, device="cuda")  # warm-up: CUDA context and kernels
    cuda_s = best_of(lambda: predict_case(case, checkpoint, device="cuda"), 3)
    forward_s = best_of(forward, 7)
    speedup = cpu_total_s / cuda_s
    return Result(
        metric,
        cuda_s,
        cpu_total_s,
        speedup,
        target,
        speedup >= 10.0,
        "s",
        f"{note}; {torch.cuda.get_device_name()}; forward pass alone {forward_s * 1e3:.1f} ms "
        f"on CUDA vs {cpu_forward_s * 1e3:.1f} ms on 2 CPU threads "
        f"({cpu_forward_s / forward_s:.1f}x); the rest is reading and resampling on the CPU",
    )


def run(work: Path, shared_data: Path) -> list[Result]:
    """Total predict (import not included) < 20 s; the forward pass is the reference."""
    torch.set_num_threads(2)
    case = load_case([demo_case(work)])
    checkpoint, note = load_bench_checkpoint(work)
    inputs = prepare_inputs(case, checkpoint)
    batch = collate([inputs.arrays()], checkpoint.input_spec)

    def forward() -> None:
        with torch.inference_mode():
            checkpoint.model(
                batch.mri, batch.tiles, batch.tile_mask, batch.genes, batch.modality_mask
            )

    forward()  # warm-up
    t_forward = best_of(forward, 7)
    prediction = predict_case(case, checkpoint, device="cpu")
    total = best_of(lambda: predict_case(case, checkpoint, device="cpu"), 3)
    steps = ", ".join(f"{k} {v:.2f} s" for k, v in prediction.timings_s.items())
    rows = [
        Result(
            "predict on the demo case, CPU (total vs forward pass alone)",
            total,
            t_forward,
            total / t_forward,
            "total < 20 s",
            total < 20.0,
            "s",
            f"{note}; {steps}",
        ),
        _cuda_row(case, work, total, t_forward),
    ]
    return rows
