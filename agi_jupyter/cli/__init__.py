"""``agi-jupyter``, the command line: ``main`` and ``build_parser`` live in :mod:`.app` for now."""

from __future__ import annotations

from .app import build_parser, main

__all__ = ["build_parser", "main"]
