"""Matplotlib charts of an explanation, embedded in Qt: gene attributions and modality
contributions (baseline + Shapley values = prediction)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
from matplotlib.figure import Figure
from numpy.typing import NDArray
from PySide6.QtWidgets import QSizePolicy, QWidget

POSITIVE = "#b2182b"  # towards benefit
NEGATIVE = "#2166ac"  # against benefit
MODALITY_NAMES = {"mri": "MRI", "slide": "Slide", "genes": "Genes"}
MAX_GENES = 15


class _Chart(FigureCanvasQTAgg):
    def __init__(self, parent: QWidget | None = None) -> None:
        self.figure = Figure(figsize=(5, 3), layout="constrained")
        super().__init__(self.figure)  # type: ignore[no-untyped-call]
        self.setParent(parent)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumHeight(260)
        self._note: str | None = None  # the note shown alone, if the chart is empty
        self.clear("Not explained yet.")

    def clear(self, note: str) -> None:
        """An empty chart with a note in its middle (kept as is if it shows just that: making
        the axes takes some tens of ms, which every newly opened case would pay)."""
        if note == self._note:
            return
        ax = self._new_axes(note)
        ax.set_axis_off()
        ax.text(0.5, 0.5, note, ha="center", va="center", color="#555555")
        self.draw_idle()  # type: ignore[no-untyped-call]

    def _new_axes(self, note: str | None = None) -> Axes:
        """The figure cleared to one new axes; `note` is the note it will show alone (None
        for a chart)."""
        self._note = note
        self.figure.clear()
        return self.figure.add_subplot()


class GeneAttributionChart(_Chart):
    """Horizontal bars of per-gene attribution, largest magnitude on top."""

    def set_attribution(
        self,
        genes: Sequence[str],
        attribution: NDArray[np.floating],
        altered: NDArray[np.floating],
        *,
        unreliable: bool,
    ) -> list[str]:
        """Draw the genes with the largest |attribution| (at most `MAX_GENES`).

        Args:
            genes: Gene symbols, model input order.
            attribution: (G,) IG per gene, logit units (positive: towards benefit).
            altered: (G,) the case's alteration calls, 0-1.
            unreliable: Whether a sanity check of this map failed (said in the title).

        Returns:
            The genes drawn, top to bottom.
        """
        values = np.asarray(attribution, dtype=np.float64)
        order = np.argsort(-np.abs(values), kind="stable")
        order = order[np.abs(values[order]) > 0.0][:MAX_GENES]  # unaltered genes add nothing
        if order.size == 0:
            self.clear("No gene moves the prediction (no attribution).")
            return []
        shown = [genes[i] for i in order]
        ax = self._new_axes()
        y = np.arange(len(order))[::-1]
        colours = [POSITIVE if values[i] >= 0 else NEGATIVE for i in order]
        ax.barh(y, values[order], color=colours)
        ax.set_yticks(y, [f"{genes[i]}{' (altered)' if altered[i] >= 0.5 else ''}" for i in order])
        ax.axvline(0.0, color="black", linewidth=0.8)
        ax.set_xlabel("attribution (logit); red: towards benefit, blue: against")
        title = "Gene attributions (Integrated Gradients vs. no alteration)"
        ax.set_title(
            title + ("\nUNRELIABLE: a sanity check failed" if unreliable else ""),
            fontsize=9,
            color="#b00000" if unreliable else "black",
        )
        ax.tick_params(labelsize=8)
        self.draw_idle()  # type: ignore[no-untyped-call]
        return shown


class ModalityChart(_Chart):
    """A waterfall from the no-modality baseline through each modality's Shapley value to the
    prediction, with the decision threshold drawn across."""

    def set_contributions(
        self,
        values: dict[str, float],
        baseline: float,
        prediction: float,
        threshold: float,
    ) -> float:
        """Draw the waterfall.

        Args:
            values: Modality -> Shapley value (probability units).
            baseline: Probability with no modality.
            prediction: Probability with every present modality.
            threshold: The checkpoint's decision threshold.

        Returns:
            Where the last bar ends: baseline + sum of the values (equals the prediction
            when the values add up).
        """
        ax = self._new_axes()
        labels = ["no modality\n(baseline)"]
        lefts, widths, colours = [0.0], [baseline], ["#999999"]
        level = baseline
        for name, value in values.items():
            labels.append(f"+ {MODALITY_NAMES.get(name, name)}\n({value:+.3f})")
            lefts.append(level if value >= 0 else level + value)
            widths.append(abs(value))
            colours.append(POSITIVE if value >= 0 else NEGATIVE)
            level += value
        labels.append(f"= prediction\n{prediction:.3f}")
        lefts.append(0.0)
        widths.append(prediction)
        colours.append("#444444")
        y = np.arange(len(labels))[::-1]
        ax.barh(y, widths, left=lefts, color=colours, edgecolor="black", linewidth=0.5)
        ax.axvline(
            threshold,
            color="#d08000",
            linestyle="--",
            linewidth=1.2,
            label=f"decision threshold {threshold:.3f}",
        )
        ax.legend(loc="lower right", fontsize=8)
        ax.set_yticks(y, labels)
        ax.set_xlim(0.0, 1.0)
        ax.set_xlabel("probability of benefit")
        ax.set_title("Modality contributions (Shapley values add up to the prediction)", fontsize=9)
        ax.tick_params(labelsize=8)
        self.draw_idle()  # type: ignore[no-untyped-call]
        return level
