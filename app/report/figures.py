"""The report's figures, drawn with matplotlib's Agg canvas (no pyplot, no GUI) to PNG bytes.

Every figure reads in grey print: saliency as contours with a dark outline over a
perceptually ordered map (magma: lightness rises with value), signed bars as solid (towards
benefit) or hatched white (against), and each figure has a legend or a colour bar.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np
from matplotlib import patheffects
from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import PatchCollection
from matplotlib.figure import Figure
from matplotlib.image import AxesImage
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, Rectangle

from app.report.model import GeneBar, ModalityContributions, MriKeySlice, SlideView

DPI = 150
SALIENCY_CMAP = "magma"
SALIENCY_FLOOR = 0.3
"""Relative saliency below this is not coloured (the MRI stays readable)."""
CONTOUR_LEVELS = (0.5, 0.8)
"""Relative saliency contours: dashed at 50 % of the series' peak, solid at 80 %."""
POSITIVE = "#404040"
NEGATIVE = "white"
MODALITY_LABELS = {"mri": "MRI", "slide": "Pathology slide", "genes": "Gene panel"}
_OUTLINE = [patheffects.withStroke(linewidth=2.6, foreground="black")]


def _png(fig: Figure) -> bytes:
    FigureCanvasAgg(fig)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI)
    return buffer.getvalue()


def mri_figure(slices: Sequence[MriKeySlice], *, columns: int = 2) -> bytes:
    """Key slices, one panel per phase: grey MRI, saliency contours, the measurement line.

    Returns:
        PNG bytes of a figure 7 in wide.
    """
    rows = (len(slices) + columns - 1) // columns
    fig = Figure(figsize=(7.0, 3.3 * rows + 0.5), layout="constrained")
    axes = fig.subplots(rows, columns, squeeze=False)
    mappable = None
    for ax, key in zip(axes.ravel(), slices, strict=False):
        mappable = _mri_panel(ax, key) or mappable
    for ax in axes.ravel()[len(slices) :]:
        ax.set_axis_off()
    handles: list[Line2D] = [
        Line2D([], [], color="white", lw=1.0, ls="--", path_effects=_OUTLINE, label="50 % of peak"),
        Line2D([], [], color="white", lw=1.6, path_effects=_OUTLINE, label="80 % of peak"),
    ]
    if any(key.line is not None for key in slices):
        handles.append(
            Line2D([], [], color="#00e5ff", lw=2.0, marker="|", ms=8, label="measured diameter")
        )
    fig.legend(
        handles=handles, loc="outside lower center", ncols=len(handles), fontsize=8, frameon=False
    )
    if mappable is not None:
        bar = fig.colorbar(mappable, ax=axes, shrink=0.6, pad=0.02)
        bar.set_label("saliency, share of the series' peak |IG|", fontsize=8)
        bar.ax.tick_params(labelsize=7)
    return _png(fig)


