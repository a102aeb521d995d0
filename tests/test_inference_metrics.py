"""Metrics against values computed by hand or by simulation with known answers."""

from __future__ import annotations

import numpy as np
import pytest

from inference.metrics import (
    auc,
    binary_metrics,
    bootstrap_auc_ci,
    calibration_line,
    expected_calibration_error,
    youden_threshold,
)


def test_auc_counts_concordant_pairs() -> None:
    y = np.array([0, 0, 1, 1])
    p = np.array([0.1, 0.6, 0.4, 0.9])
    assert auc(y, p) == pytest.approx(3 / 4)  # pairs (1 vs 0): 0.4>0.1, 0.4<0.6, 0.9>both


def test_counts_at_the_threshold() -> None:
    y = np.array([0, 0, 0, 1, 1])
    p = np.array([0.2, 0.7, 0.1, 0.8, 0.3])
    m = binary_metrics(y, p, 0.5, resamples=50)
    assert m.sensitivity == pytest.approx(1 / 2)
    assert m.specificity == pytest.approx(2 / 3)
    assert m.accuracy == pytest.approx(3 / 5)
    assert m.brier == pytest.approx(np.mean((p - y) ** 2))


def test_calibrated_probabilities_have_unit_slope_and_small_ece() -> None:
    rng = np.random.default_rng(0)
    p = rng.uniform(0.02, 0.98, 20000)
    y = (rng.random(20000) < p).astype(int)
    intercept, slope = calibration_line(y, p)
    assert slope == pytest.approx(1.0, abs=0.08) and intercept == pytest.approx(0.0, abs=0.08)
    assert expected_calibration_error(y, p) < 0.02
    overconfident = np.clip(0.5 + 1.8 * (p - 0.5), 0.01, 0.99)
    assert calibration_line(y, overconfident)[1] < 0.8


def test_bootstrap_ci_brackets_the_auc_and_youden_splits_classes() -> None:
    rng = np.random.default_rng(1)
    y = np.array([0] * 100 + [1] * 100)
    p = np.concatenate([rng.normal(0.4, 0.1, 100), rng.normal(0.6, 0.1, 100)])
    lo, hi = bootstrap_auc_ci(y, p, resamples=300)
    assert lo < auc(y, p) < hi and hi - lo < 0.15
    assert 0.4 < youden_threshold(y, p) < 0.6
