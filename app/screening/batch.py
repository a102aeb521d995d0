"""Screen every case folder of a batch: import, model, criteria, and the screening record.

For each folder, in order:

1. import it (`app.case.load_case`) and put in its row of the clinical CSV, if any;
2. skip it when the record already holds a finished case with the same content hash (the
   sha256 over its inputs' sha256): a re-run only does what is left;
3. refuse it, as a failed case with the reason, when an input could not be imported, when it
   has neither MRI nor slide, or when it has no clinical data or no site;
4. run the model (`CaseModel`: prediction, and the explanation written to its own folder);
5. evaluate the protocol criteria (`app.rules.evaluate_criteria`; the screening date is the
   clinical data's, else the day of the run);
6. record everything in ONE transaction: inputs, prediction, explanation artefacts,
   criteria, and a "deferred" decision by ``neoadj screen``.

The batch never decides a case eligible or a screen failure and never randomises: a reviewer
does. Its "deferred" decision carries the proposal in its rationale (for instance "proposed
screen failure: I3 failed"); when the criteria already recommend a screen failure (or all
pass) the record marks that decision as differing from the recommendation, which is true: a
person has not confirmed it yet.

A killed run leaves no partial case (the transaction is atomic); at worst an explanation
folder without its record, which the re-run replaces. A case that fails is recorded as failed
with its message (keyed by its content hash, or by the hash of every file in the folder when
nothing could be imported) and the batch goes on; a re-run tries it again.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Protocol

from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from app.case import Case, load_case
from app.errors import Cancelled, CaseImportError, ScreeningError
from app.hashing import sha256_bytes, sha256_file
from app.progress import ProgressFn, check_cancel, no_progress
from app.pseudonym import SiteSecret
from app.rules import EligibilityResult, evaluate_criteria
from app.screening.clinical_table import ClinicalOverride
from app.screening.outcome import BatchSummary, CaseOutcome, CaseState
from app.storage import (
    ArtefactInput,
    CaseStatus,
    Database,
    DatabaseError,
    Outcome,
    PredictionLike,
    ScreeningCase,
    find_case,
    get_case,
    latest_decision,
    record_criteria,
    record_decision,
    record_explanation,
    record_failure,
    record_import,
    record_prediction,
)

log = logging.getLogger(__name__)

ACTOR = "neoadj screen"
"""The name the batch records its work under (audit events, the deferral)."""
STEPS_PER_CASE = 100
IMPORT_STEPS = 10
MODEL_STEPS = 95
"""Each case spans 100 progress steps: import to 10, model to 95, then the record."""
ERRORS_SHOWN = 2


@dataclass(frozen=True)
class ModelResult:
    """What the model made of one case.

    Attributes:
        prediction: The benefit prediction (`inference.runner.Prediction`).
        artefacts: The explanation's files, hashed, paths relative to the explanation
            folder; empty when not explained.
    """

    prediction: PredictionLike
    artefacts: Sequence[ArtefactInput] = ()


class CaseModel(Protocol):
    """Predicts (and explains) one imported case."""

    def run(
        self,
        case: Case,
        *,
        explain_dir: Path | None,
        progress: ProgressFn,
        cancel: threading.Event | None,
    ) -> ModelResult:
        """Predict; when ``explain_dir`` is given, also write the explanation there.

        Raises:
            ScreeningError: the case cannot be predicted or explained (a failed case).
            Cancelled: if ``cancel`` was set.
        """
        ...


def screen_batch(
    folders: Sequence[Path],
    *,
    db: Database,
    secret: SiteSecret,
    model: CaseModel,
    clinical: Mapping[str, ClinicalOverride] | None = None,
    explain_root: Path | None = None,
    screening_date: date | None = None,
    progress: ProgressFn = no_progress,
    cancel: threading.Event | None = None,
    on_case: Callable[[CaseOutcome], None] | None = None,
) -> BatchSummary:
    """Screen each folder in turn (see the module docstring).

    Args:
        folders: Case folders (`app.screening.discovery.find_case_folders`).
        db: The screening record.
        secret: The site's secret (pseudonyms).
        model: Prediction and explanation.
        clinical: Case id -> CSV row overriding the case's ``clinical.json``.
        explain_root: Where each case's explanation folder goes
            (``explain_root/<content sha256>/``); None not to explain.
        screening_date: Screening date for cases whose clinical data has none; None for
            today.
        progress: Called as (steps done, 100 per case).
        cancel: Checked between cases and inside every step.
        on_case: Called with each case's outcome as soon as it is known.

    Returns:
        Every case's outcome, the run's wall time and the unused CSV rows.

    Raises:
        Cancelled: if ``cancel`` was set (the current case is not recorded).
        DatabaseError, sqlalchemy.exc.SQLAlchemyError: if the database fails (the batch
            stops; the cases recorded so far stay).
    """
    screener = _Screener(
        db=db,
        secret=secret,
        model=model,
        clinical=dict(clinical or {}),
        explain_root=explain_root,
        screening_date=screening_date or date.today(),
        cancel=cancel,
    )
    summary = BatchSummary()
    started = time.perf_counter()
    total = STEPS_PER_CASE * len(folders)
    for index, folder in enumerate(folders):
        check_cancel(cancel)
        base = STEPS_PER_CASE * index

        def case_progress(done: int, _total: int, base: int = base) -> None:
            progress(base + done, total)

        outcome = screener.screen(folder, case_progress)
        log.info("case %d of %d: %s", index + 1, len(folders), outcome.state)
        summary.outcomes.append(outcome)
        progress(base + STEPS_PER_CASE, total)
        if on_case is not None:
            on_case(outcome)
    summary.elapsed_s = time.perf_counter() - started
    summary.unused_clinical_rows = len(set(screener.clinical) - screener.used_rows)
    return summary


@dataclass
class _Screener:
    db: Database
    secret: SiteSecret
    model: CaseModel
    clinical: dict[str, ClinicalOverride]
    explain_root: Path | None
    screening_date: date
    cancel: threading.Event | None

    def __post_init__(self) -> None:
        self.used_rows: set[str] = set()

    def screen(self, folder: Path, progress: ProgressFn) -> CaseOutcome:
        """Screen one folder; its progress runs 0-100."""
        started = time.perf_counter()
        case: Case | None = None
        try:
            case = load_case(
                [folder], progress=_span(progress, 0, IMPORT_STEPS), cancel=self.cancel
            )
            override = self.clinical.get(case.case_id)
            if override is not None:
                case.clinical = override.apply(case.clinical)
                self.used_rows.add(case.case_id)
            if case.inputs:
                done = self._finished(case.content_hash)
                if done is not None:
                    return self._outcome(folder, CaseState.SKIPPED, done, started)
            _check_screenable(case)
            explain_dir = (
                None if self.explain_root is None else self.explain_root / case.content_hash
            )
            result = self.model.run(
                case,
                explain_dir=explain_dir,
                progress=_span(progress, IMPORT_STEPS, MODEL_STEPS),
                cancel=self.cancel,
            )
            eligibility = self._criteria(case, result.prediction)
            check_cancel(self.cancel)
            record_id, state = self._record(case, result, eligibility)
            return self._outcome(folder, state, record_id, started)
        except (Cancelled, DatabaseError, SQLAlchemyError):
            raise  # the batch stops: the database, not the case, is at fault
        except ScreeningError as exc:
            message = exc.user_message
        except OSError as exc:
            message = f"'{folder.name}' cannot be read: {exc.strerror or exc}."
        except Exception as exc:  # a bug in one step must not stop the batch
            log.debug("unexpected error screening a case", exc_info=True)
            message = f"unexpected error ({type(exc).__name__}); run with -v for details."
        key = case.content_hash if case is not None and case.inputs else folder_fingerprint(folder)
        with self.db.transaction() as session:
            failed = record_failure(session, content_sha256=key, message=message, actor=ACTOR)
            record_id = failed.id
        return CaseOutcome(
            case=folder.name,
            state=CaseState.FAILED,
            seconds=time.perf_counter() - started,
            message=message,
            record_id=record_id,
        )

    def _finished(self, content_sha256: str) -> int | None:
        with self.db.session() as session:
            record = find_case(session, content_sha256)
            return record.id if record is not None and _is_finished(record) else None

    def _criteria(self, case: Case, prediction: PredictionLike) -> EligibilityResult:
        if case.clinical is None:
            raise CaseImportError("the case has no clinical data")  # checked before the model
        return evaluate_criteria(
            case.clinical,
            model_probability=prediction.probability,
            model_threshold=prediction.threshold,
            model_synthetic=prediction.checkpoint.synthetic,
            screening_date=case.clinical.screening_date or self.screening_date,
        )

    def _record(
        self, case: Case, result: ModelResult, eligibility: EligibilityResult
    ) -> tuple[int, CaseState]:
        """Write the whole case in one transaction; (record id, screened or skipped)."""
        try:
            with self.db.transaction() as session:
                existing = find_case(session, case.content_hash)
                if existing is not None and _is_finished(existing):
                    return existing.id, CaseState.SKIPPED  # another run finished it meanwhile
                record = record_import(session, case, secret=self.secret, actor=ACTOR)
                prediction = record_prediction(session, record.id, result.prediction, actor=ACTOR)
                if result.artefacts:
                    record_explanation(
                        session,
                        record.id,
                        result.artefacts,
                        actor=ACTOR,
                        prediction_id=prediction.id,
                    )
                record_criteria(session, record.id, eligibility, actor=ACTOR)
                if latest_decision(session, record.id) is None:
                    record_decision(
                        session,
                        record.id,
                        Outcome.DEFERRED,
                        reviewer=ACTOR,
                        rationale=deferral_rationale(eligibility),
                    )
                return record.id, CaseState.SCREENED
        except IntegrityError:
            # another workstation inserted the same inputs between our check and our insert
            done = self._finished(case.content_hash)
            if done is None:
                raise
            return done, CaseState.SKIPPED

    def _outcome(
        self, folder: Path, state: CaseState, record_id: int, started: float
    ) -> CaseOutcome:
        with self.db.session() as session:
            record = get_case(session, record_id)
            return CaseOutcome.from_record(
                folder.name, state, record, time.perf_counter() - started
            )


def _is_finished(record: ScreeningCase) -> bool:
    """A recorded case that was screened (not failed, with a prediction)."""
    return record.status is not CaseStatus.FAILED and bool(record.predictions)


def _check_screenable(case: Case) -> None:
    """Refuse a case the batch must not screen as it is.

    Raises:
        CaseImportError: an input could not be imported, there is neither MRI nor slide, or
            there is no clinical data or no site.
    """
    if case.errors:
        shown = "; ".join(message.rstrip(".") for _, message in case.errors[:ERRORS_SHOWN])
        more = len(case.errors) - ERRORS_SHOWN
        raise CaseImportError(
            f"{len(case.errors)} input file(s) could not be imported: {shown}"
            + (f" (and {more} more)" if more > 0 else "")
            + "; fix or remove them and screen again."
        )
    if not case.mri and not case.slides:
        found = "only a gene panel" if case.genomics else "no MRI, slide or gene panel"
        raise CaseImportError(
            f"no MRI and no slide imported ({found}); the screening needs the MRI or the slide."
        )
    if case.clinical is None:
        raise CaseImportError(
            "no clinical data: add clinical.json to the case folder or its row to --clinical."
        )
    if not case.clinical.site:
        raise CaseImportError(
            "the clinical data has no 'site': set it in clinical.json or the CSV."
        )


def deferral_rationale(eligibility: EligibilityResult) -> str:
    """The batch's note on its "deferred" decision: what it proposes and what is open."""
    parts = ["Batch screening (neoadj screen) does not decide: left for a reviewer."]
    if eligibility.failed:
        parts.append(f"Proposed screen failure: {', '.join(eligibility.failed)} failed.")
    if eligibility.unknown:
        parts.append(f"To complete: {', '.join(eligibility.unknown)}.")
    if eligibility.status == "eligible":
        parts.append("Every criterion passes; a reviewer confirms eligibility.")
    return " ".join(parts)


def folder_fingerprint(folder: Path) -> str:
    """sha256 over every file's relative path and sha256 (hidden ones too): the key of a
    failed case with no imported input."""
    lines = []
    try:
        files = sorted(p for p in folder.rglob("*") if p.is_file())
    except OSError:
        files = []
    for path in files:
        rel = path.relative_to(folder).as_posix()
        try:
            lines.append(f"{rel}\t{sha256_file(path)}")
        except OSError:
            lines.append(f"{rel}\tunreadable")
    return sha256_bytes("\n".join(lines).encode())


def _span(progress: ProgressFn, start: int, end: int) -> ProgressFn:
    """A progress callback mapping (done, total) onto steps ``start``-``end`` of a case."""

    def report(done: int, total: int) -> None:
        progress(start + (end - start) * min(done, total) // max(total, 1), STEPS_PER_CASE)

    return report
