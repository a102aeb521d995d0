"""``neoadj predict CASE [--checkpoint DIR] [--device cpu|cuda] [--json]``: one benefit prediction.

``--json`` prints exactly one JSON object: probability, threshold, predicted_benefit,
modalities_used, modalities_missing, device, timings_s, checkpoint {path, name, version,
sha256, synthetic}, plus flags and synthetic_case.
"""

from __future__ import annotations

import argparse
import json

from app.commands.model_case import add_model_arguments, load_model_case
from inference.runner import predict_case

NAME = "predict"
HELP = "predict benefit from neoadjuvant therapy for one case"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Command-line options of ``neoadj predict``."""
    add_model_arguments(parser)


def run(args: argparse.Namespace) -> int:
    """Import the case, predict, print the result."""
    case, load_s = load_model_case(args)
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
