"""The Model tab: run Neoadj-Net and explain its prediction, off the GUI thread.

Shows the probability, threshold and recommendation with the checkpoint's identity, device
and timings; after "Explain", the sanity checks in plain language, the modality waterfall, the
gene attributions beside the case's variants, and the saliency maps pushed onto the MRI (napari
and VTK) and slide views, whose own overlay controls set opacity and threshold.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QScrollArea,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.case import Case
from app.progress import ProgressFn
from explain.explanation import Explanation, explain_case
from explain.sanity import SanityCheck
from inference.runner import Prediction, predict_case, resolve_checkpoint
from widgets.attribution_charts import GeneAttributionChart, ModalityChart
from widgets.case_view import CaseView
from widgets.task_panel import TaskPanel
from widgets.tasks import CoreTask

log = logging.getLogger(__name__)

SYNTHETIC_NOTE = "SYNTHETIC CHECKPOINT: trained on generated data; not for clinical decisions."
TARGET_NAMES = {
    "mri_integrated_gradients": "MRI map (Integrated Gradients)",
    "mri_gradcam": "MRI map (Grad-CAM)",
    "slide_attribution": "Slide heatmap",
    "gene_attribution": "Gene attributions",
    "modality_shapley": "Modality contributions",
}
MRI_MAPS = {"ig": "Integrated Gradients |attribution|", "gradcam": "Grad-CAM"}
SLIDE_MAPS = {
    "attention": "MIL attention (where the model looked)",
    "attribution": "Integrated Gradients |attribution| (what moved the prediction)",
}
VARIANT_COLUMNS = ("Gene", "Change", "VAF", "Class")


def run_neoadj_net(
    case: Case, checkpoint_dir: Path | None, *, progress: ProgressFn, cancel: threading.Event
) -> Prediction:
    """Predict benefit for `case` (a `CoreTask` function); None = the demo checkpoint."""
    return predict_case(case, checkpoint_dir, progress=progress, cancel=cancel)


def explain_prediction(
    case: Case, checkpoint_dir: Path | None, *, progress: ProgressFn, cancel: threading.Event
) -> Explanation:
    """Every attribution and sanity check for `case` (a `CoreTask` function)."""
    checkpoint = resolve_checkpoint(checkpoint_dir, None)
    return explain_case(case, checkpoint, progress=progress, cancel=cancel)


def describe_check(check: SanityCheck) -> str:
    """What a sanity check found, in plain words for the tumour board."""
    what = TARGET_NAMES.get(check.target, check.target)
    if check.passed:
        return f"{what}: {check.name} check passed."
    if check.name == "randomisation":
        return (
            f"{what} is UNRELIABLE: it hardly changes when the model's learned weights are "
            f"replaced by random ones (rank correlation {check.figure:.2f}, must be below "
            f"{check.threshold:g}). It shows image contrast and edges more than what the model "
            "learned: do not read it as the model's reasons."
        )
    if check.name == "effect":
        return (
            f"{what} is UNRELIABLE: the model's output hardly depends on this input (it moves "
            f"by {check.figure:.2g} {check.units}, at least {check.threshold:g} needed), so the "
            "map mostly shows noise: do not read it as the model's reasons."
        )
    if check.name == "completeness":
        return (
            f"{what} is UNRELIABLE: the attributions do not add up to the model's output "
            f"(error {check.figure:.3g} {check.units}, allowed {check.threshold:g}); read it "
            "as approximate."
        )
    return (
        f"{what} is UNRELIABLE: the contributions do not add up to the prediction "
        f"(error {check.figure:.3g} {check.units})."
    )


class ModelPanel(QWidget):
    """Run/Explain buttons, the prediction and its explanation for the open case."""

    predicted = Signal(object)  # Prediction
    explained = Signal(object)  # Explanation
    error = Signal(str, str)  # title, message
    message = Signal(str)

    def __init__(
        self,
        tasks: TaskPanel,
        case_view: CaseView,
        checkpoint_dir: Callable[[], Path | None] = lambda: None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self._tasks = tasks
        self._case_view = case_view
        self.checkpoint_dir = checkpoint_dir
        self.case: Case | None = None
        self.prediction: Prediction | None = None
        self.explanation: Explanation | None = None
        self.run_task: CoreTask | None = None
        self.explain_task: CoreTask | None = None

        self.run_button = QPushButton("Run Neoadj-Net")
        self.run_button.clicked.connect(self.run_model)
        self.explain_button = QPushButton("Explain")
        self.explain_button.setToolTip(
            "Saliency maps, slide heatmap, gene and modality attributions, with sanity checks "
            "(takes longer than the prediction)"
        )
        self.explain_button.clicked.connect(self.explain)
        self.mri_map_combo = QComboBox()
        for key, label in MRI_MAPS.items():
            self.mri_map_combo.addItem(label, key)
        self.mri_map_combo.setToolTip("Which MRI map the MRI and 3D tabs overlay")
        self.mri_map_combo.currentIndexChanged.connect(lambda _: self._show_mri_maps())
        self.slide_map_combo = QComboBox()
        for key, label in SLIDE_MAPS.items():
            self.slide_map_combo.addItem(label, key)
        self.slide_map_combo.setToolTip(
            "Which per-tile map the Slide tab overlays: attention shows where the model looked "
            "(e.g. tumour), |attribution| what pushed its prediction (e.g. the immune infiltrate)"
        )
        self.slide_map_combo.currentIndexChanged.connect(lambda _: self._show_slide_heatmap())
        buttons = QHBoxLayout()
        for w in (
            self.run_button,
            self.explain_button,
            QLabel("MRI map:"),
            self.mri_map_combo,
            QLabel("Slide map:"),
            self.slide_map_combo,
        ):
            buttons.addWidget(w)
        buttons.addStretch(1)

        self.synthetic_label = QLabel(SYNTHETIC_NOTE)
        self.synthetic_label.setObjectName("syntheticCheckpointNote")
        self.synthetic_label.setStyleSheet(
            "background:#b00000; color:white; font-weight:bold; padding:4px;"
        )
        self.synthetic_label.setVisible(False)
        self.result_label = QLabel("Neoadj-Net has not been run on this case.")
        self.result_label.setObjectName("predictionResult")
        self.result_label.setWordWrap(True)
        self.result_label.setTextFormat(Qt.TextFormat.RichText)
        self.result_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        result_box = QGroupBox("Prediction")
        result_layout = QVBoxLayout(result_box)
        result_layout.addWidget(self.synthetic_label)
        result_layout.addWidget(self.result_label)

        self.sanity_label = QLabel("Not explained yet.")
        self.sanity_label.setObjectName("sanitySummary")
        self.sanity_label.setWordWrap(True)
        self.sanity_label.setTextFormat(Qt.TextFormat.RichText)
        sanity_box = QGroupBox("Are the explanations trustworthy? (sanity checks)")
        QVBoxLayout(sanity_box).addWidget(self.sanity_label)

        self.modality_chart = ModalityChart()
        self.gene_chart = GeneAttributionChart()
        self.variant_table = QTableWidget(0, len(VARIANT_COLUMNS))
        self.variant_table.setObjectName("modelVariantTable")
        self.variant_table.setHorizontalHeaderLabels(VARIANT_COLUMNS)
        self.variant_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.variant_table.verticalHeader().setVisible(False)
        self.variant_table.horizontalHeader().setSectionResizeMode(
            QHeaderView.ResizeMode.ResizeToContents
        )
        genes_split = QSplitter(Qt.Orientation.Horizontal)
        genes_split.addWidget(self.gene_chart)
        genes_split.addWidget(self.variant_table)
        genes_split.setSizes([600, 400])

        content = QWidget()
        layout = QVBoxLayout(content)
        layout.addLayout(buttons)
        layout.addWidget(result_box)
        layout.addWidget(sanity_box)
        layout.addWidget(self.modality_chart)
        layout.addWidget(genes_split)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(content)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(scroll)
        self._refresh_buttons()

    # --- case -----------------------------------------------------------------------
    def set_case(self, case: Case | None) -> None:
        """Show nothing computed for a newly opened case (running jobs are cancelled)."""
        for task in (self.run_task, self.explain_task):
            if task is not None:
                task.cancel.set()
        self.case, self.prediction, self.explanation = case, None, None
        self.result_label.setText("Neoadj-Net has not been run on this case.")
        self.synthetic_label.setVisible(False)
        self.sanity_label.setText("Not explained yet.")
        self.modality_chart.clear("Not explained yet.")
        self.gene_chart.clear("Not explained yet.")
        self._fill_variants(case)
        self._refresh_buttons()

    def _fill_variants(self, case: Case | None) -> None:
        variants = [v for p in (case.genomics if case else []) for v in p.variants]
        self.variant_table.setSortingEnabled(False)
        self.variant_table.setRowCount(len(variants))
        for row, v in enumerate(variants):
            cells: tuple[str | float, ...] = (
                v.gene or "(not annotated)",
                v.change,
                "" if v.vaf is None else round(v.vaf, 3),
                v.classification,
            )
            for col, value in enumerate(cells):
                item = QTableWidgetItem()
                item.setData(Qt.ItemDataRole.DisplayRole, value)
                self.variant_table.setItem(row, col, item)
        self.variant_table.setSortingEnabled(True)

    def _refresh_buttons(self) -> None:
        idle = self.case is not None
        self.run_button.setEnabled(idle and self.run_task is None)
        self.explain_button.setEnabled(idle and self.explain_task is None)

    # --- run ------------------------------------------------------------------------
    def run_model(self) -> CoreTask | None:
        """Predict off the GUI thread (progress and Cancel in the status bar)."""
        if self.case is None or self.run_task is not None:
            return None
        case = self.case
        task = CoreTask("Running Neoadj-Net", run_neoadj_net, case, self.checkpoint_dir())
        task.signals.done.connect(lambda result: self._on_predicted(case, result))
        task.signals.failed.connect(lambda text: self.error.emit("Neoadj-Net", text))
        task.signals.finished.connect(lambda: self._task_over("run_task"))
        self.run_task = task
        self._refresh_buttons()
        self.result_label.setText("Running Neoadj-Net...")
        task.signals.cancelled.connect(lambda: self._on_run_cancelled(case))
        self._tasks.start(task)
        return task

    def _task_over(self, name: str) -> None:
        setattr(self, name, None)
        self._refresh_buttons()

    def _on_run_cancelled(self, case: Case) -> None:
        if case is self.case and self.prediction is None:
            self.result_label.setText("Run cancelled: no prediction was made.")

    def _on_predicted(self, case: Case, result: object) -> None:
        if case is not self.case:
            return
        assert isinstance(result, Prediction)
        self.prediction = result
        self.result_label.setText(prediction_html(result))
        self.synthetic_label.setVisible(result.checkpoint.synthetic)
        self.predicted.emit(result)

    # --- explain --------------------------------------------------------------------
    def explain(self) -> CoreTask | None:
        """Compute the explanation off the GUI thread."""
        if self.case is None or self.explain_task is not None:
            return None
        case = self.case
        task = CoreTask("Explaining", explain_prediction, case, self.checkpoint_dir())
        task.signals.done.connect(lambda result: self._on_explained(case, result))
        task.signals.failed.connect(lambda text: self.error.emit("Explain", text))
        task.signals.finished.connect(lambda: self._task_over("explain_task"))
        self.explain_task = task
        self._refresh_buttons()
        self.sanity_label.setText("Explaining...")
        self._tasks.start(task)
        return task

    def _on_explained(self, case: Case, result: object) -> None:
        if case is not self.case:
            return
        assert isinstance(result, Explanation)
        self.explanation = result
        unreliable = set(result.unreliable)
        self.sanity_label.setText(sanity_html(result.sanity))
        shapley = result.shapley
        present = {k: v for k, v in shapley.values.items() if shapley.present.get(k, True)}
        self.modality_chart.set_contributions(
            present, shapley.baseline, shapley.prediction, result.threshold
        )
        if result.genes is not None:
            self.gene_chart.set_attribution(
                result.genes.genes,
                result.genes.attribution,
                result.genes.values,
                unreliable="gene_attribution" in unreliable,
            )
        else:
            self.gene_chart.clear("No gene panel: nothing to attribute.")
        self._show_mri_maps()
        self._show_slide_heatmap()
        self.explained.emit(result)

    def _show_mri_maps(self) -> None:
        """Overlay the chosen MRI map on every explained series (napari and VTK)."""
        if self.explanation is None:
            return
        use_cam = self.mri_map_combo.currentData() == "gradcam"
        target = "mri_gradcam" if use_cam else "mri_integrated_gradients"
        flag = " (UNRELIABLE)" if target in self.explanation.unreliable else ""
        mri, volume = self._case_view.mri_view, self._case_view.volume_view
        for s in self.explanation.series:
            uid = s.series.series_instance_uid
            values = s.gradcam if use_cam else np.abs(s.integrated_gradients)
            values = np.where(s.in_model_box, values, 0.0).astype(np.float32)
            try:
                mri.add_saliency(
                    uid, values, f"{MRI_MAPS[str(self.mri_map_combo.currentData())]}{flag}"
                )
                volume.set_saliency(uid, values)
            except (KeyError, ValueError) as exc:
                log.warning("saliency not shown on a series: %s", exc)

    def _show_slide_heatmap(self) -> None:
        if self.explanation is None or self.explanation.slide_heatmap is None:
            return
        heat = self.explanation.slide_heatmap
        flag = " (UNRELIABLE)" if "slide_attribution" in self.explanation.unreliable else ""
        key = str(self.slide_map_combo.currentData())
        values = heat.attention if key == "attention" else np.abs(heat.attribution)
        x0, y0 = heat.offset_level0_xy
        try:
            self._case_view.slide_view.add_slide_heatmap(
                np.nan_to_num(values, nan=0.0),
                heat.scale_level0_px,
                (y0, x0),
                name=f"{SLIDE_MAPS[key]}{flag}",
            )
        except RuntimeError:
            self.message.emit("Open the slide to see its heatmap.")


def prediction_html(p: Prediction) -> str:
    """The prediction as rich text: result, provenance, timings and flags."""
    verdict = (
        "<b style='color:#006400'>predicts benefit</b>"
        if p.predicted_benefit
        else "<b style='color:#8b0000'>does not predict benefit</b>"
    )
    relation = ">=" if p.predicted_benefit else "<"
    ckpt = p.checkpoint
    timings = ", ".join(f"{k} {v:.2f} s" for k, v in p.timings_s.items())
    lines = [
        f"<span style='font-size:15pt'>Probability of benefit <b>{p.probability:.3f}</b> "
        f"{relation} threshold {p.threshold:.3f}: the model {verdict} from neoadjuvant "
        "HAIC + lenvatinib + PD-1 inhibitor (criterion I8).</span>",
        f"Checkpoint <b>{ckpt.name}</b> version {ckpt.version}"
        + (" <b style='color:#b00000'>[SYNTHETIC]</b>" if ckpt.synthetic else ""),
        f"sha256 <code>{ckpt.sha256}</code>",
        f"Device {p.device}; timings: {timings}",
        "Modalities used: "
        + (", ".join(p.modalities_used) or "none")
        + ("; missing: " + ", ".join(p.modalities_missing) if p.modalities_missing else ""),
    ]
    lines += [f"<span style='color:#8a5a00'>&#9888; {flag}</span>" for flag in p.flags]
    return "<br>".join(lines)


def sanity_html(checks: list[SanityCheck]) -> str:
    """Every check, failed ones first and in red, each in plain words."""
    ordered = sorted(checks, key=lambda c: c.passed)
    rows = []
    for c in ordered:
        colour = "#006400" if c.passed else "#b00000"
        mark = "&#10004;" if c.passed else "&#10008;"
        rows.append(f"<span style='color:{colour}'>{mark}</span> {describe_check(c)}")
    if not rows:
        return "No checks were made."
    head = (
        "<b style='color:#006400'>Every check passed.</b>"
        if all(c.passed for c in checks)
        else "<b style='color:#b00000'>Some maps are unreliable (marked on the views):</b>"
    )
    return "<br>".join([head, *rows])
