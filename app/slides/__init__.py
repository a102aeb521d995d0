"""Whole-slide images: metadata, lazy tile access, multiscale views.

``open_slide(path)`` returns a `SlideReader` (OpenSlide-backed, or DICOM-WSI through
highdicom frames); ``write_pyramidal_tiff`` writes tiled pyramids OpenSlide reads.
"""

from app.slides.dicom_series import group_wsi_files, is_dicom_wsi_file
from app.slides.info import SlideInfo
from app.slides.opener import SLIDE_EXTENSIONS, is_slide_file, open_slide
from app.slides.pyramid_writer import write_pyramidal_tiff
from app.slides.reader import SlideReader

__all__ = [
    "SLIDE_EXTENSIONS",
    "SlideInfo",
    "SlideReader",
    "group_wsi_files",
    "is_dicom_wsi_file",
    "is_slide_file",
    "open_slide",
    "write_pyramidal_tiff",
]