def _mri_panel(ax: Axes, key: MriKeySlice) -> AxesImage | None:
    rows, cols = key.image.shape
    sy, sx = key.spacing_mm_yx
    extent = (0.0, cols * sx, rows * sy, 0.0)
    lo, hi = np.percentile(key.image, [1.0, 99.5])
    ax.imshow(key.image, cmap="gray", vmin=lo, vmax=max(hi, lo + 1e-6), extent=extent)
    mappable = None
    if key.saliency is not None:
        shown = np.ma.masked_less(key.saliency, SALIENCY_FLOOR)
        mappable = ax.imshow(
            shown, cmap=SALIENCY_CMAP, vmin=0.0, vmax=1.0, alpha=0.6, extent=extent
        )
        if float(key.saliency.max()) >= CONTOUR_LEVELS[0]:
            y = (np.arange(rows) + 0.5) * sy
            x = (np.arange(cols) + 0.5) * sx
            contours = ax.contour(
                x,
                y,
                key.saliency,
                levels=list(CONTOUR_LEVELS),
                colors="white",
                linewidths=(1.0, 1.6),
                linestyles=("--", "-"),
            )
            contours.set(path_effects=_OUTLINE)
    if key.line is not None:
        (y0, x0), (y1, x1) = key.line.start_yx, key.line.end_yx
        xs, ys = [(x0 + 0.5) * sx, (x1 + 0.5) * sx], [(y0 + 0.5) * sy, (y1 + 0.5) * sy]
        ax.plot(xs, ys, color="#00e5ff", lw=2.0, marker="|", ms=8, path_effects=_OUTLINE)
        ax.annotate(
            f"{key.line.diameter_mm:.1f} mm",
            (max(xs), min(ys)),
            xytext=(4, 4),
            textcoords="offset points",
            color="white",
            fontsize=8,
            fontweight="bold",
            path_effects=_OUTLINE,
        )
    title = f"{key.phase.replace('_', ' ')}: slice {key.slice_index + 1}/{key.slice_count}"
    ax.set_title(f"{title}\n({key.reason})", fontsize=8)
    if key.saliency is None:
        ax.text(
            0.02,
            0.02,
            "no saliency",
            transform=ax.transAxes,
            fontsize=7,
            color="white",
            path_effects=_OUTLINE,
        )
    else:
        note = f"slice peak {100 * float(key.saliency.max()):.0f} % of series peak"
        if not key.saliency_reliable:
            note = "saliency UNRELIABLE\n" + note
        ax.text(
            0.02,
            0.02,
            note,
            transform=ax.transAxes,
            fontsize=7,
            color="white",
            fontweight="bold",
            path_effects=_OUTLINE,
        )
    ax.set_xticks([])
    ax.set_yticks([])
    _scale_bar(ax, extent)
    return mappable


def _scale_bar(ax: Axes, extent: tuple[float, float, float, float]) -> None:
    """A 50 mm bar (10 mm on a small field of view) in the lower right corner."""
    width_mm, height_mm = extent[1], extent[2]
    length = 50.0 if width_mm >= 150 else 10.0
    x1 = width_mm * 0.96
    y = height_mm * 0.95
    ax.plot([x1 - length, x1], [y, y], color="white", lw=2.0, path_effects=_OUTLINE)
    ax.text(
        x1 - length / 2,
        y - height_mm * 0.02,
        f"{length:g} mm",
        ha="center",
        va="bottom",
        fontsize=7,
        color="white",
        path_effects=_OUTLINE,
    )


def slide_figure(view: SlideView) -> bytes:
    """The slide thumbnail beside the same thumbnail with the MIL attention heatmap."""
    width0, height0 = view.dimensions_level0
    fig = Figure(figsize=(7.0, 3.6), layout="constrained")
    left, right = fig.subplots(1, 2)
    extent = (0.0, float(width0), float(height0), 0.0)
    for ax in (left, right):
        ax.imshow(view.thumbnail, extent=extent)
        ax.set_xticks([])
        ax.set_yticks([])
    left.set_title("slide thumbnail", fontsize=8)
    if view.attention is None:
        right.set_title("no heatmap (slide not explained)", fontsize=8)
        return _png(fig)
    ox, oy = view.offset_level0_xy
    s = view.scale_level0_px
    peak = float(np.nanmax(view.attention)) if np.isfinite(view.attention).any() else 1.0
    relative = view.attention / (peak if peak > 0 else 1.0)
    rows, cols = np.nonzero(np.isfinite(relative))
    tiles = PatchCollection(
        [Rectangle((ox + c * s, oy + r * s), s, s) for r, c in zip(rows, cols, strict=True)],
        cmap=SALIENCY_CMAP,
        edgecolor="black",
        linewidth=0.6,
        alpha=0.85,
    )
    tiles.set_array(relative[rows, cols])
    tiles.set_clim(0.0, 1.0)
    mappable = right.add_collection(tiles)
    right.set_xlim(0, width0)
    right.set_ylim(height0, 0)
    title = "attention heatmap (where the model looked)"
    if not view.reliable:
        title += "\nslide map UNRELIABLE: see sanity checks"
    right.set_title(title, fontsize=8)
    bar = fig.colorbar(mappable, ax=right, shrink=0.8)
    bar.set_label("attention, share of the highest tile", fontsize=7)
    bar.ax.tick_params(labelsize=7)
    return _png(fig)


