"""Explanations of the demo case: geometry, additivity, sanity checks, bad input, cancel.

One synthetic demo case (smaller slide) is generated and explained once per module with the
shipped demo checkpoint; expected values come from the DICOM headers, the model's own forward
pass, the definition of the Shapley value, or the synthetic generator, never from the code
under test.
"""

from __future__ import annotations

import itertools
import json
import math
import threading
import uuid
from pathlib import Path

import numpy as np
import pydicom
import pytest
import torch
from scipy.interpolate import RegularGridInterpolator

from app.case import Case, load_case
from app.cli import main
from app.errors import Cancelled, InputValidationError
from app.hashing import sha256_file
from app.synth.cohort import generate_demo
from explain.artefacts import MANIFEST_NAME, OutputFolderError
from explain.explanation import Explanation, explain_case, write_explanation
from explain.integrated import IgResult, integrated_gradients
from explain.mri_saliency import tissue_baseline
from explain.sanity import (
    MIN_EFFECT_LOGIT,
    RANDOMISATION_MAX_SPEARMAN,
    cascading_randomisation,
    mri_layer_groups,
)
from explain.slide_saliency import SlideSaliency
from explain.truth import map_truth, tile_fractions
from inference.batch import collate
from inference.checkpoint import Checkpoint, default_checkpoint_dir, load_checkpoint
from inference.model import MODALITIES
from inference.preprocess import ModelInputs
from inference.runner import predict_inputs, prepare_inputs

DEMO_SLIDE_PX = 2048


@pytest.fixture(scope="module")
def checkpoint() -> Checkpoint:
    torch.set_num_threads(2)
    return load_checkpoint(default_checkpoint_dir())


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("demo") / "demo"
    generate_demo(out, slide_size_px=DEMO_SLIDE_PX)
    return out


@pytest.fixture(scope="module")
def case(demo_dir: Path) -> Case:
    return load_case([demo_dir / "case"])


@pytest.fixture(scope="module")
def inputs(case: Case, checkpoint: Checkpoint) -> ModelInputs:
    return prepare_inputs(case, checkpoint)


@pytest.fixture(scope="module")
def explanation(case: Case, checkpoint: Checkpoint, inputs: ModelInputs) -> Explanation:
    return explain_case(case, checkpoint, inputs=inputs)


@pytest.fixture(scope="module")
def written(
    explanation: Explanation, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, dict[str, object]]:
    out = tmp_path_factory.mktemp("explained") / "out"
    manifest_path, _ = write_explanation(explanation, out)
    return out, json.loads(manifest_path.read_text(encoding="utf-8"))


# -- Integrated Gradients on a function with a known integral -------------------------------


def test_integrated_gradients_match_the_closed_form() -> None:
    # f(x) = sum(w * x^2): along the straight path from 0, IG_i = w_i * x_i^2 exactly.
    w = torch.tensor([[0.5, -2.0, 3.0, 1.5]])
    x = torch.tensor([[1.0, 0.5, -1.2, 2.0]])
    result = integrated_gradients(lambda t: (w * t**2).sum(dim=1), x, torch.zeros_like(x))
    np.testing.assert_allclose(result.attributions.numpy(), (w * x**2).numpy(), rtol=1e-4)
    assert result.delta < 1e-3
    assert result.logit_input == pytest.approx(float((w * x**2).sum()), rel=1e-6)


def test_integrated_gradients_cancel_between_batches() -> None:
    cancel = threading.Event()
    calls = []

    def forward(t: torch.Tensor) -> torch.Tensor:
        calls.append(len(t))
        return (t**3).sum(dim=1)

    def stop_after_first_batch() -> None:
        cancel.set()

    x = torch.ones(1, 8)
    with pytest.raises(Cancelled):
        integrated_gradients(
            forward,
            x,
            torch.zeros_like(x),
            cancel=cancel,
            on_batch=stop_after_first_batch,
            steps=(16,),
            internal_batch_size=4,
        )
    # two end-point evaluations, then one batch of 4 path points; the second batch never ran
    assert calls == [1, 1, 4]


