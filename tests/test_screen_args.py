"""``neoadj screen`` refuses bad arguments with one clear line and exit 2, before any work;
which folders of a cases root are cases."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.cli import main
from app.screening.discovery import CasesRootError, find_case_folders
from tests.screen_fixtures import screen_args


@pytest.fixture
def one_case_root(tmp_path: Path) -> Path:
    """A root with one (never screened) case folder: the checks must fail before import."""
    case = tmp_path / "root" / "case-1"
    case.mkdir(parents=True)
    (case / "clinical.json").write_text("{}")
    return tmp_path / "root"


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"root": "missing"}, "does not exist"),
        ({"root": "file"}, "is not a folder"),
        ({"root": "empty"}, "holds no case folder"),
        ({"db": "nosuchdb://x"}, "only SQLite and PostgreSQL are supported"),
        ({"checkpoint": "missing"}, "checkpoint"),
        ({"extra": ["--threads", "0"]}, "--threads must be at least 1"),
        ({"extra": ["--clinical", "missing.csv"]}, "does not exist"),
        ({"secret": "short"}, "at least 16 are needed"),
    ],
)
def test_bad_arguments_exit_2_with_one_line_and_nothing_written(
    one_case_root: Path,
    tiny_checkpoint: Path,
    secret_file: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    change: dict[str, object],
    expected: str,
) -> None:
    root = one_case_root
    if change.get("root") == "missing":
        root = tmp_path / "nowhere"
    elif change.get("root") == "file":
        root = tmp_path / "file.txt"
        root.write_text("x")
    elif change.get("root") == "empty":
        root = tmp_path / "empty"
        (root / ".hidden").mkdir(parents=True)
    checkpoint = tmp_path / "no-checkpoint" if change.get("checkpoint") else tiny_checkpoint
    secret = secret_file
    if change.get("secret") == "short":
        secret = tmp_path / "short.key"
        secret.write_text("00ff\n")
    db_file = tmp_path / "screen.db"
    url = str(change.get("db", f"sqlite:///{db_file}"))
    extra = change.get("extra", [])
    assert isinstance(extra, list)
    assert main(screen_args(root, url, checkpoint, secret, *extra)) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("neoadj screen: ") and expected in lines[0]
    assert "Traceback" not in captured.err and captured.out == ""
    assert not db_file.exists()


def test_sub_folders_are_cases_but_hidden_and_ground_truth_folders_are_not(
    tmp_path: Path,
) -> None:
    for name in ("b-case", "a-case", ".cache", "truth"):
        (tmp_path / name).mkdir()
    (tmp_path / "truth" / "truth.json").write_text("{}")
    (tmp_path / "notes.txt").write_text("a file, not a case")
    assert find_case_folders(tmp_path) == [tmp_path / "a-case", tmp_path / "b-case"]


def test_a_root_that_is_itself_a_case_is_the_one_case(tmp_path: Path) -> None:
    (tmp_path / "mri").mkdir()
    (tmp_path / "case.json").write_text("{}")
    assert find_case_folders(tmp_path) == [tmp_path]


def test_a_root_with_only_files_holds_no_case(tmp_path: Path) -> None:
    (tmp_path / "scan.dcm").write_bytes(b"x")
    with pytest.raises(CasesRootError, match="holds no case folder"):
        find_case_folders(tmp_path)
