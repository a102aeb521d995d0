"""Generate the synthetic cohort (many patients, in parallel) and the demo case.

The cohort's files are identical for the same seed whatever the number of workers: each
patient depends only on (seed, index) (see `app.synth.patient`), and the index files are
written from results sorted by index. Nothing time-dependent goes into any file.
"""

from __future__ import annotations

import csv
import logging
import multiprocessing
import signal
import threading
import time
from collections.abc import Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.metrics import roc_auc_score

from app import __version__
from app.errors import ScreeningError
from app.progress import ProgressFn, check_cancel, no_progress
from app.synth import layout
from app.synth.centres import CENTRES, EXTERNAL_FRACTION, assign_centres, centre_by_code
from app.synth.generating_model import benefit_scores, describe_generating_model, sample_features
from app.synth.patient import (
    DEMO_SLIDE_PX,
    DEMO_STREAM,
    PatientRequest,
    PatientResult,
    generate_patient,
)
from app.synth.reproducible_files import save_json

log = logging.getLogger(__name__)

DEFAULT_TRAIN_PATIENTS = 536
POPULATION_SAMPLE = 20_000
_POPULATION_STREAM = 2_000_000


@dataclass(frozen=True)
class CohortSummary:
    """What `generate_cohort` wrote and measured.

    Attributes:
        out: The cohort folder.
        results: One entry per patient, in case-id order.
        bayes_auc: Split ("train", "external", "all") -> Bayes-optimal AUC, None when the
            split has one class only.
        wall_s: Wall-clock seconds of the whole generation.
    """

    out: Path
    results: tuple[PatientResult, ...]
    bayes_auc: dict[str, float | None]
    wall_s: float


def require_empty_folder(out: Path) -> None:
    """Refuse to write into an existing non-empty folder or onto a file."""
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ScreeningError(f"Output folder '{out}' is not empty; choose a new or empty folder.")


def check_cohort_arguments(out: Path, train_patients: int, workers: int) -> None:
    """Raise `ScreeningError` for a bad count or a non-empty output folder."""
    if train_patients < 1:
        raise ScreeningError(f"--patients must be at least 1, got {train_patients}")
    if workers < 1:
        raise ScreeningError(f"--workers must be at least 1, got {workers}")
    require_empty_folder(out)


def _auc(labels: Sequence[int], scores: Sequence[float]) -> float | None:
    if len(set(labels)) < 2:
        return None
    return float(roc_auc_score(np.asarray(labels), np.asarray(scores)))


def _split_report(results: Sequence[PatientResult]) -> dict[str, Any]:
    labels = [r.label for r in results]
    return {
        "patients": len(results),
        "prevalence": float(np.mean(labels)) if results else None,
        "mean_benefit_probability": float(np.mean([r.scores.probability for r in results]))
        if results
        else None,
        "bayes_optimal_auc": _auc(labels, [r.scores.probability for r in results]),
        "single_modality_auc": {
            name: _auc(labels, [getattr(r.scores, name) for r in results])
            for name in ("mri", "slide", "gene")
        },
    }


def population_bayes_auc(seed: int, n: int = POPULATION_SAMPLE) -> float:
    """Bayes-optimal AUC of the generating model on ``n`` simulated patients (features only)."""
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(_POPULATION_STREAM,)))
    probabilities = np.array([benefit_scores(sample_features(rng)).probability for _ in range(n)])
    labels = (rng.random(n) < probabilities).astype(int)
    return float(roc_auc_score(labels, probabilities))


def _run_one(request: PatientRequest, out: Path) -> PatientResult:
    try:
        return generate_patient(
            request,
            layout.cohort_case_dir(out, request.case_id),
            layout.cohort_truth_dir(out, request.case_id),
        )
    except OSError as exc:
        raise ScreeningError(
            f"Could not write case {request.case_id} under '{out}': {exc.strerror or exc}"
        ) from exc


