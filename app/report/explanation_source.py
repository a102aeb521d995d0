"""The explanation a report draws on: from `explain.Explanation` in memory, or from its folder.

`app` may not import `explain`, so an in-memory explanation comes in as `ExplanationLike` (a
structural type that `explain.explanation.Explanation` satisfies), and a written one is read
from the layout that `explain.explanation.write_explanation` documents: ``explanation.json``
(the manifest, with every artefact's sha256), ``mri/<phase>_saliency.npz``,
``slide/heatmap.npz``. Each file read is checked against the manifest's sha256.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

from app.errors import ScreeningError
from app.hashing import sha256_file

MANIFEST_NAME = "explanation.json"


class ExplanationFolderError(ScreeningError):
    """An explanation folder is missing, unreadable or does not match its hashes."""


class _SeriesRef(Protocol):
    @property
    def series_instance_uid(self) -> str: ...


class SeriesSaliencyLike(Protocol):
    """One series' saliency (`explain.series_maps.SeriesSaliency`)."""

    @property
    def series(self) -> _SeriesRef: ...
    @property
    def phase(self) -> str: ...
    @property
    def integrated_gradients(self) -> NDArray[np.float32]: ...


class SlideHeatmapLike(Protocol):
    """`explain.slide_saliency.SlideHeatmap`."""

    @property
    def attention(self) -> NDArray[np.float32]: ...
    @property
    def attribution(self) -> NDArray[np.float32]: ...
    @property
    def scale_level0_px(self) -> float: ...
    @property
    def offset_level0_xy(self) -> tuple[float, float]: ...


class GeneAttributionLike(Protocol):
    """`explain.gene_attribution.GeneAttribution`."""

    @property
    def genes(self) -> tuple[str, ...]: ...
    @property
    def values(self) -> NDArray[np.float32]: ...
    @property
    def attribution(self) -> NDArray[np.float32]: ...


class ShapleyLike(Protocol):
    """`explain.modality_shapley.ModalityShapley`."""

    @property
    def values(self) -> Mapping[str, float]: ...
    @property
    def prediction(self) -> float: ...
    @property
    def baseline(self) -> float: ...


class SanityLike(Protocol):
    """`explain.sanity.SanityCheck`."""

    @property
    def name(self) -> str: ...
    @property
    def target(self) -> str: ...
    @property
    def figure(self) -> float: ...
    @property
    def threshold(self) -> float: ...
    @property
    def passed(self) -> bool: ...
    @property
    def units(self) -> str: ...


class ExplanationLike(Protocol):
    """`explain.explanation.Explanation`, as far as a report reads it."""

    @property
    def series(self) -> Sequence[SeriesSaliencyLike]: ...
    @property
    def slide_heatmap(self) -> SlideHeatmapLike | None: ...
    @property
    def genes(self) -> GeneAttributionLike | None: ...
    @property
    def shapley(self) -> ShapleyLike: ...
    @property
    def sanity(self) -> Sequence[SanityLike]: ...


@dataclass(frozen=True)
class SanityEntry:
    """A sanity check's outcome (see `SanityLike`)."""

    name: str
    target: str
    figure: float
    threshold: float
    passed: bool
    units: str


@dataclass(frozen=True)
class SlideMaps:
    """Slide heatmaps ((H, W) float32, NaN outside tiles) and their level-0 geometry."""

    attention: NDArray[np.float32]
    attribution: NDArray[np.float32]
    scale_level0_px: float
    offset_level0_xy: tuple[float, float]


@dataclass
class ExplanationMaps:
    """The parts of an explanation a report shows.

    Attributes:
        mri_ig: SeriesInstanceUID -> (Z, Y, X) float32 IG on that series' grid (logit).
        slide: Slide heatmaps, None without a slide.
        genes: (gene, call 0-1, attribution in logit) in model input order.
        shapley_values: Modality -> Shapley value (probability).
        shapley_baseline: Probability with no modality.
        shapley_prediction: Probability with every present modality.
        sanity: Every check made.
        provenance: Where it comes from, for the report.
    """

    mri_ig: dict[str, NDArray[np.float32]] = field(default_factory=dict)
    slide: SlideMaps | None = None
    genes: list[tuple[str, float, float]] = field(default_factory=list)
    shapley_values: dict[str, float] = field(default_factory=dict)
    shapley_baseline: float = 0.0
    shapley_prediction: float = 0.0
    sanity: list[SanityEntry] = field(default_factory=list)
    provenance: str = ""


