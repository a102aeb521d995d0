"""What the screening record takes in: structural types, so that storage imports no model code.

`app.case.Case` satisfies `CaseLike`, `inference.runner.Prediction` satisfies `PredictionLike`,
`app.rules.criteria.EligibilityResult` satisfies `EligibilityLike`; explanation artefacts are
passed as `ArtefactInput`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from app.clinical import ClinicalData
from app.hashing import sha256_file
from app.storage.errors import RecordError

_SHA256 = re.compile(r"[0-9a-f]{64}")
MAX_NAME_CHARS = 100


class InputFileLike(Protocol):
    """One imported file with its content hash."""

    @property
    def path(self) -> Path: ...
    @property
    def sha256(self) -> str: ...
    @property
    def size_bytes(self) -> int: ...
    @property
    def kind(self) -> str: ...


class CaseLike(Protocol):
    """An imported case (`app.case.Case`)."""

    @property
    def root(self) -> Path | None: ...
    @property
    def inputs(self) -> Sequence[InputFileLike]: ...
    @property
    def clinical(self) -> ClinicalData | None: ...
    @property
    def case_id(self) -> str: ...
    @property
    def content_hash(self) -> str: ...
    @property
    def synthetic(self) -> bool: ...


class CheckpointLike(Protocol):
    """Identity of the checkpoint that made a prediction."""

    @property
    def name(self) -> str: ...
    @property
    def version(self) -> str: ...
    @property
    def sha256(self) -> str: ...
    @property
    def synthetic(self) -> bool: ...


class PredictionLike(Protocol):
    """A benefit prediction (probability and threshold in [0, 1], timings in seconds)."""

    @property
    def probability(self) -> float: ...
    @property
    def threshold(self) -> float: ...
    @property
    def device(self) -> str: ...
    @property
    def timings_s(self) -> Mapping[str, float]: ...
    @property
    def checkpoint(self) -> CheckpointLike: ...
    @property
    def modalities_used(self) -> Sequence[str]: ...
    @property
    def modalities_missing(self) -> Sequence[str]: ...
    @property
    def flags(self) -> Sequence[str]: ...


class CriterionLike(Protocol):
    """One evaluated protocol criterion."""

    @property
    def id(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def value(self) -> str: ...
    @property
    def source(self) -> str: ...
    @property
    def raw(self) -> Mapping[str, Any]: ...


class BclcLike(Protocol):
    """A BCLC stage ("0", "A", "B", "C", "D") or None when unknown."""

    @property
    def stage(self) -> str | None: ...


class EligibilityLike(Protocol):
    """Every criterion of one patient and the BCLC stage computed on the way."""

    @property
    def criteria(self) -> Sequence[CriterionLike]: ...
    @property
    def bclc(self) -> BclcLike: ...


@dataclass(frozen=True)
class ArtefactInput:
    """A saved explanation artefact.

    Attributes:
        kind: What it is ("mri_saliency", "slide_heatmap", "gene_attribution"...).
        path: Where it lies, relative to the case's output folder (POSIX separators).
        sha256: Content hash of the file.
        details: JSON-ready facts about it (method, sanity-check outcome...).
    """

    kind: str
    path: str
    sha256: str
    details: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_sha256(self.sha256, f"artefact '{self.path}'")
        if not self.kind:
            raise RecordError(f"Artefact '{self.path}' has no kind.")

    @classmethod
    def from_file(
        cls, kind: str, path: Path, root: Path, details: Mapping[str, Any] | None = None
    ) -> ArtefactInput:
        """Hash ``path`` and record it relative to ``root``."""
        relative = path.relative_to(root) if path.is_relative_to(root) else Path(path.name)
        return cls(kind, relative.as_posix(), sha256_file(path), dict(details or {}))


def check_sha256(value: str, what: str) -> str:
    """``value`` if it is 64 lower-case hex characters, else `RecordError` naming ``what``."""
    if not _SHA256.fullmatch(value):
        raise RecordError(f"The sha256 of {what} is not 64 lower-case hex characters.")
    return value


def check_actor(actor: str) -> str:
    """A reviewer or command name: non-blank, at most 100 characters, stripped."""
    name = actor.strip()
    if not name:
        raise RecordError("A reviewer name is required.")
    if len(name) > MAX_NAME_CHARS:
        raise RecordError(f"A reviewer name must be at most {MAX_NAME_CHARS} characters.")
    return name


def check_probability(value: float, what: str) -> float:
    """``value`` if finite and within [0, 1], else `RecordError` naming ``what``."""
    if not (math.isfinite(value) and 0.0 <= value <= 1.0):
        raise RecordError(f"The {what} must be within 0-1, got {value!r}.")
    return float(value)
