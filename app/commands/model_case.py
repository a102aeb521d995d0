"""What ``neoadj predict`` and ``neoadj explain`` share: their model options and case loading."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from app.case import Case, load_case
from app.errors import InputValidationError


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    """The case folder, checkpoint, device, CPU threads and --json options."""
    parser.add_argument("case", type=Path, help="case folder")
    parser.add_argument(
        "--checkpoint", type=Path, default=None, help="checkpoint folder (default: the demo one)"
    )
    parser.add_argument("--device", choices=("cpu", "cuda"), default=None)
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def load_model_case(args: argparse.Namespace) -> tuple[Case, float]:
    """Set torch's CPU threads, import ``args.case`` and check the model can read something.

    Returns:
        The case and its import time in seconds.

    Raises:
        InputValidationError: if no MRI, slide or gene panel was imported.
    """
    torch.set_num_threads(max(1, args.threads))
    t0 = time.perf_counter()
    case = load_case([args.case])
    load_s = time.perf_counter() - t0
    if not case.imported_anything:
        problems = "; ".join(msg for _, msg in case.errors[:3]) or "no MRI, slide or gene panel"
        raise InputValidationError(f"'{args.case}' has nothing the model can read ({problems})")
    return case, load_s
