"""``neoadj explain CASE --out DIR [--checkpoint DIR] [--device cpu|cuda] [--json]``.

Explains one prediction: MRI saliency on each source series' grid (plus a DICOM Parametric
Map per series), the slide heatmap and GeoJSON, per-gene and per-modality attributions, and
the sanity checks; all written to DIR with their sha256 (``DIR/explanation.json``).
``--json`` prints exactly one JSON object (see docs/cli.md). Exit status 0 when every sanity
check passed, 1 when the explanation was written but a check failed (the failed maps are
marked unreliable), 2 on bad input.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from app.commands.model_case import add_model_arguments, load_model_case
from explain.explanation import explain_case, write_explanation
from inference.runner import resolve_checkpoint

NAME = "explain"
HELP = "explain a prediction (saliency maps, attributions, sanity checks) into a folder"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Command-line options of ``neoadj explain``."""
    add_model_arguments(parser)
    parser.add_argument("--out", type=Path, required=True, help="folder for the artefacts")


def run(args: argparse.Namespace) -> int:
    """Import the case, explain its prediction, write the artefacts, print a summary."""
    t0 = time.perf_counter()
    case, load_s = load_model_case(args)
    checkpoint = resolve_checkpoint(args.checkpoint, args.device)
    explanation = explain_case(case, checkpoint)
    explanation.timings_s = {"load_case": load_s, **explanation.timings_s}
    manifest_path, _ = write_explanation(explanation, args.out)
    explanation.timings_s["total"] = time.perf_counter() - t0
    summary = json.loads(manifest_path.read_text(encoding="utf-8"))
    summary["timings_s"] = {k: round(v, 4) for k, v in explanation.timings_s.items()}
    summary["out"] = str(args.out)
    summary["manifest"] = str(manifest_path)
    summary["device"] = checkpoint.device
    if args.json:
        print(json.dumps(summary))
    else:
        _print_human(summary)
    return 0 if explanation.reliable else 1


def _print_human(summary: dict[str, Any]) -> None:
    """A short readable account of the explanation."""
    shap = summary["modality_shapley"]
    print(
        f"probability {summary['prediction']:.3f} = no-modality baseline "
        f"{summary['baseline']:.3f} + " + " + ".join(f"{m} {v:+.3f}" for m, v in shap.items())
    )
    missing = summary["modalities_missing"]
    if missing:
        print(f"modalities missing (explained as absent): {', '.join(missing)}")
    for check in summary["sanity"]["checks"]:
        status = "pass" if check["passed"] else "FAIL (marked unreliable)"
        print(
            f"sanity {check['target']} {check['name']}: {check['figure']:.3g} "
            f"(< {check['threshold']:g}) {status}"
        )
    print(f"artefacts in {summary['out']} (manifest {summary['manifest']})")
