"""agi-jupyter: settings, install, distribute, run, serve and export a data app from JupyterLab.

The public names are imported lazily so that ``import agi_jupyter`` stays cheap: it pulls in
neither Dask, pandas, bqplot nor ipywidgets until a name that needs them is used.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_PUBLIC = {
    "AgiEnv": "agi_jupyter.core.env",
    "AgiError": "agi_jupyter.core.errors",
    "Mode": "agi_jupyter.core.modes",
}

__all__ = sorted(_PUBLIC)

if TYPE_CHECKING:
    from .core.env import AgiEnv
    from .core.errors import AgiError
    from .core.modes import Mode


def __getattr__(name: str) -> Any:
    module = _PUBLIC.get(name)
    if module is None:
        raise AttributeError(f"module 'agi_jupyter' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_PUBLIC))
