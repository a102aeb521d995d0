"""Whole-slide images: metadata, lazy tile access, multiscale views."""
