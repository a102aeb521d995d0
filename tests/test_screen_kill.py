"""``kill -9`` in the middle of ``neoadj screen`` leaves only whole cases; a re-run finishes.

The batch runs as a subprocess on four small synthetic cases; as soon as the first case is
committed (polled in the database) the process is killed with SIGKILL. Every case must then
be registered (the batch registers all of them first), each either pending with its inputs
and nothing else, or screened with its prediction, 14 criteria and decision; the re-run must
screen exactly the pending ones, duplicating nothing.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select, text

from app.cli import main
from app.storage import ScreeningCase, open_database, verify_chain
from tests.conftest import REPO_ROOT
from tests.screen_fixtures import CASES, input_hash, make_root, screen_args

CRITERIA = 14
START_TIMEOUT_S = 180.0
POLL_S = 0.05


def _committed_cases(url: str) -> int:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            has_table = conn.execute(
                text("SELECT to_regclass('prediction') IS NOT NULL")  # on the search path
                if engine.dialect.name == "postgresql"
                else text("SELECT count(*) FROM sqlite_master WHERE name = 'prediction'")
            ).scalar_one()
            if not has_table:
                return 0
            return int(conn.execute(text("SELECT count(*) FROM prediction")).scalar_one())
    finally:
        engine.dispose()


def _assert_only_whole_cases(url: str) -> tuple[list[str], list[str]]:
    """Check every recorded case is whole: screened completely, or registered and untouched.

    Returns:
        The content hashes of the screened cases, and of every recorded case.
    """
    db = open_database(url, create=False)
    try:
        with db.session() as session:
            cases = session.scalars(select(ScreeningCase)).all()
            screened = []
            for case in cases:
                assert case.inputs and case.pseudonym and case.site_code
                if case.status.value == "pending":
                    assert not (case.predictions or case.criteria or case.decisions)
                    continue
                assert case.status.value == "deferred", case.status
                assert len(case.predictions) == 1
                assert len(case.criteria) == CRITERIA
                assert len(case.decisions) == 1
                screened.append(case.content_sha256)
            assert not verify_chain(session).problems
            return screened, [c.content_sha256 for c in cases]
    finally:
        db.dispose()


@pytest.mark.slow
def test_kill_9_mid_batch_leaves_whole_cases_and_a_rerun_finishes(
    storage_url: str,
    synthetic_cases: list[Path],
    tiny_checkpoint: Path,
    secret_file: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    root = make_root(tmp_path / "root", synthetic_cases)
    args = screen_args(root, storage_url, tiny_checkpoint, secret_file, "--no-explain")
    log = (tmp_path / "batch.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "app.cli", *args],
        cwd=REPO_ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while _committed_cases(storage_url) == 0:
            assert proc.poll() is None, (tmp_path / "batch.log").read_text()
            assert time.monotonic() < deadline, "no case was committed in time"
            time.sleep(POLL_S)
        assert proc.poll() is None, "the batch finished before it could be killed"
        os.kill(proc.pid, signal.SIGKILL)
        assert proc.wait(timeout=30) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        log.close()

    done_before, registered = _assert_only_whole_cases(storage_url)
    assert 1 <= len(done_before) < CASES
    assert sorted(registered) == sorted(input_hash(case) for case in synthetic_cases)

    assert main(args) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["skipped"] == len(done_before)
    assert summary["screened"] == CASES - len(done_before)
    assert summary["failed"] == []
    screened, recorded = _assert_only_whole_cases(storage_url)
    assert sorted(screened) == sorted(recorded)
    assert sorted(recorded) == sorted(input_hash(case) for case in synthetic_cases)

    db = open_database(storage_url, create=False)
    try:
        with db.session() as session:
            assert session.scalar(select(func.count()).select_from(ScreeningCase)) == CASES
    finally:
        db.dispose()