def maps_from_explanation(explanation: ExplanationLike, provenance: str) -> ExplanationMaps:
    """Take what a report shows from an in-memory explanation."""
    heat = explanation.slide_heatmap
    genes = explanation.genes
    return ExplanationMaps(
        mri_ig={
            s.series.series_instance_uid: np.asarray(s.integrated_gradients, np.float32)
            for s in explanation.series
        },
        slide=None
        if heat is None
        else SlideMaps(
            np.asarray(heat.attention, np.float32),
            np.asarray(heat.attribution, np.float32),
            float(heat.scale_level0_px),
            (float(heat.offset_level0_xy[0]), float(heat.offset_level0_xy[1])),
        ),
        genes=[]
        if genes is None
        else [
            (g, float(v), float(a))
            for g, v, a in zip(genes.genes, genes.values, genes.attribution, strict=True)
        ],
        shapley_values={k: float(v) for k, v in explanation.shapley.values.items()},
        shapley_baseline=float(explanation.shapley.baseline),
        shapley_prediction=float(explanation.shapley.prediction),
        sanity=[
            SanityEntry(c.name, c.target, float(c.figure), float(c.threshold), c.passed, c.units)
            for c in explanation.sanity
        ],
        provenance=provenance,
    )


def read_explanation_folder(folder: Path, *, manifest_sha256: str | None = None) -> ExplanationMaps:
    """Read a written explanation, checking each file it uses against the manifest's sha256.

    Args:
        folder: The explanation folder (``neoadj explain --out`` or the screening batch's).
        manifest_sha256: The manifest's sha256 as recorded in the screening record; None not
            to check the manifest itself.

    Raises:
        ExplanationFolderError: naming the folder or file that is missing, unreadable or
            changed since it was written.
    """
    manifest_path = folder / MANIFEST_NAME
    if not manifest_path.is_file():
        raise ExplanationFolderError(f"'{folder}' holds no explanation (no {MANIFEST_NAME}).")
    if manifest_sha256 is not None and sha256_file(manifest_path) != manifest_sha256:
        raise ExplanationFolderError(
            f"'{manifest_path}' differs from the one recorded (sha256 mismatch): it was "
            "changed or replaced after screening."
        )
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        maps = ExplanationMaps(
            shapley_values={k: float(v) for k, v in manifest["modality_shapley"].items()},
            shapley_baseline=float(manifest["baseline"]),
            shapley_prediction=float(manifest["prediction"]),
            sanity=[
                SanityEntry(
                    str(c["name"]),
                    str(c["target"]),
                    float(c["figure"]),
                    float(c["threshold"]),
                    bool(c["passed"]),
                    str(c["units"]),
                )
                for c in manifest["sanity"]["checks"]
            ],
            provenance=f"read from the explanation folder '{folder.name}'",
        )
        for entry in manifest["mri"]:
            with _open_npz(folder, entry) as data:
                maps.mri_ig[str(entry["series_instance_uid"])] = data[
                    "integrated_gradients"
                ].astype(np.float32)
        slide = manifest.get("slide")
        if slide is not None:
            with _open_npz(folder, slide["heatmap"]) as data:
                offset = data["offset_level0_xy"]
                maps.slide = SlideMaps(
                    data["attention"].astype(np.float32),
                    data["attribution"].astype(np.float32),
                    float(data["scale_level0_px"]),
                    (float(offset[0]), float(offset[1])),
                )
        genes = manifest.get("genes")
        if genes is not None:
            maps.genes = [
                (str(g["gene"]), float(g["value"]), float(g["attribution"])) for g in genes["genes"]
            ]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ExplanationFolderError(
            f"The explanation in '{folder}' is incomplete or unreadable ({exc})."
        ) from exc
    return maps


def _open_npz(folder: Path, entry: Mapping[str, Any]) -> Any:
    """Open one ``.npz`` artefact after checking its sha256 against the manifest entry."""
    path = folder / str(entry["path"])
    if not path.is_file():
        raise ExplanationFolderError(f"'{path}' is missing from the explanation.")
    if sha256_file(path) != entry["sha256"]:
        raise ExplanationFolderError(
            f"'{path}' does not match the explanation's manifest (sha256 mismatch)."
        )
    return np.load(path)