def test_midpoint_schedule_reuses_nodes_and_matches_a_fresh_run() -> None:
    """Tripling the midpoint step count evaluates only the new nodes, and gives the same
    attributions as a midpoint run at the final count."""
    torch.manual_seed(0)
    w = torch.randn(6)
    points: list[int] = []

    def forward(t: torch.Tensor) -> torch.Tensor:
        points.append(len(t))
        return torch.tanh(3 * t @ w) + (t**2).sum(dim=1)

    x, base = torch.randn(1, 6), torch.zeros(1, 6)
    nested = integrated_gradients(
        forward, x, base, steps=(4, 12), tolerance=0.0, method="riemann_middle"
    )
    assert nested.n_steps == 12
    assert sum(points) == 2 + 12  # two end points, then 4 nodes and the 8 new ones
    points.clear()
    fresh = integrated_gradients(forward, x, base, steps=(12,), method="riemann_middle")
    assert sum(points) == 2 + 12
    torch.testing.assert_close(nested.attributions, fresh.attributions, rtol=1e-5, atol=1e-6)
    assert nested.delta == pytest.approx(fresh.delta, abs=1e-5)


# -- Modality Shapley values -----------------------------------------------------------------


def _coalition_probability(
    checkpoint: Checkpoint, inputs: ModelInputs, members: frozenset[int]
) -> float:
    """The model's own probability with only ``members`` present (independent of explain)."""
    batch = collate([inputs.arrays()], checkpoint.input_spec)
    mask = torch.tensor([[i in members for i in range(3)]]) & batch.modality_mask
    with torch.no_grad():
        logit = checkpoint.model(batch.mri, batch.tiles, batch.tile_mask, batch.genes, mask)
    return float(torch.sigmoid(logit.double())[0])


def test_shapley_values_follow_their_definition(
    explanation: Explanation, checkpoint: Checkpoint, inputs: ModelInputs
) -> None:
    # Shapley value = mean marginal contribution over all 3! orderings of the modalities.
    value = {
        frozenset(s): _coalition_probability(checkpoint, inputs, frozenset(s))
        for k in range(4)
        for s in itertools.combinations(range(3), k)
    }
    expected = dict.fromkeys(range(3), 0.0)
    for order in itertools.permutations(range(3)):
        seen: frozenset[int] = frozenset()
        for m in order:
            expected[m] += (value[seen | {m}] - value[seen]) / math.factorial(3)
            seen = seen | {m}
    for i, name in enumerate(MODALITIES):
        assert explanation.shapley.values[name] == pytest.approx(expected[i], abs=1e-5)


def test_shapley_values_add_up_to_prediction_minus_baseline(
    explanation: Explanation, checkpoint: Checkpoint, inputs: ModelInputs
) -> None:
    prediction, _ = predict_inputs(checkpoint, inputs)
    baseline = _coalition_probability(checkpoint, inputs, frozenset())
    shapley = explanation.shapley
    assert shapley.prediction == pytest.approx(prediction, abs=1e-6)
    assert shapley.baseline == pytest.approx(baseline, abs=1e-6)
    total = sum(shapley.values.values())
    assert total == pytest.approx(shapley.prediction - shapley.baseline, abs=1e-12)
    assert total == pytest.approx(prediction - baseline, abs=2e-6)


# -- Geometry --------------------------------------------------------------------------------


def test_mri_saliency_has_each_source_series_geometry(
    explanation: Explanation, case: Case, written: tuple[Path, dict[str, object]]
) -> None:
    out, manifest = written
    entries = manifest["mri"]
    assert isinstance(entries, list) and len(entries) == 4
    for entry in entries:
        series = next(s for s in case.mri if s.series_instance_uid == entry["series_instance_uid"])
        first = pydicom.dcmread(series.files[0], stop_before_pixels=True)
        expected_shape = [len(series.files), int(first.Rows), int(first.Columns)]
        assert entry["shape_zyx"] == expected_shape
        with np.load(out / entry["path"]) as data:
            assert data["integrated_gradients"].shape == tuple(expected_shape)
            assert data["gradcam"].shape == tuple(expected_shape)
            np.testing.assert_allclose(data["affine_zyx"], series.affine_zyx)
        assert sha256_file(out / entry["path"]) == entry["sha256"]


