"""The generating model of the synthetic cohort: planted features -> benefit probability -> label.

Each synthetic patient gets planted features in three modalities. The probability that the
patient benefits from neoadjuvant HAIC + lenvatinib + PD-1 is

    logit p = B0 + s_mri + s_slide + s_gene + s_interaction

    s_mri   = 1.1 z_aphe - 2.5 (necrosis_fraction - 0.2) - 0.9 (mvi - 0.3)
    s_slide = 1.1 z_immune - 0.55 z_nuclear
    s_gene  = -2.0 (CTNNB1 - 0.25) + 1.6 (VEGFA amp - 0.15) + 1.4 (FGF19 amp - 0.10)
              - 0.75 (TP53 - 0.30)
    s_interaction = 0.5 z_aphe z_immune
    B0 = 0.2

with the standardised features

    z_aphe    = (aphe_ratio - 1.7) / 0.375          aphe_ratio ~ U(1.05, 2.35)
    z_immune  = (immune_density - 0.5) / 0.25       immune_density = sigmoid(N(0, 1.3) - CTNNB1)
    z_nuclear = (tumour_nuclear_density - 1.8) / 0.346   ~ U(1.2, 2.4)

and binary gene features equal to 1 when the gene is altered. The label is
y ~ Bernoulli(p). Each modality score has a standard deviation near 1.2 on the logit scale, so
each alone reaches an AUC of about 0.70-0.75 while all three together reach a Bayes-optimal AUC
near 0.88: every modality carries signal and none suffices.

What the features look like in the files:

- aphe_ratio: arterial-phase tumour / liver signal ratio (arterial hyperenhancement).
- necrosis_fraction: volume fraction of the largest tumour that is non-enhancing central
  necrosis (0 when the largest tumour is under 30 mm); also sets the necrotic slide area.
- macrovascular_invasion: tumour thrombus filling a portal-vein branch and the upper main
  portal vein (enhances in the arterial phase, a filling defect in the portal venous phase).
- immune_density (0-1): lymphocyte aggregates cover 2% + 30% x immune_density of the viable
  slide tumour area, and scattered lymphocytes scale with it.
- tumour_nuclear_density: tumour nuclei per area relative to normal hepatocytes.
- Gene alterations are VCF records (SNV/indel with a VEP CSQ, <DUP> with CN for
  amplifications, <DEL> with CN=0 for CDKN2A deletion).

Nuisance features (no effect on p, so that a model must learn which features matter): the
number and size of tumours, washout ratio, capsule, tumour position, slide tissue layout and
tumour fraction, TERT promoter and the other panel genes, and every centre's scanner and stain
profile.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from app.genomics.hcc_panel import HCC_PANEL_GENES

B0 = 0.2
W_APHE = 1.1
W_NECROSIS = -2.5
W_MVI = -0.9
W_IMMUNE = 1.1
W_NUCLEAR = -0.55
W_CTNNB1 = -2.0
W_VEGFA_AMP = 1.6
W_FGF19_AMP = 1.4
W_TP53 = -0.75
W_APHE_X_IMMUNE = 0.5

APHE_RANGE = (1.05, 2.35)
APHE_MEAN, APHE_SD = 1.7, 0.375
IMMUNE_MEAN, IMMUNE_SD = 0.5, 0.25
NUCLEAR_RANGE = (1.2, 2.4)
NUCLEAR_MEAN, NUCLEAR_SD = 1.8, 0.346
NECROSIS_CENTRE = 0.2
MVI_CENTRE = 0.3

MUTATION_PREVALENCE: dict[str, float] = {
    "TP53": 0.30,
    "CTNNB1": 0.25,
    "TERT": 0.55,  # promoter mutation
    "AXIN1": 0.08,
    "ARID1A": 0.10,
    "ARID2": 0.06,
    "RB1": 0.05,
    "PIK3CA": 0.04,
    "KEAP1": 0.04,
    "NFE2L2": 0.04,
    "TSC2": 0.04,
}
AMPLIFICATION_PREVALENCE: dict[str, float] = {"VEGFA": 0.15, "FGF19": 0.10}
DELETION_PREVALENCE: dict[str, float] = {"CDKN2A": 0.08}

_DEMO_TUMOURS_MM = (62.0, 24.0)


@dataclass(frozen=True)
class PatientFeatures:
    """Planted features of one synthetic patient (see the module docstring).

    Attributes:
        tumour_diameters_mm: Diameter of each tumour in mm, largest first (1-3 tumours).
        aphe_ratio: Arterial-phase tumour / liver signal ratio.
        washout_ratio: Portal-venous tumour / liver signal ratio (< 1 is washout).
        capsule: An enhancing capsule rims each tumour.
        necrosis_fraction: Necrotic volume fraction of the largest tumour, 0-0.55.
        macrovascular_invasion: Tumour thrombus in the portal vein.
        immune_density: Immune-infiltrate density on the slide, 0-1.
        tumour_nuclear_density: Tumour nuclei per area relative to normal liver.
        mutated_genes: Panel genes with a somatic SNV/indel, in panel order.
        amplified_genes: Panel genes amplified (FGF19, VEGFA), in panel order.
        deleted_genes: Panel genes with a homozygous deletion (CDKN2A), in panel order.
    """

    tumour_diameters_mm: tuple[float, ...]
    aphe_ratio: float
    washout_ratio: float
    capsule: bool
    necrosis_fraction: float
    macrovascular_invasion: bool
    immune_density: float
    tumour_nuclear_density: float
    mutated_genes: tuple[str, ...]
    amplified_genes: tuple[str, ...]
    deleted_genes: tuple[str, ...]

    def __post_init__(self) -> None:
        if not 1 <= len(self.tumour_diameters_mm) <= 3:
            raise ValueError("a synthetic patient has 1 to 3 tumours")
        if list(self.tumour_diameters_mm) != sorted(self.tumour_diameters_mm, reverse=True):
            raise ValueError("tumour diameters must be sorted, largest first")
        if not 10.0 <= min(self.tumour_diameters_mm) <= max(self.tumour_diameters_mm) <= 90.0:
            raise ValueError("tumour diameters must lie in 10-90 mm")
        if not 0.0 <= self.necrosis_fraction <= 0.6:
            raise ValueError("necrosis_fraction must lie in 0-0.6")
        if not 0.0 <= self.immune_density <= 1.0:
            raise ValueError("immune_density must lie in 0-1")
        unknown = set(self.mutated_genes + self.amplified_genes + self.deleted_genes) - set(
            HCC_PANEL_GENES
        )
        if unknown:
            raise ValueError(f"genes outside the HCC panel: {sorted(unknown)}")

    @property
    def largest_diameter_mm(self) -> float:
        """Diameter of the largest tumour in mm."""
        return self.tumour_diameters_mm[0]

    def altered(self, gene: str) -> bool:
        """True when the gene carries any planted alteration."""
        return gene in self.mutated_genes + self.amplified_genes + self.deleted_genes

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready mapping (tuples as lists)."""
        out = asdict(self)
        for key, value in out.items():
            if isinstance(value, tuple):
                out[key] = list(value)
        return out


