"""The real installer build and its smoke test (tens of minutes: marker ``packaging``).

Deselected by default (pyproject's addopts); run with ``pytest -m packaging``.
"""

from __future__ import annotations

import subprocess

import pytest

from tests.conftest import REPO_ROOT

pytestmark = [pytest.mark.packaging, pytest.mark.timeout(3 * 3600)]


def test_build_and_smoke_test_the_installer_folder() -> None:
    build = subprocess.run([str(REPO_ROOT / "scripts" / "build-app")], cwd=REPO_ROOT)
    assert build.returncode == 0, "scripts/build-app failed"
    assert (REPO_ROOT / "dist" / "neoadj" / "neoadj").is_file()
    smoke = subprocess.run(
        [str(REPO_ROOT / "scripts" / "smoke-app")], cwd=REPO_ROOT, capture_output=True, text=True
    )
    assert smoke.returncode == 0, smoke.stdout + smoke.stderr
    assert "all checks passed" in smoke.stdout
