"""``neoadj export-log``: the screening log CSV and the CONSORT-style counts."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from app.cli import main
from app.pseudonym import SiteSecret
from app.randomisation import AllocationSequence, Arm, Stratum
from app.storage import Database, randomise, record_decision, record_failure
from tests.storage_fixtures import eligible_clinical, screened_case


@pytest.fixture
def cohort(storage_db: Database, site_secret: SiteSecret, tmp_path: Path) -> dict[str, int]:
    """Six cases, one of each fate; returns patient label -> case id."""
    ids = {
        "randomised": screened_case(storage_db, tmp_path, site_secret, patient_id="MRN-A"),
        "treated_before": screened_case(
            storage_db,
            tmp_path,
            site_secret,
            patient_id="MRN-B",
            clinical=eligible_clinical(prior_hcc_treatment=True),
        ),
        "treated_and_infected": screened_case(
            storage_db,
            tmp_path,
            site_secret,
            patient_id="MRN-C",
            clinical=eligible_clinical(prior_hcc_treatment=True, active_infection=True),
        ),
        "no_biopsy": screened_case(
            storage_db,
            tmp_path,
            site_secret,
            patient_id="MRN-D",
            clinical=eligible_clinical(biopsy_confirmed_hcc=None),
        ),
        "undecided": screened_case(storage_db, tmp_path, site_secret, patient_id="MRN-F"),
    }
    with storage_db.transaction() as session:
        ids["unreadable"] = record_failure(
            session, content_sha256="c" * 64, message="no readable MRI", actor="neoadj screen"
        ).id
        record_decision(session, ids["randomised"], "eligible", reviewer="Dr Sun")
        for name in ("treated_before", "treated_and_infected"):
            record_decision(session, ids[name], "screen_failure", reviewer="Dr Sun")
        record_decision(session, ids["no_biopsy"], "deferred", reviewer="Dr Sun")
    randomise(storage_db, ids["randomised"], reviewer="Dr Sun", secret=site_secret)
    return ids


def test_export_writes_the_log_and_the_counts(
    storage_url: str,
    cohort: dict[str, int],
    site_secret: SiteSecret,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    out = tmp_path / "export" / "screening_log.csv"
    out.parent.mkdir()
    assert main(["export-log", "--out", str(out), "--db", storage_url]) == 0
    printed = capsys.readouterr().out

    arm = AllocationSequence(site_secret.key, Stratum("site-1", "B")).allocation_at(0).arm
    other = Arm.NEOADJUVANT if arm is Arm.DIRECT_SURGERY else Arm.DIRECT_SURGERY
    counts = json.loads(out.with_suffix(".json").read_text())
    assert {k: v for k, v in counts.items() if k not in ("audit_head_hash",)} == {
        "screened": 5,
        "not_processed": 1,
        "screen_failures": 2,
        "screen_failures_by_reason": {"I2": 2, "E4": 1},
        "screen_failure_reasons": {
            "I2": "No previous local or systemic treatment for HCC",
            "E4": "Active infection",
        },
        "eligible": 1,
        "deferred": 1,
        "awaiting_decision": 1,
        "randomised": {arm.value: 1, other.value: 0},
    }
    assert len(counts["audit_head_hash"]) == 64
    assert "screen failures              2" in printed
    assert f"randomised: {arm.value}" in printed

    text = out.read_text(encoding="utf-8")
    rows = {int(r["case_id"]): r for r in csv.DictReader(text.splitlines())}
    assert set(rows) == set(cohort.values())
    randomised = rows[cohort["randomised"]]
    assert (randomised["status"], randomised["decision"], randomised["arm"]) == (
        "randomised",
        "eligible",
        arm.value,
    )
    assert (randomised["benefit_probability"], randomised["reviewer"]) == ("0.8000", "Dr Sun")
    assert rows[cohort["treated_and_infected"]]["failed_criteria"] == "I2;E4"
    assert rows[cohort["undecided"]]["decision"] == ""
    assert rows[cohort["unreadable"]]["failure"] == "no readable MRI"
    assert "MRN-" not in text and "MRN-" not in printed


def test_export_into_a_missing_folder_is_refused(
    storage_url: str, cohort: dict[str, int], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "nowhere" / "log.csv"
    assert main(["export-log", "--out", str(out), "--db", storage_url]) == 2
    assert "does not exist" in capsys.readouterr().err