def test_series_maps_sample_the_model_grid_at_each_voxels_patient_position(
    explanation: Explanation, checkpoint: Checkpoint
) -> None:
    # Independent resampling: series voxel -> LPS (series affine) -> model-grid index
    # (inverse grid transform) -> scipy's RegularGridInterpolator on the model-grid map.
    assert explanation.mri is not None and explanation.mri_transform is not None
    rng = np.random.default_rng(0)
    to_grid = np.linalg.inv(explanation.mri_transform.matrix)
    for s in explanation.series:
        grid_map = explanation.mri.integrated_gradients[checkpoint.input_spec.phases.index(s.phase)]
        axes = [np.arange(n, dtype=float) for n in grid_map.shape]
        interp = RegularGridInterpolator(axes, grid_map, bounds_error=False, fill_value=0.0)
        inside = np.argwhere(s.in_model_box)
        picks = inside[rng.choice(len(inside), size=200, replace=False)]
        lps = s.series.affine_zyx @ np.c_[picks, np.ones(len(picks))].T
        grid_index = (to_grid @ lps)[:3].T
        expected = interp(grid_index)
        got = s.integrated_gradients[tuple(picks.T)]
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-7)
        assert np.abs(expected).max() > 0


def test_dicom_parametric_map_references_and_overlays_its_series(
    case: Case, written: tuple[Path, dict[str, object]]
) -> None:
    out, manifest = written
    entries = manifest["mri"]
    assert isinstance(entries, list)
    for entry in entries:
        series = next(s for s in case.mri if s.series_instance_uid == entry["series_instance_uid"])
        pm = pydicom.dcmread(out / entry["dicom"]["path"])
        assert sha256_file(out / entry["dicom"]["path"]) == entry["dicom"]["sha256"]
        assert pm.SOPClassUID == "1.2.840.10008.5.1.4.1.1.30"  # Parametric Map Storage
        assert pm.ReferencedSeriesSequence[0].SeriesInstanceUID == series.series_instance_uid
        source_uids = {
            pydicom.dcmread(f, stop_before_pixels=True).SOPInstanceUID for f in series.files
        }
        referenced = {
            i.ReferencedSOPInstanceUID
            for i in pm.ReferencedSeriesSequence[0].ReferencedInstanceSequence
        }
        assert referenced == source_uids
        first = pydicom.dcmread(series.files[0], stop_before_pixels=True)
        assert pm.StudyInstanceUID == first.StudyInstanceUID
        assert pm.FrameOfReferenceUID == first.FrameOfReferenceUID
        assert (pm.Rows, pm.Columns) == (first.Rows, first.Columns)
        with np.load(out / entry["path"]) as data:
            ig = data["integrated_gradients"]
        # every frame sits at a source slice position and holds that slice of the map
        slice_at = {
            tuple(np.round(pydicom.dcmread(f, stop_before_pixels=True).ImagePositionPatient, 3)): k
            for k, f in enumerate(sorted(series.files, key=lambda f: _slice_key(f, series)))
        }
        frames = pm.pixel_array
        for k, group in enumerate(pm.PerFrameFunctionalGroupsSequence):
            pos = tuple(np.round(group.PlanePositionSequence[0].ImagePositionPatient, 3))
            np.testing.assert_allclose(frames[k], ig[slice_at[pos]], atol=1e-6)


def _slice_key(path: Path, series: object) -> float:
    ds = pydicom.dcmread(path, stop_before_pixels=True)
    return float(np.dot(np.asarray(ds.ImagePositionPatient, float), series.normal))  # type: ignore[attr-defined]


