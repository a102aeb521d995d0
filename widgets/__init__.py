"""The Qt layer of the workstation (see docs/architecture.md)."""

from widgets.pyside_refcounts import make_singletons_immortal

make_singletons_immortal()
