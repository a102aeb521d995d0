"""The model steps of ``neoadj screen``: a `app.screening.batch.CaseModel` over a checkpoint.

Lives with the commands because it joins `inference` (prediction) and `explain`
(explanation), which the Qt-free `app.screening` package does not import.
"""

from __future__ import annotations

import threading
from pathlib import Path

from app.case import Case
from app.hashing import sha256_file
from app.progress import ProgressFn
from app.screening.batch import ModelResult
from app.storage import ArtefactInput
from explain.artefacts import MANIFEST_NAME
from explain.explanation import explain_case, write_explanation
from inference.checkpoint import Checkpoint
from inference.runner import predict_case, resolve_checkpoint

PREDICT_SHARE = 20
"""Percent of a case's model progress given to the prediction when it is also explained."""


class CheckpointModel:
    """Predicts with `inference.runner.predict_case` and explains with `explain.explain_case`.

    Args:
        checkpoint: A loaded checkpoint, used for every case.
    """

    def __init__(self, checkpoint: Checkpoint) -> None:
        self.checkpoint = checkpoint

    @classmethod
    def load(cls, folder: Path | None, device: str | None) -> CheckpointModel:
        """Load the checkpoint in ``folder`` (None: the demo one) on ``device`` (None: auto).

        Raises:
            CheckpointError: missing, corrupt or incompatible checkpoint.
            DeviceUnavailableError: "cuda" without CUDA.
        """
        return cls(resolve_checkpoint(folder, device))

    def run(
        self,
        case: Case,
        *,
        explain_dir: Path | None,
        progress: ProgressFn,
        cancel: threading.Event | None,
    ) -> ModelResult:
        """Predict; with ``explain_dir``, write the explanation there and hash its files.

        Artefact paths are relative to ``explain_dir``; each artefact's details name that
        folder, and the manifest's (``explanation.json``) say whether every sanity check
        passed and which maps are unreliable.
        """
        share = 100 if explain_dir is None else PREDICT_SHARE

        def predict_progress(done: int, total: int) -> None:
            progress(share * min(done, total) // max(total, 1), 100)

        prediction = predict_case(case, self.checkpoint, progress=predict_progress, cancel=cancel)
        if explain_dir is None:
            return ModelResult(prediction)

        def explain_progress(done: int, total: int) -> None:
            progress(share + (100 - share) * min(done, total) // max(total, 1), 100)

        explanation = explain_case(case, self.checkpoint, progress=explain_progress, cancel=cancel)
        manifest, written = write_explanation(explanation, explain_dir, cancel=cancel)
        folder = {"explanation_dir": str(explain_dir)}
        artefacts = [
            ArtefactInput(a.kind, a.path, a.sha256, {**folder, "size_bytes": a.size_bytes})
            for a in written
        ]
        artefacts.append(
            ArtefactInput(
                "explanation_manifest",
                MANIFEST_NAME,
                sha256_file(manifest),
                {
                    **folder,
                    "size_bytes": manifest.stat().st_size,
                    "all_sanity_checks_passed": explanation.reliable,
                    "unreliable": explanation.unreliable,
                },
            )
        )
        return ModelResult(prediction, artefacts)