def test_slide_heatmap_places_each_tile_in_level0_pixels(
    explanation: Explanation, inputs: ModelInputs, written: tuple[Path, dict[str, object]]
) -> None:
    assert explanation.slide is not None and inputs.slide is not None
    out, manifest = written
    slide = manifest["slide"]
    assert isinstance(slide, dict)
    with np.load(out / slide["heatmap"]["path"]) as heat:
        scale = float(heat["scale_level0_px"])
        offset = heat["offset_level0_xy"]
        attention = heat["attention"]
    extent = inputs.slide.tile_extent_level0_px
    for (x, y), att in zip(
        inputs.slide.positions_level0_xy, explanation.slide.attention, strict=True
    ):
        col = int((x + extent / 2 - offset[0]) // scale)
        row = int((y + extent / 2 - offset[1]) // scale)
        assert attention[row, col] == pytest.approx(float(att), rel=1e-5)
    assert float(np.nansum(attention)) == pytest.approx(1.0, abs=1e-4)
    assert np.isnan(attention).sum() == attention.size - len(inputs.slide.positions_level0_xy)


def test_geojson_is_a_qupath_feature_collection_of_tiles(
    inputs: ModelInputs, written: tuple[Path, dict[str, object]]
) -> None:
    assert inputs.slide is not None
    out, manifest = written
    slide = manifest["slide"]
    assert isinstance(slide, dict)
    geo = json.loads((out / slide["geojson"]["path"]).read_text(encoding="utf-8"))
    assert geo["type"] == "FeatureCollection"
    assert len(geo["features"]) == len(inputs.slide.positions_level0_xy)
    extent = inputs.slide.tile_extent_level0_px
    for feature, (x, y) in zip(geo["features"], inputs.slide.positions_level0_xy, strict=True):
        assert feature["type"] == "Feature"
        uuid.UUID(feature["id"])  # QuPath keeps a UUID id as the object's ID
        assert feature["geometry"]["type"] == "Polygon"
        ring = np.asarray(feature["geometry"]["coordinates"][0])
        assert ring[0].tolist() == ring[-1].tolist()  # closed
        assert ring.min(axis=0).tolist() == [float(x), float(y)]
        assert ring.max(axis=0).tolist() == [float(x) + extent, float(y) + extent]
        props = feature["properties"]
        assert props["objectType"] == "tile"
        assert set(props["measurements"]) >= {"attention", "attribution"}
        assert all(isinstance(v, (int, float)) for v in props["measurements"].values())


# -- Sanity checks ---------------------------------------------------------------------------


def test_ig_completeness_against_the_models_own_logits(
    explanation: Explanation, checkpoint: Checkpoint, inputs: ModelInputs
) -> None:
    assert explanation.mri is not None and explanation.genes is not None
    batch = collate([inputs.arrays()], checkpoint.input_spec)
    with torch.no_grad():
        logit = float(
            checkpoint.model(
                batch.mri, batch.tiles, batch.tile_mask, batch.genes, batch.modality_mask
            )[0]
        )
        no_genes = float(
            checkpoint.model(
                batch.mri,
                batch.tiles,
                batch.tile_mask,
                torch.zeros_like(batch.genes),
                batch.modality_mask,
            )[0]
        )
    assert explanation.mri.ig.logit_input == pytest.approx(logit, abs=1e-4)
    assert float(explanation.mri.integrated_gradients.sum()) == pytest.approx(
        explanation.mri.ig.logit_input - explanation.mri.ig.logit_baseline, abs=1e-2
    )
    assert float(explanation.genes.attribution.sum()) == pytest.approx(logit - no_genes, abs=1e-2)
    # a gene that is not altered has exactly zero attribution against "no alteration"
    assert np.all(explanation.genes.attribution[explanation.genes.values == 0] == 0)


def test_sanity_checks_are_stored_and_the_maps_change_when_the_model_is_randomised(
    explanation: Explanation,
) -> None:
    checks = {(c.target, c.name): c for c in explanation.sanity}
    for key in [
        ("mri_integrated_gradients", "randomisation"),
        ("mri_integrated_gradients", "completeness"),
        ("mri_gradcam", "randomisation"),
        ("slide_attribution", "randomisation"),
        ("slide_attribution", "completeness"),
        ("gene_attribution", "completeness"),
        ("modality_shapley", "additivity"),
    ]:
        assert checks[key].passed, checks[key]
    for target in ("mri_integrated_gradients", "mri_gradcam", "slide_attribution"):
        steps = checks[(target, "randomisation")].detail["steps"]
        assert len(steps) >= 4  # one step per layer, output first
        assert steps[-1]["spearman"] < RANDOMISATION_MAX_SPEARMAN


def test_effect_check_measures_what_ig_distributes(
    explanation: Explanation, checkpoint: Checkpoint, inputs: ModelInputs
) -> None:
    # independent: the model's own logits at the input and at the documented baseline
    assert inputs.mri is not None
    batch = collate([inputs.arrays()], checkpoint.input_spec)
    baseline = torch.from_numpy(tissue_baseline(inputs.mri.volume))[None]
    with torch.no_grad():
        args = (batch.tiles, batch.tile_mask, batch.genes, batch.modality_mask)
        effect = abs(
            float(checkpoint.model(batch.mri, *args)[0])
            - float(checkpoint.model(baseline, *args)[0])
        )
    check = next(
        c
        for c in explanation.sanity
        if c.name == "effect" and c.target == "mri_integrated_gradients"
    )
    assert check.figure == pytest.approx(effect, abs=1e-5)
    assert check.passed == (effect >= MIN_EFFECT_LOGIT)
    assert ("mri_integrated_gradients" in explanation.unreliable) == (
        not all(c.passed for c in explanation.sanity if c.target == "mri_integrated_gradients")
    )


def test_randomisation_check_fails_a_map_that_ignores_the_model(
    checkpoint: Checkpoint, inputs: ModelInputs
) -> None:
    # Negative control: "saliency" = input intensity does not depend on the weights, so its
    # correlation with itself after randomisation stays 1 and the check must fail.
    assert inputs.mri is not None
    image = inputs.mri.volume.sum(axis=0)
    check = cascading_randomisation(
        checkpoint.model, lambda m: image, mri_layer_groups(checkpoint.model), target="edge"
    )
    assert check.figure == pytest.approx(1.0)
    assert not check.passed


# -- Missing modality, bad input, cancel -----------------------------------------------------


def test_case_without_genes_explains_the_others_and_says_so(
    demo_dir: Path, checkpoint: Checkpoint, tmp_path: Path
) -> None:
    case = load_case([demo_dir / "case" / "mri", demo_dir / "case" / "slide"])
    explanation = explain_case(case, checkpoint, randomisation_checks=False)
    assert explanation.modalities_missing == ["genes"]
    assert explanation.genes is None
    assert explanation.mri is not None and explanation.slide is not None
    shapley = explanation.shapley
    assert shapley.values["genes"] == 0.0
    assert shapley.additivity_error < 1e-9
    _, artefacts = write_explanation(explanation, tmp_path / "out")
    assert not any(a.kind == "gene_attribution" for a in artefacts)
    manifest = json.loads((tmp_path / "out" / MANIFEST_NAME).read_text(encoding="utf-8"))
    assert manifest["modalities_missing"] == ["genes"]
    assert manifest["genes"] is None


def test_nan_mri_is_refused_with_the_series_named(case: Case, checkpoint: Checkpoint) -> None:
    series = case.mri[0]
    voxels = series.voxels.copy()
    voxels[0, 3, 10, 10] = np.nan
    bad = Case(root=None, mri=[_with_voxels(series, voxels), *case.mri[1:]])
    with pytest.raises(InputValidationError, match="NaN") as err:
        explain_case(bad, checkpoint)
    assert series.series_description in err.value.user_message


def test_constant_mri_is_refused(case: Case, checkpoint: Checkpoint) -> None:
    series = case.mri[1]
    bad = Case(root=None, mri=[_with_voxels(series, np.full_like(series.voxels, 7.0))])
    with pytest.raises(InputValidationError, match="constant"):
        explain_case(bad, checkpoint)


def _with_voxels(series: object, voxels: np.ndarray) -> object:
    from dataclasses import replace

    return replace(series, voxels=voxels)  # type: ignore[type-var]


def test_cancel_during_explanation_raises(
    case: Case, checkpoint: Checkpoint, inputs: ModelInputs
) -> None:
    cancel = threading.Event()
    seen: list[int] = []

    def progress(done: int, total: int) -> None:
        seen.append(done)
        if done >= 20:
            cancel.set()

    with pytest.raises(Cancelled):
        explain_case(case, checkpoint, inputs=inputs, progress=progress, cancel=cancel)
    assert max(seen) < 100


def test_cancel_while_writing_leaves_no_artefact(explanation: Explanation, tmp_path: Path) -> None:
    cancel = _CancelAfter(3)
    out = tmp_path / "out"
    with pytest.raises(Cancelled):
        write_explanation(explanation, out, cancel=cancel)  # type: ignore[arg-type]
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []


class _CancelAfter(threading.Event):
    """An event that reports itself set from its n-th check on."""

    def __init__(self, n: int) -> None:
        super().__init__()
        self._left = n

    def is_set(self) -> bool:
        self._left -= 1
        return self._left < 0


def test_a_foreign_non_empty_output_folder_is_refused(
    explanation: Explanation, tmp_path: Path
) -> None:
    (tmp_path / "notes.txt").write_text("keep me")
    with pytest.raises(OutputFolderError, match="not empty"):
        write_explanation(explanation, tmp_path)
    assert (tmp_path / "notes.txt").read_text() == "keep me"


def test_rewriting_an_explanation_replaces_it(explanation: Explanation, tmp_path: Path) -> None:
    out = tmp_path / "out"
    write_explanation(explanation, out)
    (out / "stale.txt").write_text("old")
    write_explanation(explanation, out)
    assert not (out / "stale.txt").exists()
    assert (out / MANIFEST_NAME).is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


# -- Command line ----------------------------------------------------------------------------


def test_cli_json_contract(
    demo_dir: Path, case: Case, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "explained"
    code = main(["explain", str(demo_dir / "case"), "--out", str(out), "--json"])
    printed = capsys.readouterr().out
    result = json.loads(printed)  # exactly one JSON object
    assert code == (0 if result["sanity"]["all_passed"] else 1)
    shapley = result["modality_shapley"]
    assert set(shapley) == {"mri", "slide", "genes"}
    assert sum(shapley.values()) == pytest.approx(result["prediction"] - result["baseline"])
    assert result["checkpoint"]["synthetic"] is True
    assert result["modalities_missing"] == []
    by_uid = {s.series_instance_uid: s for s in case.mri}
    assert {e["series_instance_uid"] for e in result["mri"]} == set(by_uid)
    for entry in result["mri"]:
        assert entry["shape_zyx"] == list(by_uid[entry["series_instance_uid"]].shape_zyx)
        assert sha256_file(out / entry["path"]) == entry["sha256"]
        assert sha256_file(out / entry["dicom"]["path"]) == entry["dicom"]["sha256"]
    for key in ("heatmap", "geojson"):
        assert sha256_file(out / result["slide"][key]["path"]) == result["slide"][key]["sha256"]
    assert sha256_file(out / result["genes"]["path"]) == result["genes"]["sha256"]
    checks = result["sanity"]["checks"]
    assert {(c["target"], c["name"]) for c in checks} >= {
        ("mri_integrated_gradients", "randomisation"),
        ("mri_gradcam", "randomisation"),
        ("mri_integrated_gradients", "completeness"),
        ("modality_shapley", "additivity"),
    }
    assert all(isinstance(c["figure"], float) and isinstance(c["passed"], bool) for c in checks)
    manifest = json.loads((out / MANIFEST_NAME).read_text(encoding="utf-8"))
    listed = {a["path"]: a["sha256"] for a in manifest["artefacts"]}
    on_disk = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()} - {
        MANIFEST_NAME
    }
    assert set(listed) == on_disk
    assert all(sha256_file(out / p) == h for p, h in listed.items())
    for key in ("mri_integrated_gradients", "mri_gradcam", "total"):
        assert result["timings_s"][key] > 0


def test_cli_refuses_a_case_with_nothing_to_explain(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("not a scan")
    code = main(["explain", str(empty), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2
    assert "nothing the model can read" in err
    assert "Traceback" not in err
    assert not (tmp_path / "out").exists()


# -- Truth metrics on maps with known answers ------------------------------------------------


def test_truth_metrics_of_known_maps() -> None:
    tumour = np.zeros((10, 20, 20), dtype=bool)
    tumour[4:6, 8:12, 8:12] = True  # 32 voxels
    box = np.ones_like(tumour)
    box[:, :, :2] = False  # 10 * 20 * 18 = 3600 voxels in the box
    perfect = map_truth(tumour.astype(np.float32), tumour, box, (5.0, 2.0, 2.0))
    assert perfect.mass_in_tumour == pytest.approx(1.0)
    assert perfect.tumour_volume_fraction == pytest.approx(32 / 3600)
    assert perfect.enrichment == pytest.approx(3600 / 32)
    assert perfect.pointing_hit
    flat = map_truth(np.ones_like(tumour, dtype=np.float32), tumour, box, (5.0, 2.0, 2.0))
    assert flat.enrichment == pytest.approx(1.0)
    off = np.zeros_like(tumour, dtype=np.float32)
    off[4, 8, 15] = 1.0  # 4 voxels (8 mm) right of the tumour's edge at x = 11
    miss = map_truth(off, tumour, box, (5.0, 2.0, 2.0))
    assert not miss.pointing_hit
    assert miss.pointing_distance_mm == pytest.approx(8.0)
    assert miss.mass_in_tumour == 0.0


def test_tile_fractions_read_the_mask_under_each_tile() -> None:
    mask = np.zeros((8, 8), dtype=bool)  # one pixel per 16 level-0 px: a 128 x 128 slide
    mask[0:2, 0:4] = True  # top-left 64 x 32 level-0 px
    saliency = SlideSaliency(
        attention=np.array([0.5, 0.5], dtype=np.float32),
        attribution=np.zeros(2, dtype=np.float32),
        positions_level0_xy=np.array([[0, 0], [64, 64]]),
        tile_extent_level0_px=64.0,
        ig=IgResult(torch.zeros(1), 0.0, 16, 0.0, 0.0),
    )
    np.testing.assert_allclose(tile_fractions(saliency, mask, 16), [0.5, 0.0])
