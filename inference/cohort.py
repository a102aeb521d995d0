"""A training cohort on disk: ``cohort.csv`` (one row per case), ``cohort.json``, ``cases/``.

``cohort.csv`` columns: ``case_id``, ``centre``, ``split`` ("train" or "external"), the true
benefit probability (``benefit_probability``; only used for reporting) and ``label`` (0/1).
``cohort.json`` holds the cohort description; ``splits.<split>.bayes_optimal_auc`` is the
Bayes-optimal AUC of a split (the AUC of the true probabilities against the labels).
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.errors import InputValidationError

PROBABILITY_COLUMNS = ("benefit_probability", "true_probability")


@dataclass(frozen=True)
class CohortCase:
    """One row of ``cohort.csv`` with its case folder."""

    case_id: str
    centre: str
    split: str
    true_probability: float | None
    label: int
    folder: Path


@dataclass(frozen=True)
class Cohort:
    """A cohort folder's cases and description."""

    root: Path
    cases: tuple[CohortCase, ...]
    description: dict[str, Any]

    def split(self, name: str) -> list[CohortCase]:
        """Cases of one split ("train" or "external")."""
        return [c for c in self.cases if c.split == name]

    def truth_dir(self, case: CohortCase) -> Path:
        """The case's ground-truth folder (``truth/<case_id>/``; may not exist)."""
        return self.root / "truth" / case.case_id

    def bayes_optimal_auc(self, split: str) -> float | None:
        """The Bayes-optimal AUC of a split from ``cohort.json``, when it gives one."""
        section = self.description.get("splits", {}).get(split)
        if isinstance(section, dict) and section.get("bayes_optimal_auc") is not None:
            return float(section["bayes_optimal_auc"])
        return None


def read_cohort(root: Path) -> Cohort:
    """Read a cohort folder.

    Raises:
        InputValidationError: missing or malformed ``cohort.csv``, unknown split, a case
            folder that does not exist, or a split without both labels.
    """
    csv_path = root / "cohort.csv"
    if not csv_path.is_file():
        raise InputValidationError(f"'{root}' is not a cohort folder: it has no cohort.csv")
    description: dict[str, Any] = {}
    json_path = root / "cohort.json"
    if json_path.is_file():
        try:
            loaded = json.loads(json_path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise InputValidationError(f"'{json_path}' is not readable JSON") from exc
        if isinstance(loaded, dict):
            description = loaded
    with csv_path.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    if not rows:
        raise InputValidationError(f"'{csv_path}' has no cases")
    missing = [c for c in ("case_id", "centre", "split", "label") if c not in rows[0]]
    if missing:
        raise InputValidationError(f"'{csv_path}' lacks column(s): {', '.join(missing)}")
    prob_col = next((c for c in PROBABILITY_COLUMNS if c in rows[0]), None)
    cases = []
    for line, row in enumerate(rows, start=2):
        split = row["split"].strip()
        if split not in ("train", "external"):
            raise InputValidationError(f"'{csv_path}' line {line}: unknown split '{split}'")
        try:
            label = int(row["label"])
            prob = float(row[prob_col]) if prob_col else None
        except ValueError as exc:
            raise InputValidationError(f"'{csv_path}' line {line}: invalid number") from exc
        if label not in (0, 1):
            raise InputValidationError(f"'{csv_path}' line {line}: label must be 0 or 1")
        folder = root / "cases" / row["case_id"]
        if not folder.is_dir():
            raise InputValidationError(f"'{csv_path}' line {line}: no case folder '{folder}'")
        cases.append(CohortCase(row["case_id"], row["centre"], split, prob, label, folder))
    cohort = Cohort(root, tuple(cases), description)
    train = cohort.split("train")
    if len({c.label for c in train}) < 2:
        raise InputValidationError(f"'{csv_path}': the training split needs both labels")
    return cohort
