"""agi-jupyter's version, read back from where the build wrote it.

The one version source is the ``version`` field of ``labextension/package.json``: the build
puts it in the package metadata (hatch-nodejs-version, ``[tool.hatch.version]`` in
pyproject.toml), the extension's bundle inlines it as the ``pong`` reply's version, and this
module reads the installed metadata back (editable installs too). A source tree that was never
installed falls back to ``package.json`` itself. The metadata holds the PEP 440 form of the
version (``0.2.0rc0`` for npm's ``0.2.0-rc.0``); ``packaging.version.Version`` parses both.
"""

from __future__ import annotations

import json
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

__all__ = ["__version__"]


def _read_version() -> str:
    try:
        return version("agi-jupyter")
    except PackageNotFoundError:  # a source tree on sys.path that was never installed
        package_json = Path(__file__).resolve().parent.parent / "labextension" / "package.json"
        try:
            return str(json.loads(package_json.read_text(encoding="utf-8"))["version"])
        except (OSError, ValueError, KeyError):
            return "0+unknown"


__version__ = _read_version()
