"""Contrast phase labels from series descriptions, contrast tags and acquisition times."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.imaging.dicom_import import load_mri
from app.imaging.phase import (
    infer_phase,
    is_gadoxetate,
    phase_from_description,
    phase_from_timing,
    seconds_of_day,
    seconds_of_day_dt,
)
from app.imaging.series import Phase
from tests.test_mri_support import write_stack


@pytest.mark.parametrize(
    ("description", "phase"),
    [
        ("t1_vibe_fs_tra_bh NATIVE", Phase.PRE_CONTRAST),
        ("T1 pre", Phase.PRE_CONTRAST),
        ("LAVA nat", Phase.PRE_CONTRAST),
        ("T1 VIBE ART", Phase.ARTERIAL),
        ("late arterial phase", Phase.ARTERIAL),
        ("AP dyn", Phase.ARTERIAL),
        ("arteriell", Phase.ARTERIAL),
        ("fase arteriale", Phase.ARTERIAL),
        ("SUB art-pre", Phase.ARTERIAL),
        ("PV 70s", Phase.PORTAL_VENOUS),
        ("portalvenös", Phase.PORTAL_VENOUS),
        ("phase portale", Phase.PORTAL_VENOUS),
        ("T1 venous", Phase.PORTAL_VENOUS),
        ("delayed", Phase.DELAYED),
        ("transitional 3min", Phase.DELAYED),
        ("Spätphase", Phase.DELAYED),
        ("equilibrium", Phase.DELAYED),
        ("HBP", Phase.HEPATOBILIARY),
        ("hepatobiliary 20 min", Phase.HEPATOBILIARY),
        ("T1 20min", Phase.HEPATOBILIARY),
    ],
)
def test_description_keywords(description: str, phase: Phase) -> None:
    assert phase_from_description(description) is phase


@pytest.mark.parametrize(
    "description", ["", "T2W_TRA_BH", "marked lesion<MPR Collection>", "DWI b800", "T1 post"]
)
def test_descriptions_without_a_phase(description: str) -> None:
    assert phase_from_description(description) is None


def test_minutes_with_a_non_gadoxetate_agent_are_delayed() -> None:
    assert phase_from_description("T1 10 min", gadoxetate=False) is Phase.DELAYED
    assert phase_from_description("T1 10 min", gadoxetate=True) is Phase.HEPATOBILIARY


@pytest.mark.parametrize(
    ("seconds", "gadoxetate", "phase"),
    [
        (-60.0, None, Phase.PRE_CONTRAST),
        (5.0, None, None),
        (15.0, None, Phase.ARTERIAL),
        (40.0, True, Phase.ARTERIAL),
        (50.0, False, Phase.PORTAL_VENOUS),
        (90.0, None, Phase.PORTAL_VENOUS),
        (180.0, None, Phase.DELAYED),
        (300.0, True, Phase.DELAYED),
        (500.0, None, None),
        (1200.0, True, Phase.HEPATOBILIARY),
        (1200.0, False, Phase.DELAYED),
        (1200.0, None, None),
    ],
)
def test_timing_windows(seconds: float, gadoxetate: bool | None, phase: Phase | None) -> None:
    assert phase_from_timing(seconds, gadoxetate=gadoxetate) is phase


def test_gadoxetate_names() -> None:
    assert is_gadoxetate("Primovist 0.025 mmol/kg")
    assert is_gadoxetate("Gd-EOB-DTPA")
    assert is_gadoxetate("EOVIST")
    assert not is_gadoxetate("11 ml Omniscan")


def test_description_wins_over_timing() -> None:
    phase, reason = infer_phase(
        "T1 arterial", contrast_agent="Dotarem", bolus_start_s=36000.0, acquisition_s=36080.0
    )
    assert phase is Phase.ARTERIAL and "T1 arterial" in reason


def test_timing_crosses_midnight() -> None:
    phase, reason = infer_phase(
        "T1 dyn", contrast_agent="Dotarem", bolus_start_s=86390.0, acquisition_s=20.0
    )
    assert phase is Phase.ARTERIAL and "30 s" in reason


def test_unknown_stays_unknown() -> None:
    assert infer_phase("T1 dyn") == (Phase.UNKNOWN, "")
    assert infer_phase("T1 dyn", contrast_agent="Dotarem") == (Phase.UNKNOWN, "")


def test_dicom_times() -> None:
    assert seconds_of_day("101530.5") == pytest.approx(10 * 3600 + 15 * 60 + 30.5)
    assert seconds_of_day("10:15:30") == pytest.approx(10 * 3600 + 15 * 60 + 30)
    assert seconds_of_day("") is None and seconds_of_day("99x") is None
    assert seconds_of_day_dt("20240131101530.25") == pytest.approx(36930.25)
    assert seconds_of_day_dt("20240131") is None


@pytest.mark.parametrize(
    ("tags", "phase"),
    [
        ({"SeriesDescription": "t1_vibe_fs_tra ART"}, Phase.ARTERIAL),
        (
            {
                "ContrastBolusAgent": "Dotarem",
                "ContrastBolusStartTime": "101000",
                "AcquisitionTime": "101110",
            },
            Phase.PORTAL_VENOUS,
        ),
        (
            {
                "ContrastBolusAgent": "Primovist",
                "ContrastBolusStartTime": "101000",
                "AcquisitionTime": "103000",
            },
            Phase.HEPATOBILIARY,
        ),
        (
            {
                "ContrastBolusAgent": "Primovist",
                "ContrastBolusStartTime": "101000",
                "AcquisitionTime": "100500",
            },
            Phase.PRE_CONTRAST,
        ),
        ({"SeriesDescription": "T1 dyn"}, Phase.UNKNOWN),
    ],
)
def test_imported_series_carry_the_phase(
    tmp_path: Path, tags: dict[str, str], phase: Phase
) -> None:
    paths, _ = write_stack(tmp_path, [0.0, 3.0], **tags)
    series = load_mri(paths).series[0]
    assert series.phase is phase
    assert (series.phase_source == "") == (phase is Phase.UNKNOWN)
    if "SeriesDescription" in tags:
        assert series.series_description == tags["SeriesDescription"]
