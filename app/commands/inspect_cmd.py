"""``neoadj inspect PATH... [--json]``: what a case holds, in its own geometry.

With ``--json`` exactly one JSON object is printed on stdout (keys: mri, slides, genomics,
skipped, errors). Exit status 0 when anything was imported, 2 when nothing was.
No patient name or identifier is printed.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from app.case import Case, load_case
from app.imaging.series import MriSeries

NAME = "inspect"
HELP = "Import a case folder or files and describe what they hold."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the command's arguments."""
    parser.add_argument("paths", nargs="+", type=Path, metavar="PATH", help="folders or files")
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout")


def mri_to_json(series: MriSeries) -> dict[str, Any]:
    """The ``mri`` entry of one reconstructed geometry."""
    return {
        "source": str(series.source),
        "series_instance_uid": series.series_instance_uid,
        "series_description": series.series_description,
        "phase": str(series.phase),
        "files": len(series.files),
        "frames": series.frames,
        "volumes": series.volume_count,
        "shape_zyx": list(series.shape_zyx),
        "spacing_mm_zyx": [float(v) for v in series.spacing_mm_zyx],
        "origin_mm": [float(v) for v in series.origin_mm],
        "image_orientation_patient": [float(v) for v in series.image_orientation_patient],
        "warnings": list(series.warnings),
    }


def case_to_json(case: Case) -> dict[str, Any]:
    """The whole ``inspect --json`` object of a case."""
    return {
        "mri": [mri_to_json(s) for s in case.mri],
        "slides": [s.to_json() for s in case.slides],
        "genomics": [g.to_json() for g in case.genomics],
        "skipped": [{"source": str(p), "reason": r} for p, r in case.skipped],
        "errors": [{"source": str(p), "message": m} for p, m in case.errors],
    }


def _print_human(case: Case) -> None:
    out = sys.stdout
    if case.synthetic:
        print("SYNTHETIC case (generated data, not a patient)", file=out)
    for s in case.mri:
        z, y, x = s.shape_zyx
        dz, dy, dx = s.spacing_mm_zyx
        print(
            f"MRI  {s.series_description or '(no description)'} [{s.phase}]: "
            f"{s.volume_count} x {z}x{y}x{x} voxels, {dz:.2f}x{dy:.2f}x{dx:.2f} mm, "
            f"{s.frames} frames from {len(s.files)} file(s)",
            file=out,
        )
        for warning in s.warnings:
            print(f"     warning: {warning}", file=out)
    for sl in case.slides:
        width, height = sl.dimensions
        mpp = f"{sl.mpp[0]:.3f}x{sl.mpp[1]:.3f} µm/px" if sl.mpp else "mpp unknown"
        print(
            f"WSI  {sl.source.name} ({sl.vendor}): {width}x{height} px, "
            f"{sl.level_count} levels, {mpp}",
            file=out,
        )
        for warning in sl.warnings:
            print(f"     warning: {warning}", file=out)
    for g in case.genomics:
        build = g.genome_build or "build unknown"
        print(
            f"GENE {g.source.name} ({g.format}, {build}): {len(g.variants)} variants "
            f"in {len(g.genes)} genes",
            file=out,
        )
    for path, reason in case.skipped:
        print(f"skip {path}: {reason}", file=out)
    for path, message in case.errors:
        print(f"ERR  {path}: {message}", file=out)
    if not case.imported_anything:
        print("Nothing was imported.", file=out)


def run(args: argparse.Namespace) -> int:
    """Import the paths and print the result."""
    existing = [p for p in args.paths if p.exists()]
    case = load_case(existing) if existing else Case(root=None)
    case.errors[:0] = [(p, f"'{p}' does not exist.") for p in args.paths if not p.exists()]
    if args.json:
        json.dump(case_to_json(case), sys.stdout)
        sys.stdout.write("\n")
    else:
        _print_human(case)
    return 0 if case.imported_anything else 2
