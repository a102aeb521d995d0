"""The generating model and centre assignment of the synthetic cohort (no files written)."""

from __future__ import annotations

import dataclasses
import io
import math
import zipfile
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from app.synth.centres import CENTRES, assign_centres, external_count
from app.synth.generating_model import (
    PatientFeatures,
    benefit_scores,
    demo_features,
    sample_features,
)
from app.synth.reproducible_files import save_npz


def _population(n: int, seed: int = 5) -> tuple[list[PatientFeatures], np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    features = [sample_features(rng) for _ in range(n)]
    p = np.array([benefit_scores(f).probability for f in features])
    y = (rng.random(n) < p).astype(int)
    return features, p, y


def test_every_modality_carries_signal_and_none_suffices() -> None:
    features, p, y = _population(6000)
    scores = [benefit_scores(f) for f in features]
    bayes = roc_auc_score(y, p)
    assert 0.85 <= bayes <= 0.92
    for name in ("mri", "slide", "gene"):
        alone = roc_auc_score(y, [getattr(s, name) for s in scores])
        assert 0.62 <= alone <= bayes - 0.08, name
    assert 0.35 <= y.mean() <= 0.65


def test_probability_is_sigmoid_of_the_sum_of_terms() -> None:
    for f in _population(50)[0]:
        s = benefit_scores(f)
        assert s.logit == pytest.approx(0.2 + s.mri + s.slide + s.gene + s.interaction)
        assert s.probability == pytest.approx(1 / (1 + math.exp(-s.logit)))


def test_documented_gene_effects() -> None:
    base = dataclasses.replace(demo_features(), mutated_genes=(), amplified_genes=())
    ctnnb1 = dataclasses.replace(base, mutated_genes=("CTNNB1",))
    vegfa = dataclasses.replace(base, amplified_genes=("VEGFA",))
    tert = dataclasses.replace(base, mutated_genes=("TERT",))
    assert benefit_scores(ctnnb1).logit - benefit_scores(base).logit == pytest.approx(-2.0)
    assert benefit_scores(vegfa).logit - benefit_scores(base).logit == pytest.approx(1.6)
    assert benefit_scores(tert).logit == pytest.approx(benefit_scores(base).logit)  # nuisance


def test_features_are_in_documented_ranges() -> None:
    for f in _population(300)[0]:
        assert 1 <= len(f.tumour_diameters_mm) <= 3
        assert min(f.tumour_diameters_mm) >= 10 and max(f.tumour_diameters_mm) <= 90
        assert 1.05 <= f.aphe_ratio <= 2.35
        assert f.necrosis_fraction == 0 or f.largest_diameter_mm >= 30
        assert not ("CTNNB1" in f.mutated_genes and "AXIN1" in f.mutated_genes)


@pytest.mark.parametrize(
    "change",
    [
        {"tumour_diameters_mm": ()},
        {"tumour_diameters_mm": (20.0, 40.0)},
        {"tumour_diameters_mm": (95.0,)},
        {"immune_density": 1.5},
        {"mutated_genes": ("BRCA1",)},
    ],
)
def test_invalid_features_are_refused(change: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        dataclasses.replace(demo_features(), **change)


def test_centre_assignment_six_training_centres_plus_external_on_top() -> None:
    centres = assign_centres(536)
    assert len(centres) == 536 + 107 == 536 + external_count(536)
    training = [c for c in centres if c.split == "train"]
    assert len(training) == 536
    assert {c.code for c in training} == {"C1", "C2", "C3", "C4", "C5", "C6"}
    assert [c.code for c in centres[536:]] == ["EXT"] * 107
    assert len(assign_centres(2)) == 3
    with pytest.raises(ValueError):
        assign_centres(0)


def test_centres_differ_in_scanner_and_stain() -> None:
    grids = {(c.mri.matrix, c.mri.pixel_spacing_mm, c.mri.slice_spacing_mm) for c in CENTRES}
    stains = {c.stain.eosin_od for c in CENTRES}
    assert len(grids) >= 6 and len(stains) == len(CENTRES)
    for c in CENTRES:
        assert c.mri.slices * c.mri.slice_spacing_mm >= 170  # the whole liver is covered


def test_npz_writer_is_reproducible_and_numpy_readable(tmp_path: Path) -> None:
    arrays = {"a": np.arange(12, dtype=np.uint8).reshape(3, 4), "b": np.eye(2) > 0}
    save_npz(tmp_path / "one.npz", arrays)
    save_npz(tmp_path / "two.npz", arrays)
    assert (tmp_path / "one.npz").read_bytes() == (tmp_path / "two.npz").read_bytes()
    loaded = np.load(tmp_path / "one.npz")
    np.testing.assert_array_equal(loaded["a"], arrays["a"])
    np.testing.assert_array_equal(loaded["b"], arrays["b"])
    with zipfile.ZipFile(io.BytesIO((tmp_path / "one.npz").read_bytes())) as z:
        assert {i.date_time for i in z.infolist()} == {(1980, 1, 1, 0, 0, 0)}
