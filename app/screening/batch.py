"""Screen every case folder of a batch: import, model, criteria, and the screening record.

First the batch imports every folder (`app.case.load_case`, with its row of the clinical
CSV, if any) and registers every screenable case not screened yet in ONE transaction
(`app.storage.record_imports`), with the cases it must refuse, so the board's worklist
shows the whole batch at once. A case is refused, as a failed case with the reason, when
an input could not be imported, when it has neither MRI nor slide, or when it has no
clinical data or no valid site. Only the inputs, clinical data and metadata of each case
are kept meanwhile (never its images).

Then, for each folder in order:

1. skip it when the record already holds a finished case with the same content hash (the
   sha256 over its inputs' sha256): a re-run only does what is left;
2. import it again, for its images (a case whose files changed since the registration
   fails: screen it again);
3. run the model (`CaseModel`: prediction, and the explanation written to its own folder);
4. evaluate the protocol criteria (`app.rules.evaluate_criteria`; the screening date is the
   clinical data's, else the day of the run);
5. record everything in ONE transaction: prediction, explanation artefacts, criteria, and
   a "deferred" decision by ``neoadj screen``.

The batch never decides a case eligible or a screen failure and never randomises: a reviewer
does. Its "deferred" decision carries the proposal in its rationale (for instance "proposed
screen failure: I3 failed"); when the criteria already recommend a screen failure (or all
pass) the record marks that decision as differing from the recommendation, which is true: a
person has not confirmed it yet.

A killed run leaves registered cases "pending" (imported, not screened) and whole screened
cases, never a half-written one (each transaction is atomic); at worst an explanation folder
without its record, which the re-run replaces. The re-run screens every pending case. A case
that fails is recorded as failed with its message (keyed by its content hash, or by the hash
of every file in the folder when nothing could be imported) and the batch goes on; a re-run
tries it again.
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

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

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
    record_imports,
    record_prediction,
)
from app.storage.cases import check_site_code
from app.storage.cohort_import import LOOKUP_CHUNK

log = logging.getLogger(__name__)

ACTOR = "neoadj screen"
"""The name the batch records its work under (audit events, the deferral)."""
STEPS_PER_CASE = 100
IMPORT_STEPS = 10
SCREEN_STEPS = STEPS_PER_CASE - IMPORT_STEPS
RELOAD_STEPS = 5
MODEL_STEPS = 80
"""Each case spans 100 progress steps: 10 in the registration pass, then 5 to import it again,
80 for the model and 5 for the record."""
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
    """Register every folder's case, then screen each in turn (see the module docstring).

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
        progress: Called as (steps done, 100 per case): the registration takes the first
            10 steps of every case, the screening the other 90.
        cancel: Checked between cases and inside every step.
        on_case: Called with each case's outcome as soon as it is known, in folder order.

    Returns:
        Every case's outcome, the run's wall time and the unused CSV rows.

    Raises:
        Cancelled: if ``cancel`` was set (nothing is recorded when it is set during the
            registration; the case being screened is not recorded otherwise).
        SiteSecretError: if a case's site is registered with another secret.
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
    entries = []
    for index, folder in enumerate(folders):
        check_cancel(cancel)
        entries.append(
            screener.load(folder, _steps(progress, IMPORT_STEPS * index, IMPORT_STEPS, total))
        )
    screener.register(entries)
    first = IMPORT_STEPS * len(folders)
    for index, entry in enumerate(entries):
        check_cancel(cancel)
        base = first + SCREEN_STEPS * index
        outcome = screener.screen(entry, progress, base, total)
        log.info("case %d of %d: %s", index + 1, len(folders), outcome.state)
        summary.outcomes.append(outcome)
        progress(base + SCREEN_STEPS, total)
        if on_case is not None:
            on_case(outcome)
    summary.elapsed_s = time.perf_counter() - started
    summary.unused_clinical_rows = len(set(screener.clinical) - screener.used_rows)
    return summary


