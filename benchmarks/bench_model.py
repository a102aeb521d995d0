"""Prediction on the demo case (CPU): the whole ``predict_case`` vs the forward pass alone."""

from __future__ import annotations

import time
from pathlib import Path

import torch

from app.case import Case, load_case
from benchmarks.framework import Result, best_of
from benchmarks.inputs import checkpoint_dir, demo_case, load_bench_checkpoint
from inference.batch import collate
from inference.runner import predict_case, prepare_inputs


def _cuda_row(case: Case, work: Path, cpu_total_s: float) -> Result:
    """Predict on CUDA vs the CPU total of this run; not measured without a CUDA GPU."""
    target = ">= 10x faster"
    if not torch.cuda.is_available():
        note = "not measured: no CUDA GPU on this machine"
        return Result("predict on CUDA vs CPU", None, None, None, target, None, note=note)
    folder, note = checkpoint_dir(work)
    predict_case(case, folder, device="cuda")  # warm-up: CUDA context and kernels
    t0 = time.perf_counter()
    predict_case(case, folder, device="cuda")
    cuda_s = time.perf_counter() - t0
    speedup = cpu_total_s / cuda_s
    return Result(
        "predict on CUDA vs CPU",
        cuda_s,
        cpu_total_s,
        speedup,
        target,
        speedup >= 10.0,
        "s",
        f"{note}; explain on CUDA not measured",
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
    t0 = time.perf_counter()
    prediction = predict_case(case, checkpoint, device="cpu")
    total = time.perf_counter() - t0
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
        _cuda_row(case, work, total),
    ]
    return rows
