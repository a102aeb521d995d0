"""Case -> model inputs: MRI on the model grid, slide tiles, gene vector (no model involved).

The three modalities are prepared by `inference.mri_grid`, `inference.slide_tiles` and
`inference.gene_vector`; this module runs them on a `Case`, turns refusals into flags, and
reports progress on one 0-100 scale (MRI 0-40, slide 40-95, genes 95-100).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field

from app.case import Case
from app.errors import CaseImportError
from app.progress import ProgressFn, check_cancel, no_progress
from app.slides import open_slide
from inference.batch import CaseArrays
from inference.gene_vector import GeneInput, preprocess_genes
from inference.input_spec import InputSpec
from inference.model import MODALITIES
from inference.mri_grid import MriInput, model_grid_to_series, preprocess_mri
from inference.slide_tiles import SlideInput, SlideRefusal, preprocess_slide

__all__ = ["ModelInputs", "model_grid_to_series", "prepare_case_inputs"]

log = logging.getLogger(__name__)

PREPROCESSING_VERSION = "3"
"""Bumped whenever preprocessing changes its output for the same case and spec."""


@dataclass
class ModelInputs:
    """One case's prepared modalities with their flags and timings.

    Attributes:
        mri: MRI on the model grid (with its transform), or None when absent.
        slide: Slide tiles (with their level-0 positions), or None when absent or refused.
        genes: Gene vector, or None when absent.
        flags: Every warning, one line each (missing modality, missing phase, no tissue...).
        timings_s: Seconds spent per modality ("mri", "slide", "genes").
    """

    mri: MriInput | None
    slide: SlideInput | None
    genes: GeneInput | None
    flags: list[str] = field(default_factory=list)
    timings_s: dict[str, float] = field(default_factory=dict)

    @property
    def modality_mask(self) -> tuple[bool, bool, bool]:
        """Presence of (mri, slide, genes)."""
        return (self.mri is not None, self.slide is not None, self.genes is not None)

    @property
    def modalities_used(self) -> list[str]:
        """Names of the present modalities, in `MODALITIES` order."""
        return [m for m, p in zip(MODALITIES, self.modality_mask, strict=True) if p]

    @property
    def modalities_missing(self) -> list[str]:
        """Names of the absent modalities, in `MODALITIES` order."""
        return [m for m, p in zip(MODALITIES, self.modality_mask, strict=True) if not p]

    def arrays(self) -> CaseArrays:
        """The plain arrays the model reads."""
        return CaseArrays(
            self.mri.volume if self.mri is not None else None,
            self.slide.tiles if self.slide is not None else None,
            self.genes.values if self.genes is not None else None,
            self.mri.transform.matrix if self.mri is not None else None,
            self.slide.positions_level0_xy if self.slide is not None else None,
            self.slide.tile_extent_level0_px if self.slide is not None else None,
        )


def prepare_case_inputs(
    case: Case,
    spec: InputSpec,
    *,
    progress: ProgressFn = no_progress,
    cancel: threading.Event | None = None,
) -> ModelInputs:
    """Prepare every modality of ``case`` for a model with input specification ``spec``.

    A missing or unusable modality becomes a flag, never an error; the caller decides
    whether what is left is enough.

    Raises:
        Cancelled: if ``cancel`` was set (checked before each phase and each tile read).
    """
    flags: list[str] = []
    timings: dict[str, float] = {}

    def scaled(lo: int, hi: int) -> ProgressFn:
        def report(done: int, total: int) -> None:
            progress(lo + (hi - lo) * done // max(total, 1), 100)

        return report

    t0 = time.perf_counter()
    mri = preprocess_mri(case.mri, spec, progress=scaled(0, 40), cancel=cancel)
    timings["mri"] = time.perf_counter() - t0
    if mri is None:
        flags.append(
            "no MRI with a recognised contrast phase: predicted without MRI"
            if case.mri
            else "no MRI: predicted without MRI"
        )
    else:
        flags.extend(mri.flags)

    t0 = time.perf_counter()
    slide = _prepare_slide(case, spec, flags, scaled(40, 95), cancel)
    timings["slide"] = time.perf_counter() - t0

    check_cancel(cancel)
    t0 = time.perf_counter()
    genes: GeneInput | None = None
    if case.genomics:
        genes = preprocess_genes(case.genomics[0], spec)
        flags.extend(genes.flags)
        if len(case.genomics) > 1:
            flags.append("several gene panels: the first one was used")
    else:
        flags.append("no gene panel: predicted without genes")
    timings["genes"] = time.perf_counter() - t0
    progress(100, 100)
    return ModelInputs(mri, slide, genes, flags, timings)


def _prepare_slide(
    case: Case,
    spec: InputSpec,
    flags: list[str],
    progress: ProgressFn,
    cancel: threading.Event | None,
) -> SlideInput | None:
    if not case.slides:
        flags.append("no slide: predicted without the slide")
        return None
    if len(case.slides) > 1:
        flags.append("several slides: the first one was used")
    info = case.slides[0]
    try:
        with open_slide(info.source) as reader:
            result = preprocess_slide(reader, spec, progress=progress, cancel=cancel)
    except CaseImportError as exc:
        flags.append(f"slide could not be read ({exc.user_message}): predicted without it")
        return None
    if isinstance(result, SlideRefusal):
        flags.append(result.reason)
        return None
    flags.extend(result.flags)
    return result