def _ignore_interrupts() -> None:
    """Worker initialiser: Ctrl-C is handled by the parent, which stops the pool."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _requests(train_patients: int, seed: int) -> list[PatientRequest]:
    return [
        PatientRequest(layout.cohort_case_id(i), centre.code, centre.split, seed, i)
        for i, centre in enumerate(assign_centres(train_patients))
    ]


def _generate_parallel(
    requests: list[PatientRequest],
    out: Path,
    workers: int,
    progress: ProgressFn,
    cancel: threading.Event | None,
) -> list[PatientResult]:
    results: dict[str, PatientResult] = {}
    context = multiprocessing.get_context("spawn")
    pool = ProcessPoolExecutor(
        max_workers=workers, mp_context=context, initializer=_ignore_interrupts
    )
    try:
        pending: set[Future[PatientResult]] = {pool.submit(_run_one, r, out) for r in requests}
        while pending:
            check_cancel(cancel)
            done, pending = wait(pending, timeout=0.5, return_when=FIRST_COMPLETED)
            for future in done:
                result = future.result()
                results[result.case_id] = result
            if done:
                progress(len(results), len(requests))
    except BrokenProcessPool as exc:
        pool.shutdown(wait=True, cancel_futures=True)
        raise ScreeningError(
            "A worker process died while generating the cohort (out of memory?); "
            "try fewer --workers."
        ) from exc
    except BaseException:
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown(wait=True)
    return [results[r.case_id] for r in requests]


def _generate_all(
    requests: list[PatientRequest],
    out: Path,
    workers: int,
    progress: ProgressFn,
    cancel: threading.Event | None,
) -> list[PatientResult]:
    if workers > 1:
        return _generate_parallel(requests, out, workers, progress, cancel)
    serial: list[PatientResult] = []
    for request in requests:
        check_cancel(cancel)
        serial.append(_run_one(request, out))
        progress(len(serial), len(requests))
    return serial


def generate_cohort(
    out: Path,
    train_patients: int = DEFAULT_TRAIN_PATIENTS,
    seed: int = 1,
    *,
    workers: int = 1,
    progress: ProgressFn = no_progress,
    cancel: threading.Event | None = None,
) -> CohortSummary:
    """Write the cohort: cases, truth, ``cohort.csv`` and ``cohort.json`` (see `layout`).

    Args:
        out: A new or empty folder.
        train_patients: Patients over the six training centres; the external centre adds
            ``round(0.2 * train_patients)`` (at least 1) on top.
        seed: Seed of everything; the same seed gives byte-identical files.
        workers: Processes generating patients in parallel (1 = in this process).
        progress: Called with (patients done, total).
        cancel: Set to stop between patients (raises `Cancelled`).

    Returns:
        Per-patient results and the Bayes-optimal AUC per split.
    """
    check_cohort_arguments(out, train_patients, workers)
    started = time.perf_counter()
    requests = _requests(train_patients, seed)
    results = _generate_all(requests, out, workers, progress, cancel)

    with (out / layout.COHORT_CSV).open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(["case_id", "centre", "split", "benefit_probability", "label"])
        for r in results:
            writer.writerow([r.case_id, r.centre, r.split, repr(r.scores.probability), r.label])

    splits = {
        "train": [r for r in results if r.split == "train"],
        "external": [r for r in results if r.split == "external"],
        "all": list(results),
    }
    reports = {name: _split_report(rs) for name, rs in splits.items()}
    save_json(
        out / layout.COHORT_JSON,
        {
            "synthetic": True,
            "generator": layout.GENERATOR,
            "version": __version__,
            "seed": seed,
            "train_patients": len(splits["train"]),
            "external_patients": len(splits["external"]),
            "external_policy": f"the external centre adds round({EXTERNAL_FRACTION} x "
            "train_patients), at least 1, on top of the training patients",
            "layout": {
                "cases": f"{layout.COHORT_CASES_DIR}/<case_id>/",
                "truth": f"{layout.COHORT_TRUTH_DIR}/<case_id>/",
                "index": layout.COHORT_CSV,
                "mri_grid": "all phases of a case share one grid and FrameOfReferenceUID",
            },
            "bayes_optimal_auc_note": "roc_auc_score(label, true benefit probability) "
            "per split (sklearn)",
            "splits": reports,
            "population_bayes_optimal_auc": population_bayes_auc(seed),
            "population_note": f"the generating model's Bayes-optimal AUC on "
            f"{POPULATION_SAMPLE} simulated patients: what a split's AUC scatters around",
            "centres": [
                {
                    **asdict(c),
                    "patients": sum(1 for r in results if r.centre == c.code),
                }
                for c in CENTRES
            ],
            "generating_model": describe_generating_model(),
        },
    )
    wall = time.perf_counter() - started
    log.info("cohort of %d patients written in %.1f s", len(results), wall)
    return CohortSummary(
        out=out,
        results=tuple(results),
        bayes_auc={name: report["bayes_optimal_auc"] for name, report in reports.items()},
        wall_s=wall,
    )


def generate_demo(out: Path, seed: int = 1, *, slide_size_px: int = DEMO_SLIDE_PX) -> PatientResult:
    """Write the demo case to ``out/case`` and its ground truth to ``out/truth``.

    The demo patient has fixed planted features (`generating_model.demo_features`), the
    first training centre's profiles and a larger slide; everything else follows the seed.
    """
    if slide_size_px < 512 or slide_size_px % 256:
        raise ScreeningError(
            f"slide size must be a multiple of 256 px, at least 512; got {slide_size_px}"
        )
    require_empty_folder(out)
    request = PatientRequest(
        case_id=layout.DEMO_CASE_ID,
        centre_code=centre_by_code("C1").code,
        split="demo",
        seed=seed,
        stream=DEMO_STREAM,
        slide_size_px=slide_size_px,
        use_demo_features=True,
    )
    return generate_patient(request, out / layout.CASE_DIR, out / layout.TRUTH_DIR)
