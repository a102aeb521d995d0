"""Synthetic clinical data (``clinical.json``) consistent with a patient's planted tumours.

Patients are plausible trial candidates: age 38-74, Child-Pugh A (rarely B7), ECOG 0-1, no
prior treatment, biopsy-confirmed HCC. Nodule count, largest diameter and macrovascular
invasion match the planted MRI tumours. Identity is synthetic ("SYNTHETIC-<case id>").
Some centres report bilirubin in mg/dL and albumin in g/dL, as real sites do.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Literal

import numpy as np

from app.clinical import ClinicalData
from app.synth.centres import Centre
from app.synth.generating_model import PatientFeatures

_MG_DL_CENTRES = frozenset({"C2", "C5"})
_BILIRUBIN_UMOL_PER_MG = 17.1


@dataclass(frozen=True)
class Demographics:
    """Synthetic demographics shared by ``clinical.json`` and the DICOM headers."""

    birth_date: dt.date
    sex: Literal["F", "M"]
    weight_kg: float
    screening_date: dt.date


def sample_demographics(study_date: dt.date, rng: np.random.Generator) -> Demographics:
    """Age 38-74 at screening, 80% male, screened 3-14 days after the MRI."""
    screening = study_date + dt.timedelta(days=int(rng.integers(3, 15)))
    age_days = int(rng.uniform(38.0, 74.5) * 365.25)
    sex: Literal["F", "M"] = "M" if rng.random() < 0.8 else "F"
    weight = rng.uniform(50.0, 90.0) if sex == "M" else rng.uniform(42.0, 75.0)
    return Demographics(
        screening - dt.timedelta(days=age_days), sex, round(float(weight), 1), screening
    )


def make_clinical(
    case_id: str,
    features: PatientFeatures,
    centre: Centre,
    demographics: Demographics,
    rng: np.random.Generator,
) -> ClinicalData:
    """Clinical items of one synthetic patient."""
    bilirubin_umol = float(rng.uniform(6.0, 30.0))
    albumin_g_l = float(rng.uniform(33.0, 46.0))
    mg_dl = centre.code in _MG_DL_CENTRES
    return ClinicalData(
        patient_id=f"SYNTHETIC-{case_id}",
        date_of_birth=demographics.birth_date,
        sex=demographics.sex,
        weight_kg=demographics.weight_kg,
        screening_date=demographics.screening_date,
        bilirubin=round(bilirubin_umol / _BILIRUBIN_UMOL_PER_MG, 2)
        if mg_dl
        else round(bilirubin_umol, 1),
        bilirubin_unit="mg/dL" if mg_dl else "umol/L",
        albumin=round(albumin_g_l / 10.0, 2) if mg_dl else round(albumin_g_l, 1),
        albumin_unit="g/dL" if mg_dl else "g/L",
        inr=round(float(rng.uniform(0.9, 1.3)), 2),
        ascites="mild" if rng.random() < 0.08 else "none",
        encephalopathy="none",
        ecog=0 if rng.random() < 0.7 else 1,
        nodule_count=len(features.tumour_diameters_mm),
        largest_diameter_mm=round(features.largest_diameter_mm),
        macrovascular_invasion=features.macrovascular_invasion,
        extrahepatic_spread=False,
        prior_hcc_treatment=False,
        biopsy_confirmed_hcc=True,
        serious_organ_disease=False,
        pregnant_or_lactating=False,
        absorption_disorder=False,
        gi_bleeding_risk=False,
        active_infection=False,
        other_safety_abnormality=False,
        unable_to_follow_protocol=False,
        site=centre.code,
    )
