"""``neoadj audit verify`` / ``audit show`` on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text

from app.cli import main
from app.pseudonym import SiteSecret, short_pseudonym
from app.storage import Database, get_case, randomise, record_decision
from tests.storage_fixtures import screened_case


@pytest.fixture
def recorded(storage_db: Database, site_secret: SiteSecret, tmp_path: Path) -> int:
    case_id = screened_case(storage_db, tmp_path, site_secret, patient_id="HOSP-445566")
    with storage_db.transaction() as session:
        record_decision(
            session, case_id, "deferred", reviewer="Dr Huang", rationale="repeat INR tomorrow"
        )
    with storage_db.transaction() as session:
        record_decision(session, case_id, "eligible", reviewer="Dr Huang")
    randomise(storage_db, case_id, reviewer="Dr Huang", secret=site_secret)
    return case_id


@pytest.fixture
def secret_file(tmp_path: Path, site_secret: SiteSecret) -> Path:
    path = tmp_path / "site.key"
    path.write_text(site_secret.key.hex())
    return path


def test_verify_passes_on_an_intact_trail(
    storage_url: str, recorded: int, secret_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # site, case, prediction, criteria, BCLC stage, deferral, eligible decision, allocation
    assert main(["audit", "verify", "--db", storage_url, "--site-secret", str(secret_file)]) == 0
    out = capsys.readouterr().out
    assert "Audit trail intact: 8 events; head " in out
    assert "Allocations match the site's sequence." in out


def test_verify_without_a_secret_says_allocations_were_not_checked(
    storage_url: str,
    recorded: int,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("NEOADJ_SITE_SECRET_FILE", str(tmp_path / "absent.key"))
    assert main(["audit", "verify", "--db", storage_url]) == 0
    assert "not checked" in capsys.readouterr().out


def test_verify_fails_naming_the_first_bad_event(
    storage_db: Database, storage_url: str, recorded: int, capsys: pytest.CaptureFixture[str]
) -> None:
    with storage_db.engine.begin() as conn:
        if conn.dialect.name == "sqlite":
            conn.execute(text("DROP TRIGGER audit_event_append_only_update"))
        else:
            conn.execute(text("DROP TRIGGER audit_event_append_only ON audit_event"))
        conn.execute(text("UPDATE audit_event SET actor = 'Dr Nobody' WHERE seq = 6"))
    assert main(["audit", "verify", "--db", storage_url]) == 1
    out = capsys.readouterr().out
    assert "NOT intact at event #6" in out
    assert "Event #6 was altered" in out


def test_verify_flags_allocations_that_do_not_match_the_secret(
    storage_url: str, recorded: int, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    wrong = tmp_path / "wrong.key"
    wrong.write_text((b"w" * 32).hex())
    assert main(["audit", "verify", "--db", storage_url, "--site-secret", str(wrong)]) == 1
    assert "not verifiable with this secret" in capsys.readouterr().out


def test_show_prints_the_history_by_number_or_pseudonym(
    storage_db: Database, storage_url: str, recorded: int, capsys: pytest.CaptureFixture[str]
) -> None:
    with storage_db.session() as session:
        pseudonym = get_case(session, recorded).pseudonym
    assert pseudonym is not None
    assert main(["audit", "show", str(recorded), "--db", storage_url]) == 0
    by_number = capsys.readouterr().out
    assert main(["audit", "show", pseudonym[:10], "--db", storage_url]) == 0
    assert capsys.readouterr().out == by_number
    lines = by_number.splitlines()
    assert lines[0].startswith(f"Case {recorded}  pseudonym {short_pseudonym(pseudonym)}")
    assert "status randomised" in lines[0]
    assert sum("Dr Huang  create decision.status" in line for line in lines) == 2
    assert "       why: repeat INR tomorrow" in lines
    assert any("create allocation" in line for line in lines)
    assert "445566" not in by_number


@pytest.mark.parametrize(
    ("reference", "message"),
    [("99", "No case 99"), ("abc", "neither a case number"), ("ffffffffff", "No case with")],
)
def test_show_names_an_unknown_case(
    storage_url: str,
    recorded: int,
    reference: str,
    message: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["audit", "show", reference, "--db", storage_url]) == 2
    assert message in capsys.readouterr().err


def test_audit_of_a_missing_database_file_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "none.db"
    assert main(["audit", "verify", "--db", f"sqlite:///{missing}"]) == 2
    assert f"Database file '{missing}' does not exist." in capsys.readouterr().err
    assert not missing.exists()


def test_audit_needs_an_action() -> None:
    with pytest.raises(SystemExit) as info:
        main(["audit"])
    assert info.value.code == 2
