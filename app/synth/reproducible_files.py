"""File writers whose bytes depend only on their input (no timestamps).

`numpy.savez_compressed` stamps each zip entry with the current time, so two runs differ;
`save_npz` writes the same ``.npz`` format (readable by `numpy.load`) with a fixed entry date.
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from PIL import Image

_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)


def save_npz(path: Path, arrays: dict[str, NDArray[Any]]) -> None:
    """Write ``arrays`` as a deflate-compressed ``.npz``, entries in the given order."""
    with zipfile.ZipFile(path, "w") as archive:
        for name, array in arrays.items():
            buffer = io.BytesIO()
            np.lib.format.write_array(buffer, np.asarray(array), allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=_ZIP_EPOCH)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, buffer.getvalue())


def save_mask_png(path: Path, mask: NDArray[np.bool_]) -> None:
    """Write a (H, W) boolean mask as an 8-bit greyscale PNG (0 and 255)."""
    Image.fromarray(np.where(mask, 255, 0).astype(np.uint8), mode="L").save(path, format="PNG")


def save_json(path: Path, data: dict[str, Any]) -> None:
    """Write indented UTF-8 JSON with a final newline."""
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
