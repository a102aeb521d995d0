"""``neoadj train COHORT --out DIR``: train Neoadj-Net on a cohort's training centres.

Reports AUC (bootstrap 95% CI), accuracy, sensitivity, specificity and calibration on the
external centre beside the Bayes-optimal AUC, and writes a checkpoint folder.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from app.errors import InputValidationError
from inference.case_cache import cache_cases, load_cached
from inference.checkpoint import save_checkpoint
from inference.cohort import Cohort, CohortCase, read_cohort
from inference.device import configure_determinism, select_device
from inference.input_spec import InputSpec
from inference.metrics import auc, binary_metrics, youden_threshold
from inference.model import ArchitectureConfig
from inference.training import TrainConfig, predict_arrays, train_model
from inference.training_targets import read_training_targets

NAME = "train"
HELP = "train Neoadj-Net on a cohort and write a checkpoint"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Command-line options of ``neoadj train``."""
    parser.add_argument("cohort", type=Path, help="cohort folder (cohort.csv, cohort.json, cases/)")
    parser.add_argument("--out", type=Path, required=True, help="checkpoint folder to write")
    parser.add_argument("--epochs", type=int, default=TrainConfig.epochs)
    parser.add_argument("--batch-size", type=int, default=TrainConfig.batch_size)
    parser.add_argument("--lr", type=float, default=TrainConfig.learning_rate)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", choices=("cpu", "cuda"), default=None)
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2)")
    parser.add_argument("--workers", type=int, default=1, help="processes preparing cases")
    parser.add_argument(
        "--cache", type=Path, default=None, help="preprocessed-case cache (default OUT/cache)"
    )
    parser.add_argument("--name", default="neoadj-net-demo", help="checkpoint name")
    parser.add_argument("--version", default="0.1.0", help="checkpoint version")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")


def run(args: argparse.Namespace) -> int:
    """Train, evaluate on the external centre, write the checkpoint and print the report."""
    if args.epochs < 1 or args.batch_size < 1:
        raise InputValidationError("--epochs and --batch-size must be at least 1")
    torch.set_num_threads(max(1, args.threads))
    device = select_device(args.device)
    configure_determinism(args.seed, strict=True)
    cohort = read_cohort(args.cohort)
    spec = InputSpec()
    arch = ArchitectureConfig(phases=len(spec.phases), genes=len(spec.genes))
    config = TrainConfig(
        epochs=args.epochs,
        batch_size=args.batch_size,
        learning_rate=args.lr,
        seed=args.seed,
        device=device,
    )
    t_start = time.perf_counter()
    cache_dir = args.cache or args.out / "cache"
    train_cases, external_cases = cohort.split("train"), cohort.split("external")
    _say(args, f"preparing {len(cohort.cases)} cases (cache {cache_dir})")
    cached = cache_cases(
        [c.folder for c in cohort.cases],
        spec,
        cache_dir,
        workers=args.workers,
        progress=lambda d, t: _say(args, f"  prepared {d}/{t}") if d % 50 == 0 or d == t else None,
    )
    failed = [c for c in cached if c.error is not None]
    if len(failed) > 0.1 * len(cached):
        raise InputValidationError(
            f"{len(failed)} of {len(cached)} cases could not be prepared, e.g. "
            f"{failed[0].folder.name}: {failed[0].error}"
        )
    by_folder = {c.folder: c for c in cached if c.error is None}
    train_ok = [c for c in train_cases if c.folder in by_folder]
    ext_ok = [c for c in external_cases if c.folder in by_folder]
    prep_s = time.perf_counter() - t_start
    train_arrays = load_cached([by_folder[c.folder] for c in train_ok])
    ext_arrays = load_cached([by_folder[c.folder] for c in ext_ok])
    targets = [
        read_training_targets(cohort.truth_dir(c), a)
        for c, a in zip(train_ok, train_arrays, strict=True)
    ]
    with_targets = sum(t.mri_features is not None for t in targets)
    _say(args, f"auxiliary targets from the cohort's truth: {with_targets}/{len(targets)} cases")
    y_train = np.array([c.label for c in train_ok])
    y_ext = np.array([c.label for c in ext_ok])

    t_train = time.perf_counter()
    model, losses = train_model(
        train_arrays,
        y_train,
        spec,
        arch,
        config,
        targets=targets if with_targets else None,
        on_epoch=lambda e, loss: _say(args, f"  epoch {e}/{config.epochs}: loss {loss:.4f}"),
    )
    train_s = time.perf_counter() - t_train
    p_train = predict_arrays(model, train_arrays, spec, device=device)
    threshold = youden_threshold(y_train, p_train)
    metrics: dict[str, Any] = {
        "train_apparent": binary_metrics(y_train, p_train, threshold).to_json(),
        "bayes_optimal_auc": {
            "train": _bayes_auc(cohort, "train", train_ok),
            "external": _bayes_auc(cohort, "external", ext_ok),
        },
        "epoch_losses": [round(v, 5) for v in losses],
        "timings_s": {"prepare": round(prep_s, 1), "train": round(train_s, 1)},
        "excluded_cases": len(failed),
        "auxiliary_target_cases": with_targets,
    }
    if len(set(y_ext.tolist())) == 2:
        p_ext = predict_arrays(model, ext_arrays, spec, device=device)
        ext = binary_metrics(y_ext, p_ext, threshold, seed=args.seed)
        metrics["external"] = ext.to_json()
        bayes_ext = metrics["bayes_optimal_auc"]["external"]
        if bayes_ext:
            metrics["external_auc_over_bayes"] = round(ext.auc / bayes_ext, 4)
    metrics["timings_s"]["total"] = round(time.perf_counter() - t_start, 1)
    info = save_checkpoint(
        model,
        args.out,
        name=args.name,
        version=args.version,
        input_spec=spec,
        threshold=threshold,
        training_cohort=_describe_cohort(cohort, train_ok, ext_ok, config),
        metrics=metrics,
        synthetic=bool(cohort.description.get("synthetic", True)),
    )
    report = {"checkpoint": info.to_json(), "decision_threshold": threshold, "metrics": metrics}
    (args.out / "training_report.json").write_text(json.dumps(report, indent=2) + "\n", "utf-8")
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        _print_report(report)
    return 0


