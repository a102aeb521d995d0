"""Clinical data from ``--clinical FILE.csv``: overrides per case, and every kind of bad file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.cli import main
from app.clinical import ClinicalData
from app.screening.clinical_table import ClinicalTableError, read_clinical_table
from app.storage import find_case, open_database
from tests.screen_fixtures import input_hash, make_root, screen_args

CASE = "SYN-XYZ9"


def test_non_empty_cells_override_and_empty_cells_keep_clinical_json(tmp_path: Path) -> None:
    path = tmp_path / "clinical.csv"
    path.write_text(
        "\ufeffcase_id,ecog,bilirubin,bilirubin_unit,weight_kg\n"
        f"{CASE},2,1.5,mg/dL,\n"
        "OTHER,,,,80\n",
        encoding="utf-8",
    )
    table = read_clinical_table(path)
    assert set(table) == {CASE, "OTHER"}
    base = ClinicalData(ecog=0, bilirubin=20.0, weight_kg=71.5, site="C1")
    merged = table[CASE].apply(base)
    assert (merged.ecog, merged.bilirubin, merged.bilirubin_unit) == (2, 1.5, "mg/dL")
    assert (merged.weight_kg, merged.site) == (71.5, "C1")  # empty cell, absent column
    assert table["OTHER"].apply(None) == ClinicalData(weight_kg=80.0)


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"", "is empty"),
        (b"ecog\n1\n", "no 'case_id' column"),
        (b"case_id,shoe_size\nX,42\n", "unknown column(s): shoe_size"),
        (b"case_id,ecog,ecog\nX,1,1\n", "given twice: ecog"),
        (b"case_id,ecog\nX,1,2\n", "line 2: 3 cells for 2 columns"),
        (b"case_id,ecog\n,1\n", "line 2: the case_id cell is empty"),
        (f"case_id,ecog\n{CASE},1\n{CASE},0\n".encode(), "line 3: the same case_id as line 2"),
        (b"case_id,ecog\nX,one\n", "line 2': field 'ecog' has an invalid value"),
        (b"case_id,screening_date\nX,2025-13-01\n", "field 'screening_date' has an invalid"),
        (b"case_id,active_infection\nX,perhaps\n", "field 'active_infection' has an invalid"),
        (b"case_id,ascites\nX,lots\n", "field 'ascites' must be one of none, mild"),
        (b"case_id,sex\nX,X\n", "field 'sex' must be one of F, M"),
        (b"case_id,ecog\n\xff\xfe1,2\n", "is not UTF-8 text"),
        (b'case_id,ecog\n"X,1\n', "not a readable CSV file"),
    ],
)
def test_bad_clinical_csv_names_the_file_and_the_problem(
    tmp_path: Path, content: bytes, expected: str
) -> None:
    path = tmp_path / "clinical.csv"
    path.write_bytes(content)
    with pytest.raises(ClinicalTableError) as info:
        read_clinical_table(path)
    message = info.value.user_message
    assert expected in message and "clinical.csv" in message
    assert CASE not in message


def test_missing_or_unreadable_clinical_file(tmp_path: Path) -> None:
    with pytest.raises(ClinicalTableError, match="does not exist"):
        read_clinical_table(tmp_path / "nope.csv")
    with pytest.raises(ClinicalTableError, match="cannot be read"):
        read_clinical_table(tmp_path)


def test_screen_refuses_a_bad_csv_before_any_work(
    synthetic_cases: list[Path],
    tiny_checkpoint: Path,
    secret_file: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    root = make_root(tmp_path / "root", synthetic_cases[:1])
    bad = tmp_path / "bad.csv"
    bad.write_text("case_id,shoe_size\nX,42\n")
    db_file = tmp_path / "screen.db"
    args = screen_args(root, f"sqlite:///{db_file}", tiny_checkpoint, secret_file)
    assert main([*args, "--clinical", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("neoadj screen: 'bad.csv': unknown column(s): shoe_size")
    assert not db_file.exists()


def test_csv_row_overrides_the_case_and_decides_its_criteria(
    synthetic_cases: list[Path],
    tiny_checkpoint: Path,
    secret_file: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    overridden, untouched = synthetic_cases[:2]
    root = make_root(tmp_path / "root", [overridden, untouched])
    table = tmp_path / "clinical.csv"
    table.write_text(f"case_id,ecog\n{overridden.name},3\nNO-SUCH-CASE,0\n")
    url = f"sqlite:///{tmp_path / 'screen.db'}"
    args = screen_args(root, url, tiny_checkpoint, secret_file, "--no-explain")
    assert main([*args, "--clinical", str(table)]) == 0
    captured = capsys.readouterr()
    summary = json.loads(captured.out)
    assert summary["unused_clinical_rows"] == 1
    assert "1 row(s) of" in captured.err and "matched no case folder" in captured.err
    results = {r["case"]: r for r in summary["results"]}
    # ECOG 3 is outside the protocol's 0-1 (I4), and BCLC 2022 puts ECOG > 2 at stage D
    assert "I4" in results[overridden.name]["failed_criteria"]
    assert results[overridden.name]["status"] == "ineligible"
    original_ecog = json.loads((untouched / "clinical.json").read_text())["ecog"]
    db = open_database(url)
    try:
        with db.session() as session:
            changed = find_case(session, input_hash(overridden))
            kept = find_case(session, input_hash(untouched))
            assert changed is not None and kept is not None
            i4 = {c.criterion_id: c for c in changed.criteria}["I4"]
            assert (i4.status.value, i4.source.value, i4.raw["ecog"]) == ("fail", "entered", 3)
            assert changed.bclc_stage == "D"
            kept_i4 = {c.criterion_id: c for c in kept.criteria}["I4"]
            assert kept_i4.raw["ecog"] == original_ecog
            assert kept_i4.status.value == ("pass" if original_ecog <= 1 else "fail")
    finally:
        db.dispose()