@dataclass(frozen=True)
class BenefitScores:
    """The generating model's terms for one patient; all on the logit scale."""

    mri: float
    slide: float
    gene: float
    interaction: float
    logit: float
    probability: float

    def to_dict(self) -> dict[str, float]:
        """JSON-ready mapping."""
        return asdict(self)


def _in_panel_order(genes: set[str]) -> tuple[str, ...]:
    return tuple(g for g in HCC_PANEL_GENES if g in genes)


def sample_features(rng: np.random.Generator) -> PatientFeatures:
    """Draw one patient's planted features from the cohort distribution."""
    n_tumours = int(rng.choice([1, 2, 3], p=[0.5, 0.3, 0.2]))
    if n_tumours == 1:
        largest = math.exp(rng.uniform(math.log(35.0), math.log(90.0)))
    else:
        largest = math.exp(rng.uniform(math.log(20.0), math.log(80.0)))
    others = [rng.uniform(10.0, min(40.0, largest)) for _ in range(n_tumours - 1)]
    diameters = tuple(round(d, 1) for d in sorted([largest, *others], reverse=True))

    mutated = {g for g, prev in MUTATION_PREVALENCE.items() if rng.random() < prev}
    if "CTNNB1" in mutated:
        mutated.discard("AXIN1")  # Wnt-pathway hits are mutually exclusive in HCC
    amplified = {g for g, prev in AMPLIFICATION_PREVALENCE.items() if rng.random() < prev}
    deleted = {g for g, prev in DELETION_PREVALENCE.items() if rng.random() < prev}

    necrosis = rng.uniform(0.0, 0.55) if diameters[0] >= 30.0 else 0.0
    mvi_probability = 0.15 + (0.3 if diameters[0] >= 50.0 else 0.0)
    immune_logit = rng.normal(0.0, 1.3) - (1.0 if "CTNNB1" in mutated else 0.0)
    return PatientFeatures(
        tumour_diameters_mm=diameters,
        aphe_ratio=round(float(rng.uniform(*APHE_RANGE)), 4),
        washout_ratio=round(float(rng.uniform(0.6, 0.95)), 4),
        capsule=bool(rng.random() < 0.6),
        necrosis_fraction=round(float(necrosis), 4),
        macrovascular_invasion=bool(rng.random() < mvi_probability),
        immune_density=round(1.0 / (1.0 + math.exp(-immune_logit)), 4),
        tumour_nuclear_density=round(float(rng.uniform(*NUCLEAR_RANGE)), 4),
        mutated_genes=_in_panel_order(mutated),
        amplified_genes=_in_panel_order(amplified),
        deleted_genes=_in_panel_order(deleted),
    )


def demo_features() -> PatientFeatures:
    """The demo patient's features: BCLC-C, hypervascular, immune-hot, VEGFA-amplified."""
    return PatientFeatures(
        tumour_diameters_mm=_DEMO_TUMOURS_MM,
        aphe_ratio=2.1,
        washout_ratio=0.7,
        capsule=True,
        necrosis_fraction=0.3,
        macrovascular_invasion=True,
        immune_density=0.75,
        tumour_nuclear_density=1.7,
        mutated_genes=("TP53", "TERT"),
        amplified_genes=("VEGFA",),
        deleted_genes=(),
    )