def _bayes_auc(cohort: Cohort, split: str, cases: list[CohortCase]) -> float | None:
    """Bayes-optimal AUC from cohort.json, else from the true probabilities in cohort.csv."""
    stated = cohort.bayes_optimal_auc(split)
    if stated is not None:
        return round(stated, 4)
    probs = [c.true_probability for c in cases]
    labels = [c.label for c in cases]
    if any(p is None for p in probs) or len(set(labels)) < 2:
        return None
    return round(auc(np.array(labels), np.array(probs, dtype=np.float64)), 4)


def _describe_cohort(
    cohort: Cohort, train: list[CohortCase], external: list[CohortCase], config: TrainConfig
) -> dict[str, Any]:
    return {
        "cohort": cohort.root.name,
        "description": {k: v for k, v in cohort.description.items() if k != "cases"},
        "training_centres": sorted({c.centre for c in train}),
        "external_centres": sorted({c.centre for c in external}),
        "n_train": len(train),
        "n_external": len(external),
        "train_prevalence": round(float(np.mean([c.label for c in train])), 4),
        "training": config.to_json(),
    }


def _say(args: argparse.Namespace, line: str) -> None:
    if not args.json:
        print(line, file=sys.stderr, flush=True)


def _print_report(report: dict[str, Any]) -> None:
    m = report["metrics"]
    bayes = m["bayes_optimal_auc"]
    print(f"checkpoint: {report['checkpoint']['path']} (sha256 {report['checkpoint']['sha256']})")
    print(f"decision threshold (Youden, training data): {report['decision_threshold']:.4f}")
    ext = m.get("external")
    if ext is None:
        print("external centre: not evaluated (needs both labels)")
    else:
        lo, hi = ext["auc_ci95"]
        print(
            f"external centre (n={ext['n']}): AUC {ext['auc']:.3f} (95% CI {lo:.3f}-{hi:.3f}); "
            f"Bayes-optimal AUC {bayes['external']}; ratio {m.get('external_auc_over_bayes')}"
        )
        print(
            f"  accuracy {ext['accuracy']:.3f}, sensitivity {ext['sensitivity']:.3f}, "
            f"specificity {ext['specificity']:.3f}"
        )
        print(
            f"  calibration: Brier {ext['brier']:.3f}, slope {ext['calibration_slope']:.2f}, "
            f"intercept {ext['calibration_intercept']:.2f}, ECE {ext['ece']:.3f}"
        )
    tr = m["train_apparent"]
    print(f"training centres (apparent, n={tr['n']}): AUC {tr['auc']:.3f}; Bayes {bayes['train']}")
    print(f"time: prepare {m['timings_s']['prepare']} s, train {m['timings_s']['train']} s")
