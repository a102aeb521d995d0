"""Batch screening: ``neoadj screen`` (import, predict, explain, criteria, record) in cases/min.

Six synthetic cohort cases (one per training centre, ``app.synth``), screened by the real
command in a subprocess on a fresh SQLite record; the wall time includes its start-up.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from app.synth.centres import CENTRES
from app.synth.layout import cohort_case_id
from app.synth.patient import PatientRequest, generate_patient
from benchmarks.framework import Result, is_quick
from benchmarks.inputs import checkpoint_dir

SEED = 21


def make_cases(root: Path, count: int) -> list[Path]:
    """`count` synthetic cohort cases under ``root/cases``, centres in turn."""
    folders = []
    train = [c for c in CENTRES if c.code != "EXT"]
    for i in range(count):
        case_id = cohort_case_id(i)
        request = PatientRequest(case_id, train[i % len(train)].code, "train", SEED, i)
        generate_patient(request, root / "cases" / case_id, root / "truth" / case_id)
        folders.append(root / "cases" / case_id)
    return folders


def run(work: Path, shared_data: Path) -> list[Result]:
    """Screen the cases with explanations, 2 torch threads (the command's default)."""
    count = 2 if is_quick() else 6
    make_cases(work, count)
    checkpoint, note = checkpoint_dir(work)
    command = [
        sys.executable, "-m", "app.cli", "screen", str(work / "cases"),
        "--db", f"sqlite:///{work / 'record.db'}",
        "--checkpoint", str(checkpoint),
        "--artefacts", str(work / "explanations"),
        "--site-secret", str(work / "site.secret"),
        "--json",
    ]  # fmt: skip
    t0 = time.perf_counter()
    proc = subprocess.run(command, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t0
    if proc.returncode not in (0, 1):
        raise RuntimeError(f"neoadj screen exited {proc.returncode}: {proc.stderr.strip()[-300:]}")
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    screened = int(summary["screened"])
    per_min = 60.0 * screened / wall
    failed = len(summary["failed"])
    return [
        Result(
            f"batch screening, {count} synthetic cases with explanations",
            per_min,
            None,
            None,
            ">= 2 cases/min",
            per_min >= 2.0 and failed == 0,
            "cases/min",
            f"{note}; {screened} screened, {failed} failed, {wall:.0f} s wall incl. start-up "
            f"({summary['cases_per_minute']:.2f}/min inside the batch)",
        )
    ]
