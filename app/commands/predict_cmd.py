"""``neoadj predict CASE [--checkpoint DIR] [--device cpu|cuda] [--json]``: one benefit prediction.

``--json`` prints exactly one JSON object: probability, threshold, predicted_benefit,
modalities_used, modalities_missing, device, timings_s, checkpoint {path, name, version,
sha256, synthetic}, plus flags and synthetic_case.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from app.case import load_case
from app.errors import InputValidationError
from inference.runner import predict_case

NAME = "predict"
HELP = "predict benefit from neoadjuvant therapy for one case"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Command-line options of ``neoadj predict``."""
    parser.add_argument("case", type=Path, help="case folder")
    parser.add_argument(
        "--checkpoint", type=Path, default=None, help="checkpoint folder (default: the demo one)"
    )
    parser.add_argument("--device", choices=("cpu", "cuda"), default=None)
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def run(args: argparse.Namespace) -> int:
    """Import the case, predict, print the result."""
    torch.set_num_threads(max(1, args.threads))
    t0 = time.perf_counter()
    case = load_case([args.case])
    load_s = time.perf_counter() - t0
    if not case.imported_anything:
        problems = "; ".join(msg for _, msg in case.errors[:3]) or "no MRI, slide or gene panel"
        raise InputValidationError(f"'{args.case}' has nothing the model can read ({problems})")
    prediction = predict_case(case, args.checkpoint, device=args.device)
    prediction.timings_s = {"load_case": load_s, **prediction.timings_s}
    prediction.timings_s["total"] += load_s
    if args.json:
        print(json.dumps(prediction.to_json()))
        return 0
    verdict = "benefit predicted" if prediction.predicted_benefit else "no benefit predicted"
    print(
        f"probability {prediction.probability:.3f} (threshold {prediction.threshold:.3f}): "
        f"{verdict}"
    )
    print(f"modalities used: {', '.join(prediction.modalities_used)}")
    if prediction.modalities_missing:
        print(f"modalities missing: {', '.join(prediction.modalities_missing)}")
    for flag in prediction.flags:
        print(f"flag: {flag}")
    print(
        f"checkpoint {prediction.checkpoint.name} {prediction.checkpoint.version} "
        f"on {prediction.device}, {prediction.timings_s['total']:.2f} s"
    )
    return 0
