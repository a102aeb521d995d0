"""`load_mri` asks the OS to read files ahead of the parse: paths that vanish or are folders
become errors naming them, and the other files still make their volume."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from app.imaging.dicom_import import READ_AHEAD_FILES, load_mri
from tests.test_mri_support import write_stack


def test_missing_and_folder_paths_far_ahead_are_errors(tmp_path: Path) -> None:
    n = 2 * READ_AHEAD_FILES + 4  # the bad paths are asked for ahead, not only when read
    paths, images = write_stack(tmp_path / "series", [2.0 * k for k in range(n)])
    missing = tmp_path / "series" / "gone.dcm"
    folder = tmp_path / "series" / "a_folder.dcm"
    folder.mkdir()
    bad_at = READ_AHEAD_FILES + 1
    mixed = [*paths[:bad_at], missing, folder, *paths[bad_at:]]

    result = load_mri(mixed)

    errors = dict(result.errors)
    assert set(errors) == {missing, folder}
    assert "'gone.dcm'" in errors[missing] and "cannot be read" in errors[missing]
    assert "'a_folder.dcm'" in errors[folder]
    (series,) = result.series
    assert series.frames == n
    for z, image in enumerate(images):
        np.testing.assert_array_equal(series.voxels[0, z], image.astype(np.float32))
