"""DICOM MRI import: series grouping, geometry, multi-frame, contrast phases."""