@dataclass
class _Entry:
    """One folder after the registration pass.

    Attributes:
        folder: The case folder.
        key: The case's content hash, or `folder_fingerprint` when nothing was imported.
        case: The case without its images (inputs, clinical data, metadata); None when the
            folder could not be imported.
        failure: Why the case cannot be screened, else None.
        seconds: Wall time spent on it so far.
        state: Skipped (finished before) or failed once registered; None to screen.
        record_id: Its record, once known.
    """

    folder: Path
    key: str
    case: Case | None
    failure: str | None
    seconds: float
    state: CaseState | None = None
    record_id: int | None = None


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

    def load(self, folder: Path, progress: ProgressFn) -> _Entry:
        """Import a folder for its registration; keep the case without its images."""
        started = time.perf_counter()
        case: Case | None = None
        failure: str | None = None
        try:
            case = self._import(folder, progress)
            _check_screenable(case)
        except ScreeningError as exc:
            failure = exc.user_message
        except OSError as exc:
            failure = _unreadable(folder, exc)
        except Cancelled:
            raise
        except Exception as exc:  # a bug in one importer must not stop the batch
            failure = _unexpected(exc)
        key = case.content_hash if case is not None and case.inputs else folder_fingerprint(folder)
        slim = (
            None
            if case is None
            else Case(root=case.root, inputs=case.inputs, clinical=case.clinical, meta=case.meta)
        )
        return _Entry(folder, key, slim, failure, time.perf_counter() - started)

    def register(self, entries: Sequence[_Entry]) -> None:
        """Record every case to screen (`record_imports`) and every refused case, at once.

        Cases finished before are marked skipped; a folder whose inputs repeat an earlier
        folder's is registered once (it is skipped when its turn comes).
        """
        started = time.perf_counter()
        with self.db.transaction() as session:
            finished = _finished_cases(session, [e.key for e in entries if e.case is not None])
            todo: dict[str, Case] = {}
            for entry in entries:
                if entry.key in finished:
                    entry.state, entry.record_id = CaseState.SKIPPED, finished[entry.key]
                elif entry.failure is None and entry.case is not None:
                    todo.setdefault(entry.key, entry.case)
            record_imports(session, list(todo.values()), secret=self.secret, actor=ACTOR)
            for entry in entries:
                if entry.state is None and entry.failure is not None:
                    failed = record_failure(
                        session, content_sha256=entry.key, message=entry.failure, actor=ACTOR
                    )
                    entry.state, entry.record_id = CaseState.FAILED, failed.id
        share = (time.perf_counter() - started) / max(len(entries), 1)
        for entry in entries:
            entry.seconds += share

    def screen(self, entry: _Entry, progress: ProgressFn, base: int, total: int) -> CaseOutcome:
        """Screen one registered folder; its progress runs ``base`` to ``base + 90``."""
        started = time.perf_counter() - entry.seconds
        if entry.state is CaseState.SKIPPED and entry.record_id is not None:
            return self._outcome(entry.folder, CaseState.SKIPPED, entry.record_id, started)
        if entry.state is CaseState.FAILED:
            return self._failed(entry, entry.failure or "", entry.record_id, started)
        try:
            done = self._finished(entry.key)
            if done is not None:  # its inputs repeat an earlier folder's, or another run's
                return self._outcome(entry.folder, CaseState.SKIPPED, done, started)
            case = self._import(entry.folder, _steps(progress, base, RELOAD_STEPS, total))
            if case.content_hash != entry.key:
                raise CaseImportError(
                    "the files of the case folder changed during the batch; screen it again."
                )
            explain_dir = (
                None if self.explain_root is None else self.explain_root / case.content_hash
            )
            result = self.model.run(
                case,
                explain_dir=explain_dir,
                progress=_steps(progress, base + RELOAD_STEPS, MODEL_STEPS, total),
                cancel=self.cancel,
            )
            eligibility = self._criteria(case, result.prediction)
            check_cancel(self.cancel)
            record_id, state = self._record(case, result, eligibility)
            return self._outcome(entry.folder, state, record_id, started)
        except (Cancelled, DatabaseError, SQLAlchemyError):
            raise  # the batch stops: the database, not the case, is at fault
        except ScreeningError as exc:
            message = exc.user_message
        except OSError as exc:
            message = _unreadable(entry.folder, exc)
        except Exception as exc:  # a bug in one step must not stop the batch
            message = _unexpected(exc)
        with self.db.transaction() as session:
            failed = record_failure(session, content_sha256=entry.key, message=message, actor=ACTOR)
            record_id = failed.id
        return self._failed(entry, message, record_id, started)

    def _import(self, folder: Path, progress: ProgressFn) -> Case:
        """`load_case` with the folder's row of the clinical CSV put in."""
        case = load_case([folder], progress=progress, cancel=self.cancel)
        override = self.clinical.get(case.case_id)
        if override is not None:
            case.clinical = override.apply(case.clinical)
            self.used_rows.add(case.case_id)
        return case

    def _failed(
        self, entry: _Entry, message: str, record_id: int | None, started: float
    ) -> CaseOutcome:
        return CaseOutcome(
            case=entry.folder.name,
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
        """Write the case's screening in one transaction; (record id, screened or skipped)."""
        with self.db.transaction() as session:
            existing = find_case(session, case.content_hash)
            if existing is not None and _is_finished(existing):
                return existing.id, CaseState.SKIPPED  # another run finished it meanwhile
            # registered already: this returns it (or completes it, if failed meanwhile)
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

    def _outcome(
        self, folder: Path, state: CaseState, record_id: int, started: float
    ) -> CaseOutcome:
        with self.db.session() as session:
            record = get_case(session, record_id)
            return CaseOutcome.from_record(
                folder.name, state, record, time.perf_counter() - started
            )


def _finished_cases(session: Session, hashes: Sequence[str]) -> dict[str, int]:
    """Content hash -> record id of the cases among ``hashes`` screened already."""
    found: dict[str, int] = {}
    query = select(ScreeningCase.content_sha256, ScreeningCase.id).where(
        ScreeningCase.status != CaseStatus.FAILED, ScreeningCase.predictions.any()
    )
    for start in range(0, len(hashes), LOOKUP_CHUNK):
        chunk = hashes[start : start + LOOKUP_CHUNK]
        for digest, case_id in session.execute(
            query.where(ScreeningCase.content_sha256.in_(chunk))
        ):
            found[digest] = case_id
    return found


def _unreadable(folder: Path, exc: OSError) -> str:
    return f"'{folder.name}' cannot be read: {exc.strerror or exc}."


def _unexpected(exc: Exception) -> str:
    log.debug("unexpected error screening a case", exc_info=True)
    return f"unexpected error ({type(exc).__name__}); run with -v for details."


def _is_finished(record: ScreeningCase) -> bool:
    """A recorded case that was screened (not failed, with a prediction)."""
    return record.status is not CaseStatus.FAILED and bool(record.predictions)


def _check_screenable(case: Case) -> None:
    """Refuse a case the batch must not screen as it is.

    Raises:
        CaseImportError: an input could not be imported, there is neither MRI nor slide, or
            there is no clinical data or no site.
        RecordError: the site code is malformed.
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
    check_site_code(case.clinical.site)


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


def _steps(progress: ProgressFn, start: int, width: int, total: int) -> ProgressFn:
    """A progress callback mapping (done, of) onto steps ``start`` to ``start + width`` of
    the batch's ``total``."""

    def report(done: int, of: int) -> None:
        progress(start + width * min(done, of) // max(of, 1), total)

    return report