def gene_figure(bars: Sequence[GeneBar]) -> bytes:
    """Sorted horizontal bars of the gene attributions (largest magnitude at the top)."""
    fig = Figure(figsize=(7.0, 0.24 * len(bars) + 1.1), layout="constrained")
    ax = fig.subplots()
    names = [f"{b.gene}{' (altered)' if b.call > 0 else ''}" for b in bars]
    values = [b.attribution for b in bars]
    y = np.arange(len(bars))[::-1]
    for yi, value in zip(y, values, strict=True):
        ax.barh(
            yi,
            value,
            color=POSITIVE if value >= 0 else NEGATIVE,
            edgecolor="black",
            hatch="" if value >= 0 else "////",
            height=0.7,
        )
    ax.set_yticks(y, names, fontsize=7)
    ax.axvline(0.0, color="black", lw=0.8)
    ax.set_xlabel("attribution (logit; Integrated Gradients against no alteration)", fontsize=8)
    ax.tick_params(axis="x", labelsize=7)
    ax.legend(
        handles=[
            Patch(facecolor=POSITIVE, edgecolor="black", label="towards benefit"),
            Patch(facecolor=NEGATIVE, edgecolor="black", hatch="////", label="against benefit"),
        ],
        fontsize=7,
        loc="lower right",
    )
    return _png(fig)


def modality_figure(contributions: ModalityContributions, threshold: float | None) -> bytes:
    """Waterfall from the no-modality baseline through each modality to the prediction."""
    fig = Figure(figsize=(7.0, 2.8), layout="constrained")
    ax = fig.subplots()
    labels = ["baseline\n(no modality)"]
    level = contributions.baseline
    ax.bar(0, level, color="#bdbdbd", edgecolor="black")
    ax.text(0, level, f"{level:.3f}", ha="center", va="bottom", fontsize=7)
    for i, (name, value) in enumerate(contributions.values.items(), start=1):
        bottom = level if value >= 0 else level + value
        ax.bar(
            i,
            abs(value),
            bottom=bottom,
            color=POSITIVE if value >= 0 else NEGATIVE,
            edgecolor="black",
            hatch="" if value >= 0 else "////",
        )
        ax.text(i, bottom + abs(value), f"{value:+.3f}", ha="center", va="bottom", fontsize=7)
        ax.plot([i - 0.6, i - 0.4], [level, level], color="black", lw=0.6, ls=":")
        level += value
        labels.append(MODALITY_LABELS.get(name, name))
    end = len(labels)
    ax.bar(end, contributions.prediction, color="white", edgecolor="black", lw=1.6)
    ax.text(
        end,
        contributions.prediction,
        f"{contributions.prediction:.3f}",
        ha="center",
        va="bottom",
        fontsize=7,
        fontweight="bold",
    )
    labels.append("prediction")
    handles: list[Artist] = [
        Patch(facecolor=POSITIVE, edgecolor="black", label="raises probability"),
        Patch(facecolor=NEGATIVE, edgecolor="black", hatch="////", label="lowers probability"),
    ]
    if threshold is not None:
        ax.axhline(threshold, color="black", lw=1.0, ls="--")
        handles.append(Line2D([], [], color="black", ls="--", label=f"threshold {threshold:.3f}"))
    ax.set_xticks(range(len(labels)), labels, fontsize=7)
    ax.set_ylim(0.0, 1.05)
    ax.set_ylabel("probability of benefit", fontsize=8)
    ax.tick_params(axis="y", labelsize=7)
    ax.legend(handles=handles, fontsize=7, loc="upper left", frameon=False)
    return _png(fig)
