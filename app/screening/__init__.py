"""Batch screening (``neoadj screen``): every case folder under a root, headless and Qt-free.

- `discovery`: the case folders under a root.
- `clinical_table`: clinical data from a CSV that overrides each case's ``clinical.json``.
- `outcome`: what happened to each case and the batch summary (JSON-ready).
- `batch`: import, model (prediction and explanation), criteria and the screening record,
  one database transaction per case, idempotent by the inputs' content hash.

The model is passed in as a `batch.CaseModel` (the command wires `inference` and `explain`
to it), so this package imports neither.
"""
