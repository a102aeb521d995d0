"""Binary-classification metrics for benefit predictions: discrimination and calibration."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score, roc_curve

FloatArray = NDArray[np.float64]


@dataclass(frozen=True)
class BinaryMetrics:
    """Metrics of probabilities against 0/1 labels at one threshold.

    Attributes:
        n: Number of patients.
        prevalence: Fraction of positive labels.
        auc: ROC AUC.
        auc_ci95: Bootstrap 95% percentile interval of the AUC.
        accuracy, sensitivity, specificity: At ``threshold``.
        threshold: Decision threshold on the probability.
        brier: Mean squared error of the probabilities.
        calibration_intercept, calibration_slope: Logistic recalibration
            logit(P(y=1)) = intercept + slope * logit(p); perfect calibration is (0, 1).
        ece: Expected calibration error over 10 equal-width bins.
    """

    n: int
    prevalence: float
    auc: float
    auc_ci95: tuple[float, float]
    accuracy: float
    sensitivity: float
    specificity: float
    threshold: float
    brier: float
    calibration_intercept: float
    calibration_slope: float
    ece: float

    def to_json(self) -> dict[str, Any]:
        """JSON-ready mapping (floats rounded to 4 decimals)."""
        out: dict[str, Any] = {}
        for key, value in self.__dict__.items():
            if isinstance(value, tuple):
                out[key] = [round(float(v), 4) for v in value]
            elif isinstance(value, float):
                out[key] = round(value, 4)
            else:
                out[key] = value
        return out


def auc(labels: NDArray[Any], probabilities: NDArray[Any]) -> float:
    """ROC AUC; needs both classes."""
    return float(roc_auc_score(labels, probabilities))


def bootstrap_auc_ci(
    labels: NDArray[Any],
    probabilities: NDArray[Any],
    *,
    resamples: int = 2000,
    seed: int = 0,
) -> tuple[float, float]:
    """95% percentile bootstrap interval of the AUC (resamples lacking a class are skipped)."""
    y = np.asarray(labels, dtype=np.int64)
    p = np.asarray(probabilities, dtype=np.float64)
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(resamples):
        idx = rng.integers(0, len(y), len(y))
        if 0 < y[idx].sum() < len(idx):
            values.append(roc_auc_score(y[idx], p[idx]))
    lo, hi = np.percentile(values, [2.5, 97.5])
    return (float(lo), float(hi))


def youden_threshold(labels: NDArray[Any], probabilities: NDArray[Any]) -> float:
    """Probability threshold maximising sensitivity + specificity - 1 (Youden's J)."""
    fpr, tpr, thresholds = roc_curve(labels, probabilities)
    best = int(np.argmax(tpr - fpr))
    return float(np.clip(thresholds[best], 0.0, 1.0))


def calibration_line(labels: NDArray[Any], probabilities: NDArray[Any]) -> tuple[float, float]:
    """(intercept, slope) of the logistic recalibration (unpenalised maximum likelihood)."""
    y = np.asarray(labels, dtype=np.int64)
    p = np.clip(np.asarray(probabilities, dtype=np.float64), 1e-6, 1 - 1e-6)
    logit = np.log(p / (1 - p)).reshape(-1, 1)
    fit = LogisticRegression(C=np.inf, max_iter=1000).fit(logit, y)
    return (float(fit.intercept_[0]), float(fit.coef_[0, 0]))


def expected_calibration_error(
    labels: NDArray[Any], probabilities: NDArray[Any], *, bins: int = 10
) -> float:
    """Weighted mean |observed rate - mean probability| over equal-width probability bins."""
    y = np.asarray(labels, dtype=np.float64)
    p = np.asarray(probabilities, dtype=np.float64)
    which = np.minimum((p * bins).astype(np.int64), bins - 1)
    total = 0.0
    for b in range(bins):
        sel = which == b
        if sel.any():
            total += sel.sum() * abs(float(y[sel].mean()) - float(p[sel].mean()))
    return total / len(y)


def binary_metrics(
    labels: NDArray[Any],
    probabilities: NDArray[Any],
    threshold: float,
    *,
    resamples: int = 2000,
    seed: int = 0,
) -> BinaryMetrics:
    """All metrics of `BinaryMetrics` for one set of predictions."""
    y = np.asarray(labels, dtype=np.int64)
    p = np.asarray(probabilities, dtype=np.float64)
    pred = p >= threshold
    pos, neg = y == 1, y == 0
    intercept, slope = calibration_line(y, p)
    return BinaryMetrics(
        n=len(y),
        prevalence=float(pos.mean()),
        auc=auc(y, p),
        auc_ci95=bootstrap_auc_ci(y, p, resamples=resamples, seed=seed),
        accuracy=float((pred == pos).mean()),
        sensitivity=float(pred[pos].mean()) if pos.any() else float("nan"),
        specificity=float((~pred[neg]).mean()) if neg.any() else float("nan"),
        threshold=float(threshold),
        brier=float(np.mean((p - y) ** 2)),
        calibration_intercept=intercept,
        calibration_slope=slope,
        ece=expected_calibration_error(y, p),
    )
