"""Gene-panel preprocessing: the manifest's gene list as a (G,) vector of alteration calls."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from inference.input_spec import InputSpec


class GenePanelLike(Protocol):
    """What gene preprocessing reads from `app.genomics.GenePanel`."""

    def alteration_calls(self, genes: tuple[str, ...]) -> dict[str, float]: ...
    def unknown_genes(self, genes: tuple[str, ...]) -> list[str]: ...


@dataclass
class GeneInput:
    """The gene modality.

    Attributes:
        values: (G,) float32 alteration calls in [0, 1], in ``spec.genes`` order
            (0 = not altered, 1 = altered / amplified).
        flags: Human-readable warnings (genes outside the model's list...).
    """

    values: NDArray[np.float32]
    flags: list[str] = field(default_factory=list)


def preprocess_genes(panel: GenePanelLike, spec: InputSpec) -> GeneInput:
    """Alteration calls over ``spec.genes``; genes the model does not know are flagged."""
    calls = panel.alteration_calls(spec.genes)
    values = np.array([calls.get(g, 0.0) for g in spec.genes], dtype=np.float32)
    values = np.clip(np.nan_to_num(values, nan=0.0), 0.0, 1.0)
    flags: list[str] = []
    unknown = sorted(panel.unknown_genes(spec.genes))
    if unknown:
        shown = ", ".join(unknown[:8]) + (" …" if len(unknown) > 8 else "")
        flags.append(f"gene panel has {len(unknown)} gene(s) the model does not use: {shown}")
    return GeneInput(values, flags)
