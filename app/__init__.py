"""Neoadj-Net screening workstation: Qt-free core (import, storage, protocol rules, CLI)."""

__version__ = "0.1.0"
