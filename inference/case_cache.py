"""Cache of preprocessed case arrays, keyed by the content of the case's files.

The key is the sha256 over the preprocessing version, the input specification and the sorted
(relative path, sha256) of every file in the case folder, so the expensive DICOM decoding,
resampling and tile reading happen once per case and input specification; a changed file
gives a new key. Cases are prepared in worker processes (one torch/BLAS thread each).
"""

from __future__ import annotations

import json
import logging
import os
import threading
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path

from app.case import load_case
from app.errors import ScreeningError
from app.hashing import sha256_bytes, sha256_file
from app.progress import ProgressFn, check_cancel, no_progress
from inference.batch import CaseArrays
from inference.input_spec import InputSpec
from inference.preprocess import PREPROCESSING_VERSION, prepare_case_inputs

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CachedCase:
    """Where a case's arrays are cached, and what preprocessing flagged."""

    folder: Path
    path: Path | None
    flags: tuple[str, ...]
    error: str | None = None


def cache_key(folder: Path, spec: InputSpec) -> str:
    """Hex sha256 identifying a case folder's content under an input specification."""
    parts = [f"preprocessing {PREPROCESSING_VERSION}", json.dumps(spec.to_json(), sort_keys=True)]
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        rel = path.relative_to(folder)
        if not any(part.startswith(".") for part in rel.parts):
            parts.append(f"{rel.as_posix()} {sha256_file(path)}")
    return sha256_bytes("\n".join(parts).encode())


def cache_case(folder: Path, spec: InputSpec, cache_dir: Path) -> CachedCase:
    """Prepare one case folder into ``cache_dir`` unless already there."""
    key = cache_key(folder, spec)
    target = cache_dir / f"{key}.npz"
    flags_path = cache_dir / f"{key}.flags.json"
    if target.is_file() and flags_path.is_file():
        return CachedCase(folder, target, tuple(json.loads(flags_path.read_text("utf-8"))))
    try:
        case = load_case([folder])
        inputs = prepare_case_inputs(case, spec)
    except ScreeningError as exc:
        return CachedCase(folder, None, (), exc.user_message)
    inputs.arrays().save(target)
    flags_path.write_text(json.dumps(inputs.flags), encoding="utf-8")
    return CachedCase(folder, target, tuple(inputs.flags))


def _worker_init() -> None:
    import torch

    torch.set_num_threads(1)


def cache_cases(
    folders: list[Path],
    spec: InputSpec,
    cache_dir: Path,
    *,
    workers: int = 1,
    progress: ProgressFn = no_progress,
    cancel: threading.Event | None = None,
) -> list[CachedCase]:
    """Prepare every case folder (in ``workers`` processes); results in input order."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    results: dict[int, CachedCase] = {}
    if workers <= 1:
        for i, folder in enumerate(folders):
            check_cancel(cancel)
            results[i] = cache_case(folder, spec, cache_dir)
            progress(i + 1, len(folders))
        return [results[i] for i in range(len(folders))]
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    with ProcessPoolExecutor(max_workers=workers, initializer=_worker_init) as pool:
        pending: dict[Future[CachedCase], int] = {
            pool.submit(cache_case, folder, spec, cache_dir): i for i, folder in enumerate(folders)
        }
        try:
            while pending:
                done, _ = wait(pending, timeout=0.5, return_when=FIRST_COMPLETED)
                check_cancel(cancel)
                for future in done:
                    results[pending.pop(future)] = future.result()
                progress(len(results), len(folders))
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)
            raise
    return [results[i] for i in range(len(folders))]


def load_cached(cases: list[CachedCase]) -> list[CaseArrays]:
    """Read the cached arrays of cases that were prepared without error."""
    return [CaseArrays.load(c.path) for c in cases if c.path is not None]
