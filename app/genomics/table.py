"""Reading tab- or comma-separated variant tables (MAF, CSV panels) with pandas."""

from __future__ import annotations

import csv
import gzip
import io
import itertools
import warnings
from pathlib import Path

import pandas as pd

from app.errors import CaseImportError


def _open_text(path: Path) -> gzip.GzipFile | None:
    with path.open("rb") as fh:
        gzipped = fh.read(2) == b"\x1f\x8b"
    return gzip.open(path, "rb") if gzipped else None


def leading_comment_lines(path: Path) -> int:
    """Number of '#' lines before the column header (MAF's "#version 2.4")."""
    count = 0
    zipped = _open_text(path)
    with zipped if zipped is not None else path.open("rb") as fh:
        for line in fh:
            if not line.startswith(b"#"):
                break
            count += 1
    return count


def header_columns(path: Path, sep: str) -> list[str]:
    """The column names of a table (after leading '#' lines); [] if unreadable."""
    try:
        skip = leading_comment_lines(path)
        frame = pd.read_csv(path, sep=sep, skiprows=skip, nrows=0, dtype=str)
    except (OSError, ValueError, UnicodeDecodeError, pd.errors.ParserError):
        return []
    return [str(c).strip() for c in frame.columns]


def _first_ragged_line(path: Path, sep: str, skip: int) -> int:
    """1-based line number of the first row whose field count differs from the header's."""
    zipped = _open_text(path)
    with zipped if zipped is not None else path.open("rb") as fh:
        text = io.TextIOWrapper(fh, encoding="utf-8", errors="replace", newline="")
        rows = csv.reader(itertools.islice(text, skip, None), delimiter=sep)
        width = len(next(rows, []))
        for offset, row in enumerate(rows):
            if len(row) != width:
                return skip + 2 + offset
    return skip + 2


def read_table(path: Path, sep: str) -> tuple[pd.DataFrame, int]:
    """All cells as stripped strings ("" when empty), and the file line of the first data row.

    Raises:
        CaseImportError: naming the file and line if a row has the wrong number of fields,
            or if the file is empty or not text.
    """
    if path.stat().st_size == 0:
        raise CaseImportError(f"'{path.name}' is empty (0 bytes).")
    try:
        skip = leading_comment_lines(path)
        with warnings.catch_warnings():
            # a first data row longer than the header only warns: make it an error
            warnings.simplefilter("error", pd.errors.ParserWarning)
            frame = pd.read_csv(
                path,
                sep=sep,
                skiprows=skip,
                dtype=str,
                keep_default_na=False,
                index_col=False,
                compression="infer",
            )
    except pd.errors.ParserWarning as exc:
        line = _first_ragged_line(path, sep, skip)
        raise CaseImportError(
            f"'{path.name}', line {line}: more fields than the header has columns."
        ) from exc
    except pd.errors.EmptyDataError as exc:
        raise CaseImportError(f"'{path.name}' has no column header.") from exc
    except pd.errors.ParserError as exc:
        message = str(exc).replace("Error tokenizing data. C error: ", "")
        raise CaseImportError(f"'{path.name}': malformed table ({message}).") from exc
    except (UnicodeDecodeError, OSError, EOFError) as exc:
        raise CaseImportError(f"'{path.name}' is not a readable text table ({exc}).") from exc
    frame.columns = [str(c).strip() for c in frame.columns]
    return frame.apply(lambda col: col.str.strip()), skip + 2
