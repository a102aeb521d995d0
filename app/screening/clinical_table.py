"""Clinical data for a batch from one CSV, overriding each case's ``clinical.json``.

The first row names the columns: ``case_id`` and any fields of `app.clinical.ClinicalData`
(``ecog``, ``bilirubin``, ``bilirubin_unit``...). Each further row gives one case's items;
its non-empty cells replace that case's ``clinical.json`` values, empty cells keep them.
Rows are keyed by the case id (``case.json``'s ``case_id``, else the folder name). Text is
UTF-8 (a byte-order mark is accepted), comma-separated. Messages name the file and line,
never a case id or a patient identifier.
"""

from __future__ import annotations

import csv
import io
import types
import typing
from dataclasses import dataclass, fields, replace
from pathlib import Path

from app.clinical import ClinicalData
from app.errors import CaseImportError, ScreeningError

CASE_ID_COLUMN = "case_id"
CLINICAL_COLUMNS = tuple(f.name for f in fields(ClinicalData))


class ClinicalTableError(ScreeningError):
    """The clinical CSV cannot be read or holds an invalid row (names file and line)."""


@dataclass(frozen=True)
class ClinicalOverride:
    """The clinical items one CSV row gives.

    Attributes:
        data: The row parsed as `ClinicalData` (fields not in ``given`` are defaults).
        given: Names of the fields with a non-empty cell.
        line: Line of the row in the file (1 is the header).
    """

    data: ClinicalData
    given: frozenset[str]
    line: int

    def apply(self, base: ClinicalData | None) -> ClinicalData:
        """``base`` (a case's ``clinical.json``, or nothing) with this row's items put in."""
        start = base if base is not None else ClinicalData()
        return replace(start, **{name: getattr(self.data, name) for name in self.given})


def read_clinical_table(path: Path) -> dict[str, ClinicalOverride]:
    """Read and check the whole CSV, before any case is screened.

    Returns:
        Case id -> the row's override.

    Raises:
        ClinicalTableError: the file is missing, unreadable, not UTF-8 or not CSV; it has no
            ``case_id`` column, an unknown or repeated column, a row with the wrong number of
            cells, no case id, a case id given twice, or a value of the wrong type.
    """
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError as exc:
        raise ClinicalTableError(f"Clinical file '{path}' does not exist.") from exc
    except UnicodeDecodeError as exc:
        raise ClinicalTableError(
            f"Clinical file '{path}' is not UTF-8 text: save it as CSV (UTF-8)."
        ) from exc
    except OSError as exc:
        raise ClinicalTableError(f"Clinical file '{path}' cannot be read: {exc.strerror}.") from exc
    try:
        return _parse(path.name, text)
    except csv.Error as exc:
        raise ClinicalTableError(f"'{path.name}' is not a readable CSV file: {exc}.") from exc


def _parse(name: str, text: str) -> dict[str, ClinicalOverride]:
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    header = next(reader, None)
    if header is None or not any(cell.strip() for cell in header):
        raise ClinicalTableError(
            f"'{name}' is empty: its first row must name the columns ({CASE_ID_COLUMN} and "
            "clinical fields)."
        )
    columns = [cell.strip() for cell in header]
    _check_columns(name, columns)
    table: dict[str, ClinicalOverride] = {}
    for row in reader:
        line = reader.line_num
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(columns):
            raise ClinicalTableError(
                f"'{name}' line {line}: {len(row)} cells for {len(columns)} columns."
            )
        values = {col: cell.strip() for col, cell in zip(columns, row, strict=True)}
        case_id = values.pop(CASE_ID_COLUMN)
        if not case_id:
            raise ClinicalTableError(f"'{name}' line {line}: the {CASE_ID_COLUMN} cell is empty.")
        if case_id in table:
            raise ClinicalTableError(
                f"'{name}' line {line}: the same {CASE_ID_COLUMN} as line {table[case_id].line}."
            )
        source = f"{name} line {line}"
        try:
            data = ClinicalData.from_dict(dict(values), source=source)
        except CaseImportError as exc:
            raise ClinicalTableError(exc.user_message) from exc
        given = frozenset(k for k, v in values.items() if v)
        _check_choices(source, data, given)
        table[case_id] = ClinicalOverride(data, given, line)
    return table


def _check_columns(name: str, columns: list[str]) -> None:
    if CASE_ID_COLUMN not in columns:
        raise ClinicalTableError(f"'{name}' has no '{CASE_ID_COLUMN}' column in its first row.")
    repeated = sorted({c for c in columns if columns.count(c) > 1})
    if repeated:
        raise ClinicalTableError(f"'{name}': column(s) given twice: {', '.join(repeated)}.")
    unknown = [c for c in columns if c != CASE_ID_COLUMN and c not in CLINICAL_COLUMNS]
    if unknown:
        raise ClinicalTableError(
            f"'{name}': unknown column(s): {', '.join(unknown)}; the columns are "
            f"{CASE_ID_COLUMN} and the fields of clinical.json ({', '.join(CLINICAL_COLUMNS)})."
        )


def _choices(field_name: str) -> tuple[str, ...] | None:
    """The allowed values of a `typing.Literal` field (optional or not), else None."""
    hint = typing.get_type_hints(ClinicalData)[field_name]
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        hint = next(a for a in typing.get_args(hint) if a is not type(None))
    if typing.get_origin(hint) is typing.Literal:
        return tuple(str(a) for a in typing.get_args(hint))
    return None


def _check_choices(source: str, data: ClinicalData, given: frozenset[str]) -> None:
    for field_name in sorted(given):
        allowed = _choices(field_name)
        if allowed is not None and getattr(data, field_name) not in allowed:
            raise ClinicalTableError(
                f"'{source}': field '{field_name}' must be one of {', '.join(allowed)}."
            )
