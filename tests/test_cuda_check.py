"""scripts/cuda_check.py: what it compares, and what it says on a machine without CUDA."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
import torch

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "cuda_check.py"


@pytest.fixture(scope="module")
def cuda_check() -> ModuleType:
    spec = importlib.util.spec_from_file_location("cuda_check", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_without_cuda_it_says_so_and_exits_2(
    cuda_check: ModuleType,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(sys, "argv", ["cuda_check.py", str(tmp_path / "work")])
    assert cuda_check.main() == 2
    assert "no CUDA GPU" in capsys.readouterr().err
    assert not (tmp_path / "work").exists()


def test_maps_compare_where_both_have_tissue(cuda_check: ModuleType, tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    cpu = rng.normal(size=(4, 5)).astype(np.float32)
    cpu[0, 0] = np.nan
    close = cpu + np.float32(1e-4)
    other_nan = close.copy()
    other_nan[1, 1] = np.nan
    np.savez(tmp_path / "cpu.npz", m=cpu)
    np.savez(tmp_path / "close.npz", m=close)
    np.savez(tmp_path / "other.npz", m=other_nan)

    same = cuda_check._map_agreement(tmp_path / "cpu.npz", tmp_path / "close.npz", ("m",))["m"]
    assert same["pearson"] > 0.9999 and same["finite_mismatch"] == 0
    assert same["max_abs_diff_over_max"] == pytest.approx(1e-4 / np.nanmax(np.abs(cpu)), rel=0.05)
    moved = cuda_check._map_agreement(tmp_path / "cpu.npz", tmp_path / "other.npz", ("m",))["m"]
    assert moved["finite_mismatch"] == 1
