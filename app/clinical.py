"""Clinical data that the screening form needs, as entered or read from ``clinical.json``.

Every field is optional: a missing value makes the criteria that need it *unknown*, never pass.
Units are in the field names; laboratory values carry their unit so that mg/dL and µmol/L
are both accepted (see ``app/rules``).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from datetime import date
from pathlib import Path
from typing import Any, Literal

from app.errors import CaseImportError

Ascites = Literal["none", "mild", "moderate_severe"]
Encephalopathy = Literal["none", "grade_1_2", "grade_3_4"]
BilirubinUnit = Literal["umol/L", "mg/dL"]
AlbuminUnit = Literal["g/L", "g/dL"]

CLINICAL_FILENAME = "clinical.json"


@dataclass
class ClinicalData:
    """Clinical items of one patient; ``None`` means not known."""

    patient_id: str | None = None  # site identifier: keyed-hashed before storage, never shown
    date_of_birth: date | None = None
    sex: Literal["F", "M"] | None = None
    weight_kg: float | None = None
    screening_date: date | None = None
    bilirubin: float | None = None
    bilirubin_unit: BilirubinUnit = "umol/L"
    albumin: float | None = None
    albumin_unit: AlbuminUnit = "g/L"
    inr: float | None = None
    ascites: Ascites | None = None
    encephalopathy: Encephalopathy | None = None
    ecog: int | None = None
    nodule_count: int | None = None
    largest_diameter_mm: float | None = None
    macrovascular_invasion: bool | None = None
    extrahepatic_spread: bool | None = None
    prior_hcc_treatment: bool | None = None
    biopsy_confirmed_hcc: bool | None = None
    serious_organ_disease: bool | None = None
    pregnant_or_lactating: bool | None = None
    absorption_disorder: bool | None = None
    gi_bleeding_risk: bool | None = None
    active_infection: bool | None = None
    other_safety_abnormality: bool | None = None
    unable_to_follow_protocol: bool | None = None
    site: str | None = None

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, source: str = "clinical data") -> ClinicalData:
        """Build from a JSON-like mapping; unknown keys and wrong types raise `CaseImportError`."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise CaseImportError(f"'{source}': unknown clinical field(s): {', '.join(unknown)}")
        values: dict[str, Any] = {}
        for key, value in data.items():
            if value is None or value == "":
                continue
            try:
                if key in ("date_of_birth", "screening_date"):
                    values[key] = date.fromisoformat(str(value))
                elif key in ("ecog", "nodule_count"):
                    values[key] = int(value)
                elif key in ("weight_kg", "bilirubin", "albumin", "inr", "largest_diameter_mm"):
                    values[key] = float(value)
                elif cls.__dataclass_fields__[key].type.startswith("bool"):
                    values[key] = _as_bool(value)
                else:
                    values[key] = str(value)
            except (TypeError, ValueError) as exc:
                raise CaseImportError(f"'{source}': field '{key}' has an invalid value") from exc
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready mapping (dates as ISO strings)."""
        out = asdict(self)
        for key in ("date_of_birth", "screening_date"):
            if out[key] is not None:
                out[key] = out[key].isoformat()
        return out

    @classmethod
    def from_json_file(cls, path: Path) -> ClinicalData:
        """Read ``clinical.json``; a malformed file raises `CaseImportError` naming it."""
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise CaseImportError(f"'{path.name}': not a readable clinical JSON file") from exc
        if not isinstance(data, dict):
            raise CaseImportError(f"'{path.name}': clinical JSON must be an object")
        return cls.from_dict(data, source=path.name)


def _as_bool(value: object) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "y"):
        return True
    if text in ("0", "false", "no", "n"):
        return False
    raise ValueError(f"not a yes/no value: {value!r}")
