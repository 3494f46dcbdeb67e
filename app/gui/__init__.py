"""The PySide6 desktop app. ``iris`` with no arguments calls :func:`main`.

Importing this package is cheap: Qt and the window are imported inside
:func:`main`, so the CLI can look for it without paying for Qt.
"""

from __future__ import annotations


def main(argv: list[str] | None = None) -> int:
    """Open the Iris window and run until the user quits; returns the exit code."""
    from .app import run

    return run(argv)


__all__ = ["main"]
