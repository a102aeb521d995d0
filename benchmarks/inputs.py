"""Inputs shared by the model, explain, screening and GUI benchmarks of one run.

The demo case (``app.synth.cohort.generate_demo``) and the checkpoint: the shipped demo one
when committed, else a freshly initialised model of the same architecture (said in the rows).
Both are made once per run, next to the benchmarks' work folders.
"""

from __future__ import annotations

from pathlib import Path

import torch

from app.errors import CheckpointError
from app.synth.cohort import generate_demo
from inference.checkpoint import (
    Checkpoint,
    default_checkpoint_dir,
    load_checkpoint,
    save_checkpoint,
)
from inference.input_spec import InputSpec
from inference.model import ArchitectureConfig, NeoadjNet

UNTRAINED = "untrained model of the same architecture"
UNTRAINED_NOTE = f"demo checkpoint absent: {UNTRAINED}"


def demo_case(work: Path) -> Path:
    """The demo case folder (generated once per run, seed 1)."""
    out = work.parent / "_demo"
    if not (out / "case").exists():
        generate_demo(out)
    return out / "case"


def checkpoint_dir(work: Path) -> tuple[Path, str]:
    """(checkpoint folder, note): the demo checkpoint, else an untrained one (seed 0)."""
    shipped = default_checkpoint_dir()
    if (shipped / "manifest.json").is_file():
        try:
            load_checkpoint(shipped, device="cpu")
        except CheckpointError as exc:
            reason = exc.user_message.replace(str(shipped / "manifest.json"), "its manifest")
            note = f"demo checkpoint unusable ({reason}): {UNTRAINED}"
        else:
            return shipped, "demo checkpoint"
    else:
        note = UNTRAINED_NOTE
    out = work.parent / "_untrained_checkpoint"
    if not (out / "manifest.json").is_file():
        torch.manual_seed(0)
        save_checkpoint(
            NeoadjNet(ArchitectureConfig()).eval(),
            out,
            name="neoadj-net-untrained-bench",
            version="0",
            input_spec=InputSpec(),
            threshold=0.5,
            training_cohort={},
            metrics={},
            synthetic=True,
        )
    return out, note


def load_bench_checkpoint(work: Path) -> tuple[Checkpoint, str]:
    """The loaded checkpoint on CPU and its note."""
    folder, note = checkpoint_dir(work)
    return load_checkpoint(folder, device="cpu"), note
