"""``neoadj synth demo OUT`` and ``neoadj synth cohort OUT --patients N --seed S [--workers K]``.

Writes the synthetic demo case or the synthetic cohort (layout: `app.synth.layout`).
Prints one summary line per result; exit 0 on success, 2 on bad arguments or output folder.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

from app.synth.cohort import (
    DEFAULT_TRAIN_PATIENTS,
    check_cohort_arguments,
    generate_cohort,
    generate_demo,
)
from app.synth.patient import DEMO_SLIDE_PX

NAME = "synth"
HELP = "write the synthetic demo case or the synthetic training/validation cohort"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Sub-commands ``demo`` and ``cohort``."""
    sub = parser.add_subparsers(dest="synth_command", metavar="WHAT", required=True)
    demo = sub.add_parser("demo", help="one synthetic patient: OUT/case and OUT/truth")
    demo.add_argument("out", type=Path, metavar="OUT", help="new or empty output folder")
    demo.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    demo.add_argument(
        "--slide-size",
        type=int,
        default=DEMO_SLIDE_PX,
        help=f"level-0 slide width = height in px at 1 µm/px (default {DEMO_SLIDE_PX})",
    )
    cohort = sub.add_parser(
        "cohort", help="six training centres plus an external centre: OUT/cases, OUT/truth"
    )
    cohort.add_argument("out", type=Path, metavar="OUT", help="new or empty output folder")
    cohort.add_argument(
        "--patients",
        type=int,
        default=DEFAULT_TRAIN_PATIENTS,
        help=f"training patients over six centres (default {DEFAULT_TRAIN_PATIENTS}); the "
        "external centre adds 20%% on top",
    )
    cohort.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    cohort.add_argument("--workers", type=int, default=1, help="parallel processes (default 1)")


def _auc_text(value: float | None) -> str:
    return "n/a (one class)" if value is None else f"{value:.3f}"


def run(args: argparse.Namespace) -> int:
    """Generate what was asked and print a summary."""
    if args.synth_command == "demo":
        result = generate_demo(args.out, args.seed, slide_size_px=args.slide_size)
        print(
            f"demo case written to {args.out / 'case'} (ground truth in {args.out / 'truth'}); "
            f"true benefit probability {result.scores.probability:.3f}, "
            f"{result.bytes_written / 1e6:.1f} MB, {result.cpu_s:.1f} s CPU"
        )
        return 0

    check_cohort_arguments(args.out, args.patients, args.workers)
    console = Console(stderr=True)
    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as bar:
        task = bar.add_task("generating patients", total=None)

        def progress(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        summary = generate_cohort(
            args.out, args.patients, args.seed, workers=args.workers, progress=progress
        )
    results = summary.results
    n_train = sum(1 for r in results if r.split == "train")
    print(
        f"cohort written to {args.out}: {len(results)} patients "
        f"({n_train} training, {len(results) - n_train} external) in {summary.wall_s:.1f} s; "
        f"{sum(r.cpu_s for r in results) / len(results):.2f} s CPU and "
        f"{sum(r.bytes_written for r in results) / len(results) / 1e6:.1f} MB per patient"
    )
    print(
        "Bayes-optimal AUC: "
        + ", ".join(f"{name} {_auc_text(auc)}" for name, auc in summary.bayes_auc.items())
    )
    return 0