def benefit_scores(features: PatientFeatures) -> BenefitScores:
    """Evaluate the generating model (module docstring) for one patient."""
    z_aphe = (features.aphe_ratio - APHE_MEAN) / APHE_SD
    z_immune = (features.immune_density - IMMUNE_MEAN) / IMMUNE_SD
    z_nuclear = (features.tumour_nuclear_density - NUCLEAR_MEAN) / NUCLEAR_SD
    s_mri = (
        W_APHE * z_aphe
        + W_NECROSIS * (features.necrosis_fraction - NECROSIS_CENTRE)
        + W_MVI * (float(features.macrovascular_invasion) - MVI_CENTRE)
    )
    s_slide = W_IMMUNE * z_immune + W_NUCLEAR * z_nuclear
    s_gene = (
        W_CTNNB1 * (float(features.altered("CTNNB1")) - MUTATION_PREVALENCE["CTNNB1"])
        + W_VEGFA_AMP * (float("VEGFA" in features.amplified_genes) - 0.15)
        + W_FGF19_AMP * (float("FGF19" in features.amplified_genes) - 0.10)
        + W_TP53 * (float(features.altered("TP53")) - MUTATION_PREVALENCE["TP53"])
    )
    s_int = W_APHE_X_IMMUNE * z_aphe * z_immune
    logit = B0 + s_mri + s_slide + s_gene + s_int
    return BenefitScores(
        mri=s_mri,
        slide=s_slide,
        gene=s_gene,
        interaction=s_int,
        logit=logit,
        probability=1.0 / (1.0 + math.exp(-logit)),
    )


def describe_generating_model() -> dict[str, Any]:
    """The generating model as a JSON-ready document (formula, weights, distributions)."""
    return {
        "formula": "logit p = b0 + s_mri + s_slide + s_gene + s_interaction; y ~ Bernoulli(p)",
        "terms": {
            "s_mri": "w_aphe*z_aphe + w_necrosis*(necrosis_fraction-0.2) + w_mvi*(mvi-0.3)",
            "s_slide": "w_immune*z_immune + w_nuclear*z_nuclear",
            "s_gene": "w_ctnnb1*(CTNNB1-0.25) + w_vegfa*(VEGFA_amp-0.15) "
            "+ w_fgf19*(FGF19_amp-0.10) + w_tp53*(TP53-0.30)",
            "s_interaction": "w_aphe_x_immune*z_aphe*z_immune",
            "z_aphe": f"(aphe_ratio-{APHE_MEAN})/{APHE_SD}",
            "z_immune": f"(immune_density-{IMMUNE_MEAN})/{IMMUNE_SD}",
            "z_nuclear": f"(tumour_nuclear_density-{NUCLEAR_MEAN})/{NUCLEAR_SD}",
        },
        "weights": {
            "b0": B0,
            "w_aphe": W_APHE,
            "w_necrosis": W_NECROSIS,
            "w_mvi": W_MVI,
            "w_immune": W_IMMUNE,
            "w_nuclear": W_NUCLEAR,
            "w_ctnnb1": W_CTNNB1,
            "w_vegfa": W_VEGFA_AMP,
            "w_fgf19": W_FGF19_AMP,
            "w_tp53": W_TP53,
            "w_aphe_x_immune": W_APHE_X_IMMUNE,
        },
        "distributions": {
            "tumour_count": "1, 2, 3 with probability 0.5, 0.3, 0.2",
            "largest_diameter_mm": "log-uniform 35-90 (single) or 20-80 (multiple)",
            "other_diameters_mm": "uniform 10-min(40, largest)",
            "aphe_ratio": f"uniform {APHE_RANGE[0]}-{APHE_RANGE[1]}",
            "washout_ratio": "uniform 0.6-0.95 (nuisance)",
            "capsule": "Bernoulli(0.6) (nuisance)",
            "necrosis_fraction": "uniform 0-0.55 when largest >= 30 mm, else 0",
            "macrovascular_invasion": "Bernoulli(0.15 + 0.3 [largest >= 50 mm])",
            "immune_density": "sigmoid(N(0, 1.3) - [CTNNB1 mutated])",
            "tumour_nuclear_density": f"uniform {NUCLEAR_RANGE[0]}-{NUCLEAR_RANGE[1]}",
            "mutation_prevalence": MUTATION_PREVALENCE,
            "amplification_prevalence": AMPLIFICATION_PREVALENCE,
            "deletion_prevalence": DELETION_PREVALENCE,
            "wnt_exclusivity": "AXIN1 is dropped when CTNNB1 is mutated",
        },
        "nuisance": [
            "tumour count, sizes and positions",
            "washout_ratio and capsule",
            "slide tissue layout and tumour fraction",
            "TERT promoter and the other panel genes",
            "centre scanner and stain profiles (appearance only; no case-mix shift)",
        ],
    }
