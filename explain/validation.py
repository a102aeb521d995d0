"""Refuse input that cannot be explained: NaN or infinite values, constant MRI series."""

from __future__ import annotations

import numpy as np

from app.errors import InputValidationError
from app.imaging.series import MriSeries
from inference.preprocess import ModelInputs


def _series_label(series: MriSeries) -> str:
    name = series.series_description or series.source.name
    return f"MRI series '{name}' ({series.phase.value})"


def validate_series(series: MriSeries) -> None:
    """Refuse a series with NaN/infinite voxels or with every voxel equal.

    Raises:
        InputValidationError: naming the series and what is wrong.
    """
    voxels = series.voxels
    bad = int(np.count_nonzero(~np.isfinite(voxels)))
    if bad:
        raise InputValidationError(
            f"{_series_label(series)} has {bad} NaN or infinite voxel(s): it cannot be "
            "explained; re-export the series"
        )
    lo, hi = float(voxels.min()), float(voxels.max())
    if lo == hi:
        raise InputValidationError(
            f"{_series_label(series)} is constant (every voxel is {lo:g}): there is nothing "
            "to explain in it; remove it from the case or re-export it"
        )


def validate_inputs(inputs: ModelInputs) -> None:
    """Refuse prepared model inputs holding NaN or infinite values.

    Raises:
        InputValidationError: naming the modality.
    """
    arrays = inputs.arrays()
    for name, values in (("MRI on the model grid", arrays.mri), ("gene vector", arrays.genes)):
        if values is not None and not np.all(np.isfinite(values)):
            raise InputValidationError(
                f"the {name} holds NaN or infinite values: the case cannot be explained"
            )
